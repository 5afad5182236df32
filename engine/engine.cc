#include "engine/engine.h"

#include <algorithm>
#include <bit>
#include <tuple>

#include "absl/container/inlined_vector.h"
#include "engine/assert.h"
#include "engine/content_hash.h"
#include "engine/decode.h"
#include "engine/encode.h"
#include "engine/split.h"

namespace dangol {
namespace {

constexpr std::int64_t kSecondsPerDay = 86'400;


std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

bool is_active(const Campaign& c, Instant t) {
  return c.status == CampaignStatus::kActive && c.starts_at <= t && t < c.ends_at;
}

std::int64_t local_day(const Campaign& c, Instant t) {
  return floor_div(t.seconds_floor() + std::int64_t{c.utc_offset_minutes} * 60, kSecondsPerDay);
}

// (reserved + spent) · 10000 >= bps · budget, without overflow, for a
// funder whose ledger holds (so reserved + spent <= budget) and bps in
// 1..10000. Below 2^49 won of budget the products fit 64 bits; above it
// (no real budget) they are taken in 128.
bool threshold_reached(const FunderAccount& f, std::int32_t bps) {
  const std::int64_t budget = f.budget.minor();
  if (budget <= 0) return false;
  const std::int64_t used = f.reserved.minor() + f.spent.minor();
  if (budget < (std::int64_t{1} << 49)) return used * kBpsWhole >= std::int64_t{bps} * budget;
  return static_cast<__int128>(used) * kBpsWhole >= static_cast<__int128>(bps) * budget;
}

void sorted_insert(std::vector<CampaignIdx>& list, CampaignIdx idx, const Interner<CampaignIdx>& ids) {
  auto pos = std::lower_bound(list.begin(), list.end(), idx,
                              [&](CampaignIdx a, CampaignIdx b) { return ids.name(a) < ids.name(b); });
  list.insert(pos, idx);
}

// Decides one event against the state. One instance per event: it holds the
// event's decision and the campaigns whose ledgers the event touched.
class Step {
 public:
  // `log` is null when the engine does not track changes.
  // `keys` are the event's ids, hashed (IdKeys, state_keys.h).
  Step(State& state, ChangeLog* log, const Event& event, const IdKeys& keys, Verdict& verdict,
       std::vector<std::uint32_t>& due, CampaignIdx& last_campaign)
      : s_(state), log_(log), ev_(event), keys_(keys), v_(verdict), due_(due), last_campaign_(last_campaign) {}

  void run() {
    advance_clock_and_expire();
    std::visit([this](const auto& payload) { on(payload); }, ev_.payload);
    finish_touched_ledgers();
  }

 private:
  // ------------------------------------------------------------ plumbing

  Campaign& campaign(CampaignIdx idx) { return s_.campaigns[idx.value]; }

  // The index of the campaign with this id, if defined. Most events name
  // the campaign the one before did (a festival has one or a few), so that
  // campaign's id is compared first, before the id is hashed and looked up.
  // Campaigns are never removed, so the remembered index stays valid.
  CampaignIdx campaign_idx(std::string_view id) {
    if (last_campaign_.valid() && same_id(s_.campaign_ids.name(last_campaign_), id)) return last_campaign_;
    const CampaignIdx idx = s_.campaign_ids.find(id);
    if (idx.valid()) last_campaign_ = idx;
    return idx;
  }
  const std::string& merchant_name(MerchantIdx m) const {
    static const std::string kNone;
    return m.valid() ? s_.merchant_ids.name(m) : kNone;
  }

  void reject(Reason reason, Campaign* c = nullptr) {
    v_.outcome = Outcome::kRejected;
    v_.reason = reason;
    if (c != nullptr) count_rejection(campaign_idx(c->campaign_id), *c, reason);
  }

  void count_rejection(CampaignIdx idx, Campaign& c, Reason reason) {
    c.rejections[static_cast<std::size_t>(reason)]++;
    mark_campaign(idx);
  }

  void touch(CampaignIdx idx) {
    mark_campaign(idx);
    if (std::find(touched_.begin(), touched_.end(), idx) == touched_.end()) touched_.push_back(idx);
  }

  // ------------------------------------------------------------ change log
  // Every mutation of a stored record names it here, so the state store can
  // write exactly what the batch changed (change_log.h).

  template <class V, class T>
  void mark(std::vector<V> ChangeLog::*list, T&& value) {
    if (log_ != nullptr) (log_->*list).push_back(std::forward<T>(value));
  }
  void mark_campaign(CampaignIdx idx) { mark(&ChangeLog::campaigns, idx.value); }
  void mark_coupon(std::uint32_t index) { mark(&ChangeLog::coupons, index); }
  void mark_merchant(MerchantIdx m) { mark(&ChangeLog::merchants, m.value); }
  void mark_usage(CampaignIdx c, MerchantIdx m) { mark(&ChangeLog::merchant_usage, pair_key(c.value, m.value)); }
  void mark_cash(CampaignIdx c, MerchantIdx m) { mark(&ChangeLog::message_cash, pair_key(c.value, m.value)); }

  EffectRecord& effect(EffectKind kind, CampaignIdx campaign) {
    EffectRecord& e = v_.effects.emplace_back();
    e.kind = kind;
    e.campaign = campaign;
    return e;
  }

  // ------------------------------------------------------------ ledger moves
  // Each move keeps budget = available + reserved + spent by construction;
  // finish_touched_ledgers() asserts it and non-negativity after the event.

  void move_available_to_reserved(Campaign& c, const Parts& p) {
    for (std::size_t i = 0; i < c.funders.size(); ++i) {
      c.funders[i].available = Money(c.funders[i].available.minor() - p[i]);
      c.funders[i].reserved = Money(c.funders[i].reserved.minor() + p[i]);
    }
  }
  void move_reserved_to_available(Campaign& c, const Parts& p) {
    for (std::size_t i = 0; i < c.funders.size(); ++i) {
      c.funders[i].reserved = Money(c.funders[i].reserved.minor() - p[i]);
      c.funders[i].available = Money(c.funders[i].available.minor() + p[i]);
    }
  }
  void move_reserved_to_spent(Campaign& c, const Parts& p) {
    for (std::size_t i = 0; i < c.funders.size(); ++i) {
      c.funders[i].reserved = Money(c.funders[i].reserved.minor() - p[i]);
      c.funders[i].spent = Money(c.funders[i].spent.minor() + p[i]);
    }
  }
  void move_spent_to_reserved(Campaign& c, const Parts& p) {
    for (std::size_t i = 0; i < c.funders.size(); ++i) {
      c.funders[i].spent = Money(c.funders[i].spent.minor() - p[i]);
      c.funders[i].reserved = Money(c.funders[i].reserved.minor() + p[i]);
    }
  }
  void move_spent_to_available(Campaign& c, const Parts& p) {
    for (std::size_t i = 0; i < c.funders.size(); ++i) {
      c.funders[i].spent = Money(c.funders[i].spent.minor() - p[i]);
      c.funders[i].available = Money(c.funders[i].available.minor() + p[i]);
    }
  }
  static bool can_reserve(const Campaign& c, const Parts& p) {
    for (std::size_t i = 0; i < c.funders.size(); ++i) {
      if (c.funders[i].available.minor() < p[i]) return false;
    }
    return true;
  }

  // The parts of a coupon's full reservation R, and of its settled discount d.
  static const Parts& reservation_parts(const Campaign& c, const Coupon& k) {
    DANGOL_ASSERT(k.reserved == c.offer.reservation(), "a coupon reserves other than its campaign's reservation");
    return c.reservation_split();
  }
  static Parts discount_parts(const Campaign& c, const Coupon& k) {
    return split_proportional(k.discount, reservation_parts(c, k));
  }

  void add_committed(const Coupon& k, std::int64_t delta) {
    if (!k.merchant.valid()) return;
    auto& usage = s_.merchant_usages.get(k.campaign, k.merchant);
    usage.committed = Money(usage.committed.minor() + delta);
    mark_usage(k.campaign, k.merchant);
    DANGOL_ASSERT(usage.committed.minor() >= 0, "merchant committed amount went negative");
  }

  // ------------------------------------------------------------ clock and expiry

  void advance_clock_and_expire() {
    if (!s_.has_clock || s_.clock < ev_.occurred_at) s_.clock = ev_.occurred_at;
    s_.has_clock = true;

    std::vector<std::uint32_t>& due = due_;
    due.clear();
    s_.expiry_queue.pop_due(s_.clock.nanos(), [&](std::uint32_t k) {
      s_.coupons[k].in_expiry_queue = false;
      mark_coupon(k);
      if (s_.coupons[k].status == CouponStatus::kIssued) due.push_back(k);
    }, [&](std::uint32_t k) { __builtin_prefetch(&s_.coupons[k]); });
    if (due.empty()) return;
    std::sort(due.begin(), due.end(), [&](std::uint32_t a, std::uint32_t b) {
      const Coupon& ka = s_.coupons[a];
      const Coupon& kb = s_.coupons[b];
      return std::tie(ka.expires_at, ka.coupon_id) < std::tie(kb.expires_at, kb.coupon_id);
    });
    for (std::uint32_t k : due) {
      Coupon& coupon = s_.coupons[k];
      Campaign& c = campaign(coupon.campaign);
      release_coupon(c, k, CouponStatus::kExpired, ReleaseCause::kExpired);
      c.coupon_counts.expired++;
    }
  }

  void schedule_expiry(Coupon& k, std::uint32_t index) {
    const Campaign& c = campaign(k.campaign);
    auto deadline = k.expires_at.plus_seconds(c.grace_seconds);
    DANGOL_ASSERT(deadline.has_value(), "expiry deadline overflow");
    s_.expiry_queue.push(k.campaign.value, {deadline->nanos(), index});
    k.in_expiry_queue = true;
    mark_coupon(index);
  }

  // Returns an ISSUED coupon's whole reservation to available.
  void release_coupon(Campaign& c, std::uint32_t index, CouponStatus new_status, ReleaseCause cause) {
    Coupon& k = s_.coupons[index];
    DANGOL_ASSERT(k.status == CouponStatus::kIssued, "release of a coupon that holds no reservation");
    const Parts& parts = reservation_parts(c, k);
    move_reserved_to_available(c, parts);
    add_committed(k, -k.reserved.minor());
    k.status = new_status;
    mark_coupon(index);
    c.coupon_counts.outstanding--;
    touch(k.campaign);
    EffectRecord& e = effect(EffectKind::kReservationReleased, k.campaign);
    e.coupon = CouponIdx{index};
    e.merchant = k.merchant;
    e.amount = k.reserved.minor();
    e.parts = parts;
    e.cause = cause;
  }

  // ------------------------------------------------------------ campaigns

  void on(const CampaignDefinedEvent& e) {
    if (s_.campaign_ids.find(e.campaign_id).valid()) return reject(Reason::kCampaignExists);
    CampaignIdx idx = s_.campaign_ids.intern(e.campaign_id);
    DANGOL_ASSERT(idx.value == s_.campaigns.size(), "campaign index out of step");
    Campaign& c = s_.campaigns.emplace_back();
    c.campaign_id = e.campaign_id;
    c.name = e.name;
    c.currency = e.currency;
    c.starts_at = e.starts_at;
    c.ends_at = e.ends_at;
    c.utc_offset_minutes = e.utc_offset_minutes;
    for (const auto& f : e.funders) {
      c.funders.push_back({std::string(f.funder_id), f.share_bps, f.budget, f.budget, Money(0), Money(0), 0});
      c.shares_bps.push_back(f.share_bps);
    }
    for (auto m : e.market_ids) c.eligible_markets.insert(s_.market_ids.intern(m));
    for (auto m : e.merchant_ids) c.eligible_merchants.insert(intern_merchant(m));
    for (auto k : e.categories) c.eligible_categories.insert(s_.category_ids.intern(k));
    c.trigger = e.trigger;
    c.offer = e.offer;
    c.limits = e.limits;
    c.message_cash_per_merchant = e.message_cash_per_merchant;
    c.grace_seconds = e.grace_seconds;
    c.thresholds_bps = e.thresholds_bps;

    sorted_insert(s_.campaigns_by_id, idx, s_.campaign_ids);
    if (c.trigger == Trigger::kChannelAdded) sorted_insert(s_.welcome_campaigns, idx, s_.campaign_ids);
    if (c.message_cash_per_merchant.minor() > 0) sorted_insert(s_.message_cash_campaigns, idx, s_.campaign_ids);
    touch(idx);
    for (std::size_t i = 0; i < c.funders.size(); ++i) {
      EffectRecord& b = effect(EffectKind::kBudgetSet, idx);
      b.funder = static_cast<std::int32_t>(i);
      b.amount = c.funders[i].budget.minor();
    }
  }

  void on(const BudgetAdjustedEvent& e) {
    CampaignIdx idx = campaign_idx(e.campaign_id);
    if (!idx.valid()) return reject(Reason::kUnknownCampaign);
    Campaign& c = campaign(idx);
    auto funder = std::find_if(c.funders.begin(), c.funders.end(),
                               [&](const FunderAccount& f) { return f.funder_id == e.funder_id; });
    if (funder == c.funders.end()) return reject(Reason::kUnknownFunder, &c);
    if (c.status == CampaignStatus::kClosed) return reject(Reason::kCampaignClosed, &c);
    if (e.delta.minor() < 0 && funder->available.minor() < -e.delta.minor()) {
      return reject(Reason::kInsufficientAvailable, &c);
    }
    auto budget = funder->budget.checked_add(e.delta);
    auto available = funder->available.checked_add(e.delta);
    if (!budget || !available) {
      v_.outcome = Outcome::kInvalid;
      v_.reason = Reason::kInvalidEvent;
      v_.detail = "budgetAdjusted.delta: the budget would overflow";
      return;
    }
    funder->budget = *budget;
    funder->available = *available;
    touch(idx);
    EffectRecord& b = effect(EffectKind::kBudgetAdjusted, idx);
    b.funder = static_cast<std::int32_t>(funder - c.funders.begin());
    b.amount = e.delta.minor();
  }

  void on(const CampaignStatusChangedEvent& e) {
    CampaignIdx idx = campaign_idx(e.campaign_id);
    if (!idx.valid()) return reject(Reason::kUnknownCampaign);
    Campaign& c = campaign(idx);
    if (c.status == CampaignStatus::kClosed) return reject(Reason::kCampaignClosed, &c);
    c.status = e.status;
    mark_campaign(idx);
    if (e.status == CampaignStatus::kClosed) close_campaign(idx);
  }

  // Closing releases every outstanding reservation: coupons become VOID in
  // (expiresAt, couponId) order, then unused message cash in merchant-id order.
  void close_campaign(CampaignIdx idx) {
    Campaign& c = campaign(idx);
    std::vector<std::uint32_t> open;
    for (CouponIdx k : c.coupons) {
      if (s_.coupons[k.value].status == CouponStatus::kIssued) open.push_back(k.value);
    }
    std::sort(open.begin(), open.end(), [&](std::uint32_t a, std::uint32_t b) {
      return std::tie(s_.coupons[a].expires_at, s_.coupons[a].coupon_id) <
             std::tie(s_.coupons[b].expires_at, s_.coupons[b].coupon_id);
    });
    for (std::uint32_t k : open) {
      release_coupon(c, k, CouponStatus::kVoid, ReleaseCause::kClosed);
      c.coupon_counts.voided++;
    }
    std::vector<MerchantIdx> cash_holders;
    for (const auto& [m, account] : c.message_cash) {
      if (account.remaining.sum() > 0) cash_holders.push_back(m);
    }
    std::sort(cash_holders.begin(), cash_holders.end(),
              [&](MerchantIdx a, MerchantIdx b) { return merchant_name(a) < merchant_name(b); });
    for (MerchantIdx m : cash_holders) {
      MessageCashAccount& account = c.message_cash[m];
      Parts parts = account.remaining;
      move_reserved_to_available(c, parts);
      account.remaining = subtract(parts, parts);
      mark_cash(idx, m);
      touch(idx);
      EffectRecord& e = effect(EffectKind::kReservationReleased, idx);
      e.merchant = m;
      e.amount = parts.sum();
      e.parts = parts;
      e.cause = ReleaseCause::kClosed;
    }
  }

  // ------------------------------------------------------------ merchants and channels

  MerchantIdx intern_merchant(std::string_view id) {
    MerchantIdx m = s_.merchant_ids.intern(id);
    if (m.value >= s_.merchants.size()) s_.merchants.resize(m.value + 1);
    return m;
  }

  const Merchant* enrolled_merchant(std::string_view id) const {
    MerchantIdx m = s_.merchant_ids.find(id);
    if (!m.valid() || !s_.merchants[m.value].enrolled) return nullptr;
    return &s_.merchants[m.value];
  }

  bool is_eligible(const Campaign& c, MerchantIdx m) const {
    if (!m.valid()) return false;
    std::uint8_t& known = c.known_eligibility(m);
    if (known != 0) return known == 2;
    const Merchant& merchant = s_.merchants[m.value];
    if (!merchant.enrolled) return false;  // not remembered: the merchant may enroll later
    const bool eligible = (c.eligible_markets.empty() || c.eligible_markets.contains(merchant.market)) &&
                          (c.eligible_merchants.empty() || c.eligible_merchants.contains(m)) &&
                          (c.eligible_categories.empty() || c.eligible_categories.contains(merchant.category));
    known = eligible ? 2 : 1;
    return eligible;
  }

  void on(const MerchantEnrolledEvent& e) {
    MerchantIdx m = intern_merchant(e.merchant_id);
    Merchant& merchant = s_.merchants[m.value];
    MarketIdx market = s_.market_ids.intern(e.market_id);
    CategoryIdx category = s_.category_ids.intern(e.category);
    if (merchant.enrolled) {
      if (merchant.market != market || merchant.category != category) reject(Reason::kMerchantExists);
      return;
    }
    merchant.enrolled = true;
    merchant.market = market;
    merchant.category = category;
    mark_merchant(m);
  }

  void on(const ChannelOpenedEvent& e) {
    MerchantIdx m = s_.merchant_ids.find(e.merchant_id);
    if (!m.valid() || !s_.merchants[m.value].enrolled) return reject(Reason::kMerchantNotEnrolled);
    Merchant& merchant = s_.merchants[m.value];
    if (merchant.has_channel) return reject(Reason::kChannelExists);
    merchant.has_channel = true;
    merchant.channel_id = e.channel_id;
    mark_merchant(m);
  }

  static std::uint64_t friendship_key(MerchantIdx m, CustomerIdx u) {
    return (std::uint64_t{m.value} << 32) | u.value;
  }

  void on(const ChannelAddedEvent& e) {
    MerchantIdx m = s_.merchant_ids.find(e.merchant_id);
    if (!m.valid() || !s_.merchants[m.value].enrolled) return reject(Reason::kMerchantNotEnrolled);
    if (!s_.merchants[m.value].has_channel) return reject(Reason::kNoChannel);
    CustomerIdx u = s_.customer_ids.intern(keys_.customer, e.customer_id);
    if (!s_.friendships.insert(friendship_key(m, u)).second) return reject(Reason::kAlreadyFriend);
    mark(&ChangeLog::friendships, FriendshipChange{friendship_key(m, u), /*added=*/true});
    s_.merchants[m.value].friends++;
    s_.merchants[m.value].friend_adds++;
    mark_merchant(m);
    grant_welcome_coupons(m, u);
  }

  void on(const ChannelBlockedEvent& e) {
    MerchantIdx m = s_.merchant_ids.find(e.merchant_id);
    if (!m.valid() || !s_.merchants[m.value].has_channel) return reject(Reason::kNoChannel);
    CustomerIdx u = s_.customer_ids.find(e.customer_id);
    if (!u.valid() || s_.friendships.erase(friendship_key(m, u)) == 0) return reject(Reason::kNotFriend);
    mark(&ChangeLog::friendships, FriendshipChange{friendship_key(m, u), /*added=*/false});
    s_.merchants[m.value].friends--;
    mark_merchant(m);
  }

  // ------------------------------------------------------------ grants

  // The entries of a campaign's usage maps that a grant updates, as
  // grant_refusal() found them, so that grant() does not look them up again.
  struct GrantUsage {
    MerchantUsage* merchant = nullptr;  // the usage of (campaign, m), if there and looked up
    std::int64_t day = 0;               // the event's local day
    Money* today = nullptr;             // c.granted_by_local_day[day], if there and looked up
  };

  // Checks 2–8 of DESIGN §3 "Granting a coupon" (check 1 is the caller's,
  // since welcome grants only ever try active CHANNEL_ADDED campaigns).
  // Changes nothing; fills *found for grant().
  Reason grant_refusal(Campaign& c, CampaignIdx idx, MerchantIdx m, bool merchant_given, CustomerIdx u,
                       GrantUsage* found) const {
    const Money r = c.offer.reservation();
    if (merchant_given) {
      if (!m.valid()) return Reason::kMerchantNotEnrolled;
      // Eligibility is remembered for enrolled merchants only (is_eligible),
      // so a remembered answer skips the merchant's record, a cache miss at
      // scale.
      const std::uint8_t known = c.known_eligibility(m);
      if (known == 0 && !s_.merchants[m.value].enrolled) return Reason::kMerchantNotEnrolled;
      if (known == 1 || (known == 0 && !is_eligible(c, m))) return Reason::kMerchantNotEligible;
    }
    if (c.trigger == Trigger::kChannelAdded && s_.welcomed.contains({idx.value, m.value, u.value})) {
      return Reason::kAlreadyWelcomed;
    }
    const LimitTerms& lim = c.limits;
    if (lim.per_customer > 0 && s_.customer_grants.count(idx, u) >= lim.per_customer) return Reason::kCustomerLimit;
    const MerchantUsage* usage = nullptr;
    if (merchant_given) {
      usage = found->merchant = s_.merchant_usages.find(idx, m);
    }
    if (merchant_given && lim.per_merchant_count > 0 && usage && usage->granted_count >= lim.per_merchant_count) {
      return Reason::kMerchantCountLimit;
    }
    if (lim.total_count > 0 && c.granted_total >= lim.total_count) return Reason::kTotalCountLimit;
    if (merchant_given && lim.per_merchant_amount.minor() > 0) {
      std::int64_t committed = usage ? usage->committed.minor() : 0;
      if (committed + r.minor() > lim.per_merchant_amount.minor()) return Reason::kMerchantAmountLimit;
    }
    found->day = local_day(c, ev_.occurred_at);
    if (lim.daily_amount.minor() > 0) {
      auto it = c.granted_by_local_day.find(found->day);
      std::int64_t today = 0;
      if (it != c.granted_by_local_day.end()) {
        found->today = &it->second;
        today = it->second.minor();
      }
      if (today + r.minor() > lim.daily_amount.minor()) return Reason::kDailyAmountLimit;
    }
    if (!can_reserve(c, c.reservation_split())) return Reason::kBudgetExhausted;
    return Reason::kNone;
  }

  // Makes the coupon: R moves available -> reserved per funder. `found` is
  // what grant_refusal() found, with nothing inserted into c's maps since.
  void grant(CampaignIdx idx, std::string_view coupon_id, EventIdKey coupon_key, MerchantIdx m, CustomerIdx u,
             bool welcome, const GrantUsage& found) {
    Campaign& c = campaign(idx);
    Money r = c.offer.reservation();
    const Parts& parts = c.reservation_split();
    move_available_to_reserved(c, parts);
    auto expires_at = ev_.occurred_at.plus_seconds(std::int64_t{c.offer.valid_days} * kSecondsPerDay);
    DANGOL_ASSERT(expires_at.has_value(), "expiresAt overflow");

    auto index = static_cast<std::uint32_t>(s_.coupons.size());
    Coupon& k = s_.coupons.emplace_back(std::string(coupon_id));  // constructed, not assigned: fewer instructions
    k.campaign = idx;
    k.merchant = m;
    k.customer = u;
    k.welcome = welcome;
    k.reserved = r;
    k.issued_at = ev_.occurred_at;
    k.expires_at = *expires_at;
    const bool indexed = s_.index_coupon(index, coupon_key);
    DANGOL_ASSERT(indexed, "granted a coupon id twice");
    mark_coupon(index);
    schedule_expiry(k, index);

    c.coupons.push_back(CouponIdx{index});
    c.granted_total++;
    c.coupon_counts.granted++;
    c.coupon_counts.outstanding++;
    s_.customer_grants.add(idx, u);
    mark(&ChangeLog::customer_grants, CustomerGrants::key(idx, u));
    if (m.valid()) {
      MerchantUsage& usage = found.merchant != nullptr ? *found.merchant : s_.merchant_usages.get(idx, m);
      usage.granted_count++;
      usage.committed = Money(usage.committed.minor() + r.minor());
      mark_usage(idx, m);
    }
    Money& today = found.today != nullptr ? *found.today : c.granted_by_local_day[found.day];
    today = Money(today.minor() + r.minor());
    mark(&ChangeLog::daily_totals, DailyTotalKey{idx.value, found.day});
    if (welcome) {
      const std::array<std::uint32_t, 3> triple{idx.value, m.value, u.value};
      if (s_.welcomed.insert(triple).second) mark(&ChangeLog::welcomed, triple);
      s_.merchants[m.value].welcome_granted++;
      mark_merchant(m);
    }
    touch(idx);

    EffectRecord& g = effect(EffectKind::kCouponGranted, idx);
    g.coupon = CouponIdx{index};
    g.merchant = m;
    g.amount = r.minor();
    g.parts = parts;
  }

  void grant_welcome_coupons(MerchantIdx m, CustomerIdx u) {
    for (CampaignIdx idx : s_.welcome_campaigns) {
      Campaign& c = campaign(idx);
      if (!is_active(c, ev_.occurred_at) || !is_eligible(c, m)) continue;
      std::string coupon_id = std::string(ev_.event_id) + "/" + c.campaign_id;
      const EventIdKey coupon_key = event_id_key(coupon_id);
      GrantUsage found;
      Reason refusal = s_.find_coupon(coupon_key, coupon_id) != CouponIdx::kNone
                           ? Reason::kCouponExists
                           : grant_refusal(c, idx, m, true, u, &found);
      if (refusal == Reason::kNone) {
        grant(idx, coupon_id, coupon_key, m, u, /*welcome=*/true, found);
        continue;
      }
      count_rejection(idx, c, refusal);
      effect(EffectKind::kGrantRejected, idx).reason = refusal;
    }
  }

  // The two commonest handlers stay out of line: GCC inlined them into
  // Engine::decide at times, whose every call then saved and restored their
  // registers, about 35 instructions an event (engine_instructions.sh).
  [[gnu::noinline]] void on(const CouponIssuedEvent& e) {
    std::string_view coupon_id = e.coupon_id.value_or(ev_.event_id);  // keys_.coupon is its key
    if (s_.find_coupon(keys_.coupon, coupon_id) != CouponIdx::kNone) {
      return reject(Reason::kCouponExists, find_campaign(e.campaign_id));
    }
    CampaignIdx idx = campaign_idx(e.campaign_id);
    if (!idx.valid()) return reject(Reason::kUnknownCampaign);
    Campaign& c = campaign(idx);
    if (c.trigger != Trigger::kIssued) return reject(Reason::kWrongTrigger, &c);
    if (!is_active(c, ev_.occurred_at)) return reject(Reason::kCampaignNotActive, &c);
    MerchantIdx m = e.merchant_id ? s_.merchant_ids.find(keys_.merchant, *e.merchant_id) : MerchantIdx{};
    CustomerIdx u = s_.customer_ids.find(keys_.customer, e.customer_id);
    GrantUsage found;
    Reason refusal = grant_refusal(c, idx, m, e.merchant_id.has_value(), u, &found);
    if (refusal != Reason::kNone) return reject(refusal, &c);
    if (!u.valid()) u = s_.customer_ids.add(keys_.customer, e.customer_id);
    grant(idx, coupon_id, keys_.coupon, m, u, /*welcome=*/false, found);
  }

  Campaign* find_campaign(std::string_view id) {
    CampaignIdx idx = campaign_idx(id);
    return idx.valid() ? &campaign(idx) : nullptr;
  }

  // ------------------------------------------------------------ redemption and reversal

  static Money computed_discount(const OfferTerms& offer, Money order) {
    if (offer.percent_bps == 0) return std::min(offer.fixed_amount, order);
    // Orders are at most 10^15 won and percentBps at most 10^4, so the
    // product fits 64 bits (a 128-bit division is a library call).
    std::uint64_t product;
    const bool overflow = __builtin_mul_overflow(static_cast<std::uint64_t>(order.minor()),
                                                 static_cast<std::uint64_t>(offer.percent_bps), &product);
    DANGOL_ASSERT(!overflow && order.minor() >= 0 && offer.percent_bps >= 0, "discount out of range");
    const auto pct = static_cast<std::int64_t>(product / kBpsWhole);
    return Money(std::min(pct, offer.max_discount.minor()));
  }

  [[gnu::noinline]] void on(const CouponRedeemedEvent& e) {  // out of line: see on(CouponIssuedEvent)
    const std::uint32_t index = s_.find_coupon(keys_.coupon, e.coupon_id);
    if (index == CouponIdx::kNone) return reject(Reason::kUnknownCoupon);
    Coupon* k = &s_.coupons[index];
    Campaign& c = campaign(k->campaign);
    if (c.status == CampaignStatus::kClosed) return reject(Reason::kCampaignClosed, &c);
    if (k->status == CouponStatus::kExpired || ev_.occurred_at > k->expires_at) return reject(Reason::kExpired, &c);
    if (k->status != CouponStatus::kIssued) return reject(Reason::kCouponNotActive, &c);
    MerchantIdx m = s_.merchant_ids.find(keys_.merchant, e.merchant_id);
    bool right_merchant = k->merchant.valid() ? k->merchant == m : is_eligible(c, m);
    if (!right_merchant) return reject(Reason::kWrongMerchant, &c);
    if (e.order_amount < c.offer.min_order_amount) return reject(Reason::kBelowMinOrder, &c);
    Money d = computed_discount(c.offer, e.order_amount);
    if (e.discount && *e.discount != d) return reject(Reason::kDiscountMismatch, &c);

    const Parts& reserved = reservation_parts(c, *k);
    Parts spent = split_proportional(d, reserved);
    Parts released = subtract(reserved, spent);
    move_reserved_to_spent(c, spent);
    move_reserved_to_available(c, released);
    add_committed(*k, -(k->reserved.minor() - d.minor()));
    k->status = CouponStatus::kRedeemed;
    k->discount = d;
    k->redeemed_at = m;
    mark_coupon(index);
    c.coupon_counts.outstanding--;
    c.coupon_counts.redeemed++;
    if (k->welcome) {
      s_.merchants[m.value].welcome_redeemed++;
      mark_merchant(m);
    }
    touch(k->campaign);

    EffectRecord& r = effect(EffectKind::kRedemptionSettled, k->campaign);
    r.coupon = CouponIdx{index};
    r.merchant = m;
    r.order_amount = e.order_amount.minor();
    r.amount = d.minor();
    r.parts = spent;
    r.other_parts = released;
  }

  // A reversal restores the coupon when it could still be used and every
  // funder can re-reserve its released part; otherwise the coupon is void
  // and only the discount returns. We also refuse a restore that would push
  // the merchant past perMerchantAmount (DESIGN §4: every limit holds at every
  // step), since the released headroom may have been granted to others.
  bool can_restore(const Campaign& c, const Coupon& k, const Parts& released) const {
    if (s_.clock > k.expires_at || c.status == CampaignStatus::kClosed) return false;
    if (!can_reserve(c, released)) return false;
    if (k.merchant.valid() && c.limits.per_merchant_amount.minor() > 0) {
      const MerchantUsage* usage = s_.merchant_usages.find(k.campaign, k.merchant);
      std::int64_t committed = usage == nullptr ? 0 : usage->committed.minor();
      if (committed + released.sum() > c.limits.per_merchant_amount.minor()) return false;
    }
    return true;
  }

  void on(const RedemptionReversedEvent& e) {
    const std::uint32_t index = s_.find_coupon(keys_.coupon, e.coupon_id);
    if (index == CouponIdx::kNone) return reject(Reason::kUnknownCoupon);
    Coupon* k = &s_.coupons[index];
    Campaign& c = campaign(k->campaign);
    if (k->status != CouponStatus::kRedeemed) return reject(Reason::kCouponNotRedeemed, &c);
    if (s_.merchant_ids.find(keys_.merchant, e.merchant_id) != k->redeemed_at) {
      return reject(Reason::kWrongMerchant, &c);
    }

    const Parts& reserved = reservation_parts(c, *k);
    Parts spent = split_proportional(k->discount, reserved);
    Parts released = subtract(reserved, spent);
    bool restored = can_restore(c, *k, released);
    if (k->welcome) {
      s_.merchants[k->redeemed_at.value].welcome_redeemed--;
      mark_merchant(k->redeemed_at);
    }
    mark_coupon(index);
    c.coupon_counts.redeemed--;
    touch(k->campaign);

    EffectRecord& r = effect(EffectKind::kRedemptionReversed, k->campaign);
    r.coupon = CouponIdx{index};
    r.restored = restored;
    r.parts = spent;
    if (restored) {
      move_spent_to_reserved(c, spent);
      move_available_to_reserved(c, released);
      add_committed(*k, released.sum());
      k->status = CouponStatus::kIssued;
      c.coupon_counts.outstanding++;
      if (!k->in_expiry_queue) schedule_expiry(*k, index);
      r.other_parts = released;
    } else {
      move_spent_to_available(c, spent);
      add_committed(*k, -k->discount.minor());
      k->status = CouponStatus::kVoid;
      c.coupon_counts.voided++;
      r.other_parts = subtract(released, released);
    }
    k->discount = Money(0);
    k->redeemed_at = MerchantIdx{};
  }

  // ------------------------------------------------------------ message cash

  void on(const MessageSentEvent& e) {
    MerchantIdx m = s_.merchant_ids.find(e.merchant_id);
    if (!m.valid() || !s_.merchants[m.value].enrolled) return reject(Reason::kMerchantNotEnrolled);
    if (!s_.merchants[m.value].has_channel) return reject(Reason::kNoChannel);
    Merchant& merchant = s_.merchants[m.value];
    merchant.messages++;
    merchant.recipients += e.recipients;
    mark_merchant(m);

    std::int64_t uncovered = e.cost.minor();
    for (CampaignIdx idx : s_.message_cash_campaigns) {
      Campaign& c = campaign(idx);
      if (!is_active(c, ev_.occurred_at) || !is_eligible(c, m)) continue;
      auto account = c.message_cash.find(m);
      if (account == c.message_cash.end()) {
        account = grant_message_cash(idx, c, m);
        if (account == c.message_cash.end()) continue;
      }
      std::int64_t charge = std::min(uncovered, account->second.remaining.sum());
      if (charge == 0) continue;
      Parts parts = split_proportional(Money(charge), account->second.remaining);
      move_reserved_to_spent(c, parts);
      account->second.remaining = subtract(account->second.remaining, parts);
      mark_cash(idx, m);
      uncovered -= charge;
      touch(idx);
      write_message_charged(idx, m, charge, parts);
    }
    if (uncovered > 0) {
      merchant.message_cost_self_paid = Money(merchant.message_cost_self_paid.minor() + uncovered);
      write_message_charged(CampaignIdx{}, m, uncovered, Parts{});
    }
  }

  using CashIt = absl::flat_hash_map<MerchantIdx, MessageCashAccount>::iterator;

  CashIt grant_message_cash(CampaignIdx idx, Campaign& c, MerchantIdx m) {
    Parts parts = split_by_shares(c.message_cash_per_merchant, c.shares_bps);
    if (!can_reserve(c, parts)) {
      count_rejection(idx, c, Reason::kBudgetExhausted);
      effect(EffectKind::kGrantRejected, idx).reason = Reason::kBudgetExhausted;
      return c.message_cash.end();
    }
    move_available_to_reserved(c, parts);
    touch(idx);
    mark_cash(idx, m);
    EffectRecord& g = effect(EffectKind::kMessageCashGranted, idx);
    g.merchant = m;
    g.amount = c.message_cash_per_merchant.minor();
    g.parts = parts;
    return c.message_cash.emplace(m, MessageCashAccount{parts}).first;
  }

  // A charge to campaign `idx`, or to the merchant itself when idx is none.
  void write_message_charged(CampaignIdx idx, MerchantIdx m, std::int64_t amount, const Parts& parts) {
    EffectRecord& ch = effect(EffectKind::kMessageCharged, idx);
    ch.merchant = m;
    ch.amount = amount;
    ch.parts = parts;
  }

  // ------------------------------------------------------------ alerts and checks

  // After the event, one pass over the funders of the campaigns it touched:
  // each ledger is asserted (budget = available + reserved + spent, none
  // negative), and each funder whose usage reached a threshold for the
  // first time gets a thresholdCrossed effect, last, in (campaign id,
  // funder, bps) order.
  void finish_touched_ledgers() {
    if (touched_.size() > 1) {
      std::sort(touched_.begin(), touched_.end(), [&](CampaignIdx a, CampaignIdx b) {
        return s_.campaign_ids.name(a) < s_.campaign_ids.name(b);
      });
    }
    for (CampaignIdx idx : touched_) {
      Campaign& c = campaign(idx);
      for (std::size_t i = 0; i < c.funders.size(); ++i) {
        FunderAccount& f = c.funders[i];
        DANGOL_ASSERT(f.available.minor() >= 0 && f.reserved.minor() >= 0 && f.spent.minor() >= 0,
                      "a funder balance went negative");
        DANGOL_ASSERT(f.budget.minor() == f.available.minor() + f.reserved.minor() + f.spent.minor(),
                      "budget != available + reserved + spent");
        // Thresholds ascend, and the crossed ones are always the lowest
        // (each pass marks every threshold it finds reached): the search
        // starts at the first one not crossed and ends at the first one
        // not reached.
        for (auto t = static_cast<std::size_t>(std::countr_one(f.crossed_thresholds)); t < c.thresholds_bps.size();
             ++t) {
          if (!threshold_reached(f, c.thresholds_bps[t])) break;
          f.crossed_thresholds |= 1u << t;
          EffectRecord& x = effect(EffectKind::kThresholdCrossed, idx);
          x.funder = static_cast<std::int32_t>(i);
          x.amount = c.thresholds_bps[t];
        }
      }
    }
  }

  State& s_;
  ChangeLog* log_;
  const Event& ev_;
  const IdKeys& keys_;
  Verdict& v_;
  std::vector<std::uint32_t>& due_;  // expiry scratch, reused across events
  CampaignIdx& last_campaign_;       // campaign_idx()'s guess, kept across events
  absl::InlinedVector<CampaignIdx, 4> touched_;
};

}  // namespace

namespace {
google::protobuf::ArenaOptions slot_options(char* block, std::size_t bytes) {
  google::protobuf::ArenaOptions options;
  options.initial_block = block;
  options.initial_block_size = bytes;
  return options;
}
}  // namespace

DecisionSlot::DecisionSlot()
    : initial_block_(new char[kInitialBlockBytes]),
      arena_(slot_options(initial_block_.get(), kInitialBlockBytes)) {}

v1::Decision* DecisionSlot::fresh() {
  arena_.Reset();
  return google::protobuf::Arena::CreateMessage<v1::Decision>(&arena_);
}

Engine::Engine(std::int32_t shard) { state_.shard = shard; }

void Engine::track_changes(bool on) {
  tracking_changes_ = on;
  clear_changes();
}

void Engine::clear_changes() { changes_.clear(state_); }

const Verdict& Engine::decide(const v1::Envelope& in) { return decide(in, nullptr); }

const Verdict& Engine::decide(const v1::Envelope& in, const IdKeys* keys) {
  verdict_.reset(state_.next_seq++);
  Event& event = scratch_.event;
  if (!decode_envelope(in, &event, &verdict_.detail)) {
    verdict_.outcome = Outcome::kInvalid;
    verdict_.reason = Reason::kInvalidEvent;
  } else {
    IdKeys own;
    const IdKeys& ids = keys != nullptr ? *keys : (own = id_keys(event));
    const std::uint64_t content = content_hash(event, ids, &scratch_.canonical);
    auto [seen_content, first_time] = state_.seen_events.try_emplace(ids.event, content);
    if (!first_time) {
      if (*seen_content == content || *seen_content == legacy_content_hash(event, &scratch_.canonical)) {
        verdict_.outcome = Outcome::kDuplicate;
      } else {
        verdict_.outcome = Outcome::kRejected;
        verdict_.reason = Reason::kEventIdConflict;
        verdict_.detail = "eventId was seen before with other content";
      }
    } else {
      Step(state_, tracking_changes_ ? &changes_ : nullptr, event, ids, verdict_, scratch_.due, scratch_.last_campaign)
          .run();
    }
  }
  // Each part of the decision takes a seq (CONTRACT §3 "Parts").
  state_.next_seq += verdict_.parts() - 1;
  state_.outcomes[static_cast<std::size_t>(verdict_.outcome)]++;
  changes_.meta = tracking_changes_;
  return verdict_;
}

void Engine::prefetch_for(const v1::Envelope& in, IdKeys* keys) const {
  keys->event = event_id_key(in.event_id());
  state_.seen_events.prefetch(keys->event);
  // A redemption and its reversal name a coupon and a merchant.
  auto coupon_at_merchant = [&](const std::string& coupon_id, const std::string& merchant_id) {
    keys->coupon = event_id_key(coupon_id);
    state_.coupon_index.prefetch(keys->coupon.low);
    keys->merchant = id_hash(merchant_id);
    state_.merchant_ids.prefetch(keys->merchant);
  };
  switch (in.payload_case()) {
    case v1::Envelope::kCouponIssued: {
      const auto& p = in.coupon_issued();
      keys->customer = id_hash(p.customer_id());
      state_.customer_ids.prefetch(keys->customer);
      // Without a couponId the coupon is named by the event id.
      keys->coupon = p.has_coupon_id() ? event_id_key(p.coupon_id()) : keys->event;
      state_.coupon_index.prefetch(keys->coupon.low);
      if (p.has_merchant_id()) {
        keys->merchant = id_hash(p.merchant_id());
        state_.merchant_ids.prefetch(keys->merchant);
      }
      break;
    }
    case v1::Envelope::kCouponRedeemed:
      coupon_at_merchant(in.coupon_redeemed().coupon_id(), in.coupon_redeemed().merchant_id());
      break;
    case v1::Envelope::kRedemptionReversed:
      coupon_at_merchant(in.redemption_reversed().coupon_id(), in.redemption_reversed().merchant_id());
      break;
    case v1::Envelope::kChannelAdded:
      keys->customer = id_hash(in.channel_added().customer_id());
      state_.customer_ids.prefetch(keys->customer);
      break;
    default: break;
  }
}

void Engine::apply(const v1::Envelope& in, Position position, v1::Decision* out) {
  decide(in);
  encode_decision(state_, verdict_, in, position, out);
}

}  // namespace dangol
