#include "proto/json_codec.h"

#include <stdlib.h>  // strtod_l: protobuf parses JSON fractions with strtod
#include <locale.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <span>

namespace dangol::json {
namespace {

using google::protobuf::RepeatedField;
using google::protobuf::RepeatedPtrField;
using google::protobuf::Timestamp;
namespace v1 = dangol::v1;

// ------------------------------------------------------------ calendar

// Timestamp's valid range, 0001-01-01T00:00:00Z..9999-12-31T23:59:59Z.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;
constexpr int64_t kSecondsPerDay = 86400;
constexpr int32_t kNanosPerSecond = 1000000000;

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
constexpr int64_t days_from_civil(int64_t year, int month, int day) {
  year -= month <= 2;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const int64_t year_of_era = year - era * 400;
  const int64_t day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

struct CivilDate {
  int64_t year;
  int month;
  int day;
};

constexpr CivilDate civil_from_days(int64_t days) {
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const int64_t day_of_era = days - era * 146097;
  const int64_t year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const int64_t shifted_month = (5 * day_of_year + 2) / 153;
  const int day = static_cast<int>(day_of_year - (153 * shifted_month + 2) / 5 + 1);
  const int month = static_cast<int>(shifted_month < 10 ? shifted_month + 3 : shifted_month - 9);
  return {year_of_era + era * 400 + (month <= 2), month, day};
}

constexpr bool is_leap_year(int year) {
  return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
}

constexpr int days_in_month(int year, int month) {
  constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap_year(year) ? 29 : kDays[month - 1];
}

// Reads 1 to `max_digits` digits at text[*pos] into a value within
// [min, max]. protobuf's time parser takes short fields too ("2023-8-1").
bool read_time_field(std::string_view text, size_t* pos, int max_digits, int min, int max,
                     int* value) {
  int result = 0;
  int digits = 0;
  while (digits < max_digits && *pos < text.size() && text[*pos] >= '0' && text[*pos] <= '9') {
    result = result * 10 + (text[*pos] - '0');
    ++*pos;
    ++digits;
  }
  if (digits == 0 || result < min || result > max) return false;
  *value = result;
  return true;
}

bool expect_char(std::string_view text, size_t* pos, char expected) {
  if (*pos >= text.size() || text[*pos] != expected) return false;
  ++*pos;
  return true;
}

// Fractional seconds: any number of digits, the first nine count (protobuf).
bool read_nanos(std::string_view text, size_t* pos, int32_t* nanos) {
  int32_t result = 0;
  int digits = 0;
  while (*pos < text.size() && text[*pos] >= '0' && text[*pos] <= '9') {
    if (digits < 9) result = result * 10 + (text[*pos] - '0');
    ++*pos;
    ++digits;
  }
  if (digits == 0) return false;
  for (; digits < 9; ++digits) result *= 10;
  *nanos = result;
  return true;
}

// "+HH:MM" or "-HH:MM" or "Z", as seconds to add to local time to get UTC.
bool read_utc_offset(std::string_view text, size_t* pos, int64_t* to_utc_seconds) {
  if (expect_char(text, pos, 'Z')) {
    *to_utc_seconds = 0;
    return true;
  }
  const bool east = expect_char(text, pos, '+');
  if (!east && !expect_char(text, pos, '-')) return false;
  int hours = 0;
  int minutes = 0;
  if (!read_time_field(text, pos, 2, 0, 23, &hours) || !expect_char(text, pos, ':') ||
      !read_time_field(text, pos, 2, 0, 59, &minutes)) {
    return false;
  }
  const int64_t offset = (hours * 60 + minutes) * 60;
  *to_utc_seconds = east ? -offset : offset;
  return true;
}

// RFC 3339 as protobuf 3.21's internal::ParseTime reads it; the result may
// lie outside Timestamp's range (the caller checks).
bool parse_rfc3339(std::string_view text, int64_t* seconds, int32_t* nanos) {
  size_t pos = 0;
  int year, month, day, hour, minute, second;
  if (!read_time_field(text, &pos, 4, 1, 9999, &year) || !expect_char(text, &pos, '-') ||
      !read_time_field(text, &pos, 2, 1, 12, &month) || !expect_char(text, &pos, '-') ||
      !read_time_field(text, &pos, 2, 1, 31, &day) || !expect_char(text, &pos, 'T') ||
      !read_time_field(text, &pos, 2, 0, 23, &hour) || !expect_char(text, &pos, ':') ||
      !read_time_field(text, &pos, 2, 0, 59, &minute) || !expect_char(text, &pos, ':') ||
      !read_time_field(text, &pos, 2, 0, 59, &second) || day > days_in_month(year, month)) {
    return false;
  }
  *nanos = 0;
  if (expect_char(text, &pos, '.') && !read_nanos(text, &pos, nanos)) return false;
  int64_t to_utc_seconds = 0;
  if (!read_utc_offset(text, &pos, &to_utc_seconds) || pos != text.size()) return false;
  *seconds = days_from_civil(year, month, day) * kSecondsPerDay + hour * 3600 + minute * 60 +
             second + to_utc_seconds;
  return true;
}

// ------------------------------------------------------------ writing

struct EnumName {
  std::string_view name;
  int number;
};

constexpr EnumName kTriggerNames[] = {
    {"TRIGGER_UNSPECIFIED", 0}, {"CHANNEL_ADDED", 1}, {"ISSUED", 2}};
constexpr EnumName kStatusNames[] = {
    {"STATUS_UNSPECIFIED", 0}, {"ACTIVE", 1}, {"PAUSED", 2}, {"CLOSED", 3}};
constexpr EnumName kCauseNames[] = {
    {"CAUSE_UNSPECIFIED", 0}, {"EXPIRED", 1}, {"CLOSED", 2}, {"VOIDED", 3}};
constexpr EnumName kOutcomeNames[] = {
    {"APPLIED", 0}, {"REJECTED", 1}, {"DUPLICATE", 2}, {"INVALID", 3}};

// Characters protobuf's printer writes as \uXXXX although JSON does not
// require it (HTML-unsafe '<' '>', C1 controls, invisible format characters).
// Measured against MessageToJsonString over every code point; see the test.
bool printer_escapes(uint32_t code_point) {
  struct Range {
    uint32_t first, last;
  };
  constexpr Range kRanges[] = {
      {0x7F, 0x9F},       {0xAD, 0xAD},       {0x600, 0x603},     {0x6DD, 0x6DD},
      {0x70F, 0x70F},     {0x17B4, 0x17B5},   {0x200B, 0x200F},   {0x2028, 0x202E},
      {0x2060, 0x2064},   {0x206A, 0x206F},   {0xFEFF, 0xFEFF},   {0xFFF9, 0xFFFB},
      {0x1D173, 0x1D17A}, {0xE0001, 0xE0001}, {0xE0020, 0xE007F},
  };
  for (const Range& range : kRanges) {
    if (code_point >= range.first && code_point <= range.last) return true;
  }
  return false;
}

void append_hex4(std::string* out, uint32_t unit) {
  constexpr char kHex[] = "0123456789abcdef";
  const char escaped[6] = {'\\', 'u', kHex[(unit >> 12) & 15], kHex[(unit >> 8) & 15],
                           kHex[(unit >> 4) & 15], kHex[unit & 15]};
  out->append(escaped, 6);
}

void append_escaped_code_point(std::string* out, uint32_t code_point) {
  if (code_point < 0x10000) return append_hex4(out, code_point);
  code_point -= 0x10000;
  append_hex4(out, 0xD800 + (code_point >> 10));
  append_hex4(out, 0xDC00 + (code_point & 0x3FF));
}

// Length of the valid UTF-8 sequence at s[0..], 0 when invalid (overlong
// forms, surrogates and code points above U+10FFFF are invalid).
size_t utf8_sequence_length(std::string_view s, uint32_t* code_point) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  const uint8_t lead = byte(0);
  size_t length = 0;
  uint32_t min_value = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2, min_value = 0x80, *code_point = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3, min_value = 0x800, *code_point = lead & 0x0F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4, min_value = 0x10000, *code_point = lead & 0x07;
  } else {
    return 0;
  }
  if (s.size() < length) return 0;
  for (size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
    *code_point = (*code_point << 6) | (byte(i) & 0x3F);
  }
  const bool surrogate = *code_point >= 0xD800 && *code_point <= 0xDFFF;
  if (*code_point < min_value || *code_point > 0x10FFFF || surrogate) return 0;
  return length;
}

// True for the ASCII bytes protobuf's printer copies as they are.
constexpr bool is_plain_ascii(uint8_t c) {
  return c >= 0x20 && c < 0x7F && c != '"' && c != '\\' && c != '<' && c != '>';
}

void append_escaped_ascii(std::string* out, char c) {
  switch (c) {
    case '"': out->append("\\\""); break;
    case '\\': out->append("\\\\"); break;
    case '\b': out->append("\\b"); break;
    case '\f': out->append("\\f"); break;
    case '\n': out->append("\\n"); break;
    case '\r': out->append("\\r"); break;
    case '\t': out->append("\\t"); break;
    default: append_hex4(out, static_cast<uint8_t>(c)); break;
  }
}

void append_json_string(std::string* out, std::string_view s) {
  out->push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    const size_t run_start = i;
    while (i < s.size() && is_plain_ascii(static_cast<uint8_t>(s[i]))) ++i;
    out->append(s.data() + run_start, i - run_start);
    if (i == s.size()) break;
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      append_escaped_ascii(out, s[i++]);
      continue;
    }
    uint32_t code_point = 0;
    const size_t length = utf8_sequence_length(s.substr(i), &code_point);
    if (length == 0) {
      ++i;  // invalid UTF-8 cannot be printed as JSON; drop the byte
    } else if (printer_escapes(code_point)) {
      append_escaped_code_point(out, code_point);
    } else {
      out->append(s.data() + i, length);
    }
    i += length;
  }
  out->push_back('"');
}

template <class Int>
void append_decimal(std::string* out, Int value) {
  char digits[24];
  const auto result = std::to_chars(digits, digits + sizeof digits, value);
  out->append(digits, result.ptr);
}

void append_padded(char* at, int64_t value, int width) {
  for (int i = width - 1; i >= 0; --i, value /= 10) at[i] = static_cast<char>('0' + value % 10);
}

[[noreturn]] void die_unprintable_timestamp(const Timestamp& ts) {
  std::fprintf(stderr,
               "dangol: invariant violated: Timestamp {seconds: %lld, nanos: %d} is outside "
               "0001-01-01..9999-12-31 and has no JSON form\n",
               static_cast<long long>(ts.seconds()), ts.nanos());
  std::abort();
}

// "YYYY-MM-DDTHH:MM:SS[.fff|.ffffff|.fffffffff]Z": protobuf prints the
// shortest of 0, 3, 6 or 9 fraction digits that is exact.
void append_timestamp(std::string* out, const Timestamp& ts) {
  if (ts.seconds() < kMinTimestampSeconds || ts.seconds() > kMaxTimestampSeconds ||
      ts.nanos() < 0 || ts.nanos() >= kNanosPerSecond) {
    die_unprintable_timestamp(ts);
  }
  // Floor division: kMinTimestampSeconds is a midnight, and seconds are >= it.
  const int64_t days = (ts.seconds() - kMinTimestampSeconds) / kSecondsPerDay +
                       kMinTimestampSeconds / kSecondsPerDay;
  const int64_t second_of_day = ts.seconds() - days * kSecondsPerDay;
  const CivilDate date = civil_from_days(days);
  char text[] = "\"0000-00-00T00:00:00.000000000";
  append_padded(text + 1, date.year, 4);
  append_padded(text + 6, date.month, 2);
  append_padded(text + 9, date.day, 2);
  append_padded(text + 12, second_of_day / 3600, 2);
  append_padded(text + 15, second_of_day / 60 % 60, 2);
  append_padded(text + 18, second_of_day % 60, 2);
  append_padded(text + 21, ts.nanos(), 9);
  size_t length = 20;  // up to the seconds
  if (ts.nanos() % 1000000 == 0) {
    length += ts.nanos() == 0 ? 0 : 4;
  } else {
    length += ts.nanos() % 1000 == 0 ? 7 : 10;
  }
  out->append(text, length);
  out->append("Z\"");
}

// Writes one JSON document. With print_defaults (Decision), scalar and
// repeated fields are printed even when default, like protobuf's
// always_print_primitive_fields; message fields only when set either way
// (and then, with print_defaults, last: see append_decision).
class Writer {
 public:
  static constexpr size_t kKeyBytesMax = 32;  // longest JSON name is 22 bytes

  Writer(std::string* out, bool print_defaults) : out_(out), print_defaults_(print_defaults) {}

  void begin_object() {
    separate();
    out_->push_back('{');
    needs_comma_ = false;
  }
  void end_object() {
    out_->push_back('}');
    needs_comma_ = true;
  }
  // One append per key: keys are the hottest part of writing.
  void key(std::string_view name) {
    char quoted_key[kKeyBytesMax + 4];
    size_t length = 0;
    if (needs_comma_) quoted_key[length++] = ',';
    quoted_key[length++] = '"';
    length += name.copy(quoted_key + length, kKeyBytesMax);
    quoted_key[length++] = '"';
    quoted_key[length++] = ':';
    out_->append(quoted_key, length);
    needs_comma_ = false;
  }

  void string_field(std::string_view name, const std::string& value) {
    if (value.empty() && !print_defaults_) return;
    key(name);
    string_value(value);
  }
  // int64 values are quoted, as the protobuf JSON mapping prescribes.
  void int64_field(std::string_view name, int64_t value) {
    if (value == 0 && !print_defaults_) return;
    key(name);
    int64_value(value);
  }
  void int32_field(std::string_view name, int32_t value) {
    if (value == 0 && !print_defaults_) return;
    key(name);
    int32_value(value);
  }
  void bool_field(std::string_view name, bool value) {
    if (!value && !print_defaults_) return;
    key(name);
    out_->append(value ? "true" : "false");
    needs_comma_ = true;
  }
  // Unknown enum numbers are printed as numbers, as protobuf does.
  void enum_field(std::string_view name, int value, std::span<const EnumName> names) {
    if (value == 0 && !print_defaults_) return;
    key(name);
    for (const EnumName& candidate : names) {
      if (candidate.number == value) return string_value(candidate.name);
    }
    int32_value(value);
  }
  void timestamp_field(std::string_view name, bool present, const Timestamp& value) {
    if (!present) return;
    key(name);
    append_timestamp(out_, value);
    needs_comma_ = true;
  }
  template <class Items, class WriteElement>
  void array_field(std::string_view name, const Items& items, WriteElement write_element) {
    if (items.empty() && !print_defaults_) return;
    key(name);
    out_->push_back('[');
    needs_comma_ = false;
    for (const auto& item : items) write_element(item);
    out_->push_back(']');
    needs_comma_ = true;
  }
  void string_value(std::string_view value) {
    separate();
    append_json_string(out_, value);
    needs_comma_ = true;
  }
  void int64_value(int64_t value) {
    separate();
    out_->push_back('"');
    append_decimal(out_, value);
    out_->push_back('"');
    needs_comma_ = true;
  }
  void int32_value(int32_t value) {
    separate();
    append_decimal(out_, value);
    needs_comma_ = true;
  }

 private:
  void separate() {
    if (needs_comma_) out_->push_back(',');
  }

  std::string* out_;
  bool print_defaults_;
  bool needs_comma_ = false;
};

// One writer per message type, fields in field-number order (protobuf's).

void write(Writer& w, const v1::Funder& m) {
  w.begin_object();
  w.string_field("funderId", m.funder_id());
  w.int64_field("budget", m.budget());
  w.int32_field("shareBps", m.share_bps());
  w.end_object();
}

void write(Writer& w, const v1::Eligibility& m) {
  const auto write_string = [&](const std::string& s) { w.string_value(s); };
  w.begin_object();
  w.array_field("marketIds", m.market_ids(), write_string);
  w.array_field("merchantIds", m.merchant_ids(), write_string);
  w.array_field("categories", m.categories(), write_string);
  w.end_object();
}

void write(Writer& w, const v1::Offer& m) {
  w.begin_object();
  w.int64_field("fixedAmount", m.fixed_amount());
  w.int32_field("percentBps", m.percent_bps());
  w.int64_field("maxDiscount", m.max_discount());
  w.int64_field("minOrderAmount", m.min_order_amount());
  w.int32_field("validDays", m.valid_days());
  w.end_object();
}

void write(Writer& w, const v1::Limits& m) {
  w.begin_object();
  w.int64_field("perCustomer", m.per_customer());
  w.int64_field("perMerchantCount", m.per_merchant_count());
  w.int64_field("totalCount", m.total_count());
  w.int64_field("perMerchantAmount", m.per_merchant_amount());
  w.int64_field("dailyAmount", m.daily_amount());
  w.end_object();
}

void write(Writer& w, const v1::MessageCash& m) {
  w.begin_object();
  w.int64_field("perMerchant", m.per_merchant());
  w.end_object();
}

// A set message field is printed even when empty.
template <class Message>
void write_message_field(Writer& w, std::string_view name, bool present, const Message& m) {
  if (!present) return;
  w.key(name);
  write(w, m);
}

void write(Writer& w, const v1::CampaignDefined& m) {
  w.begin_object();
  w.string_field("campaignId", m.campaign_id());
  w.string_field("name", m.name());
  w.string_field("currency", m.currency());
  w.timestamp_field("startsAt", m.has_starts_at(), m.starts_at());
  w.timestamp_field("endsAt", m.has_ends_at(), m.ends_at());
  w.int32_field("utcOffsetMinutes", m.utc_offset_minutes());
  w.array_field("funders", m.funders(), [&](const v1::Funder& f) { write(w, f); });
  write_message_field(w, "eligibility", m.has_eligibility(), m.eligibility());
  w.enum_field("trigger", m.trigger(), kTriggerNames);
  write_message_field(w, "offer", m.has_offer(), m.offer());
  write_message_field(w, "limits", m.has_limits(), m.limits());
  write_message_field(w, "messageCash", m.has_message_cash(), m.message_cash());
  if (m.has_redemption_grace_seconds()) {
    w.key("redemptionGraceSeconds");
    w.int64_value(m.redemption_grace_seconds());
  }
  w.array_field("alertThresholdsBps", m.alert_thresholds_bps(),
                [&](int32_t bps) { w.int32_value(bps); });
  w.end_object();
}

void write(Writer& w, const v1::BudgetAdjusted& m) {
  w.begin_object();
  w.string_field("campaignId", m.campaign_id());
  w.string_field("funderId", m.funder_id());
  w.int64_field("delta", m.delta());
  w.end_object();
}

void write(Writer& w, const v1::CampaignStatusChanged& m) {
  w.begin_object();
  w.string_field("campaignId", m.campaign_id());
  w.enum_field("status", m.status(), kStatusNames);
  w.end_object();
}

void write(Writer& w, const v1::MerchantEnrolled& m) {
  w.begin_object();
  w.string_field("merchantId", m.merchant_id());
  w.string_field("marketId", m.market_id());
  w.string_field("category", m.category());
  w.end_object();
}

void write(Writer& w, const v1::ChannelOpened& m) {
  w.begin_object();
  w.string_field("merchantId", m.merchant_id());
  w.string_field("channelId", m.channel_id());
  w.end_object();
}

// ChannelAdded and ChannelBlocked have the same fields.
template <class ChannelChange>
void write_channel_change(Writer& w, const ChannelChange& m) {
  w.begin_object();
  w.string_field("merchantId", m.merchant_id());
  w.string_field("customerId", m.customer_id());
  w.end_object();
}
void write(Writer& w, const v1::ChannelAdded& m) { write_channel_change(w, m); }
void write(Writer& w, const v1::ChannelBlocked& m) { write_channel_change(w, m); }

void write(Writer& w, const v1::CouponIssued& m) {
  w.begin_object();
  w.string_field("campaignId", m.campaign_id());
  w.string_field("customerId", m.customer_id());
  if (m.has_merchant_id()) {
    w.key("merchantId");
    w.string_value(m.merchant_id());
  }
  if (m.has_coupon_id()) {
    w.key("couponId");
    w.string_value(m.coupon_id());
  }
  w.end_object();
}

void write(Writer& w, const v1::CouponRedeemed& m) {
  w.begin_object();
  w.string_field("couponId", m.coupon_id());
  w.string_field("merchantId", m.merchant_id());
  w.int64_field("orderAmount", m.order_amount());
  if (m.has_discount()) {
    w.key("discount");
    w.int64_value(m.discount());
  }
  w.end_object();
}

void write(Writer& w, const v1::RedemptionReversed& m) {
  w.begin_object();
  w.string_field("couponId", m.coupon_id());
  w.string_field("merchantId", m.merchant_id());
  w.end_object();
}

void write(Writer& w, const v1::MessageSent& m) {
  w.begin_object();
  w.string_field("merchantId", m.merchant_id());
  w.int64_field("recipients", m.recipients());
  w.int64_field("unitCost", m.unit_cost());
  w.end_object();
}

void write_payload(Writer& w, const v1::Envelope& e) {
  using P = v1::Envelope;
  switch (e.payload_case()) {
    case P::kCampaignDefined: return write_message_field(w, "campaignDefined", /*present=*/true, e.campaign_defined());
    case P::kBudgetAdjusted: return write_message_field(w, "budgetAdjusted", /*present=*/true, e.budget_adjusted());
    case P::kCampaignStatusChanged:
      return write_message_field(w, "campaignStatusChanged", /*present=*/true, e.campaign_status_changed());
    case P::kMerchantEnrolled: return write_message_field(w, "merchantEnrolled", /*present=*/true, e.merchant_enrolled());
    case P::kChannelOpened: return write_message_field(w, "channelOpened", /*present=*/true, e.channel_opened());
    case P::kChannelAdded: return write_message_field(w, "channelAdded", /*present=*/true, e.channel_added());
    case P::kChannelBlocked: return write_message_field(w, "channelBlocked", /*present=*/true, e.channel_blocked());
    case P::kCouponIssued: return write_message_field(w, "couponIssued", /*present=*/true, e.coupon_issued());
    case P::kCouponRedeemed: return write_message_field(w, "couponRedeemed", /*present=*/true, e.coupon_redeemed());
    case P::kRedemptionReversed:
      return write_message_field(w, "redemptionReversed", /*present=*/true, e.redemption_reversed());
    case P::kMessageSent: return write_message_field(w, "messageSent", /*present=*/true, e.message_sent());
    case P::PAYLOAD_NOT_SET: return;
  }
}

// ---- Decision side

void write(Writer& w, const v1::FunderAmount& m) {
  w.begin_object();
  w.string_field("funderId", m.funder_id());
  w.int64_field("amount", m.amount());
  w.end_object();
}

void split_field(Writer& w, std::string_view name, const RepeatedPtrField<v1::FunderAmount>& split) {
  w.array_field(name, split, [&](const v1::FunderAmount& share) { write(w, share); });
}

void write(Writer& w, const v1::BudgetSet& m) {
  w.begin_object();
  w.string_field("campaignId", m.campaign_id());
  w.string_field("funderId", m.funder_id());
  w.int64_field("budget", m.budget());
  w.end_object();
}

void write(Writer& w, const v1::BudgetAdjustedEffect& m) {
  w.begin_object();
  w.string_field("campaignId", m.campaign_id());
  w.string_field("funderId", m.funder_id());
  w.int64_field("delta", m.delta());
  w.end_object();
}

void write(Writer& w, const v1::CouponGranted& m) {
  w.begin_object();
  w.string_field("couponId", m.coupon_id());
  w.string_field("campaignId", m.campaign_id());
  w.string_field("merchantId", m.merchant_id());
  w.string_field("customerId", m.customer_id());
  w.int64_field("reserved", m.reserved());
  w.timestamp_field("expiresAt", m.has_expires_at(), m.expires_at());
  split_field(w, "split", m.split());
  w.end_object();
}

void write(Writer& w, const v1::GrantRejected& m) {
  w.begin_object();
  w.string_field("campaignId", m.campaign_id());
  w.string_field("reason", m.reason());
  w.end_object();
}

void write(Writer& w, const v1::RedemptionSettled& m) {
  w.begin_object();
  w.string_field("couponId", m.coupon_id());
  w.string_field("campaignId", m.campaign_id());
  w.string_field("merchantId", m.merchant_id());
  w.int64_field("orderAmount", m.order_amount());
  w.int64_field("discount", m.discount());
  split_field(w, "split", m.split());
  w.int64_field("released", m.released());
  split_field(w, "releasedSplit", m.released_split());
  w.end_object();
}

void write(Writer& w, const v1::ReservationReleased& m) {
  w.begin_object();
  w.string_field("couponId", m.coupon_id());
  w.string_field("campaignId", m.campaign_id());
  w.string_field("merchantId", m.merchant_id());
  w.int64_field("amount", m.amount());
  split_field(w, "split", m.split());
  w.enum_field("cause", m.cause(), kCauseNames);
  w.end_object();
}

void write(Writer& w, const v1::RedemptionReversedEffect& m) {
  w.begin_object();
  w.string_field("couponId", m.coupon_id());
  w.string_field("campaignId", m.campaign_id());
  w.bool_field("restored", m.restored());
  split_field(w, "spentReturned", m.spent_returned());
  split_field(w, "reReserved", m.re_reserved());
  w.end_object();
}

// MessageCashGranted and MessageCharged have the same fields.
template <class CashMovement>
void write_cash_movement(Writer& w, const CashMovement& m) {
  w.begin_object();
  w.string_field("campaignId", m.campaign_id());
  w.string_field("merchantId", m.merchant_id());
  w.int64_field("amount", m.amount());
  split_field(w, "split", m.split());
  w.end_object();
}
void write(Writer& w, const v1::MessageCashGranted& m) { write_cash_movement(w, m); }
void write(Writer& w, const v1::MessageCharged& m) { write_cash_movement(w, m); }

void write(Writer& w, const v1::ThresholdCrossed& m) {
  w.begin_object();
  w.string_field("campaignId", m.campaign_id());
  w.string_field("funderId", m.funder_id());
  w.int32_field("bps", m.bps());
  w.end_object();
}

void write(Writer& w, const v1::Effect& m) {
  using E = v1::Effect;
  w.begin_object();
  switch (m.kind_case()) {
    case E::kBudgetSet: write_message_field(w, "budgetSet", /*present=*/true, m.budget_set()); break;
    case E::kBudgetAdjusted: write_message_field(w, "budgetAdjusted", /*present=*/true, m.budget_adjusted()); break;
    case E::kCouponGranted: write_message_field(w, "couponGranted", /*present=*/true, m.coupon_granted()); break;
    case E::kGrantRejected: write_message_field(w, "grantRejected", /*present=*/true, m.grant_rejected()); break;
    case E::kRedemptionSettled:
      write_message_field(w, "redemptionSettled", /*present=*/true, m.redemption_settled());
      break;
    case E::kReservationReleased:
      write_message_field(w, "reservationReleased", /*present=*/true, m.reservation_released());
      break;
    case E::kRedemptionReversed:
      write_message_field(w, "redemptionReversed", /*present=*/true, m.redemption_reversed());
      break;
    case E::kMessageCashGranted:
      write_message_field(w, "messageCashGranted", /*present=*/true, m.message_cash_granted());
      break;
    case E::kMessageCharged: write_message_field(w, "messageCharged", /*present=*/true, m.message_charged()); break;
    case E::kThresholdCrossed:
      write_message_field(w, "thresholdCrossed", /*present=*/true, m.threshold_crossed());
      break;
    case E::KIND_NOT_SET: break;
  }
  w.end_object();
}

// ------------------------------------------------------------ parsing

class Parser;

enum class Group { kNone, kOneof };

// One field of message type Msg: its two accepted names and how to read a
// non-null value into it.
template <class Msg>
struct Field {
  std::string_view json_name;
  std::string_view proto_name;
  bool (*read)(Parser&, Msg&);
  Group group = Group::kNone;
};

// What an unknown enum name means (header, deliberate difference 1).
enum class UnknownEnumName { kError, kZeroValue };

// A JSON number: exact when an integer literal fits int64, else a double
// obtained exactly as protobuf's parser obtains it.
struct Number {
  bool exact = false;
  int64_t integer = 0;
  double real = 0;
};

// Longest excerpt of the input quoted in an error message.
constexpr size_t kQuoteBytesMax = 40;

// Quotes untrusted text for a one-line error message.
std::string quoted(std::string_view text) {
  std::string result = "\"";
  for (const char c : text.substr(0, kQuoteBytesMax)) {
    if (static_cast<uint8_t>(c) < 0x20 || c == 0x7F) {
      result += '?';
    } else {
      result += c;
    }
  }
  result += text.size() > kQuoteBytesMax ? "...\"" : "\"";
  return result;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Decimal string as protobuf's safe_strto64 takes it: optional sign, digits,
// leading zeros allowed, nothing else.
bool parse_decimal_string(std::string_view text, int64_t min, int64_t max, int64_t* value) {
  size_t pos = 0;
  const bool negative = !text.empty() && text[0] == '-';
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) pos = 1;
  if (pos == text.size()) return false;
  uint64_t magnitude = 0;
  const uint64_t limit = negative ? uint64_t{0} - static_cast<uint64_t>(min) : static_cast<uint64_t>(max);
  for (; pos < text.size(); ++pos) {
    if (!is_digit(text[pos])) return false;
    const uint64_t digit = static_cast<uint64_t>(text[pos] - '0');
    if (magnitude > (limit - digit) / 10) return false;
    magnitude = magnitude * 10 + digit;
  }
  *value = negative ? static_cast<int64_t>(uint64_t{0} - magnitude) : static_cast<int64_t>(magnitude);
  return true;
}

// strtod in the "C" locale, whatever the process locale is.
double strtod_c_locale(const std::string& text) {
  static const locale_t c_locale = newlocale(LC_ALL_MASK, "C", locale_t{});
  return strtod_l(text.c_str(), nullptr, c_locale);
}

bool parse_bool_string(std::string_view text, bool* value) {
  // protobuf's safe_strtob, case-insensitively.
  constexpr std::string_view kTrue[] = {"true", "t", "yes", "y", "1"};
  constexpr std::string_view kFalse[] = {"false", "f", "no", "n", "0"};
  const auto equal_ignoring_case = [&](std::string_view word) {
    if (word.size() != text.size()) return false;
    for (size_t i = 0; i < word.size(); ++i) {
      if ((text[i] | 0x20) != word[i]) return false;
    }
    return true;
  };
  for (std::string_view word : kTrue) {
    if (equal_ignoring_case(word)) return *value = true, true;
  }
  for (std::string_view word : kFalse) {
    if (equal_ignoring_case(word)) return *value = false, true;
  }
  return false;
}

// A recursive-descent reader over one JSON document, driven by field tables
// so that it only ever descends into values the schema expects. Readers are
// called with the cursor on the first byte of a non-null value; on failure
// they return false with problem_ set, and each enclosing object or array
// prepends its part of path_ while the failure unwinds (nothing is spent on
// paths while parsing succeeds).
class Parser {
 public:
  Parser(std::string_view json, UnknownEnumName unknown_enum_name)
      : begin_(json.data()), cursor_(json.data()), end_(json.data() + json.size()),
        unknown_enum_name_(unknown_enum_name) {}

  template <class Msg, size_t N>
  bool parse_document(Msg& m, const Field<Msg> (&fields)[N]) {
    skip_whitespace();
    if (!at('{')) return fail_syntax("expected '{'");
    if (!read_object(m, fields)) return false;
    skip_whitespace();
    return cursor_ == end_ || fail_syntax("unexpected data after the top-level object");
  }

  std::string error() const { return path_.empty() ? problem_ : path_ + ": " + problem_; }

  template <class Msg, size_t N>
  bool read_object(Msg& m, const Field<Msg> (&fields)[N]) {
    static_assert(N <= 32, "seen-field bitmask holds 32 fields");
    return read_object_fields(m, std::span<const Field<Msg>>(fields));
  }

  template <class ReadElement>
  bool read_array(ReadElement read_element) {
    if (!consume('[')) return fail("expected an array");
    skip_whitespace();
    if (consume(']')) return true;
    for (int index = 0;; ++index) {
      skip_whitespace();
      // protobuf skips null elements.
      if (!consume_literal("null") && !read_element()) return prepend_index(index);
      skip_whitespace();
      if (consume(',')) continue;
      if (consume(']')) return true;
      return fail_syntax("expected ',' or ']'");
    }
  }

  bool read_string(std::string* out) {
    if (!consume('"')) return fail("expected a string");
    out->clear();
    for (;;) {
      const char* run_start = cursor_;
      while (cursor_ < end_ && is_plain_string_byte(static_cast<uint8_t>(*cursor_))) ++cursor_;
      out->append(run_start, cursor_);
      if (cursor_ == end_) return fail_syntax("unterminated string");
      const uint8_t c = static_cast<uint8_t>(*cursor_);
      if (c == '"') {
        ++cursor_;
        return true;
      }
      if (c < 0x20) return fail_syntax("control character in a string");
      if (!(c == '\\' ? read_escape(out) : copy_utf8_sequence(out))) return false;
    }
  }

  bool read_int64(int64_t* value) {
    return read_integer(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(),
                        value);
  }

  bool read_int32(int32_t* value) {
    int64_t wide = 0;
    if (!read_integer(std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max(),
                      &wide)) {
      return false;
    }
    *value = static_cast<int32_t>(wide);
    return true;
  }

  bool read_bool(bool* value) {
    if (consume_literal("true")) return *value = true, true;
    if (consume_literal("false")) return *value = false, true;
    if (!at('"')) return fail("expected true or false");
    if (!read_string(&scratch_)) return false;
    return parse_bool_string(scratch_, value) || fail("expected true or false, got " + quoted(scratch_));
  }

  // By name or by number, as protobuf reads enums.
  bool read_enum(std::span<const EnumName> names, int* value) {
    if (!at('"')) {
      int32_t number = 0;
      if (!at('-') && !at_digit()) return fail("expected an enum name");
      if (!read_int32(&number)) return false;
      *value = number;
      return true;
    }
    if (!read_string(&scratch_)) return false;
    if (find_enum_value(names, scratch_, value)) return true;
    if (unknown_enum_name_ == UnknownEnumName::kZeroValue) return *value = 0, true;
    return fail("unknown enum value " + quoted(scratch_));
  }

  bool read_timestamp(Timestamp* ts) {
    if (!at('"')) return fail("expected an RFC 3339 timestamp string");
    if (!read_string(&scratch_)) return false;
    int64_t seconds = 0;
    int32_t nanos = 0;
    if (!parse_rfc3339(scratch_, &seconds, &nanos)) {
      return fail("invalid timestamp " + quoted(scratch_) +
                  ", expected RFC 3339 like \"2023-08-01T09:00:00+09:00\"");
    }
    if (seconds < kMinTimestampSeconds || seconds > kMaxTimestampSeconds) {
      return fail("timestamp " + quoted(scratch_) + " is outside 0001-01-01..9999-12-31 in UTC");
    }
    ts->set_seconds(seconds);
    ts->set_nanos(nanos);
    return true;
  }

 private:
  template <class Msg>
  bool read_object_fields(Msg& m, std::span<const Field<Msg>> fields) {
    if (!consume('{')) return fail("expected an object");
    skip_whitespace();
    if (consume('}')) return true;
    uint32_t seen_fields = 0;
    const Field<Msg>* oneof_member = nullptr;
    for (;;) {
      skip_whitespace();
      std::string_view key;
      if (!read_key(&key)) return false;
      const size_t index = find_field(fields, key);
      if (index == fields.size()) return fail("unknown field " + quoted(key));
      const Field<Msg>& field = fields[index];
      if (seen_fields & (1u << index)) return fail("duplicate field " + quoted(key));
      seen_fields |= 1u << index;
      if (!consume_literal("null")) {
        if (field.group == Group::kOneof) {
          if (oneof_member != nullptr) {
            return fail("both " + quoted(oneof_member->json_name) + " and " + quoted(field.json_name) +
                        " are set, only one may be");
          }
          oneof_member = &field;
        }
        if (!field.read(*this, m)) return prepend_field(field.json_name);
      }
      skip_whitespace();
      if (consume(',')) continue;
      if (consume('}')) return true;
      return fail_syntax("expected ',' or '}'");
    }
  }

  template <class Msg>
  static size_t find_field(std::span<const Field<Msg>> fields, std::string_view key) {
    for (size_t i = 0; i < fields.size(); ++i) {
      if (key == fields[i].json_name || key == fields[i].proto_name) return i;
    }
    return fields.size();
  }

  bool find_enum_value(std::span<const EnumName> names, std::string_view text, int* value) {
    for (const EnumName& candidate : names) {
      if (candidate.name == text) return *value = candidate.number, true;
    }
    // protobuf also takes a declared number given as a string ("2").
    int64_t number = 0;
    if (!parse_decimal_string(text, std::numeric_limits<int32_t>::min(),
                              std::numeric_limits<int32_t>::max(), &number)) {
      return false;
    }
    for (const EnumName& candidate : names) {
      if (candidate.number == number) return *value = candidate.number, true;
    }
    return false;
  }

  // Reads "key" and the ':' after it. Keys without escapes are not copied.
  bool read_key(std::string_view* key) {
    if (!at('"')) return fail_syntax("expected a field name in double quotes");
    const char* start = cursor_ + 1;
    const char* stop = start;
    while (stop < end_ && *stop != '"' && *stop != '\\') ++stop;
    if (stop < end_ && *stop == '"') {
      *key = std::string_view(start, static_cast<size_t>(stop - start));
      cursor_ = stop + 1;
    } else {
      if (!read_string(&key_scratch_)) return false;
      *key = key_scratch_;
    }
    skip_whitespace();
    if (!consume(':')) return fail_syntax("expected ':' after a field name");
    skip_whitespace();
    return true;
  }

  bool read_integer(int64_t min, int64_t max, int64_t* value) {
    if (at('"')) {
      if (!read_string(&scratch_)) return false;
      return parse_decimal_string(scratch_, min, max, value) ||
             fail("expected a decimal integer in range, got " + quoted(scratch_));
    }
    if (!at('-') && !at_digit()) return fail("expected an integer");
    const char* token_start = cursor_;
    Number number;
    if (!read_number(&number)) return false;
    const std::string_view token(token_start, static_cast<size_t>(cursor_ - token_start));
    if (number.exact) {
      if (number.integer >= min && number.integer <= max) return *value = number.integer, true;
      return fail("integer out of range: " + quoted(token));
    }
    // protobuf accepts an integral double (1.0, 1e3) within range.
    if (std::trunc(number.real) != number.real) return fail("expected an integer, got " + quoted(token));
    if (!(number.real >= static_cast<double>(min) && number.real < static_cast<double>(max) + 1.0)) {
      return fail("integer out of range: " + quoted(token));
    }
    *value = static_cast<int64_t>(number.real);
    return true;
  }

  // RFC 8259 number grammar; the value as protobuf 3.21 computes it.
  bool read_number(Number* number) {
    const char* start = cursor_;
    consume('-');
    if (!at_digit()) return fail_syntax("expected a digit");
    if (consume('0')) {
      if (at_digit()) return fail_syntax("leading zeros are not allowed in a number");
    } else {
      skip_digits();
    }
    bool integral = true;
    if (consume('.')) {
      integral = false;
      if (!at_digit()) return fail_syntax("expected a digit after '.'");
      skip_digits();
    }
    if (consume('e') || consume('E')) {
      integral = false;
      if (!consume('+')) consume('-');
      if (!at_digit()) return fail_syntax("expected a digit in the exponent");
      skip_digits();
    }
    const std::string_view token(start, static_cast<size_t>(cursor_ - start));
    if (integral && parse_decimal_string(token, std::numeric_limits<int64_t>::min(),
                                         std::numeric_limits<int64_t>::max(), &number->integer)) {
      number->exact = true;
      return true;
    }
    // Fractions, exponents and integers beyond int64 go through strtod like
    // protobuf's, so rounding (9007199254740993.0) and underflow agree.
    scratch_.assign(token);
    number->real = strtod_c_locale(scratch_);
    return std::isfinite(number->real) || fail("number out of range: " + quoted(token));
  }

  bool read_escape(std::string* out) {
    ++cursor_;  // the backslash
    if (cursor_ == end_) return fail_syntax("unterminated string");
    char unescaped = *cursor_;
    switch (unescaped) {
      case '"': case '\\': case '/': break;
      case 'b': unescaped = '\b'; break;
      case 'f': unescaped = '\f'; break;
      case 'n': unescaped = '\n'; break;
      case 'r': unescaped = '\r'; break;
      case 't': unescaped = '\t'; break;
      case 'u': ++cursor_; return read_unicode_escape(out);
      default: return fail_syntax("invalid escape sequence");
    }
    ++cursor_;
    out->push_back(unescaped);
    return true;
  }

  // \uXXXX, where a high surrogate must be followed by \u and a low one.
  bool read_unicode_escape(std::string* out) {
    uint32_t code_point = 0;
    if (!read_hex4(&code_point)) return false;
    if (code_point >= 0xDC00 && code_point <= 0xDFFF) return fail_syntax("lone low surrogate");
    if (code_point >= 0xD800 && code_point <= 0xDBFF) {
      uint32_t low = 0;
      if (!consume('\\') || !consume('u')) return fail_syntax("high surrogate without a low one");
      if (!read_hex4(&low)) return false;
      if (low < 0xDC00 || low > 0xDFFF) return fail_syntax("high surrogate without a low one");
      code_point = 0x10000 + ((code_point - 0xD800) << 10) + (low - 0xDC00);
    }
    append_utf8(out, code_point);
    return true;
  }

  bool read_hex4(uint32_t* unit) {
    if (end_ - cursor_ < 4) return fail_syntax("expected 4 hex digits after \\u");
    *unit = 0;
    for (int i = 0; i < 4; ++i, ++cursor_) {
      const char c = *cursor_;
      const int digit = is_digit(c)               ? c - '0'
                        : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10
                                                                 : -1;
      if (digit < 0) return fail_syntax("expected 4 hex digits after \\u");
      *unit = *unit * 16 + static_cast<uint32_t>(digit);
    }
    return true;
  }

  static void append_utf8(std::string* out, uint32_t code_point) {
    if (code_point < 0x80) {
      out->push_back(static_cast<char>(code_point));
    } else if (code_point < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (code_point >> 6)));
      out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
    } else if (code_point < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (code_point >> 12)));
      out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (code_point >> 18)));
      out->push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
    }
  }

  // Copies one multi-byte UTF-8 sequence; protobuf rejects invalid UTF-8.
  bool copy_utf8_sequence(std::string* out) {
    uint32_t code_point = 0;
    const size_t rest = static_cast<size_t>(end_ - cursor_);
    const size_t length = utf8_sequence_length(std::string_view(cursor_, rest), &code_point);
    if (length == 0) return fail_syntax("invalid UTF-8");
    out->append(cursor_, length);
    cursor_ += length;
    return true;
  }

  static bool is_plain_string_byte(uint8_t c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }

  bool at(char c) const { return cursor_ < end_ && *cursor_ == c; }
  bool at_digit() const { return cursor_ < end_ && is_digit(*cursor_); }
  bool consume(char c) { return at(c) && (++cursor_, true); }
  void skip_digits() {
    while (at_digit()) ++cursor_;
  }
  bool consume_literal(std::string_view literal) {
    if (static_cast<size_t>(end_ - cursor_) < literal.size() ||
        std::string_view(cursor_, literal.size()) != literal) {
      return false;
    }
    cursor_ += literal.size();
    return true;
  }
  void skip_whitespace() {
    while (cursor_ < end_ && (*cursor_ == ' ' || *cursor_ == '\n' || *cursor_ == '\r' || *cursor_ == '\t')) {
      ++cursor_;
    }
  }

  bool fail(std::string problem) {
    problem_ = std::move(problem);
    path_.clear();
    return false;
  }
  bool fail_syntax(std::string_view expected) {
    return fail("invalid JSON at byte " + std::to_string(cursor_ - begin_) + ": " + std::string(expected));
  }
  bool prepend_field(std::string_view name) {
    const bool joins_a_field = !path_.empty() && path_[0] != '[';
    path_.insert(0, std::string(name) + (joins_a_field ? "." : ""));
    return false;
  }
  bool prepend_index(int index) {
    const bool joins_a_field = !path_.empty() && path_[0] != '[';
    path_.insert(0, "[" + std::to_string(index) + "]" + (joins_a_field ? "." : ""));
    return false;
  }

  const char* const begin_;
  const char* cursor_;
  const char* const end_;
  const UnknownEnumName unknown_enum_name_;
  std::string scratch_;      // unescaped scalar: number-as-string, enum, timestamp
  std::string key_scratch_;  // unescaped key, only for keys with escapes
  std::string problem_;
  std::string path_;
};

// ---- field readers, instantiated per field from its generated accessor

template <class T>
struct MemberOf;
template <class C, class R, class... Args>
struct MemberOf<R (C::*)(Args...)> {
  using type = C;
};
template <auto kAccessor>
using MessageOf = typename MemberOf<decltype(kAccessor)>::type;

template <auto kMutable>
bool string_field(Parser& p, MessageOf<kMutable>& m) {
  return p.read_string((m.*kMutable)());
}

template <auto kSet>
bool int64_field(Parser& p, MessageOf<kSet>& m) {
  int64_t value = 0;
  if (!p.read_int64(&value)) return false;
  (m.*kSet)(value);
  return true;
}

template <auto kSet>
bool int32_field(Parser& p, MessageOf<kSet>& m) {
  int32_t value = 0;
  if (!p.read_int32(&value)) return false;
  (m.*kSet)(value);
  return true;
}

template <auto kSet>
bool bool_field(Parser& p, MessageOf<kSet>& m) {
  bool value = false;
  if (!p.read_bool(&value)) return false;
  (m.*kSet)(value);
  return true;
}

template <class T>
struct EnumArgOf;
template <class C, class E>
struct EnumArgOf<void (C::*)(E)> {
  using type = E;
};

template <auto kSet, const auto& kNames>
bool enum_field(Parser& p, MessageOf<kSet>& m) {
  int value = 0;
  if (!p.read_enum(kNames, &value)) return false;
  (m.*kSet)(static_cast<typename EnumArgOf<decltype(kSet)>::type>(value));
  return true;
}

template <auto kMutable>
bool timestamp_field(Parser& p, MessageOf<kMutable>& m) {
  return p.read_timestamp((m.*kMutable)());
}

template <auto kMutable, const auto& kFields>
bool message_field(Parser& p, MessageOf<kMutable>& m) {
  return p.read_object(*(m.*kMutable)(), kFields);
}

// Repeated string accessors are overloaded, so their class is spelled out.
template <class Msg, std::string* (Msg::*kAdd)()>
bool string_array_field(Parser& p, Msg& m) {
  return p.read_array([&] { return p.read_string((m.*kAdd)()); });
}

template <auto kAdd>
bool int32_array_field(Parser& p, MessageOf<kAdd>& m) {
  return p.read_array([&] {
    int32_t value = 0;
    if (!p.read_int32(&value)) return false;
    (m.*kAdd)(value);
    return true;
  });
}

template <auto kAdd, const auto& kFields>
bool message_array_field(Parser& p, MessageOf<kAdd>& m) {
  return p.read_array([&] { return p.read_object(*(m.*kAdd)(), kFields); });
}

constexpr Group kOneof = Group::kOneof;

// ---- Envelope tables

using v1::Envelope;

constexpr Field<v1::Funder> kFunderFields[] = {
    {"funderId", "funder_id", string_field<&v1::Funder::mutable_funder_id>},
    {"budget", "budget", int64_field<&v1::Funder::set_budget>},
    {"shareBps", "share_bps", int32_field<&v1::Funder::set_share_bps>},
};

constexpr Field<v1::Eligibility> kEligibilityFields[] = {
    {"marketIds", "market_ids", string_array_field<v1::Eligibility, &v1::Eligibility::add_market_ids>},
    {"merchantIds", "merchant_ids", string_array_field<v1::Eligibility, &v1::Eligibility::add_merchant_ids>},
    {"categories", "categories", string_array_field<v1::Eligibility, &v1::Eligibility::add_categories>},
};

constexpr Field<v1::Offer> kOfferFields[] = {
    {"fixedAmount", "fixed_amount", int64_field<&v1::Offer::set_fixed_amount>},
    {"percentBps", "percent_bps", int32_field<&v1::Offer::set_percent_bps>},
    {"maxDiscount", "max_discount", int64_field<&v1::Offer::set_max_discount>},
    {"minOrderAmount", "min_order_amount", int64_field<&v1::Offer::set_min_order_amount>},
    {"validDays", "valid_days", int32_field<&v1::Offer::set_valid_days>},
};

constexpr Field<v1::Limits> kLimitsFields[] = {
    {"perCustomer", "per_customer", int64_field<&v1::Limits::set_per_customer>},
    {"perMerchantCount", "per_merchant_count", int64_field<&v1::Limits::set_per_merchant_count>},
    {"totalCount", "total_count", int64_field<&v1::Limits::set_total_count>},
    {"perMerchantAmount", "per_merchant_amount", int64_field<&v1::Limits::set_per_merchant_amount>},
    {"dailyAmount", "daily_amount", int64_field<&v1::Limits::set_daily_amount>},
};

constexpr Field<v1::MessageCash> kMessageCashFields[] = {
    {"perMerchant", "per_merchant", int64_field<&v1::MessageCash::set_per_merchant>},
};

using v1::CampaignDefined;
constexpr Field<CampaignDefined> kCampaignDefinedFields[] = {
    {"campaignId", "campaign_id", string_field<&CampaignDefined::mutable_campaign_id>},
    {"name", "name", string_field<&CampaignDefined::mutable_name>},
    {"currency", "currency", string_field<&CampaignDefined::mutable_currency>},
    {"startsAt", "starts_at", timestamp_field<&CampaignDefined::mutable_starts_at>},
    {"endsAt", "ends_at", timestamp_field<&CampaignDefined::mutable_ends_at>},
    {"utcOffsetMinutes", "utc_offset_minutes", int32_field<&CampaignDefined::set_utc_offset_minutes>},
    {"funders", "funders", message_array_field<&CampaignDefined::add_funders, kFunderFields>},
    {"eligibility", "eligibility", message_field<&CampaignDefined::mutable_eligibility, kEligibilityFields>},
    {"trigger", "trigger", enum_field<&CampaignDefined::set_trigger, kTriggerNames>},
    {"offer", "offer", message_field<&CampaignDefined::mutable_offer, kOfferFields>},
    {"limits", "limits", message_field<&CampaignDefined::mutable_limits, kLimitsFields>},
    {"messageCash", "message_cash", message_field<&CampaignDefined::mutable_message_cash, kMessageCashFields>},
    {"redemptionGraceSeconds", "redemption_grace_seconds",
     int64_field<&CampaignDefined::set_redemption_grace_seconds>},
    {"alertThresholdsBps", "alert_thresholds_bps",
     int32_array_field<&CampaignDefined::add_alert_thresholds_bps>},
};

constexpr Field<v1::BudgetAdjusted> kBudgetAdjustedFields[] = {
    {"campaignId", "campaign_id", string_field<&v1::BudgetAdjusted::mutable_campaign_id>},
    {"funderId", "funder_id", string_field<&v1::BudgetAdjusted::mutable_funder_id>},
    {"delta", "delta", int64_field<&v1::BudgetAdjusted::set_delta>},
};

constexpr Field<v1::CampaignStatusChanged> kCampaignStatusChangedFields[] = {
    {"campaignId", "campaign_id", string_field<&v1::CampaignStatusChanged::mutable_campaign_id>},
    {"status", "status", enum_field<&v1::CampaignStatusChanged::set_status, kStatusNames>},
};

constexpr Field<v1::MerchantEnrolled> kMerchantEnrolledFields[] = {
    {"merchantId", "merchant_id", string_field<&v1::MerchantEnrolled::mutable_merchant_id>},
    {"marketId", "market_id", string_field<&v1::MerchantEnrolled::mutable_market_id>},
    {"category", "category", string_field<&v1::MerchantEnrolled::mutable_category>},
};

constexpr Field<v1::ChannelOpened> kChannelOpenedFields[] = {
    {"merchantId", "merchant_id", string_field<&v1::ChannelOpened::mutable_merchant_id>},
    {"channelId", "channel_id", string_field<&v1::ChannelOpened::mutable_channel_id>},
};

constexpr Field<v1::ChannelAdded> kChannelAddedFields[] = {
    {"merchantId", "merchant_id", string_field<&v1::ChannelAdded::mutable_merchant_id>},
    {"customerId", "customer_id", string_field<&v1::ChannelAdded::mutable_customer_id>},
};

constexpr Field<v1::ChannelBlocked> kChannelBlockedFields[] = {
    {"merchantId", "merchant_id", string_field<&v1::ChannelBlocked::mutable_merchant_id>},
    {"customerId", "customer_id", string_field<&v1::ChannelBlocked::mutable_customer_id>},
};

constexpr Field<v1::CouponIssued> kCouponIssuedFields[] = {
    {"campaignId", "campaign_id", string_field<&v1::CouponIssued::mutable_campaign_id>},
    {"customerId", "customer_id", string_field<&v1::CouponIssued::mutable_customer_id>},
    {"merchantId", "merchant_id", string_field<&v1::CouponIssued::mutable_merchant_id>},
    {"couponId", "coupon_id", string_field<&v1::CouponIssued::mutable_coupon_id>},
};

constexpr Field<v1::CouponRedeemed> kCouponRedeemedFields[] = {
    {"couponId", "coupon_id", string_field<&v1::CouponRedeemed::mutable_coupon_id>},
    {"merchantId", "merchant_id", string_field<&v1::CouponRedeemed::mutable_merchant_id>},
    {"orderAmount", "order_amount", int64_field<&v1::CouponRedeemed::set_order_amount>},
    {"discount", "discount", int64_field<&v1::CouponRedeemed::set_discount>},
};

constexpr Field<v1::RedemptionReversed> kRedemptionReversedFields[] = {
    {"couponId", "coupon_id", string_field<&v1::RedemptionReversed::mutable_coupon_id>},
    {"merchantId", "merchant_id", string_field<&v1::RedemptionReversed::mutable_merchant_id>},
};

constexpr Field<v1::MessageSent> kMessageSentFields[] = {
    {"merchantId", "merchant_id", string_field<&v1::MessageSent::mutable_merchant_id>},
    {"recipients", "recipients", int64_field<&v1::MessageSent::set_recipients>},
    {"unitCost", "unit_cost", int64_field<&v1::MessageSent::set_unit_cost>},
};

constexpr Field<Envelope> kEnvelopeFields[] = {
    {"eventId", "event_id", string_field<&Envelope::mutable_event_id>},
    {"occurredAt", "occurred_at", timestamp_field<&Envelope::mutable_occurred_at>},
    {"campaignDefined", "campaign_defined",
     message_field<&Envelope::mutable_campaign_defined, kCampaignDefinedFields>, kOneof},
    {"budgetAdjusted", "budget_adjusted",
     message_field<&Envelope::mutable_budget_adjusted, kBudgetAdjustedFields>, kOneof},
    {"campaignStatusChanged", "campaign_status_changed",
     message_field<&Envelope::mutable_campaign_status_changed, kCampaignStatusChangedFields>, kOneof},
    {"merchantEnrolled", "merchant_enrolled",
     message_field<&Envelope::mutable_merchant_enrolled, kMerchantEnrolledFields>, kOneof},
    {"channelOpened", "channel_opened",
     message_field<&Envelope::mutable_channel_opened, kChannelOpenedFields>, kOneof},
    {"channelAdded", "channel_added",
     message_field<&Envelope::mutable_channel_added, kChannelAddedFields>, kOneof},
    {"channelBlocked", "channel_blocked",
     message_field<&Envelope::mutable_channel_blocked, kChannelBlockedFields>, kOneof},
    {"couponIssued", "coupon_issued",
     message_field<&Envelope::mutable_coupon_issued, kCouponIssuedFields>, kOneof},
    {"couponRedeemed", "coupon_redeemed",
     message_field<&Envelope::mutable_coupon_redeemed, kCouponRedeemedFields>, kOneof},
    {"redemptionReversed", "redemption_reversed",
     message_field<&Envelope::mutable_redemption_reversed, kRedemptionReversedFields>, kOneof},
    {"messageSent", "message_sent",
     message_field<&Envelope::mutable_message_sent, kMessageSentFields>, kOneof},
};

// ---- Decision tables

constexpr Field<v1::FunderAmount> kFunderAmountFields[] = {
    {"funderId", "funder_id", string_field<&v1::FunderAmount::mutable_funder_id>},
    {"amount", "amount", int64_field<&v1::FunderAmount::set_amount>},
};

constexpr Field<v1::BudgetSet> kBudgetSetFields[] = {
    {"campaignId", "campaign_id", string_field<&v1::BudgetSet::mutable_campaign_id>},
    {"funderId", "funder_id", string_field<&v1::BudgetSet::mutable_funder_id>},
    {"budget", "budget", int64_field<&v1::BudgetSet::set_budget>},
};

constexpr Field<v1::BudgetAdjustedEffect> kBudgetAdjustedEffectFields[] = {
    {"campaignId", "campaign_id", string_field<&v1::BudgetAdjustedEffect::mutable_campaign_id>},
    {"funderId", "funder_id", string_field<&v1::BudgetAdjustedEffect::mutable_funder_id>},
    {"delta", "delta", int64_field<&v1::BudgetAdjustedEffect::set_delta>},
};

using v1::CouponGranted;
constexpr Field<CouponGranted> kCouponGrantedFields[] = {
    {"couponId", "coupon_id", string_field<&CouponGranted::mutable_coupon_id>},
    {"campaignId", "campaign_id", string_field<&CouponGranted::mutable_campaign_id>},
    {"merchantId", "merchant_id", string_field<&CouponGranted::mutable_merchant_id>},
    {"customerId", "customer_id", string_field<&CouponGranted::mutable_customer_id>},
    {"reserved", "reserved", int64_field<&CouponGranted::set_reserved>},
    {"expiresAt", "expires_at", timestamp_field<&CouponGranted::mutable_expires_at>},
    {"split", "split", message_array_field<&CouponGranted::add_split, kFunderAmountFields>},
};

constexpr Field<v1::GrantRejected> kGrantRejectedFields[] = {
    {"campaignId", "campaign_id", string_field<&v1::GrantRejected::mutable_campaign_id>},
    {"reason", "reason", string_field<&v1::GrantRejected::mutable_reason>},
};

using v1::RedemptionSettled;
constexpr Field<RedemptionSettled> kRedemptionSettledFields[] = {
    {"couponId", "coupon_id", string_field<&RedemptionSettled::mutable_coupon_id>},
    {"campaignId", "campaign_id", string_field<&RedemptionSettled::mutable_campaign_id>},
    {"merchantId", "merchant_id", string_field<&RedemptionSettled::mutable_merchant_id>},
    {"orderAmount", "order_amount", int64_field<&RedemptionSettled::set_order_amount>},
    {"discount", "discount", int64_field<&RedemptionSettled::set_discount>},
    {"split", "split", message_array_field<&RedemptionSettled::add_split, kFunderAmountFields>},
    {"released", "released", int64_field<&RedemptionSettled::set_released>},
    {"releasedSplit", "released_split",
     message_array_field<&RedemptionSettled::add_released_split, kFunderAmountFields>},
};

using v1::ReservationReleased;
constexpr Field<ReservationReleased> kReservationReleasedFields[] = {
    {"couponId", "coupon_id", string_field<&ReservationReleased::mutable_coupon_id>},
    {"campaignId", "campaign_id", string_field<&ReservationReleased::mutable_campaign_id>},
    {"merchantId", "merchant_id", string_field<&ReservationReleased::mutable_merchant_id>},
    {"amount", "amount", int64_field<&ReservationReleased::set_amount>},
    {"split", "split", message_array_field<&ReservationReleased::add_split, kFunderAmountFields>},
    {"cause", "cause", enum_field<&ReservationReleased::set_cause, kCauseNames>},
};

using v1::RedemptionReversedEffect;
constexpr Field<RedemptionReversedEffect> kRedemptionReversedEffectFields[] = {
    {"couponId", "coupon_id", string_field<&RedemptionReversedEffect::mutable_coupon_id>},
    {"campaignId", "campaign_id", string_field<&RedemptionReversedEffect::mutable_campaign_id>},
    {"restored", "restored", bool_field<&RedemptionReversedEffect::set_restored>},
    {"spentReturned", "spent_returned",
     message_array_field<&RedemptionReversedEffect::add_spent_returned, kFunderAmountFields>},
    {"reReserved", "re_reserved",
     message_array_field<&RedemptionReversedEffect::add_re_reserved, kFunderAmountFields>},
};

constexpr Field<v1::MessageCashGranted> kMessageCashGrantedFields[] = {
    {"campaignId", "campaign_id", string_field<&v1::MessageCashGranted::mutable_campaign_id>},
    {"merchantId", "merchant_id", string_field<&v1::MessageCashGranted::mutable_merchant_id>},
    {"amount", "amount", int64_field<&v1::MessageCashGranted::set_amount>},
    {"split", "split", message_array_field<&v1::MessageCashGranted::add_split, kFunderAmountFields>},
};

constexpr Field<v1::MessageCharged> kMessageChargedFields[] = {
    {"campaignId", "campaign_id", string_field<&v1::MessageCharged::mutable_campaign_id>},
    {"merchantId", "merchant_id", string_field<&v1::MessageCharged::mutable_merchant_id>},
    {"amount", "amount", int64_field<&v1::MessageCharged::set_amount>},
    {"split", "split", message_array_field<&v1::MessageCharged::add_split, kFunderAmountFields>},
};

constexpr Field<v1::ThresholdCrossed> kThresholdCrossedFields[] = {
    {"campaignId", "campaign_id", string_field<&v1::ThresholdCrossed::mutable_campaign_id>},
    {"funderId", "funder_id", string_field<&v1::ThresholdCrossed::mutable_funder_id>},
    {"bps", "bps", int32_field<&v1::ThresholdCrossed::set_bps>},
};

using v1::Effect;
constexpr Field<Effect> kEffectFields[] = {
    {"budgetSet", "budget_set", message_field<&Effect::mutable_budget_set, kBudgetSetFields>, kOneof},
    {"budgetAdjusted", "budget_adjusted",
     message_field<&Effect::mutable_budget_adjusted, kBudgetAdjustedEffectFields>, kOneof},
    {"couponGranted", "coupon_granted",
     message_field<&Effect::mutable_coupon_granted, kCouponGrantedFields>, kOneof},
    {"grantRejected", "grant_rejected",
     message_field<&Effect::mutable_grant_rejected, kGrantRejectedFields>, kOneof},
    {"redemptionSettled", "redemption_settled",
     message_field<&Effect::mutable_redemption_settled, kRedemptionSettledFields>, kOneof},
    {"reservationReleased", "reservation_released",
     message_field<&Effect::mutable_reservation_released, kReservationReleasedFields>, kOneof},
    {"redemptionReversed", "redemption_reversed",
     message_field<&Effect::mutable_redemption_reversed, kRedemptionReversedEffectFields>, kOneof},
    {"messageCashGranted", "message_cash_granted",
     message_field<&Effect::mutable_message_cash_granted, kMessageCashGrantedFields>, kOneof},
    {"messageCharged", "message_charged",
     message_field<&Effect::mutable_message_charged, kMessageChargedFields>, kOneof},
    {"thresholdCrossed", "threshold_crossed",
     message_field<&Effect::mutable_threshold_crossed, kThresholdCrossedFields>, kOneof},
};

using v1::Decision;
constexpr Field<Decision> kDecisionFields[] = {
    {"eventId", "event_id", string_field<&Decision::mutable_event_id>},
    {"shard", "shard", int32_field<&Decision::set_shard>},
    {"seq", "seq", int64_field<&Decision::set_seq>},
    {"partition", "partition", int32_field<&Decision::set_partition>},
    {"offset", "offset", int64_field<&Decision::set_offset>},
    {"occurredAt", "occurred_at", timestamp_field<&Decision::mutable_occurred_at>},
    {"outcome", "outcome", enum_field<&Decision::set_outcome, kOutcomeNames>},
    {"reason", "reason", string_field<&Decision::mutable_reason>},
    {"detail", "detail", string_field<&Decision::mutable_detail>},
    {"effects", "effects", message_array_field<&Decision::add_effects, kEffectFields>},
    {"part", "part", int32_field<&Decision::set_part>},
    {"parts", "parts", int32_field<&Decision::set_parts>},
};

template <class Msg, size_t N>
bool parse_message(std::string_view json, const Field<Msg> (&fields)[N], UnknownEnumName unknown_enum_name,
                   Msg* out, std::string* error) {
  out->Clear();
  Parser parser(json, unknown_enum_name);
  if (parser.parse_document(*out, fields)) return true;
  *error = parser.error();
  out->Clear();
  return false;
}

}  // namespace

bool parse_envelope(std::string_view json, v1::Envelope* out, std::string* error) noexcept {
  return parse_message(json, kEnvelopeFields, UnknownEnumName::kZeroValue, out, error);
}

bool parse_decision(std::string_view json, v1::Decision* out, std::string* error) noexcept {
  return parse_message(json, kDecisionFields, UnknownEnumName::kError, out, error);
}

void append_decision(const v1::Decision& d, std::string* out) noexcept {
  Writer w(out, /*print_defaults=*/true);
  w.begin_object();
  w.string_field("eventId", d.event_id());
  w.int32_field("shard", d.shard());
  w.int64_field("seq", d.seq());
  w.int32_field("partition", d.partition());
  w.int64_field("offset", d.offset());
  // Field-number order throughout, as in CONTRACT §3. (protobuf 3.21's
  // printer, with always_print_primitive_fields, moves set message fields such
  // as Timestamps to the end; the differential test accounts for that quirk.)
  w.timestamp_field("occurredAt", d.has_occurred_at(), d.occurred_at());
  w.enum_field("outcome", d.outcome(), kOutcomeNames);
  w.string_field("reason", d.reason());
  w.string_field("detail", d.detail());
  w.array_field("effects", d.effects(), [&](const v1::Effect& effect) { write(w, effect); });
  // Only on the parts of a decision of several (CONTRACT §3 "Parts").
  if (d.parts() != 0) {
    w.int32_field("part", d.part());
    w.int32_field("parts", d.parts());
  }
  w.end_object();
}

void append_envelope(const v1::Envelope& e, std::string* out) noexcept {
  Writer w(out, /*print_defaults=*/false);
  w.begin_object();
  w.string_field("eventId", e.event_id());
  w.timestamp_field("occurredAt", e.has_occurred_at(), e.occurred_at());
  write_payload(w, e);
  w.end_object();
}

void append_timestamp_json(const Timestamp& ts, std::string* out) noexcept { append_timestamp(out, ts); }

}  // namespace dangol::json
