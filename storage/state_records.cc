#include "storage/state_records.h"

#include <algorithm>
#include <vector>

namespace dangol::storage::records {
namespace {

using codec::Reader;
using codec::Writer;

// Eligibility sets are hash sets; they are written sorted so that equal
// states give equal bytes.
template <class Set>
void put_index_set(const Set& set, Writer& w) {
  std::vector<std::uint32_t> values;
  values.reserve(set.size());
  for (auto idx : set) values.push_back(idx.value);
  std::sort(values.begin(), values.end());
  w.u32(static_cast<std::uint32_t>(values.size()));
  for (std::uint32_t v : values) w.u32(v);
}

template <class Set>
bool get_index_set(Reader& r, Set* set) {
  using Idx = typename Set::value_type;
  std::uint32_t n = r.u32();
  if (n > kMaxEligibilityEntries) return false;
  for (std::uint32_t i = 0; i < n && r.ok(); ++i) set->insert(Idx{r.u32()});
  return r.ok();
}

void put_offer_and_limits(const Campaign& c, Writer& w) {
  w.i64(c.offer.fixed_amount.minor());
  w.i32(c.offer.percent_bps);
  w.i64(c.offer.max_discount.minor());
  w.i64(c.offer.min_order_amount.minor());
  w.i32(c.offer.valid_days);
  w.i64(c.limits.per_customer);
  w.i64(c.limits.per_merchant_count);
  w.i64(c.limits.total_count);
  w.i64(c.limits.per_merchant_amount.minor());
  w.i64(c.limits.daily_amount.minor());
}

void get_offer_and_limits(Reader& r, Campaign* c) {
  c->offer.fixed_amount = Money(r.i64());
  c->offer.percent_bps = r.i32();
  c->offer.max_discount = Money(r.i64());
  c->offer.min_order_amount = Money(r.i64());
  c->offer.valid_days = r.i32();
  c->limits.per_customer = r.i64();
  c->limits.per_merchant_count = r.i64();
  c->limits.total_count = r.i64();
  c->limits.per_merchant_amount = Money(r.i64());
  c->limits.daily_amount = Money(r.i64());
}

}  // namespace

void put_campaign_definition(const Campaign& c, std::string* out) {
  Writer w(out);
  w.str(c.campaign_id), w.str(c.name), w.str(c.currency);
  w.i64(c.starts_at.nanos()), w.i64(c.ends_at.nanos()), w.i32(c.utc_offset_minutes);
  w.u8(static_cast<std::uint8_t>(c.funders.size()));
  for (const FunderAccount& f : c.funders) w.str(f.funder_id), w.i32(f.share_bps);
  put_index_set(c.eligible_markets, w);
  put_index_set(c.eligible_merchants, w);
  put_index_set(c.eligible_categories, w);
  w.u8(static_cast<std::uint8_t>(c.trigger));
  put_offer_and_limits(c, w);
  w.i64(c.message_cash_per_merchant.minor());
  w.i64(c.grace_seconds);
  w.u8(static_cast<std::uint8_t>(c.thresholds_bps.size()));
  for (std::int32_t bps : c.thresholds_bps) w.i32(bps);
}

bool get_campaign_definition(std::string_view in, Campaign* c) {
  Reader r(in);
  c->campaign_id = r.str(), c->name = r.str(), c->currency = r.str();
  c->starts_at = Instant::from_nanos(r.i64()), c->ends_at = Instant::from_nanos(r.i64());
  c->utc_offset_minutes = r.i32();
  std::uint8_t funders = r.u8();
  if (funders > kMaxFunders) return false;
  for (std::uint8_t i = 0; i < funders && r.ok(); ++i) {
    FunderAccount& f = c->funders.emplace_back();
    f.funder_id = r.str();
    f.share_bps = r.i32();
    c->shares_bps.push_back(f.share_bps);
  }
  if (!get_index_set(r, &c->eligible_markets) || !get_index_set(r, &c->eligible_merchants) ||
      !get_index_set(r, &c->eligible_categories)) {
    return false;
  }
  c->trigger = static_cast<Trigger>(r.u8());
  get_offer_and_limits(r, c);
  c->message_cash_per_merchant = Money(r.i64());
  c->grace_seconds = r.i64();
  std::uint8_t thresholds = r.u8();
  if (thresholds > kMaxThresholds) return false;
  for (std::uint8_t i = 0; i < thresholds && r.ok(); ++i) c->thresholds_bps.push_back(r.i32());
  return r.done();
}

void put_campaign_ledger(const Campaign& c, std::string* out) {
  Writer w(out);
  w.u8(static_cast<std::uint8_t>(c.status));
  w.u8(static_cast<std::uint8_t>(c.funders.size()));
  for (const FunderAccount& f : c.funders) {
    w.i64(f.budget.minor()), w.i64(f.available.minor()), w.i64(f.reserved.minor()), w.i64(f.spent.minor());
    w.u32(f.crossed_thresholds);
  }
  w.i64(c.granted_total);
  const CouponCounts& n = c.coupon_counts;
  w.i64(n.granted), w.i64(n.redeemed), w.i64(n.expired), w.i64(n.voided), w.i64(n.outstanding);
  w.u8(static_cast<std::uint8_t>(c.rejections.size()));
  for (std::int64_t count : c.rejections) w.i64(count);
}

// Reasons are only ever appended (STYLE habit 8), so a ledger written by an
// older build has at most as many rejection counters as this one knows.
bool get_campaign_ledger(std::string_view in, Campaign* c) {
  Reader r(in);
  c->status = static_cast<CampaignStatus>(r.u8());
  if (r.u8() != c->funders.size()) return false;
  for (FunderAccount& f : c->funders) {
    f.budget = Money(r.i64()), f.available = Money(r.i64()), f.reserved = Money(r.i64()), f.spent = Money(r.i64());
    f.crossed_thresholds = r.u32();
  }
  c->granted_total = r.i64();
  CouponCounts& n = c->coupon_counts;
  n.granted = r.i64(), n.redeemed = r.i64(), n.expired = r.i64(), n.voided = r.i64(), n.outstanding = r.i64();
  std::uint8_t reasons = r.u8();
  if (reasons > c->rejections.size()) return false;
  for (std::uint8_t i = 0; i < reasons; ++i) c->rejections[i] = r.i64();
  return r.done();
}

void put_merchant(const Merchant& m, std::string* out) {
  Writer w(out);
  w.u8(m.enrolled), w.u8(m.has_channel), w.u32(m.market.value), w.u32(m.category.value), w.str(m.channel_id);
  w.i64(m.friends), w.i64(m.friend_adds), w.i64(m.messages), w.i64(m.recipients);
  w.i64(m.welcome_granted), w.i64(m.welcome_redeemed), w.i64(m.message_cost_self_paid.minor());
}

bool get_merchant(std::string_view in, Merchant* m) {
  Reader r(in);
  m->enrolled = r.u8(), m->has_channel = r.u8();
  m->market = MarketIdx{r.u32()}, m->category = CategoryIdx{r.u32()};
  m->channel_id = r.str();
  m->friends = r.i64(), m->friend_adds = r.i64(), m->messages = r.i64(), m->recipients = r.i64();
  m->welcome_granted = r.i64(), m->welcome_redeemed = r.i64(), m->message_cost_self_paid = Money(r.i64());
  return r.done();
}

void put_coupon(const Coupon& k, Writer& w) {
  w.str(k.coupon_id);
  w.u32(k.campaign.value), w.u32(k.merchant.value), w.u32(k.customer.value);
  w.u8(k.welcome);
  w.i64(k.reserved.minor()), w.i64(k.issued_at.nanos()), w.i64(k.expires_at.nanos());
  put_coupon_mutable(k, w);
}

bool get_coupon(Reader& r, Coupon* k) {
  k->coupon_id = r.str();
  k->campaign = CampaignIdx{r.u32()}, k->merchant = MerchantIdx{r.u32()}, k->customer = CustomerIdx{r.u32()};
  k->welcome = r.u8();
  k->reserved = Money(r.i64());
  k->issued_at = Instant::from_nanos(r.i64()), k->expires_at = Instant::from_nanos(r.i64());
  get_coupon_mutable(r, k);
  return r.ok();
}

void put_coupon_mutable(const Coupon& k, Writer& w) {
  w.u8(static_cast<std::uint8_t>(k.status)), w.u8(k.in_expiry_queue);
  w.i64(k.discount.minor()), w.u32(k.redeemed_at.value);
}

void get_coupon_mutable(Reader& r, Coupon* k) {
  k->status = static_cast<CouponStatus>(r.u8());
  k->in_expiry_queue = r.u8();
  k->discount = Money(r.i64());
  k->redeemed_at = MerchantIdx{r.u32()};
}

void put_usage(const MerchantUsage& u, std::string* out) {
  Writer w(out);
  w.i64(u.granted_count), w.i64(u.committed.minor());
}

bool get_usage(std::string_view in, MerchantUsage* u) {
  Reader r(in);
  u->granted_count = r.i64(), u->committed = Money(r.i64());
  return r.done();
}

void put_parts(const Parts& p, std::string* out) {
  Writer w(out);
  w.u8(p.size);
  for (std::uint8_t i = 0; i < p.size; ++i) w.i64(p.amount[i]);
}

bool get_parts(std::string_view in, Parts* p) {
  Reader r(in);
  p->size = r.u8();
  if (p->size > kMaxFunders) return false;
  for (std::uint8_t i = 0; i < p->size; ++i) p->amount[i] = r.i64();
  return r.done();
}

}  // namespace dangol::storage::records
