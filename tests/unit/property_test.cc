// Property tests of the engine (STYLE habit 7): random event sequences
// against the real engine, against a naive reference model
// (reference_model.h), against a second engine, and against a fold of the
// decision journal -- in the manner of RocksDB's db_map_fuzzer and
// TigerBeetle's simulator.
//
// How sequences are made. RapidCheck generates a vector of abstract `Op`s
// (a kind plus a few random numbers); `SequenceBuilder` turns them, in order,
// into Envelopes while remembering what it has emitted, so that later ops can
// refer to earlier ones: a redemption usually names a coupon that an earlier
// couponIssued or channelAdded probably granted, a reversal usually names an
// earlier redemption, a duplicate re-sends an earlier envelope byte for byte.
// Because every reference is taken modulo what exists, RapidCheck can drop
// any op while shrinking and the rest still means something, so failures
// shrink to short sequences.
//
// Rerunning. RapidCheck prints "Using configuration: seed=…" when it starts
// and, for a failure, a `RC_PARAMS="reproduce=…"` line at exit; every failure
// message here also names the seed, the event index and the (shrunk)
// sequence as JSONL. DANGOL_PROPERTY_SCALE (default 1) multiplies the number
// of cases; sanitizer builds run a quarter of them.
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "dangol.pb.h"
#include "engine/encode.h"
#include "engine/engine.h"
#include "engine/report.h"
#include "proto/json_codec.h"
#include "services/campaignctl/reconcile.h"
#include "tests/unit/reference_model.h"

namespace dangol {
namespace {

using v1::Decision;
using v1::Envelope;

// ------------------------------------------------------------------ the world

constexpr std::int64_t kT0 = 1'690'848'000;  // 2023-08-01T00:00:00Z
constexpr std::int64_t kDay = 86'400;

const char* const kCampaignIds[] = {"cB", "cA", "cD", "cC"};  // definition order differs from id order
const char* const kFunderIds[] = {"gov", "city", "kakao", "bank"};
const char* const kMerchantIds[] = {"m1", "m2", "m3", "m4", "m5", "m6"};
const char* const kMarketIds[] = {"mk1", "mk2", "mk3"};
const char* const kCategories[] = {"food", "fish", "cloth"};
const std::vector<std::vector<std::int32_t>> kSharePatterns = {
    {10000}, {5000, 5000}, {1, 9999}, {3333, 3333, 3334}, {2500, 2500, 2500, 2500},
    {9999, 1}, {7000, 2000, 1000}, {1234, 5678, 3088}, {1, 1, 9998}, {3334, 3333, 3333}};

enum class Kind : std::uint8_t {
  kDefine, kBudget, kStatus, kEnroll, kOpen, kAdd, kBlock, kIssue, kRedeem, kReverse, kMessage,
  kDuplicate, kConflict, kInvalid,
  kMass  // hundreds of grants, then one event that voids or expires them all (CONTRACT §3 "Parts")
};

// One abstract operation. The numbers are a stream of small choices (see
// Dice); shrinking them towards 0 picks "the first option" everywhere.
struct Op {
  Kind kind = Kind::kDefine;
  std::uint32_t a = 0, b = 0, c = 0, d = 0;
  int time_mode = 0;  // 0..99: how occurredAt moves
  int time_step = 0;  // 0..1000
};

// Draws small choices out of two 31-bit numbers.
class Dice {
 public:
  Dice(std::uint32_t x, std::uint32_t y) : v_((std::uint64_t{x} << 31) | y) {}
  std::uint32_t operator()(std::uint32_t n) {
    std::uint32_t r = static_cast<std::uint32_t>(v_ % n);
    v_ /= n;
    return r;
  }

 private:
  std::uint64_t v_;
};

void showValue(const Op& op, std::ostream& os) {
  os << "Op{kind=" << static_cast<int>(op.kind) << ", " << op.a << ", " << op.b << ", " << op.c << ", " << op.d
     << ", time " << op.time_mode << "/" << op.time_step << "}";
}

struct CampaignInfo {
  std::string id;
  bool welcome = false;
  std::int64_t fixed = 0, percent_bps = 0, max_discount = 0, valid_days = 1;
  std::vector<std::string> funders;
};

struct CouponRef {
  std::string coupon_id;
  std::string merchant;  // empty: none
  std::int64_t expires_s = 0;
  const CampaignInfo* campaign = nullptr;
};

struct RedemptionRef {
  std::string coupon_id, merchant;
};

// Turns ops into envelopes. Deterministic: the same ops give the same
// envelopes.
class SequenceBuilder {
 public:
  std::vector<Envelope> build(const std::vector<Op>& ops, bool include_welcome_and_cash) {
    welcome_and_cash_ = include_welcome_and_cash;
    for (const Op& op : ops) add(op);
    return std::move(out_);
  }

 private:
  void add(const Op& op) {
    if (op.kind == Kind::kMass) return mass(op);
    Envelope e;
    e.set_event_id("e" + std::to_string(out_.size() + 1));
    Dice dice(op.a, op.b);
    Dice more(op.c, op.d);
    set_time(op, &e);
    switch (op.kind) {
      case Kind::kDefine: define(dice, more, &e); break;
      case Kind::kBudget: budget(dice, &e); break;
      case Kind::kStatus: status(dice, &e); break;
      case Kind::kEnroll: enroll(dice, &e); break;
      case Kind::kOpen: {
        auto* p = e.mutable_channel_opened();
        p->set_merchant_id(dice(4) != 0 ? merchant_without_channel(dice) : merchant(dice));
        channels_.insert(p->merchant_id());
        p->set_channel_id(dice(5) == 0 ? "ch-other" : "ch-" + p->merchant_id());
        break;
      }
      case Kind::kAdd: add_friend(dice, &e); break;
      case Kind::kBlock: {
        auto* p = e.mutable_channel_blocked();
        p->set_merchant_id(merchant(dice));
        p->set_customer_id(customer(dice));
        break;
      }
      case Kind::kIssue: issue(dice, more, &e); break;
      case Kind::kRedeem: redeem(dice, more, &e); break;
      case Kind::kReverse: reverse(dice, &e); break;
      case Kind::kMessage: message(dice, &e); break;
      case Kind::kDuplicate:
        if (!out_.empty()) e = out_[dice(static_cast<std::uint32_t>(out_.size()))];
        else enroll(dice, &e);
        break;
      case Kind::kConflict: conflict(dice, &e); break;
      case Kind::kInvalid: invalid(dice, &e); break;
      case Kind::kMass: break;  // mass(), above
    }
    out_.push_back(std::move(e));
  }

  void stamp(Envelope* e, std::int64_t seconds, std::int32_t nanos = 0) {
    e->mutable_occurred_at()->set_seconds(seconds);
    e->mutable_occurred_at()->set_nanos(nanos);
  }

  // Mostly forward in small steps; sometimes days at once (expiry), sometimes
  // late (before the newest time seen: the clock must not go back).
  void set_time(const Op& op, Envelope* e) {
    const std::int64_t step = op.time_step;
    std::int32_t nanos = 0;
    std::int64_t t = now_;
    if (op.time_mode < 55) t = now_ += step * 2;
    else if (op.time_mode < 62) t = now_ += step * 60;
    else if (op.time_mode < 63) t = now_ += step * 1000;
    else if (op.time_mode < 82) t = now_;
    else if (op.time_mode < 95) t = now_ - step * 100;
    else nanos = static_cast<std::int32_t>(step * 997 + 1);
    stamp(e, t, nanos);
  }

  // Mostly a merchant enrolled earlier; sometimes any, rarely an unknown one.
  std::string merchant(Dice& dice) {
    std::uint32_t r = dice(8);
    if (r == 7) return "m9";
    if (r < 5 && !enrolled_.empty()) {
      auto it = enrolled_.begin();
      std::advance(it, dice(static_cast<std::uint32_t>(enrolled_.size())));
      return it->first;
    }
    return kMerchantIds[dice(6)];
  }
  std::string merchant_without_channel(Dice& dice) {
    std::vector<std::string> candidates;
    for (const auto& [m, data] : enrolled_) {
      if (!channels_.count(m)) candidates.push_back(m);
    }
    if (candidates.empty()) return merchant(dice);
    return candidates[dice(static_cast<std::uint32_t>(candidates.size()))];
  }
  std::string merchant_with_channel(Dice& dice) {
    std::vector<std::string> candidates;
    for (const auto& m : channels_) {
      if (enrolled_.count(m)) candidates.push_back(m);
    }
    if (candidates.empty() || dice(6) == 0) return merchant(dice);
    return candidates[dice(static_cast<std::uint32_t>(candidates.size()))];
  }
  std::string customer(Dice& dice) { return "c" + std::to_string(dice(8) + 1); }

  const CampaignInfo* campaign(Dice& dice) {
    if (campaigns_.empty() || dice(8) == 0) return nullptr;
    return &campaigns_[dice(static_cast<std::uint32_t>(campaigns_.size()))];
  }
  std::string campaign_id(Dice& dice) {
    const CampaignInfo* c = campaign(dice);
    if (c) return c->id;
    std::uint32_t k = dice(5);
    return k == 4 ? "cZ" : kCampaignIds[k];
  }

  void define(Dice& dice, Dice& more, Envelope* e) {
    auto* p = e->mutable_campaign_defined();
    std::string id = kCampaignIds[dice(4)];
    p->set_campaign_id(id);
    p->set_name("Campaign " + id);
    p->set_currency("KRW");
    bool welcome = welcome_and_cash_ && dice(2) == 0;
    p->set_trigger(welcome ? v1::CampaignDefined::CHANNEL_ADDED : v1::CampaignDefined::ISSUED);
    std::int64_t starts = now_ - dice(3) * 3600 - dice(600);
    if (dice(6) == 0) starts = now_ + dice(7200) + 1;  // not started yet
    const std::int64_t durations[] = {3600, kDay, 10 * kDay, 30 * kDay, 60 * kDay, 60 * kDay, 60 * kDay, 60 * kDay};
    p->mutable_starts_at()->set_seconds(starts);
    p->mutable_ends_at()->set_seconds(starts + durations[dice(8)]);
    const std::int32_t offsets[] = {540, 0, -300, 345, 840};
    p->set_utc_offset_minutes(offsets[dice(5)]);

    CampaignInfo info;
    info.id = id;
    info.welcome = welcome;
    const auto& shares = kSharePatterns[dice(static_cast<std::uint32_t>(kSharePatterns.size()))];
    std::uint32_t rotate = dice(4);
    const std::int64_t budgets[] = {0, 1000, 5000, 20000, 100000, 3, 7777, 50000, 50000};
    for (std::size_t i = 0; i < shares.size(); ++i) {
      auto* f = p->add_funders();
      f->set_funder_id(kFunderIds[(i + rotate) % 4]);
      f->set_share_bps(shares[i]);
      f->set_budget(budgets[more(9)]);
      info.funders.push_back(f->funder_id());
    }
    auto* offer = p->mutable_offer();
    if (dice(2) == 0) {
      const std::int64_t fixed[] = {1000, 2000, 3333, 1, 7, 5000};
      offer->set_fixed_amount(fixed[dice(6)]);
    } else {
      const std::int32_t bps[] = {1000, 333, 10000, 1, 2500};
      const std::int64_t caps[] = {5000, 999, 1, 12345, 3000};
      offer->set_percent_bps(bps[dice(5)]);
      offer->set_max_discount(caps[dice(5)]);
    }
    const std::int64_t min_orders[] = {0, 0, 5000, 10000};
    offer->set_min_order_amount(min_orders[dice(4)]);
    offer->set_valid_days(static_cast<std::int32_t>(1 + dice(3)));
    info.fixed = offer->fixed_amount();
    info.percent_bps = offer->percent_bps();
    info.max_discount = offer->max_discount();
    info.valid_days = offer->valid_days();

    auto* limits = p->mutable_limits();
    const std::int64_t per_customer[] = {0, 1, 2, 3}, per_merchant_count[] = {0, 0, 2, 5},
                       total[] = {0, 0, 3, 10}, per_merchant_amount[] = {0, 0, 5000, 10001},
                       daily[] = {0, 0, 4000, 10000};
    limits->set_per_customer(per_customer[more(4)]);
    limits->set_per_merchant_count(per_merchant_count[more(4)]);
    limits->set_total_count(total[more(4)]);
    limits->set_per_merchant_amount(per_merchant_amount[more(4)]);
    limits->set_daily_amount(daily[more(4)]);
    if (welcome_and_cash_ && more(3) == 0) {
      const std::int64_t cash[] = {500, 1000, 3001};
      p->mutable_message_cash()->set_per_merchant(cash[more(3)]);
    }
    switch (more(4)) {
      case 1: p->set_redemption_grace_seconds(0); break;
      case 2: p->set_redemption_grace_seconds(3600); break;
      case 3: p->set_redemption_grace_seconds(2 * kDay); break;
      default: break;  // absent: 86400
    }
    if (more(3) == 0) {
      p->add_alert_thresholds_bps(3000);
      p->add_alert_thresholds_bps(9000);
    }
    auto* elig = p->mutable_eligibility();
    if (more(3) == 0) {
      elig->add_market_ids(kMarketIds[more(3)]);
      if (more(2) == 0) elig->add_market_ids(kMarketIds[more(3)]);
    }
    if (more(4) == 0) {
      for (int k = 0; k < 3; ++k) elig->add_merchant_ids(kMerchantIds[more(6)]);
    }
    if (more(4) == 0) elig->add_categories(kCategories[more(3)]);
    if (std::none_of(campaigns_.begin(), campaigns_.end(), [&](const CampaignInfo& c) { return c.id == id; })) {
      campaigns_.push_back(std::move(info));
    }
  }

  void budget(Dice& dice, Envelope* e) {
    auto* p = e->mutable_budget_adjusted();
    const CampaignInfo* c = campaign(dice);
    p->set_campaign_id(c ? c->id : "cZ");
    if (c && dice(5) != 0) p->set_funder_id(c->funders[dice(static_cast<std::uint32_t>(c->funders.size()))]);
    else p->set_funder_id("nobody");
    const std::int64_t deltas[] = {1000, -500, -100000, 1, -1, 0, 12345, -3, 50000};
    p->set_delta(deltas[dice(9)]);
  }

  void status(Dice& dice, Envelope* e) {
    auto* p = e->mutable_campaign_status_changed();
    p->set_campaign_id(campaign_id(dice));
    const v1::CampaignStatusChanged::Status s[] = {
        v1::CampaignStatusChanged::ACTIVE, v1::CampaignStatusChanged::PAUSED, v1::CampaignStatusChanged::ACTIVE,
        v1::CampaignStatusChanged::ACTIVE, v1::CampaignStatusChanged::PAUSED, v1::CampaignStatusChanged::CLOSED};
    p->set_status(s[dice(6)]);
  }

  void enroll(Dice& dice, Envelope* e) {
    auto* p = e->mutable_merchant_enrolled();
    std::string m = kMerchantIds[dice(6)];
    p->set_merchant_id(m);
    auto it = enrolled_.find(m);
    if (it != enrolled_.end() && dice(3) != 0) {
      p->set_market_id(it->second.first);  // same data again
      p->set_category(it->second.second);
    } else {
      p->set_market_id(kMarketIds[dice(3)]);
      p->set_category(kCategories[dice(3)]);
      enrolled_.emplace(m, std::make_pair(p->market_id(), p->category()));
    }
  }

  void add_friend(Dice& dice, Envelope* e) {
    auto* p = e->mutable_channel_added();
    p->set_merchant_id(merchant_with_channel(dice));
    p->set_customer_id(customer(dice));
    for (const auto& c : campaigns_) {
      if (!c.welcome) continue;
      coupons_.push_back({e->event_id() + "/" + c.id, p->merchant_id(),
                          e->occurred_at().seconds() + c.valid_days * kDay, &c});
    }
  }

  // 150 to 400 grants of one ISSUED campaign at one moment, to new
  // customers, then either its close or an event that moves the clock past
  // their expiry: one decision whose effects may cross the 256 of a part.
  void mass(const Op& op) {
    Dice dice(op.a, op.b);
    std::vector<const CampaignInfo*> issued;
    for (const auto& c : campaigns_) {
      if (!c.welcome) issued.push_back(&c);
    }
    if (issued.empty()) return;
    const CampaignInfo* c = issued[dice(static_cast<std::uint32_t>(issued.size()))];
    const std::uint32_t n = 150 + dice(251);
    for (std::uint32_t i = 0; i < n; ++i) {
      Envelope e;
      e.set_event_id("e" + std::to_string(out_.size() + 1));
      stamp(&e, now_);
      auto* p = e.mutable_coupon_issued();
      p->set_campaign_id(c->id);
      p->set_customer_id("mass-" + std::to_string(out_.size()));
      coupons_.push_back({e.event_id(), "", now_ + c->valid_days * kDay, c});
      out_.push_back(std::move(e));
    }
    Envelope last;
    last.set_event_id("e" + std::to_string(out_.size() + 1));
    if (dice(2) == 0) {
      stamp(&last, now_);
      auto* p = last.mutable_campaign_status_changed();
      p->set_campaign_id(c->id);
      p->set_status(v1::CampaignStatusChanged::CLOSED);
    } else {
      now_ += (c->valid_days + 30) * kDay;  // past any grace the generator gives
      stamp(&last, now_);
      enroll(dice, &last);
    }
    out_.push_back(std::move(last));
  }

  void issue(Dice& dice, Dice& more, Envelope* e) {
    auto* p = e->mutable_coupon_issued();
    std::vector<const CampaignInfo*> issued;
    for (const auto& c : campaigns_) {
      if (!c.welcome) issued.push_back(&c);
    }
    const CampaignInfo* c = nullptr;
    if (!issued.empty() && dice(6) != 0) c = issued[dice(static_cast<std::uint32_t>(issued.size()))];
    p->set_campaign_id(c ? c->id : campaign_id(dice));
    if (!c) {
      for (const auto& x : campaigns_) {
        if (x.id == p->campaign_id()) c = &x;
      }
    }
    p->set_customer_id(customer(dice));
    if (dice(5) < 3) p->set_merchant_id(merchant(dice));
    std::string coupon_id = e->event_id();
    switch (more(10)) {
      case 0: coupon_id = "k" + std::to_string(more(6)); break;              // may be taken
      case 1: coupon_id = "e" + std::to_string(out_.size() + 1 + more(4)); break;  // an event id, maybe later
      case 2: coupon_id = "x/" + std::to_string(more(3)); break;
      case 3:  // the id a later channelAdded would give its welcome coupon
        coupon_id = "e" + std::to_string(out_.size() + 2 + more(3)) + "/" + kCampaignIds[more(4)];
        break;
      default: break;
    }
    if (coupon_id != e->event_id()) p->set_coupon_id(coupon_id);
    if (c) coupons_.push_back({coupon_id, p->has_merchant_id() ? p->merchant_id() : "",
                               e->occurred_at().seconds() + c->valid_days * kDay, c});
  }

  void redeem(Dice& dice, Dice& more, Envelope* e) {
    auto* p = e->mutable_coupon_redeemed();
    const CouponRef* k = nullptr;
    if (!coupons_.empty() && dice(8) != 0) {
      // Recent coupons are more likely still live.
      std::uint32_t n = static_cast<std::uint32_t>(coupons_.size());
      std::uint32_t back = dice(2) == 0 ? dice(std::min<std::uint32_t>(n, 4)) : dice(n);
      k = &coupons_[n - 1 - back];
    }
    p->set_coupon_id(k ? k->coupon_id : (dice(2) == 0 ? "nope" : "e1"));
    if (k && !k->merchant.empty() && dice(6) != 0) p->set_merchant_id(k->merchant);
    else p->set_merchant_id(merchant(dice));
    const std::int64_t orders[] = {0, 999, 5000, 10000, 20000, 50000, 100000, 12345, 1'000'000'000'000'000};
    std::int64_t order = orders[more(9)];
    if (order < 1'000'000'000'000'000) order += more(3) * 1234;
    p->set_order_amount(order);
    switch (more(4)) {
      case 2:
      case 3:
        if (k) {
          std::int64_t d = k->campaign->percent_bps > 0
                               ? std::min<std::int64_t>(static_cast<std::int64_t>(static_cast<__int128>(order) *
                                                                                  k->campaign->percent_bps / 10000),
                                                        k->campaign->max_discount)
                               : std::min(k->campaign->fixed, order);
          p->set_discount(more(4) == 0 ? d + 1 : d);  // mostly right, sometimes wrong
        } else {
          p->set_discount(1000);
        }
        break;
      default: break;  // absent
    }
    if (k && more(10) == 0) {  // at the expiry boundary: one second before, at, after
      stamp(e, k->expires_s - 1 + more(3));  // the cursor stays: later events may be late
    }
    redemptions_.push_back({p->coupon_id(), p->merchant_id()});
  }

  void reverse(Dice& dice, Envelope* e) {
    auto* p = e->mutable_redemption_reversed();
    if (!redemptions_.empty() && dice(5) != 0) {
      std::uint32_t n = static_cast<std::uint32_t>(redemptions_.size());
      const RedemptionRef& r = redemptions_[n - 1 - dice(std::min<std::uint32_t>(n, 6))];
      p->set_coupon_id(r.coupon_id);
      p->set_merchant_id(dice(6) != 0 ? r.merchant : merchant(dice));
    } else {
      p->set_coupon_id(coupons_.empty() ? "nope" : coupons_[dice(static_cast<std::uint32_t>(coupons_.size()))].coupon_id);
      p->set_merchant_id(merchant(dice));
    }
  }

  void message(Dice& dice, Envelope* e) {
    auto* p = e->mutable_message_sent();
    p->set_merchant_id(merchant_with_channel(dice));
    p->set_recipients(1 + dice(50));
    const std::int64_t unit[] = {8, 10, 15, 0, 100};
    p->set_unit_cost(unit[dice(5)]);
  }

  // Reuses an earlier event id with other content.
  void conflict(Dice& dice, Envelope* e) {
    if (out_.empty()) return enroll(dice, e);
    Envelope earlier = out_[dice(static_cast<std::uint32_t>(out_.size()))];
    if (dice(2) == 0) {
      earlier.mutable_occurred_at()->set_seconds(earlier.occurred_at().seconds() + 1);
    } else {
      earlier.mutable_channel_blocked()->set_merchant_id("m1");
      earlier.mutable_channel_blocked()->set_customer_id("c1");
    }
    *e = std::move(earlier);
  }

  // Breaks one field rule of CONTRACT §1 / DESIGN §3 step 1.
  void invalid(Dice& dice, Envelope* e) {
    switch (dice(13)) {
      case 0: e->clear_event_id(); e->mutable_channel_added()->set_merchant_id("m1"); e->mutable_channel_added()->set_customer_id("c1"); break;
      case 1: e->clear_occurred_at(); message(dice, e); break;
      case 2: break;  // no payload
      case 3: redeem(dice, dice, e); e->mutable_coupon_redeemed()->set_order_amount(-5); break;
      case 4: {
        Dice d2(1, 2);
        define(dice, d2, e);
        e->mutable_campaign_defined()->mutable_funders(0)->set_share_bps(
            e->mutable_campaign_defined()->funders(0).share_bps() == 10000 ? 9999 : 10000);
        break;
      }
      case 5: {
        Dice d2(3, 4);
        define(dice, d2, e);
        auto* p = e->mutable_campaign_defined();
        *p->add_funders() = p->funders(0);  // duplicate funder id
        p->mutable_funders(0)->set_share_bps(p->funders(0).share_bps() / 2 + 1);
        break;
      }
      case 6: {
        Dice d2(5, 6);
        define(dice, d2, e);
        auto* p = e->mutable_campaign_defined();
        *p->mutable_ends_at() = p->starts_at();
        break;
      }
      case 7: {
        auto* p = e->mutable_campaign_status_changed();
        p->set_campaign_id(campaign_id(dice));
        p->set_status(dice(2) == 0 ? v1::CampaignStatusChanged::STATUS_UNSPECIFIED
                                   : static_cast<v1::CampaignStatusChanged::Status>(7));
        break;
      }
      case 8: {
        auto* p = e->mutable_message_sent();
        p->set_merchant_id("m1");
        p->set_recipients(1'000'000'000'000'000);
        p->set_unit_cost(10);
        break;
      }
      case 9: {
        auto* p = e->mutable_channel_opened();
        p->set_merchant_id("m 1");
        p->set_channel_id("ch");
        break;
      }
      case 10: {
        auto* p = e->mutable_budget_adjusted();
        p->set_campaign_id(campaign_id(dice));
        p->set_funder_id("gov");
        p->set_delta(-2'000'000'000'000'000);
        break;
      }
      case 11: {
        Dice d2(7, 8);
        define(dice, d2, e);
        auto* p = e->mutable_campaign_defined();
        p->mutable_funders(0)->set_share_bps(0);
        break;
      }
      default: {
        Dice d2(9, 10);
        define(dice, d2, e);
        e->mutable_campaign_defined()->mutable_funders(0)->set_budget(-1);
        break;
      }
    }
    // An invalid campaignDefined must not be remembered as defined.
    if (e->has_campaign_defined()) {
      const std::string& id = e->campaign_defined().campaign_id();
      bool seen_before = std::any_of(out_.begin(), out_.end(), [&](const Envelope& x) {
        return x.has_campaign_defined() && x.campaign_defined().campaign_id() == id;
      });
      if (!seen_before) {
        campaigns_.erase(std::remove_if(campaigns_.begin(), campaigns_.end(),
                                        [&](const CampaignInfo& c) { return c.id == id; }),
                         campaigns_.end());
      }
    }
  }

  bool welcome_and_cash_ = true;
  std::int64_t now_ = kT0;
  std::vector<Envelope> out_;
  std::deque<CampaignInfo> campaigns_;  // deque: CouponRef points into it
  std::vector<CouponRef> coupons_;
  std::vector<RedemptionRef> redemptions_;
  std::map<std::string, std::pair<std::string, std::string>> enrolled_;
  std::set<std::string> channels_;
};

rc::Gen<Op> op_gen(std::initializer_list<std::pair<std::size_t, Kind>> weights) {
  return rc::gen::map(
      rc::gen::tuple(rc::gen::weightedElement<Kind>(weights), rc::gen::inRange<std::uint32_t>(0, 1u << 31),
                     rc::gen::inRange<std::uint32_t>(0, 1u << 31), rc::gen::inRange<std::uint32_t>(0, 1u << 31),
                     rc::gen::inRange<std::uint32_t>(0, 1u << 31), rc::gen::inRange(0, 100),
                     rc::gen::inRange(0, 1001)),
      [](const std::tuple<Kind, std::uint32_t, std::uint32_t, std::uint32_t, std::uint32_t, int, int>& t) {
        auto [k, a, b, c, d, mode, step] = t;
        return Op{k, a, b, c, d, mode, step};
      });
}

// A short setup (campaigns, merchants, channels), then `main`.
rc::Gen<std::vector<Op>> after_setup(rc::Gen<std::vector<Op>> main) {
  auto first = rc::gen::nonEmpty(rc::gen::resize(3, rc::gen::container<std::vector<Op>>(op_gen({{1, Kind::kDefine}}))));
  auto setup = rc::gen::resize(
      18, rc::gen::container<std::vector<Op>>(op_gen({{3, Kind::kDefine}, {5, Kind::kEnroll}, {4, Kind::kOpen}})));
  return rc::gen::map(rc::gen::tuple(first, setup, std::move(main)),
                      [](const std::tuple<std::vector<Op>, std::vector<Op>, std::vector<Op>>& t) {
                        std::vector<Op> all = std::get<0>(t);
                        all.insert(all.end(), std::get<1>(t).begin(), std::get<1>(t).end());
                        all.insert(all.end(), std::get<2>(t).begin(), std::get<2>(t).end());
                        return all;
                      });
}

// A short setup followed by up to ~290 operations of every kind, weighted
// towards grants and redemptions.
rc::Gen<std::vector<Op>> ops_gen() {
  auto main = rc::gen::scale(
      2.9, rc::gen::container<std::vector<Op>>(op_gen({
               {1, Kind::kDefine},  {3, Kind::kBudget},   {2, Kind::kStatus},  {2, Kind::kEnroll},
               {2, Kind::kOpen},    {8, Kind::kAdd},      {2, Kind::kBlock},   {16, Kind::kIssue},
               {14, Kind::kRedeem}, {5, Kind::kReverse},  {4, Kind::kMessage}, {2, Kind::kDuplicate},
               {1, Kind::kConflict}, {1, Kind::kInvalid},
           })));
  return rc::gen::suchThat(rc::gen::map(after_setup(std::move(main)),
                                        [](std::vector<Op> all) {
                                          if (all.size() > 300) all.resize(300);
                                          return all;
                                        }),
                           [](const std::vector<Op>& ops) { return !ops.empty(); });
}

std::vector<Envelope> make_sequence(const std::vector<Op>& ops, bool include_welcome_and_cash = true) {
  return SequenceBuilder().build(ops, include_welcome_and_cash);
}

// The sequences of ops_gen() with masses among them (Kind::kMass).
rc::Gen<std::vector<Op>> ops_with_masses_gen() {
  return after_setup(rc::gen::resize(
      60, rc::gen::container<std::vector<Op>>(op_gen({
              {2, Kind::kBudget}, {2, Kind::kStatus}, {6, Kind::kAdd}, {10, Kind::kIssue}, {8, Kind::kRedeem},
              {3, Kind::kReverse}, {3, Kind::kMessage}, {1, Kind::kDuplicate}, {3, Kind::kMass},
          }))));
}

// ------------------------------------------------------------------ helpers

std::string to_json(const google::protobuf::Message& m, bool always_print_primitive_fields = false) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.always_print_primitive_fields = always_print_primitive_fields;
  std::string s;
  if (!google::protobuf::util::MessageToJsonString(m, &s, opts).ok()) return "<unprintable>";
  return s;
}

std::uint64_t seed() { return rc::detail::configuration().testParams.seed; }

// The sequence up to and including event `upto`, as JSONL, for a failure
// message: with the shrunk ops it is the minimal counterexample.
std::string failure(std::size_t index, const std::vector<Envelope>& seq, const std::string& what) {
  std::ostringstream s;
  s << "\nRapidCheck seed=" << seed() << " (rerun: RC_PARAMS=\"seed=" << seed()
    << "\", or the reproduce= line printed at exit)\nat event index " << index << " of " << seq.size() << ": " << what
    << "\nsequence up to that event (JSONL):\n";
  for (std::size_t i = 0; i <= index && i < seq.size(); ++i) s << to_json(seq[i]) << "\n";
  return s.str();
}

Position position_of(std::size_t i) {
  return Position{static_cast<std::int32_t>((i * 7) % 4), static_cast<std::int64_t>(1000 + i)};
}

std::string deterministic_bytes(const google::protobuf::Message& m) {
  std::string bytes;
  google::protobuf::io::StringOutputStream s(&bytes);
  google::protobuf::io::CodedOutputStream out(&s);
  out.SetSerializationDeterministic(true);
  m.SerializeToCodedStream(&out);
  out.Trim();
  return bytes;
}

const char* status_name(CouponStatus s) {
  switch (s) {
    case CouponStatus::kIssued: return "ISSUED";
    case CouponStatus::kRedeemed: return "REDEEMED";
    case CouponStatus::kExpired: return "EXPIRED";
    case CouponStatus::kVoid: return "VOID";
  }
  return "?";
}

const dangol::Campaign* find_campaign(const State& s, const std::string& id) {
  for (const auto& c : s.campaigns) {
    if (c.campaign_id == id) return &c;
  }
  return nullptr;
}

// Every funder of every campaign in the engine, by campaign id then
// definition order -- the same shape as ref::Model::funders().
std::vector<ref::FunderRow> engine_funders(const State& s) {
  std::vector<ref::FunderRow> rows;
  std::vector<const dangol::Campaign*> cs;
  for (const auto& c : s.campaigns) cs.push_back(&c);
  std::sort(cs.begin(), cs.end(), [](auto* x, auto* y) { return x->campaign_id < y->campaign_id; });
  for (const auto* c : cs) {
    for (const auto& f : c->funders) {
      rows.push_back({c->campaign_id, f.funder_id, f.budget.minor(), f.available.minor(), f.reserved.minor(),
                      f.spent.minor()});
    }
  }
  return rows;
}

std::string show_rows(const std::vector<ref::FunderRow>& rows) {
  std::ostringstream s;
  for (const auto& r : rows) {
    s << "  " << r.campaign_id << "/" << r.funder_id << " budget=" << r.budget << " available=" << r.available
      << " reserved=" << r.reserved << " spent=" << r.spent << "\n";
  }
  return s.str();
}

// A split must list every funder of the campaign, in definition order, and
// sum exactly to its total. Returns "" or what is wrong.
std::string check_split(const google::protobuf::RepeatedPtrField<v1::FunderAmount>& split, std::int64_t total,
                        bool check_total, const dangol::Campaign& c, const char* what) {
  std::ostringstream s;
  if (static_cast<std::size_t>(split.size()) != c.funders.size()) {
    s << what << ": split lists " << split.size() << " funders, campaign has " << c.funders.size();
    return s.str();
  }
  std::int64_t sum = 0;
  for (int i = 0; i < split.size(); ++i) {
    if (split[i].funder_id() != c.funders[static_cast<std::size_t>(i)].funder_id) {
      s << what << ": split entry " << i << " is " << split[i].funder_id() << ", expected "
        << c.funders[static_cast<std::size_t>(i)].funder_id;
      return s.str();
    }
    if (split[i].amount() < 0) return std::string(what) + ": negative split amount";
    sum += split[i].amount();
  }
  if (check_total && sum != total) {
    s << what << ": split sums to " << sum << ", total is " << total;
    return s.str();
  }
  return "";
}

std::string check_effect_splits(const Decision& d, const State& state) {
  for (const auto& e : d.effects()) {
    auto campaign = [&](const std::string& id) { return find_campaign(state, id); };
    std::string err;
    switch (e.kind_case()) {
      case v1::Effect::kCouponGranted: {
        const auto& x = e.coupon_granted();
        const auto* c = campaign(x.campaign_id());
        if (!c) return "couponGranted for unknown campaign " + x.campaign_id();
        err = check_split(x.split(), x.reserved(), true, *c, "couponGranted");
        break;
      }
      case v1::Effect::kRedemptionSettled: {
        const auto& x = e.redemption_settled();
        const auto* c = campaign(x.campaign_id());
        if (!c) return "redemptionSettled for unknown campaign";
        err = check_split(x.split(), x.discount(), true, *c, "redemptionSettled.split");
        if (err.empty()) err = check_split(x.released_split(), x.released(), true, *c, "redemptionSettled.releasedSplit");
        break;
      }
      case v1::Effect::kReservationReleased: {
        const auto& x = e.reservation_released();
        const auto* c = campaign(x.campaign_id());
        if (!c) return "reservationReleased for unknown campaign";
        err = check_split(x.split(), x.amount(), true, *c, "reservationReleased");
        break;
      }
      case v1::Effect::kRedemptionReversed: {
        const auto& x = e.redemption_reversed();
        const auto* c = campaign(x.campaign_id());
        if (!c) return "redemptionReversed for unknown campaign";
        err = check_split(x.spent_returned(), 0, false, *c, "redemptionReversed.spentReturned");
        if (err.empty() && x.restored()) err = check_split(x.re_reserved(), 0, false, *c, "redemptionReversed.reReserved");
        break;
      }
      case v1::Effect::kMessageCashGranted: {
        const auto& x = e.message_cash_granted();
        const auto* c = campaign(x.campaign_id());
        if (!c) return "messageCashGranted for unknown campaign";
        err = check_split(x.split(), x.amount(), true, *c, "messageCashGranted");
        break;
      }
      case v1::Effect::kMessageCharged: {
        const auto& x = e.message_charged();
        if (x.campaign_id().empty()) break;  // paid by the merchant: no funder moves
        const auto* c = campaign(x.campaign_id());
        if (!c) return "messageCharged for unknown campaign";
        err = check_split(x.split(), x.amount(), true, *c, "messageCharged");
        break;
      }
      default: break;
    }
    if (!err.empty()) return err;
  }
  return "";
}

// Folds the decision journal by effects alone (CONTRACT §3 table) into
// (campaign, funder) -> balances. Returns "" or the first impossible effect.
struct Fold {
  std::map<std::pair<std::string, std::string>, ref::FunderRow> rows;
  std::map<std::string, std::vector<std::string>> funder_order;  // campaign -> funders as first seen

  ref::FunderRow& row(const std::string& campaign, const std::string& funder) {
    auto key = std::make_pair(campaign, funder);
    auto it = rows.find(key);
    if (it == rows.end()) {
      funder_order[campaign].push_back(funder);
      it = rows.emplace(key, ref::FunderRow{campaign, funder}).first;
    }
    return it->second;
  }
  void move(const std::string& campaign, const google::protobuf::RepeatedPtrField<v1::FunderAmount>& split,
            std::int64_t ref::FunderRow::*from, std::int64_t ref::FunderRow::*to) {
    for (const auto& fa : split) {
      auto& r = row(campaign, fa.funder_id());
      r.*from -= fa.amount();
      r.*to += fa.amount();
    }
  }
  void apply(const Decision& d) {
    using R = ref::FunderRow;
    for (const auto& e : d.effects()) {
      switch (e.kind_case()) {
        case v1::Effect::kBudgetSet: {
          auto& r = row(e.budget_set().campaign_id(), e.budget_set().funder_id());
          r.budget = r.available = e.budget_set().budget();
          r.reserved = r.spent = 0;
          break;
        }
        case v1::Effect::kBudgetAdjusted: {
          auto& r = row(e.budget_adjusted().campaign_id(), e.budget_adjusted().funder_id());
          r.budget += e.budget_adjusted().delta();
          r.available += e.budget_adjusted().delta();
          break;
        }
        case v1::Effect::kCouponGranted:
          move(e.coupon_granted().campaign_id(), e.coupon_granted().split(), &R::available, &R::reserved);
          break;
        case v1::Effect::kRedemptionSettled:
          move(e.redemption_settled().campaign_id(), e.redemption_settled().split(), &R::reserved, &R::spent);
          move(e.redemption_settled().campaign_id(), e.redemption_settled().released_split(), &R::reserved,
               &R::available);
          break;
        case v1::Effect::kReservationReleased:
          move(e.reservation_released().campaign_id(), e.reservation_released().split(), &R::reserved, &R::available);
          break;
        case v1::Effect::kRedemptionReversed: {
          const auto& x = e.redemption_reversed();
          if (x.restored()) {
            move(x.campaign_id(), x.spent_returned(), &R::spent, &R::reserved);
            move(x.campaign_id(), x.re_reserved(), &R::available, &R::reserved);
          } else {
            move(x.campaign_id(), x.spent_returned(), &R::spent, &R::available);
          }
          break;
        }
        case v1::Effect::kMessageCashGranted:
          move(e.message_cash_granted().campaign_id(), e.message_cash_granted().split(), &R::available, &R::reserved);
          break;
        case v1::Effect::kMessageCharged:
          if (!e.message_charged().campaign_id().empty()) {
            move(e.message_charged().campaign_id(), e.message_charged().split(), &R::reserved, &R::spent);
          }
          break;
        default: break;
      }
    }
  }
  std::vector<ref::FunderRow> sorted() const {
    std::vector<ref::FunderRow> out;
    for (const auto& [campaign, funders] : funder_order) {
      for (const auto& f : funders) out.push_back(rows.at({campaign, f}));
    }
    return out;
  }
};

// Number of cases for a property: base × DANGOL_PROPERTY_SCALE, a quarter of
// that under a sanitizer; RC_PARAMS=max_success=N overrides.
int cases(int base) {
  double scale = 1.0;
  if (const char* env = std::getenv("DANGOL_PROPERTY_SCALE")) scale = std::atof(env);
#if defined(__SANITIZE_ADDRESS__)
  scale *= 0.25;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  scale *= 0.25;
#endif
#endif
  return std::max(1, static_cast<int>(base * scale));
}

// Like RC_GTEST_PROP, but with a per-property number of cases.
template <class Testable>
void check_property(int base_cases, Testable&& testable) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  rc::detail::TestMetadata metadata;
  metadata.id = std::string(info->test_suite_name()) + "/" + info->name();
  metadata.description = info->name();
  rc::detail::TestParams params = rc::detail::configuration().testParams;
  const char* rc_params = std::getenv("RC_PARAMS");
  if (!rc_params || std::string(rc_params).find("max_success") == std::string::npos) {
    params.maxSuccess = cases(base_cases);
  }
  const auto result = rc::detail::checkProperty(rc::detail::toProperty(std::forward<Testable>(testable)), metadata,
                                                params);
  if (!result.template is<rc::detail::SuccessResult>()) {
    std::ostringstream s;
    rc::detail::printResultMessage(result, s);
    FAIL() << s.str() << "\n(seed=" << params.seed << "; RapidCheck prints a RC_PARAMS=\"reproduce=...\" line at exit)";
  }
}

// ------------------------------------------------------------------ properties

// Proves that after every event of a random sequence the engine's full
// invariant check (DESIGN §4) is clean, every decision echoes its input's
// eventId/partition/offset with gapless seq from 1, outcome and reason agree,
// DUPLICATE/INVALID/EVENT_ID_CONFLICT carry no effects, and every split in
// every effect sums to its total and lists every funder in definition order.
TEST(EngineProperty, InvariantsHoldAfterEveryEvent) {
  check_property(2000, [](void) {
    const auto seq = make_sequence(*ops_gen());
    Engine engine;
    Decision d;
    for (std::size_t i = 0; i < seq.size(); ++i) {
      engine.apply(seq[i], position_of(i), &d);
      auto fail = [&](const std::string& what) { RC_FAIL(failure(i, seq, what + "\ndecision: " + to_json(d))); };
      auto violations = engine.check_invariants();
      if (!violations.empty()) fail("check_invariants: " + violations.front());
      if (d.event_id() != seq[i].event_id()) fail("decision eventId differs from the input's");
      if (d.partition() != position_of(i).partition || d.offset() != position_of(i).offset) {
        fail("decision partition/offset differ from the input's");
      }
      if (d.seq() != static_cast<std::int64_t>(i + 1)) fail("seq is not " + std::to_string(i + 1));
      switch (d.outcome()) {
        case Decision::APPLIED:
          if (!d.reason().empty()) fail("APPLIED with a reason");
          break;
        case Decision::REJECTED:
          if (d.reason().empty()) fail("REJECTED without a reason");
          if (!reason_from_name(d.reason()) || d.reason() == "INVALID_EVENT") fail("REJECTED with reason " + d.reason());
          if (d.reason() == "EVENT_ID_CONFLICT" && d.effects_size() != 0) fail("EVENT_ID_CONFLICT with effects");
          break;
        case Decision::DUPLICATE:
          // DESIGN names no reason code for a duplicate; the engine leaves it empty.
          if (!d.reason().empty()) fail("DUPLICATE with a reason");
          if (d.effects_size() != 0) fail("DUPLICATE with effects");
          break;
        case Decision::INVALID:
          if (d.reason() != "INVALID_EVENT") fail("INVALID without reason INVALID_EVENT");
          if (d.detail().empty()) fail("INVALID without a detail naming the field");
          if (d.effects_size() != 0) fail("INVALID with effects");
          break;
        default: fail("unknown outcome");
      }
      std::string split_error = check_effect_splits(d, engine.state());
      if (!split_error.empty()) fail(split_error);
    }
  });
}

// Proves CONTRACT §3 "Parts" over random histories with masses of grants
// voided or expired by one event: every decision's records carry at most
// 256 effects, at consecutive seqs gapless across decisions, with part and
// parts set only when there are several; joined, they are the whole
// decision; the invariants hold after every event; and folding the records
// (not the whole decisions) gives the engine's balances.
TEST(EngineProperty, PartsCrossTheBoundaryAndFoldToTheWhole) {
  check_property(150, [](void) {
    const auto seq = make_sequence(*ops_with_masses_gen());
    Engine engine;
    std::int64_t next_seq = 1;
    std::string journal;
    for (std::size_t i = 0; i < seq.size(); ++i) {
      const Verdict& verdict = engine.decide(seq[i]);
      auto fail = [&](const std::string& what) { RC_FAIL(failure(i, seq, what)); };
      if (verdict.seq != next_seq) fail("seq " + std::to_string(verdict.seq) + ", expected " + std::to_string(next_seq));
      Decision whole, part, joined;
      encode_decision(engine.state(), verdict, seq[i], position_of(i), &whole);
      const std::int64_t parts = verdict.parts();
      for (std::int64_t k = 0; k < parts; ++k) {
        encode_decision_part(engine.state(), verdict, seq[i], position_of(i), k, &part);
        if (part.effects_size() > 256) fail("a part with " + std::to_string(part.effects_size()) + " effects");
        if (part.seq() != next_seq + k) fail("parts at seqs that are not consecutive");
        if (part.part() != (parts == 1 ? 0 : k + 1) || part.parts() != (parts == 1 ? 0 : parts)) {
          fail("part/parts wrong");
        }
        if (k == 0) {
          joined = part;
        } else {
          for (const auto& e : part.effects()) *joined.add_effects() = e;
        }
        json::append_decision(part, &journal);
        journal += '\n';
      }
      joined.clear_part();
      joined.clear_parts();
      if (joined.SerializeAsString() != whole.SerializeAsString()) fail("the parts joined differ from the decision");
      next_seq += parts;
      if (auto v = engine.check_invariants(); !v.empty()) fail("check_invariants: " + v.front());
    }
    RC_TAG(engine.state().next_seq - 1 > static_cast<std::int64_t>(seq.size()) ? "crossed" : "not crossed");
    std::istringstream in(journal);
    reconcile::Result result;
    std::string error;
    if (!reconcile::run(in, reconcile::Options{}, &result, &error)) {
      RC_FAIL(failure(seq.size() - 1, seq, "reconcile::run failed: " + error));
    }
    if (!result.balanced) {
      RC_FAIL(failure(seq.size() - 1, seq,
                      "reconcile of the parts: not balanced: " +
                          (result.violations.empty() ? std::string() : result.violations.front().message)));
    }
    std::vector<ref::FunderRow> reconciled;
    for (const auto& f : result.funders) {
      reconciled.push_back({f.campaign_id, f.funder_id, f.budget, f.available, f.reserved, f.spent});
    }
    if (reconciled != engine_funders(engine.state())) {
      RC_FAIL(failure(seq.size() - 1, seq, "reconcile of the parts: balances differ from the engine's"));
    }
  });
}

std::string outcome_name(Decision::Outcome o) { return Decision::Outcome_Name(o); }

// Compares the engine with the reference model after every event: outcome,
// reason, every funder's budget/available/reserved/spent, every coupon's
// status. Generated with welcome campaigns and message cash unless
// `with_welcome_and_cash` is false.
void compare_with_model(bool with_welcome_and_cash) {
  const auto seq = make_sequence(*ops_gen(), with_welcome_and_cash);
  Engine engine;
  ref::Model model;
  Decision d;
  for (std::size_t i = 0; i < seq.size(); ++i) {
    engine.apply(seq[i], position_of(i), &d);
    ref::Outcome expected = model.apply(seq[i]);
    auto fail = [&](const std::string& what) { RC_FAIL(failure(i, seq, what + "\ndecision: " + to_json(d))); };
    if (d.outcome() != expected.outcome || d.reason() != expected.reason) {
      fail("expected " + outcome_name(expected.outcome) + " " + expected.reason + ", engine said " +
           outcome_name(d.outcome()) + " " + d.reason());
    }
    std::vector<std::string> got_thresholds;
    for (const auto& e : d.effects()) {
      if (!e.has_threshold_crossed()) continue;
      const auto& x = e.threshold_crossed();
      got_thresholds.push_back(x.campaign_id() + "/" + x.funder_id() + "/" + std::to_string(x.bps()));
    }
    if (got_thresholds != expected.thresholds) {
      std::string w, g;
      for (const auto& x : expected.thresholds) w += " " + x;
      for (const auto& x : got_thresholds) g += " " + x;
      fail("thresholdCrossed effects differ: model [" + w + " ], engine [" + g + " ]");
    }
    auto want = model.funders();
    auto got = engine_funders(engine.state());
    if (want != got) fail("funder balances differ\nmodel:\n" + show_rows(want) + "engine:\n" + show_rows(got));
    auto want_coupons = model.coupon_statuses();
    std::map<std::string, std::string> got_coupons;
    for (const auto& k : engine.state().coupons) got_coupons[k.coupon_id] = status_name(k.status);
    if (want_coupons != got_coupons) {
      std::ostringstream s;
      for (const auto& [id, st] : want_coupons) {
        auto it = got_coupons.find(id);
        if (it == got_coupons.end() || it->second != st) {
          s << "  " << id << ": model " << st << ", engine " << (it == got_coupons.end() ? "absent" : it->second) << "\n";
        }
      }
      for (const auto& [id, st] : got_coupons) {
        if (!want_coupons.count(id)) s << "  " << id << ": model absent, engine " << st << "\n";
      }
      fail("coupon statuses differ\n" + s.str());
    }
  }
}

// Proves that the engine decides exactly as the naive reference model of
// DESIGN §3 does -- outcome, reason, every funder's ledger and every coupon's
// state after every event -- for sequences with every payload kind.
TEST(EngineProperty, MatchesReferenceModel) {
  check_property(3000, [](void) { compare_with_model(true); });
}

// The same comparison on ISSUED-only sequences (no welcome grants, no message
// cash), so that a disagreement there points at the core grant/redeem rules.
TEST(EngineProperty, MatchesReferenceModelWithoutWelcomeOrCash) {
  check_property(1000, [](void) { compare_with_model(false); });
}

// Proves that campaignd's direct protobuf writer (append_decision_pb) gives
// byte for byte what serializing encode_decision's message gives, for every
// decision of random sequences with every payload kind (so every effect
// kind and negative deltas), appended after what the buffer already holds.
// (The rule tests check every decision of theirs the same way, some with
// effects long enough for two-byte lengths: ValidBoundary.)
TEST(EngineProperty, DirectWireEncodingEqualsTheMessage) {
  check_property(1000, [](void) {
    const auto seq = make_sequence(*ops_gen());
    Engine engine;
    Decision d;
    std::string wire;
    for (std::size_t i = 0; i < seq.size(); ++i) {
      const Verdict& verdict = engine.decide(seq[i]);
      encode_decision(engine.state(), verdict, seq[i], position_of(i), &d);
      wire.assign("prefix");
      append_decision_pb(engine.state(), verdict, seq[i], position_of(i), &wire);
      if (wire.substr(6) != d.SerializeAsString()) {
        RC_FAIL(failure(i, seq, "the direct encoding differs from the message's\ndecision: " + to_json(d)));
      }
    }
  });
}

// Proves replay determinism (DESIGN §4): the same sequence applied to two
// fresh engines gives byte-identical decisions (deterministic serialization)
// and an identical report.
TEST(EngineProperty, ReplayIsDeterministic) {
  check_property(500, [](void) {
    const auto seq = make_sequence(*ops_gen());
    Engine a, b;
    Decision da, db;
    for (std::size_t i = 0; i < seq.size(); ++i) {
      a.apply(seq[i], position_of(i), &da);
      b.apply(seq[i], position_of(i), &db);
      if (deterministic_bytes(da) != deterministic_bytes(db)) {
        RC_FAIL(failure(i, seq, "decisions differ\nfirst:  " + to_json(da) + "\nsecond: " + to_json(db)));
      }
    }
    Report ra = build_report(a.state()), rb = build_report(b.state());
    auto show = [](const Report& r) {
      std::ostringstream s;
      for (const auto& c : r.campaigns) {
        s << c.campaign_id << " " << c.name << " " << c.status << " " << c.currency << " g" << c.coupons.granted
          << " r" << c.coupons.redeemed << " e" << c.coupons.expired << " v" << c.coupons.voided << " o"
          << c.coupons.outstanding << "\n";
        for (const auto& f : c.funders) {
          s << "  " << f.funder_id << " " << f.budget << " " << f.available << " " << f.reserved << " " << f.spent << "\n";
        }
        for (const auto& [reason, n] : c.rejections) s << "  " << reason << "=" << n << "\n";
      }
      for (const auto& m : r.markets) {
        s << m.market_id << " " << m.enrolled << " " << m.channels << " " << m.adoption_bps << " " << m.friends << " "
          << m.friend_adds << " " << m.messages << " " << m.recipients << " " << m.welcome_granted << " "
          << m.welcome_redeemed << "\n";
      }
      return s.str();
    };
    if (show(ra) != show(rb)) {
      RC_FAIL(failure(seq.size() - 1, seq, "reports differ\n" + show(ra) + "---\n" + show(rb)));
    }
  });
}

// Proves the decision stream is a complete journal (CONTRACT §3): folding
// the effects alone gives exactly every funder's balances in the engine
// state after every event; and the independent reconcile fold of the same
// journal written as JSONL is balanced and agrees.
TEST(EngineProperty, JournalFoldGivesEngineBalances) {
  check_property(800, [](void) {
    const auto seq = make_sequence(*ops_gen());
    Engine engine;
    Decision d;
    Fold fold;
    std::string jsonl;
    for (std::size_t i = 0; i < seq.size(); ++i) {
      engine.apply(seq[i], position_of(i), &d);
      fold.apply(d);
      jsonl += to_json(d, /*always_print_primitive_fields=*/true);
      jsonl += "\n";
      auto want = engine_funders(engine.state());
      auto got = fold.sorted();  // by campaign id, funders in budgetSet (definition) order
      if (want != got) {
        RC_FAIL(failure(i, seq, "journal fold differs from engine state\nengine:\n" + show_rows(want) + "fold:\n" +
                                     show_rows(got) + "decision: " + to_json(d)));
      }
    }
    // The independent fold of campaignctl reconcile over the same journal.
    std::istringstream in(jsonl);
    reconcile::Result result;
    std::string error;
    if (!reconcile::run(in, reconcile::Options{}, &result, &error)) {
      RC_FAIL(failure(seq.size() - 1, seq, "reconcile::run failed: " + error));
    }
    if (!result.balanced) {
      std::string first = result.violations.empty() ? "" : result.violations.front().message;
      std::string at = result.violations.empty() ? "" : result.violations.front().event_id;
      RC_FAIL(failure(seq.size() - 1, seq,
                      "reconcile: not balanced, " + std::to_string(result.violation_count) +
                          " violation(s), first at " + at + ": " + first));
    }
    std::vector<ref::FunderRow> reconciled;
    for (const auto& f : result.funders) {
      reconciled.push_back({f.campaign_id, f.funder_id, f.budget, f.available, f.reserved, f.spent});
    }
    auto want = engine_funders(engine.state());
    if (reconciled != want) {
      RC_FAIL(failure(seq.size() - 1, seq,
                      "reconcile balances differ\nengine:\n" + show_rows(want) + "reconcile:\n" + show_rows(reconciled)));
    }
  });
}

// Not a property: prints how often each outcome/reason and effect kind
// occurs over 300 generated sequences, to keep the generator honest. Run
// with --gtest_also_run_disabled_tests --gtest_filter=*Distribution.
TEST(EngineProperty, DISABLED_OutcomeDistribution) {
  std::map<std::string, int> counts;
  int sequences = 0;
  std::size_t events = 0;
  check_property(300, [&](void) {
    const auto seq = make_sequence(*ops_gen());
    Engine engine;
    Decision d;
    for (std::size_t i = 0; i < seq.size(); ++i) {
      engine.apply(seq[i], position_of(i), &d);
      counts[outcome_name(d.outcome()) + " " + d.reason()]++;
      for (const auto& e : d.effects()) {
        std::string name = e.GetReflection()->GetOneofFieldDescriptor(e, e.GetDescriptor()->oneof_decl(0))->name();
        if (e.has_redemption_reversed()) name += e.redemption_reversed().restored() ? " restored" : " void";
        if (e.has_reservation_released()) name += " " + v1::ReservationReleased::Cause_Name(e.reservation_released().cause());
        counts["effect " + name]++;
      }
    }
    ++sequences;
    events += seq.size();
  });
  for (const auto& [k, v] : counts) std::cerr << k << ": " << v << "\n";
  std::cerr << sequences << " sequences, " << events << " events\n";
}

}  // namespace
}  // namespace dangol
