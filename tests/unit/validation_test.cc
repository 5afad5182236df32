// Field validation (DESIGN §3 order of work, step 1; CONTRACT §1 field
// rules): every broken field rule gives INVALID, reason INVALID_EVENT, a
// detail naming the field, no effects and no state change — the event id is
// not recorded and the clock does not move. Boundary values just inside each
// rule are checked not to be INVALID.

#include <functional>
#include <string>
#include <vector>

#include "engine/decode.h"
#include "tests/unit/engine_fixture.h"

namespace dangol::testing {
namespace {

using ::testing::IsEmpty;

const std::string kLongTime = at(30 * kDay);  // past the setup coupon's expiry deadline

// An envelope with the given payload; the time is far enough ahead that a
// clock advance would expire the setup coupon, so a wrongly advanced clock
// shows up as a state change.
std::string env(const std::string& kind, const std::string& payload, const std::string& event_id = "ev-x") {
  return R"({"eventId":")" + event_id + R"(","occurredAt":")" + kLongTime + R"(",")" + kind + R"(":)" + payload + "}";
}

std::string campaign(const std::function<void(CampaignSpec&)>& tweak) {
  CampaignSpec s;
  s.id = "camp-new";
  tweak(s);
  return env("campaignDefined", s.json());
}

std::string funders_json(const std::vector<std::pair<std::string, int>>& f, const std::string& budget = "1000") {
  std::string j = "[";
  for (const auto& [id, bps] : f) {
    if (j.size() > 1) j += ",";
    j += R"({"funderId":")" + id + R"(","budget":")" + budget + R"(","shareBps":)" + std::to_string(bps) + "}";
  }
  return j + "]";
}

std::string enrolled(const std::string& merchant, const std::string& market = "mk-1") {
  return env("merchantEnrolled", R"({"merchantId":")" + merchant + R"(","marketId":")" + market +
                                     R"(","category":"food"})");
}

std::string redeemed(const std::string& order, const std::string& extra = "") {
  return env("couponRedeemed", R"({"couponId":"k-1","merchantId":"m1","orderAmount":")" + order + "\"" + extra + "}");
}

std::string messaged(const std::string& recipients, const std::string& unit_cost) {
  return env("messageSent", R"({"merchantId":"m1","recipients":")" + recipients + R"(","unitCost":")" + unit_cost +
                                R"("})");
}

struct Case {
  std::string name;
  std::string json;
  std::vector<std::string> fields;  // the detail must name one of these
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

// State every case runs against: a campaign, a merchant with a channel and a
// friend, and an ISSUED coupon "k-1" (expiresAt +7 d) that a clock advance to
// +30 d would expire.
class ValidationTest : public EngineTest {
 protected:
  void SetUp() override {
    define(CampaignSpec{});
    store("m1");
    add_friend("m1", "u1");
    granted("camp-a", "u1", "", "k-1");
  }
};

class InvalidEvent : public ValidationTest, public ::testing::WithParamInterface<Case> {};

TEST_P(InvalidEvent, IsInvalidNamingTheFieldWithoutEffectsOrStateChange) {
  // Proves a broken field rule gives INVALID INVALID_EVENT with a detail
  // naming the field, no effects, and leaves state, event ids and clock as
  // they were (the +30 d event would otherwise expire coupon k-1).
  const std::string before = fingerprint();
  Decision d = apply_json(GetParam().json);
  EXPECT_EQ(outcome(d), "INVALID");
  EXPECT_EQ(d.reason(), "INVALID_EVENT");
  EXPECT_THAT(d.detail(), NamesAnyField(GetParam().fields));
  EXPECT_THAT(kinds(d), IsEmpty());
  EXPECT_EQ(fingerprint(), before);
  EXPECT_EQ(coupon_status("k-1"), "ISSUED");
}

const std::string k65(65, 'x');
const std::string k64(64, 'x');

std::vector<Case> invalid_cases() {
  using V = std::vector<std::string>;
  const std::string t = R"(","occurredAt":")" + kLongTime + "\"";
  const std::string enroll_body = R"("merchantEnrolled":{"merchantId":"m9","marketId":"mk-1","category":"food"})";
  std::vector<Case> c = {
      // ---- envelope
      {"EventIdMissing", R"({"occurredAt":")" + kLongTime + R"(",)" + enroll_body + "}", V{"eventId"}},
      {"EventIdEmpty", R"({"eventId":")" + t + "," + enroll_body + "}", V{"eventId"}},
      {"EventIdOf129Bytes", enrolled("m9").replace(12, 4, std::string(129, 'e')), V{"eventId"}},
      {"EventIdWithSpace", R"({"eventId":"ev 1)" + t + "," + enroll_body + "}", V{"eventId"}},
      {"EventIdWithSlash", R"({"eventId":"ev/1)" + t + "," + enroll_body + "}", V{"eventId"}},
      {"EventIdNonAscii", R"({"eventId":"ev-\u00e9)" + t + "," + enroll_body + "}", V{"eventId"}},
      {"OccurredAtMissing", R"({"eventId":"ev-x",)" + enroll_body + "}", V{"occurredAt"}},
      {"NoPayload", R"({"eventId":"ev-x","occurredAt":")" + kLongTime + R"("})", V{"payload"}},
      // ---- ids (1-64 bytes of [A-Za-z0-9._:-])
      {"MerchantIdMissing", env("merchantEnrolled", R"({"marketId":"mk-1","category":"food"})"), V{"merchantId"}},
      {"MerchantIdOf65Bytes", enrolled(k65), V{"merchantId"}},
      {"MerchantIdWithSlash", enrolled("m/1"), V{"merchantId"}},
      {"MerchantIdWithSpace", enrolled("m 1"), V{"merchantId"}},
      {"MarketIdMissing", env("merchantEnrolled", R"({"merchantId":"m9","category":"food"})"), V{"marketId"}},
      {"MarketIdOf65Bytes", enrolled("m9", k65), V{"marketId"}},
      {"ChannelIdMissing", env("channelOpened", R"({"merchantId":"m1"})"), V{"channelId"}},
      {"ChannelAddedCustomerIdMissing", env("channelAdded", R"({"merchantId":"m1"})"), V{"customerId"}},
      {"ChannelAddedCustomerIdOf65Bytes", env("channelAdded", R"({"merchantId":"m1","customerId":")" + k65 + "\"}"),
       V{"customerId"}},
      {"ChannelBlockedMerchantIdMissing", env("channelBlocked", R"({"customerId":"u1"})"), V{"merchantId"}},
      {"CouponIssuedCampaignIdMissing", env("couponIssued", R"({"customerId":"u1"})"), V{"campaignId"}},
      {"CouponIssuedCustomerIdOf65Bytes", env("couponIssued", R"({"campaignId":"camp-a","customerId":")" + k65 + "\"}"),
       V{"customerId"}},
      {"CouponIssuedMerchantIdBadCharset", env("couponIssued", R"({"campaignId":"camp-a","customerId":"u2","merchantId":"m#1"})"),
       V{"merchantId"}},
      {"BudgetAdjustedFunderIdWithSpace", env("budgetAdjusted", R"({"campaignId":"camp-a","funderId":"g v","delta":"5"})"),
       V{"funderId"}},
      {"StatusChangedCampaignIdMissing", env("campaignStatusChanged", R"({"status":"PAUSED"})"), V{"campaignId"}},
      // ---- coupon ids (1-200 bytes, '/' allowed)
      {"CouponIdOf201Bytes",
       env("couponIssued", R"({"campaignId":"camp-a","customerId":"u2","couponId":")" + std::string(201, 'k') + "\"}"),
       V{"couponId"}},
      {"CouponIdEmpty", env("couponIssued", R"({"campaignId":"camp-a","customerId":"u2","couponId":""})"), V{"couponId"}},
      {"CouponIdWithSpace", env("couponIssued", R"({"campaignId":"camp-a","customerId":"u2","couponId":"k 2"})"),
       V{"couponId"}},
      {"RedeemedCouponIdMissing", env("couponRedeemed", R"({"merchantId":"m1","orderAmount":"5000"})"), V{"couponId"}},
      {"RedeemedMerchantIdMissing", env("couponRedeemed", R"({"couponId":"k-1","orderAmount":"5000"})"), V{"merchantId"}},
      {"ReversedCouponIdOf201Bytes",
       env("redemptionReversed", R"({"couponId":")" + std::string(201, 'k') + R"(","merchantId":"m1"})"), V{"couponId"}},
      {"ReversedMerchantIdMissing", env("redemptionReversed", R"({"couponId":"k-1"})"), V{"merchantId"}},
      // ---- amounts (0..10^15) and deltas (±10^15)
      {"OrderAmountNegative", redeemed("-1"), V{"orderAmount"}},
      {"OrderAmountOver1e15", redeemed("1000000000000001"), V{"orderAmount"}},
      {"DiscountNegative", redeemed("5000", R"(,"discount":"-1")"), V{"discount"}},
      {"DiscountOver1e15", redeemed("5000", R"(,"discount":"1000000000000001")"), V{"discount"}},
      {"RecipientsNegative", messaged("-1", "10"), V{"recipients"}},
      {"UnitCostNegative", messaged("1", "-10"), V{"unitCost"}},
      {"UnitCostOver1e15", messaged("1", "1000000000000001"), V{"unitCost"}},
      {"MessageCostOver1e15", messaged("1000000000000000", "2"), V{"recipients", "unitCost"}},
      {"MessageCostOverflowsInt64", messaged("4294967296", "4294967296"), V{"recipients", "unitCost"}},
      {"DeltaOver1e15", env("budgetAdjusted", R"({"campaignId":"camp-a","funderId":"gov","delta":"1000000000000001"})"),
       V{"delta"}},
      {"DeltaUnderMinus1e15",
       env("budgetAdjusted", R"({"campaignId":"camp-a","funderId":"gov","delta":"-1000000000000001"})"), V{"delta"}},
      // ---- enums
      {"StatusUnspecified", env("campaignStatusChanged", R"({"campaignId":"camp-a","status":0})"), V{"status"}},
      {"StatusUnknownNumber", env("campaignStatusChanged", R"({"campaignId":"camp-a","status":99})"), V{"status"}},
      {"StatusMissing", env("campaignStatusChanged", R"({"campaignId":"camp-a"})"), V{"status"}},
  };

  // ---- campaignDefined
  auto add = [&c](std::string name, std::function<void(CampaignSpec&)> tweak, V fields) {
    c.push_back({std::move(name), campaign(tweak), std::move(fields)});
  };
  add("CampaignIdMissing", [](CampaignSpec& s) { s.id = ""; }, V{"campaignId"});
  add("CampaignIdOf65Bytes", [](CampaignSpec& s) { s.id = k65; }, V{"campaignId"});
  add("FunderBudgetNegative", [](CampaignSpec& s) { s.funders = funders_json({{"gov", 10000}}, "-1"); }, V{"budget"});
  add("FunderBudgetOver1e15",
      [](CampaignSpec& s) { s.funders = funders_json({{"gov", 10000}}, "1000000000000001"); }, V{"budget"});
  add("FunderShareZero", [](CampaignSpec& s) { s.funders = funders_json({{"gov", 0}, {"city", 10000}}); },
      V{"shareBps"});
  add("FunderShareNegative", [](CampaignSpec& s) { s.funders = funders_json({{"gov", -1}, {"city", 10001}}); },
      V{"shareBps"});
  add("FunderShareOver10000", [](CampaignSpec& s) { s.funders = funders_json({{"gov", 10001}}); }, V{"shareBps"});
  add("FunderSharesSumTo9999", [](CampaignSpec& s) { s.funders = funders_json({{"gov", 5000}, {"city", 4999}}); },
      V{"shareBps", "funders"});
  add("FunderSharesSumTo10001", [](CampaignSpec& s) { s.funders = funders_json({{"gov", 5000}, {"city", 5001}}); },
      V{"shareBps", "funders"});
  add("DuplicateFunderIds", [](CampaignSpec& s) { s.funders = funders_json({{"gov", 5000}, {"gov", 5000}}); },
      V{"funderId", "funders"});
  add("NoFunders", [](CampaignSpec& s) { s.funders = "[]"; }, V{"funders"});
  add("NineFunders",
      [](CampaignSpec& s) {
        s.funders = funders_json({{"f1", 1111}, {"f2", 1111}, {"f3", 1111}, {"f4", 1111}, {"f5", 1111}, {"f6", 1111},
                                  {"f7", 1111}, {"f8", 1111}, {"f9", 1112}});
      },
      V{"funders"});
  add("FunderIdMissing", [](CampaignSpec& s) { s.funders = funders_json({{"", 10000}}); }, V{"funderId"});
  add("TriggerUnspecified", [](CampaignSpec& s) { s.trigger = "TRIGGER_UNSPECIFIED"; }, V{"trigger"});
  add("StartsAtEqualsEndsAt", [](CampaignSpec& s) { s.ends_at = s.starts_at; }, V{"startsAt", "endsAt"});
  add("StartsAtAfterEndsAt", [](CampaignSpec& s) { s.ends_at = s.starts_at - 1; }, V{"startsAt", "endsAt"});
  add("CurrencyOfTwoLetters", [](CampaignSpec& s) { s.currency = "KR"; }, V{"currency"});
  add("CurrencyOfFourLetters", [](CampaignSpec& s) { s.currency = "KRWW"; }, V{"currency"});
  add("CurrencyWithDigit", [](CampaignSpec& s) { s.currency = "K1W"; }, V{"currency"});
  add("CurrencyEmpty", [](CampaignSpec& s) { s.currency = ""; }, V{"currency"});
  add("OfferFixedAndPercent",
      [](CampaignSpec& s) { s.offer = R"({"fixedAmount":"1000","percentBps":1000,"maxDiscount":"5000","validDays":7})"; },
      V{"offer", "fixedAmount", "percentBps"});
  add("OfferNeitherFixedNorPercent", [](CampaignSpec& s) { s.offer = R"({"validDays":7})"; },
      V{"offer", "fixedAmount", "percentBps"});
  add("OfferValidDaysZero", [](CampaignSpec& s) { s.offer = R"({"fixedAmount":"1000","validDays":0})"; },
      V{"validDays"});
  add("OfferValidDaysNegative", [](CampaignSpec& s) { s.offer = R"({"fixedAmount":"1000","validDays":-1})"; },
      V{"validDays"});
  add("OfferFixedAmountNegative", [](CampaignSpec& s) { s.offer = R"({"fixedAmount":"-1000","validDays":7})"; },
      V{"fixedAmount", "offer"});
  add("OfferFixedAmountOver1e15",
      [](CampaignSpec& s) { s.offer = R"({"fixedAmount":"1000000000000001","validDays":7})"; }, V{"fixedAmount"});
  add("OfferMaxDiscountNegative",
      [](CampaignSpec& s) { s.offer = R"({"percentBps":1000,"maxDiscount":"-1","validDays":7})"; },
      V{"maxDiscount"});
  add("OfferMinOrderNegative",
      [](CampaignSpec& s) { s.offer = R"({"fixedAmount":"1000","minOrderAmount":"-1","validDays":7})"; },
      V{"minOrderAmount"});
  add("LimitPerCustomerNegative", [](CampaignSpec& s) { s.limits = R"({"perCustomer":"-1"})"; }, V{"perCustomer"});
  add("LimitDailyAmountOver1e15", [](CampaignSpec& s) { s.limits = R"({"dailyAmount":"1000000000000001"})"; },
      V{"dailyAmount"});
  add("LimitPerMerchantAmountNegative", [](CampaignSpec& s) { s.limits = R"({"perMerchantAmount":"-5"})"; },
      V{"perMerchantAmount"});
  add("MessageCashNegative", [](CampaignSpec& s) { s.message_cash = R"({"perMerchant":"-1"})"; },
      V{"perMerchant"});
  add("EligibilityMarketIdBadCharset", [](CampaignSpec& s) { s.eligibility = R"({"marketIds":["mk 1"]})"; },
      V{"marketIds"});
  return c;
}

INSTANTIATE_TEST_SUITE_P(FieldRules, InvalidEvent, ::testing::ValuesIn(invalid_cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

// ---------------------------------------------------------------- enums outside the schema

class UnknownEnum : public ValidationTest {};

TEST_F(UnknownEnum, TriggerNinetyNineIsInvalid) {
  // Proves a trigger number outside the schema (99) is INVALID naming the
  // trigger; the envelope is built in C++ since JSON names cannot carry it.
  CampaignSpec s;
  s.id = "camp-new";
  Envelope e = envelope(env("campaignDefined", s.json()));
  e.mutable_campaign_defined()->set_trigger(static_cast<v1::CampaignDefined::Trigger>(99));
  const std::string before = fingerprint();
  Decision d = apply(e);
  EXPECT_EQ(outcome(d), "INVALID");
  EXPECT_EQ(d.reason(), "INVALID_EVENT");
  EXPECT_THAT(d.detail(), NamesAnyField(std::vector<std::string>{"trigger"}));
  EXPECT_THAT(kinds(d), IsEmpty());
  EXPECT_EQ(fingerprint(), before);
}

TEST_F(UnknownEnum, StatusNinetyNineIsInvalid) {
  // Proves a status number outside the schema (99) is INVALID naming status.
  Envelope e = envelope(env("campaignStatusChanged", R"({"campaignId":"camp-a","status":"PAUSED"})"));
  e.mutable_campaign_status_changed()->set_status(static_cast<v1::CampaignStatusChanged::Status>(99));
  const std::string before = fingerprint();
  Decision d = apply(e);
  EXPECT_EQ(outcome(d), "INVALID");
  EXPECT_THAT(d.detail(), NamesAnyField(std::vector<std::string>{"status"}));
  EXPECT_EQ(fingerprint(), before);
}

// ---------------------------------------------------------------- boundaries that are valid

class ValidBoundary : public ValidationTest {};

TEST_F(ValidBoundary, EventIdOf128Bytes) {
  // Proves eventId may be 128 bytes of the id charset.
  Decision d = apply_json(enrolled("m9").replace(12, 4, std::string(128, 'e')));
  EXPECT_EQ(outcome(d), "APPLIED");
}

TEST_F(ValidBoundary, IdsOf64Bytes) {
  // Proves merchant, market, customer and campaign ids may be 64 bytes with
  // every allowed character class.
  const std::string id = std::string(58, 'A') + "z9._:-";
  ASSERT_EQ(id.size(), 64u);
  EXPECT_EQ(outcome(apply_json(enrolled(id, id))), "APPLIED");
  CampaignSpec s;
  s.id = id;
  EXPECT_EQ(outcome(define(s)), "APPLIED");
  EXPECT_EQ(outcome(issue(id, id, id)), "APPLIED");
}

TEST_F(ValidBoundary, CouponIdOf200BytesWithSlashes) {
  // Proves a coupon id may be 200 bytes and contain '/', and is usable in
  // couponIssued, couponRedeemed and redemptionReversed.
  const std::string k = "camp/a/" + std::string(193, 'k');
  ASSERT_EQ(k.size(), 200u);
  EXPECT_EQ(granted("camp-a", "u2", "", k), k);
  EXPECT_EQ(outcome(redeem(k, "m1", 5000)), "APPLIED");
  EXPECT_EQ(outcome(reverse(k, "m1")), "APPLIED");
}

TEST_F(ValidBoundary, AmountsOfExactly1e15) {
  // Proves 10^15 is a valid order amount, discount, budget and delta (both
  // signs), and recipients x unitCost may be exactly 10^15.
  EXPECT_EQ(outcome(redeem("k-1", "m1", 1'000'000'000'000'000)), "APPLIED");
  CampaignSpec big;
  big.id = "c-big";
  big.funders = funders_json({{"gov", 10000}}, "1000000000000000");
  EXPECT_EQ(outcome(define(big)), "APPLIED");
  CampaignSpec zero;
  zero.id = "c-zero";
  zero.funders = funders_json({{"gov", 10000}}, "0");
  EXPECT_EQ(outcome(define(zero)), "APPLIED");
  EXPECT_EQ(outcome(adjust("c-zero", "gov", 1'000'000'000'000'000)), "APPLIED");
  EXPECT_EQ(outcome(adjust("c-zero", "gov", -1'000'000'000'000'000)), "APPLIED");
  EXPECT_NE(outcome(message("m1", 1'000'000'000, 1'000'000)), "INVALID");
}

TEST_F(ValidBoundary, EightFundersAndSingleFullShare) {
  // Proves 8 funders summing to 10000 and one funder of 10000 are valid.
  CampaignSpec eight;
  eight.id = "c-eight";
  eight.funders = funders_json(
      {{"f1", 1250}, {"f2", 1250}, {"f3", 1250}, {"f4", 1250}, {"f5", 1250}, {"f6", 1250}, {"f7", 1250}, {"f8", 1250}});
  Decision d = define(eight);
  EXPECT_EQ(outcome(d), "APPLIED");
  EXPECT_EQ(d.effects_size(), 8);
  CampaignSpec one;
  one.id = "c-one";
  one.funders = funders_json({{"f1", 10000}});
  EXPECT_EQ(outcome(define(one)), "APPLIED");
}

TEST_F(ValidBoundary, ZeroAmountsAreValid) {
  // Proves 0 is inside the amount range: a zero order redeems (discount 0)
  // and a zero delta is not INVALID.
  EXPECT_NE(outcome(redeem("k-1", "m1", 0)), "INVALID");
  EXPECT_NE(outcome(adjust("camp-a", "gov", 0)), "INVALID");
}

TEST_F(ValidBoundary, PercentOfferAndStartsBeforeEndsAt) {
  // Proves a percent offer with maxDiscount and a one-second campaign window
  // are valid.
  CampaignSpec s;
  s.id = "c-pct";
  s.offer = R"({"percentBps":1000,"maxDiscount":"5000","validDays":1})";
  s.ends_at = s.starts_at + 1;
  EXPECT_EQ(outcome(define(s)), "APPLIED");
}

TEST_F(ValidBoundary, EffectsLongerThan127BytesEncodeDirectlyAsTheirMessage) {
  // The fixture compares every decision's direct encoding with the
  // message's; this one needs a two-byte length for its effect.
  CampaignSpec spec;
  spec.id = "camp-long";
  const std::string f(64, 'f'), g(64, 'g');
  spec.funders = R"([{"funderId":")" + f + R"(","budget":"1000","shareBps":5000},)" + R"({"funderId":")" + g +
                 R"(","budget":"1000","shareBps":5000}])";
  ASSERT_EQ(outcome(define(spec)), "APPLIED");
  Decision d = issue("camp-long", std::string(64, 'u'));
  ASSERT_EQ(outcome(d), "APPLIED");
  ASSERT_GE(d.effects_size(), 1);
  ASSERT_TRUE(d.effects(0).has_coupon_granted());
  EXPECT_GE(d.effects(0).ByteSizeLong(), 128u) << d.DebugString();
}

TEST(EchoedEventId, IsCutAt256BytesOnACharacterBoundary) {
  EXPECT_EQ(echoed_event_id("e-1"), "e-1");
  EXPECT_EQ(echoed_event_id(std::string(256, 'e')), std::string(256, 'e'));
  EXPECT_EQ(echoed_event_id(std::string(300, 'e')), std::string(256, 'e'));
  std::string hangul;  // U+AC00, three bytes each: 85 characters are 255 bytes
  for (int i = 0; i < 100; ++i) hangul += "\xEA\xB0\x80";
  EXPECT_EQ(echoed_event_id(hangul), hangul.substr(0, 255));
  const std::string two_byte = std::string(255, 'e') + "\xC3\xA9";  // 'é' straddles the cut
  EXPECT_EQ(echoed_event_id(two_byte), std::string(255, 'e'));
}

TEST(EchoedEventId, ADecisionForAnOverlongMultibyteIdIsValidProtobuf) {
  // The id is INVALID (over 128 bytes); its decision echoes it cut short,
  // and stays parseable: proto3 refuses strings that are not UTF-8.
  std::string id;
  for (int i = 0; i < 100; ++i) id += "\xEA\xB0\x80";
  Envelope in;
  in.set_event_id(id);
  in.mutable_occurred_at()->set_seconds(1'700'000'000);
  in.mutable_coupon_issued()->set_campaign_id("camp-a");
  in.mutable_coupon_issued()->set_customer_id("u-1");
  Engine engine;
  const Verdict& verdict = engine.decide(in);
  ASSERT_EQ(verdict.outcome, Outcome::kInvalid);
  Decision d;
  encode_decision(engine.state(), verdict, in, Position{0, 0}, &d);
  EXPECT_EQ(d.event_id(), id.substr(0, 255));
  std::string wire;
  append_decision_pb(engine.state(), verdict, in, Position{0, 0}, &wire);
  Decision parsed;
  ASSERT_TRUE(parsed.ParseFromString(wire)) << "the decision is not valid proto3";
  EXPECT_EQ(parsed.event_id(), id.substr(0, 255));
}

// The id byte rules, checked byte by byte against a plain reference: every
// byte value at every position of ids from 1 to 40 bytes long (positions
// around 16 and 32 would matter to a check that works on sixteen bytes at a
// time).
TEST(IdBytes, EveryByteAtEveryPositionFollowsTheRule) {
  const auto plain = [](unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == ':' || c == '-';
  };
  for (std::size_t size = 1; size <= 40; ++size) {
    for (std::size_t at = 0; at < size; ++at) {
      for (int byte = 0; byte < 256; ++byte) {
        std::string id(size, 'a');
        id[at] = static_cast<char>(byte);
        const auto c = static_cast<unsigned char>(byte);
        ASSERT_EQ(is_valid_id(id), plain(c)) << "byte " << byte << " at " << at << " of " << size;
        ASSERT_EQ(is_valid_coupon_id(id), plain(c) || c == '/') << "byte " << byte << " at " << at << " of " << size;
      }
    }
  }
  EXPECT_FALSE(is_valid_id(""));
  EXPECT_FALSE(is_valid_id(std::string(65, 'a')));
  EXPECT_TRUE(is_valid_coupon_id("a/b/c"));
  EXPECT_FALSE(is_valid_id("a/b"));
}

}  // namespace
}  // namespace dangol::testing
