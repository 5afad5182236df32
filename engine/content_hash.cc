#include "engine/content_hash.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <type_traits>

#include "engine/unaligned.h"

// Inlined, not called through the shared library: ids are short, and XXH3's
// short-input path is a few dozen instructions, less than the call.
#define XXH_INLINE_ALL
#include <xxhash.h>

namespace dangol {
namespace {

// Copies n bytes. Ids are mostly a few to 32 bytes long, and memcpy of a
// length not known when compiling is a library call: two overlapping loads
// and stores copy such ids inline.
void copy_short(char* to, const char* from, std::size_t n) {
  const auto copy_ends = [&]<class Word>(Word) {
    const auto head = load_unaligned<Word>(from), tail = load_unaligned<Word>(from + n - sizeof(Word));
    store_unaligned(to, head);
    store_unaligned(to + n - sizeof(Word), tail);
  };
  if (n > 32) {
    std::memcpy(to, from, n);
  } else if (n > 16) {
    copy_ends(static_cast<unsigned __int128>(0));
  } else if (n >= 8) {
    copy_ends(std::uint64_t{});
  } else if (n >= 4) {
    copy_ends(std::uint32_t{});
  } else {
    for (std::size_t i = 0; i < n; ++i) to[i] = from[i];
  }
}

// Appends fields with explicit lengths and tags so that no two different
// events share a canonical form. Writes straight into the scratch buffer,
// which only grows: std::string's appends are calls into the library, and
// they were most of the cost of hashing an event.
class Canonical {
 public:
  explicit Canonical(std::string& buffer) : buffer_(buffer) {
    if (buffer_.size() < kInitialBytes) buffer_.resize(kInitialBytes);
    at_ = buffer_.data();
    end_ = at_ + buffer_.size();
  }
  void tag(std::uint8_t t) { put(&t, 1); }
  void i64(std::int64_t v) { put(&v, sizeof v); }
  void str(std::string_view s) {  // the length, then the bytes: one capacity check
    const auto n = static_cast<std::int64_t>(s.size());
    make_room(sizeof n + s.size());
    std::memcpy(at_, &n, sizeof n);
    copy_short(at_ + sizeof n, s.data(), s.size());
    at_ += sizeof n + s.size();
  }
  void opt_str(const std::optional<std::string_view>& s) {
    tag(s.has_value());
    if (s) str(*s);
  }
  void strs(const std::vector<std::string_view>& v) {
    i64(static_cast<std::int64_t>(v.size()));
    for (auto s : v) str(s);
  }
  std::uint64_t hash() const { return XXH3_64bits(buffer_.data(), static_cast<std::size_t>(at_ - buffer_.data())); }

 private:
  static constexpr std::size_t kInitialBytes = 512;

  void make_room(std::size_t n) {
    if (n > static_cast<std::size_t>(end_ - at_)) grow(n);
  }
  // Rare (only campaign definitions outgrow the initial bytes), so out of
  // line: the appends stay a few instructions each.
  [[gnu::noinline]] void grow(std::size_t n) {
    const auto size = static_cast<std::size_t>(at_ - buffer_.data());
    buffer_.resize(std::max(2 * buffer_.size(), size + n));
    at_ = buffer_.data() + size;
    end_ = buffer_.data() + buffer_.size();
  }
  void put(const void* bytes, std::size_t n) {
    make_room(n);
    std::memcpy(at_, bytes, n);
    at_ += n;
  }

  std::string& buffer_;
  char* at_;   // where the next byte goes
  char* end_;  // the end of buffer_
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

std::uint64_t id_hash(std::string_view id) { return XXH3_64bits(id.data(), id.size()); }

IdKeys id_keys(const Event& event) {
  IdKeys keys;
  keys.event = event_id_key(event.event_id);
  if (const auto* e = std::get_if<CouponIssuedEvent>(&event.payload)) {
    keys.customer = id_hash(e->customer_id);
    keys.coupon = e->coupon_id ? event_id_key(*e->coupon_id) : keys.event;  // else named by the event id
    if (e->merchant_id) keys.merchant = id_hash(*e->merchant_id);
  } else if (const auto* r = std::get_if<CouponRedeemedEvent>(&event.payload)) {
    keys.coupon = event_id_key(r->coupon_id);
    keys.merchant = id_hash(r->merchant_id);
  } else if (const auto* v = std::get_if<RedemptionReversedEvent>(&event.payload)) {
    keys.coupon = event_id_key(v->coupon_id);
    keys.merchant = id_hash(v->merchant_id);
  } else if (const auto* a = std::get_if<ChannelAddedEvent>(&event.payload)) {
    keys.customer = id_hash(a->customer_id);
  }
  return keys;
}

std::uint64_t legacy_content_hash(const Event& event, std::string* scratch) {
  Canonical canonical(*scratch);
  canonical.i64(event.occurred_at.nanos());
  canonical.tag(static_cast<std::uint8_t>(event.payload.index()));
  std::visit([&](const auto& p) { write(canonical, p); }, event.payload);
  return canonical.hash();
}

namespace {

// The fixed-width form of the frequent events: occurredAt, then a word of
// the payload's index and which optional fields are present, then each
// field as one or two 64-bit words: seven words at most (a couponIssued
// with both optional ids, a couponRedeemed with a discount), of eight.
class Words {
 public:
  Words(const Event& event, std::uint64_t present) {
    put(static_cast<std::uint64_t>(event.occurred_at.nanos()));
    put(event.payload.index() | present << 8);
  }
  void put(std::uint64_t v) {
    std::memcpy(bytes_ + size_, &v, sizeof v);
    size_ += sizeof v;
  }
  void put(const EventIdKey& k) { put(k.high), put(k.low); }
  std::uint64_t hash() const { return XXH3_64bits(bytes_, size_); }

 private:
  unsigned char bytes_[8 * 8];
  std::size_t size_ = 0;
};

}  // namespace

std::uint64_t content_hash(const Event& event, const IdKeys& keys, std::string* scratch) {
  if (const auto* e = std::get_if<CouponIssuedEvent>(&event.payload)) {
    Words w(event, std::uint64_t{e->merchant_id.has_value()} | std::uint64_t{e->coupon_id.has_value()} << 1);
    w.put(id_hash(e->campaign_id)), w.put(keys.customer);
    if (e->merchant_id) w.put(keys.merchant);
    if (e->coupon_id) w.put(keys.coupon);
    return w.hash();
  }
  if (const auto* e = std::get_if<CouponRedeemedEvent>(&event.payload)) {
    Words w(event, std::uint64_t{e->discount.has_value()});
    w.put(keys.coupon), w.put(keys.merchant), w.put(static_cast<std::uint64_t>(e->order_amount.minor()));
    if (e->discount) w.put(static_cast<std::uint64_t>(e->discount->minor()));
    return w.hash();
  }
  if (std::holds_alternative<RedemptionReversedEvent>(event.payload)) {
    Words w(event, 0);
    w.put(keys.coupon), w.put(keys.merchant);
    return w.hash();
  }
  return legacy_content_hash(event, scratch);
}

}  // namespace dangol
