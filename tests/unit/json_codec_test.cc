// Tests for proto/json_codec: the fast codec must write exactly what
// protobuf's util writes and read what it reads (apart from the deliberate
// differences listed in the header), and must fail cleanly on hostile input.
// Random tests print their seed; rerun one with DANGOL_SEED=<seed>.

#include "proto/json_codec.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <random>
#include <regex>
#include <string>
#include <type_traits>

namespace dangol::json {
namespace {

using google::protobuf::Message;
using google::protobuf::util::JsonParseOptions;
using google::protobuf::util::JsonPrintOptions;
using google::protobuf::util::JsonStringToMessage;
using google::protobuf::util::MessageDifferencer;
using google::protobuf::util::MessageToJsonString;
using v1::Decision;
using v1::Envelope;

// ------------------------------------------------------------ helpers

uint64_t test_seed() {
  static const uint64_t seed = [] {
    const char* from_env = std::getenv("DANGOL_SEED");
    const uint64_t chosen = from_env != nullptr ? std::strtoull(from_env, nullptr, 10) : std::random_device{}();
    std::cerr << "json_codec_test: DANGOL_SEED=" << chosen << "\n";
    return chosen;
  }();
  return seed;
}

std::string protobuf_json(const Message& m, bool print_defaults) {
  JsonPrintOptions options;
  options.always_print_primitive_fields = print_defaults;
  std::string json;
  EXPECT_TRUE(MessageToJsonString(m, &json, options).ok());
  // A decision of one record has no part fields (CONTRACT §3 "Parts"),
  // even where the other defaults are printed.
  static const std::string kNoParts = ",\"part\":0,\"parts\":0";
  if (auto at = json.find(kNoParts); print_defaults && at != std::string::npos) json.erase(at, kNoParts.size());
  return json;
}

// protobuf 3.21 with always_print_primitive_fields prints set message fields
// (the Timestamps) after all other fields; our Decision JSON keeps field-number
// order as CONTRACT §3 shows it. This moves them back so bytes can be compared.
std::string in_field_number_order(std::string json) {
  // A split array: JSON strings (which may hold ']') or other non-']' bytes.
  static const std::regex granted(R"re("split":(\[(?:[^\]"]|"(?:[^"\\]|\\.)*")*\]),"expiresAt":("[^"]*"))re");
  json = std::regex_replace(json, granted, R"("expiresAt":$2,"split":$1)");
  static const std::regex occurred(R"re(,"occurredAt":("[^"]*")\}$)re");
  std::smatch m;
  if (std::regex_search(json, m, occurred)) {
    std::string stamp = m[1].str();
    json.erase(static_cast<std::size_t>(m.position(0)), static_cast<std::size_t>(m.length(0)));
    json += "}";
    static const std::regex offset(R"re(^(\{"eventId":"(?:[^"\\]|\\.)*","shard":-?\d+,"seq":"-?\d+","partition":-?\d+,"offset":"-?\d+"))re");
    json = std::regex_replace(json, offset, "$1,\"occurredAt\":" + stamp, std::regex_constants::format_first_only);
  }
  return json;
}

std::string our_json(const Decision& d) {
  std::string json;
  append_decision(d, &json);
  return json;
}

std::string our_json(const Envelope& e) {
  std::string json;
  append_envelope(e, &json);
  return json;
}

template <class Msg>
bool parse(std::string_view json, Msg* out, std::string* error) {
  if constexpr (std::is_same_v<Msg, Envelope>) {
    return parse_envelope(json, out, error);
  } else {
    return parse_decision(json, out, error);
  }
}

// Parses `json` with both parsers and expects both to accept it and agree.
template <class Msg>
void expect_parses_like_protobuf(const std::string& json) {
  SCOPED_TRACE(json);
  Msg ours;
  Msg theirs;
  std::string error;
  ASSERT_TRUE(parse(json, &ours, &error)) << error;
  ASSERT_TRUE(JsonStringToMessage(json, &theirs).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(ours, theirs)) << ours.ShortDebugString() << "\nvs\n"
                                                        << theirs.ShortDebugString();
}

template <class Msg>
std::string parse_error(std::string_view json) {
  Msg m;
  std::string error;
  EXPECT_FALSE(parse(json, &m, &error)) << json;
  EXPECT_FALSE(error.empty()) << json;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  return error;
}

std::string utf8(uint32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return out;
}

// ------------------------------------------------------------ random messages

// Random values biased towards what breaks codecs: escapes, multi-byte
// UTF-8, code points protobuf escapes, integer extremes, timestamp edges.
class RandomMessages {
 public:
  explicit RandomMessages(uint64_t seed) : rng_(seed) {}

  int64_t int64() {
    constexpr int64_t kEdges[] = {0, 1, -1, std::numeric_limits<int64_t>::min(),
                                  std::numeric_limits<int64_t>::max(), 1000000000000000, 9007199254740993};
    if (chance(0.3)) return kEdges[below(std::size(kEdges))];
    return static_cast<int64_t>(rng_()) >> below(64);
  }

  int32_t int32() {
    constexpr int32_t kEdges[] = {0, 1, -1, std::numeric_limits<int32_t>::min(),
                                  std::numeric_limits<int32_t>::max(), 10000};
    if (chance(0.3)) return kEdges[below(std::size(kEdges))];
    return static_cast<int32_t>(static_cast<int64_t>(rng_()) >> (32 + below(32)));
  }

  std::string text() {
    // Code points: plain ASCII, JSON escapes, protobuf's HTML-safe escapes,
    // 2-, 3- and 4-byte UTF-8, and code points protobuf escapes.
    constexpr uint32_t kSpecial[] = {'"', '\\', '/', '<', '>', '&', '\'', 0,    '\b', '\f', '\n',   '\r',
                                     '\t', 0x1F, 0x7F, 0x80, 0x9F, 0xAD, 0xE9, 0x600, 0x6DD, 0x200B,
                                     0x2028, 0x2029, 0xFEFF, 0xFFFB, 0xFFFD, 0xAC00, 0x1F600, 0x1D173,
                                     0xE0001, 0xE007F, 0x10FFFF};
    std::string result;
    const size_t length = below(4) == 0 ? 0 : below(24);
    for (size_t i = 0; i < length; ++i) {
      if (chance(0.7)) {
        result.push_back(static_cast<char>('0' + below(75)));
      } else if (chance(0.5)) {
        result += utf8(kSpecial[below(std::size(kSpecial))]);
      } else {
        result += utf8(random_code_point());
      }
    }
    return result;
  }

  void timestamp(google::protobuf::Timestamp* ts) {
    constexpr int64_t kMinSeconds = -62135596800;
    constexpr int64_t kMaxSeconds = 253402300799;
    const uint64_t span = static_cast<uint64_t>(kMaxSeconds - kMinSeconds) + 1;
    const int64_t edges[] = {kMinSeconds, kMaxSeconds, 0, -1, 1690848000};
    ts->set_seconds(chance(0.2) ? edges[below(std::size(edges))]
                                : kMinSeconds + static_cast<int64_t>(rng_() % span));
    const int32_t nanos = static_cast<int32_t>(below(1000000000));
    switch (below(4)) {  // protobuf prints 0, 3, 6 or 9 digits
      case 0: ts->set_nanos(0); break;
      case 1: ts->set_nanos(nanos / 1000000 * 1000000); break;
      case 2: ts->set_nanos(nanos / 1000 * 1000); break;
      default: ts->set_nanos(nanos); break;
    }
  }

  // An enum number: usually declared, sometimes unknown (printed as a number).
  int enum_value(int declared_count) {
    return chance(0.05) ? int32() : static_cast<int>(below(static_cast<uint64_t>(declared_count)));
  }

  Envelope envelope(int payload_kind) {
    Envelope e;
    if (chance(0.9)) e.set_event_id(text());
    if (chance(0.9)) timestamp(e.mutable_occurred_at());
    switch (payload_kind % 12) {
      case 0: campaign_defined(e.mutable_campaign_defined()); break;
      case 1: {
        auto* p = e.mutable_budget_adjusted();
        p->set_campaign_id(text()), p->set_funder_id(text()), p->set_delta(int64());
        break;
      }
      case 2: {
        auto* p = e.mutable_campaign_status_changed();
        p->set_campaign_id(text());
        p->set_status(static_cast<v1::CampaignStatusChanged::Status>(enum_value(4)));
        break;
      }
      case 3: {
        auto* p = e.mutable_merchant_enrolled();
        p->set_merchant_id(text()), p->set_market_id(text()), p->set_category(text());
        break;
      }
      case 4: {
        auto* p = e.mutable_channel_opened();
        p->set_merchant_id(text()), p->set_channel_id(text());
        break;
      }
      case 5: {
        auto* p = e.mutable_channel_added();
        p->set_merchant_id(text()), p->set_customer_id(text());
        break;
      }
      case 6: e.mutable_channel_blocked()->set_customer_id(text()); break;
      case 7: {
        auto* p = e.mutable_coupon_issued();
        p->set_campaign_id(text()), p->set_customer_id(text());
        if (chance(0.5)) p->set_merchant_id(text());
        if (chance(0.5)) p->set_coupon_id(text());
        break;
      }
      case 8: {
        auto* p = e.mutable_coupon_redeemed();
        p->set_coupon_id(text()), p->set_merchant_id(text()), p->set_order_amount(int64());
        if (chance(0.5)) p->set_discount(int64());
        break;
      }
      case 9: e.mutable_redemption_reversed()->set_coupon_id(text()); break;
      case 10: {
        auto* p = e.mutable_message_sent();
        p->set_merchant_id(text()), p->set_recipients(int64()), p->set_unit_cost(int64());
        break;
      }
      default: break;  // no payload
    }
    return e;
  }

  Decision decision() {
    Decision d;
    d.set_event_id(text());
    d.set_shard(int32());
    d.set_seq(int64());
    d.set_partition(int32());
    d.set_offset(int64());
    if (chance(0.9)) timestamp(d.mutable_occurred_at());
    d.set_outcome(static_cast<Decision::Outcome>(enum_value(4)));
    d.set_reason(text());
    d.set_detail(text());
    const size_t effect_count = below(5);
    for (size_t i = 0; i < effect_count; ++i) effect(static_cast<int>(below(11)), d.add_effects());
    if (chance(0.3)) {  // a part of a decision of several records
      d.set_parts(static_cast<std::int32_t>(2 + below(3000)));
      d.set_part(static_cast<std::int32_t>(1 + below(static_cast<size_t>(d.parts()))));
    }
    return d;
  }

  void effect(int kind, v1::Effect* e) {
    switch (kind) {
      case 0: {
        auto* k = e->mutable_budget_set();
        k->set_campaign_id(text()), k->set_funder_id(text()), k->set_budget(int64());
        break;
      }
      case 1: {
        auto* k = e->mutable_budget_adjusted();
        k->set_campaign_id(text()), k->set_funder_id(text()), k->set_delta(int64());
        break;
      }
      case 2: {
        auto* k = e->mutable_coupon_granted();
        k->set_coupon_id(text()), k->set_campaign_id(text()), k->set_merchant_id(text());
        k->set_customer_id(text()), k->set_reserved(int64());
        if (chance(0.8)) timestamp(k->mutable_expires_at());
        split(k->mutable_split());
        break;
      }
      case 3: e->mutable_grant_rejected()->set_reason(text()); break;
      case 4: {
        auto* k = e->mutable_redemption_settled();
        k->set_coupon_id(text()), k->set_campaign_id(text()), k->set_merchant_id(text());
        k->set_order_amount(int64()), k->set_discount(int64()), k->set_released(int64());
        split(k->mutable_split()), split(k->mutable_released_split());
        break;
      }
      case 5: {
        auto* k = e->mutable_reservation_released();
        k->set_coupon_id(text()), k->set_campaign_id(text()), k->set_merchant_id(text());
        k->set_amount(int64()), split(k->mutable_split());
        k->set_cause(static_cast<v1::ReservationReleased::Cause>(enum_value(4)));
        break;
      }
      case 6: {
        auto* k = e->mutable_redemption_reversed();
        k->set_coupon_id(text()), k->set_campaign_id(text()), k->set_restored(chance(0.5));
        split(k->mutable_spent_returned()), split(k->mutable_re_reserved());
        break;
      }
      case 7: {
        auto* k = e->mutable_message_cash_granted();
        k->set_campaign_id(text()), k->set_merchant_id(text()), k->set_amount(int64()), split(k->mutable_split());
        break;
      }
      case 8: {
        auto* k = e->mutable_message_charged();
        k->set_campaign_id(text()), k->set_merchant_id(text()), k->set_amount(int64()), split(k->mutable_split());
        break;
      }
      case 9: {
        auto* k = e->mutable_threshold_crossed();
        k->set_campaign_id(text()), k->set_funder_id(text()), k->set_bps(int32());
        break;
      }
      default: break;  // an Effect with no kind prints as {}
    }
  }

 private:
  void campaign_defined(v1::CampaignDefined* c) {
    c->set_campaign_id(text()), c->set_name(text()), c->set_currency(text());
    if (chance(0.8)) timestamp(c->mutable_starts_at());
    if (chance(0.8)) timestamp(c->mutable_ends_at());
    c->set_utc_offset_minutes(int32());
    for (size_t i = below(4); i > 0; --i) {
      auto* f = c->add_funders();
      f->set_funder_id(text()), f->set_budget(int64()), f->set_share_bps(int32());
    }
    if (chance(0.7)) {
      auto* el = c->mutable_eligibility();
      for (size_t i = below(3); i > 0; --i) el->add_market_ids(text());
      for (size_t i = below(3); i > 0; --i) el->add_merchant_ids(text());
      for (size_t i = below(3); i > 0; --i) el->add_categories(text());
    }
    c->set_trigger(static_cast<v1::CampaignDefined::Trigger>(enum_value(3)));
    if (chance(0.7)) {
      auto* o = c->mutable_offer();
      o->set_fixed_amount(int64()), o->set_percent_bps(int32()), o->set_max_discount(int64());
      o->set_min_order_amount(int64()), o->set_valid_days(int32());
    }
    if (chance(0.7)) {
      auto* l = c->mutable_limits();
      l->set_per_customer(int64()), l->set_per_merchant_count(int64()), l->set_total_count(int64());
      l->set_per_merchant_amount(int64()), l->set_daily_amount(int64());
    }
    if (chance(0.5)) c->mutable_message_cash()->set_per_merchant(int64());
    if (chance(0.5)) c->set_redemption_grace_seconds(int64());
    for (size_t i = below(4); i > 0; --i) c->add_alert_thresholds_bps(int32());
  }

  void split(google::protobuf::RepeatedPtrField<v1::FunderAmount>* shares) {
    for (size_t i = below(4); i > 0; --i) {
      auto* share = shares->Add();
      share->set_funder_id(text()), share->set_amount(int64());
    }
  }

  uint32_t random_code_point() {
    for (;;) {
      const uint32_t cp = static_cast<uint32_t>(below(chance(0.8) ? 0x10000 : 0x110000));
      if (cp < 0xD800 || cp > 0xDFFF) return cp;
    }
  }

  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  uint64_t below(uint64_t n) { return rng_() % n; }

  std::mt19937_64 rng_;
};

// ------------------------------------------------------------ 1. differential

constexpr int kRandomMessages = 2000;

// Proves append_* writes protobuf's bytes and parse_* (and protobuf's own
// parser) read them back to the original, over thousands of random messages.
TEST(JsonCodecDifferential, RandomEnvelopesRoundTripLikeProtobuf) {
  RandomMessages random(test_seed());
  for (int i = 0; i < kRandomMessages; ++i) {
    const Envelope original = random.envelope(i);
    const std::string ours = our_json(original);
    ASSERT_EQ(ours, protobuf_json(original, false)) << "seed " << test_seed() << ", message " << i;
    Envelope reparsed;
    Envelope by_protobuf;
    std::string error;
    ASSERT_TRUE(parse_envelope(ours, &reparsed, &error)) << error << "\n" << ours;
    ASSERT_TRUE(MessageDifferencer::Equals(reparsed, original)) << ours;
    ASSERT_TRUE(JsonStringToMessage(ours, &by_protobuf).ok()) << ours;
    ASSERT_TRUE(MessageDifferencer::Equals(by_protobuf, original)) << ours;
  }
}

// Same as above for Decisions, printed with always_print_primitive_fields.
TEST(JsonCodecDifferential, RandomDecisionsRoundTripLikeProtobuf) {
  RandomMessages random(test_seed() + 1);
  for (int i = 0; i < kRandomMessages; ++i) {
    const Decision original = random.decision();
    const std::string ours = our_json(original);
    ASSERT_EQ(ours, in_field_number_order(protobuf_json(original, true)))
        << "seed " << test_seed() << ", message " << i;
    Decision reparsed;
    Decision by_protobuf;
    std::string error;
    ASSERT_TRUE(parse_decision(ours, &reparsed, &error)) << error << "\n" << ours;
    ASSERT_TRUE(MessageDifferencer::Equals(reparsed, original)) << ours;
    ASSERT_TRUE(JsonStringToMessage(ours, &by_protobuf).ok()) << ours;
    ASSERT_TRUE(MessageDifferencer::Equals(by_protobuf, original)) << ours;
  }
}

// Proves string escaping equals protobuf's for every Unicode scalar value,
// not just the sampled ones (chunks of 4096 code points per message).
TEST(JsonCodecDifferential, EveryCodePointIsEscapedLikeProtobuf) {
  constexpr uint32_t kChunk = 4096;
  for (uint32_t first = 0; first < 0x110000; first += kChunk) {
    Decision d;
    std::string* text = d.mutable_event_id();
    for (uint32_t cp = first; cp < first + kChunk; ++cp) {
      if (cp < 0xD800 || cp > 0xDFFF) *text += utf8(cp);
    }
    ASSERT_EQ(our_json(d), protobuf_json(d, true)) << "code points from U+" << std::hex << first;
    Decision reparsed;
    std::string error;
    ASSERT_TRUE(parse_decision(our_json(d), &reparsed, &error)) << error;
    ASSERT_EQ(reparsed.event_id(), d.event_id());
  }
}

// Proves the edges of the Timestamp range and each fraction width print and
// parse like protobuf.
TEST(JsonCodecDifferential, TimestampEdgesMatchProtobuf) {
  const int64_t seconds[] = {-62135596800, 253402300799, 0, -1, 951782400, 951868800, 4107542400};
  const int32_t nanos[] = {0, 1, 999999999, 1000, 1000000, 120000000, 123456000};
  for (const int64_t s : seconds) {
    for (const int32_t n : nanos) {
      Decision d;
      d.mutable_occurred_at()->set_seconds(s);
      d.mutable_occurred_at()->set_nanos(n);
      const std::string ours = our_json(d);
      ASSERT_EQ(ours, in_field_number_order(protobuf_json(d, true)));
      expect_parses_like_protobuf<Decision>(ours);
    }
  }
}

// Proves empty messages print like protobuf: defaults omitted in an
// Envelope, printed in a Decision, a set-but-empty payload printed as {}.
TEST(JsonCodecDifferential, EmptyMessagesMatchProtobuf) {
  Envelope envelope;
  EXPECT_EQ(our_json(envelope), "{}");
  envelope.mutable_channel_added();
  EXPECT_EQ(our_json(envelope), protobuf_json(envelope, false));
  EXPECT_EQ(our_json(envelope), "{\"channelAdded\":{}}");
  Decision decision;
  decision.add_effects();
  EXPECT_EQ(our_json(decision), protobuf_json(decision, true));
}

// ------------------------------------------------------------ 2. accepted inputs

// Proves the forms of CONTRACT §1 (offsets, int64 as number or string,
// original names, null, whitespace) parse exactly as protobuf parses them.
TEST(JsonCodecInputs, AcceptedFormsParseLikeProtobuf) {
  const std::string accepted[] = {
      R"({"eventId":"ev-1","occurredAt":"2023-08-01T09:00:00+09:00",
          "channelAdded":{"merchantId":"m-001","customerId":"c-42"}})",
      R"({"event_id":"ev-1","occurred_at":"2023-08-01T09:00:00.5-01:30","channel_added":{"merchant_id":"m"}})",
      " \t\r\n{ \"eventId\" : \"a\" ,\n \"occurredAt\" : \"2023-08-01T00:00:00Z\" } \n ",
      R"({"occurredAt":"2023-08-01T09:00:00.123456789Z"})",
      R"({"occurredAt":"2023-08-01T09:00:00.1234567891-23:59"})",
      R"({"occurredAt":"2024-02-29T23:59:59.000+00:00"})",
      R"({"occurredAt":"2023-8-1T9:0:0Z"})",
      R"({"occurredAt":"0001-01-01T00:00:00Z"})",
      R"({"occurredAt":"9999-12-31T23:59:59.999999999Z"})",
      R"({"occurredAt":"0001-01-01T00:30:00+00:30"})",
      R"({"messageSent":{"recipients":1234,"unitCost":"5678"}})",
      R"({"messageSent":{"recipients":"-9223372036854775808","unitCost":9223372036854775807}})",
      R"({"messageSent":{"recipients":-9223372036854775809}})",
      R"({"messageSent":{"recipients":"+12","unitCost":"007"}})",
      R"({"messageSent":{"recipients":1.0,"unitCost":1e3}})",
      R"({"messageSent":{"recipients":-0,"unitCost":"-0"}})",
      R"({"messageSent":{"recipients":1.5e1,"unitCost":9007199254740993.0}})",
      R"({"messageSent":{"recipients":1E+2,"unitCost":-2.5e1}})",
      R"({"messageSent":{"recipients":100e-2,"unitCost":0.0}})",
      R"({"campaignDefined":{"utcOffsetMinutes":"540","alertThresholdsBps":[5000,"8000",1e4,null]}})",
      R"({"campaignDefined":{"utcOffsetMinutes":-2147483648.0}})",
      R"({"campaignDefined":{"trigger":"ISSUED","funders":[{"funderId":"k","budget":"1","shareBps":10000}]}})",
      R"({"campaignDefined":{"trigger":2,"funders":[null,{}],"eligibility":{"marketIds":["a",null]}}})",
      R"({"campaignDefined":{"trigger":"1","offer":{},"limits":null,"messageCash":{"perMerchant":1}}})",
      R"({"campaignDefined":{"redemptionGraceSeconds":0,"startsAt":null,"funders":null}})",
      R"({"campaignStatusChanged":{"status":99}})",
      R"({"campaignStatusChanged":{"status":-1}})",
      R"({"campaignStatusChanged":{"status":"STATUS_UNSPECIFIED"}})",
      R"({"couponIssued":{"merchantId":"","couponId":null}})",
      R"({"couponRedeemed":{"discount":"0"}})",
      R"({"eventId":null,"occurredAt":null,"campaignDefined":null,"channelBlocked":{}})",
      R"({"channelBlocked":{},"campaignDefined":null})",
      R"({"eventId":"\u00e9\ud83d\ude00\/\"\\\b\f\n\r\t\u0000<>&'"})",
      R"({"eventId":"\u00E9\u20AC"})",
      "{\"eventId\":\"\xea\xb0\x80\xf0\x9f\x98\x80\"}",
      R"({"ev\u0065ntId":"escaped key"})",
      R"({})",
  };
  for (const std::string& json : accepted) expect_parses_like_protobuf<Envelope>(json);
}

// Proves Decision-only forms: bool as protobuf's strings, enums by number.
TEST(JsonCodecInputs, DecisionFormsParseLikeProtobuf) {
  const std::string accepted[] = {
      R"({"effects":[{"redemptionReversed":{"restored":true}},{"redemptionReversed":{"restored":"yes"}}]})",
      R"({"effects":[{"redemptionReversed":{"restored":"F"}},{"redemptionReversed":{"restored":"1"}}]})",
      R"({"outcome":3,"effects":[{},null,{"budgetSet":null}]})",
      R"({"outcome":"INVALID","seq":17,"offset":"1234","shard":"0","partition":3})",
      R"({"effects":[{"reservationReleased":{"cause":"VOIDED","split":[{"funderId":"a","amount":1}]}}]})",
  };
  for (const std::string& json : accepted) expect_parses_like_protobuf<Decision>(json);
}

// ------------------------------------------------------------ 3. hostile inputs

const std::string kRichEvent =
    R"({"eventId":"ev-1","occurredAt":"2023-08-01T09:00:00.250+09:00","campaignDefined":{)"
    R"("campaignId":"c-1","name":"Caf\u00e9 \ud83d\ude00","currency":"KRW","startsAt":"2023-08-01T00:00:00Z",)"
    R"("endsAt":"2023-09-01T00:00:00Z","utcOffsetMinutes":540,"funders":[{"funderId":"kakao",)"
    R"("budget":"1000000","shareBps":5000},{"funderId":"m","budget":1000000,"shareBps":5000}],)"
    R"("eligibility":{"marketIds":["mk-1"],"merchantIds":[],"categories":["cafe"]},"trigger":"ISSUED",)"
    R"("offer":{"percentBps":1000,"maxDiscount":"5000","minOrderAmount":0,"validDays":30},)"
    R"("limits":{"perCustomer":1,"totalCount":"100"},"messageCash":{"perMerchant":20000},)"
    R"("redemptionGraceSeconds":86400,"alertThresholdsBps":[5000,8000,10000]}})";

// Proves every proper prefix of a valid event is rejected with an error
// (the whole event itself parses).
TEST(JsonCodecHostile, EveryTruncationFails) {
  Envelope e;
  std::string error;
  ASSERT_TRUE(parse_envelope(kRichEvent, &e, &error)) << error;
  for (size_t length = 0; length < kRichEvent.size(); ++length) {
    parse_error<Envelope>(std::string_view(kRichEvent).substr(0, length));
  }
}

// Proves random byte flips never crash, and that whatever we still accept,
// protobuf accepts too with the same meaning (unknown enum names mapped to 0,
// as protobuf does with ignore_unknown_fields).
TEST(JsonCodecHostile, RandomByteFlipsFailCleanlyOrAgreeWithProtobuf) {
  std::mt19937_64 rng(test_seed() + 2);
  JsonParseOptions lenient_enums;
  lenient_enums.ignore_unknown_fields = true;
  const std::string alphabet = "{}[]\",:\\0123456789-+.eE tfnul\x80\xff\xc3";
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string json = kRichEvent;
    for (int flips = 1 + static_cast<int>(rng() % 3); flips > 0; --flips) {
      const size_t at = rng() % json.size();
      json[at] = rng() % 2 ? static_cast<char>(rng()) : alphabet[rng() % alphabet.size()];
    }
    Envelope ours;
    std::string error;
    if (!parse_envelope(json, &ours, &error)) {
      ASSERT_FALSE(error.empty());
      continue;
    }
    ++accepted;
    Envelope theirs;
    ASSERT_TRUE(JsonStringToMessage(json, &theirs, lenient_enums).ok()) << json;
    ASSERT_TRUE(MessageDifferencer::Equals(ours, theirs)) << json;
  }
  std::cerr << "byte flips still accepted: " << accepted << "\n";
}

// Proves random token soup (structure-aware garbage) never crashes.
TEST(JsonCodecHostile, RandomTokenSoupFailsCleanly) {
  std::mt19937_64 rng(test_seed() + 3);
  const std::string tokens[] = {"{", "}", "[", "]", ",", ":", "\"eventId\"", "\"campaignDefined\"",
                                "\"funders\"", "\"effects\"", "\"x\"", "1", "-", "1e999", "null",
                                "true", "\"\\u", "\"\\ud800\"", " ", "\"2023-08-01T00:00:00Z\""};
  for (int i = 0; i < 20000; ++i) {
    std::string json = "{";
    for (int n = static_cast<int>(rng() % 40); n > 0; --n) json += tokens[rng() % std::size(tokens)];
    Envelope e;
    Decision d;
    std::string error;
    if (!parse_envelope(json, &e, &error)) {
      ASSERT_FALSE(error.empty());
    }
    if (!parse_decision(json, &d, &error)) {
      ASSERT_FALSE(error.empty());
    }
  }
}

// Proves hostile nesting is refused at the first bracket the schema does
// not expect, without recursion (a million brackets).
TEST(JsonCodecHostile, DeepNestingFailsWithoutRecursion) {
  const std::string deep_arrays = std::string(1000000, '[');
  parse_error<Envelope>(deep_arrays);
  parse_error<Envelope>("{\"eventId\":" + deep_arrays);
  parse_error<Envelope>("{\"campaignDefined\":{\"funders\":" + deep_arrays);
  parse_error<Decision>("{\"effects\":[{\"couponGranted\":{\"split\":[" + deep_arrays);
  std::string deep_objects;
  for (int i = 0; i < 100000; ++i) deep_objects += "{\"campaignDefined\":";
  parse_error<Envelope>(deep_objects);
  EXPECT_EQ(parse_error<Envelope>(R"({"channelAdded":{"merchantId":{"a":1}}})"),
            "channelAdded.merchantId: expected a string");
}

// Proves numbers out of every range are rejected, whatever their form.
TEST(JsonCodecHostile, HugeAndFractionalNumbersAreRejected) {
  const std::string huge_digits(5000, '9');
  const std::string rejected[] = {
      "9223372036854775808", "\"9223372036854775808\"", "-9223372036854777856.0", "18446744073709551616",
      "1e19", "1e400", "-1e400", huge_digits, "\"" + huge_digits + "\"", "1.5", "0.1", "1e-1", "\"1.0\"",
      "\"1e3\"", "\" 1\"", "\"1 \"", "\"\"", "\"-\"", "\"0x10\"", "0x10", "01", "-01", "1.", ".5", "+1",
      "-", "1e", "1e+", "Infinity", "NaN", "true", "{}", "[1]",
  };
  for (const std::string& value : rejected) {
    const std::string json = R"({"messageSent":{"recipients":)" + value + "}}";
    const std::string error = parse_error<Envelope>(json);
    EXPECT_EQ(error.rfind("messageSent", 0), 0u) << error;
    Envelope theirs;
    if (value != "1.") {  // protobuf 3.21 takes "1."
      EXPECT_FALSE(JsonStringToMessage(json, &theirs).ok()) << json;
    }
  }
  parse_error<Envelope>(R"({"campaignDefined":{"utcOffsetMinutes":2147483648}})");
  parse_error<Envelope>(R"({"campaignDefined":{"utcOffsetMinutes":"-2147483649"}})");
  parse_error<Envelope>(R"({"campaignDefined":{"alertThresholdsBps":[1e10]}})");
}

// Proves invalid UTF-8, lone surrogates and bad escapes are rejected in
// values and keys.
TEST(JsonCodecHostile, BadUnicodeIsRejected) {
  const std::string rejected[] = {
      "\xff", "\xc3", "\xc3(", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
      "\xf8\x88\x80\x80\x80", "\\ud800", "\\udc00", "\\ud800x", "\\ud800\\u0041", "\\u12",
      "\\u12G4", "\\x41", "\\", "\x01", "\t",
  };
  for (const std::string& bad : rejected) {
    parse_error<Envelope>("{\"eventId\":\"" + bad + "\"}");
    parse_error<Envelope>("{\"" + bad + "\":\"a\"}");
    Envelope theirs;
    if (bad != "\\x41" && bad != "\x01" && bad != "\t") {
      EXPECT_FALSE(JsonStringToMessage("{\"eventId\":\"" + bad + "\"}", &theirs).ok()) << bad;
    }
  }
}

// Proves a wrong JSON type for each field kind fails and names the field.
TEST(JsonCodecHostile, WrongTypesNameTheField) {
  struct Case {
    std::string json;
    std::string error;
  };
  const Case cases[] = {
      {R"({"eventId":1})", "eventId: expected a string"},
      {R"({"eventId":true})", "eventId: expected a string"},
      {R"({"eventId":["a"]})", "eventId: expected a string"},
      {R"({"occurredAt":12})", "occurredAt: expected an RFC 3339 timestamp string"},
      {R"({"occurredAt":{"seconds":1}})", "occurredAt: expected an RFC 3339 timestamp string"},
      {R"({"messageSent":{"unitCost":true}})", "messageSent.unitCost: expected an integer"},
      {R"({"messageSent":{"unitCost":1.5}})", "messageSent.unitCost: expected an integer, got \"1.5\""},
      {R"({"campaignDefined":{"utcOffsetMinutes":{}}})", "campaignDefined.utcOffsetMinutes: expected an integer"},
      {R"({"campaignDefined":{"trigger":true}})", "campaignDefined.trigger: expected an enum name"},
      {R"({"campaignDefined":{"eligibility":"x"}})", "campaignDefined.eligibility: expected an object"},
      {R"({"campaignDefined":{"eligibility":[]}})", "campaignDefined.eligibility: expected an object"},
      {R"({"campaignDefined":{"funders":{"funderId":"x"}}})", "campaignDefined.funders: expected an array"},
      {R"({"campaignDefined":{"funders":[{},{"budget":"x"}]}})",
       "campaignDefined.funders[1].budget: expected a decimal integer in range, got \"x\""},
      {R"({"campaignDefined":{"eligibility":{"marketIds":["a",1]}}})",
       "campaignDefined.eligibility.marketIds[1]: expected a string"},
      {R"({"campaignDefined":{"alertThresholdsBps":[[5]]}})", "campaignDefined.alertThresholdsBps[0]: expected an integer"},
      {R"({"campaignDefined":{"alertThresholdsBps":5}})", "campaignDefined.alertThresholdsBps: expected an array"},
      {R"({"campaignDefined":{"startsAt":"2023-02-29T00:00:00Z"}})",
       "campaignDefined.startsAt: invalid timestamp \"2023-02-29T00:00:00Z\", expected RFC 3339 like "
       "\"2023-08-01T09:00:00+09:00\""},
      {R"({"foo":1})", "unknown field \"foo\""},
      {R"({"channelAdded":{"foo":1}})", "channelAdded: unknown field \"foo\""},
      {R"({"channelAdded":{},"channelBlocked":{}})",
       "both \"channelAdded\" and \"channelBlocked\" are set, only one may be"},
      {R"({"eventId":"a","eventId":"b"})", "duplicate field \"eventId\""},
      {R"({"eventId":"a","event_id":"b"})", "duplicate field \"event_id\""},
      {R"({"eventId":"a",)", "invalid JSON at byte 15: expected a field name in double quotes"},
      {R"({"eventId" "a"})", "invalid JSON at byte 11: expected ':' after a field name"},
      {R"({"eventId":"a"} x)", "invalid JSON at byte 16: unexpected data after the top-level object"},
      {R"([])", "invalid JSON at byte 0: expected '{'"},
      {"", "invalid JSON at byte 0: expected '{'"},
  };
  for (const Case& c : cases) EXPECT_EQ(parse_error<Envelope>(c.json), c.error) << c.json;
  EXPECT_EQ(parse_error<Decision>(R"({"effects":[{"redemptionReversed":{"restored":1}}]})"),
            "effects[0].redemptionReversed.restored: expected true or false");
  EXPECT_EQ(parse_error<Decision>(R"({"effects":[{"budgetSet":{},"grantRejected":{}}]})"),
            "effects[0]: both \"budgetSet\" and \"grantRejected\" are set, only one may be");
}

// Proves a failed parse leaves the output cleared rather than half-filled.
TEST(JsonCodecHostile, FailureLeavesOutputCleared) {
  Envelope e;
  e.set_event_id("stale");
  std::string error;
  EXPECT_FALSE(parse_envelope(R"({"eventId":"new","channelAdded":{"merchantId":1}})", &e, &error));
  EXPECT_TRUE(MessageDifferencer::Equals(e, Envelope()));
}

// ------------------------------------------------------------ 4. deliberate differences

// Proves difference 1: in an Envelope an unknown enum name (or undeclared
// number as a string) becomes the 0 value where protobuf fails; in a
// Decision it stays an error, since Outcome 0 is APPLIED.
TEST(JsonCodecDifferences, UnknownEnumNameIsZeroInEnvelopesOnly) {
  const std::string json = R"({"campaignStatusChanged":{"campaignId":"c","status":"REOPENED"}})";
  Envelope ours;
  std::string error;
  ASSERT_TRUE(parse_envelope(json, &ours, &error)) << error;
  EXPECT_TRUE(ours.has_campaign_status_changed());
  EXPECT_EQ(ours.campaign_status_changed().status(), v1::CampaignStatusChanged::STATUS_UNSPECIFIED);
  EXPECT_EQ(ours.campaign_status_changed().campaign_id(), "c");
  Envelope theirs;
  EXPECT_FALSE(JsonStringToMessage(json, &theirs).ok());

  ASSERT_TRUE(parse_envelope(R"({"campaignDefined":{"trigger":"active"}})", &ours, &error));
  EXPECT_EQ(ours.campaign_defined().trigger(), v1::CampaignDefined::TRIGGER_UNSPECIFIED);
  ASSERT_TRUE(parse_envelope(R"({"campaignDefined":{"trigger":"7"}})", &ours, &error));
  EXPECT_EQ(ours.campaign_defined().trigger(), v1::CampaignDefined::TRIGGER_UNSPECIFIED);

  EXPECT_EQ(parse_error<Decision>(R"({"outcome":"MAYBE"})"), "outcome: unknown enum value \"MAYBE\"");
}

// Proves difference 2: a field given twice is an error where protobuf keeps
// the last value (or appends, or merges).
TEST(JsonCodecDifferences, DuplicateFieldsAreErrors) {
  const std::string duplicates[] = {
      R"({"eventId":"a","eventId":"b"})",
      R"({"eventId":"a","event_id":"b"})",
      R"({"eventId":null,"eventId":"b"})",
      R"({"channelAdded":{"merchantId":"x","merchant_id":"y"}})",
      R"({"campaignDefined":{"alertThresholdsBps":[1],"alertThresholdsBps":[2]}})",
      R"({"channelAdded":{},"channel_added":{}})",
  };
  for (const std::string& json : duplicates) {
    EXPECT_NE(parse_error<Envelope>(json).find("duplicate field"), std::string::npos) << json;
  }
  Envelope theirs;
  EXPECT_TRUE(JsonStringToMessage(duplicates[0], &theirs).ok());
}

// Proves difference 3: syntax protobuf 3.21 tolerates but JSON forbids is
// rejected, as are non-array repeated values.
TEST(JsonCodecDifferences, NonJsonSyntaxIsRejected) {
  const std::string lenient_in_protobuf[] = {
      R"({'eventId':'a'})",
      R"({eventId:"a"})",
      R"({"eventId":"a",})",
      "{\"eventId\":\"a\tb\"}",
      R"({"eventId":"\x41"})",
      R"({"messageSent":{"recipients":0xe}})",
      R"({"messageSent":{"recipients":5.}})",
      R"({"messageSent":{"recipients":00.0}})",
      R"({"campaignDefined":{"alertThresholdsBps":5}})",
      R"({"campaignDefined":{"alertThresholdsBps":[[5]]}})",
  };
  for (const std::string& json : lenient_in_protobuf) {
    parse_error<Envelope>(json);
    Envelope theirs;
    EXPECT_TRUE(JsonStringToMessage(json, &theirs).ok()) << json;
  }
}

// Proves difference 4: Timestamps must be RFC 3339 strings within range in
// UTC and end at the offset.
TEST(JsonCodecDifferences, TimestampsOutsideTheRangeOrNotStringsAreRejected) {
  const std::string lenient_in_protobuf[] = {
      R"({"occurredAt":"0001-01-01T00:00:00+01:00"})",
      R"({"occurredAt":"9999-12-31T23:59:59-00:01"})",
      R"({"occurredAt":"2023-08-01T09:00:00Z\u0000junk"})",
      R"({"occurredAt":{"seconds":1}})",
  };
  for (const std::string& json : lenient_in_protobuf) {
    parse_error<Envelope>(json);
    Envelope theirs;
    EXPECT_TRUE(JsonStringToMessage(json, &theirs).ok()) << json;
  }
}

}  // namespace
}  // namespace dangol::json
