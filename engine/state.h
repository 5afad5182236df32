#pragma once
// The engine's state: plain data, changed only by Engine::apply. Ids are
// interned into dense indexes so that the per-coupon and per-customer records
// stay small (the memory target is <= 512 bytes per issued coupon).

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "engine/assert.h"
#include "engine/event.h"
#include "engine/expiry_queue.h"
#include "engine/reason.h"
#include "engine/id_index.h"
#include "engine/keyed_log.h"
#include "engine/split.h"
#include "engine/stable_vector.h"
#include "engine/state_keys.h"
#include "engine/types.h"

namespace dangol {

// Names per chunk of an Interner's StableVector. Customers come by the
// hundred thousand, and their names fill whole huge pages (65,536 in
// 2 MiB). Campaigns, markets and categories are a handful, and merchants
// far fewer than customers: a chunk of 1,024 names (32 KiB) comes from
// malloc, where a huge-page chunk cost every engine a 2 MiB page faulted in
// and zeroed for a few names: four at each engine's start, of the about 12
// page faults that deciding a 20,000-event festival took (now about 7).
template <class IndexT>
inline constexpr std::size_t kNamesPerChunk = 1024;
template <>
inline constexpr std::size_t kNamesPerChunk<CustomerIdx> = kHugePageBytes / sizeof(std::string);

// Interns strings of one kind of id into dense indexes. Names live in a
// StableVector, where they never move; the index compares them on a hit.
template <class IndexT>
class Interner {
 public:
  IndexT find(std::string_view name) const { return find(id_hash(name), name); }
  // The same, with key == id_hash(name) computed already.
  IndexT find(std::uint64_t key, std::string_view name) const {
    auto found = index_.find(key, name, name_of());
    return found ? IndexT{*found} : IndexT{};
  }
  IndexT intern(std::string_view name) { return intern(id_hash(name), name); }
  // The same, with key == id_hash(name) computed already.
  IndexT intern(std::uint64_t key, std::string_view name) {
    if (IndexT found = find(key, name); found.valid()) return found;
    return add(key, name);
  }
  // Interns a name known to be absent (one lookup instead of two).
  IndexT add(std::string_view name) { return add(id_hash(name), name); }
  IndexT add(std::uint64_t key, std::string_view name) {
    names_.emplace_back(name);
    IndexT idx{static_cast<std::uint32_t>(names_.size() - 1)};
    bool inserted = index_.insert(key, names_.back(), idx.value, name_of());
    DANGOL_ASSERT(inserted, "interned a name twice");
    return idx;
  }
  const std::string& name(IndexT idx) const { return names_[idx.value]; }
  // Sizes the index for `n` names at once (loading a stored state).
  void reserve(std::size_t n) { index_.reserve(n); }
  void prefetch(std::uint64_t key) const { index_.prefetch(key); }
  std::size_t size() const { return names_.size(); }

 private:
  auto name_of() const {
    return [this](std::uint32_t i) -> std::string_view { return names_[i]; };
  }

  StableVector<std::string, kNamesPerChunk<IndexT>> names_;
  IdIndex<> index_;
};

// Values by (campaign, id) where most ids have values of one campaign
// only: each id's first campaign and its value sit in a dense array by the
// id's index, one cache line per lookup, where a hash map of the pairs read
// two (its control bytes, then its slot), and the values of an id's
// further campaigns go to a map. Used for the perCustomer counts
// (CustomerGrants) and the per-merchant usages (MerchantUsages).
template <class IdxT, class V>
class FirstCampaignInline {
 public:
  // The key the state store and the change log name a value by.
  static std::uint64_t key(CampaignIdx c, IdxT i) { return (std::uint64_t{c.value} << 32) | i.value; }
  static CampaignIdx campaign_of(std::uint64_t k) { return CampaignIdx{static_cast<std::uint32_t>(k >> 32)}; }
  static IdxT id_of(std::uint64_t k) { return IdxT{static_cast<std::uint32_t>(k)}; }

  // The value of (c, i), or null if there is none (or `i` is invalid).
  const V* find(CampaignIdx c, IdxT i) const {
    if (!i.valid()) return nullptr;
    if (i.value < first_.size() && first_[i.value].campaign == c.value + 1) return &first_[i.value].value;
    if (more_.empty()) return nullptr;
    auto it = more_.find(key(c, i));
    return it == more_.end() ? nullptr : &it->second;
  }
  V* find(CampaignIdx c, IdxT i) { return const_cast<V*>(std::as_const(*this).find(c, i)); }

  // The same, made (V{}) if there was none. Pointers to values stay valid
  // until the next one is made.
  V& get(CampaignIdx c, IdxT i) {
    DANGOL_ASSERT(c.valid() && i.valid(), "a value by campaign needs a campaign and an id");
    if (i.value >= first_.size()) first_.resize(std::size_t{i.value} + 1);
    First& f = first_[i.value];
    if (f.campaign == c.value + 1) return f.value;
    if (f.campaign == 0) {
      f.campaign = c.value + 1;
      ++size_;
      return f.value;
    }
    auto [it, inserted] = more_.try_emplace(key(c, i));
    size_ += inserted ? 1 : 0;
    return it->second;
  }

  // The number of (campaign, id) pairs with a value.
  std::size_t size() const { return size_; }
  // Sizes the array for ids [0, n) (loading a stored state).
  void reserve(std::size_t n) { first_.reserve(n); }

  // f(campaign, id, value) for every pair with a value, in no particular
  // order.
  template <class F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < first_.size(); ++i) {
      if (first_[i].campaign != 0) {
        f(CampaignIdx{first_[i].campaign - 1}, IdxT{static_cast<std::uint32_t>(i)}, first_[i].value);
      }
    }
    for (const auto& [k, value] : more_) f(campaign_of(k), id_of(k), value);
  }

 private:
  struct First {
    std::uint32_t campaign = 0;  // CampaignIdx + 1; 0: none yet
    V value{};
  };
  std::vector<First> first_;  // by id index
  absl::flat_hash_map<std::uint64_t, V> more_;
  std::size_t size_ = 0;
};

// Coupons granted per (campaign, customer), for perCustomer: 8 bytes a
// customer, appended to as customers arrive.
class CustomerGrants {
 public:
  using Counts = FirstCampaignInline<CustomerIdx, std::uint32_t>;
  static std::uint64_t key(CampaignIdx c, CustomerIdx u) { return Counts::key(c, u); }

  // How many coupons of campaign `c` customer `u` was granted (0 if none,
  // or if `u` is not a customer yet).
  std::uint32_t count(CampaignIdx c, CustomerIdx u) const {
    const std::uint32_t* n = counts_.find(c, u);
    return n == nullptr ? 0 : *n;
  }
  std::uint32_t count(std::uint64_t k) const { return count(Counts::campaign_of(k), Counts::id_of(k)); }

  // One more coupon of `c` for `u`; returns the new count.
  std::uint32_t add(CampaignIdx c, CustomerIdx u) { return ++counts_.get(c, u); }
  // Sets a count (loading a stored state).
  void set(std::uint64_t k, std::uint32_t count) { counts_.get(Counts::campaign_of(k), Counts::id_of(k)) = count; }

  // The number of (campaign, customer) pairs with a count.
  std::size_t size() const { return counts_.size(); }
  // Sizes the array for customers [0, customers) (loading a stored state).
  void reserve(std::size_t customers) { counts_.reserve(customers); }

  // f(key, count) for every pair with a count, in no particular order.
  template <class F>
  void for_each(F&& f) const {
    counts_.for_each([&](CampaignIdx c, CustomerIdx u, std::uint32_t n) { f(key(c, u), n); });
  }

 private:
  Counts counts_;
};

struct FunderAccount {
  std::string funder_id;
  std::int32_t share_bps = 0;
  Money budget, available, reserved, spent;
  std::uint32_t crossed_thresholds = 0;  // bit i: thresholds_bps[i] crossed
};

struct CouponCounts {
  std::int64_t granted = 0, redeemed = 0, expired = 0, voided = 0, outstanding = 0;
};

// Usage of a campaign by one merchant, for the per-merchant limits.
struct MerchantUsage {
  std::int64_t granted_count = 0;
  Money committed;  // reserved + spent of the campaign's coupons issued with this merchant
};

// Every campaign's MerchantUsage, by (campaign, merchant): 24 bytes a
// merchant. Most merchants see grants of one campaign only (a festival's,
// their market's); an array per campaign would take 24 bytes for every
// merchant and campaign, however few of those pairs had grants.
using MerchantUsages = FirstCampaignInline<MerchantIdx, MerchantUsage>;

// A merchant's message cash from one campaign: granted once, then drawn down.
struct MessageCashAccount {
  Parts remaining;
};

struct Campaign {
  std::string campaign_id, name, currency;
  Instant starts_at, ends_at;
  std::int32_t utc_offset_minutes = 0;
  std::vector<FunderAccount> funders;
  std::vector<std::int32_t> shares_bps;  // funders[i].share_bps, contiguous for split_by_shares
  absl::flat_hash_set<MarketIdx> eligible_markets;
  absl::flat_hash_set<MerchantIdx> eligible_merchants;
  absl::flat_hash_set<CategoryIdx> eligible_categories;
  Trigger trigger = Trigger::kIssued;
  OfferTerms offer;
  LimitTerms limits;
  Money message_cash_per_merchant;
  std::int64_t grace_seconds = kDefaultGraceSeconds;
  std::vector<std::int32_t> thresholds_bps;
  CampaignStatus status = CampaignStatus::kActive;

  std::int64_t granted_total = 0;
  absl::flat_hash_map<std::int64_t, Money> granted_by_local_day;
  absl::flat_hash_map<MerchantIdx, MessageCashAccount> message_cash;
  std::vector<CouponIdx> coupons;  // every coupon ever granted, for close

  CouponCounts coupon_counts;
  std::array<std::int64_t, static_cast<std::size_t>(Reason::kCount)> rejections{};

  // The funder split of offer.reservation(), which every coupon of the
  // campaign reserves (grants set it; StateRestorer refuses stored coupons
  // that say otherwise). Offer and shares never change after the
  // definition, so it is made once, when first needed, and handed out by
  // reference: copying it cost a grant and a redemption some 30
  // instructions.
  const Parts& reservation_split() const {
    if (!reservation_split_) reservation_split_ = split_by_shares(offer.reservation(), shares_bps);
    return *reservation_split_;
  }

  // Whether enrolled merchant `m` is eligible, as far as it is known: 0 not
  // yet, 1 no, 2 yes. A merchant's market and category never change once it
  // is enrolled, nor a campaign's eligibility lists once it is defined, so
  // the answer holds for good (Step::is_eligible fills it in).
  std::uint8_t& known_eligibility(MerchantIdx m) const {
    if (m.value >= eligibility_.size()) eligibility_.resize(std::size_t{m.value} + 1);
    return eligibility_[m.value];
  }
  std::uint8_t remembered_eligibility(MerchantIdx m) const {  // the same, read only (check_invariants)
    return m.value < eligibility_.size() ? eligibility_[m.value] : 0;
  }

 private:
  mutable std::optional<Parts> reservation_split_;
  mutable std::vector<std::uint8_t> eligibility_;  // by MerchantIdx: see known_eligibility
};

enum class CouponStatus : std::uint8_t { kIssued, kRedeemed, kExpired, kVoid };

struct Coupon {
  std::string coupon_id;
  CampaignIdx campaign;
  MerchantIdx merchant;     // none: redeemable at any eligible merchant
  CustomerIdx customer;
  MerchantIdx redeemed_at;  // where the current redemption happened
  CouponStatus status = CouponStatus::kIssued;
  bool welcome = false;
  bool in_expiry_queue = false;
  Money reserved;  // R: the full reservation made at grant
  Money discount;  // d: settled discount while redeemed
  Instant issued_at, expires_at;
};

struct Merchant {
  bool enrolled = false;
  bool has_channel = false;
  MarketIdx market;
  CategoryIdx category;
  std::string channel_id;
  std::int64_t friends = 0, friend_adds = 0, messages = 0, recipients = 0;
  std::int64_t welcome_granted = 0, welcome_redeemed = 0;
  Money message_cost_self_paid;
};

struct State {
  std::int32_t shard = 0;
  std::int64_t next_seq = 1;
  bool has_clock = false;
  Instant clock;

  // Idempotency: 128-bit hash of the event id -> 64-bit hash of its content.
  // Kept for the whole history (DESIGN §3).
  KeyedLog<std::uint64_t> seen_events;

  Interner<CampaignIdx> campaign_ids;
  StableVector<Campaign, 16> campaigns;  // by CampaignIdx; few, and small chunks index in a shift
  std::vector<CampaignIdx> welcome_campaigns;       // CHANNEL_ADDED trigger, sorted by id
  std::vector<CampaignIdx> message_cash_campaigns;  // with messageCash, sorted by id
  std::vector<CampaignIdx> campaigns_by_id;         // all, sorted by id

  Interner<MerchantIdx> merchant_ids;
  std::vector<Merchant> merchants;  // by MerchantIdx
  Interner<MarketIdx> market_ids;
  Interner<CategoryIdx> category_ids;
  Interner<CustomerIdx> customer_ids;

  StableVector<Coupon> coupons;
  IdIndex<CouponIdHash> coupon_index;  // by couponId: see find_coupon, index_coupon
  ExpiryQueue expiry_queue;

  absl::flat_hash_set<std::uint64_t> friendships;             // merchant << 32 | customer
  CustomerGrants customer_grants;
  MerchantUsages merchant_usages;
  absl::flat_hash_set<std::array<std::uint32_t, 3>> welcomed;  // campaign, merchant, customer

  std::array<std::int64_t, 4> outcomes{};  // decisions by outcome

  // The id of coupons[i], as coupon_index compares it on a hit.
  auto coupon_id_of() const {
    return [this](std::uint32_t i) -> std::string_view { return coupons[i].coupon_id; };
  }
  // The position in `coupons` of the coupon with this id, or CouponIdx::kNone.
  std::uint32_t find_coupon(std::string_view id) const { return find_coupon(event_id_key(id), id); }
  // The same, with key == event_id_key(id) computed already.
  std::uint32_t find_coupon(EventIdKey key, std::string_view id) const {
    return coupon_index.find(key.low, id, coupon_id_of()).value_or(CouponIdx::kNone);
  }
  // Indexes coupons[index] by its id, whose key is `key`; false if that id
  // is indexed already.
  bool index_coupon(std::uint32_t index, EventIdKey key) {
    return coupon_index.insert(key.low, coupons[index].coupon_id, index, coupon_id_of());
  }
  bool index_coupon(std::uint32_t index) { return index_coupon(index, event_id_key(coupons[index].coupon_id)); }
};

}  // namespace dangol
