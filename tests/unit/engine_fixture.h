#pragma once
// Test fixture for the engine's rule tests (engine_test.cc, validation_test.cc).
//
// Events are written as protobuf-JSON text (CONTRACT §1), parsed with
// protobuf's own util so that these tests do not depend on our JSON codec,
// and applied at increasing offsets of partition 0. After every apply the
// fixture asserts DESIGN §4 (check_invariants() is empty) and CONTRACT §3
// bookkeeping (seq has no gaps, partition/offset/eventId/occurredAt echoed).

#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dangol.pb.h"
#include "engine/encode.h"
#include "engine/engine.h"
#include "engine/report.h"

namespace dangol::testing {

using v1::Decision;
using v1::Envelope;

// 2023-08-01T00:00:00Z. Campaigns of the fixture run from T0 - 1 day to
// T0 + 365 days unless a test says otherwise.
inline constexpr std::int64_t kT0 = 1'690'848'000;
inline constexpr std::int64_t kDay = 86'400;
inline constexpr std::int64_t kHour = 3'600;

// RFC 3339 (UTC) of kT0 + `s` seconds.
inline std::string at(std::int64_t s) {
  return google::protobuf::util::TimeUtil::ToString(google::protobuf::util::TimeUtil::SecondsToTimestamp(kT0 + s));
}

inline std::int64_t seconds_of(const google::protobuf::Timestamp& ts) { return ts.seconds() - kT0; }

// "couponGranted", "grantRejected", ... for each effect, in order.
inline std::vector<std::string> kinds(const Decision& d) {
  std::vector<std::string> out;
  for (const auto& e : d.effects()) {
    const auto* field = v1::Effect::descriptor()->FindFieldByNumber(static_cast<int>(e.kind_case()));
    out.push_back(field == nullptr ? "none" : field->json_name());
  }
  return out;
}

inline std::string outcome(const Decision& d) { return Decision::Outcome_Name(d.outcome()); }

// "gov:600,city:400" — a split as one comparable string, in listed order.
inline std::string split_str(const google::protobuf::RepeatedPtrField<v1::FunderAmount>& split) {
  std::string out;
  for (const auto& fa : split) {
    if (!out.empty()) out += ",";
    out += fa.funder_id() + ":" + std::to_string(fa.amount());
  }
  return out;
}

// All effects of one kind, in order.
template <class Pred>
std::vector<v1::Effect> effects_where(const Decision& d, Pred pred) {
  std::vector<v1::Effect> out;
  for (const auto& e : d.effects())
    if (pred(e)) out.push_back(e);
  return out;
}
inline std::vector<v1::Effect> effects_of(const Decision& d, v1::Effect::KindCase kind) {
  return effects_where(d, [kind](const v1::Effect& e) { return e.kind_case() == kind; });
}

inline std::string cause_name(const v1::ReservationReleased& r) {
  return v1::ReservationReleased::Cause_Name(r.cause());
}

// A campaignDefined payload with defaults that let every grant through.
struct CampaignSpec {
  std::string id = "camp-a";
  std::string trigger = "ISSUED";
  std::string funders = R"([{"funderId":"gov","budget":"1000000","shareBps":10000}])";
  std::string offer = R"({"fixedAmount":"1000","validDays":7})";
  std::string limits;       // JSON object or empty
  std::string eligibility;  // JSON object or empty
  std::string message_cash;  // JSON object or empty
  std::optional<std::int64_t> grace_seconds;
  std::string thresholds;  // JSON array or empty
  std::int64_t starts_at = -kDay;
  std::int64_t ends_at = 365 * kDay;
  std::int32_t utc_offset_minutes = 0;
  std::string currency = "KRW";

  std::string json() const {
    std::string j = R"({"campaignId":")" + id + R"(","name":"Campaign )" + id + R"(","currency":")" + currency +
                    R"(","startsAt":")" + at(starts_at) + R"(","endsAt":")" + at(ends_at) +
                    R"(","utcOffsetMinutes":)" + std::to_string(utc_offset_minutes) + R"(,"funders":)" + funders +
                    R"(,"trigger":")" + trigger + R"(","offer":)" + offer;
    if (!limits.empty()) j += R"(,"limits":)" + limits;
    if (!eligibility.empty()) j += R"(,"eligibility":)" + eligibility;
    if (!message_cash.empty()) j += R"(,"messageCash":)" + message_cash;
    if (grace_seconds) j += R"(,"redemptionGraceSeconds":")" + std::to_string(*grace_seconds) + R"(")";
    if (!thresholds.empty()) j += R"(,"alertThresholdsBps":)" + thresholds;
    return j + "}";
  }
};

inline std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

class EngineTest : public ::testing::Test {
 protected:
  // ---------------------------------------------------------------- applying

  // Parses a whole Envelope from protobuf JSON; fails the test if it does not decode.
  static Envelope envelope(const std::string& json) {
    Envelope env;
    auto status = google::protobuf::util::JsonStringToMessage(json, &env);
    EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << json;
    return env;
  }

  // Applies one envelope at the next offset and checks §4 and the echo fields.
  Decision apply(const Envelope& env) {
    Decision d;
    const std::int64_t offset = next_offset_++;
    // What Engine::apply does, with campaignd's direct protobuf encoding of
    // the same verdict checked against the message's serialization.
    const Verdict& verdict = engine_.decide(env);
    encode_decision(engine_.state(), verdict, env, Position{0, offset}, &d);
    std::string wire;
    append_decision_pb(engine_.state(), verdict, env, Position{0, offset}, &wire);
    EXPECT_EQ(wire, d.SerializeAsString()) << "append_decision_pb differs from the message, for " << env.event_id();
    EXPECT_THAT(engine_.check_invariants(), ::testing::IsEmpty()) << "after event " << env.event_id();
    EXPECT_EQ(d.seq(), expected_seq_) << "seq must start at 1 and have no gaps";
    expect_parts_make_the_whole(verdict, env, Position{0, offset}, d);
    expected_seq_ = d.seq() + verdict.parts();
    EXPECT_EQ(engine_.state().next_seq, expected_seq_) << "each part takes a seq";
    EXPECT_EQ(d.partition(), 0);
    EXPECT_EQ(d.offset(), offset);
    EXPECT_EQ(d.event_id(), env.event_id());
    if (env.has_occurred_at()) {
      EXPECT_EQ(d.occurred_at().seconds(), env.occurred_at().seconds());
      EXPECT_EQ(d.occurred_at().nanos(), env.occurred_at().nanos());
    }
    if (d.outcome() == Decision::APPLIED) {
      EXPECT_EQ(d.reason(), "");
    }
    return d;
  }

  // CONTRACT §3 "Parts": the records a decision is published as carry at
  // most 256 effects each, consecutive seqs, the same echo fields, part
  // 1..n and parts n (neither for one record), and their effects in order
  // are the whole decision's.
  void expect_parts_make_the_whole(const Verdict& verdict, const Envelope& env, const Position& position,
                                   const Decision& whole) {
    const std::int64_t parts = verdict.parts();
    Decision joined;
    for (std::int64_t k = 0; k < parts; ++k) {
      Decision part;
      encode_decision_part(engine_.state(), verdict, env, position, k, &part);
      std::string wire;
      append_decision_part_pb(engine_.state(), verdict, env, position, k, &wire);
      EXPECT_EQ(wire, part.SerializeAsString()) << "append_decision_part_pb differs, part " << k;
      EXPECT_LE(part.effects_size(), 256);
      EXPECT_EQ(part.seq(), whole.seq() + k);
      EXPECT_EQ(part.part(), parts == 1 ? 0 : k + 1);
      EXPECT_EQ(part.parts(), parts == 1 ? 0 : parts);
      EXPECT_EQ(part.event_id(), whole.event_id());
      EXPECT_EQ(part.outcome(), whole.outcome());
      EXPECT_EQ(part.reason(), whole.reason());
      EXPECT_EQ(part.offset(), whole.offset());
      if (k + 1 < parts) {
        EXPECT_EQ(part.effects_size(), 256) << "only the last part may be short";
      }
      if (k == 0) {
        joined = part;
        joined.clear_part();
        joined.clear_parts();
      } else {
        for (const auto& e : part.effects()) *joined.add_effects() = e;
      }
    }
    EXPECT_EQ(joined.SerializeAsString(), whole.SerializeAsString()) << "the parts joined are not the decision";
  }

  Decision apply_json(const std::string& json) { return apply(envelope(json)); }

  // Applies `payload` (a JSON object) under key `kind` with an explicit id and time.
  Decision apply_event(const std::string& event_id, std::int64_t t, const std::string& kind,
                       const std::string& payload) {
    return apply_json(R"({"eventId":")" + event_id + R"(","occurredAt":")" + at(t) + R"(",")" + kind +
                      R"(":)" + payload + "}");
  }

  // Applies `payload` with a fresh event id at the fixture's current time `now_`.
  Decision ev(const std::string& kind, const std::string& payload) {
    return apply_event("e" + std::to_string(++event_counter_), now_, kind, payload);
  }

  // ---------------------------------------------------------------- payload helpers

  Decision define(const CampaignSpec& spec) { return ev("campaignDefined", spec.json()); }
  Decision enroll(const std::string& m, const std::string& market = "mk-1", const std::string& cat = "food") {
    return ev("merchantEnrolled", R"({"merchantId":")" + m + R"(","marketId":")" + market + R"(","category":")" +
                                      cat + R"("})");
  }
  Decision open_channel(const std::string& m, const std::string& ch = "") {
    return ev("channelOpened", R"({"merchantId":")" + m + R"(","channelId":")" + (ch.empty() ? "ch-" + m : ch) +
                                   R"("})");
  }
  // Enrolls and opens a channel.
  void store(const std::string& m, const std::string& market = "mk-1", const std::string& cat = "food") {
    EXPECT_EQ(outcome(enroll(m, market, cat)), "APPLIED");
    EXPECT_EQ(outcome(open_channel(m)), "APPLIED");
  }
  Decision add_friend(const std::string& m, const std::string& u) {
    return ev("channelAdded", R"({"merchantId":")" + m + R"(","customerId":")" + u + R"("})");
  }
  Decision block(const std::string& m, const std::string& u) {
    return ev("channelBlocked", R"({"merchantId":")" + m + R"(","customerId":")" + u + R"("})");
  }
  Decision status(const std::string& c, const std::string& st) {
    return ev("campaignStatusChanged", R"({"campaignId":")" + c + R"(","status":")" + st + R"("})");
  }
  Decision adjust(const std::string& c, const std::string& f, std::int64_t delta) {
    return ev("budgetAdjusted", R"({"campaignId":")" + c + R"(","funderId":")" + f + R"(","delta":")" +
                                    std::to_string(delta) + R"("})");
  }
  // couponIssued; empty merchant/coupon id means "absent".
  Decision issue(const std::string& c, const std::string& u, const std::string& m = "",
                 const std::string& coupon = "") {
    std::string p = R"({"campaignId":")" + c + R"(","customerId":")" + u + "\"";
    if (!m.empty()) p += R"(,"merchantId":")" + m + "\"";
    if (!coupon.empty()) p += R"(,"couponId":")" + coupon + "\"";
    return ev("couponIssued", p + "}");
  }
  Decision redeem(const std::string& k, const std::string& m, std::int64_t order,
                  std::optional<std::int64_t> discount = std::nullopt) {
    std::string p = R"({"couponId":")" + k + R"(","merchantId":")" + m + R"(","orderAmount":")" +
                    std::to_string(order) + "\"";
    if (discount) p += R"(,"discount":")" + std::to_string(*discount) + "\"";
    return ev("couponRedeemed", p + "}");
  }
  Decision reverse(const std::string& k, const std::string& m) {
    return ev("redemptionReversed", R"({"couponId":")" + k + R"(","merchantId":")" + m + R"("})");
  }
  Decision message(const std::string& m, std::int64_t recipients, std::int64_t unit_cost) {
    return ev("messageSent", R"({"merchantId":")" + m + R"(","recipients":")" + std::to_string(recipients) +
                                 R"(","unitCost":")" + std::to_string(unit_cost) + R"("})");
  }

  // Issues a coupon that must be granted and returns its id.
  std::string granted(const std::string& c, const std::string& u, const std::string& m = "",
                      const std::string& coupon = "") {
    Decision d = issue(c, u, m, coupon);
    EXPECT_EQ(outcome(d), "APPLIED") << d.reason();
    auto g = effects_of(d, v1::Effect::kCouponGranted);
    if (g.size() != 1) {
      ADD_FAILURE() << "expected one couponGranted, got " << d.ShortDebugString();
      return "";
    }
    return g[0].coupon_granted().coupon_id();
  }

  // ---------------------------------------------------------------- state accessors

  FunderFigures funder(const std::string& c, const std::string& f) const {
    Report r = build_report(engine_.state(), ReportFilter{c, std::nullopt});
    for (const auto& cf : r.campaigns)
      if (cf.campaign_id == c)
        for (const auto& ff : cf.funders)
          if (ff.funder_id == f) return ff;
    ADD_FAILURE() << "no funder " << f << " in campaign " << c;
    return {};
  }
  // "budget/available/reserved/spent" of one funder.
  std::string balances(const std::string& c, const std::string& f) const {
    FunderFigures ff = funder(c, f);
    return std::to_string(ff.budget) + "/" + std::to_string(ff.available) + "/" + std::to_string(ff.reserved) +
           "/" + std::to_string(ff.spent);
  }
  CampaignFigures campaign_figures(const std::string& c) const {
    Report r = build_report(engine_.state(), ReportFilter{c, std::nullopt});
    for (const auto& cf : r.campaigns)
      if (cf.campaign_id == c) return cf;
    ADD_FAILURE() << "no campaign " << c;
    return {};
  }
  MarketFigures market(const std::string& id) const {
    Report r = build_report(engine_.state());
    for (const auto& mf : r.markets)
      if (mf.market_id == id) return mf;
    ADD_FAILURE() << "no market " << id;
    return {};
  }
  std::int64_t rejections(const std::string& c, const std::string& reason) const {
    for (const auto& [name, n] : campaign_figures(c).rejections)
      if (name == reason) return n;
    return 0;
  }
  const Coupon* coupon(const std::string& k) const {
    const State& s = engine_.state();
    const std::uint32_t index = s.find_coupon(k);
    return index == CouponIdx::kNone ? nullptr : &s.coupons[index];
  }
  // "ISSUED", "REDEEMED", "EXPIRED", "VOID" or "MISSING".
  std::string coupon_status(const std::string& k) const {
    const Coupon* c = coupon(k);
    if (c == nullptr) return "MISSING";
    switch (c->status) {
      case CouponStatus::kIssued: return "ISSUED";
      case CouponStatus::kRedeemed: return "REDEEMED";
      case CouponStatus::kExpired: return "EXPIRED";
      case CouponStatus::kVoid: return "VOID";
    }
    return "?";
  }

  // Everything the rules can change, except the decision counters (seq and
  // decisions by outcome), as one comparable string: "no state change" is
  // fingerprint() before == after.
  std::string fingerprint() const {
    const State& s = engine_.state();
    std::ostringstream o;
    o << "clock " << s.has_clock << ":" << s.clock.nanos() << " events " << s.seen_events.size() << " friendships "
      << s.friendships.size() << " grants " << s.customer_grants.size() << " welcomed " << s.welcomed.size()
      << " campaigns " << s.campaigns.size() << " merchants " << s.merchant_ids.size() << " coupons "
      << s.coupons.size() << "\n";
    for (const auto& k : s.coupons)
      o << k.coupon_id << " " << static_cast<int>(k.status) << " " << k.reserved.minor() << " " << k.discount.minor()
        << "\n";
    for (std::size_t i = 0; i < s.merchants.size(); ++i) {
      const Merchant& m = s.merchants[i];
      o << "m" << i << " " << m.enrolled << m.has_channel << " " << m.friends << " " << m.friend_adds << " "
        << m.messages << " " << m.recipients << " " << m.welcome_granted << "\n";
    }
    Report r = build_report(s);
    for (const auto& c : r.campaigns) {
      o << c.campaign_id << " " << c.status << " " << c.coupons.granted << "/" << c.coupons.redeemed << "/"
        << c.coupons.expired << "/" << c.coupons.voided << "/" << c.coupons.outstanding << "\n";
      for (const auto& f : c.funders)
        o << " " << f.funder_id << " " << f.budget << "/" << f.available << "/" << f.reserved << "/" << f.spent;
      for (const auto& [reason, n] : c.rejections) o << " " << reason << "=" << n;
      o << "\n";
    }
    for (const auto& m : r.markets)
      o << m.market_id << " " << m.enrolled << " " << m.channels << " " << m.friends << " " << m.messages << "\n";
    return o.str();
  }

  Engine engine_;
  std::int64_t now_ = kHour;  // seconds after kT0 for ev()
  std::int64_t next_offset_ = 0;
  std::int64_t expected_seq_ = 1;
  int event_counter_ = 0;
};

// Lowercase, without '_' and '.': "campaignDefined.funders.share_bps" and
// "shareBps" compare as names.
inline std::string normalized_name(std::string_view s) {
  std::string out;
  for (char ch : s)
    if (ch != '_' && ch != '.') out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
  return out;
}

// The decision's detail names one of `fields` (camelCase or snake_case).
MATCHER_P(NamesAnyField, fields, "names one of the fields") {
  const std::string detail = normalized_name(arg);
  for (const auto& f : fields)
    if (detail.find(normalized_name(f)) != std::string::npos) return true;
  *result_listener << "detail \"" << arg << "\"";
  return false;
}

}  // namespace dangol::testing
