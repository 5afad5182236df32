// Rule tests of the engine against DESIGN §3, one behaviour per test, in the
// order the spec states its rules and checks. Written from the spec, not from
// the implementation. The fixture (engine_fixture.h) asserts the invariants of
// DESIGN §4 and the seq/echo fields of CONTRACT §3 after every event.

#include <string>
#include <vector>

#include "engine/restore.h"
#include "tests/unit/engine_fixture.h"

namespace dangol::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// "APPLIED", or "REJECTED <REASON>" etc.
std::string verdict(const Decision& d) {
  return d.reason().empty() ? outcome(d) : outcome(d) + " " + d.reason();
}

const std::string kThreeFunders =
    R"([{"funderId":"a","budget":"1000000","shareBps":3333},)"
    R"({"funderId":"b","budget":"1000000","shareBps":3333},)"
    R"({"funderId":"c","budget":"1000000","shareBps":3334}])";

CampaignSpec welcome_spec(const std::string& id) {
  CampaignSpec s;
  s.id = id;
  s.trigger = "CHANNEL_ADDED";
  return s;
}

CampaignSpec fixed_spec(const std::string& id, std::int64_t fixed, std::int64_t budget = 1'000'000) {
  CampaignSpec s;
  s.id = id;
  s.offer = R"({"fixedAmount":")" + std::to_string(fixed) + R"(","validDays":7})";
  s.funders = R"([{"funderId":"gov","budget":")" + std::to_string(budget) + R"(","shareBps":10000}])";
  return s;
}

// =====================================================================
// Idempotency (DESIGN §3 order of work, step 2)

class Idempotency : public EngineTest {};

TEST_F(Idempotency, SameEventIdAndContentIsDuplicateWithoutEffectsOrStateChange) {
  // Proves a redelivered event is answered DUPLICATE and changes nothing: a
  // granted couponIssued is applied twice, byte for byte.
  define(CampaignSpec{});
  const std::string json = R"({"eventId":"iss-1","occurredAt":")" + at(kHour) +
                           R"(","couponIssued":{"campaignId":"camp-a","customerId":"u1"}})";
  EXPECT_EQ(verdict(apply_json(json)), "APPLIED");
  const std::string before = fingerprint();
  Decision d = apply_json(json);
  EXPECT_EQ(outcome(d), "DUPLICATE");
  EXPECT_THAT(kinds(d), IsEmpty());
  EXPECT_EQ(fingerprint(), before);
}

TEST_F(Idempotency, SameEventIdWithOtherContentIsEventIdConflict) {
  // Proves an event id reused for other content is REJECTED EVENT_ID_CONFLICT
  // with no effects: the second event names another customer.
  define(CampaignSpec{});
  apply_event("iss-1", kHour, "couponIssued", R"({"campaignId":"camp-a","customerId":"u1"})");
  const std::string before = fingerprint();
  Decision d = apply_event("iss-1", kHour, "couponIssued", R"({"campaignId":"camp-a","customerId":"u2"})");
  EXPECT_EQ(verdict(d), "REJECTED EVENT_ID_CONFLICT");
  EXPECT_THAT(kinds(d), IsEmpty());
  EXPECT_EQ(fingerprint(), before);
}

TEST_F(Idempotency, ConflictingEventDoesNotAdvanceTheClock) {
  // Proves idempotency (step 2) comes before the clock (step 3): a conflicting
  // event dated long after a coupon's expiry neither expires it nor moves the
  // clock; the next genuine event at that time does.
  define(CampaignSpec{});
  std::string k = granted("camp-a", "u1");
  apply_event("x-1", kHour, "merchantEnrolled", R"({"merchantId":"m1","marketId":"mk-1","category":"food"})");
  Decision d = apply_event("x-1", 30 * kDay, "merchantEnrolled", R"({"merchantId":"m2","marketId":"mk-1","category":"food"})");
  EXPECT_EQ(verdict(d), "REJECTED EVENT_ID_CONFLICT");
  EXPECT_THAT(kinds(d), IsEmpty());
  EXPECT_EQ(coupon_status(k), "ISSUED");
  now_ = 30 * kDay;
  EXPECT_THAT(kinds(enroll("m3")), ElementsAre("reservationReleased"));
}

TEST_F(Idempotency, DuplicateOfARejectedEventIsDuplicate) {
  // Proves every decided event id is remembered, not only applied ones: a
  // rejected channelAdded redelivered is DUPLICATE.
  const std::string json = R"({"eventId":"ca-1","occurredAt":")" + at(kHour) +
                           R"(","channelAdded":{"merchantId":"nobody","customerId":"u1"}})";
  EXPECT_EQ(verdict(apply_json(json)), "REJECTED MERCHANT_NOT_ENROLLED");
  EXPECT_EQ(outcome(apply_json(json)), "DUPLICATE");
}

TEST_F(Idempotency, EventIdsAreKeptForTheWholeHistory) {
  // Proves an old event id is still known after many other events.
  const std::string json = R"({"eventId":"first","occurredAt":")" + at(0) +
                           R"(","merchantEnrolled":{"merchantId":"m0","marketId":"mk-1","category":"food"}})";
  EXPECT_EQ(verdict(apply_json(json)), "APPLIED");
  for (int i = 1; i <= 200; ++i) enroll("m" + std::to_string(i));
  EXPECT_EQ(outcome(apply_json(json)), "DUPLICATE");
}

TEST_F(Idempotency, InvalidEventDoesNotConsumeItsEventId) {
  // Proves validation (step 1) comes first and records nothing: an INVALID
  // event's id is then used by a valid event, which is APPLIED.
  Decision bad = apply_event("same-id", kHour, "merchantEnrolled", R"({"merchantId":"","marketId":"mk-1","category":"food"})");
  EXPECT_EQ(verdict(bad), "INVALID INVALID_EVENT");
  Decision good = apply_event("same-id", kHour, "merchantEnrolled", R"({"merchantId":"m1","marketId":"mk-1","category":"food"})");
  EXPECT_EQ(verdict(good), "APPLIED");
}

TEST_F(Idempotency, InvalidEventWithSeenIdIsInvalidNotDuplicate) {
  // Proves validation precedes idempotency: a broken event reusing a seen id
  // is INVALID, not DUPLICATE or EVENT_ID_CONFLICT.
  apply_event("seen", kHour, "merchantEnrolled", R"({"merchantId":"m1","marketId":"mk-1","category":"food"})");
  Decision d = apply_event("seen", kHour, "merchantEnrolled", R"({"merchantId":"","marketId":"mk-1","category":"food"})");
  EXPECT_EQ(verdict(d), "INVALID INVALID_EVENT");
}

TEST_F(Idempotency, InvalidEventDoesNotAdvanceTheClock) {
  // Proves an INVALID event dated after a coupon's expiry deadline expires
  // nothing (the clock only moves in step 3).
  define(CampaignSpec{});
  std::string k = granted("camp-a", "u1");
  Decision d = apply_event("bad", 30 * kDay, "couponRedeemed", R"({"couponId":"x","merchantId":"m1","orderAmount":"-1"})");
  EXPECT_EQ(outcome(d), "INVALID");
  EXPECT_THAT(kinds(d), IsEmpty());
  EXPECT_EQ(coupon_status(k), "ISSUED");
}

// =====================================================================
// Merchants, channels and friends

class Merchants : public EngineTest {};

TEST_F(Merchants, EnrollingAgainWithSameDataIsAppliedWithoutChange) {
  // Proves re-enrolment with identical data is APPLIED and changes no figure.
  EXPECT_EQ(verdict(enroll("m1", "mk-1", "food")), "APPLIED");
  MarketFigures before = market("mk-1");
  Decision d = enroll("m1", "mk-1", "food");
  EXPECT_EQ(verdict(d), "APPLIED");
  EXPECT_THAT(kinds(d), IsEmpty());
  EXPECT_EQ(market("mk-1").enrolled, before.enrolled);
  EXPECT_EQ(market("mk-1").enrolled, 1);
}

TEST_F(Merchants, EnrollingAgainWithOtherDataIsMerchantExists) {
  // Proves re-enrolment with another market or category is MERCHANT_EXISTS.
  enroll("m1", "mk-1", "food");
  EXPECT_EQ(verdict(enroll("m1", "mk-2", "food")), "REJECTED MERCHANT_EXISTS");
  EXPECT_EQ(verdict(enroll("m1", "mk-1", "fish")), "REJECTED MERCHANT_EXISTS");
  EXPECT_EQ(market("mk-1").enrolled, 1);
}

TEST_F(Merchants, OpeningAChannelRequiresEnrolment) {
  // Proves channelOpened for an unknown merchant is MERCHANT_NOT_ENROLLED.
  EXPECT_EQ(verdict(open_channel("m1")), "REJECTED MERCHANT_NOT_ENROLLED");
}

TEST_F(Merchants, SecondChannelIsChannelExists) {
  // Proves a merchant opens at most one channel.
  enroll("m1");
  EXPECT_EQ(verdict(open_channel("m1", "ch-1")), "APPLIED");
  EXPECT_EQ(verdict(open_channel("m1", "ch-2")), "REJECTED CHANNEL_EXISTS");
  EXPECT_EQ(market("mk-1").channels, 1);
}

TEST_F(Merchants, ChannelAddedRejectionsInOrder) {
  // Proves channelAdded's reasons: MERCHANT_NOT_ENROLLED, then NO_CHANNEL,
  // then ALREADY_FRIEND, each reached by fixing the previous cause.
  EXPECT_EQ(verdict(add_friend("m1", "u1")), "REJECTED MERCHANT_NOT_ENROLLED");
  enroll("m1");
  EXPECT_EQ(verdict(add_friend("m1", "u1")), "REJECTED NO_CHANNEL");
  open_channel("m1");
  EXPECT_EQ(verdict(add_friend("m1", "u1")), "APPLIED");
  EXPECT_EQ(verdict(add_friend("m1", "u1")), "REJECTED ALREADY_FRIEND");
  EXPECT_EQ(market("mk-1").friends, 1);
}

TEST_F(Merchants, ChannelBlockedRejections) {
  // Proves channelBlocked is NO_CHANNEL without a channel (also for an unknown
  // merchant) and NOT_FRIEND for a customer who is not a friend.
  EXPECT_EQ(verdict(block("m1", "u1")), "REJECTED NO_CHANNEL");
  enroll("m1");
  EXPECT_EQ(verdict(block("m1", "u1")), "REJECTED NO_CHANNEL");
  open_channel("m1");
  EXPECT_EQ(verdict(block("m1", "u1")), "REJECTED NOT_FRIEND");
  add_friend("m1", "u1");
  EXPECT_EQ(verdict(block("m1", "u1")), "APPLIED");
  EXPECT_EQ(verdict(block("m1", "u1")), "REJECTED NOT_FRIEND");
}

TEST_F(Merchants, BlockedCustomerCanAddTheChannelAgain) {
  // Proves block then re-add is APPLIED and friends are counted net of blocks.
  store("m1");
  add_friend("m1", "u1");
  add_friend("m1", "u2");
  EXPECT_EQ(verdict(block("m1", "u1")), "APPLIED");
  EXPECT_EQ(market("mk-1").friends, 1);
  EXPECT_EQ(verdict(add_friend("m1", "u1")), "APPLIED");
  EXPECT_EQ(market("mk-1").friends, 2);
  EXPECT_EQ(market("mk-1").friend_adds, 3);
}

// =====================================================================
// Campaigns

class Campaigns : public EngineTest {};

TEST_F(Campaigns, DefinitionSetsEachFunderBudgetInDefinitionOrder) {
  // Proves campaignDefined emits one budgetSet per funder in definition order
  // (not alphabetical) and leaves the campaign ACTIVE with available = budget.
  CampaignSpec s;
  s.funders = R"([{"funderId":"zeta","budget":"6000","shareBps":6000},{"funderId":"alpha","budget":"4000","shareBps":4000}])";
  Decision d = define(s);
  EXPECT_EQ(verdict(d), "APPLIED");
  ASSERT_THAT(kinds(d), ElementsAre("budgetSet", "budgetSet"));
  EXPECT_EQ(d.effects(0).budget_set().funder_id(), "zeta");
  EXPECT_EQ(d.effects(0).budget_set().budget(), 6000);
  EXPECT_EQ(d.effects(0).budget_set().campaign_id(), "camp-a");
  EXPECT_EQ(d.effects(1).budget_set().funder_id(), "alpha");
  EXPECT_EQ(d.effects(1).budget_set().budget(), 4000);
  EXPECT_EQ(balances("camp-a", "zeta"), "6000/6000/0/0");
  EXPECT_EQ(balances("camp-a", "alpha"), "4000/4000/0/0");
  EXPECT_EQ(campaign_figures("camp-a").status, "ACTIVE");
}

TEST_F(Campaigns, TakenCampaignIdIsCampaignExists) {
  // Proves a second definition of the same id is CAMPAIGN_EXISTS, even with
  // identical content under a new event id, and keeps the first budget.
  define(CampaignSpec{});
  CampaignSpec other;
  other.funders = R"([{"funderId":"gov","budget":"5","shareBps":10000}])";
  EXPECT_EQ(verdict(define(CampaignSpec{})), "REJECTED CAMPAIGN_EXISTS");
  Decision d = define(other);
  EXPECT_EQ(verdict(d), "REJECTED CAMPAIGN_EXISTS");
  EXPECT_THAT(kinds(d), IsEmpty());
  EXPECT_EQ(balances("camp-a", "gov"), "1000000/1000000/0/0");
}

TEST_F(Campaigns, StatusMovesBetweenActiveAndPaused) {
  // Proves ACTIVE -> PAUSED -> ACTIVE are applied and grants follow the status.
  define(CampaignSpec{});
  EXPECT_EQ(verdict(status("camp-a", "PAUSED")), "APPLIED");
  EXPECT_EQ(campaign_figures("camp-a").status, "PAUSED");
  EXPECT_EQ(verdict(issue("camp-a", "u1")), "REJECTED CAMPAIGN_NOT_ACTIVE");
  EXPECT_EQ(verdict(status("camp-a", "ACTIVE")), "APPLIED");
  EXPECT_EQ(campaign_figures("camp-a").status, "ACTIVE");
  EXPECT_EQ(verdict(issue("camp-a", "u1")), "APPLIED");
}

TEST_F(Campaigns, ClosedIsFinal) {
  // Proves every status change after CLOSED is CAMPAIGN_CLOSED, including
  // closing again.
  define(CampaignSpec{});
  EXPECT_EQ(verdict(status("camp-a", "CLOSED")), "APPLIED");
  EXPECT_EQ(verdict(status("camp-a", "ACTIVE")), "REJECTED CAMPAIGN_CLOSED");
  EXPECT_EQ(verdict(status("camp-a", "PAUSED")), "REJECTED CAMPAIGN_CLOSED");
  EXPECT_EQ(verdict(status("camp-a", "CLOSED")), "REJECTED CAMPAIGN_CLOSED");
  EXPECT_EQ(campaign_figures("camp-a").status, "CLOSED");
  EXPECT_EQ(verdict(issue("camp-a", "u1")), "REJECTED CAMPAIGN_NOT_ACTIVE");
}

TEST_F(Campaigns, StatusChangeOfUnknownCampaignIsUnknownCampaign) {
  // Proves campaignStatusChanged for an id never defined is UNKNOWN_CAMPAIGN.
  EXPECT_EQ(verdict(status("nope", "PAUSED")), "REJECTED UNKNOWN_CAMPAIGN");
}

TEST_F(Campaigns, BudgetAdjustedRejectionsInOrder) {
  // Proves budgetAdjusted's reasons and their order: UNKNOWN_CAMPAIGN,
  // UNKNOWN_FUNDER (even on a closed campaign), CAMPAIGN_CLOSED (even for a
  // cut larger than available), INSUFFICIENT_AVAILABLE.
  EXPECT_EQ(verdict(adjust("nope", "gov", 5)), "REJECTED UNKNOWN_CAMPAIGN");
  define(fixed_spec("c1", 1000, 10'000));
  define(fixed_spec("c2", 1000, 10'000));
  EXPECT_EQ(verdict(adjust("c1", "city", 5)), "REJECTED UNKNOWN_FUNDER");
  EXPECT_EQ(verdict(adjust("c1", "gov", -10'001)), "REJECTED INSUFFICIENT_AVAILABLE");
  status("c2", "CLOSED");
  EXPECT_EQ(verdict(adjust("c2", "city", 5)), "REJECTED UNKNOWN_FUNDER");
  EXPECT_EQ(verdict(adjust("c2", "gov", -20'000)), "REJECTED CAMPAIGN_CLOSED");
  EXPECT_EQ(verdict(adjust("c2", "gov", 5)), "REJECTED CAMPAIGN_CLOSED");
  EXPECT_EQ(balances("c1", "gov"), "10000/10000/0/0");
}

TEST_F(Campaigns, BudgetAdjustedAddsDeltaToBudgetAndAvailable) {
  // Proves a top-up and a cut move budget and available together, a cut of
  // exactly the available amount is allowed, and a larger one is not: 1000 is
  // reserved by a coupon, so at most 9500 of 10500 may be cut.
  define(fixed_spec("c1", 1000, 10'000));
  granted("c1", "u1");
  Decision up = adjust("c1", "gov", 500);
  EXPECT_EQ(verdict(up), "APPLIED");
  ASSERT_THAT(kinds(up), ElementsAre("budgetAdjusted"));
  EXPECT_EQ(up.effects(0).budget_adjusted().campaign_id(), "c1");
  EXPECT_EQ(up.effects(0).budget_adjusted().funder_id(), "gov");
  EXPECT_EQ(up.effects(0).budget_adjusted().delta(), 500);
  EXPECT_EQ(balances("c1", "gov"), "10500/9500/1000/0");
  EXPECT_EQ(verdict(adjust("c1", "gov", -9501)), "REJECTED INSUFFICIENT_AVAILABLE");
  EXPECT_EQ(verdict(adjust("c1", "gov", -9500)), "APPLIED");
  EXPECT_EQ(balances("c1", "gov"), "1000/0/1000/0");
}

// =====================================================================
// Granting a coupon: each check in isolation

class Grant : public EngineTest {};

TEST_F(Grant, UnknownCampaign) {
  // Proves couponIssued for an undefined campaign is UNKNOWN_CAMPAIGN.
  EXPECT_EQ(verdict(issue("nope", "u1")), "REJECTED UNKNOWN_CAMPAIGN");
}

TEST_F(Grant, EachEventFindsTheCampaignItNames) {
  // Proves that the campaign an event names is found whichever campaign the
  // event before named (the engine compares that one's id first): ids of
  // 17 bytes that differ in their last byte, taken in turns, grant their own
  // campaign's amount, and an unknown id of the same length between them is
  // UNKNOWN_CAMPAIGN.
  define(fixed_spec("buy-local-2023-08", 1000));
  define(fixed_spec("buy-local-2023-09", 2000));
  auto amount = [&](const std::string& campaign, const std::string& customer) -> std::int64_t {
    auto g = effects_of(issue(campaign, customer), v1::Effect::kCouponGranted);
    if (g.size() != 1 || g[0].coupon_granted().campaign_id() != campaign) return -1;
    return g[0].coupon_granted().reserved();
  };
  EXPECT_EQ(amount("buy-local-2023-08", "u1"), 1000);
  EXPECT_EQ(amount("buy-local-2023-09", "u2"), 2000);
  EXPECT_EQ(amount("buy-local-2023-09", "u3"), 2000);
  EXPECT_EQ(verdict(issue("buy-local-2023-07", "u4")), "REJECTED UNKNOWN_CAMPAIGN");
  EXPECT_EQ(amount("buy-local-2023-08", "u5"), 1000);
  EXPECT_EQ(verdict(issue("buy-local-2023-0", "u6")), "REJECTED UNKNOWN_CAMPAIGN");
  EXPECT_EQ(amount("buy-local-2023-09", "u7"), 2000);
}

TEST_F(Grant, IssuingUnderAWelcomeCampaignIsWrongTrigger) {
  // Proves couponIssued under a CHANNEL_ADDED campaign is WRONG_TRIGGER.
  define(welcome_spec("w1"));
  EXPECT_EQ(verdict(issue("w1", "u1")), "REJECTED WRONG_TRIGGER");
}

TEST_F(Grant, ChannelAddedIgnoresIssuedCampaigns) {
  // Proves a welcome grant is only tried for CHANNEL_ADDED campaigns: with an
  // active ISSUED campaign, channelAdded has no effects.
  define(CampaignSpec{});
  store("m1");
  Decision d = add_friend("m1", "u1");
  EXPECT_EQ(verdict(d), "APPLIED");
  EXPECT_THAT(kinds(d), IsEmpty());
}

TEST_F(Grant, PausedCampaignIsNotActive) {
  // Proves a PAUSED campaign grants nothing.
  define(CampaignSpec{});
  status("camp-a", "PAUSED");
  EXPECT_EQ(verdict(issue("camp-a", "u1")), "REJECTED CAMPAIGN_NOT_ACTIVE");
}

TEST_F(Grant, CampaignIsActiveFromStartsAtUntilBeforeEndsAt) {
  // Proves activity is startsAt <= t < endsAt: one second before startsAt and
  // exactly at endsAt are CAMPAIGN_NOT_ACTIVE; startsAt and endsAt - 1 grant.
  CampaignSpec s;
  s.starts_at = kDay;
  s.ends_at = 2 * kDay;
  define(s);
  now_ = kDay - 1;
  EXPECT_EQ(verdict(issue("camp-a", "u1")), "REJECTED CAMPAIGN_NOT_ACTIVE");
  now_ = kDay;
  EXPECT_EQ(verdict(issue("camp-a", "u2")), "APPLIED");
  now_ = 2 * kDay - 1;
  EXPECT_EQ(verdict(issue("camp-a", "u3")), "APPLIED");
  now_ = 2 * kDay;
  EXPECT_EQ(verdict(issue("camp-a", "u4")), "REJECTED CAMPAIGN_NOT_ACTIVE");
}

TEST_F(Grant, ActivityUsesTheEventTimeNotTheClock) {
  // Proves "now" rules use the event's own occurredAt: after the clock passed
  // endsAt, a late event dated before endsAt still grants.
  CampaignSpec s;
  s.ends_at = kDay;
  define(s);
  now_ = 2 * kDay;
  enroll("m-late");
  now_ = kDay - 10;
  EXPECT_EQ(verdict(issue("camp-a", "u1")), "APPLIED");
}

TEST_F(Grant, UnknownMerchantIsMerchantNotEnrolled) {
  // Proves a couponIssued naming a merchant that never enrolled is
  // MERCHANT_NOT_ENROLLED.
  define(CampaignSpec{});
  EXPECT_EQ(verdict(issue("camp-a", "u1", "ghost")), "REJECTED MERCHANT_NOT_ENROLLED");
}

TEST_F(Grant, MerchantOutsideAnyNonEmptyEligibilityListIsNotEligible) {
  // Proves each eligibility list (market, merchant, category) is enforced on
  // its own and that a merchant passing every non-empty list is eligible.
  CampaignSpec by_market = fixed_spec("e-market", 1000);
  by_market.eligibility = R"({"marketIds":["mk-1"]})";
  CampaignSpec by_merchant = fixed_spec("e-merchant", 1000);
  by_merchant.eligibility = R"({"merchantIds":["m-in","m-cat"]})";
  CampaignSpec by_category = fixed_spec("e-category", 1000);
  by_category.eligibility = R"({"categories":["food"]})";
  CampaignSpec all = fixed_spec("e-all", 1000);
  all.eligibility = R"({"marketIds":["mk-1"],"merchantIds":["m-in"],"categories":["food"]})";
  for (const auto& s : {by_market, by_merchant, by_category, all}) define(s);
  enroll("m-in", "mk-1", "food");
  enroll("m-out", "mk-2", "fish");
  enroll("m-cat", "mk-1", "fish");

  EXPECT_EQ(verdict(issue("e-market", "u1", "m-out")), "REJECTED MERCHANT_NOT_ELIGIBLE");
  EXPECT_EQ(verdict(issue("e-market", "u1", "m-in")), "APPLIED");
  EXPECT_EQ(verdict(issue("e-merchant", "u1", "m-out")), "REJECTED MERCHANT_NOT_ELIGIBLE");
  EXPECT_EQ(verdict(issue("e-merchant", "u1", "m-cat")), "APPLIED");
  EXPECT_EQ(verdict(issue("e-category", "u1", "m-cat")), "REJECTED MERCHANT_NOT_ELIGIBLE");
  EXPECT_EQ(verdict(issue("e-category", "u1", "m-in")), "APPLIED");
  EXPECT_EQ(verdict(issue("e-all", "u1", "m-cat")), "REJECTED MERCHANT_NOT_ELIGIBLE");
  EXPECT_EQ(verdict(issue("e-all", "u1", "m-in")), "APPLIED");
}

TEST_F(Grant, CouponWithoutMerchantSkipsMerchantChecks) {
  // Proves checks 2 are skipped when M is absent: a campaign limited to one
  // market still grants a coupon without merchant, with an empty merchantId.
  CampaignSpec s;
  s.eligibility = R"({"marketIds":["mk-9"]})";
  define(s);
  Decision d = issue("camp-a", "u1");
  EXPECT_EQ(verdict(d), "APPLIED");
  ASSERT_THAT(kinds(d), ElementsAre("couponGranted"));
  EXPECT_EQ(d.effects(0).coupon_granted().merchant_id(), "");
  EXPECT_EQ(d.effects(0).coupon_granted().customer_id(), "u1");
}

TEST_F(Grant, WelcomeCouponOncePerCampaignMerchantCustomerEvenAfterBlockAndReAdd) {
  // Proves ALREADY_WELCOMED: a customer who blocks and re-adds a channel gets
  // a grantRejected instead of a second welcome coupon; the same customer
  // adding another merchant's channel is welcomed there.
  define(welcome_spec("w1"));
  store("m1");
  store("m2");
  EXPECT_THAT(kinds(add_friend("m1", "u1")), ElementsAre("couponGranted"));
  block("m1", "u1");
  Decision again = add_friend("m1", "u1");
  EXPECT_EQ(verdict(again), "APPLIED");
  ASSERT_THAT(kinds(again), ElementsAre("grantRejected"));
  EXPECT_EQ(again.effects(0).grant_rejected().campaign_id(), "w1");
  EXPECT_EQ(again.effects(0).grant_rejected().reason(), "ALREADY_WELCOMED");
  EXPECT_THAT(kinds(add_friend("m2", "u1")), ElementsAre("couponGranted"));
}

TEST_F(Grant, CustomerLimitCountsCouponsEverGranted) {
  // Proves CUSTOMER_LIMIT counts every coupon ever granted to U under C, also
  // redeemed ones: perCustomer 2, the first redeemed, the third is refused
  // while another customer is still served.
  CampaignSpec s;
  s.limits = R"({"perCustomer":"2"})";
  define(s);
  enroll("m1");
  std::string k = granted("camp-a", "u1");
  EXPECT_EQ(verdict(redeem(k, "m1", 5000)), "APPLIED");
  granted("camp-a", "u1");
  EXPECT_EQ(verdict(issue("camp-a", "u1")), "REJECTED CUSTOMER_LIMIT");
  EXPECT_EQ(verdict(issue("camp-a", "u2")), "APPLIED");
}

TEST_F(Grant, MerchantCountLimitCountsCouponsWithThatMerchant) {
  // Proves MERCHANT_COUNT_LIMIT counts only coupons granted with merchant M:
  // perMerchantCount 1 refuses a second m1 coupon but not m2 or none.
  CampaignSpec s;
  s.limits = R"({"perMerchantCount":"1"})";
  define(s);
  enroll("m1");
  enroll("m2");
  granted("camp-a", "u1", "m1");
  EXPECT_EQ(verdict(issue("camp-a", "u2", "m1")), "REJECTED MERCHANT_COUNT_LIMIT");
  EXPECT_EQ(verdict(issue("camp-a", "u2", "m2")), "APPLIED");
  EXPECT_EQ(verdict(issue("camp-a", "u3")), "APPLIED");
}

TEST_F(Grant, TotalCountLimitCountsAllCouponsEverGranted) {
  // Proves TOTAL_COUNT_LIMIT counts coupons ever granted, even after they
  // expired and released their reservation.
  CampaignSpec s;
  s.limits = R"({"totalCount":"2"})";
  define(s);
  std::string k = granted("camp-a", "u1");
  granted("camp-a", "u2");
  now_ = 20 * kDay;  // past expiresAt + grace of both
  Decision d = issue("camp-a", "u3");
  EXPECT_EQ(verdict(d), "REJECTED TOTAL_COUNT_LIMIT");
  EXPECT_EQ(coupon_status(k), "EXPIRED");
}

TEST_F(Grant, MerchantAmountLimitCountsReservedPlusSpent) {
  // Proves MERCHANT_AMOUNT_LIMIT sums reserved + spent of M's coupons plus R:
  // fixed 1000, limit 2500; the first coupon settles 400 (600 released), so
  // 400 + 1000 + 1000 <= 2500 grants a third, and a fourth exceeds it.
  CampaignSpec s;
  s.limits = R"({"perMerchantAmount":"2500"})";
  define(s);
  enroll("m1");
  std::string k = granted("camp-a", "u1", "m1");
  EXPECT_EQ(verdict(redeem(k, "m1", 400)), "APPLIED");
  EXPECT_EQ(verdict(issue("camp-a", "u2", "m1")), "APPLIED");
  EXPECT_EQ(verdict(issue("camp-a", "u3", "m1")), "APPLIED");
  EXPECT_EQ(verdict(issue("camp-a", "u4", "m1")), "REJECTED MERCHANT_AMOUNT_LIMIT");
  EXPECT_EQ(verdict(issue("camp-a", "u4")), "APPLIED");
}

TEST_F(Grant, MerchantAmountLimitAllowsExactlyTheLimit) {
  // Proves the limit is "exceeds": with limit 2000 and fixed 1000 two coupons
  // are granted and a third is refused.
  CampaignSpec s;
  s.limits = R"({"perMerchantAmount":"2000"})";
  define(s);
  enroll("m1");
  EXPECT_EQ(verdict(issue("camp-a", "u1", "m1")), "APPLIED");
  EXPECT_EQ(verdict(issue("camp-a", "u2", "m1")), "APPLIED");
  EXPECT_EQ(verdict(issue("camp-a", "u3", "m1")), "REJECTED MERCHANT_AMOUNT_LIMIT");
}

TEST_F(Grant, MerchantAmountLimitFreedByExpiry) {
  // Proves an expired coupon no longer counts toward the merchant amount.
  CampaignSpec s;
  s.limits = R"({"perMerchantAmount":"1000"})";
  define(s);
  enroll("m1");
  granted("camp-a", "u1", "m1");
  EXPECT_EQ(verdict(issue("camp-a", "u2", "m1")), "REJECTED MERCHANT_AMOUNT_LIMIT");
  now_ = 20 * kDay;
  Decision d = issue("camp-a", "u2", "m1");
  EXPECT_EQ(verdict(d), "APPLIED");
  EXPECT_THAT(kinds(d), ElementsAre("reservationReleased", "couponGranted"));
}

TEST_F(Grant, DailyAmountLimitUsesTheCampaignLocalDay) {
  // Proves DAILY_AMOUNT_LIMIT sums R over the campaign's local day
  // floor((t + utcOffsetMinutes*60)/86400): at UTC+9, 14:59:59Z is 23:59:59
  // local and 15:00:00Z starts the next local day, which resets the sum.
  CampaignSpec s;
  s.utc_offset_minutes = 540;
  s.limits = R"({"dailyAmount":"2000"})";
  define(s);
  now_ = 15 * kHour - 1;
  EXPECT_EQ(verdict(issue("camp-a", "u1")), "APPLIED");
  EXPECT_EQ(verdict(issue("camp-a", "u2")), "APPLIED");
  EXPECT_EQ(verdict(issue("camp-a", "u3")), "REJECTED DAILY_AMOUNT_LIMIT");
  now_ = 15 * kHour;
  EXPECT_EQ(verdict(issue("camp-a", "u3")), "APPLIED");
  EXPECT_EQ(verdict(issue("camp-a", "u4")), "APPLIED");
  EXPECT_EQ(verdict(issue("camp-a", "u5")), "REJECTED DAILY_AMOUNT_LIMIT");
}

TEST_F(Grant, DailyAmountLimitAtUtcIgnoresOtherZonesMidnight) {
  // Proves the same times fall into one day for a UTC campaign (offset 0), so
  // the offset above really is what split the day.
  CampaignSpec s;
  s.limits = R"({"dailyAmount":"2000"})";
  define(s);
  now_ = 15 * kHour - 1;
  granted("camp-a", "u1");
  granted("camp-a", "u2");
  now_ = 15 * kHour;
  EXPECT_EQ(verdict(issue("camp-a", "u3")), "REJECTED DAILY_AMOUNT_LIMIT");
  now_ = kDay;
  EXPECT_EQ(verdict(issue("camp-a", "u3")), "APPLIED");
}

TEST_F(Grant, BudgetExhaustedWhenAnyFunderIsShortOfItsShare) {
  // Proves BUDGET_EXHAUSTED when one funder's available is below its share of
  // R although the total would cover it: 50/50 of 1000 needs 500 each, city
  // has 400; after a top-up of 100 the grant succeeds and moves 500/500.
  CampaignSpec s;
  s.funders = R"([{"funderId":"gov","budget":"100000","shareBps":5000},{"funderId":"city","budget":"400","shareBps":5000}])";
  define(s);
  Decision d = issue("camp-a", "u1");
  EXPECT_EQ(verdict(d), "REJECTED BUDGET_EXHAUSTED");
  EXPECT_THAT(kinds(d), IsEmpty());
  EXPECT_EQ(balances("camp-a", "city"), "400/400/0/0");
  adjust("camp-a", "city", 100);
  d = issue("camp-a", "u1");
  EXPECT_EQ(verdict(d), "APPLIED");
  ASSERT_THAT(kinds(d), ::testing::Contains("couponGranted"));
  EXPECT_EQ(split_str(d.effects(0).coupon_granted().split()), "gov:500,city:500");
  EXPECT_EQ(balances("camp-a", "gov"), "100000/99500/500/0");
  EXPECT_EQ(balances("camp-a", "city"), "500/0/500/0");
}

TEST_F(Grant, GivenCouponIdTakenIsCouponExists) {
  // Proves a couponIssued whose couponId is taken is COUPON_EXISTS and the
  // first coupon is untouched.
  define(CampaignSpec{});
  EXPECT_EQ(granted("camp-a", "u1", "", "k-1"), "k-1");
  Decision d = issue("camp-a", "u2", "", "k-1");
  EXPECT_EQ(verdict(d), "REJECTED COUPON_EXISTS");
  EXPECT_EQ(coupon("k-1")->reserved.minor(), 1000);
  EXPECT_EQ(balances("camp-a", "gov"), "1000000/999000/1000/0");
}

TEST_F(Grant, ZeroLimitsMeanUnlimited) {
  // Proves a limit of 0 means unlimited: with every limit 0, one customer at
  // one merchant gets five coupons in one day.
  CampaignSpec s;
  s.limits = R"({"perCustomer":"0","perMerchantCount":"0","totalCount":"0","perMerchantAmount":"0","dailyAmount":"0"})";
  define(s);
  enroll("m1");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(verdict(issue("camp-a", "u1", "m1")), "APPLIED") << i;
}

TEST_F(Grant, CouponIdsFollowTheEventWhenNotGiven) {
  // Proves the coupon id rules: given couponId, else <eventId> for
  // couponIssued, and <eventId>/<campaignId> for a welcome coupon.
  define(CampaignSpec{});
  define(welcome_spec("w1"));
  store("m1");
  Decision given = apply_event("ev-given", kHour, "couponIssued", R"({"campaignId":"camp-a","customerId":"u1","couponId":"my/coupon-1"})");
  ASSERT_THAT(kinds(given), ElementsAre("couponGranted"));
  EXPECT_EQ(given.effects(0).coupon_granted().coupon_id(), "my/coupon-1");
  Decision derived = apply_event("ev-derived", kHour, "couponIssued", R"({"campaignId":"camp-a","customerId":"u2"})");
  ASSERT_THAT(kinds(derived), ElementsAre("couponGranted"));
  EXPECT_EQ(derived.effects(0).coupon_granted().coupon_id(), "ev-derived");
  Decision welcome = apply_event("ev-add", kHour, "channelAdded", R"({"merchantId":"m1","customerId":"u3"})");
  ASSERT_THAT(kinds(welcome), ElementsAre("couponGranted"));
  EXPECT_EQ(welcome.effects(0).coupon_granted().coupon_id(), "ev-add/w1");
  EXPECT_EQ(coupon_status("ev-add/w1"), "ISSUED");
}

TEST_F(Grant, GrantReservesRAndExpiresValidDaysAfterTheEventTime) {
  // Proves a granted coupon carries R, the customer/merchant, a split of R and
  // expiresAt = t + validDays*86400 (validDays 3), and moves R to reserved.
  CampaignSpec s;
  s.offer = R"({"fixedAmount":"2500","validDays":3})";
  define(s);
  enroll("m1");
  now_ = 5 * kHour + 17;
  Decision d = issue("camp-a", "u1", "m1");
  ASSERT_THAT(kinds(d), ElementsAre("couponGranted"));
  const auto& g = d.effects(0).coupon_granted();
  EXPECT_EQ(g.campaign_id(), "camp-a");
  EXPECT_EQ(g.merchant_id(), "m1");
  EXPECT_EQ(g.customer_id(), "u1");
  EXPECT_EQ(g.reserved(), 2500);
  EXPECT_EQ(seconds_of(g.expires_at()), 5 * kHour + 17 + 3 * kDay);
  EXPECT_EQ(split_str(g.split()), "gov:2500");
  EXPECT_EQ(balances("camp-a", "gov"), "1000000/997500/2500/0");
}

TEST_F(Grant, PercentOfferReservesItsMaximumDiscount) {
  // Proves R of a percent offer is maxDiscount.
  CampaignSpec s;
  s.offer = R"({"percentBps":1000,"maxDiscount":"5000","validDays":7})";
  define(s);
  Decision d = issue("camp-a", "u1");
  ASSERT_THAT(kinds(d), ElementsAre("couponGranted"));
  EXPECT_EQ(d.effects(0).coupon_granted().reserved(), 5000);
  EXPECT_EQ(balances("camp-a", "gov"), "1000000/995000/5000/0");
}

TEST_F(Grant, RejectedGrantHasNoEffectsAndIsCountedInTheReport) {
  // Proves a refused couponIssued is the decision's own REJECTED reason with
  // no effects, and the report counts it by reason.
  CampaignSpec s;
  s.limits = R"({"perCustomer":"1"})";
  define(s);
  granted("camp-a", "u1");
  Decision d = issue("camp-a", "u1");
  EXPECT_EQ(verdict(d), "REJECTED CUSTOMER_LIMIT");
  EXPECT_THAT(kinds(d), IsEmpty());
  EXPECT_EQ(rejections("camp-a", "CUSTOMER_LIMIT"), 1);
}

// =====================================================================
// Granting a coupon: precedence (when two checks fail the earlier wins)

class GrantPrecedence : public EngineTest {};

TEST_F(GrantPrecedence, CouponExistsIsCheckedFirst) {
  // Proves couponIssued checks COUPON_EXISTS before any grant check: a taken
  // couponId under an unknown campaign is COUPON_EXISTS.
  define(CampaignSpec{});
  granted("camp-a", "u1", "", "k-1");
  EXPECT_EQ(verdict(issue("nope", "u2", "", "k-1")), "REJECTED COUPON_EXISTS");
}

TEST_F(GrantPrecedence, WrongTriggerBeforeNotActive) {
  // Proves WRONG_TRIGGER wins over CAMPAIGN_NOT_ACTIVE on a paused welcome campaign.
  define(welcome_spec("w1"));
  status("w1", "PAUSED");
  EXPECT_EQ(verdict(issue("w1", "u1")), "REJECTED WRONG_TRIGGER");
}

TEST_F(GrantPrecedence, NotActiveBeforeMerchantNotEnrolled) {
  // Proves CAMPAIGN_NOT_ACTIVE wins over MERCHANT_NOT_ENROLLED.
  define(CampaignSpec{});
  status("camp-a", "PAUSED");
  EXPECT_EQ(verdict(issue("camp-a", "u1", "ghost")), "REJECTED CAMPAIGN_NOT_ACTIVE");
}

TEST_F(GrantPrecedence, MerchantNotEligibleBeforeCustomerLimit) {
  // Proves MERCHANT_NOT_ELIGIBLE wins over CUSTOMER_LIMIT.
  CampaignSpec s;
  s.eligibility = R"({"marketIds":["mk-1"]})";
  s.limits = R"({"perCustomer":"1"})";
  define(s);
  enroll("m-in", "mk-1");
  enroll("m-out", "mk-2");
  granted("camp-a", "u1", "m-in");
  EXPECT_EQ(verdict(issue("camp-a", "u1", "m-out")), "REJECTED MERCHANT_NOT_ELIGIBLE");
}

TEST_F(GrantPrecedence, AlreadyWelcomedBeforeCustomerLimit) {
  // Proves ALREADY_WELCOMED wins over CUSTOMER_LIMIT (perCustomer 1).
  CampaignSpec s = welcome_spec("w1");
  s.limits = R"({"perCustomer":"1"})";
  define(s);
  store("m1");
  store("m2");
  add_friend("m1", "u1");
  block("m1", "u1");
  Decision d = add_friend("m1", "u1");
  ASSERT_THAT(kinds(d), ElementsAre("grantRejected"));
  EXPECT_EQ(d.effects(0).grant_rejected().reason(), "ALREADY_WELCOMED");
  d = add_friend("m2", "u1");
  ASSERT_THAT(kinds(d), ElementsAre("grantRejected"));
  EXPECT_EQ(d.effects(0).grant_rejected().reason(), "CUSTOMER_LIMIT");
}

TEST_F(GrantPrecedence, CustomerLimitBeforeMerchantCountLimit) {
  // Proves CUSTOMER_LIMIT wins over MERCHANT_COUNT_LIMIT.
  CampaignSpec s;
  s.limits = R"({"perCustomer":"1","perMerchantCount":"1"})";
  define(s);
  enroll("m1");
  granted("camp-a", "u1", "m1");
  EXPECT_EQ(verdict(issue("camp-a", "u1", "m1")), "REJECTED CUSTOMER_LIMIT");
}

TEST_F(GrantPrecedence, MerchantCountLimitBeforeTotalCountLimit) {
  // Proves MERCHANT_COUNT_LIMIT wins over TOTAL_COUNT_LIMIT.
  CampaignSpec s;
  s.limits = R"({"perMerchantCount":"1","totalCount":"1"})";
  define(s);
  enroll("m1");
  granted("camp-a", "u1", "m1");
  EXPECT_EQ(verdict(issue("camp-a", "u2", "m1")), "REJECTED MERCHANT_COUNT_LIMIT");
  EXPECT_EQ(verdict(issue("camp-a", "u2")), "REJECTED TOTAL_COUNT_LIMIT");
}

TEST_F(GrantPrecedence, TotalCountLimitBeforeMerchantAmountLimit) {
  // Proves TOTAL_COUNT_LIMIT wins over MERCHANT_AMOUNT_LIMIT.
  CampaignSpec s;
  s.limits = R"({"totalCount":"1","perMerchantAmount":"1000"})";
  define(s);
  enroll("m1");
  granted("camp-a", "u1", "m1");
  EXPECT_EQ(verdict(issue("camp-a", "u2", "m1")), "REJECTED TOTAL_COUNT_LIMIT");
}

TEST_F(GrantPrecedence, MerchantAmountLimitBeforeDailyAmountLimit) {
  // Proves MERCHANT_AMOUNT_LIMIT wins over DAILY_AMOUNT_LIMIT.
  CampaignSpec s;
  s.limits = R"({"perMerchantAmount":"1000","dailyAmount":"1000"})";
  define(s);
  enroll("m1");
  granted("camp-a", "u1", "m1");
  EXPECT_EQ(verdict(issue("camp-a", "u2", "m1")), "REJECTED MERCHANT_AMOUNT_LIMIT");
  EXPECT_EQ(verdict(issue("camp-a", "u2")), "REJECTED DAILY_AMOUNT_LIMIT");
}

TEST_F(GrantPrecedence, DailyAmountLimitBeforeBudgetExhausted) {
  // Proves DAILY_AMOUNT_LIMIT wins over BUDGET_EXHAUSTED (both at 1000).
  CampaignSpec s = fixed_spec("c1", 1000, 1000);
  s.limits = R"({"dailyAmount":"1000"})";
  define(s);
  granted("c1", "u1");
  EXPECT_EQ(verdict(issue("c1", "u2")), "REJECTED DAILY_AMOUNT_LIMIT");
  now_ = kDay + kHour;
  EXPECT_EQ(verdict(issue("c1", "u2")), "REJECTED BUDGET_EXHAUSTED");
}

TEST_F(GrantPrecedence, UnknownCampaignBeforeEverythingElse) {
  // Proves UNKNOWN_CAMPAIGN wins over MERCHANT_NOT_ENROLLED.
  EXPECT_EQ(verdict(issue("nope", "u1", "ghost")), "REJECTED UNKNOWN_CAMPAIGN");
}

// =====================================================================
// Welcome coupons

class Welcome : public EngineTest {};

TEST_F(Welcome, ChannelAddedTriesEveryActiveWelcomeCampaignInIdOrder) {
  // Proves channelAdded grants one coupon per active CHANNEL_ADDED campaign in
  // campaign-id order (defined w-b, w-a), skipping paused and not-yet-started
  // ones, and the decision is APPLIED.
  define(welcome_spec("w-b"));
  define(welcome_spec("w-a"));
  define(welcome_spec("w-paused"));
  status("w-paused", "PAUSED");
  CampaignSpec later = welcome_spec("w-later");
  later.starts_at = 10 * kDay;
  define(later);
  store("m1");
  Decision d = add_friend("m1", "u1");
  EXPECT_EQ(verdict(d), "APPLIED");
  ASSERT_THAT(kinds(d), ElementsAre("couponGranted", "couponGranted"));
  EXPECT_EQ(d.effects(0).coupon_granted().campaign_id(), "w-a");
  EXPECT_EQ(d.effects(1).coupon_granted().campaign_id(), "w-b");
  EXPECT_EQ(d.effects(0).coupon_granted().merchant_id(), "m1");
  EXPECT_EQ(d.effects(0).coupon_granted().customer_id(), "u1");
  EXPECT_EQ(d.effects(0).coupon_granted().coupon_id(), d.event_id() + "/w-a");
}

TEST_F(Welcome, RefusedWelcomeIsAGrantRejectedEffect) {
  // Proves a refused welcome grant is a grantRejected effect in campaign order
  // while the decision stays APPLIED and the friend is added.
  CampaignSpec a = welcome_spec("w-a");
  a.funders = R"([{"funderId":"gov","budget":"500","shareBps":10000}])";
  define(a);
  define(welcome_spec("w-b"));
  store("m1");
  Decision d = add_friend("m1", "u1");
  EXPECT_EQ(verdict(d), "APPLIED");
  ASSERT_THAT(kinds(d), ElementsAre("grantRejected", "couponGranted"));
  EXPECT_EQ(d.effects(0).grant_rejected().campaign_id(), "w-a");
  EXPECT_EQ(d.effects(0).grant_rejected().reason(), "BUDGET_EXHAUSTED");
  EXPECT_EQ(d.effects(1).coupon_granted().campaign_id(), "w-b");
  EXPECT_EQ(market("mk-1").friends, 1);
}

TEST_F(Welcome, IneligibleCampaignsAreSkippedSilently) {
  // Proves a welcome campaign the merchant is not eligible for yields neither
  // a grant nor a grantRejected.
  CampaignSpec other = welcome_spec("w-other-market");
  other.eligibility = R"({"marketIds":["mk-2"]})";
  define(other);
  define(welcome_spec("w-all"));
  store("m1", "mk-1");
  Decision d = add_friend("m1", "u1");
  ASSERT_THAT(kinds(d), ElementsAre("couponGranted"));
  EXPECT_EQ(d.effects(0).coupon_granted().campaign_id(), "w-all");
}

TEST_F(Welcome, RejectedChannelAddedGrantsNothing) {
  // Proves only an applied channelAdded tries welcome grants.
  define(welcome_spec("w1"));
  store("m1");
  add_friend("m1", "u1");
  Decision d = add_friend("m1", "u1");
  EXPECT_EQ(verdict(d), "REJECTED ALREADY_FRIEND");
  EXPECT_THAT(kinds(d), IsEmpty());
}

// =====================================================================
// Redemption

class Redemption : public EngineTest {};

TEST_F(Redemption, UnknownCoupon) {
  // Proves redeeming a coupon id never granted is UNKNOWN_COUPON.
  enroll("m1");
  EXPECT_EQ(verdict(redeem("nope", "m1", 1000)), "REJECTED UNKNOWN_COUPON");
}

TEST_F(Redemption, ClosedCampaignBeforeCouponNotActive) {
  // Proves CAMPAIGN_CLOSED: the coupon is VOID after the close, yet the reason
  // is CAMPAIGN_CLOSED, which comes before COUPON_NOT_ACTIVE.
  define(CampaignSpec{});
  enroll("m1");
  std::string k = granted("camp-a", "u1");
  status("camp-a", "CLOSED");
  EXPECT_EQ(coupon_status(k), "VOID");
  EXPECT_EQ(verdict(redeem(k, "m1", 5000)), "REJECTED CAMPAIGN_CLOSED");
}

TEST_F(Redemption, AfterExpiresAtIsExpiredEvenWithinTheGraceWindow) {
  // Proves EXPIRED for t > expiresAt while the coupon still holds its
  // reservation in the grace window, and t == expiresAt still redeems.
  define(CampaignSpec{});
  enroll("m1");
  std::string k1 = granted("camp-a", "u1");
  std::string k2 = granted("camp-a", "u2");
  now_ = kHour + 7 * kDay + 1;
  EXPECT_EQ(verdict(redeem(k1, "m1", 5000)), "REJECTED EXPIRED");
  EXPECT_EQ(coupon_status(k1), "ISSUED");
  EXPECT_EQ(balances("camp-a", "gov"), "1000000/998000/2000/0");
  now_ = kHour + 7 * kDay;  // a late event, dated exactly at expiresAt
  EXPECT_EQ(verdict(redeem(k2, "m1", 5000)), "APPLIED");
}

TEST_F(Redemption, ExpiredStatusIsExpired) {
  // Proves a coupon already EXPIRED is EXPIRED, even for a late event dated
  // before its expiresAt.
  define(CampaignSpec{});
  enroll("m1");
  std::string k = granted("camp-a", "u1");
  now_ = 20 * kDay;
  enroll("m2");
  EXPECT_EQ(coupon_status(k), "EXPIRED");
  now_ = 2 * kHour;
  EXPECT_EQ(verdict(redeem(k, "m1", 5000)), "REJECTED EXPIRED");
}

TEST_F(Redemption, ExpiredBeforeCouponNotActive) {
  // Proves a REDEEMED coupon redeemed again after expiresAt is EXPIRED.
  define(CampaignSpec{});
  enroll("m1");
  std::string k = granted("camp-a", "u1");
  redeem(k, "m1", 5000);
  now_ = kHour + 7 * kDay + 1;
  EXPECT_EQ(verdict(redeem(k, "m1", 5000)), "REJECTED EXPIRED");
}

TEST_F(Redemption, RedeemedOrVoidCouponIsNotActive) {
  // Proves COUPON_NOT_ACTIVE for a REDEEMED coupon, and for a VOID one (voided
  // by a reversal a funder could not re-reserve).
  define(fixed_spec("c1", 1000, 1000));
  enroll("m1");
  std::string k = granted("c1", "u1");
  EXPECT_EQ(verdict(redeem(k, "m1", 300)), "APPLIED");
  EXPECT_EQ(verdict(redeem(k, "m1", 300)), "REJECTED COUPON_NOT_ACTIVE");
  adjust("c1", "gov", -700);  // nothing left to re-reserve R - d = 700
  Decision rev = reverse(k, "m1");
  ASSERT_THAT(kinds(rev), ElementsAre("redemptionReversed"));
  EXPECT_FALSE(rev.effects(0).redemption_reversed().restored());
  EXPECT_EQ(coupon_status(k), "VOID");
  EXPECT_EQ(verdict(redeem(k, "m1", 300)), "REJECTED COUPON_NOT_ACTIVE");
}

TEST_F(Redemption, CouponNotActiveBeforeWrongMerchant) {
  // Proves COUPON_NOT_ACTIVE wins over WRONG_MERCHANT.
  define(CampaignSpec{});
  enroll("m1");
  enroll("m2");
  std::string k = granted("camp-a", "u1", "m1");
  redeem(k, "m1", 5000);
  EXPECT_EQ(verdict(redeem(k, "m2", 5000)), "REJECTED COUPON_NOT_ACTIVE");
}

TEST_F(Redemption, CouponOfAnotherMerchantIsWrongMerchant) {
  // Proves a coupon issued with m1 is WRONG_MERCHANT at m2.
  define(CampaignSpec{});
  enroll("m1");
  enroll("m2");
  std::string k = granted("camp-a", "u1", "m1");
  EXPECT_EQ(verdict(redeem(k, "m2", 5000)), "REJECTED WRONG_MERCHANT");
  EXPECT_EQ(verdict(redeem(k, "m1", 5000)), "APPLIED");
}

TEST_F(Redemption, CouponWithoutMerchantRedeemsAtAnyEligibleMerchantOnly) {
  // Proves a coupon without merchant is WRONG_MERCHANT at an ineligible or
  // unenrolled merchant and redeems at an eligible one.
  CampaignSpec s;
  s.eligibility = R"({"marketIds":["mk-1"]})";
  define(s);
  enroll("m-in", "mk-1");
  enroll("m-out", "mk-2");
  std::string k = granted("camp-a", "u1");
  EXPECT_EQ(verdict(redeem(k, "m-out", 5000)), "REJECTED WRONG_MERCHANT");
  EXPECT_EQ(verdict(redeem(k, "ghost", 5000)), "REJECTED WRONG_MERCHANT");
  Decision d = redeem(k, "m-in", 5000);
  EXPECT_EQ(verdict(d), "APPLIED");
  ASSERT_THAT(kinds(d), ElementsAre("redemptionSettled"));
  EXPECT_EQ(d.effects(0).redemption_settled().merchant_id(), "m-in");
}

TEST_F(Redemption, WrongMerchantBeforeBelowMinOrder) {
  // Proves WRONG_MERCHANT wins over BELOW_MIN_ORDER, which wins over
  // DISCOUNT_MISMATCH; an order of exactly minOrderAmount redeems.
  CampaignSpec s;
  s.offer = R"({"fixedAmount":"1000","minOrderAmount":"10000","validDays":7})";
  define(s);
  enroll("m1");
  enroll("m2");
  std::string k = granted("camp-a", "u1", "m1");
  EXPECT_EQ(verdict(redeem(k, "m2", 9999)), "REJECTED WRONG_MERCHANT");
  EXPECT_EQ(verdict(redeem(k, "m1", 9999, 7)), "REJECTED BELOW_MIN_ORDER");
  EXPECT_EQ(verdict(redeem(k, "m1", 10000, 999)), "REJECTED DISCOUNT_MISMATCH");
  EXPECT_EQ(verdict(redeem(k, "m1", 10000, 1000)), "APPLIED");
}

TEST_F(Redemption, DiscountMismatchOnlyWhenGivenAndDifferent) {
  // Proves the event's discount is compared with the computed one: absent is
  // fine, different is DISCOUNT_MISMATCH with no effects.
  define(CampaignSpec{});
  enroll("m1");
  std::string k = granted("camp-a", "u1");
  Decision d = redeem(k, "m1", 700, 1000);  // computed: min(1000, 700) = 700
  EXPECT_EQ(verdict(d), "REJECTED DISCOUNT_MISMATCH");
  EXPECT_THAT(kinds(d), IsEmpty());
  EXPECT_EQ(verdict(redeem(k, "m1", 700, 700)), "APPLIED");
}

TEST_F(Redemption, FixedDiscountIsCappedByTheOrder) {
  // Proves d = min(fixed, order): 1000 off an order of 5000, and 700 off 700.
  define(CampaignSpec{});
  enroll("m1");
  std::string k1 = granted("camp-a", "u1");
  std::string k2 = granted("camp-a", "u2");
  Decision d1 = redeem(k1, "m1", 5000);
  ASSERT_THAT(kinds(d1), ElementsAre("redemptionSettled"));
  EXPECT_EQ(d1.effects(0).redemption_settled().discount(), 1000);
  EXPECT_EQ(d1.effects(0).redemption_settled().released(), 0);
  Decision d2 = redeem(k2, "m1", 700);
  ASSERT_THAT(kinds(d2), ElementsAre("redemptionSettled"));
  EXPECT_EQ(d2.effects(0).redemption_settled().discount(), 700);
  EXPECT_EQ(d2.effects(0).redemption_settled().released(), 300);
  EXPECT_EQ(balances("camp-a", "gov"), "1000000/998300/0/1700");
}

TEST_F(Redemption, PercentDiscountIsFlooredAndCapped) {
  // Proves d = min(floor(order*bps/10000), maxDiscount): 10% of 37,777 is
  // 3,777 (3,777.7 floored); 10% of 80,000 is capped at 5,000.
  CampaignSpec s;
  s.offer = R"({"percentBps":1000,"maxDiscount":"5000","validDays":7})";
  define(s);
  enroll("m1");
  std::string k1 = granted("camp-a", "u1");
  std::string k2 = granted("camp-a", "u2");
  Decision d1 = redeem(k1, "m1", 37'777, 3777);
  EXPECT_EQ(verdict(d1), "APPLIED");
  ASSERT_THAT(kinds(d1), ElementsAre("redemptionSettled"));
  EXPECT_EQ(d1.effects(0).redemption_settled().discount(), 3777);
  EXPECT_EQ(d1.effects(0).redemption_settled().released(), 1223);
  Decision d2 = redeem(k2, "m1", 80'000);
  ASSERT_THAT(kinds(d2), ElementsAre("redemptionSettled"));
  EXPECT_EQ(d2.effects(0).redemption_settled().discount(), 5000);
  EXPECT_EQ(d2.effects(0).redemption_settled().released(), 0);
}

TEST_F(Redemption, SettlementSplitsExactlyAcrossThreeFunders) {
  // Proves the settlement and released splits with an odd split: R = 1001 over
  // 3333/3333/3334 bps reserves 334/333/334 (remainders 6333/6333/7334: c,
  // then a by funder order); d = 500 splits by those parts 167/166/167
  // (remainders 834/334/834, tie a before c); the 501 released is 167 each.
  CampaignSpec s;
  s.funders = kThreeFunders;
  s.offer = R"({"fixedAmount":"1001","validDays":7})";
  define(s);
  enroll("m1");
  Decision g = issue("camp-a", "u1", "m1");
  ASSERT_THAT(kinds(g), ElementsAre("couponGranted"));
  EXPECT_EQ(split_str(g.effects(0).coupon_granted().split()), "a:334,b:333,c:334");
  const std::string k = g.effects(0).coupon_granted().coupon_id();
  Decision d = redeem(k, "m1", 500);
  EXPECT_EQ(verdict(d), "APPLIED");
  ASSERT_THAT(kinds(d), ElementsAre("redemptionSettled"));
  const auto& rs = d.effects(0).redemption_settled();
  EXPECT_EQ(rs.coupon_id(), k);
  EXPECT_EQ(rs.campaign_id(), "camp-a");
  EXPECT_EQ(rs.merchant_id(), "m1");
  EXPECT_EQ(rs.order_amount(), 500);
  EXPECT_EQ(rs.discount(), 500);
  EXPECT_EQ(split_str(rs.split()), "a:167,b:166,c:167");
  EXPECT_EQ(rs.released(), 501);
  EXPECT_EQ(split_str(rs.released_split()), "a:167,b:167,c:167");
  EXPECT_EQ(balances("camp-a", "a"), "1000000/999833/0/167");
  EXPECT_EQ(balances("camp-a", "b"), "1000000/999834/0/166");
  EXPECT_EQ(balances("camp-a", "c"), "1000000/999833/0/167");
  EXPECT_EQ(coupon_status(k), "REDEEMED");
}

TEST_F(Redemption, FullDiscountListsZeroReleasedSplit) {
  // Proves a released split lists every funder with zeros when nothing is released.
  CampaignSpec s;
  s.funders = kThreeFunders;
  define(s);
  enroll("m1");
  std::string k = granted("camp-a", "u1");
  Decision d = redeem(k, "m1", 5000);
  ASSERT_THAT(kinds(d), ElementsAre("redemptionSettled"));
  EXPECT_EQ(d.effects(0).redemption_settled().released(), 0);
  EXPECT_EQ(split_str(d.effects(0).redemption_settled().released_split()), "a:0,b:0,c:0");
}

TEST_F(Redemption, PausedCampaignStillRedeems) {
  // Proves a PAUSED campaign grants nothing but still redeems its coupons.
  define(CampaignSpec{});
  enroll("m1");
  std::string k = granted("camp-a", "u1");
  status("camp-a", "PAUSED");
  EXPECT_EQ(verdict(redeem(k, "m1", 5000)), "APPLIED");
}

// =====================================================================
// Reversal

class Reversal : public EngineTest {};

TEST_F(Reversal, RejectionsInOrder) {
  // Proves reversal's reasons: UNKNOWN_COUPON; COUPON_NOT_REDEEMED (before
  // WRONG_MERCHANT); WRONG_MERCHANT for a merchant other than where the
  // coupon was redeemed (a coupon without merchant, redeemed at m1).
  define(CampaignSpec{});
  enroll("m1");
  enroll("m2");
  EXPECT_EQ(verdict(reverse("nope", "m1")), "REJECTED UNKNOWN_COUPON");
  std::string k = granted("camp-a", "u1");
  EXPECT_EQ(verdict(reverse(k, "m2")), "REJECTED COUPON_NOT_REDEEMED");
  EXPECT_EQ(verdict(reverse(k, "m1")), "REJECTED COUPON_NOT_REDEEMED");
  redeem(k, "m1", 5000);
  EXPECT_EQ(verdict(reverse(k, "m2")), "REJECTED WRONG_MERCHANT");
  EXPECT_EQ(verdict(reverse(k, "m1")), "APPLIED");
}

TEST_F(Reversal, RestoresTheFullReservationWhileTheCouponIsValid) {
  // Proves a restored reversal with exact splits: R = 1001 (334/333/334),
  // d = 500 (167/166/167); the reversal returns spent 167/166/167 and
  // re-reserves R - d = 501 (167/167/167), leaving the ledger as right after
  // the grant; the coupon is ISSUED and redeems again in full.
  CampaignSpec s;
  s.funders = kThreeFunders;
  s.offer = R"({"fixedAmount":"1001","validDays":7})";
  define(s);
  enroll("m1");
  std::string k = granted("camp-a", "u1", "m1");
  redeem(k, "m1", 500);
  Decision d = reverse(k, "m1");
  EXPECT_EQ(verdict(d), "APPLIED");
  ASSERT_THAT(kinds(d), ElementsAre("redemptionReversed"));
  const auto& rr = d.effects(0).redemption_reversed();
  EXPECT_EQ(rr.coupon_id(), k);
  EXPECT_EQ(rr.campaign_id(), "camp-a");
  EXPECT_TRUE(rr.restored());
  EXPECT_EQ(split_str(rr.spent_returned()), "a:167,b:166,c:167");
  EXPECT_EQ(split_str(rr.re_reserved()), "a:167,b:167,c:167");
  EXPECT_EQ(balances("camp-a", "a"), "1000000/999666/334/0");
  EXPECT_EQ(balances("camp-a", "b"), "1000000/999667/333/0");
  EXPECT_EQ(balances("camp-a", "c"), "1000000/999666/334/0");
  EXPECT_EQ(coupon_status(k), "ISSUED");
  Decision again = redeem(k, "m1", 2000);
  EXPECT_EQ(verdict(again), "APPLIED");
  ASSERT_THAT(kinds(again), ElementsAre("redemptionSettled"));
  EXPECT_EQ(again.effects(0).redemption_settled().discount(), 1001);
  EXPECT_EQ(split_str(again.effects(0).redemption_settled().split()), "a:334,b:333,c:334");
}

TEST_F(Reversal, RestoresAtExactlyExpiresAt) {
  // Proves the restore condition is clock <= expiresAt, boundary included.
  define(CampaignSpec{});
  enroll("m1");
  std::string k = granted("camp-a", "u1");
  redeem(k, "m1", 5000);
  now_ = kHour + 7 * kDay;
  Decision d = reverse(k, "m1");
  ASSERT_THAT(kinds(d), ElementsAre("redemptionReversed"));
  EXPECT_TRUE(d.effects(0).redemption_reversed().restored());
  EXPECT_EQ(coupon_status(k), "ISSUED");
}

TEST_F(Reversal, AfterExpiryVoidsAndReturnsTheDiscountToAvailable) {
  // Proves a reversal once the clock passed expiresAt voids the coupon: spent
  // d goes back to available, nothing is re-reserved; the restore condition
  // uses the engine clock, so a late event dated before expiresAt voids too.
  CampaignSpec s;
  s.funders = kThreeFunders;
  s.offer = R"({"fixedAmount":"1001","validDays":7})";
  define(s);
  enroll("m1");
  std::string k = granted("camp-a", "u1", "m1");
  redeem(k, "m1", 500);
  now_ = kHour + 7 * kDay + 1;
  enroll("m-clock");  // advances the clock past expiresAt
  now_ = 2 * kHour;   // the reversal itself is dated early
  Decision d = reverse(k, "m1");
  EXPECT_EQ(verdict(d), "APPLIED");
  ASSERT_THAT(kinds(d), ElementsAre("redemptionReversed"));
  const auto& rr = d.effects(0).redemption_reversed();
  EXPECT_FALSE(rr.restored());
  EXPECT_EQ(split_str(rr.spent_returned()), "a:167,b:166,c:167");
  EXPECT_EQ(split_str(rr.re_reserved()), "a:0,b:0,c:0");
  EXPECT_EQ(coupon_status(k), "VOID");
  EXPECT_EQ(balances("camp-a", "a"), "1000000/1000000/0/0");
  EXPECT_EQ(balances("camp-a", "b"), "1000000/1000000/0/0");
  EXPECT_EQ(balances("camp-a", "c"), "1000000/1000000/0/0");
}

TEST_F(Reversal, ClosedCampaignVoids) {
  // Proves a reversal on a closed campaign is applied as a void.
  define(CampaignSpec{});
  enroll("m1");
  std::string k = granted("camp-a", "u1");
  redeem(k, "m1", 400);
  status("camp-a", "CLOSED");
  Decision d = reverse(k, "m1");
  EXPECT_EQ(verdict(d), "APPLIED");
  ASSERT_THAT(kinds(d), ElementsAre("redemptionReversed"));
  EXPECT_FALSE(d.effects(0).redemption_reversed().restored());
  EXPECT_EQ(split_str(d.effects(0).redemption_reversed().spent_returned()), "gov:400");
  EXPECT_EQ(coupon_status(k), "VOID");
  EXPECT_EQ(balances("camp-a", "gov"), "1000000/1000000/0/0");
}

TEST_F(Reversal, FunderThatCannotReReserveVoids) {
  // Proves one funder short of its part of R - d voids the coupon: 50/50,
  // R = 1000, d = 200 (100/100); city's available is cut to 300 < 400.
  CampaignSpec s;
  s.funders = R"([{"funderId":"gov","budget":"10000","shareBps":5000},{"funderId":"city","budget":"1500","shareBps":5000}])";
  define(s);
  enroll("m1");
  std::string k = granted("camp-a", "u1");
  redeem(k, "m1", 200);
  EXPECT_EQ(balances("camp-a", "city"), "1500/1400/0/100");
  EXPECT_EQ(verdict(adjust("camp-a", "city", -1100)), "APPLIED");
  Decision d = reverse(k, "m1");
  ASSERT_THAT(kinds(d), ElementsAre("redemptionReversed"));
  EXPECT_FALSE(d.effects(0).redemption_reversed().restored());
  EXPECT_EQ(split_str(d.effects(0).redemption_reversed().spent_returned()), "gov:100,city:100");
  EXPECT_EQ(coupon_status(k), "VOID");
  EXPECT_EQ(balances("camp-a", "gov"), "10000/10000/0/0");
  EXPECT_EQ(balances("camp-a", "city"), "400/400/0/0");
}

// =====================================================================
// Expiry

class Expiry : public EngineTest {};

TEST_F(Expiry, CouponExpiresOnlyOnceTheClockPassesExpiresAtPlusDefaultGrace) {
  // Proves the default grace of 86400 s: at expiresAt + 86400 the coupon is
  // still ISSUED; one second later the event that moves the clock carries the
  // reservationReleased (EXPIRED) before its own effects.
  define(CampaignSpec{});
  enroll("m1");
  std::string k = granted("camp-a", "u1", "m1");
  const std::int64_t expires = kHour + 7 * kDay;
  now_ = expires + kDay;
  EXPECT_THAT(kinds(issue("camp-a", "u2")), ElementsAre("couponGranted"));
  EXPECT_EQ(coupon_status(k), "ISSUED");
  now_ = expires + kDay + 1;
  Decision d = issue("camp-a", "u3");
  ASSERT_THAT(kinds(d), ElementsAre("reservationReleased", "couponGranted"));
  const auto& rel = d.effects(0).reservation_released();
  EXPECT_EQ(rel.coupon_id(), k);
  EXPECT_EQ(rel.campaign_id(), "camp-a");
  EXPECT_EQ(rel.merchant_id(), "m1");
  EXPECT_EQ(rel.amount(), 1000);
  EXPECT_EQ(split_str(rel.split()), "gov:1000");
  EXPECT_EQ(cause_name(rel), "EXPIRED");
  EXPECT_EQ(coupon_status(k), "EXPIRED");
  EXPECT_EQ(balances("camp-a", "gov"), "1000000/998000/2000/0");
}

TEST_F(Expiry, CustomGraceSeconds) {
  // Proves redemptionGraceSeconds = 3600 moves the deadline to expiresAt + 1 h.
  CampaignSpec s;
  s.grace_seconds = 3600;
  define(s);
  std::string k = granted("camp-a", "u1");
  now_ = kHour + 7 * kDay + kHour;
  EXPECT_THAT(kinds(enroll("m1")), IsEmpty());
  now_ += 1;
  EXPECT_THAT(kinds(enroll("m2")), ElementsAre("reservationReleased"));
  EXPECT_EQ(coupon_status(k), "EXPIRED");
}

TEST_F(Expiry, ZeroGraceExpiresRightAfterExpiresAt) {
  // Proves redemptionGraceSeconds = 0: the coupon expires once the clock
  // passes expiresAt itself.
  CampaignSpec s;
  s.grace_seconds = 0;
  define(s);
  std::string k = granted("camp-a", "u1");
  now_ = kHour + 7 * kDay;
  EXPECT_THAT(kinds(enroll("m1")), IsEmpty());
  now_ += 1;
  EXPECT_THAT(kinds(enroll("m2")), ElementsAre("reservationReleased"));
  EXPECT_EQ(coupon_status(k), "EXPIRED");
}

TEST_F(Expiry, RejectedEventStillCarriesTheExpiry) {
  // Proves expiry effects belong to whichever event advanced the clock, even
  // one that is REJECTED for its own payload.
  define(CampaignSpec{});
  std::string k = granted("camp-a", "u1");
  now_ = 20 * kDay;
  Decision d = add_friend("ghost", "u9");
  EXPECT_EQ(verdict(d), "REJECTED MERCHANT_NOT_ENROLLED");
  ASSERT_THAT(kinds(d), ElementsAre("reservationReleased"));
  EXPECT_EQ(d.effects(0).reservation_released().coupon_id(), k);
  EXPECT_EQ(coupon_status(k), "EXPIRED");
  EXPECT_EQ(balances("camp-a", "gov"), "1000000/1000000/0/0");
}

TEST_F(Expiry, ExpiriesAreOrderedByExpiresAtThenCouponId) {
  // Proves the (expiresAt, couponId) order across campaigns with different
  // graces: k-late (expiresAt E+100, grace 0) passes its deadline first, yet
  // k-z, k-y (expiresAt E, grace 1 day; ordered y before z) come first.
  CampaignSpec no_grace = fixed_spec("c-nograce", 1000);
  no_grace.grace_seconds = 0;
  define(no_grace);
  define(fixed_spec("c-grace", 1000));
  now_ = kHour;
  granted("c-grace", "u1", "", "k-z");
  granted("c-grace", "u2", "", "k-y");
  now_ = kHour + 100;
  granted("c-nograce", "u3", "", "k-late");
  now_ = kHour + 7 * kDay + kDay + 1;
  Decision d = enroll("m1");
  ASSERT_THAT(kinds(d), ElementsAre("reservationReleased", "reservationReleased", "reservationReleased"));
  EXPECT_EQ(d.effects(0).reservation_released().coupon_id(), "k-y");
  EXPECT_EQ(d.effects(1).reservation_released().coupon_id(), "k-z");
  EXPECT_EQ(d.effects(2).reservation_released().coupon_id(), "k-late");
}

TEST_F(Expiry, ClockNeverGoesBackwards) {
  // Proves a late event does not move the clock back: after expiry, an event
  // dated before expiresAt neither un-expires the coupon nor re-expires
  // anything, and a later event on the old clock expires nothing twice.
  define(CampaignSpec{});
  std::string k = granted("camp-a", "u1");
  now_ = 20 * kDay;
  EXPECT_THAT(kinds(enroll("m1")), ElementsAre("reservationReleased"));
  now_ = 2 * kHour;
  EXPECT_THAT(kinds(enroll("m2")), IsEmpty());
  EXPECT_EQ(coupon_status(k), "EXPIRED");
  now_ = 20 * kDay;
  EXPECT_THAT(kinds(enroll("m3")), IsEmpty());
  EXPECT_EQ(campaign_figures("camp-a").coupons.expired, 1);
}

TEST_F(Expiry, LateEventDoesNotDelayDueExpiry) {
  // Proves a coupon granted after the clock ran ahead still expires by the
  // engine clock: the clock is at +20 d, a late grant at +1 h expires (its
  // deadline +8 d 1 h is past) with the next event that reaches the engine.
  define(CampaignSpec{});
  now_ = 20 * kDay;
  enroll("m1");
  now_ = kHour;
  std::string k = granted("camp-a", "u1");
  now_ = 20 * kDay;
  EXPECT_THAT(kinds(enroll("m2")), ElementsAre("reservationReleased"));
  EXPECT_EQ(coupon_status(k), "EXPIRED");
}

TEST_F(Expiry, RedeemedCouponsDoNotExpire) {
  // Proves only ISSUED coupons expire: a redeemed coupon keeps its status and
  // the clock passing its deadline emits nothing.
  define(CampaignSpec{});
  enroll("m1");
  std::string k = granted("camp-a", "u1");
  redeem(k, "m1", 5000);
  now_ = 20 * kDay;
  EXPECT_THAT(kinds(enroll("m2")), IsEmpty());
  EXPECT_EQ(coupon_status(k), "REDEEMED");
}

// =====================================================================
// Close

class Close : public EngineTest {};

TEST_F(Close, ReleasesCouponsThenMessageCashInOrder) {
  // Proves closing voids outstanding coupons (cause CLOSED) in (expiresAt,
  // couponId) order, then releases unused message cash in merchant-id order
  // with an empty couponId; redeemed coupons and spent cash stay spent.
  CampaignSpec s;
  s.message_cash = R"({"perMerchant":"5000"})";
  define(s);
  store("m-b");
  store("m-a");
  message("m-b", 10, 100);  // cash 5000, 1000 charged
  message("m-a", 2, 100);   // cash 5000, 200 charged
  now_ = kHour;
  granted("camp-a", "u1", "", "k-0");
  now_ = 2 * kHour;
  granted("camp-a", "u2", "", "k-2");
  granted("camp-a", "u3", "", "k-1");
  std::string spent = granted("camp-a", "u4", "", "k-3");
  redeem(spent, "m-a", 9000);
  Decision d = status("camp-a", "CLOSED");
  EXPECT_EQ(verdict(d), "APPLIED");
  ASSERT_THAT(kinds(d), ElementsAre("reservationReleased", "reservationReleased", "reservationReleased",
                                    "reservationReleased", "reservationReleased"));
  std::vector<std::string> order;
  for (const auto& e : d.effects()) {
    const auto& r = e.reservation_released();
    order.push_back(r.coupon_id() + "|" + r.merchant_id() + "|" + std::to_string(r.amount()) + "|" + cause_name(r));
  }
  EXPECT_THAT(order, ElementsAre("k-0||1000|CLOSED", "k-1||1000|CLOSED", "k-2||1000|CLOSED", "|m-a|4800|CLOSED",
                                 "|m-b|4000|CLOSED"));
  EXPECT_EQ(coupon_status("k-0"), "VOID");
  EXPECT_EQ(coupon_status("k-3"), "REDEEMED");
  EXPECT_EQ(balances("camp-a", "gov"), "1000000/997800/0/2200");
  CampaignFigures f = campaign_figures("camp-a");
  EXPECT_EQ(f.coupons.voided, 3);
  EXPECT_EQ(f.coupons.outstanding, 0);
}

// CONTRACT §3 "Parts": the fixture's apply() checks every decision's parts
// (at most 256 effects each, consecutive seqs, the whole when joined); these
// tests put decisions on both sides of the boundary.
class Parts : public EngineTest {
 protected:
  // camp-a with room for 100,000 coupons of 1,000.
  void define_big() {
    CampaignSpec spec;
    spec.funders = R"([{"funderId":"gov","budget":"100000000","shareBps":10000}])";
    define(spec);
  }
  // Grants `n` coupons of camp-a at the current time.
  void grant_many(int n) {
    for (int i = 0; i < n; ++i) ASSERT_EQ(verdict(issue("camp-a", "u" + std::to_string(i))), "APPLIED");
  }
  std::int64_t next_seq() const { return engine_.state().next_seq; }
};

TEST_F(Parts, ACloseOfExactly256EffectsIsOneRecord) {
  // Proves the boundary: 256 effects are one record (no part fields); the
  // next decision takes the next seq.
  define_big();
  grant_many(256);
  const std::int64_t before = next_seq();
  Decision d = status("camp-a", "CLOSED");
  EXPECT_EQ(d.effects_size(), 256);
  EXPECT_EQ(d.parts(), 0);
  EXPECT_EQ(next_seq(), before + 1);
}

TEST_F(Parts, ACloseOf257EffectsIsTwoRecords) {
  // Proves one effect past the boundary makes a second part of one effect,
  // and the next decision's seq skips the second part's.
  define_big();
  grant_many(257);
  const std::int64_t before = next_seq();
  Decision d = status("camp-a", "CLOSED");
  EXPECT_EQ(d.effects_size(), 257);
  EXPECT_EQ(engine_.state().next_seq, before + 2);
  EXPECT_EQ(verdict(issue("camp-a", "late")), "REJECTED CAMPAIGN_NOT_ACTIVE");  // seq before + 2 (apply())
}

TEST_F(Parts, AnExpiryOfThousandsOfCouponsIsPublishedInParts) {
  // Proves the largest fan-out of an event, the expiries of a clock jump,
  // comes out in ceil(n / 256) parts (checked in apply()), with the event's
  // own effect last.
  define_big();
  grant_many(3'000);
  now_ += 60 * kDay;
  const std::int64_t before = next_seq();
  Decision d = issue("camp-a", "after");
  EXPECT_EQ(d.effects_size(), 3'001);
  EXPECT_TRUE(d.effects(3'000).has_coupon_granted());
  EXPECT_EQ(next_seq(), before + 12);  // ceil(3001 / 256)
  EXPECT_EQ(campaign_figures("camp-a").coupons.expired, 3'000);
}

TEST_F(Parts, WelcomeGrantsAcrossManyCampaignsArePublishedInParts) {
  // Proves the welcome fan-out (one grant or refusal per CHANNEL_ADDED
  // campaign) crosses the boundary like any other.
  for (int c = 0; c < 300; ++c) {
    CampaignSpec spec;
    spec.id = "w" + std::to_string(1000 + c);
    spec.trigger = "CHANNEL_ADDED";
    define(spec);
  }
  store("m1");
  const std::int64_t before = next_seq();
  Decision d = add_friend("m1", "u1");
  EXPECT_EQ(d.effects_size(), 300);
  EXPECT_EQ(next_seq(), before + 2);
}

TEST_F(Parts, MessageCashAcrossManyCampaignsIsPublishedInParts) {
  // Proves the message-cash fan-out (a grant and a charge per campaign
  // with message cash, in campaign-id order) crosses the boundary: 150
  // campaigns give 300 effects and one more, the merchant's own charge.
  for (int c = 0; c < 150; ++c) {
    CampaignSpec spec;
    spec.id = "cash-" + std::to_string(1000 + c);
    spec.message_cash = R"({"perMerchant":"1000"})";
    define(spec);
  }
  store("m1");
  const std::int64_t before = next_seq();
  Decision d = message("m1", 1000, 1000);  // 1,000,000 to pay: every campaign's cash and more
  EXPECT_EQ(d.effects_size(), 301);
  EXPECT_EQ(next_seq(), before + 2);
}

TEST_F(Parts, ThresholdsOfManyFundersAreTheLastPart) {
  // Proves the threshold fan-out crosses the boundary and stays last: 12
  // campaigns of 8 funders whose message cash takes the whole budget cross
  // 50, 80 and 100 % for every funder on one message: 288 thresholds, after
  // the grants and the charge, in the last parts.
  std::string funders = "[";
  for (int f = 0; f < 8; ++f) {
    funders += std::string(f ? "," : "") + R"({"funderId":"f)" + std::to_string(f) + R"(","budget":"1000","shareBps":1250})";
  }
  funders += "]";
  for (int c = 0; c < 12; ++c) {
    CampaignSpec spec;
    spec.id = "t-" + std::to_string(10 + c);
    spec.funders = funders;
    spec.message_cash = R"({"perMerchant":"8000"})";
    define(spec);
  }
  store("m1");
  const std::int64_t before = next_seq();
  Decision d = message("m1", 100, 1);
  constexpr int kThresholds = 12 * 8 * 3;
  ASSERT_GT(d.effects_size(), kThresholds);
  for (int i = 0; i < d.effects_size(); ++i) {
    EXPECT_EQ(d.effects(i).has_threshold_crossed(), i >= d.effects_size() - kThresholds) << i;
  }
  EXPECT_EQ(next_seq(), before + (d.effects_size() + 255) / 256);
}

TEST_F(Close, ClosedCampaignNoLongerPaysMessages) {
  // Proves a closed campaign's message cash is gone: the next message is paid
  // by the merchant in full.
  CampaignSpec s;
  s.message_cash = R"({"perMerchant":"5000"})";
  define(s);
  store("m1");
  message("m1", 1, 100);
  status("camp-a", "CLOSED");
  Decision d = message("m1", 1, 100);
  ASSERT_THAT(kinds(d), ElementsAre("messageCharged"));
  EXPECT_EQ(d.effects(0).message_charged().campaign_id(), "");
  EXPECT_EQ(d.effects(0).message_charged().amount(), 100);
}

// =====================================================================
// Message cash

class MessageCash : public EngineTest {};

TEST_F(MessageCash, RequiresEnrolmentThenAChannel) {
  // Proves messageSent is MERCHANT_NOT_ENROLLED for an unknown merchant and
  // NO_CHANNEL for an enrolled one without a channel.
  EXPECT_EQ(verdict(message("m1", 1, 10)), "REJECTED MERCHANT_NOT_ENROLLED");
  enroll("m1");
  EXPECT_EQ(verdict(message("m1", 1, 10)), "REJECTED NO_CHANNEL");
}

TEST_F(MessageCash, FirstMessageReservesPerMerchantThenCharges) {
  // Proves the first message reserves perMerchant (messageCashGranted) and
  // charges recipients x unitCost reserved -> spent; the second only charges.
  CampaignSpec s;
  s.message_cash = R"({"perMerchant":"5000"})";
  define(s);
  store("m1");
  Decision d = message("m1", 12, 50);
  EXPECT_EQ(verdict(d), "APPLIED");
  ASSERT_THAT(kinds(d), ElementsAre("messageCashGranted", "messageCharged"));
  const auto& g = d.effects(0).message_cash_granted();
  EXPECT_EQ(g.campaign_id(), "camp-a");
  EXPECT_EQ(g.merchant_id(), "m1");
  EXPECT_EQ(g.amount(), 5000);
  EXPECT_EQ(split_str(g.split()), "gov:5000");
  const auto& c = d.effects(1).message_charged();
  EXPECT_EQ(c.campaign_id(), "camp-a");
  EXPECT_EQ(c.merchant_id(), "m1");
  EXPECT_EQ(c.amount(), 600);
  EXPECT_EQ(split_str(c.split()), "gov:600");
  EXPECT_EQ(balances("camp-a", "gov"), "1000000/995000/4400/600");
  Decision d2 = message("m1", 1, 400);
  ASSERT_THAT(kinds(d2), ElementsAre("messageCharged"));
  EXPECT_EQ(d2.effects(0).message_charged().amount(), 400);
  EXPECT_EQ(balances("camp-a", "gov"), "1000000/995000/4000/1000");
}

TEST_F(MessageCash, CampaignsPayInIdOrderAndTheMerchantPaysTheRest) {
  // Proves cash from several campaigns is used in campaign-id order (mc-b was
  // defined first) and the uncovered rest is one messageCharged with an empty
  // campaignId: cost 2500 = 1000 (mc-a) + 1000 (mc-b) + 500 (merchant).
  CampaignSpec b;
  b.id = "mc-b";
  b.message_cash = R"({"perMerchant":"1000"})";
  CampaignSpec a = b;
  a.id = "mc-a";
  define(b);
  define(a);
  store("m1");
  Decision d = message("m1", 5, 500);
  EXPECT_EQ(verdict(d), "APPLIED");
  ASSERT_THAT(kinds(d), ElementsAre("messageCashGranted", "messageCharged", "messageCashGranted", "messageCharged",
                                    "messageCharged"));
  EXPECT_EQ(d.effects(0).message_cash_granted().campaign_id(), "mc-a");
  EXPECT_EQ(d.effects(1).message_charged().campaign_id(), "mc-a");
  EXPECT_EQ(d.effects(1).message_charged().amount(), 1000);
  EXPECT_EQ(d.effects(2).message_cash_granted().campaign_id(), "mc-b");
  EXPECT_EQ(d.effects(3).message_charged().campaign_id(), "mc-b");
  EXPECT_EQ(d.effects(3).message_charged().amount(), 1000);
  EXPECT_EQ(d.effects(4).message_charged().campaign_id(), "");
  EXPECT_EQ(d.effects(4).message_charged().merchant_id(), "m1");
  EXPECT_EQ(d.effects(4).message_charged().amount(), 500);
  EXPECT_EQ(balances("mc-a", "gov"), "1000000/999000/0/1000");
  EXPECT_EQ(balances("mc-b", "gov"), "1000000/999000/0/1000");
}

TEST_F(MessageCash, IneligibleOrInactiveCampaignsPayNothing) {
  // Proves only active campaigns the merchant is eligible for pay: a paused
  // one and one for another market leave the whole cost to the merchant.
  CampaignSpec other;
  other.id = "mc-other";
  other.message_cash = R"({"perMerchant":"1000"})";
  other.eligibility = R"({"marketIds":["mk-2"]})";
  CampaignSpec paused;
  paused.id = "mc-paused";
  paused.message_cash = R"({"perMerchant":"1000"})";
  define(other);
  define(paused);
  status("mc-paused", "PAUSED");
  store("m1", "mk-1");
  Decision d = message("m1", 3, 7);
  ASSERT_THAT(kinds(d), ElementsAre("messageCharged"));
  EXPECT_EQ(d.effects(0).message_charged().campaign_id(), "");
  EXPECT_EQ(d.effects(0).message_charged().amount(), 21);
}

TEST_F(MessageCash, BudgetExhaustedIsRetriedByALaterMessage) {
  // Proves a funder short of its share of perMerchant gives a grantRejected
  // BUDGET_EXHAUSTED (the merchant pays), and after a top-up the next message
  // gets the cash.
  CampaignSpec s;
  s.funders = R"([{"funderId":"gov","budget":"100000","shareBps":5000},{"funderId":"city","budget":"400","shareBps":5000}])";
  s.message_cash = R"({"perMerchant":"1000"})";
  define(s);
  store("m1");
  Decision d = message("m1", 1, 300);
  EXPECT_EQ(verdict(d), "APPLIED");
  ASSERT_THAT(kinds(d), ElementsAre("grantRejected", "messageCharged"));
  EXPECT_EQ(d.effects(0).grant_rejected().campaign_id(), "camp-a");
  EXPECT_EQ(d.effects(0).grant_rejected().reason(), "BUDGET_EXHAUSTED");
  EXPECT_EQ(d.effects(1).message_charged().campaign_id(), "");
  EXPECT_EQ(d.effects(1).message_charged().amount(), 300);
  adjust("camp-a", "city", 100);
  Decision again = message("m1", 1, 300);
  // city's cash takes its whole budget: the 50/80/100 % alerts follow.
  ASSERT_THAT(kinds(again), ElementsAre("messageCashGranted", "messageCharged", "thresholdCrossed",
                                        "thresholdCrossed", "thresholdCrossed"));
  EXPECT_EQ(split_str(again.effects(0).message_cash_granted().split()), "gov:500,city:500");
  EXPECT_EQ(split_str(again.effects(1).message_charged().split()), "gov:150,city:150");
  EXPECT_EQ(balances("camp-a", "city"), "500/0/350/150");
}

// =====================================================================
// Funder split

class FunderSplit : public EngineTest {};

TEST_F(FunderSplit, LargestRemainderWithTiesInFunderOrder) {
  // Proves the remainder goes by largest (x*bps) mod 10000 with ties in funder
  // order: 1001 at 50/50 leaves remainders 5000/5000, so the first funder
  // (defined first, "zz") gets the extra unit.
  CampaignSpec s;
  s.funders = R"([{"funderId":"zz","budget":"100000","shareBps":5000},{"funderId":"aa","budget":"100000","shareBps":5000}])";
  s.offer = R"({"fixedAmount":"1001","validDays":7})";
  define(s);
  Decision d = issue("camp-a", "u1");
  ASSERT_THAT(kinds(d), ElementsAre("couponGranted"));
  EXPECT_EQ(split_str(d.effects(0).coupon_granted().split()), "zz:501,aa:500");
}

TEST_F(FunderSplit, SplitsListEveryFunderWithZeros) {
  // Proves a split lists every funder in definition order, zeros included:
  // 1 over 3333/3333/3334 goes to c (remainder 3334).
  CampaignSpec s;
  s.funders = kThreeFunders;
  s.offer = R"({"fixedAmount":"1","validDays":7})";
  define(s);
  Decision d = issue("camp-a", "u1");
  ASSERT_THAT(kinds(d), ElementsAre("couponGranted"));
  EXPECT_EQ(split_str(d.effects(0).coupon_granted().split()), "a:0,b:0,c:1");
}

TEST_F(FunderSplit, PartialMovesNeverTakeMoreThanAFunderReserved) {
  // Proves partial moves split by the reservation's remaining parts, not by
  // shares: cash 3 at 50/50 reserves 2/1; three 1-unit charges split 1/0
  // (2/3 vs 1/3), 1/0 (tie 1/1, funder order), then 0/1 — by shares the
  // third would take from x, which has nothing left.
  CampaignSpec s;
  s.funders = R"([{"funderId":"x","budget":"100000","shareBps":5000},{"funderId":"y","budget":"100000","shareBps":5000}])";
  s.message_cash = R"({"perMerchant":"3"})";
  define(s);
  store("m1");
  Decision d1 = message("m1", 1, 1);
  ASSERT_THAT(kinds(d1), ElementsAre("messageCashGranted", "messageCharged"));
  EXPECT_EQ(split_str(d1.effects(0).message_cash_granted().split()), "x:2,y:1");
  EXPECT_EQ(split_str(d1.effects(1).message_charged().split()), "x:1,y:0");
  Decision d2 = message("m1", 1, 1);
  ASSERT_THAT(kinds(d2), ElementsAre("messageCharged"));
  EXPECT_EQ(split_str(d2.effects(0).message_charged().split()), "x:1,y:0");
  Decision d3 = message("m1", 1, 1);
  ASSERT_THAT(kinds(d3), ElementsAre("messageCharged"));
  EXPECT_EQ(split_str(d3.effects(0).message_charged().split()), "x:0,y:1");
  EXPECT_EQ(balances("camp-a", "x"), "100000/99998/0/2");
  EXPECT_EQ(balances("camp-a", "y"), "100000/99999/0/1");
}

TEST_F(FunderSplit, SettlementOfATinyReservationStaysWithinItsParts) {
  // Proves a settlement follows the reservation's parts: R = 2 over
  // 3333/3333/3334 reserves a:1,b:0,c:1 (remainders 6666/6666/6668); d = 1 is
  // split 1/0/0 by those parts (tie a, c), never from b.
  CampaignSpec s;
  s.funders = kThreeFunders;
  s.offer = R"({"fixedAmount":"2","validDays":7})";
  define(s);
  enroll("m1");
  Decision g = issue("camp-a", "u1");
  ASSERT_THAT(kinds(g), ElementsAre("couponGranted"));
  EXPECT_EQ(split_str(g.effects(0).coupon_granted().split()), "a:1,b:0,c:1");
  Decision d = redeem(g.effects(0).coupon_granted().coupon_id(), "m1", 1);
  ASSERT_THAT(kinds(d), ElementsAre("redemptionSettled"));
  EXPECT_EQ(split_str(d.effects(0).redemption_settled().split()), "a:1,b:0,c:0");
  EXPECT_EQ(split_str(d.effects(0).redemption_settled().released_split()), "a:0,b:0,c:1");
}

// =====================================================================
// Alerts

class Alerts : public EngineTest {};

TEST_F(Alerts, DefaultThresholdsAreCrossedOnceEach) {
  // Proves the default thresholds 5000/8000/10000 of (reserved + spent)/budget
  // fire once each, last in the decision: budget 10000, coupons of 1000; the
  // 5th reaches 50 %, the 8th 80 %, the 10th 100 %; after an expiry frees the
  // budget, reaching 50 % again fires nothing.
  define(fixed_spec("c1", 1000, 10'000));
  std::vector<std::pair<int, int>> alerts;  // (coupon number, bps)
  for (int i = 1; i <= 10; ++i) {
    Decision d = issue("c1", "u" + std::to_string(i));
    for (const auto& e : effects_of(d, v1::Effect::kThresholdCrossed)) {
      alerts.emplace_back(i, e.threshold_crossed().bps());
      EXPECT_EQ(e.threshold_crossed().campaign_id(), "c1");
      EXPECT_EQ(e.threshold_crossed().funder_id(), "gov");
    }
    if (!effects_of(d, v1::Effect::kThresholdCrossed).empty()) {
      EXPECT_EQ(kinds(d).back(), "thresholdCrossed");
    }
  }
  EXPECT_THAT(alerts, ElementsAre(std::pair{5, 5000}, std::pair{8, 8000}, std::pair{10, 10000}));
  now_ = 20 * kDay;
  for (int i = 11; i <= 16; ++i)
    EXPECT_THAT(effects_of(issue("c1", "u" + std::to_string(i)), v1::Effect::kThresholdCrossed), IsEmpty());
}

TEST_F(Alerts, SeveralThresholdsAtOnceInAscendingOrder) {
  // Proves one event can cross several thresholds, listed in ascending bps
  // after the event's own effect: 9000 of 10000 crosses 5000 and 8000.
  define(fixed_spec("c1", 9000, 10'000));
  Decision d = issue("c1", "u1");
  ASSERT_THAT(kinds(d), ElementsAre("couponGranted", "thresholdCrossed", "thresholdCrossed"));
  EXPECT_EQ(d.effects(1).threshold_crossed().bps(), 5000);
  EXPECT_EQ(d.effects(2).threshold_crossed().bps(), 8000);
}

TEST_F(Alerts, ThresholdsAreExactAtEveryBudgetSize) {
  // Proves a threshold fires exactly when (reserved + spent) · 10000 reaches
  // bps · budget, with budgets below 2^49 won (64-bit products) and above
  // (128-bit ones, up to 10^15): a coupon of half the budget crosses 5000,
  // one of a won less does not.
  int n = 0;
  for (std::int64_t budget : {std::int64_t{10'000}, (std::int64_t{1} << 49) - 2, std::int64_t{1} << 49,
                              std::int64_t{1'000'000'000'000'000}}) {
    for (std::int64_t less : {1, 0}) {
      SCOPED_TRACE(std::to_string(budget) + " less " + std::to_string(less));
      const std::string id = "c" + std::to_string(++n);
      define(fixed_spec(id, budget / 2 - less, budget));
      Decision d = issue(id, "u" + std::to_string(n));
      if (less == 1) {
        EXPECT_THAT(kinds(d), ElementsAre("couponGranted"));
      } else {
        ASSERT_THAT(kinds(d), ElementsAre("couponGranted", "thresholdCrossed"));
        EXPECT_EQ(d.effects(1).threshold_crossed().bps(), 5000);
      }
    }
  }
}

TEST_F(Alerts, CustomThresholdsReplaceTheDefaults) {
  // Proves alertThresholdsBps replaces the defaults and is reported in
  // ascending order even when defined unsorted: [7500, 2500] with 3000/10000
  // used fires only 2500; 8000 used fires 7500 and not the default 8000.
  CampaignSpec s = fixed_spec("c1", 3000, 10'000);
  s.thresholds = "[7500,2500]";
  define(s);
  Decision d = issue("c1", "u1");
  ASSERT_THAT(kinds(d), ElementsAre("couponGranted", "thresholdCrossed"));
  EXPECT_EQ(d.effects(1).threshold_crossed().bps(), 2500);
  granted("c1", "u2");
  CampaignSpec t = fixed_spec("c2", 8000, 10'000);
  t.thresholds = "[7500,2500]";
  define(t);
  Decision d2 = issue("c2", "u1");
  ASSERT_THAT(kinds(d2), ElementsAre("couponGranted", "thresholdCrossed", "thresholdCrossed"));
  EXPECT_EQ(d2.effects(1).threshold_crossed().bps(), 2500);
  EXPECT_EQ(d2.effects(2).threshold_crossed().bps(), 7500);
}

TEST_F(Alerts, OrderedByCampaignThenFunderThenBps) {
  // Proves the alert order across campaigns and funders: one message takes all
  // cash of mc-a and mc-b (defined b first; funders z then y), crossing every
  // default threshold, listed as (campaign id, funder order, bps).
  for (const char* id : {"mc-b", "mc-a"}) {
    CampaignSpec s;
    s.id = id;
    s.funders = R"([{"funderId":"z","budget":"500","shareBps":5000},{"funderId":"y","budget":"500","shareBps":5000}])";
    s.message_cash = R"({"perMerchant":"1000"})";
    define(s);
  }
  store("m1");
  Decision d = message("m1", 3, 500);
  std::vector<std::string> got;
  for (const auto& e : effects_of(d, v1::Effect::kThresholdCrossed)) {
    const auto& t = e.threshold_crossed();
    got.push_back(t.campaign_id() + "/" + t.funder_id() + "/" + std::to_string(t.bps()));
  }
  EXPECT_THAT(got, ElementsAre("mc-a/z/5000", "mc-a/z/8000", "mc-a/z/10000", "mc-a/y/5000", "mc-a/y/8000",
                               "mc-a/y/10000", "mc-b/z/5000", "mc-b/z/8000", "mc-b/z/10000", "mc-b/y/5000",
                               "mc-b/y/8000", "mc-b/y/10000"));
  std::vector<std::string> k = kinds(d);
  ASSERT_EQ(k.size(), 16u);
  EXPECT_EQ(k[3], "messageCharged");
  EXPECT_EQ(k[4], "thresholdCrossed");
}

TEST_F(Alerts, BudgetCutCanCrossAThreshold) {
  // Proves alerts follow the ratio, not only grants: 4000 used of 10000, a
  // cut of 2000 makes it 4000/8000 = 50 %.
  define(fixed_spec("c1", 4000, 10'000));
  EXPECT_THAT(effects_of(issue("c1", "u1"), v1::Effect::kThresholdCrossed), IsEmpty());
  Decision d = adjust("c1", "gov", -2000);
  ASSERT_THAT(kinds(d), ElementsAre("budgetAdjusted", "thresholdCrossed"));
  EXPECT_EQ(d.effects(1).threshold_crossed().bps(), 5000);
}

// =====================================================================
// Report figures

class ReportFigures : public EngineTest {};

TEST_F(ReportFigures, CouponCountsAndRejectionsByReason) {
  // Proves the campaign figures: granted, redeemed, expired, void and
  // outstanding coupons, and rejections counted by reason.
  CampaignSpec s;
  s.limits = R"({"perCustomer":"1"})";
  s.funders = R"([{"funderId":"gov","budget":"10000","shareBps":10000}])";
  define(s);
  enroll("m1");
  std::string redeemed = granted("camp-a", "u1");
  std::string voided = granted("camp-a", "u2");
  std::string expired = granted("camp-a", "u3");
  granted("camp-a", "u4");
  redeem(redeemed, "m1", 5000);
  redeem(voided, "m1", 500);
  adjust("camp-a", "gov", -6500);  // available 6500 -> 0: R - d = 500 cannot be re-reserved
  reverse(voided, "m1");
  issue("camp-a", "u1");
  issue("camp-a", "u1");
  now_ = 2 * kDay;
  issue("camp-a", "u3");
  CampaignFigures f = campaign_figures("camp-a");
  EXPECT_EQ(f.coupons.granted, 4);
  EXPECT_EQ(f.coupons.redeemed, 1);
  EXPECT_EQ(f.coupons.voided, 1);
  EXPECT_EQ(f.coupons.outstanding, 2);
  EXPECT_EQ(rejections("camp-a", "CUSTOMER_LIMIT"), 3);
  now_ = 20 * kDay;
  enroll("m2");
  f = campaign_figures("camp-a");
  EXPECT_EQ(f.coupons.expired, 2);
  EXPECT_EQ(f.coupons.outstanding, 0);
  EXPECT_EQ(coupon_status(expired), "EXPIRED");
}

TEST_F(ReportFigures, MarketFigures) {
  // Proves the market figures: 3 enrolled, 2 channels (adoptionBps
  // floor(2*10000/3) = 6666), friends net of blocks, friendAdds, messages and
  // recipients, welcome coupons granted and redeemed.
  define(welcome_spec("w1"));
  store("m1", "mk-1");
  store("m2", "mk-1");
  enroll("m3", "mk-1");
  store("x1", "mk-2");
  Decision d = add_friend("m1", "u1");
  add_friend("m1", "u2");
  add_friend("m2", "u1");
  block("m1", "u2");
  add_friend("x1", "u1");
  message("m1", 40, 10);
  message("m2", 2, 10);
  redeem(d.effects(0).coupon_granted().coupon_id(), "m1", 5000);
  MarketFigures m = market("mk-1");
  EXPECT_EQ(m.enrolled, 3);
  EXPECT_EQ(m.channels, 2);
  EXPECT_EQ(m.adoption_bps, 6666);
  EXPECT_EQ(m.friends, 2);
  EXPECT_EQ(m.friend_adds, 3);
  EXPECT_EQ(m.messages, 2);
  EXPECT_EQ(m.recipients, 42);
  EXPECT_EQ(m.welcome_granted, 3);
  EXPECT_EQ(m.welcome_redeemed, 1);
  EXPECT_EQ(market("mk-2").enrolled, 1);
  EXPECT_EQ(market("mk-2").adoption_bps, 10000);
}

// =====================================================================
// Decision envelope fields

class Decisions : public EngineTest {};

TEST_F(Decisions, SeqStartsAtOneAndCountsEveryOutcome) {
  // Proves seq is 1, 2, 3, 4 across APPLIED, REJECTED, DUPLICATE and INVALID,
  // and the shard, partition and offset are echoed.
  Engine e(7);
  std::vector<std::string> events = {
      R"({"eventId":"a","occurredAt":"2023-08-01T09:00:00+09:00","merchantEnrolled":{"merchantId":"m1","marketId":"mk","category":"c"}})",
      R"({"eventId":"b","occurredAt":"2023-08-01T09:00:00+09:00","channelAdded":{"merchantId":"m9","customerId":"u"}})",
      R"({"eventId":"a","occurredAt":"2023-08-01T09:00:00+09:00","merchantEnrolled":{"merchantId":"m1","marketId":"mk","category":"c"}})",
      R"({"eventId":"c","occurredAt":"2023-08-01T09:00:00+09:00","merchantEnrolled":{"merchantId":"","marketId":"mk","category":"c"}})",
  };
  std::vector<std::string> outcomes;
  for (std::size_t i = 0; i < events.size(); ++i) {
    Decision d;
    e.apply(envelope(events[i]), Position{3, static_cast<std::int64_t>(100 + i)}, &d);
    EXPECT_THAT(e.check_invariants(), IsEmpty());
    EXPECT_EQ(d.seq(), static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(d.shard(), 7);
    EXPECT_EQ(d.partition(), 3);
    EXPECT_EQ(d.offset(), static_cast<std::int64_t>(100 + i));
    EXPECT_EQ(seconds_of(d.occurred_at()), 0);
    outcomes.push_back(outcome(d));
  }
  EXPECT_THAT(outcomes, ElementsAre("APPLIED", "REJECTED", "DUPLICATE", "INVALID"));
}


// =====================================================================
// Edge cases across rules

class EdgeCases : public EngineTest {};

TEST_F(EdgeCases, SameContentInAnotherJsonSpellingIsDuplicate) {
  // Proves "same content" means the same event, not the same bytes: int64 as
  // a number instead of a string and occurredAt at +09:00 instead of Z.
  define(CampaignSpec{});
  enroll("m1");
  apply_json(R"({"eventId":"r-1","occurredAt":"2023-08-01T01:00:00Z","couponIssued":{"campaignId":"camp-a","customerId":"u1","couponId":"k-1"}})");
  const std::string json = R"({"eventId":"r-2","occurredAt":"2023-08-01T01:00:00Z","couponRedeemed":{"couponId":"k-1","merchantId":"m1","orderAmount":"5000"}})";
  EXPECT_EQ(verdict(apply_json(json)), "APPLIED");
  Decision d = apply_json(R"({"eventId":"r-2","occurredAt":"2023-08-01T10:00:00+09:00","couponRedeemed":{"couponId":"k-1","merchantId":"m1","orderAmount":5000}})");
  EXPECT_EQ(outcome(d), "DUPLICATE");
}

TEST_F(EdgeCases, RestoredCouponStillExpires) {
  // Proves a coupon restored by a reversal is ISSUED with a live expiry: once
  // the clock passes expiresAt + grace its reservation is released (EXPIRED).
  define(CampaignSpec{});
  enroll("m1");
  std::string k = granted("camp-a", "u1");
  redeem(k, "m1", 400);
  Decision r = reverse(k, "m1");
  ASSERT_THAT(kinds(r), ElementsAre("redemptionReversed"));
  EXPECT_TRUE(r.effects(0).redemption_reversed().restored());
  now_ = 20 * kDay;
  Decision d = enroll("m2");
  ASSERT_THAT(kinds(d), ElementsAre("reservationReleased"));
  EXPECT_EQ(d.effects(0).reservation_released().amount(), 1000);
  EXPECT_EQ(coupon_status(k), "EXPIRED");
  EXPECT_EQ(balances("camp-a", "gov"), "1000000/1000000/0/0");
}

TEST_F(EdgeCases, RestoredCouponIsReleasedOnClose) {
  // Proves a restored coupon holds its full reservation again: closing
  // releases all of R with cause CLOSED.
  define(CampaignSpec{});
  enroll("m1");
  std::string k = granted("camp-a", "u1");
  redeem(k, "m1", 400);
  reverse(k, "m1");
  Decision d = status("camp-a", "CLOSED");
  ASSERT_THAT(kinds(d), ElementsAre("reservationReleased"));
  EXPECT_EQ(d.effects(0).reservation_released().amount(), 1000);
  EXPECT_EQ(cause_name(d.effects(0).reservation_released()), "CLOSED");
}

TEST_F(EdgeCases, RestoredCouponCountsAgainstTheMerchantAmount) {
  // Proves a restore puts R back into reserved + spent of merchant M: limit
  // 1500, coupon 1000 settles 400 so a second 1000 coupon is refused only
  // after the reversal restores the first.
  CampaignSpec s;
  s.limits = R"({"perMerchantAmount":"1500"})";
  define(s);
  enroll("m1");
  std::string k = granted("camp-a", "u1", "m1");
  redeem(k, "m1", 400);
  reverse(k, "m1");
  EXPECT_EQ(verdict(issue("camp-a", "u2", "m1")), "REJECTED MERCHANT_AMOUNT_LIMIT");
}

TEST_F(EdgeCases, RestoreOnPausedCampaign) {
  // Proves a paused campaign is "not closed": the reversal restores.
  define(CampaignSpec{});
  enroll("m1");
  std::string k = granted("camp-a", "u1");
  redeem(k, "m1", 400);
  status("camp-a", "PAUSED");
  Decision d = reverse(k, "m1");
  ASSERT_THAT(kinds(d), ElementsAre("redemptionReversed"));
  EXPECT_TRUE(d.effects(0).redemption_reversed().restored());
}

TEST_F(EdgeCases, ReversalFollowsTheLatestRedemptionMerchant) {
  // Proves WRONG_MERCHANT compares with where K was last redeemed: a coupon
  // without merchant redeemed at m1, restored, redeemed at m2, is reversed at
  // m2 only.
  define(CampaignSpec{});
  enroll("m1");
  enroll("m2");
  std::string k = granted("camp-a", "u1");
  redeem(k, "m1", 5000);
  reverse(k, "m1");
  EXPECT_EQ(verdict(redeem(k, "m2", 5000)), "APPLIED");
  EXPECT_EQ(verdict(reverse(k, "m1")), "REJECTED WRONG_MERCHANT");
  EXPECT_EQ(verdict(reverse(k, "m2")), "APPLIED");
}

TEST_F(EdgeCases, CloseInTheGraceWindowVoidsAndNeverExpires) {
  // Proves a coupon past expiresAt but inside its grace window is released by
  // a close (VOID, CLOSED) and produces no EXPIRED release later.
  define(CampaignSpec{});
  std::string k = granted("camp-a", "u1");
  now_ = kHour + 7 * kDay + 10;
  Decision d = status("camp-a", "CLOSED");
  ASSERT_THAT(kinds(d), ElementsAre("reservationReleased"));
  EXPECT_EQ(cause_name(d.effects(0).reservation_released()), "CLOSED");
  now_ = 30 * kDay;
  EXPECT_THAT(kinds(enroll("m1")), IsEmpty());
  EXPECT_EQ(coupon_status(k), "VOID");
}

TEST_F(EdgeCases, DailyAmountCountsReservationsNotDiscounts) {
  // Proves the daily sum is of R granted that day, whatever was settled: two
  // coupons of 1000 redeemed for 100 each still fill a daily limit of 2000.
  CampaignSpec s;
  s.limits = R"({"dailyAmount":"2000"})";
  define(s);
  enroll("m1");
  redeem(granted("camp-a", "u1"), "m1", 100);
  redeem(granted("camp-a", "u2"), "m1", 100);
  EXPECT_EQ(verdict(issue("camp-a", "u3")), "REJECTED DAILY_AMOUNT_LIMIT");
}

TEST_F(EdgeCases, DailyAmountUsesTheLateEventsOwnDay) {
  // Proves the local day is that of t, not of the clock: day 2 is full, a late
  // event dated day 1 is granted against day 1's sum.
  CampaignSpec s;
  s.limits = R"({"dailyAmount":"1000"})";
  define(s);
  now_ = kDay + kHour;
  granted("camp-a", "u1");
  EXPECT_EQ(verdict(issue("camp-a", "u2")), "REJECTED DAILY_AMOUNT_LIMIT");
  now_ = kHour;
  EXPECT_EQ(verdict(issue("camp-a", "u2")), "APPLIED");
}

TEST_F(EdgeCases, RefusedWelcomeDoesNotCountAsWelcomed) {
  // Proves ALREADY_WELCOMED needs a granted welcome coupon: a first attempt
  // refused for budget, after a top-up, block and re-add grants one.
  CampaignSpec s = welcome_spec("w1");
  s.funders = R"([{"funderId":"gov","budget":"500","shareBps":10000}])";
  define(s);
  store("m1");
  Decision first = add_friend("m1", "u1");
  ASSERT_THAT(kinds(first), ElementsAre("grantRejected"));
  EXPECT_EQ(first.effects(0).grant_rejected().reason(), "BUDGET_EXHAUSTED");
  adjust("w1", "gov", 500);
  block("m1", "u1");
  Decision again = add_friend("m1", "u1");
  EXPECT_THAT(kinds(again), ::testing::Contains("couponGranted"));
}

TEST_F(EdgeCases, RefusedGrantsDoNotCountTowardCountLimits) {
  // Proves CUSTOMER_LIMIT and TOTAL_COUNT_LIMIT count granted coupons only:
  // with perCustomer 1 and totalCount 1, a refusal for budget does not use
  // them up.
  CampaignSpec s = fixed_spec("c1", 1000, 500);
  s.limits = R"({"perCustomer":"1","totalCount":"1"})";
  define(s);
  EXPECT_EQ(verdict(issue("c1", "u1")), "REJECTED BUDGET_EXHAUSTED");
  adjust("c1", "gov", 500);
  EXPECT_EQ(verdict(issue("c1", "u1")), "APPLIED");
}

TEST_F(EdgeCases, CouponWithoutMerchantDoesNotCountForMerchantAmount) {
  // Proves MERCHANT_AMOUNT_LIMIT only sums coupons issued with merchant M: a
  // coupon without merchant spent at m1 leaves m1's limit untouched.
  CampaignSpec s;
  s.limits = R"({"perMerchantAmount":"1000"})";
  define(s);
  enroll("m1");
  redeem(granted("camp-a", "u1"), "m1", 5000);
  EXPECT_EQ(verdict(issue("camp-a", "u2", "m1")), "APPLIED");
}

TEST_F(EdgeCases, PausedCampaignCashDoesNotPayMessages) {
  // Proves only active campaigns pay messages: the merchant already holds cash
  // from a campaign that is then paused; the next message is paid in full by
  // the merchant, and the cash pays again once the campaign is active.
  CampaignSpec s;
  s.message_cash = R"({"perMerchant":"5000"})";
  define(s);
  store("m1");
  message("m1", 1, 100);
  status("camp-a", "PAUSED");
  Decision d = message("m1", 1, 100);
  ASSERT_THAT(kinds(d), ElementsAre("messageCharged"));
  EXPECT_EQ(d.effects(0).message_charged().campaign_id(), "");
  status("camp-a", "ACTIVE");
  Decision d2 = message("m1", 1, 100);
  ASSERT_THAT(kinds(d2), ElementsAre("messageCharged"));
  EXPECT_EQ(d2.effects(0).message_charged().campaign_id(), "camp-a");
  EXPECT_EQ(balances("camp-a", "gov"), "1000000/995000/4800/200");
}

TEST_F(EdgeCases, MessageCashIsGrantedOncePerMerchant) {
  // Proves perMerchant is granted once: after it is used up the merchant pays
  // and no second messageCashGranted appears.
  CampaignSpec s;
  s.message_cash = R"({"perMerchant":"1000"})";
  define(s);
  store("m1");
  message("m1", 10, 100);
  Decision d = message("m1", 1, 100);
  EXPECT_THAT(effects_of(d, v1::Effect::kMessageCashGranted), IsEmpty());
  auto charges = effects_of(d, v1::Effect::kMessageCharged);
  ASSERT_FALSE(charges.empty());
  EXPECT_EQ(charges.back().message_charged().campaign_id(), "");
  EXPECT_EQ(charges.back().message_charged().amount(), 100);
  EXPECT_EQ(balances("camp-a", "gov"), "1000000/999000/0/1000");
}

TEST_F(EdgeCases, HugeAmountsSplitWithoutOverflow) {
  // Proves splits and discounts use exact arithmetic at 10^15: a reservation
  // of 10^15 over 9999/1 bps (x*bps ~ 10^19 > int64) and a percent discount
  // of 100 % on an order of 10^15 (order*bps = 10^19).
  CampaignSpec s;
  s.funders = R"([{"funderId":"big","budget":"1000000000000000","shareBps":9999},{"funderId":"tiny","budget":"1000000000000000","shareBps":1}])";
  s.offer = R"({"fixedAmount":"1000000000000000","validDays":7})";
  define(s);
  enroll("m1");
  Decision g = issue("camp-a", "u1");
  ASSERT_THAT(kinds(g), ::testing::Contains("couponGranted"));
  EXPECT_EQ(split_str(g.effects(0).coupon_granted().split()), "big:999900000000000,tiny:100000000000");
  Decision r = redeem(g.effects(0).coupon_granted().coupon_id(), "m1", 999'999'999'999'999);
  ASSERT_THAT(kinds(r), ::testing::Contains("redemptionSettled"));
  EXPECT_EQ(split_str(r.effects(0).redemption_settled().split()), "big:999899999999999,tiny:100000000000");
  EXPECT_EQ(split_str(r.effects(0).redemption_settled().released_split()), "big:1,tiny:0");

  CampaignSpec p;
  p.id = "c-pct";
  p.offer = R"({"percentBps":10000,"maxDiscount":"5000","validDays":7})";
  define(p);
  std::string k = granted("c-pct", "u1");
  Decision d = redeem(k, "m1", 1'000'000'000'000'000, 5000);
  EXPECT_EQ(verdict(d), "APPLIED");
}

TEST_F(EdgeCases, BudgetOverflowIsNeverAWrap) {
  // Proves checked arithmetic on accumulated budgets: top-ups of 10^15 until
  // int64 would overflow; the overflowing one is INVALID (DESIGN §3: "an
  // overflow is an invalid event, never a wrap") and the budget is unchanged.
  define(fixed_spec("c1", 1000, 1'000'000'000'000'000));
  Decision last;
  int applied = 0;
  for (int i = 0; i < 9300; ++i) {
    last = adjust("c1", "gov", 1'000'000'000'000'000);
    if (last.outcome() != Decision::APPLIED) break;
    ++applied;
  }
  EXPECT_EQ(applied, 9222);  // 9223 * 10^15 fits, 9224 * 10^15 > 9.22e18
  EXPECT_EQ(outcome(last), "INVALID");
  EXPECT_EQ(funder("c1", "gov").budget, 9'223'000'000'000'000'000);
}


TEST_F(EdgeCases, SubsecondTimesAreCompared) {
  // Proves times keep their nanoseconds: a coupon granted at 01:00:00.5 has
  // expiresAt 7 days later at .5; a redemption at .500000001 is EXPIRED and
  // one at exactly .5 is not.
  define(CampaignSpec{});
  enroll("m1");
  Decision g = apply_json(R"({"eventId":"g1","occurredAt":"2023-08-01T01:00:00.5Z","couponIssued":{"campaignId":"camp-a","customerId":"u1"}})");
  ASSERT_THAT(kinds(g), ElementsAre("couponGranted"));
  EXPECT_EQ(g.effects(0).coupon_granted().expires_at().nanos(), 500'000'000);
  apply_json(R"({"eventId":"g2","occurredAt":"2023-08-01T01:00:00.5Z","couponIssued":{"campaignId":"camp-a","customerId":"u2"}})");
  Decision late = apply_json(R"({"eventId":"r1","occurredAt":"2023-08-08T01:00:00.500000001Z","couponRedeemed":{"couponId":"g1","merchantId":"m1","orderAmount":"5000"}})");
  EXPECT_EQ(verdict(late), "REJECTED EXPIRED");
  Decision on_time = apply_json(R"({"eventId":"r2","occurredAt":"2023-08-08T01:00:00.5Z","couponRedeemed":{"couponId":"g2","merchantId":"m1","orderAmount":"5000"}})");
  EXPECT_EQ(verdict(on_time), "APPLIED");
}

TEST_F(EdgeCases, PausedCampaignCanBeClosed) {
  // Proves PAUSED -> CLOSED is a valid change and releases the coupons.
  define(CampaignSpec{});
  granted("camp-a", "u1");
  status("camp-a", "PAUSED");
  Decision d = status("camp-a", "CLOSED");
  EXPECT_EQ(verdict(d), "APPLIED");
  EXPECT_THAT(kinds(d), ElementsAre("reservationReleased"));
}

TEST_F(EdgeCases, WelcomeRefusalsAreCountedInTheReport) {
  // Proves (ambiguous in the spec) the report's rejections by reason also
  // count grantRejected effects of welcome grants, not only REJECTED
  // couponIssued decisions.
  CampaignSpec s = welcome_spec("w1");
  s.funders = R"([{"funderId":"gov","budget":"500","shareBps":10000}])";
  define(s);
  store("m1");
  add_friend("m1", "u1");
  add_friend("m1", "u2");
  EXPECT_EQ(rejections("w1", "BUDGET_EXHAUSTED"), 2);
}

// =====================================================================
// Restoring a stored state (DESIGN §5 recovery)

// Every coupon reserves its campaign's offer.reservation(): grants set it,
// and the engine splits every coupon's reservation by that one split. A
// stored coupon that says otherwise is refused when the state is loaded,
// not split wrongly later.
std::vector<std::string> restore_one_coupon(Money reserved) {
  Engine engine;
  StateRestorer restorer(&engine);
  State& s = restorer.state();
  s.campaign_ids.add("c");
  Campaign& c = s.campaigns.emplace_back();
  c.campaign_id = "c";
  c.offer.fixed_amount = Money(100);
  c.offer.valid_days = 7;
  c.funders.push_back(FunderAccount{"gov", 10'000, Money(1'000), Money(900), Money(100), Money(0)});
  c.shares_bps = {10'000};
  s.customer_ids.add("u");
  Coupon& k = s.coupons.emplace_back(std::string("k"));
  k.campaign = CampaignIdx{0};
  k.customer = CustomerIdx{0};
  k.reserved = reserved;
  return restorer.finish();
}

TEST(Restore, ACouponMustReserveItsCampaignsReservation) {
  EXPECT_THAT(restore_one_coupon(Money(100)), IsEmpty());
  EXPECT_THAT(restore_one_coupon(Money(99)),
              ElementsAre("coupon k reserves other than its campaign's reservation"));
}

// The invariant check reports per-merchant usages it cannot attribute:
// usages are kept by merchant, not inside their campaigns, so one can name a
// campaign index that is not defined.
TEST(Invariants, ReportAMerchantUsageOfAnUndefinedCampaign) {
  Engine engine;
  StateRestorer restorer(&engine);
  State& s = restorer.state();
  s.merchant_ids.add("m");
  s.merchant_usages.get(CampaignIdx{3}, MerchantIdx{0}).granted_count = 1;
  ASSERT_THAT(restorer.finish(), IsEmpty());
  EXPECT_THAT(engine.check_invariants(),
              ElementsAre("merchant m: a usage of campaign index 3, which is not defined"));
}

}  // namespace
}  // namespace dangol::testing
