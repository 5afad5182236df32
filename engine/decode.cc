#include "engine/decode.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "engine/unaligned.h"

namespace dangol {
namespace {

// One failed rule: the field path and what the rule says.
class Problem {
 public:
  explicit Problem(std::string* detail) : detail_(detail) {}
  bool fail(std::string_view field, std::string_view rule) {
    detail_->assign(field);
    detail_->append(": ");
    detail_->append(rule);
    return false;
  }

 private:
  std::string* detail_;
};

// Whether every byte of `id` is allowed: [A-Za-z0-9._:-], and '/' too when
// `kSlash` (coupon ids). Every event's ids pass through here, so it works on
// sixteen bytes at a time, with range compares instead of a table lookup per
// byte (about a quarter of the instructions of the byte loop on these ids).
// Ids shorter than sixteen bytes are read as two overlapping loads: a byte
// read twice is checked twice, which cannot change the answer.
using Bytes16 = unsigned char __attribute__((vector_size(16)));
using Words2 = std::uint64_t __attribute__((vector_size(16)));

// True when all sixteen lanes hold allowed bytes.
template <bool kSlash>
bool lanes_allowed(Bytes16 x) {
  const Bytes16 lower = x | 0x20;
  constexpr unsigned char dash_span = kSlash ? 3 : 2;  // '-' '.' and, in coupon ids, '/'
  auto ok = (lower - 'a' < 26) | (x - '0' < 11) | (x - '-' < dash_span) | (x == '_');  // ':' is '9' + 1
  Words2 words;
  std::memcpy(&words, &ok, sizeof words);
  return (words[0] & words[1]) == ~std::uint64_t{0};
}

// `id` is not empty.
template <bool kSlash>
bool bytes_allowed(std::string_view id) {
  const char* p = id.data();
  const std::size_t n = id.size();
  if (n >= 16) {
    for (std::size_t i = 0; i + 16 <= n; i += 16) {
      if (!lanes_allowed<kSlash>(load_unaligned<Bytes16>(p + i))) return false;
    }
    return n % 16 == 0 || lanes_allowed<kSlash>(load_unaligned<Bytes16>(p + n - 16));
  }
  Words2 words;
  if (n >= 8) {
    words = Words2{load_unaligned<std::uint64_t>(p), load_unaligned<std::uint64_t>(p + n - 8)};
  } else if (n >= 4) {
    const std::uint64_t head = load_unaligned<std::uint32_t>(p), tail = load_unaligned<std::uint32_t>(p + n - 4);
    const std::uint64_t w = head | tail << 32;
    words = Words2{w, w};
  } else {
    const auto byte = [p](std::size_t i) { return std::uint64_t{static_cast<unsigned char>(p[i])}; };
    const std::uint64_t w = (byte(0) | byte(n / 2) << 8 | byte(n - 1) << 16 | byte(0) << 24) * 0x0000000100000001;
    words = Words2{w, w};
  }
  Bytes16 x;
  std::memcpy(&x, &words, sizeof x);
  return lanes_allowed<kSlash>(x);
}

bool amount_ok(std::int64_t v) { return v >= 0 && v <= kMaxAmount; }

// Earliest and latest instants representable in int64 nanoseconds, with a
// margin so that expiry arithmetic on valid events cannot overflow.
constexpr std::int64_t kMinSeconds = 0;                // 1970-01-01
constexpr std::int64_t kMaxSeconds = 7'258'118'400;    // 2200-01-01

bool check_id(Problem& p, std::string_view field, std::string_view v, bool& ok) {
  if (!is_valid_id(v)) ok = p.fail(field, "must be 1-64 bytes of [A-Za-z0-9._:-]");
  return ok;
}

bool check_amount(Problem& p, std::string_view field, std::int64_t v, bool& ok) {
  if (!amount_ok(v)) ok = p.fail(field, "must be 0..1000000000000000");
  return ok;
}

bool check_time(Problem& p, std::string_view field, bool present, const google::protobuf::Timestamp& ts,
                Instant* out, bool& ok) {
  if (!present) return ok = p.fail(field, "required");
  if (!to_instant(ts, out)) ok = p.fail(field, "out of range (1970-01-01..2200-01-01)");
  return ok;
}

bool decode_ids(Problem& p, std::string_view field, const google::protobuf::RepeatedPtrField<std::string>& in,
                std::vector<std::string_view>* out) {
  if (static_cast<std::size_t>(in.size()) > kMaxEligibilityEntries) {
    return p.fail(field, "at most 10000 entries");
  }
  out->reserve(in.size());
  for (const auto& id : in) {
    if (!is_valid_id(id)) return p.fail(field, "entries must be 1-64 bytes of [A-Za-z0-9._:-]");
    out->push_back(id);
  }
  return true;
}

bool decode_funders(Problem& p, const v1::CampaignDefined& in, CampaignDefinedEvent* out) {
  if (in.funders_size() < 1 || static_cast<std::size_t>(in.funders_size()) > kMaxFunders) {
    return p.fail("campaignDefined.funders", "1 to 8 funders required");
  }
  std::int32_t share_sum = 0;
  for (const auto& f : in.funders()) {
    bool ok = true;
    if (!check_id(p, "campaignDefined.funders.funderId", f.funder_id(), ok)) return false;
    if (!check_amount(p, "campaignDefined.funders.budget", f.budget(), ok)) return false;
    if (f.share_bps() < 1 || f.share_bps() > kBpsWhole) {
      return p.fail("campaignDefined.funders.shareBps", "must be 1..10000");
    }
    for (const auto& seen : out->funders) {
      if (seen.funder_id == f.funder_id()) return p.fail("campaignDefined.funders.funderId", "duplicate funder id");
    }
    share_sum += f.share_bps();
    out->funders.push_back({f.funder_id(), Money(f.budget()), f.share_bps()});
  }
  if (share_sum != kBpsWhole) return p.fail("campaignDefined.funders.shareBps", "shares must sum to 10000");
  return true;
}

bool decode_offer(Problem& p, const v1::Offer& in, OfferTerms* out) {
  bool ok = true;
  if (!check_amount(p, "campaignDefined.offer.fixedAmount", in.fixed_amount(), ok) ||
      !check_amount(p, "campaignDefined.offer.maxDiscount", in.max_discount(), ok) ||
      !check_amount(p, "campaignDefined.offer.minOrderAmount", in.min_order_amount(), ok)) {
    return false;
  }
  if (in.percent_bps() != 0) {
    if (in.percent_bps() < 1 || in.percent_bps() > kBpsWhole) {
      return p.fail("campaignDefined.offer.percentBps", "must be 1..10000");
    }
    if (in.fixed_amount() != 0) return p.fail("campaignDefined.offer", "fixedAmount and percentBps are exclusive");
    if (in.max_discount() < 1) return p.fail("campaignDefined.offer.maxDiscount", "required (>= 1) for a percent offer");
  } else {
    if (in.fixed_amount() < 1) {
      return p.fail("campaignDefined.offer", "fixedAmount (>= 1) or percentBps with maxDiscount required");
    }
    if (in.max_discount() != 0) return p.fail("campaignDefined.offer.maxDiscount", "only for a percent offer");
  }
  if (in.valid_days() < 1 || in.valid_days() > kMaxValidDays) {
    return p.fail("campaignDefined.offer.validDays", "must be 1..3660");
  }
  *out = {Money(in.fixed_amount()), in.percent_bps(), Money(in.max_discount()), Money(in.min_order_amount()),
          in.valid_days()};
  return true;
}

bool decode_limits(Problem& p, const v1::Limits& in, LimitTerms* out) {
  bool ok = true;
  if (!check_amount(p, "campaignDefined.limits.perCustomer", in.per_customer(), ok) ||
      !check_amount(p, "campaignDefined.limits.perMerchantCount", in.per_merchant_count(), ok) ||
      !check_amount(p, "campaignDefined.limits.totalCount", in.total_count(), ok) ||
      !check_amount(p, "campaignDefined.limits.perMerchantAmount", in.per_merchant_amount(), ok) ||
      !check_amount(p, "campaignDefined.limits.dailyAmount", in.daily_amount(), ok)) {
    return false;
  }
  *out = {in.per_customer(), in.per_merchant_count(), in.total_count(), Money(in.per_merchant_amount()),
          Money(in.daily_amount())};
  return true;
}

bool decode_thresholds(Problem& p, const v1::CampaignDefined& in, CampaignDefinedEvent* out) {
  if (in.alert_thresholds_bps_size() == 0) {
    out->thresholds_bps = {5000, 8000, 10000};
    return true;
  }
  if (static_cast<std::size_t>(in.alert_thresholds_bps_size()) > kMaxThresholds) {
    return p.fail("campaignDefined.alertThresholdsBps", "at most 16 thresholds");
  }
  for (std::int32_t bps : in.alert_thresholds_bps()) {
    if (bps < 1 || bps > kBpsWhole) return p.fail("campaignDefined.alertThresholdsBps", "entries must be 1..10000");
    out->thresholds_bps.push_back(bps);
  }
  std::sort(out->thresholds_bps.begin(), out->thresholds_bps.end());
  if (std::adjacent_find(out->thresholds_bps.begin(), out->thresholds_bps.end()) != out->thresholds_bps.end()) {
    return p.fail("campaignDefined.alertThresholdsBps", "duplicate threshold");
  }
  return true;
}

bool decode_campaign_defined(Problem& p, const v1::CampaignDefined& in, CampaignDefinedEvent* out) {
  bool ok = true;
  if (!check_id(p, "campaignDefined.campaignId", in.campaign_id(), ok)) return false;
  if (in.name().empty() || in.name().size() > 200) return p.fail("campaignDefined.name", "must be 1-200 bytes");
  const std::string& cur = in.currency();
  if (cur.size() != 3 || !std::all_of(cur.begin(), cur.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
    return p.fail("campaignDefined.currency", "must be 3 upper-case letters");
  }
  if (!check_time(p, "campaignDefined.startsAt", in.has_starts_at(), in.starts_at(), &out->starts_at, ok) ||
      !check_time(p, "campaignDefined.endsAt", in.has_ends_at(), in.ends_at(), &out->ends_at, ok)) {
    return false;
  }
  if (out->starts_at >= out->ends_at) return p.fail("campaignDefined.endsAt", "must be after startsAt");
  if (in.utc_offset_minutes() < -14 * 60 || in.utc_offset_minutes() > 14 * 60) {
    return p.fail("campaignDefined.utcOffsetMinutes", "must be -840..840");
  }
  if (!decode_funders(p, in, out)) return false;
  const auto& elig = in.eligibility();
  if (!decode_ids(p, "campaignDefined.eligibility.marketIds", elig.market_ids(), &out->market_ids) ||
      !decode_ids(p, "campaignDefined.eligibility.merchantIds", elig.merchant_ids(), &out->merchant_ids) ||
      !decode_ids(p, "campaignDefined.eligibility.categories", elig.categories(), &out->categories)) {
    return false;
  }
  switch (in.trigger()) {
    case v1::CampaignDefined::CHANNEL_ADDED: out->trigger = Trigger::kChannelAdded; break;
    case v1::CampaignDefined::ISSUED: out->trigger = Trigger::kIssued; break;
    default: return p.fail("campaignDefined.trigger", "must be CHANNEL_ADDED or ISSUED");
  }
  if (!in.has_offer()) return p.fail("campaignDefined.offer", "required");
  if (!decode_offer(p, in.offer(), &out->offer) || !decode_limits(p, in.limits(), &out->limits)) return false;
  if (in.has_message_cash()) {
    std::int64_t per = in.message_cash().per_merchant();
    if (per < 1 || per > kMaxAmount) return p.fail("campaignDefined.messageCash.perMerchant", "must be 1..1000000000000000");
    out->message_cash_per_merchant = Money(per);
  }
  if (in.has_redemption_grace_seconds()) {
    std::int64_t g = in.redemption_grace_seconds();
    if (g < 0 || g > kMaxGraceSeconds) return p.fail("campaignDefined.redemptionGraceSeconds", "must be 0..31622400");
    out->grace_seconds = g;
  }
  out->campaign_id = in.campaign_id();
  out->name = in.name();
  out->currency = in.currency();
  out->utc_offset_minutes = in.utc_offset_minutes();
  return decode_thresholds(p, in, out);
}

bool decode_budget_adjusted(Problem& p, const v1::BudgetAdjusted& in, BudgetAdjustedEvent* out) {
  bool ok = true;
  if (!check_id(p, "budgetAdjusted.campaignId", in.campaign_id(), ok) ||
      !check_id(p, "budgetAdjusted.funderId", in.funder_id(), ok)) {
    return false;
  }
  if (in.delta() < -kMaxAmount || in.delta() > kMaxAmount) {
    return p.fail("budgetAdjusted.delta", "must be -10^15..10^15");
  }
  *out = {in.campaign_id(), in.funder_id(), Money(in.delta())};
  return true;
}

bool decode_status_changed(Problem& p, const v1::CampaignStatusChanged& in, CampaignStatusChangedEvent* out) {
  bool ok = true;
  if (!check_id(p, "campaignStatusChanged.campaignId", in.campaign_id(), ok)) return false;
  out->campaign_id = in.campaign_id();
  switch (in.status()) {
    case v1::CampaignStatusChanged::ACTIVE: out->status = CampaignStatus::kActive; return true;
    case v1::CampaignStatusChanged::PAUSED: out->status = CampaignStatus::kPaused; return true;
    case v1::CampaignStatusChanged::CLOSED: out->status = CampaignStatus::kClosed; return true;
    default: return p.fail("campaignStatusChanged.status", "must be ACTIVE, PAUSED or CLOSED");
  }
}

template <class In, class Out>
bool decode_merchant_customer(Problem& p, std::string_view merchant_field, std::string_view customer_field,
                              const In& in, Out* out) {
  bool ok = true;
  if (!check_id(p, merchant_field, in.merchant_id(), ok) || !check_id(p, customer_field, in.customer_id(), ok)) {
    return false;
  }
  out->merchant_id = in.merchant_id();
  out->customer_id = in.customer_id();
  return true;
}

bool decode_coupon_issued(Problem& p, const v1::CouponIssued& in, CouponIssuedEvent* out) {
  bool ok = true;
  if (!check_id(p, "couponIssued.campaignId", in.campaign_id(), ok) ||
      !check_id(p, "couponIssued.customerId", in.customer_id(), ok)) {
    return false;
  }
  out->campaign_id = in.campaign_id();
  out->customer_id = in.customer_id();
  if (in.has_merchant_id()) {
    if (!check_id(p, "couponIssued.merchantId", in.merchant_id(), ok)) return false;
    out->merchant_id = in.merchant_id();
  }
  if (in.has_coupon_id()) {
    if (!is_valid_coupon_id(in.coupon_id())) {
      return p.fail("couponIssued.couponId", "must be 1-200 bytes of [A-Za-z0-9._:/-]");
    }
    out->coupon_id = in.coupon_id();
  }
  return true;
}

bool decode_coupon_redeemed(Problem& p, const v1::CouponRedeemed& in, CouponRedeemedEvent* out) {
  bool ok = true;
  if (!is_valid_coupon_id(in.coupon_id())) {
    return p.fail("couponRedeemed.couponId", "must be 1-200 bytes of [A-Za-z0-9._:/-]");
  }
  if (!check_id(p, "couponRedeemed.merchantId", in.merchant_id(), ok) ||
      !check_amount(p, "couponRedeemed.orderAmount", in.order_amount(), ok)) {
    return false;
  }
  out->coupon_id = in.coupon_id();
  out->merchant_id = in.merchant_id();
  out->order_amount = Money(in.order_amount());
  if (in.has_discount()) {
    if (!check_amount(p, "couponRedeemed.discount", in.discount(), ok)) return false;
    out->discount = Money(in.discount());
  }
  return true;
}

bool decode_redemption_reversed(Problem& p, const v1::RedemptionReversed& in, RedemptionReversedEvent* out) {
  bool ok = true;
  if (!is_valid_coupon_id(in.coupon_id())) {
    return p.fail("redemptionReversed.couponId", "must be 1-200 bytes of [A-Za-z0-9._:/-]");
  }
  if (!check_id(p, "redemptionReversed.merchantId", in.merchant_id(), ok)) return false;
  *out = {in.coupon_id(), in.merchant_id()};
  return true;
}

bool decode_message_sent(Problem& p, const v1::MessageSent& in, MessageSentEvent* out) {
  bool ok = true;
  if (!check_id(p, "messageSent.merchantId", in.merchant_id(), ok)) return false;
  if (in.recipients() < 1 || in.recipients() > kMaxAmount) {
    return p.fail("messageSent.recipients", "must be 1..1000000000000000");
  }
  if (!check_amount(p, "messageSent.unitCost", in.unit_cost(), ok)) return false;
  std::int64_t cost;
  if (__builtin_mul_overflow(in.recipients(), in.unit_cost(), &cost) || cost > kMaxAmount) {
    return p.fail("messageSent.unitCost", "recipients x unitCost exceeds 10^15");
  }
  *out = {in.merchant_id(), in.recipients(), Money(in.unit_cost()), Money(cost)};
  return true;
}

// Decodes into the payload's alternative Out, in place: the payload is
// reused from event to event, and an event of the kind before (most are)
// only resets its fields. After a failure the payload is not the event's.
template <class Out, class In, class Fn>
bool decode_into(Payload* payload, const In& in, Fn fn) {
  Out* out = std::get_if<Out>(payload);
  if (out == nullptr) {
    out = &payload->template emplace<Out>();
  } else {
    *out = Out{};
  }
  return fn(in, out);
}

bool decode_payload(Problem& p, const v1::Envelope& in, Payload* out) {
  using E = v1::Envelope;
  switch (in.payload_case()) {
    case E::kCampaignDefined:
      return decode_into<CampaignDefinedEvent>(out, in.campaign_defined(),
                                               [&](auto& i, auto* o) { return decode_campaign_defined(p, i, o); });
    case E::kBudgetAdjusted:
      return decode_into<BudgetAdjustedEvent>(out, in.budget_adjusted(),
                                              [&](auto& i, auto* o) { return decode_budget_adjusted(p, i, o); });
    case E::kCampaignStatusChanged:
      return decode_into<CampaignStatusChangedEvent>(
          out, in.campaign_status_changed(), [&](auto& i, auto* o) { return decode_status_changed(p, i, o); });
    case E::kMerchantEnrolled:
      return decode_into<MerchantEnrolledEvent>(out, in.merchant_enrolled(), [&](auto& i, auto* o) {
        bool ok = true;
        if (!check_id(p, "merchantEnrolled.merchantId", i.merchant_id(), ok) ||
            !check_id(p, "merchantEnrolled.marketId", i.market_id(), ok) ||
            !check_id(p, "merchantEnrolled.category", i.category(), ok)) {
          return false;
        }
        *o = {i.merchant_id(), i.market_id(), i.category()};
        return true;
      });
    case E::kChannelOpened:
      return decode_into<ChannelOpenedEvent>(out, in.channel_opened(), [&](auto& i, auto* o) {
        bool ok = true;
        if (!check_id(p, "channelOpened.merchantId", i.merchant_id(), ok) ||
            !check_id(p, "channelOpened.channelId", i.channel_id(), ok)) {
          return false;
        }
        *o = {i.merchant_id(), i.channel_id()};
        return true;
      });
    case E::kChannelAdded:
      return decode_into<ChannelAddedEvent>(
          out, in.channel_added(), [&](auto& i, auto* o) { return decode_merchant_customer(p, "channelAdded.merchantId", "channelAdded.customerId", i, o); });
    case E::kChannelBlocked:
      return decode_into<ChannelBlockedEvent>(out, in.channel_blocked(), [&](auto& i, auto* o) {
        return decode_merchant_customer(p, "channelBlocked.merchantId", "channelBlocked.customerId", i, o);
      });
    case E::kCouponIssued:
      return decode_into<CouponIssuedEvent>(out, in.coupon_issued(),
                                            [&](auto& i, auto* o) { return decode_coupon_issued(p, i, o); });
    case E::kCouponRedeemed:
      return decode_into<CouponRedeemedEvent>(out, in.coupon_redeemed(),
                                              [&](auto& i, auto* o) { return decode_coupon_redeemed(p, i, o); });
    case E::kRedemptionReversed:
      return decode_into<RedemptionReversedEvent>(
          out, in.redemption_reversed(), [&](auto& i, auto* o) { return decode_redemption_reversed(p, i, o); });
    case E::kMessageSent:
      return decode_into<MessageSentEvent>(out, in.message_sent(),
                                           [&](auto& i, auto* o) { return decode_message_sent(p, i, o); });
    case E::PAYLOAD_NOT_SET:
      break;
  }
  return p.fail("payload", "exactly one payload required");
}

}  // namespace

bool is_valid_id(std::string_view id, std::size_t max_bytes) {
  return !id.empty() && id.size() <= max_bytes && bytes_allowed</*kSlash=*/false>(id);
}

bool is_valid_coupon_id(std::string_view id) {
  return !id.empty() && id.size() <= 200 && bytes_allowed</*kSlash=*/true>(id);
}

bool to_instant(const google::protobuf::Timestamp& ts, Instant* out) {
  if (ts.seconds() < kMinSeconds || ts.seconds() >= kMaxSeconds || ts.nanos() < 0 ||
      ts.nanos() >= Instant::kNanosPerSecond) {
    return false;
  }
  *out = Instant::from_nanos(ts.seconds() * Instant::kNanosPerSecond + ts.nanos());
  return true;
}

bool decode_envelope(const v1::Envelope& in, Event* out, std::string* detail) {
  Problem p(detail);
  if (!is_valid_id(in.event_id(), 128)) return p.fail("eventId", "must be 1-128 bytes of [A-Za-z0-9._:-]");
  bool ok = true;
  if (!check_time(p, "occurredAt", in.has_occurred_at(), in.occurred_at(), &out->occurred_at, ok)) return false;
  out->event_id = in.event_id();
  return decode_payload(p, in, &out->payload);
}

}  // namespace dangol
