#include "engine/content_hash.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <type_traits>

// Inlined, not called through the shared library: ids are short, and XXH3's
// short-input path is a few dozen instructions, less than the call.
#define XXH_INLINE_ALL
#include <xxhash.h>

namespace dangol {
namespace {

// Appends fields with explicit lengths and tags so that no two different
// events share a canonical form. Writes straight into the scratch buffer,
// which only grows: std::string's appends are calls into the library, and
// they were most of the cost of hashing an event.
class Canonical {
 public:
  explicit Canonical(std::string& buffer) : buffer_(buffer) {
    if (buffer_.size() < kInitialBytes) buffer_.resize(kInitialBytes);
  }
  void tag(std::uint8_t t) { put(&t, 1); }
  void i64(std::int64_t v) { put(&v, sizeof v); }
  void str(std::string_view s) {  // the length, then the bytes: one capacity check
    const auto n = static_cast<std::int64_t>(s.size());
    make_room(sizeof n + s.size());
    std::memcpy(buffer_.data() + size_, &n, sizeof n);
    std::memcpy(buffer_.data() + size_ + sizeof n, s.data(), s.size());
    size_ += sizeof n + s.size();
  }
  void opt_str(const std::optional<std::string_view>& s) {
    tag(s.has_value());
    if (s) str(*s);
  }
  void strs(const std::vector<std::string_view>& v) {
    i64(static_cast<std::int64_t>(v.size()));
    for (auto s : v) str(s);
  }
  std::uint64_t hash() const { return XXH3_64bits(buffer_.data(), size_); }

 private:
  static constexpr std::size_t kInitialBytes = 512;

  void make_room(std::size_t n) {
    if (n > buffer_.size() - size_) buffer_.resize(std::max(2 * buffer_.size(), size_ + n));
  }
  void put(const void* bytes, std::size_t n) {
    make_room(n);
    std::memcpy(buffer_.data() + size_, bytes, n);
    size_ += n;
  }

  std::string& buffer_;
  std::size_t size_ = 0;
};

void write(Canonical& c, const CampaignDefinedEvent& e) {
  c.str(e.campaign_id), c.str(e.name), c.str(e.currency);
  c.i64(e.starts_at.nanos()), c.i64(e.ends_at.nanos()), c.i64(e.utc_offset_minutes);
  c.i64(static_cast<std::int64_t>(e.funders.size()));
  for (const auto& f : e.funders) c.str(f.funder_id), c.i64(f.budget.minor()), c.i64(f.share_bps);
  c.strs(e.market_ids), c.strs(e.merchant_ids), c.strs(e.categories);
  c.i64(static_cast<std::int64_t>(e.trigger));
  const auto& o = e.offer;
  c.i64(o.fixed_amount.minor()), c.i64(o.percent_bps), c.i64(o.max_discount.minor());
  c.i64(o.min_order_amount.minor()), c.i64(o.valid_days);
  const auto& l = e.limits;
  c.i64(l.per_customer), c.i64(l.per_merchant_count), c.i64(l.total_count);
  c.i64(l.per_merchant_amount.minor()), c.i64(l.daily_amount.minor());
  c.i64(e.message_cash_per_merchant.minor()), c.i64(e.grace_seconds);
  c.i64(static_cast<std::int64_t>(e.thresholds_bps.size()));
  for (auto t : e.thresholds_bps) c.i64(t);
}
void write(Canonical& c, const BudgetAdjustedEvent& e) { c.str(e.campaign_id), c.str(e.funder_id), c.i64(e.delta.minor()); }
void write(Canonical& c, const CampaignStatusChangedEvent& e) {
  c.str(e.campaign_id), c.i64(static_cast<std::int64_t>(e.status));
}
void write(Canonical& c, const MerchantEnrolledEvent& e) { c.str(e.merchant_id), c.str(e.market_id), c.str(e.category); }
void write(Canonical& c, const ChannelOpenedEvent& e) { c.str(e.merchant_id), c.str(e.channel_id); }
void write(Canonical& c, const ChannelAddedEvent& e) { c.str(e.merchant_id), c.str(e.customer_id); }
void write(Canonical& c, const ChannelBlockedEvent& e) { c.str(e.merchant_id), c.str(e.customer_id); }
void write(Canonical& c, const CouponIssuedEvent& e) {
  c.str(e.campaign_id), c.str(e.customer_id), c.opt_str(e.merchant_id), c.opt_str(e.coupon_id);
}
void write(Canonical& c, const CouponRedeemedEvent& e) {
  c.str(e.coupon_id), c.str(e.merchant_id), c.i64(e.order_amount.minor());
  c.tag(e.discount.has_value());
  if (e.discount) c.i64(e.discount->minor());
}
void write(Canonical& c, const RedemptionReversedEvent& e) { c.str(e.coupon_id), c.str(e.merchant_id); }
void write(Canonical& c, const MessageSentEvent& e) {
  c.str(e.merchant_id), c.i64(e.recipients), c.i64(e.unit_cost.minor());
}

}  // namespace

EventIdKey event_id_key(std::string_view event_id) {
  XXH128_hash_t h = XXH3_128bits(event_id.data(), event_id.size());
  return {h.high64, h.low64};
}

std::uint64_t content_hash(const Event& event, std::string* scratch) {
  Canonical canonical(*scratch);
  canonical.i64(event.occurred_at.nanos());
  canonical.tag(static_cast<std::uint8_t>(event.payload.index()));
  std::visit([&](const auto& p) { write(canonical, p); }, event.payload);
  return canonical.hash();
}

}  // namespace dangol
