// Tests of the RocksDB state store (storage/state_store.h): that an engine
// rebuilt from the store decides byte for byte like one that never stopped,
// and that offsets, the outbox, format versions and checkpoints behave.
//
// The key property runs random event sequences (a seeded generator below that
// reaches every event kind, limit and lifecycle path with few ids, so events
// collide often), the pilot and the festival simulations. Every random test
// prints its seed; DANGOL_STORAGE_SEED=<n> reruns one.
#include <gtest/gtest.h>

#include <rocksdb/db.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "dangol.pb.h"
#include "engine/engine.h"
#include "engine/report.h"
#include "proto/json_codec.h"
#include "services/campaignctl/simulate.h"
#include "storage/state_store.h"

namespace dangol::storage {
namespace {

using v1::Envelope;

// ------------------------------------------------------------------ helpers

// A fresh directory under the temp dir, removed when the test ends.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("dangol-storage-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string path(const std::string& leaf = "db") const { return (path_ / leaf).string(); }

 private:
  std::filesystem::path path_;
};

std::uint64_t test_seed() {
  if (const char* env = std::getenv("DANGOL_STORAGE_SEED")) return std::strtoull(env, nullptr, 10);
  return std::random_device{}();
}

std::string deterministic_bytes(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  m.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

// The wire decision for event `i` (partition 0, offset i), as bytes.
std::string decide_bytes(Engine& engine, const Envelope& in, std::int64_t i) {
  v1::Decision decision;
  engine.apply(in, Position{0, i}, &decision);
  return deterministic_bytes(decision);
}

// Everything a State holds, in a canonical order, so that two states compare
// as strings and a difference names the table.
std::string dump(const State& s) {
  std::ostringstream o;
  o << "meta " << s.shard << " " << s.next_seq << " " << s.has_clock << " " << s.clock.nanos();
  for (auto n : s.outcomes) o << " " << n;
  o << "\nnames " << s.campaign_ids.size() << " " << s.merchant_ids.size() << " " << s.market_ids.size() << " "
    << s.category_ids.size() << " " << s.customer_ids.size() << "\n";
  for (std::uint32_t i = 0; i < s.customer_ids.size(); ++i) o << s.customer_ids.name(CustomerIdx{i}) << ",";
  for (std::uint32_t i = 0; i < s.merchant_ids.size(); ++i) o << s.merchant_ids.name(MerchantIdx{i}) << ",";
  for (std::uint32_t i = 0; i < s.market_ids.size(); ++i) o << s.market_ids.name(MarketIdx{i}) << ",";
  for (std::uint32_t i = 0; i < s.category_ids.size(); ++i) o << s.category_ids.name(CategoryIdx{i}) << ",";
  o << "\nlists";
  for (auto c : s.campaigns_by_id) o << " " << c.value;
  for (auto c : s.welcome_campaigns) o << " w" << c.value;
  for (auto c : s.message_cash_campaigns) o << " m" << c.value;
  o << "\n";
  for (const Campaign& c : s.campaigns) {
    o << "campaign " << c.campaign_id << " " << c.name << " " << static_cast<int>(c.status) << " "
      << c.granted_total << " " << c.coupon_counts.granted << "/" << c.coupon_counts.redeemed << "/"
      << c.coupon_counts.expired << "/" << c.coupon_counts.voided << "/" << c.coupon_counts.outstanding
      << " coupons " << c.coupons.size();
    for (const auto& f : c.funders) {
      o << " [" << f.funder_id << " " << f.share_bps << " " << f.budget.minor() << " " << f.available.minor() << " "
        << f.reserved.minor() << " " << f.spent.minor() << " x" << f.crossed_thresholds << "]";
    }
    for (auto n : c.rejections) o << " " << n;
    std::map<std::int64_t, std::int64_t> days;
    for (const auto& [d, v] : c.granted_by_local_day) days[d] = v.minor();
    for (const auto& [d, v] : days) o << " d" << d << ":" << v;
    std::map<std::uint32_t, std::int64_t> cash;
    for (const auto& [m, a] : c.message_cash) cash[m.value] = a.remaining.sum() * 1000 + a.remaining.size;
    for (const auto& [m, v] : cash) o << " h" << m << ":" << v;
    o << "\n";
  }
  for (const Merchant& m : s.merchants) {
    o << "merchant " << m.enrolled << m.has_channel << " " << m.market.value << " " << m.category.value << " "
      << m.channel_id << " " << m.friends << " " << m.friend_adds << " " << m.messages << " " << m.recipients << " "
      << m.welcome_granted << " " << m.welcome_redeemed << " " << m.message_cost_self_paid.minor() << "\n";
  }
  for (const Coupon& k : s.coupons) {
    o << "coupon " << k.coupon_id << " " << k.campaign.value << " " << k.merchant.value << " " << k.customer.value
      << " " << k.redeemed_at.value << " " << static_cast<int>(k.status) << k.welcome << k.in_expiry_queue << " "
      << k.reserved.minor() << " " << k.discount.minor() << " " << k.issued_at.nanos() << " "
      << k.expires_at.nanos() << "\n";
  }
  std::vector<ExpiryEntry> queue;
  s.expiry_queue.for_each([&](const ExpiryEntry& e) { queue.push_back(e); });
  std::sort(queue.begin(), queue.end(), std::greater<>());
  o << "expiry";
  for (const auto& e : queue) o << " " << e.deadline_nanos << ":" << e.coupon;
  std::map<std::uint64_t, std::uint32_t> grants;
  s.customer_grants.for_each([&](std::uint64_t k, std::uint32_t v) { grants.emplace(k, v); });
  o << "\ngrants";
  for (const auto& [k, v] : grants) o << " " << k << ":" << v;
  std::map<std::uint64_t, std::pair<std::int64_t, std::int64_t>> usages;
  s.merchant_usages.for_each([&](CampaignIdx c, MerchantIdx m, const MerchantUsage& u) {
    usages.emplace(MerchantUsages::key(c, m), std::pair{u.granted_count, u.committed.minor()});
  });
  o << "\nusages";
  for (const auto& [k, u] : usages) o << " " << k << ":" << u.first << ":" << u.second;
  std::vector<std::uint64_t> friends(s.friendships.begin(), s.friendships.end());
  std::sort(friends.begin(), friends.end());
  o << "\nfriends";
  for (auto f : friends) o << " " << f;
  std::vector<std::array<std::uint32_t, 3>> welcomed(s.welcomed.begin(), s.welcomed.end());
  std::sort(welcomed.begin(), welcomed.end());
  o << "\nwelcomed";
  for (const auto& w : welcomed) o << " " << w[0] << "/" << w[1] << "/" << w[2];
  std::vector<std::tuple<std::uint64_t, std::uint64_t, std::uint64_t>> events;
  s.seen_events.for_each([&](EventIdKey k, std::uint64_t v) { events.emplace_back(k.high, k.low, v); });
  std::sort(events.begin(), events.end());
  o << "\nevents " << events.size();
  for (const auto& [h, l, v] : events) o << " " << h << ":" << l << ":" << v;
  o << "\ncoupon_index " << s.coupon_index.size() << "\n";
  return o.str();
}

std::string report_text(const State& s) {
  std::ostringstream o;
  Report r = build_report(s);
  for (const auto& c : r.campaigns) {
    o << c.campaign_id << " " << c.status;
    for (const auto& f : c.funders) o << " " << f.funder_id << ":" << f.budget << "/" << f.available << "/" << f.reserved << "/" << f.spent;
    for (const auto& [reason, n] : c.rejections) o << " " << reason << "=" << n;
    o << "\n";
  }
  for (const auto& m : r.markets) {
    o << m.market_id << " " << m.enrolled << " " << m.channels << " " << m.friends << " " << m.friend_adds << " "
      << m.messages << " " << m.welcome_granted << " " << m.welcome_redeemed << "\n";
  }
  return o.str();
}

// ------------------------------------------------------------------ random events

// Random envelopes over a small world (4 campaigns, 6 merchants, 10
// customers), so that ids collide and every rule path is taken: limits,
// expiry by clock jumps, close, reversal, welcome and message cash,
// duplicates, id conflicts and invalid events.
class RandomEvents {
 public:
  explicit RandomEvents(std::uint64_t seed) : rng_(seed) {}

  std::vector<Envelope> make(int count) {
    std::vector<Envelope> out;
    for (int i = 0; i < count; ++i) out.push_back(next(out));
    return out;
  }

 private:
  std::uint32_t pick(std::uint32_t n) { return static_cast<std::uint32_t>(rng_() % n); }
  bool chance(int percent) { return pick(100) < static_cast<std::uint32_t>(percent); }
  std::string campaign() { return "c" + std::to_string(pick(4)); }
  std::string merchant() { return "m" + std::to_string(pick(6)); }
  std::string customer() { return "u" + std::to_string(pick(10)); }

  void stamp(Envelope* e) {
    std::uint32_t r = pick(100);
    if (r < 60) now_ += pick(600);
    else if (r < 70) now_ += 86'400 * (1 + pick(3));  // expiry
    std::int64_t t = r >= 92 ? now_ - pick(3600) : now_;  // late events
    e->mutable_occurred_at()->set_seconds(t);
  }

  Envelope next(const std::vector<Envelope>& earlier) {
    if (!earlier.empty() && chance(4)) return earlier[pick(static_cast<std::uint32_t>(earlier.size()))];
    Envelope e;
    e.set_event_id("e" + std::to_string(++events_));
    if (!earlier.empty() && chance(2)) e.set_event_id(earlier[pick(static_cast<std::uint32_t>(earlier.size()))].event_id());
    stamp(&e);
    switch (pick(11)) {
      case 0: define(&e); break;
      case 1: budget(&e); break;
      case 2: status(&e); break;
      case 3: enroll(&e); break;
      case 4: open(&e); break;
      case 5: add(&e); break;
      case 6: block(&e); break;
      case 7: case 8: issue(&e); break;
      case 9: redeem_or_reverse(&e); break;
      default: message(&e); break;
    }
    if (chance(2)) e.clear_event_id();  // INVALID
    return e;
  }

  void define(Envelope* e) {
    auto* p = e->mutable_campaign_defined();
    p->set_campaign_id(campaign());
    p->set_name("Campaign " + p->campaign_id());
    p->set_currency("KRW");
    p->mutable_starts_at()->set_seconds(now_ - 3600);
    p->mutable_ends_at()->set_seconds(now_ + 86'400 * (1 + pick(20)));
    p->set_utc_offset_minutes(chance(50) ? 540 : 0);
    p->set_trigger(chance(40) ? v1::CampaignDefined::CHANNEL_ADDED : v1::CampaignDefined::ISSUED);
    const int funders = 1 + static_cast<int>(pick(3));
    for (int i = 0; i < funders; ++i) {
      auto* f = p->add_funders();
      f->set_funder_id("f" + std::to_string(i));
      f->set_share_bps(i == 0 ? 10000 - (funders - 1) * 3000 : 3000);
      f->set_budget(1000 * (1 + pick(40)));
    }
    auto* offer = p->mutable_offer();
    if (chance(50)) offer->set_fixed_amount(100 * (1 + pick(10)));
    else offer->set_percent_bps(1000), offer->set_max_discount(500);
    offer->set_min_order_amount(chance(30) ? 2000 : 0);
    // Mostly short, so that clock jumps expire coupons; sometimes long, so
    // that coupons are still outstanding when their campaign closes.
    const std::int32_t valid_days[] = {1, 2, 3, 30};
    offer->set_valid_days(valid_days[pick(4)]);
    auto* limits = p->mutable_limits();
    limits->set_per_customer(pick(3));
    limits->set_per_merchant_count(chance(30) ? 3 : 0);
    limits->set_total_count(chance(20) ? 12 : 0);
    limits->set_per_merchant_amount(chance(30) ? 2500 : 0);
    limits->set_daily_amount(chance(30) ? 3000 : 0);
    if (chance(40)) p->mutable_message_cash()->set_per_merchant(300 + pick(500));
    if (chance(30)) p->set_redemption_grace_seconds(pick(2) * 3600);
    if (chance(30)) p->add_alert_thresholds_bps(3000), p->add_alert_thresholds_bps(9000);
    if (chance(25)) p->mutable_eligibility()->add_market_ids("mk" + std::to_string(pick(2)));
    if (chance(15)) p->mutable_eligibility()->add_merchant_ids(merchant());
    if (chance(15)) p->mutable_eligibility()->add_categories(chance(50) ? "food" : "fish");
  }

  void budget(Envelope* e) {
    auto* p = e->mutable_budget_adjusted();
    p->set_campaign_id(campaign());
    p->set_funder_id("f" + std::to_string(pick(3)));
    p->set_delta(static_cast<std::int64_t>(pick(4000)) - 1500);
  }

  void status(Envelope* e) {
    auto* p = e->mutable_campaign_status_changed();
    p->set_campaign_id(campaign());
    std::uint32_t r = pick(10);
    p->set_status(r < 5 ? v1::CampaignStatusChanged::ACTIVE
                        : r < 9 ? v1::CampaignStatusChanged::PAUSED : v1::CampaignStatusChanged::CLOSED);
  }

  void enroll(Envelope* e) {
    auto* p = e->mutable_merchant_enrolled();
    p->set_merchant_id(merchant());
    p->set_market_id("mk" + std::to_string(pick(2)));
    p->set_category(chance(50) ? "food" : "fish");
  }

  void open(Envelope* e) {
    auto* p = e->mutable_channel_opened();
    p->set_merchant_id(merchant());
    p->set_channel_id("ch-" + p->merchant_id());
  }

  void add(Envelope* e) {
    auto* p = e->mutable_channel_added();
    p->set_merchant_id(merchant());
    p->set_customer_id(customer());
    for (int c = 0; c < 4; ++c) coupons_.push_back(e->event_id() + "/c" + std::to_string(c));
  }

  void block(Envelope* e) {
    auto* p = e->mutable_channel_blocked();
    p->set_merchant_id(merchant());
    p->set_customer_id(customer());
  }

  void issue(Envelope* e) {
    auto* p = e->mutable_coupon_issued();
    p->set_campaign_id(campaign());
    p->set_customer_id(customer());
    if (chance(70)) p->set_merchant_id(merchant());
    if (chance(30)) p->set_coupon_id("k" + std::to_string(pick(30)));
    coupons_.push_back(p->has_coupon_id() ? p->coupon_id() : e->event_id());
  }

  std::string known_coupon() {
    if (coupons_.empty() || chance(5)) return "nope";
    return coupons_[coupons_.size() - 1 - pick(static_cast<std::uint32_t>(std::min<std::size_t>(coupons_.size(), 40)))];
  }

  void redeem_or_reverse(Envelope* e) {
    if (chance(30)) {
      auto* p = e->mutable_redemption_reversed();
      p->set_coupon_id(known_coupon());
      p->set_merchant_id(merchant());
      return;
    }
    auto* p = e->mutable_coupon_redeemed();
    p->set_coupon_id(known_coupon());
    p->set_merchant_id(merchant());
    p->set_order_amount(500 * (1 + pick(20)));
  }

  void message(Envelope* e) {
    auto* p = e->mutable_message_sent();
    p->set_merchant_id(merchant());
    p->set_recipients(1 + pick(30));
    p->set_unit_cost(10);
  }

  std::mt19937_64 rng_;
  std::int64_t now_ = 1'690'848'000;
  int events_ = 0;
  std::vector<std::string> coupons_;
};

std::vector<Envelope> from_jsonl(const std::string& jsonl) {
  std::vector<Envelope> out;
  std::istringstream lines(jsonl);
  std::string line, error;
  while (std::getline(lines, line)) {
    Envelope e;
    EXPECT_TRUE(json::parse_envelope(line, &e, &error)) << error;
    out.push_back(std::move(e));
  }
  return out;
}

// ------------------------------------------------------------------ the restart harness

// Engine A decides everything without stopping. Engine B commits after every
// batch (random sizes) and, at random batch boundaries, is destroyed with its
// store and rebuilt from it. Checks that every decision is byte-identical,
// that each reloaded state equals A's, and the final reports and invariants.
void check_restarts(const std::vector<Envelope>& events, std::uint64_t seed, int max_batch, int restart_percent) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed ^ 0x5eed);
  TempDir dir;
  Engine a;
  auto b = std::make_unique<Engine>();
  std::unique_ptr<StateStore> store;
  std::map<std::int32_t, std::int64_t> offsets;
  ASSERT_TRUE(StateStore::open(dir.path(), &store).ok());
  ASSERT_TRUE(store->load(b.get(), &offsets, nullptr).ok());
  std::size_t i = 0;
  int restarts = 0;
  while (i < events.size()) {
    const std::size_t end = std::min(events.size(), i + 1 + rng() % max_batch);
    for (; i < end; ++i) {
      ASSERT_EQ(decide_bytes(a, events[i], static_cast<std::int64_t>(i)),
                decide_bytes(*b, events[i], static_cast<std::int64_t>(i)))
          << "decision " << i << " differs (seed " << seed << ", after " << restarts << " restarts)";
    }
    offsets[0] = static_cast<std::int64_t>(i);
    Status st = store->commit(*b, offsets, {});
    ASSERT_TRUE(st.ok()) << st.ToString();
    if (static_cast<int>(rng() % 100) >= restart_percent) continue;
    store.reset();
    b = std::make_unique<Engine>();
    ASSERT_TRUE(StateStore::open(dir.path(), &store).ok());
    st = store->load(b.get(), &offsets, nullptr);
    ASSERT_TRUE(st.ok()) << st.ToString();
    ASSERT_EQ(offsets[0], static_cast<std::int64_t>(i));
    ASSERT_EQ(dump(a.state()), dump(b->state())) << "state after reload at event " << i << " (seed " << seed << ")";
    ++restarts;
  }
  EXPECT_EQ(report_text(a.state()), report_text(b->state()));
  EXPECT_EQ(dump(a.state()), dump(b->state()));
  EXPECT_TRUE(b->check_invariants().empty());
}

// ------------------------------------------------------------------ the property

TEST(StateStoreProperty, ReloadedEngineDecidesLikeOneThatNeverStopped) {
  // Proves the store loses nothing the rules read: for many random
  // sequences, an engine restarted from the store at random batch boundaries
  // decides every event byte-identically to one that never stopped.
  const std::uint64_t base = test_seed();
  std::cout << "storage property seed: " << base << " (rerun with DANGOL_STORAGE_SEED=" << base << ")\n";
  constexpr int kSequences = 40;
  for (int n = 0; n < kSequences && !::testing::Test::HasFatalFailure(); ++n) {
    const std::uint64_t seed = base + static_cast<std::uint64_t>(n);
    check_restarts(RandomEvents(seed).make(600), seed, /*max_batch=*/25, /*restart_percent=*/30);
  }
}

TEST(StateStoreProperty, CouponsVoidedByCloseSurviveRestarts) {
  // Proves coupons voided by a campaign close (still in the expiry queue,
  // so no later event touches them) are stored as VOID: a restart between the
  // close and their expiry deadline must not bring them back as ISSUED.
  auto ev = [n = 0](std::int64_t t) mutable {
    Envelope e;
    e.set_event_id("x" + std::to_string(++n));
    e.mutable_occurred_at()->set_seconds(1'690'848'000 + t);
    return e;
  };
  std::vector<Envelope> events;
  Envelope define = ev(0);
  auto* d = define.mutable_campaign_defined();
  d->set_campaign_id("c"), d->set_name("C"), d->set_currency("KRW"), d->set_trigger(v1::CampaignDefined::ISSUED);
  d->mutable_starts_at()->set_seconds(1'690'848'000 - 60);
  d->mutable_ends_at()->set_seconds(1'690'848'000 + 86'400 * 90);
  auto* f = d->add_funders();
  f->set_funder_id("gov"), f->set_share_bps(10000), f->set_budget(100'000);
  d->mutable_offer()->set_fixed_amount(1000), d->mutable_offer()->set_valid_days(30);
  events.push_back(define);
  for (int i = 0; i < 5; ++i) {
    Envelope issue = ev(10 + i);
    issue.mutable_coupon_issued()->set_campaign_id("c");
    issue.mutable_coupon_issued()->set_customer_id("u" + std::to_string(i));
    events.push_back(issue);
  }
  Envelope close = ev(100);
  close.mutable_campaign_status_changed()->set_campaign_id("c");
  close.mutable_campaign_status_changed()->set_status(v1::CampaignStatusChanged::CLOSED);
  events.push_back(close);
  Envelope later = ev(86'400 * 40);  // past every coupon's deadline: expiry pops them
  later.mutable_coupon_redeemed()->set_coupon_id("x2");
  later.mutable_coupon_redeemed()->set_merchant_id("m");
  later.mutable_coupon_redeemed()->set_order_amount(5000);
  events.push_back(later);
  for (std::uint64_t seed = 0; seed < 20; ++seed) check_restarts(events, seed, /*max_batch=*/3, /*restart_percent=*/100);
}

TEST(StateStoreProperty, ReversedWelcomeRedemptionSurvivesRestarts) {
  // Proves the merchant's welcome-redeemed count that a reversal lowers is
  // stored: a welcome coupon redeemed and reversed, with a restart between
  // any two events, leaves the same merchant record.
  const char* lines[] = {
      R"({"eventId":"w1","occurredAt":"2023-08-01T00:00:00Z","campaignDefined":{"campaignId":"wel","name":"W",)"
      R"("currency":"KRW","startsAt":"2023-07-01T00:00:00Z","endsAt":"2023-12-01T00:00:00Z","funders":)"
      R"([{"funderId":"gov","budget":"100000","shareBps":10000}],"trigger":"CHANNEL_ADDED",)"
      R"("offer":{"fixedAmount":"1000","validDays":30}}})",
      R"({"eventId":"w2","occurredAt":"2023-08-01T00:01:00Z","merchantEnrolled":{"merchantId":"m","marketId":"mk","category":"food"}})",
      R"({"eventId":"w3","occurredAt":"2023-08-01T00:02:00Z","channelOpened":{"merchantId":"m","channelId":"ch"}})",
      R"({"eventId":"w4","occurredAt":"2023-08-01T00:03:00Z","channelAdded":{"merchantId":"m","customerId":"u"}})",
      R"({"eventId":"w5","occurredAt":"2023-08-01T00:04:00Z","couponRedeemed":{"couponId":"w4/wel","merchantId":"m","orderAmount":"5000"}})",
      R"({"eventId":"w6","occurredAt":"2023-08-01T00:05:00Z","redemptionReversed":{"couponId":"w4/wel","merchantId":"m"}})",
  };
  std::string jsonl;
  for (const char* line : lines) jsonl += std::string(line) + "\n";
  std::vector<Envelope> events = from_jsonl(jsonl);
  for (std::uint64_t seed = 0; seed < 10; ++seed) check_restarts(events, seed, /*max_batch=*/2, /*restart_percent=*/100);
}

TEST(StateStoreProperty, PilotSurvivesRestarts) {
  // Proves the welcome, friendship, block and message-cash tables survive
  // restarts on the pilot of DESIGN §1.
  const std::uint64_t seed = test_seed();
  std::cout << "pilot seed: " << seed << "\n";
  std::ostringstream jsonl;
  simulate::pilot(jsonl, seed);
  check_restarts(from_jsonl(jsonl.str()), seed, /*max_batch=*/400, /*restart_percent=*/25);
}

TEST(StateStoreProperty, FestivalSurvivesRestarts) {
  // Proves coupon chunks and overlays, expiry, limits and top-ups survive
  // restarts on a festival stream.
  const std::uint64_t seed = test_seed();
  std::cout << "festival seed: " << seed << "\n";
  std::ostringstream jsonl;
  simulate::festival(jsonl, seed, 20'000);
  check_restarts(from_jsonl(jsonl.str()), seed, /*max_batch=*/1500, /*restart_percent=*/25);
}

// ------------------------------------------------------------------ the store's own contract

// Opens `dir` and loads a fresh engine from it.
Status open_and_load(const std::string& dir, std::unique_ptr<StateStore>* store, Engine* engine,
                     std::map<std::int32_t, std::int64_t>* offsets) {
  Status st = StateStore::open(dir, store);
  if (!st.ok()) return st;
  return (*store)->load(engine, offsets, nullptr);
}

TEST(StateStore, NewStoreLoadsEmpty) {
  // Proves a new store loads as a fresh engine with no offsets and no outbox.
  TempDir dir;
  std::unique_ptr<StateStore> store;
  Engine engine;
  std::map<std::int32_t, std::int64_t> offsets{{7, 7}};
  ASSERT_TRUE(open_and_load(dir.path(), &store, &engine, &offsets).ok());
  EXPECT_TRUE(offsets.empty());
  EXPECT_EQ(engine.state().next_seq, 1);
  std::vector<OutboxEntry> outbox;
  ASSERT_TRUE(store->read_outbox(&outbox).ok());
  EXPECT_TRUE(outbox.empty());
}

TEST(StateStore, OutboxIsReadInSeqOrderTrimmedAndSurvivesReopen) {
  // Proves outbox entries come back in seq order with their bytes, that a
  // trim drops exactly the delivered prefix -- also in the middle of a
  // batch's entries -- and that entries and trims survive a reopen.
  TempDir dir;
  std::vector<OutboxEntry> first = {{1, 0, "k1", "v1"}, {2, 1, "k2", std::string("v\0 2", 4)}};
  std::vector<OutboxEntry> second = {{3, 0, "", "v3"}, {300, 2, "k300", ""}};
  {
    std::unique_ptr<StateStore> store;
    Engine engine;
    std::map<std::int32_t, std::int64_t> offsets;
    ASSERT_TRUE(open_and_load(dir.path(), &store, &engine, &offsets).ok());
    ASSERT_TRUE(store->commit(engine, {{0, 2}}, first).ok());
    ASSERT_TRUE(store->commit(engine, {{0, 4}}, second).ok());
    std::vector<OutboxEntry> all;
    ASSERT_TRUE(store->read_outbox(&all).ok());
    EXPECT_EQ(all, (std::vector<OutboxEntry>{first[0], first[1], second[0], second[1]}));
    ASSERT_TRUE(store->trim_outbox(2).ok());
    ASSERT_TRUE(store->trim_outbox(1).ok());  // behind the mark: nothing comes back
  }
  std::unique_ptr<StateStore> store;
  Engine engine;
  std::map<std::int32_t, std::int64_t> offsets;
  ASSERT_TRUE(open_and_load(dir.path(), &store, &engine, &offsets).ok());
  std::vector<OutboxEntry> left;
  ASSERT_TRUE(store->read_outbox(&left).ok());
  EXPECT_EQ(left, second);
  ASSERT_TRUE(store->trim_outbox(3).ok());
  ASSERT_TRUE(store->read_outbox(&left).ok());
  EXPECT_EQ(left, (std::vector<OutboxEntry>{second[1]}));
  ASSERT_TRUE(store->trim_outbox(1000).ok());
  ASSERT_TRUE(store->read_outbox(&left).ok());
  EXPECT_TRUE(left.empty());
}

TEST(StateStore, PublishFloorsAreStoredWithTheTrimAndSurviveReopen) {
  // Proves the publish floors (the offsets from which recovery reads each
  // decisions partition) are written with the trim mark, replace the ones
  // before, come back after a reopen, and are absent in a store that never
  // had any; a trim without floors keeps the stored ones.
  TempDir dir;
  {
    std::unique_ptr<StateStore> store;
    Engine engine;
    std::map<std::int32_t, std::int64_t> offsets, floors;
    ASSERT_TRUE(open_and_load(dir.path(), &store, &engine, &offsets).ok());
    ASSERT_TRUE(store->read_publish_floors(&floors).ok());
    EXPECT_TRUE(floors.empty());
    ASSERT_TRUE(store->commit(engine, {{0, 3}}, {{1, 0, "k", "a"}, {2, 1, "k", "b"}, {3, 0, "k", "c"}}).ok());
    ASSERT_TRUE(store->trim_outbox(1, {{0, 10}}).ok());
    ASSERT_TRUE(store->trim_outbox(2, {{0, 10}, {1, 7}}).ok());
    ASSERT_TRUE(store->trim_outbox(2).ok());  // nothing new: the floors stay
  }
  std::unique_ptr<StateStore> store;
  Engine engine;
  std::map<std::int32_t, std::int64_t> offsets, floors;
  ASSERT_TRUE(open_and_load(dir.path(), &store, &engine, &offsets).ok());
  ASSERT_TRUE(store->read_publish_floors(&floors).ok());
  EXPECT_EQ(floors, (std::map<std::int32_t, std::int64_t>{{0, 10}, {1, 7}}));
  std::vector<OutboxEntry> left;
  ASSERT_TRUE(store->read_outbox(&left).ok());
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].seq, 3);
}

TEST(StateStore, RefusesOutboxSeqsOutOfOrder) {
  // Proves a batch whose outbox seqs do not increase is refused whole and
  // leaves the engine's change log for a retry.
  TempDir dir;
  std::unique_ptr<StateStore> store;
  Engine engine;
  std::map<std::int32_t, std::int64_t> offsets;
  ASSERT_TRUE(open_and_load(dir.path(), &store, &engine, &offsets).ok());
  decide_bytes(engine, RandomEvents(1).make(1)[0], 0);
  Status st = store->commit(engine, {{0, 1}}, {{2, 0, "a", "a"}, {2, 0, "b", "b"}});
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(engine.changes().meta);
  std::vector<OutboxEntry> outbox;
  ASSERT_TRUE(store->read_outbox(&outbox).ok());
  EXPECT_TRUE(outbox.empty());
}

TEST(StateStore, OffsetsOfEveryPartitionSurviveReopen) {
  // Proves the last committed offset of each partition is what load returns,
  // including partitions a later batch did not mention.
  TempDir dir;
  {
    std::unique_ptr<StateStore> store;
    Engine engine;
    std::map<std::int32_t, std::int64_t> offsets;
    ASSERT_TRUE(open_and_load(dir.path(), &store, &engine, &offsets).ok());
    ASSERT_TRUE(store->commit(engine, {{0, 10}, {1, 5}, {2, 0}}, {}).ok());
    ASSERT_TRUE(store->commit(engine, {{0, 12}, {2, 3}}, {}).ok());
  }
  std::unique_ptr<StateStore> store;
  Engine engine;
  std::map<std::int32_t, std::int64_t> offsets;
  ASSERT_TRUE(open_and_load(dir.path(), &store, &engine, &offsets).ok());
  EXPECT_EQ(offsets, (std::map<std::int32_t, std::int64_t>{{0, 12}, {1, 5}, {2, 3}}));
}

TEST(StateStore, RefusesAStoreOfAnUnknownFormatVersion) {
  // Proves a store written in another format version is refused at open with
  // a message naming both versions, instead of being misread.
  TempDir dir;
  {
    std::unique_ptr<StateStore> store;
    ASSERT_TRUE(StateStore::open(dir.path(), &store).ok());
  }
  {
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), dir.path(), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    const std::uint32_t version = 99;
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "V", rocksdb::Slice(reinterpret_cast<const char*>(&version), 4)).ok());
    ASSERT_TRUE(db->Close().ok());
  }
  std::unique_ptr<StateStore> store;
  Status st = StateStore::open(dir.path(), &store);
  EXPECT_TRUE(st.IsNotSupported()) << st.ToString();
  EXPECT_NE(st.message().find("version 99"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("version 1"), std::string::npos) << st.message();
  EXPECT_EQ(store, nullptr);
}

TEST(StateStore, RefusesRecordsWithoutAFormatVersion) {
  // Proves a directory holding some other RocksDB database is not taken for
  // an empty state store.
  TempDir dir;
  {
    rocksdb::DB* raw = nullptr;
    rocksdb::Options options;
    options.create_if_missing = true;
    ASSERT_TRUE(rocksdb::DB::Open(options, dir.path(), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "something", "else").ok());
    ASSERT_TRUE(db->Close().ok());
  }
  std::unique_ptr<StateStore> store;
  Status st = StateStore::open(dir.path(), &store);
  EXPECT_TRUE(st.IsCorruption()) << st.ToString();
}

// Stores the state of a 2,000-event festival in `dir`, then adds a copy of
// its first record with `tag` whose key names index 1,000,000 at `offset`
// (a merchant or customer the stored names do not know), and loads it.
Status LoadWithRecordOfUnknownIndex(const TempDir& dir, char tag, std::size_t offset) {
  std::stringstream jsonl;
  simulate::festival(jsonl, 5, 2'000);
  const std::vector<Envelope> events = from_jsonl(jsonl.str());
  {
    Engine engine;
    std::unique_ptr<StateStore> store;
    std::map<std::int32_t, std::int64_t> offsets;
    Status st = open_and_load(dir.path(), &store, &engine, &offsets);
    if (!st.ok()) return st;
    for (std::size_t i = 0; i < events.size(); ++i) decide_bytes(engine, events[i], static_cast<std::int64_t>(i));
    st = store->commit(engine, {{0, static_cast<std::int64_t>(events.size())}}, {});
    if (!st.ok()) return st;
  }
  {
    rocksdb::DB* raw = nullptr;
    if (!rocksdb::DB::Open(rocksdb::Options(), dir.path(), &raw).ok()) return Status::IOError("reopen");
    std::unique_ptr<rocksdb::DB> db(raw);
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
    it->Seek(std::string(1, tag));
    if (!it->Valid() || it->key()[0] != tag) return Status::InvalidArgument("the festival left no such record");
    std::string key = it->key().ToString();
    const std::string value = it->value().ToString();
    it.reset();
    const char unknown[4] = {0, 0x0f, 0x42, 0x40};  // index 1,000,000, big-endian
    key.replace(offset, 4, unknown, 4);
    if (!db->Put(rocksdb::WriteOptions(), key, value).ok() || !db->Close().ok()) return Status::IOError("write");
  }
  Engine engine;
  std::unique_ptr<StateStore> store;
  std::map<std::int32_t, std::int64_t> offsets;
  return open_and_load(dir.path(), &store, &engine, &offsets);
}

TEST(StateStore, RefusesAMerchantUsageOfAnUnknownMerchant) {
  // Proves a usage record naming a merchant index the stored names do not
  // know is reported as corrupt, not loaded: usages are kept by merchant
  // index, and such a record would otherwise size the table to its index.
  TempDir dir;
  Status st = LoadWithRecordOfUnknownIndex(dir, 'U', 5);  // 'U', campaign, merchant
  EXPECT_TRUE(st.IsCorruption()) << st.ToString();
  EXPECT_NE(st.message().find("merchant usage"), std::string::npos) << st.message();
}

TEST(StateStore, RefusesAGrantCountOfAnUnknownCustomer) {
  // The same for a customer's grant count, kept by customer index.
  TempDir dir;
  Status st = LoadWithRecordOfUnknownIndex(dir, 'G', 5);  // 'G', campaign, customer
  EXPECT_TRUE(st.IsCorruption()) << st.ToString();
  EXPECT_NE(st.message().find("customer grants"), std::string::npos) << st.message();
}

TEST(StateStore, CheckpointOpensToTheSameState) {
  // Proves a checkpoint is a complete store: opened and loaded it gives the
  // same state, offsets and outbox as the store it was taken from.
  TempDir dir;
  std::vector<Envelope> events = RandomEvents(7).make(400);
  Engine engine;
  std::unique_ptr<StateStore> store;
  std::map<std::int32_t, std::int64_t> offsets;
  ASSERT_TRUE(open_and_load(dir.path(), &store, &engine, &offsets).ok());
  for (std::size_t i = 0; i < events.size(); ++i) decide_bytes(engine, events[i], static_cast<std::int64_t>(i));
  ASSERT_TRUE(store->commit(engine, {{0, 400}}, {{1, 0, "k", "v"}}).ok());
  ASSERT_TRUE(store->checkpoint(dir.path("checkpoint")).ok());

  Engine copy;
  std::unique_ptr<StateStore> copy_store;
  std::map<std::int32_t, std::int64_t> copy_offsets;
  ASSERT_TRUE(open_and_load(dir.path("checkpoint"), &copy_store, &copy, &copy_offsets).ok());
  EXPECT_EQ(dump(engine.state()), dump(copy.state()));
  EXPECT_EQ(copy_offsets, (std::map<std::int32_t, std::int64_t>{{0, 400}}));
  std::vector<OutboxEntry> outbox;
  ASSERT_TRUE(copy_store->read_outbox(&outbox).ok());
  EXPECT_EQ(outbox, (std::vector<OutboxEntry>{{1, 0, "k", "v"}}));
  EXPECT_TRUE(copy.check_invariants().empty());
}

TEST(StateStore, PreparedBatchesWrittenOnAnotherThreadEqualCommits) {
  // Proves commit() in two halves (campaignd's pipeline): each batch's
  // changes are prepared on the deciding thread, and written on another one
  // while the next batch is decided; the store then loads the same state as
  // an engine that never stopped, with every outbox entry in seq order.
  std::ostringstream jsonl;
  simulate::festival(jsonl, 5, 3'000);
  const std::vector<Envelope> events = from_jsonl(jsonl.str());
  TempDir dir;
  Engine engine;
  std::unique_ptr<StateStore> store;
  std::map<std::int32_t, std::int64_t> offsets;
  ASSERT_TRUE(open_and_load(dir.path(), &store, &engine, &offsets).ok());
  PendingCommit pending[2];
  OutboxBatch outbox[2];
  std::thread writer;
  Status written;
  std::vector<OutboxEntry> want;
  for (std::size_t begin = 0, b = 0; begin < events.size(); begin += 400, ++b) {
    const std::size_t end = std::min(events.size(), begin + 400);
    OutboxBatch& out = outbox[b % 2];
    out.clear();
    for (std::size_t i = begin; i < end; ++i) {
      const std::int64_t seq = engine.state().next_seq;
      out.add(seq, 0, "k" + std::to_string(i), decide_bytes(engine, events[i], static_cast<std::int64_t>(i)));
      want.push_back({seq, 0, "k" + std::to_string(i), std::string(out.value(out.entries().back()))});
    }
    offsets[0] = static_cast<std::int64_t>(end);
    if (writer.joinable()) writer.join();
    ASSERT_TRUE(written.ok()) << written.ToString();
    ASSERT_TRUE(store->prepare(engine, offsets, &pending[b % 2]).ok());
    EXPECT_TRUE(engine.changes().coupons.empty()) << "prepare() takes the change log";
    EXPECT_EQ(engine.changes().since.events, engine.state().seen_events.size()) << "and moves the watermarks";
    writer = std::thread([&, b] { written = store->write(&pending[b % 2], outbox[b % 2]); });
  }
  writer.join();
  ASSERT_TRUE(written.ok()) << written.ToString();
  std::vector<OutboxEntry> stored;
  ASSERT_TRUE(store->read_outbox(&stored).ok());
  EXPECT_EQ(stored, want);
  store.reset();
  Engine reloaded;
  ASSERT_TRUE(open_and_load(dir.path(), &store, &reloaded, &offsets).ok());
  EXPECT_EQ(offsets[0], static_cast<std::int64_t>(events.size()));
  EXPECT_EQ(dump(engine.state()), dump(reloaded.state()));
}

TEST(StateStore, ABatchPreparedButNotWrittenIsGoneAfterAReload) {
  // Proves what campaignd relies on when a batch cannot be committed (its
  // dead letters were not delivered): loading again into a fresh engine
  // gives the state as committed, and deciding the batch again from there
  // commits the same state as an engine that never dropped anything.
  std::vector<Envelope> events = RandomEvents(9).make(300);
  TempDir dir;
  Engine engine, reference;
  std::unique_ptr<StateStore> store;
  std::map<std::int32_t, std::int64_t> offsets;
  ASSERT_TRUE(open_and_load(dir.path(), &store, &engine, &offsets).ok());
  for (std::size_t i = 0; i < 150; ++i) decide_bytes(engine, events[i], static_cast<std::int64_t>(i));
  ASSERT_TRUE(store->commit(engine, {{0, 150}}, {}).ok());
  for (std::size_t i = 150; i < 300; ++i) decide_bytes(engine, events[i], static_cast<std::int64_t>(i));
  PendingCommit dropped;
  ASSERT_TRUE(store->prepare(engine, {{0, 300}}, &dropped).ok());
  Engine again;
  ASSERT_TRUE(store->load(&again, &offsets, nullptr).ok());
  EXPECT_EQ(offsets[0], 150);
  for (std::size_t i = 0; i < 150; ++i) decide_bytes(reference, events[i], static_cast<std::int64_t>(i));
  EXPECT_EQ(dump(again.state()), dump(reference.state()));
  for (std::size_t i = 150; i < 300; ++i) {
    ASSERT_EQ(decide_bytes(again, events[i], static_cast<std::int64_t>(i)),
              decide_bytes(reference, events[i], static_cast<std::int64_t>(i)));
  }
  PendingCommit redone;
  ASSERT_TRUE(store->prepare(again, {{0, 300}}, &redone).ok());
  ASSERT_TRUE(store->write(&redone, OutboxBatch()).ok());
  store.reset();
  Engine reloaded;
  ASSERT_TRUE(open_and_load(dir.path(), &store, &reloaded, &offsets).ok());
  EXPECT_EQ(offsets[0], 300);
  EXPECT_EQ(dump(reloaded.state()), dump(reference.state()));
}

TEST(StateStore, RefusesCallsOutOfOrder) {
  // Proves the store refuses a commit before load (it would reuse chunk
  // numbers), a load into an engine that already decided, and a commit of an
  // engine that does not track its changes.
  TempDir dir;
  std::unique_ptr<StateStore> store;
  ASSERT_TRUE(StateStore::open(dir.path(), &store).ok());
  Engine used;
  used.track_changes(true);
  decide_bytes(used, RandomEvents(1).make(1)[0], 0);
  EXPECT_EQ(store->commit(used, {}, {}).code(), Status::Code::kInvalidArgument);
  std::map<std::int32_t, std::int64_t> offsets;
  EXPECT_EQ(store->load(&used, &offsets, nullptr).code(), Status::Code::kInvalidArgument);
  Engine fresh;
  ASSERT_TRUE(store->load(&fresh, &offsets, nullptr).ok());
  Engine untracked;
  EXPECT_EQ(store->commit(untracked, {}, {}).code(), Status::Code::kInvalidArgument);
}

TEST(ChangeLog, IsEmptyUnlessTracking) {
  // Proves engines that never persist (replay, benchmarks) pay nothing: the
  // log stays empty until tracking is turned on, and clear() keeps watermarks
  // at the current table sizes.
  std::vector<Envelope> events = RandomEvents(3).make(200);
  Engine engine;
  for (std::size_t i = 0; i < events.size(); ++i) decide_bytes(engine, events[i], static_cast<std::int64_t>(i));
  EXPECT_TRUE(engine.changes().coupons.empty());
  EXPECT_TRUE(engine.changes().merchants.empty());
  engine.track_changes(true);
  EXPECT_EQ(engine.changes().since.events, engine.state().seen_events.size());
  EXPECT_EQ(engine.changes().since.coupons, engine.state().coupons.size());
  EXPECT_EQ(engine.changes().since.customer_ids, engine.state().customer_ids.size());
}

}  // namespace
}  // namespace dangol::storage
