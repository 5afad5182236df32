// Deterministic event streams for `campaignctl simulate` (CONTRACT §4).
//
// Both generators draw from one splitmix64 stream seeded by --seed and use
// integer arithmetic only, so a seed gives the same bytes everywhere. Every
// event is built as a dangol.v1.Envelope and printed by write_line().
// Timestamps are whole seconds chosen on KST (+09:00) business hours; the
// protobuf JSON mapping prints them in UTC ("...Z").
//
// ---------------------------------------------------------------- pilot
// Market "mkt-mangwon", 70 merchants m-001..m-070, 62 of them open a channel.
// Campaign "welcome-mangwon-2023" (defined first): CHANNEL_ADDED, 2,000 KRW
// fixed welcome coupon (min order 10,000, 30 days), 10,000 KRW message cash
// per merchant, platform + government 1+1 (6,000,000 each). No limit and no
// budget ever bites: every customer befriends at most 5 stores (perCustomer
// 5), no store reaches 200 coupons, and grants + cash stay under 12,000,000.
// Per channel merchant, customers c-0001..c-2600 (in total):
//   4,040 keepers/re-adders  add once (net friends; 4,040 exactly)
//     50 of them             block later and add again (ALREADY_WELCOMED)
//   150 leavers              add, then block for good
//   12 keepers add again (ALREADY_FRIEND), 9 leavers block again
//   (NOT_FRIEND), one add at each of the 8 stores without a channel
//   (NO_CHANNEL): rejected, so the figures do not move.
// 361 messageSent (5 or more per channel merchant, 20 KRW per recipient, to
// its current friends), and about 18 % of welcome coupons redeemed at their
// store within 20 days by id "<channelAdded eventId>/welcome-mangwon-2023".
// All actions get times March..August 2023, are sorted, then made strictly
// increasing and numbered pilot-000001...
//
// ---------------------------------------------------------------- festival
// Campaign "buy-local-2023-09", ISSUED, government + private 50/50, 10 % up
// to 5,000 KRW (the reservation R), min order 10,000, 3 valid days, 2 coupons
// per customer, active 2023-09-01..09-11 KST. With E = `events`:
//   setup (2023-08-31): campaignDefined, E/40 merchants (8..25,000) in
//     E/8000 markets (3..111) plus 2 % in "mkt-outside", which the campaign
//     does not cover; one same-data re-enrollment (APPLIED) and one with
//     other data (MERCHANT_EXISTS).
//   bulk: the other lines over 10 days of 08:00-22:00 KST, weighted
//     22,13,10,9,9,8,8,7,7,7 %. Day 1 is 70 % claims, later days 52 %; the
//     rest are redemptions of remembered coupons (orders 10,000..500,000 in
//     steps of 100, discount field on half of them).
//   limits: dailyAmount admits about 75 % of day 1's claims (DAILY_AMOUNT_
//     LIMIT that evening); perMerchantAmount is reached by one "hot" stall
//     (m-00001) early on day 1 (MERCHANT_AMOUNT_LIMIT); the initial budget
//     runs out on day 2 or 3 (BUDGET_EXHAUSTED), and E/50 lines later both
//     funders get a top-up (budgetAdjusted) covering the rest of the stream.
//   day 6: a pause (claims get CAMPAIGN_NOT_ACTIVE) and a resume.
//   about 5.5 % special lines, each kind at a fixed rate and at least once:
//     soon reversals (restored), reversals after expiry (void), redemptions
//     after expiry (EXPIRED), below minimum, wrong merchant, wrong discount,
//     twice (COUPON_NOT_ACTIVE), unknown coupon, reversal of an unredeemed
//     coupon, third claims (CUSTOMER_LIMIT), a taken couponId (COUPON_EXISTS),
//     unknown campaign, unenrolled and ineligible merchants, re-sent events
//     (DUPLICATE), reused event ids (EVENT_ID_CONFLICT), and INVALID ones
//     (negative orderAmount, missing customerId).
// Coupons expire from day 4 (reservationReleased EXPIRED). At E = 1,000,000
// about 475,000 coupons are granted.
//
// To aim redemptions and reversals at real coupons, the festival generator
// keeps a small exact model of the campaign ledger (DESIGN §3 for this one
// campaign): it knows which claims the engine grants, and what each funder
// has available. Every amount it produces is even, so 50/50 splits never
// need a remainder. Its memory: bounded pools of coupons and customers, and
// one 16-byte record per coupon granted in the last validDays + grace (a
// few MB at E = 1,000,000); no event is buffered.

#include "services/campaignctl/simulate.h"


#include <algorithm>
#include <array>
#include <cstdio>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dangol.pb.h"
#include "engine/assert.h"
#include "proto/json_codec.h"

namespace dangol::simulate {
namespace {

namespace v1 = ::dangol::v1;

constexpr std::int64_t kDay = 86400;
constexpr std::int64_t kHour = 3600;
constexpr std::int64_t kKstOffset = 9 * kHour;

// The one place an Envelope becomes a JSON line. To be swapped for
// dangol::json::append_envelope, whose output is identical.
void write_line(std::ostream& out, const v1::Envelope& envelope, std::string& buffer) {
  buffer.clear();
  json::append_envelope(envelope, &buffer);
  buffer.push_back('\n');
  out.write(buffer.data(), static_cast<std::streamsize>(buffer.size()));
}

// splitmix64: tiny, fast, well mixed, and fully specified, unlike the
// std:: distributions whose output differs between standard libraries.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) by multiply-shift; the bias (below n / 2^64) does not
  // matter here, and it is the same on every machine.
  std::int64_t below(std::int64_t n) {
    return static_cast<std::int64_t>((static_cast<unsigned __int128>(next()) * static_cast<std::uint64_t>(n)) >> 64);
  }
  // Uniform in [lo, hi].
  std::int64_t between(std::int64_t lo, std::int64_t hi) { return lo + below(hi - lo + 1); }
  bool percent(int p) { return below(100) < p; }

 private:
  std::uint64_t state_;
};

std::string numbered(std::string_view prefix, std::int64_t n, int width) {
  char digits[32];
  std::snprintf(digits, sizeof digits, "%0*lld", width, static_cast<long long>(n));
  std::string s(prefix);
  s += digits;
  return s;
}

void set_time(google::protobuf::Timestamp* ts, std::int64_t unix_seconds) { ts->set_seconds(unix_seconds); }

// Unix seconds of 00:00 KST on a day given as days since 1970-01-01 (KST).
constexpr std::int64_t kst_midnight(std::int64_t day) { return day * kDay - kKstOffset; }

// ================================================================== pilot

namespace pilot_plan {
constexpr std::string_view kMarket = "mkt-mangwon";
constexpr std::string_view kCampaign = "welcome-mangwon-2023";
constexpr int kMerchants = 70;
constexpr int kChannels = 62;
constexpr int kNetFriends = 4040;
constexpr int kMessages = 361;
constexpr int kReAdders = 50;
constexpr int kLeavers = 150;
constexpr int kAlreadyFriend = 12;
constexpr int kNotFriend = 9;
constexpr int kCustomers = 2600;
constexpr int kStoresPerCustomer = 5;
constexpr std::int64_t kWelcomeAmount = 2000;
constexpr std::int64_t kMinOrder = 10000;
constexpr int kValidDays = 30;
constexpr std::int64_t kUnitCost = 20;
constexpr int kRedeemPercent = 18;
constexpr std::array<std::string_view, 8> kCategories = {"produce",   "fish",  "meat",     "side-dish",
                                                         "rice-cake", "snack", "clothing", "goods"};
// 2023-03-02 (KST) as days since the epoch; the pilot runs from there.
constexpr std::int64_t kFirstDay = 19418;
constexpr std::int64_t kStart = kst_midnight(kFirstDay) + 9 * kHour;
constexpr std::int64_t kFriendsUntil = kst_midnight(kFirstDay + 120) + 22 * kHour;   // 2023-06-30
constexpr std::int64_t kMessagesUntil = kst_midnight(kFirstDay + 151) + 20 * kHour;  // 2023-07-31
}  // namespace pilot_plan

enum class PilotKind : std::uint8_t { kDefine, kEnroll, kOpen, kAdd, kBlock, kMessage, kRedeem };

struct PilotAction {
  std::int64_t at = 0;
  std::int32_t order = 0;  // creation order: among equal times, causes first
  PilotKind kind = PilotKind::kDefine;
  std::int32_t merchant = 0;
  std::int32_t customer = 0;
  std::int32_t granting_add = -1;  // kRedeem: order of the channelAdded that granted the coupon
  std::int64_t order_amount = 0;
  bool with_discount = false;
};

// Splits `total` into `bins` counts of at least `floor_each`, the rest
// dealt one unit at a time to random bins.
std::vector<int> deal(Rng& rng, int total, int bins, int floor_each) {
  std::vector<int> counts(static_cast<std::size_t>(bins), floor_each);
  for (int left = total - bins * floor_each; left > 0; --left) ++counts[static_cast<std::size_t>(rng.below(bins))];
  return counts;
}

class PilotBuilder {
 public:
  explicit PilotBuilder(std::uint64_t seed) : rng_(seed ^ 0x70696c6f74ULL) {}

  std::vector<PilotAction> build() {
    using namespace pilot_plan;
    add({kStart, 0, PilotKind::kDefine});
    for (int m = 0; m < kMerchants; ++m) add({kStart + kHour + m * 300, 0, PilotKind::kEnroll, m});
    choose_channels();
    plan_friends();
    plan_rejected_attempts();
    plan_messages();
    return std::move(actions_);
  }

 private:
  struct Friendship {
    int merchant, customer, add_order;
    std::int64_t added_at, blocked_at;  // blocked_at 0: still a friend
  };

  int add(PilotAction a) {
    a.order = static_cast<std::int32_t>(actions_.size());
    actions_.push_back(a);
    return a.order;
  }

  std::int64_t business_time(std::int64_t day) { return kst_midnight(day) + 10 * kHour + rng_.below(10 * kHour); }

  void choose_channels() {
    using namespace pilot_plan;
    std::vector<int> order(kMerchants);
    for (int m = 0; m < kMerchants; ++m) order[static_cast<std::size_t>(m)] = m;
    for (int i = 0; i < kMerchants - 1; ++i) std::swap(order[i], order[i + rng_.below(kMerchants - i)]);
    opened_at_.assign(kMerchants, 0);
    for (int i = 0; i < kChannels; ++i) {
      int m = order[static_cast<std::size_t>(i)];
      opened_at_[static_cast<std::size_t>(m)] = business_time(kFirstDay + 1 + rng_.below(18));
      add({opened_at_[static_cast<std::size_t>(m)], 0, PilotKind::kOpen, m});
      channel_merchants_.push_back(m);
    }
    std::sort(channel_merchants_.begin(), channel_merchants_.end());
  }

  // A customer who is not yet befriended by merchant m and befriends fewer
  // than kStoresPerCustomer stores, so that perCustomer never refuses a
  // welcome coupon the pilot later redeems.
  int pick_customer(int m) {
    using namespace pilot_plan;
    auto& known = knows_[static_cast<std::size_t>(m)];
    if (known.empty()) known.assign(kCustomers, false);
    for (;;) {
      int c = static_cast<int>(rng_.below(kCustomers));
      if (known[static_cast<std::size_t>(c)] || stores_[static_cast<std::size_t>(c)] >= kStoresPerCustomer) continue;
      known[static_cast<std::size_t>(c)] = true;
      ++stores_[static_cast<std::size_t>(c)];
      return c;
    }
  }

  Friendship befriend(int m) {
    int c = pick_customer(m);
    std::int64_t at = opened_at_[static_cast<std::size_t>(m)] + kHour +
                      rng_.below(pilot_plan::kFriendsUntil - opened_at_[static_cast<std::size_t>(m)] - kHour);
    int order = add({at, 0, PilotKind::kAdd, m, c});
    maybe_redeem(m, c, order, at);
    return {m, c, order, at, 0};
  }

  void maybe_redeem(int m, int c, int add_order, std::int64_t added_at) {
    if (!rng_.percent(pilot_plan::kRedeemPercent)) return;
    PilotAction r{added_at + 2 * kHour + rng_.below(18 * kDay), 0, PilotKind::kRedeem, m, c};
    r.granting_add = add_order;
    r.order_amount = rng_.between(20, 120) * 500;
    r.with_discount = rng_.percent(50);
    add(r);
  }

  void plan_friends() {
    using namespace pilot_plan;
    auto net = deal(rng_, kNetFriends, kChannels, 40);
    auto re_adders = deal(rng_, kReAdders, kChannels, 0);
    auto leavers = deal(rng_, kLeavers, kChannels, 0);
    knows_.resize(kMerchants);
    stores_.assign(kCustomers, 0);
    for (std::size_t i = 0; i < channel_merchants_.size(); ++i) {
      int m = channel_merchants_[i];
      for (int k = 0; k < net[i]; ++k) {
        Friendship f = befriend(m);
        if (k < re_adders[i]) {
          leave_and_return(f);
        } else {
          keepers_.push_back(f);
        }
      }
      for (int k = 0; k < leavers[i]; ++k) {
        Friendship f = befriend(m);
        f.blocked_at = f.added_at + rng_.between(1, 30) * kDay;
        add({f.blocked_at, 0, PilotKind::kBlock, m, f.customer});
        leavers_.push_back(f);
      }
    }
  }

  // Blocks and adds again: no net change, and the second add finds the
  // customer already welcomed.
  void leave_and_return(const Friendship& f) {
    std::int64_t blocked = f.added_at + rng_.between(1, 15) * kDay;
    add({blocked, 0, PilotKind::kBlock, f.merchant, f.customer});
    add({blocked + rng_.between(1, 15) * kDay, 0, PilotKind::kAdd, f.merchant, f.customer});
  }

  void plan_rejected_attempts() {
    using namespace pilot_plan;
    for (int i = 0; i < kAlreadyFriend; ++i) {
      const auto& f = keepers_[static_cast<std::size_t>(rng_.below(static_cast<std::int64_t>(keepers_.size())))];
      add({f.added_at + kHour + rng_.below(10 * kDay), 0, PilotKind::kAdd, f.merchant, f.customer});
    }
    for (int i = 0; i < kNotFriend; ++i) {
      const auto& f = leavers_[static_cast<std::size_t>(rng_.below(static_cast<std::int64_t>(leavers_.size())))];
      add({f.blocked_at + kHour + rng_.below(10 * kDay), 0, PilotKind::kBlock, f.merchant, f.customer});
    }
    for (int m = 0; m < kMerchants; ++m) {
      if (opened_at_[static_cast<std::size_t>(m)] != 0) continue;
      add({business_time(kFirstDay + 20 + rng_.below(60)), 0, PilotKind::kAdd, m,
           static_cast<std::int32_t>(rng_.below(kCustomers))});
    }
  }

  void plan_messages() {
    using namespace pilot_plan;
    auto messages = deal(rng_, kMessages, kChannels, 5);
    for (std::size_t i = 0; i < channel_merchants_.size(); ++i) {
      int m = channel_merchants_[i];
      std::int64_t from = opened_at_[static_cast<std::size_t>(m)] + 14 * kDay;
      for (int k = 0; k < messages[i]; ++k) add({from + rng_.below(kMessagesUntil - from), 0, PilotKind::kMessage, m});
    }
  }

  Rng rng_;
  std::vector<PilotAction> actions_;
  std::vector<std::int64_t> opened_at_;  // 0: never opens a channel
  std::vector<int> channel_merchants_;
  std::vector<std::vector<bool>> knows_;  // [merchant][customer]: ever befriended
  std::vector<int> stores_;               // [customer]: stores befriended
  std::vector<Friendship> keepers_, leavers_;
};

// Sorts by time (creation order among equals, so causes stay first) and
// makes times strictly increasing.
void put_in_time_order(std::vector<PilotAction>& actions) {
  std::sort(actions.begin(), actions.end(),
            [](const PilotAction& a, const PilotAction& b) { return a.at != b.at ? a.at < b.at : a.order < b.order; });
  for (std::size_t i = 1; i < actions.size(); ++i) actions[i].at = std::max(actions[i].at, actions[i - 1].at + 1);
}

std::string pilot_merchant(int m) { return numbered("m-", m + 1, 3); }
std::string pilot_customer(int c) { return numbered("c-", c + 1, 4); }
std::string pilot_event_id(std::size_t line) { return numbered("pilot-", static_cast<std::int64_t>(line) + 1, 6); }

void fill_welcome_campaign(v1::CampaignDefined* c) {
  using namespace pilot_plan;
  c->set_campaign_id(std::string(kCampaign));
  c->set_name("Mangwon market channel welcome coupon");
  c->set_currency("KRW");
  set_time(c->mutable_starts_at(), kst_midnight(kFirstDay - 1));
  set_time(c->mutable_ends_at(), kst_midnight(kFirstDay + 305));  // 2024-01-01
  c->set_utc_offset_minutes(540);
  for (std::string_view funder : {"platform", "government"}) {
    auto* f = c->add_funders();
    f->set_funder_id(std::string(funder));
    f->set_budget(6'000'000);
    f->set_share_bps(5000);
  }
  c->mutable_eligibility()->add_market_ids(std::string(kMarket));
  c->set_trigger(v1::CampaignDefined::CHANNEL_ADDED);
  auto* offer = c->mutable_offer();
  offer->set_fixed_amount(kWelcomeAmount);
  offer->set_min_order_amount(kMinOrder);
  offer->set_valid_days(kValidDays);
  auto* limits = c->mutable_limits();
  limits->set_per_customer(kStoresPerCustomer);
  limits->set_per_merchant_count(200);
  limits->set_total_count(6000);
  limits->set_per_merchant_amount(400'000);
  limits->set_daily_amount(1'000'000);
  c->mutable_message_cash()->set_per_merchant(10'000);
}

// Turns the time-ordered actions into envelopes. Message recipients are the
// store's friends at that moment, so the friend sets are followed here.
class PilotWriter {
 public:
  PilotWriter(std::ostream& out, const std::vector<PilotAction>& actions) : out_(out), actions_(actions) {
    line_of_order_.resize(actions.size());
    for (std::size_t i = 0; i < actions.size(); ++i) line_of_order_[static_cast<std::size_t>(actions[i].order)] = i;
    friends_.assign(pilot_plan::kMerchants, std::vector<bool>(pilot_plan::kCustomers, false));
    friend_count_.assign(pilot_plan::kMerchants, 0);
    has_channel_.assign(pilot_plan::kMerchants, false);
  }

  void write_all() {
    for (std::size_t line = 0; line < actions_.size(); ++line) {
      envelope_.Clear();
      envelope_.set_event_id(pilot_event_id(line));
      set_time(envelope_.mutable_occurred_at(), actions_[line].at);
      fill(actions_[line]);
      write_line(out_, envelope_, buffer_);
    }
  }

 private:
  void fill(const PilotAction& a) {
    using namespace pilot_plan;
    std::string merchant = pilot_merchant(a.merchant);
    auto m = static_cast<std::size_t>(a.merchant);
    auto c = static_cast<std::size_t>(a.customer);
    switch (a.kind) {
      case PilotKind::kDefine:
        fill_welcome_campaign(envelope_.mutable_campaign_defined());
        break;
      case PilotKind::kEnroll: {
        auto* e = envelope_.mutable_merchant_enrolled();
        e->set_merchant_id(merchant);
        e->set_market_id(std::string(kMarket));
        e->set_category(std::string(kCategories[m % kCategories.size()]));
        break;
      }
      case PilotKind::kOpen:
        has_channel_[m] = true;
        envelope_.mutable_channel_opened()->set_merchant_id(merchant);
        envelope_.mutable_channel_opened()->set_channel_id("ch-" + merchant);
        break;
      case PilotKind::kAdd:
        if (has_channel_[m] && !friends_[m][c]) ++friend_count_[m], friends_[m][c] = true;
        envelope_.mutable_channel_added()->set_merchant_id(merchant);
        envelope_.mutable_channel_added()->set_customer_id(pilot_customer(a.customer));
        break;
      case PilotKind::kBlock:
        if (friends_[m][c]) --friend_count_[m], friends_[m][c] = false;
        envelope_.mutable_channel_blocked()->set_merchant_id(merchant);
        envelope_.mutable_channel_blocked()->set_customer_id(pilot_customer(a.customer));
        break;
      case PilotKind::kMessage: {
        auto* s = envelope_.mutable_message_sent();
        s->set_merchant_id(merchant);
        s->set_recipients(std::max(1, friend_count_[m]));
        s->set_unit_cost(kUnitCost);
        break;
      }
      case PilotKind::kRedeem: {
        auto* r = envelope_.mutable_coupon_redeemed();
        r->set_coupon_id(pilot_event_id(line_of_order_[static_cast<std::size_t>(a.granting_add)]) + "/" +
                         std::string(kCampaign));
        r->set_merchant_id(merchant);
        r->set_order_amount(a.order_amount);
        if (a.with_discount) r->set_discount(kWelcomeAmount);
        break;
      }
    }
  }

  std::ostream& out_;
  const std::vector<PilotAction>& actions_;
  std::vector<std::size_t> line_of_order_;
  std::vector<std::vector<bool>> friends_;
  std::vector<int> friend_count_;
  std::vector<bool> has_channel_;
  v1::Envelope envelope_;
  std::string buffer_;
};

// ================================================================== festival

namespace festival_plan {
constexpr std::string_view kCampaign = "buy-local-2023-09";
constexpr std::string_view kUndefinedCampaign = "buy-local-2023-05";
constexpr std::array<std::string_view, 2> kFunders = {"government", "private"};
constexpr std::int64_t kReservation = 5000;  // maxDiscount of the percent offer
constexpr std::int64_t kFunderShare = kReservation / 2;
constexpr std::int64_t kMinOrder = 10000;
constexpr int kValidDays = 3;
constexpr std::int64_t kGrace = kDay;  // redemptionGraceSeconds left at its default
constexpr int kPerCustomer = 2;
constexpr std::int64_t kFirstDay = 19601;  // 2023-09-01 KST
constexpr int kDays = 10;
constexpr std::int64_t kStartsAt = kst_midnight(kFirstDay);
constexpr std::int64_t kEndsAt = kst_midnight(kFirstDay + kDays);
constexpr std::array<int, kDays> kDayWeightPercent = {22, 13, 10, 9, 9, 8, 8, 7, 7, 7};
constexpr std::int64_t kOpenSeconds = 14 * kHour;  // 08:00..22:00
constexpr std::array<std::string_view, 6> kCategories = {"food", "produce", "fish", "meat", "clothing", "goods"};
constexpr std::size_t kPoolCapacity = 4096;    // coupons waiting to be redeemed
constexpr std::size_t kRecentCapacity = 1024;  // redeemed coupons, newest last
constexpr std::size_t kSideCapacity = 256;     // coupons kept for after expiry
constexpr std::size_t kReturningCapacity = 2048;
}  // namespace festival_plan

// Sizes that scale with the number of lines.
struct FestivalLayout {
  std::int64_t merchants = 0;  // m-00001 (the hot stall) .. ; the last `outside` ones in mkt-outside
  std::int64_t outside = 0;
  std::int64_t eligible = 0;
  std::int64_t markets = 0;
  std::int64_t setup = 0;  // lines before the festival opens
  std::int64_t bulk = 0;   // lines during the festival ("slots")
  std::array<std::int64_t, festival_plan::kDays + 1> day_first_slot{};
  std::int64_t daily_cap = 0;       // coupons per local day (dailyAmount / R)
  std::int64_t merchant_cap = 0;    // coupons per merchant (perMerchantAmount / R)
  std::int64_t initial_budget = 0;  // per funder
  std::int64_t pause_slot = 0;
  std::int64_t resume_slot = 0;
  std::int64_t top_up_delay = 0;  // slots between the first BUDGET_EXHAUSTED and the top-up
};

FestivalLayout festival_layout(std::int64_t events) {
  using namespace festival_plan;
  FestivalLayout l;
  l.merchants = std::clamp<std::int64_t>(events / 40, 8, 25000);
  l.outside = std::max<std::int64_t>(1, l.merchants / 50);
  l.eligible = l.merchants - l.outside;
  l.markets = std::clamp<std::int64_t>(l.eligible / 200, 3, 111);
  l.setup = 1 + l.merchants + 2;
  l.bulk = events - l.setup;
  std::int64_t weight = 0;
  for (int d = 0; d <= kDays; ++d) {
    l.day_first_slot[static_cast<std::size_t>(d)] = l.bulk * weight / 100;
    if (d < kDays) weight += kDayWeightPercent[static_cast<std::size_t>(d)];
  }
  std::int64_t day1 = l.day_first_slot[1];
  l.daily_cap = std::max<std::int64_t>(4, day1 * 70 * 75 / 10000);  // 75 % of day 1's claims
  l.merchant_cap = std::clamp<std::int64_t>(l.daily_cap / 4, 2, 20);
  l.initial_budget = kFunderShare * l.daily_cap * 6 / 5;
  std::int64_t day6 = l.day_first_slot[5], day6_slots = l.day_first_slot[6] - day6;
  l.pause_slot = day6 + day6_slots / 3;
  l.resume_slot = l.pause_slot + std::max<std::int64_t>(3, day6_slots / 10);
  l.top_up_delay = std::max<std::int64_t>(3, l.bulk / 50);
  return l;
}

enum class CouponState : std::uint8_t { kIssued, kRedeemed, kVoid };

// A granted coupon that the generator may still aim an event at.
struct Coupon {
  std::int64_t seq = 0;   // its record in FestivalLedger
  std::int64_t line = 0;  // line of the claim: the coupon id is fest-<line>, or fc-<line> if given
  std::int64_t expires_at = 0;
  std::int32_t merchant = -1;  // -1: issued without merchant
  bool explicit_id = false;
};

struct RedeemedCoupon {
  Coupon coupon;
  std::int32_t at_merchant = 0;
  std::int64_t discount = 0;
};

enum class GrantResult : std::uint8_t { kGranted, kNotActive, kCustomerLimit, kMerchantLimit, kDailyLimit, kBudget };

// DESIGN §3 for the festival campaign only, as far as the generator needs it
// to know which claims the engine grants: status, limits, and each funder's
// available amount through grants, redemptions, reversals and expiry.
class FestivalLedger {
 public:
  FestivalLedger(const FestivalLayout& layout)
      : layout_(layout), granted_at_(static_cast<std::size_t>(layout.eligible), 0) {
    available_.fill(layout.initial_budget);
  }

  // Expiry, as the engine does it when an event moves the clock to t.
  void expire_until(std::int64_t t) {
    while (!records_.empty() && records_.front().expires_at + festival_plan::kGrace < t) {
      if (records_.front().state == CouponState::kIssued) release(festival_plan::kReservation);
      records_.pop_front();
      ++first_seq_;
    }
  }

  GrantResult decide(std::int64_t t, std::int32_t merchant, int customer_grants) {
    using namespace festival_plan;
    if (paused_ || t < kStartsAt || t >= kEndsAt) return GrantResult::kNotActive;
    if (customer_grants >= kPerCustomer) return GrantResult::kCustomerLimit;
    if (merchant >= 0 && !merchant_has_room(merchant)) return GrantResult::kMerchantLimit;
    std::int64_t day = (t + kKstOffset) / kDay;
    if (day != daily_day_) daily_day_ = day, daily_granted_ = 0;
    if (daily_granted_ >= layout_.daily_cap) return GrantResult::kDailyLimit;
    if (available_[0] < kFunderShare || available_[1] < kFunderShare) return GrantResult::kBudget;
    return GrantResult::kGranted;
  }

  // Records a grant that decide() allowed; returns the coupon's record.
  std::int64_t grant(std::int64_t t, std::int32_t merchant) {
    reserve(festival_plan::kReservation);
    ++daily_granted_;
    if (merchant >= 0) ++granted_at_[static_cast<std::size_t>(merchant)];
    records_.push_back({t + festival_plan::kValidDays * kDay, CouponState::kIssued});
    return first_seq_ + static_cast<std::int64_t>(records_.size()) - 1;
  }

  void redeem(std::int64_t seq, std::int64_t discount) {
    release(festival_plan::kReservation - discount);
    set_state(seq, CouponState::kRedeemed);
  }

  // Returns true when the reversal restores the coupon to ISSUED.
  bool reverse(const RedeemedCoupon& r, std::int64_t t) {
    std::int64_t rest = festival_plan::kReservation - r.discount;
    bool restored = t <= r.coupon.expires_at && available_[0] >= rest / 2 && available_[1] >= rest / 2;
    if (restored) {
      reserve(rest);
    } else {
      release(r.discount);
    }
    set_state(r.coupon.seq, restored ? CouponState::kIssued : CouponState::kVoid);
    return restored;
  }

  void top_up(std::size_t funder, std::int64_t delta) { available_[funder] += delta; }
  void set_paused(bool paused) { paused_ = paused; }

  // Counts grants ever made with the merchant, an upper bound of its
  // reserved + spent amount: room here means the engine grants too.
  bool merchant_has_room(std::int32_t merchant) const {
    return granted_at_[static_cast<std::size_t>(merchant)] < layout_.merchant_cap;
  }

 private:
  struct Record {
    std::int64_t expires_at;
    CouponState state;
  };

  // Amounts are even, so each funder moves exactly half.
  void reserve(std::int64_t amount) {
    for (auto& a : available_) a -= amount / 2;
  }
  void release(std::int64_t amount) {
    for (auto& a : available_) a += amount / 2;
  }
  void set_state(std::int64_t seq, CouponState state) {
    if (seq >= first_seq_) records_[static_cast<std::size_t>(seq - first_seq_)].state = state;
  }

  const FestivalLayout& layout_;
  std::array<std::int64_t, 2> available_{};
  bool paused_ = false;
  std::int64_t daily_day_ = -1;
  std::int64_t daily_granted_ = 0;
  std::vector<std::int32_t> granted_at_;  // per eligible merchant
  // Coupons granted within validDays + grace, in grant (= expiry) order.
  std::deque<Record> records_;
  std::int64_t first_seq_ = 0;
};

// Occasional events that each produce one particular outcome. Each has a
// rate, and appears at least once by its deadline, so that short streams
// show every outcome too.
enum class Special : std::uint8_t {
  kReverseSoon,         // restored (or void, if the budget cannot re-reserve)
  kWrongMerchant,       // WRONG_MERCHANT
  kBelowMinimum,        // BELOW_MIN_ORDER
  kWrongDiscount,       // DISCOUNT_MISMATCH
  kThirdClaim,          // CUSTOMER_LIMIT
  kRedeemExpired,       // EXPIRED
  kReverseLate,         // void after expiry
  kRedeemTwice,         // COUPON_NOT_ACTIVE
  kResend,              // DUPLICATE
  kIneligibleMerchant,  // MERCHANT_NOT_ELIGIBLE
  kIdConflict,          // EVENT_ID_CONFLICT
  kNegativeOrder,       // INVALID
  kMissingCustomer,     // INVALID
  kUnknownCoupon,       // UNKNOWN_COUPON
  kReverseUnredeemed,   // COUPON_NOT_REDEEMED
  kTakenCouponId,       // COUPON_EXISTS
  kUnknownCampaign,     // UNKNOWN_CAMPAIGN
  kUnenrolledMerchant,  // MERCHANT_NOT_ENROLLED
  kCount
};
constexpr std::size_t kSpecials = static_cast<std::size_t>(Special::kCount);
constexpr std::array<std::int64_t, kSpecials> kSpecialPerMillion = {
    15000, 10000, 10000, 5000, 5000, 2000, 2000, 1000, 1000, 1000, 500, 500, 500, 500, 500, 500, 300, 300};

// The claim a re-sent or conflicting event refers to.
struct ClaimLine {
  std::int64_t line = 0;
  std::int64_t at = 0;
  std::int64_t customer = 0;
  std::int32_t merchant = -1;
  bool explicit_id = false;
};

template <typename T>
void keep_bounded(Rng& rng, std::vector<T>& bag, std::size_t capacity, const T& item) {
  if (bag.size() < capacity) {
    bag.push_back(item);
  } else {
    bag[static_cast<std::size_t>(rng.below(static_cast<std::int64_t>(capacity)))] = item;
  }
}

template <typename T>
T take_random(Rng& rng, std::vector<T>& bag) {
  auto i = static_cast<std::size_t>(rng.below(static_cast<std::int64_t>(bag.size())));
  T item = bag[i];
  bag[i] = bag.back();
  bag.pop_back();
  return item;
}

class FestivalGenerator {
 public:
  FestivalGenerator(std::ostream& out, std::uint64_t seed, std::int64_t events)
      : out_(out), rng_(seed ^ 0x66657374ULL), layout_(festival_layout(events)), ledger_(layout_) {}

  void run() {
    write_setup();
    for (slot_ = 0; slot_ < layout_.bulk; ++slot_) {
      now_ = slot_time();
      ledger_.expire_until(now_);
      if (scripted()) continue;
      if (paused()) {
        claim();  // shoppers keep claiming: CAMPAIGN_NOT_ACTIVE
        continue;
      }
      if (special()) continue;
      bool claim_day = now_ < festival_plan::kStartsAt + kDay;
      if (rng_.percent(claim_day ? 70 : 52) || !redeem()) claim();
    }
  }

 private:
  // ------------------------------------------------------------ lines

  v1::Envelope& begin(std::int64_t at) { return begin_as(line_, at); }

  v1::Envelope& begin_as(std::int64_t id_line, std::int64_t at) {
    envelope_.Clear();
    envelope_.set_event_id(numbered("fest-", id_line, 8));
    set_time(envelope_.mutable_occurred_at(), at);
    return envelope_;
  }

  void finish() {
    write_line(out_, envelope_, buffer_);
    ++line_;
  }

  static std::string coupon_id(const Coupon& c) { return numbered(c.explicit_id ? "fc-" : "fest-", c.line, 8); }
  static std::string customer_id(std::int64_t c) { return numbered("c-", c, 7); }
  static std::string merchant_id(std::int64_t m) { return numbered("m-", m + 1, 5); }

  std::int64_t slot_time() {
    using namespace festival_plan;
    while (slot_ >= layout_.day_first_slot[static_cast<std::size_t>(day_ + 1)]) ++day_;
    std::int64_t first = layout_.day_first_slot[static_cast<std::size_t>(day_)];
    std::int64_t slots = layout_.day_first_slot[static_cast<std::size_t>(day_ + 1)] - first;
    return kst_midnight(kFirstDay + day_) + 8 * kHour + (slot_ - first) * kOpenSeconds / slots;
  }

  // ------------------------------------------------------------ setup

  void write_setup() {
    std::int64_t start = kst_midnight(festival_plan::kFirstDay - 1) + 9 * kHour;
    auto at = [&](std::int64_t i) { return start + i * 13 * kHour / layout_.setup; };
    write_campaign(at(0));
    for (std::int64_t m = 0; m < layout_.merchants; ++m) write_enrollment(at(line_ - 1), m, false);
    write_enrollment(at(line_ - 1), 1, false);  // the same again: APPLIED, no change
    write_enrollment(at(line_ - 1), 2, true);   // other data: MERCHANT_EXISTS
  }

  std::string market_of(std::int64_t m) const {
    return m < layout_.eligible ? numbered("mkt-", m % layout_.markets + 1, 3) : std::string("mkt-outside");
  }

  void write_enrollment(std::int64_t at, std::int64_t m, bool other_category) {
    auto* e = begin(at).mutable_merchant_enrolled();
    e->set_merchant_id(merchant_id(m));
    e->set_market_id(market_of(m));
    const auto& categories = festival_plan::kCategories;
    e->set_category(std::string(categories[static_cast<std::size_t>(m + other_category) % categories.size()]));
    finish();
  }

  void write_campaign(std::int64_t at) {
    using namespace festival_plan;
    auto* c = begin(at).mutable_campaign_defined();
    c->set_campaign_id(std::string(kCampaign));
    c->set_name("Buy-local festival, September 2023");
    c->set_currency("KRW");
    set_time(c->mutable_starts_at(), kStartsAt);
    set_time(c->mutable_ends_at(), kEndsAt);
    c->set_utc_offset_minutes(540);
    for (auto funder : kFunders) {
      auto* f = c->add_funders();
      f->set_funder_id(std::string(funder));
      f->set_budget(layout_.initial_budget);
      f->set_share_bps(5000);
    }
    for (std::int64_t k = 0; k < layout_.markets; ++k) c->mutable_eligibility()->add_market_ids(market_of(k));
    c->set_trigger(v1::CampaignDefined::ISSUED);
    auto* offer = c->mutable_offer();
    offer->set_percent_bps(1000);
    offer->set_max_discount(kReservation);
    offer->set_min_order_amount(kMinOrder);
    offer->set_valid_days(kValidDays);
    auto* limits = c->mutable_limits();
    limits->set_per_customer(kPerCustomer);
    limits->set_per_merchant_amount(layout_.merchant_cap * kReservation);
    limits->set_daily_amount(layout_.daily_cap * kReservation);
    finish();
  }

  // ------------------------------------------------------------ scripted

  bool paused() const { return slot_ > layout_.pause_slot && slot_ < layout_.resume_slot; }

  bool scripted() {
    if (slot_ == layout_.pause_slot || slot_ == layout_.resume_slot) {
      bool pause = slot_ == layout_.pause_slot;
      auto* s = begin(now_).mutable_campaign_status_changed();
      s->set_campaign_id(std::string(festival_plan::kCampaign));
      s->set_status(pause ? v1::CampaignStatusChanged::PAUSED : v1::CampaignStatusChanged::ACTIVE);
      ledger_.set_paused(pause);
      finish();
      return true;
    }
    if (top_ups_written_ < 2 && exhausted_slot_ >= 0 && slot_ >= exhausted_slot_ + layout_.top_up_delay) {
      write_top_up();
      return true;
    }
    return false;
  }

  // Each funder gets enough for every later line to be a granted claim, so
  // the budget runs out only once.
  void write_top_up() {
    if (top_ups_written_ == 0) top_up_ = festival_plan::kFunderShare * (layout_.bulk - slot_);
    auto funder = static_cast<std::size_t>(top_ups_written_++);
    auto* b = begin(now_).mutable_budget_adjusted();
    b->set_campaign_id(std::string(festival_plan::kCampaign));
    b->set_funder_id(std::string(festival_plan::kFunders[funder]));
    b->set_delta(top_up_);
    ledger_.top_up(funder, top_up_);
    finish();
  }

  // ------------------------------------------------------------ claims

  struct Claimant {
    std::int64_t customer;
    int grants;
  };

  Claimant pick_claimant() {
    if (!returning_.empty() && rng_.percent(20)) return {take_random(rng_, returning_), 1};
    return {next_customer_++, 0};
  }

  std::int32_t normal_merchant() { return static_cast<std::int32_t>(1 + rng_.below(layout_.eligible - 1)); }

  // 60 % of claims name a merchant; while the hot stall is selling out, half
  // of those go to it. Merchants without room get no merchant-bound claims.
  std::int32_t pick_claim_merchant() {
    if (!rng_.percent(60)) return -1;
    if (hot_phase_ && rng_.percent(50)) return 0;
    for (int tries = 0; tries < 3; ++tries) {
      std::int32_t m = normal_merchant();
      if (ledger_.merchant_has_room(m)) return m;
    }
    return -1;
  }

  void claim() {
    Claimant who = pick_claimant();
    std::int32_t merchant = pick_claim_merchant();
    bool explicit_id = rng_.percent(1);
    GrantResult result = ledger_.decide(now_, merchant, who.grants);
    auto* c = begin(now_).mutable_coupon_issued();
    c->set_campaign_id(std::string(festival_plan::kCampaign));
    c->set_customer_id(customer_id(who.customer));
    if (merchant >= 0) c->set_merchant_id(merchant_id(merchant));
    if (explicit_id) c->set_coupon_id(numbered("fc-", line_, 8));
    ClaimLine claimed{line_, now_, who.customer, merchant, explicit_id};
    finish();
    after_claim(claimed, who, result);
  }

  void after_claim(const ClaimLine& claimed, const Claimant& who, GrantResult result) {
    if (result != GrantResult::kGranted) {
      if (who.grants == 1) keep_bounded(rng_, returning_, festival_plan::kReturningCapacity, who.customer);
      if (result == GrantResult::kBudget && exhausted_slot_ < 0) exhausted_slot_ = slot_;
      if (result == GrantResult::kMerchantLimit && claimed.merchant == 0) ++hot_refusals_;
      end_hot_phase_when_sold_out();
      return;
    }
    last_grant_ = claimed;
    Coupon coupon{ledger_.grant(now_, claimed.merchant), claimed.line, now_ + festival_plan::kValidDays * kDay,
                  claimed.merchant, claimed.explicit_id};
    remember_granted(coupon);
    // About a third of customers come back for a second coupon, a fifth of
    // those for a third (always some, for short streams).
    if (who.grants == 0 && (returning_.empty() || rng_.percent(35))) {
      keep_bounded(rng_, returning_, festival_plan::kReturningCapacity, who.customer);
    }
    if (who.grants == 1 && (saturated_.empty() || rng_.percent(20))) {
      keep_bounded(rng_, saturated_, festival_plan::kSideCapacity, who.customer);
    }
  }

  // The hot stall's coupons are held back until it has sold out, so that its
  // reserved + spent amount is exactly what the ledger counts. About 1 % are
  // kept aside to be tried after expiry (always one, for short streams).
  void remember_granted(const Coupon& coupon) {
    if (hot_phase_ && coupon.merchant == 0) {
      hot_held_.push_back(coupon);
    } else if (kept_for_later_.empty() || (kept_for_later_.size() < festival_plan::kSideCapacity && rng_.percent(1))) {
      kept_for_later_.push_back(coupon);
    } else {
      keep_bounded(rng_, pool_, festival_plan::kPoolCapacity, coupon);
    }
  }

  void end_hot_phase_when_sold_out() {
    if (!hot_phase_ || ledger_.merchant_has_room(0) || hot_refusals_ < 2) return;
    hot_phase_ = false;
    for (const auto& c : hot_held_) keep_bounded(rng_, pool_, festival_plan::kPoolCapacity, c);
    hot_held_.clear();
  }

  // ------------------------------------------------------------ redemptions

  // A coupon from the pool that is still valid now; expired ones are dropped
  // (the ledger expires them).
  std::optional<Coupon> take_valid_coupon() {
    for (int tries = 0; tries < 4 && !pool_.empty(); ++tries) {
      Coupon c = take_random(rng_, pool_);
      if (c.expires_at >= now_) return c;
    }
    return std::nullopt;
  }

  // Shop prices in steps of 100 KRW, so discounts are even.
  std::int64_t order_amount() {
    auto r = rng_.below(100);
    if (r < 40) return rng_.between(100, 300) * 100;
    if (r < 75) return rng_.between(300, 600) * 100;
    if (r < 95) return rng_.between(600, 1500) * 100;
    return rng_.between(1500, 5000) * 100;
  }

  static std::int64_t discount_for(std::int64_t order) {
    return std::min(order * 1000 / 10000, festival_plan::kReservation);
  }

  std::int32_t redemption_merchant(const Coupon& c) { return c.merchant >= 0 ? c.merchant : normal_merchant(); }

  void write_redemption(const Coupon& c, std::int32_t merchant, std::int64_t order,
                        std::optional<std::int64_t> discount) {
    auto* r = begin(now_).mutable_coupon_redeemed();
    r->set_coupon_id(coupon_id(c));
    r->set_merchant_id(merchant_id(merchant));
    r->set_order_amount(order);
    if (discount) r->set_discount(*discount);
    finish();
  }

  bool redeem() {
    auto c = take_valid_coupon();
    if (!c) return false;
    std::int32_t merchant = redemption_merchant(*c);
    std::int64_t order = order_amount();
    std::int64_t discount = discount_for(order);
    write_redemption(*c, merchant, order, rng_.percent(50) ? std::optional(discount) : std::nullopt);
    ledger_.redeem(c->seq, discount);
    RedeemedCoupon r{*c, merchant, discount};
    // About 1 % (always one) wait to be reversed after expiry.
    if (reverse_late_.empty() || (reverse_late_.size() < festival_plan::kSideCapacity && rng_.percent(1))) {
      reverse_late_.push_back(r);
    } else {
      recent_.push_back(r);
      if (recent_.size() > festival_plan::kRecentCapacity) recent_.pop_front();
    }
    return true;
  }

  void write_reversal(const RedeemedCoupon& r) {
    auto* v = begin(now_).mutable_redemption_reversed();
    v->set_coupon_id(coupon_id(r.coupon));
    v->set_merchant_id(merchant_id(r.at_merchant));
    finish();
    if (ledger_.reverse(r, now_)) keep_bounded(rng_, pool_, festival_plan::kPoolCapacity, r.coupon);
  }

  // ------------------------------------------------------------ specials

  bool special() {
    for (std::size_t k = 0; k < kSpecials; ++k) {
      std::size_t kind = (static_cast<std::size_t>(slot_) + k) % kSpecials;
      if (!special_due(kind)) continue;
      if (write_special(static_cast<Special>(kind))) {
        ++special_credit_[kind];
        ++special_written_[kind];
        return true;
      }
      special_credit_[kind] = special_target(kind);  // not possible now: skip this turn
    }
    return false;
  }

  std::int64_t special_target(std::size_t kind) const { return kSpecialPerMillion[kind] * slot_ / 1'000'000; }

  // Deadlines spread over the second half of the festival.
  bool special_due(std::size_t kind) const {
    std::int64_t deadline = layout_.bulk * (500 + 450 * static_cast<std::int64_t>(kind) / (kSpecials - 1)) / 1000;
    return special_credit_[kind] < special_target(kind) || (special_written_[kind] == 0 && slot_ >= deadline);
  }

  bool write_special(Special kind) {
    switch (kind) {
      case Special::kReverseSoon:
        return reverse_soon();
      case Special::kWrongMerchant:
      case Special::kBelowMinimum:
      case Special::kWrongDiscount:
        return redeem_wrongly(kind);
      case Special::kThirdClaim:
        return third_claim();
      case Special::kRedeemExpired:
        return redeem_expired();
      case Special::kReverseLate:
        return reverse_late();
      case Special::kRedeemTwice:
        return redeem_twice();
      case Special::kResend:
        return resend_or_conflict(false);
      case Special::kIneligibleMerchant:
        return refused_claim(merchant_id(layout_.eligible + rng_.below(layout_.outside)), festival_plan::kCampaign);
      case Special::kIdConflict:
        return resend_or_conflict(true);
      case Special::kNegativeOrder:
        return negative_order();
      case Special::kMissingCustomer:
        return missing_customer();
      case Special::kUnknownCoupon:
        return unknown_coupon();
      case Special::kReverseUnredeemed:
        return reverse_unredeemed();
      case Special::kTakenCouponId:
        return taken_coupon_id();
      case Special::kUnknownCampaign:
        return refused_claim("", festival_plan::kUndefinedCampaign);
      case Special::kUnenrolledMerchant:
        return refused_claim(merchant_id(layout_.merchants + rng_.below(100)), festival_plan::kCampaign);
      case Special::kCount:
        break;
    }
    return false;
  }

  bool reverse_soon() {
    if (recent_.empty()) return false;
    RedeemedCoupon r = recent_.back();
    recent_.pop_back();
    write_reversal(r);
    return true;
  }

  // A redemption the engine refuses for one reason; the coupon stays usable.
  bool redeem_wrongly(Special kind) {
    auto c = take_valid_coupon();
    if (!c) return false;
    std::int32_t merchant = redemption_merchant(*c);
    std::int64_t order = order_amount();
    std::optional<std::int64_t> discount;
    if (kind == Special::kWrongMerchant) merchant = wrong_merchant_for(*c);
    if (kind == Special::kBelowMinimum) order = rng_.between(20, 99) * 100;
    if (kind == Special::kWrongDiscount) discount = discount_for(order) + (discount_for(order) > 500 ? -500 : 500);
    write_redemption(*c, merchant, order, discount);
    keep_bounded(rng_, pool_, festival_plan::kPoolCapacity, *c);
    return true;
  }

  // Another stall for a merchant's coupon; a stall outside the campaign's
  // markets for a coupon without merchant.
  std::int32_t wrong_merchant_for(const Coupon& c) {
    if (c.merchant < 0) return static_cast<std::int32_t>(layout_.eligible + rng_.below(layout_.outside));
    std::int32_t m = normal_merchant();
    return m == c.merchant ? (m % static_cast<std::int32_t>(layout_.eligible - 1)) + 1 : m;
  }

  bool redeem_expired() {
    if (kept_for_later_.empty() || kept_for_later_.front().expires_at >= now_) return false;
    Coupon c = kept_for_later_.front();
    kept_for_later_.pop_front();
    write_redemption(c, redemption_merchant(c), order_amount(), std::nullopt);
    return true;
  }

  bool reverse_late() {
    if (reverse_late_.empty() || reverse_late_.front().coupon.expires_at >= now_) return false;
    RedeemedCoupon r = reverse_late_.front();
    reverse_late_.pop_front();
    write_reversal(r);
    return true;
  }

  bool redeem_twice() {
    if (recent_.empty() || recent_.back().coupon.expires_at < now_) return false;
    const RedeemedCoupon& r = recent_.back();
    write_redemption(r.coupon, r.at_merchant, order_amount(), std::nullopt);
    return true;
  }

  bool third_claim() {
    if (saturated_.empty()) return false;
    std::int64_t customer = take_random(rng_, saturated_);
    auto* c = begin(now_).mutable_coupon_issued();
    c->set_campaign_id(std::string(festival_plan::kCampaign));
    c->set_customer_id(customer_id(customer));
    finish();
    return true;
  }

  // A claim by a new customer that is refused before any limit: unknown
  // campaign, or a merchant the campaign does not cover.
  bool refused_claim(const std::string& merchant, std::string_view campaign) {
    auto* c = begin(now_).mutable_coupon_issued();
    c->set_campaign_id(std::string(campaign));
    c->set_customer_id(customer_id(next_customer_++));
    if (!merchant.empty()) c->set_merchant_id(merchant);
    finish();
    return true;
  }

  // The last granted claim again: the same content (a producer's retry) or,
  // under the same event id, another customer.
  bool resend_or_conflict(bool conflict) {
    if (!last_grant_) return false;
    const ClaimLine& l = *last_grant_;
    auto* c = begin_as(l.line, conflict ? now_ : l.at).mutable_coupon_issued();
    c->set_campaign_id(std::string(festival_plan::kCampaign));
    c->set_customer_id(customer_id(conflict ? next_customer_++ : l.customer));
    if (l.merchant >= 0) c->set_merchant_id(merchant_id(l.merchant));
    if (l.explicit_id) c->set_coupon_id(numbered("fc-", l.line, 8));
    finish();
    return true;
  }

  bool negative_order() {
    if (pool_.empty()) return false;
    const Coupon& c = pool_[static_cast<std::size_t>(rng_.below(static_cast<std::int64_t>(pool_.size())))];
    auto* r = begin(now_).mutable_coupon_redeemed();
    r->set_coupon_id(coupon_id(c));
    r->set_merchant_id(merchant_id(redemption_merchant(c)));
    r->set_order_amount(-order_amount());
    finish();
    return true;
  }

  bool missing_customer() {
    begin(now_).mutable_coupon_issued()->set_campaign_id(std::string(festival_plan::kCampaign));
    finish();
    return true;
  }

  bool unknown_coupon() {
    auto* r = begin(now_).mutable_coupon_redeemed();
    r->set_coupon_id(numbered("fc-lost-", line_, 8));
    r->set_merchant_id(merchant_id(normal_merchant()));
    r->set_order_amount(order_amount());
    finish();
    return true;
  }

  bool reverse_unredeemed() {
    if (pool_.empty()) return false;
    const Coupon& c = pool_[static_cast<std::size_t>(rng_.below(static_cast<std::int64_t>(pool_.size())))];
    auto* v = begin(now_).mutable_redemption_reversed();
    v->set_coupon_id(coupon_id(c));
    v->set_merchant_id(merchant_id(redemption_merchant(c)));
    finish();
    return true;
  }

  bool taken_coupon_id() {
    if (pool_.empty()) return false;
    const Coupon& taken = pool_[static_cast<std::size_t>(rng_.below(static_cast<std::int64_t>(pool_.size())))];
    auto* c = begin(now_).mutable_coupon_issued();
    c->set_campaign_id(std::string(festival_plan::kCampaign));
    c->set_customer_id(customer_id(next_customer_++));
    c->set_coupon_id(coupon_id(taken));
    finish();
    return true;
  }

  std::ostream& out_;
  Rng rng_;
  FestivalLayout layout_;
  FestivalLedger ledger_;
  v1::Envelope envelope_;
  std::string buffer_;
  std::int64_t line_ = 1;  // number of the next line, and of its event id
  std::int64_t slot_ = 0;
  std::int64_t day_ = 0;
  std::int64_t now_ = 0;
  std::int64_t next_customer_ = 1;
  std::int64_t exhausted_slot_ = -1;
  int top_ups_written_ = 0;
  std::int64_t top_up_ = 0;
  bool hot_phase_ = true;
  int hot_refusals_ = 0;
  std::vector<Coupon> pool_;
  std::vector<Coupon> hot_held_;
  std::deque<Coupon> kept_for_later_;  // redeemed only after expiry
  std::deque<RedeemedCoupon> recent_;
  std::deque<RedeemedCoupon> reverse_late_;
  std::vector<std::int64_t> returning_;  // customers with one coupon who will claim again
  std::vector<std::int64_t> saturated_;  // customers with two coupons who will try a third
  std::optional<ClaimLine> last_grant_;
  std::array<std::int64_t, kSpecials> special_credit_{};
  std::array<std::int64_t, kSpecials> special_written_{};
};

}  // namespace

void pilot(std::ostream& out, std::uint64_t seed) {
  auto actions = PilotBuilder(seed).build();
  put_in_time_order(actions);
  PilotWriter(out, actions).write_all();
}

void festival(std::ostream& out, std::uint64_t seed, std::int64_t events) {
  DANGOL_ASSERT(events >= kFestivalMinEvents, "festival needs at least kFestivalMinEvents lines");
  FestivalGenerator(out, seed, events).run();
}

}  // namespace dangol::simulate
