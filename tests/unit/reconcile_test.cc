// Tests of the reconcile fold: a hand-written correct journal, then one
// mutation per rule the fold enforces.
#include "services/campaignctl/reconcile.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace dangol::reconcile {
namespace {

// ------------------------------------------------------------ journal text

// Campaign "fest" has two funders, gov then bank, each 5000 bps.
std::string parts(std::int64_t gov, std::int64_t bank) {
  return "[{\"funderId\":\"gov\",\"amount\":\"" + std::to_string(gov) +
         "\"},{\"funderId\":\"bank\",\"amount\":\"" + std::to_string(bank) + "\"}]";
}

std::string budget_set(const std::string& funder, std::int64_t budget) {
  return R"({"budgetSet":{"campaignId":"fest","funderId":")" + funder + R"(","budget":")" +
         std::to_string(budget) + "\"}}";
}

std::string budget_adjusted(const std::string& funder, std::int64_t delta) {
  return R"({"budgetAdjusted":{"campaignId":"fest","funderId":")" + funder + R"(","delta":")" +
         std::to_string(delta) + "\"}}";
}

std::string granted(const std::string& coupon, std::int64_t reserved, std::int64_t gov,
                    std::int64_t bank) {
  return R"({"couponGranted":{"couponId":")" + coupon +
         R"(","campaignId":"fest","merchantId":"m1","customerId":"c1","reserved":")" +
         std::to_string(reserved) + R"(","split":)" + parts(gov, bank) + "}}";
}

std::string settled(const std::string& coupon, std::int64_t discount, std::int64_t gov,
                    std::int64_t bank, std::int64_t released, std::int64_t released_gov,
                    std::int64_t released_bank) {
  return R"({"redemptionSettled":{"couponId":")" + coupon +
         R"(","campaignId":"fest","merchantId":"m1","orderAmount":"50000","discount":")" +
         std::to_string(discount) + R"(","split":)" + parts(gov, bank) + R"(,"released":")" +
         std::to_string(released) + R"(","releasedSplit":)" + parts(released_gov, released_bank) +
         "}}";
}

std::string released(const std::string& coupon, const std::string& merchant, std::int64_t amount,
                     std::int64_t gov, std::int64_t bank, const std::string& cause) {
  return R"({"reservationReleased":{"couponId":")" + coupon +
         R"(","campaignId":"fest","merchantId":")" + merchant + R"(","amount":")" +
         std::to_string(amount) + R"(","split":)" + parts(gov, bank) + R"(,"cause":")" + cause +
         "\"}}";
}

std::string reversed(const std::string& coupon, bool restored, std::int64_t returned_gov,
                     std::int64_t returned_bank, std::int64_t again_gov, std::int64_t again_bank) {
  return R"({"redemptionReversed":{"couponId":")" + coupon +
         R"(","campaignId":"fest","restored":)" + (restored ? "true" : "false") +
         R"(,"spentReturned":)" + parts(returned_gov, returned_bank) + R"(,"reReserved":)" +
         parts(again_gov, again_bank) + "}}";
}

std::string cash_granted(const std::string& merchant, std::int64_t amount, std::int64_t gov,
                         std::int64_t bank) {
  return R"({"messageCashGranted":{"campaignId":"fest","merchantId":")" + merchant +
         R"(","amount":")" + std::to_string(amount) + R"(","split":)" + parts(gov, bank) + "}}";
}

std::string charged(const std::string& merchant, std::int64_t amount, std::int64_t gov,
                    std::int64_t bank) {
  return R"({"messageCharged":{"campaignId":"fest","merchantId":")" + merchant + R"(","amount":")" +
         std::to_string(amount) + R"(","split":)" + parts(gov, bank) + "}}";
}

std::string merchant_charged(const std::string& merchant, std::int64_t amount) {
  return R"({"messageCharged":{"campaignId":"","merchantId":")" + merchant + R"(","amount":")" +
         std::to_string(amount) + "\"}}";
}

std::string threshold(const std::string& funder, int bps) {
  return R"({"thresholdCrossed":{"campaignId":"fest","funderId":")" + funder + R"(","bps":)" +
         std::to_string(bps) + "}}";
}

// One decision of shard 0 read from partition 0 at offset seq − 1.
std::string decision(std::int64_t seq, const std::vector<std::string>& effects,
                     const std::string& outcome = "APPLIED", const std::string& reason = "",
                     std::int64_t offset = -1) {
  std::string text = R"({"eventId":"ev-)" + std::to_string(seq) + R"(","shard":0,"seq":")" +
                     std::to_string(seq) + R"(","partition":0,"offset":")" +
                     std::to_string(offset < 0 ? seq - 1 : offset) + R"(","outcome":")" + outcome +
                     R"(","reason":")" + reason + R"(","effects":[)";
  for (std::size_t i = 0; i < effects.size(); ++i) text += (i ? "," : "") + effects[i];
  return text + "]}";
}

// Every rule of DESIGN §3 that moves money, on a 1+1 co-funded campaign
// with odd reservations so that splits have remainders. Balances per step
// are worked out in the comments; line i is seq i + 1.
std::vector<std::string> correct_journal() {
  return {
      decision(1, {budget_set("gov", 7001), budget_set("bank", 7000)}),
      decision(2, {budget_adjusted("bank", 1000)}),
      decision(3, {granted("k1", 3001, 1501, 1500)}),
      decision(4, {granted("k2", 3001, 1501, 1500)}),
      // k1 settles 2001 of 3001 in proportion to 1501/1500; 1000 goes back.
      decision(5, {settled("k1", 2001, 1001, 1000, 1000, 500, 500)}),
      // gov (1501+1501+1001)·10000 >= 5000·7001; bank 4000·10000 == 5000·8000.
      decision(6,
               {granted("k3", 3001, 1501, 1500), threshold("gov", 5000), threshold("bank", 5000)}),
      decision(7, {reversed("k1", true, 1001, 1000, 500, 500)}),
      decision(8, {settled("k2", 1000, 500, 500, 2001, 1001, 1000)}),
      decision(9, {reversed("k2", false, 500, 500, 0, 0)}),
      decision(10, {cash_granted("m1", 1001, 501, 500), charged("m1", 301, 151, 150)}),
      decision(11, {charged("m1", 700, 350, 350), merchant_charged("m1", 100)}),
      // The expiry pass rides on a rejected event, before anything else.
      decision(12, {released("k3", "m1", 3001, 1501, 1500, "EXPIRED")}, "REJECTED",
               "UNKNOWN_COUPON"),
      decision(13, {settled("k1", 2500, 1250, 1250, 501, 251, 250)}),
      decision(14, {}, "DUPLICATE"),
      decision(15, {}, "INVALID", "INVALID_EVENT"),
      decision(16, {granted("k4", 1001, 501, 500)}),
      decision(17, {cash_granted("m2", 1001, 501, 500), charged("m2", 200, 100, 100)}),
      // Close: outstanding coupons, then unused message cash.
      decision(18, {released("k4", "m1", 1001, 501, 500, "CLOSED"),
                    released("", "m2", 801, 401, 400, "CLOSED")}),
  };
}

std::string join(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += line + "\n";
  return text;
}

Result fold(const std::vector<std::string>& lines, const Options& options = {}) {
  std::istringstream in(join(lines));
  Result result;
  std::string error;
  EXPECT_TRUE(run(in, options, &result, &error)) << error;
  return result;
}

std::string write_file(const std::string& name, const std::string& text) {
  const std::string path = testing::TempDir() + "/reconcile_test_" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

Options with_settlement(const std::string& name, const std::string& csv) {
  Options options;
  options.settlement_csv_path = write_file(name, csv);
  return options;
}

std::string messages(const Result& result) {
  std::string text;
  for (const Violation& v : result.violations) {
    text += "  seq " + std::to_string(v.seq) + ": " + v.message + "\n";
  }
  return text;
}

// Asserts that exactly one violation was found, at `seq`, and that its
// message contains `needle`.
void expect_single_violation(const Result& result, std::int64_t seq, const std::string& needle) {
  EXPECT_FALSE(result.balanced);
  ASSERT_EQ(result.violation_count, 1) << messages(result);
  EXPECT_EQ(result.violations[0].seq, seq) << messages(result);
  EXPECT_NE(result.violations[0].message.find(needle), std::string::npos) << messages(result);
}

std::vector<std::string> correct_journal_plus(const std::vector<std::string>& effects) {
  std::vector<std::string> lines = correct_journal();
  lines.push_back(decision(19, effects));
  return lines;
}

// ------------------------------------------------------------ correct journal

TEST(Reconcile, CorrectJournalBalancesToTheWon) {
  // Proves the fold accepts every effect kind used correctly and ends with
  // the balances worked out by hand.
  const Result result = fold(correct_journal());
  EXPECT_TRUE(result.balanced) << messages(result);
  EXPECT_EQ(result.decisions, 18);
  EXPECT_EQ(result.violation_count, 0);
  ASSERT_EQ(result.funders.size(), 2u);
  const FunderBalance& gov = result.funders[0];
  EXPECT_EQ(gov.funder_id, "gov");
  EXPECT_EQ(gov.campaign_id, "fest");
  EXPECT_EQ(gov.budget, 7001);
  EXPECT_EQ(gov.available, 5150);
  EXPECT_EQ(gov.reserved, 0);
  EXPECT_EQ(gov.spent, 1851);
  const FunderBalance& bank = result.funders[1];
  EXPECT_EQ(bank.funder_id, "bank");
  EXPECT_EQ(bank.budget, 8000);
  EXPECT_EQ(bank.available, 6150);
  EXPECT_EQ(bank.reserved, 0);
  EXPECT_EQ(bank.spent, 1850);
  EXPECT_EQ(result.coupons.granted, 4);
  EXPECT_EQ(result.coupons.outstanding, 0);
  EXPECT_EQ(result.coupons.redeemed, 1);
  EXPECT_EQ(result.coupons.expired, 1);
  EXPECT_EQ(result.coupons.voided, 2);
  EXPECT_FALSE(result.settlement.present);
}

TEST(Reconcile, ShuffledInputFoldsInSeqOrder) {
  // Proves that a journal merged from partitions in any order folds exactly
  // like the ordered one, because decisions are folded per shard by seq.
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::vector<std::string> lines = correct_journal();
  std::shuffle(lines.begin(), lines.end(), std::mt19937(seed));
  const Result shuffled = fold(lines);
  const Result ordered = fold(correct_journal());
  EXPECT_TRUE(shuffled.balanced) << messages(shuffled);
  EXPECT_EQ(format_json(shuffled), format_json(ordered));
}

TEST(Reconcile, SmallReorderWindowReportsGapInsteadOfBuffering) {
  // Proves the reorder buffer is bounded: past the window, the missing seq
  // is reported as a gap and its late arrival as a repeat.
  std::vector<std::string> lines = correct_journal();
  std::rotate(lines.begin(), lines.begin() + 1, lines.begin() + 5);  // seq 1 arrives 4th
  Options options;
  options.reorder_window = 2;
  const Result result = fold(lines, options);
  EXPECT_FALSE(result.balanced);
  EXPECT_NE(messages(result).find("seq gap in shard 0: expected seq 1, next is 2"),
            std::string::npos)
      << messages(result);
  EXPECT_NE(messages(result).find("seq 1 of shard 0 is repeated"), std::string::npos)
      << messages(result);
}

// ------------------------------------------------------------ one violation each

TEST(Reconcile, SplitOffByOne) {
  // Proves a split that does not sum to its total is caught, with both sums.
  expect_single_violation(fold(correct_journal_plus({granted("k5", 1001, 501, 499)})), 19,
                          "couponGranted k5: split sums to 1000, total is 1001");
}

TEST(Reconcile, SplitInWrongFunderOrder) {
  // Proves splits must list the funders in definition order.
  const std::string swapped =
      R"({"couponGranted":{"couponId":"k5","campaignId":"fest","reserved":"2",)"
      R"("split":[{"funderId":"bank","amount":"1"},{"funderId":"gov","amount":"1"}]}})";
  expect_single_violation(fold(correct_journal_plus({swapped})), 19,
                          "split entry 0 is funder bank, expected gov");
}

TEST(Reconcile, DoubleGrant) {
  // Proves a coupon id is granted at most once, whatever its state.
  expect_single_violation(fold(correct_journal_plus({granted("k1", 1001, 501, 500)})), 19,
                          "couponGranted k1: coupon already granted (now REDEEMED)");
}

TEST(Reconcile, SettleOfUnknownCoupon) {
  // Proves a settlement needs a coupon the journal granted.
  expect_single_violation(fold(correct_journal_plus({settled("nope", 100, 50, 50, 0, 0, 0)})), 19,
                          "redemptionSettled nope: unknown coupon");
}

TEST(Reconcile, SettlementMustMoveTheWholeReservation) {
  // Proves discount + released must equal what the coupon holds.
  std::vector<std::string> lines = correct_journal();
  lines[12] = decision(13, {settled("k1", 2500, 1250, 1250, 500, 250, 250)});
  const Result result = fold(lines);
  EXPECT_FALSE(result.balanced);
  EXPECT_NE(messages(result).find("discount 2500 + released 500 != coupon's reservation 3001"),
            std::string::npos)
      << messages(result);
  // The unreleased unit stays reserved without a reservation behind it.
  EXPECT_NE(messages(result).find("funder gov: reserved 1 != outstanding reservations 0"),
            std::string::npos)
      << messages(result);
}

TEST(Reconcile, ReleaseOfRedeemedCoupon) {
  // Proves only an ISSUED coupon can have its reservation released.
  expect_single_violation(
      fold(correct_journal_plus({released("k1", "m1", 3001, 1501, 1500, "VOIDED")})), 19,
      "reservationReleased k1 (VOIDED): coupon is REDEEMED, must be ISSUED");
}

TEST(Reconcile, RestoredReversalMustReReserveTheReleasedParts) {
  // Proves a restored reversal brings back exactly what settlement released.
  std::vector<std::string> lines = correct_journal();
  lines[6] = decision(7, {reversed("k1", true, 1001, 1000, 501, 499)});
  const Result result = fold(lines);
  EXPECT_FALSE(result.balanced);
  EXPECT_NE(messages(result).find("reReserved: moves gov=501 bank=499, released at settlement "
                                  "gov=500 bank=500"),
            std::string::npos)
      << messages(result);
}

TEST(Reconcile, MessageChargeBeyondRemainingCash) {
  // Proves no funder pays more message cash than remains of its part, and
  // that the overdrawn reservation then shows in the ledger check.
  const Result result = fold(correct_journal_plus({charged("m1", 2, 1, 1)}));
  EXPECT_FALSE(result.balanced);
  ASSERT_GE(result.violations.size(), 1u);
  EXPECT_EQ(result.violations[0].seq, 19);
  EXPECT_EQ(result.violations[0].message,
            "messageCharged fest/m1: funder gov charged 1, only 0 remains");
  EXPECT_NE(messages(result).find("funder gov: negative balance: available 5150, reserved -1"),
            std::string::npos)
      << messages(result);
}

TEST(Reconcile, MerchantPaidChargeWithSplit) {
  // Proves a charge to the merchant moves no budget money.
  const std::string with_split = R"({"messageCharged":{"campaignId":"","merchantId":"m1",)"
                                 R"("amount":"2","split":)" +
                                 parts(1, 1) + "}}";
  expect_single_violation(fold(correct_journal_plus({with_split})), 19,
                          "merchant-paid charge has a non-negative amount and no funder split");
}

TEST(Reconcile, SeqGap) {
  // Proves a missing seq is reported with the range that is missing.
  std::vector<std::string> lines = correct_journal();
  lines.erase(lines.begin() + 13);  // seq 14
  expect_single_violation(fold(lines), 15,
                          "seq gap in shard 0: expected seq 14, next is 15 (1 missing)");
}

TEST(Reconcile, RepeatedSeq) {
  // Proves a seq seen twice is reported and folded only once.
  std::vector<std::string> lines = correct_journal();
  lines.push_back(lines[2]);
  const Result result = fold(lines);
  expect_single_violation(result, 3, "seq 3 of shard 0 is repeated");
  EXPECT_EQ(result.decisions, 18);
}

TEST(Reconcile, TwoDecisionsForOnePartitionOffset) {
  // Proves each (partition, offset) has exactly one decision.
  std::vector<std::string> lines = correct_journal();
  lines[14] = decision(15, {}, "INVALID", "INVALID_EVENT", /*offset=*/13);
  expect_single_violation(fold(lines), 15, "partition 0 offset 13 already has a decision");
}

TEST(Reconcile, ThresholdNotReached) {
  // Proves an alert is only valid when (reserved + spent)·10000 >= bps·budget.
  expect_single_violation(fold(correct_journal_plus({threshold("gov", 8000)})), 19,
                          "not reached, (reserved 0 + spent 1851) * 10000 < 8000 * budget 7001");
}

TEST(Reconcile, ThresholdTwice) {
  // Proves an alert fires once per funder and threshold, ever.
  expect_single_violation(fold(correct_journal_plus({threshold("bank", 5000)})), 19,
                          "thresholdCrossed fest/bank at 5000 bps: already crossed");
}

TEST(Reconcile, ThresholdMustComeLast) {
  // Proves alerts follow every other effect of their decision.
  expect_single_violation(
      fold(correct_journal_plus({threshold("gov", 1000), budget_adjusted("gov", 1)})), 19,
      "budgetAdjusted effect comes after thresholdCrossed");
}

TEST(Reconcile, EffectOnDuplicate) {
  // Proves a DUPLICATE decision moves nothing: its effects are reported, not folded.
  std::vector<std::string> lines = correct_journal();
  lines[13] = decision(14, {granted("k9", 1001, 501, 500)}, "DUPLICATE");
  const Result result = fold(lines);
  expect_single_violation(result, 14,
                          "DUPLICATE decision carries a couponGranted effect; not folded");
  EXPECT_EQ(result.coupons.granted, 4);
}

TEST(Reconcile, RejectedMayOnlyCarryExpiry) {
  // Proves a REJECTED decision carries nothing but the expiry pass.
  std::vector<std::string> lines = correct_journal();
  lines.push_back(decision(19, {granted("k9", 1001, 501, 500)}, "REJECTED", "BUDGET_EXHAUSTED"));
  expect_single_violation(fold(lines), 19, "REJECTED decision carries a couponGranted effect");
}

TEST(Reconcile, ExpiryAfterOtherEffects) {
  // Proves expiry releases come before the event's own effects.
  std::vector<std::string> lines = correct_journal();
  lines[15] = decision(16, {granted("k4", 1001, 501, 500), granted("k5", 2, 1, 1),
                            released("k5", "m1", 2, 1, 1, "EXPIRED")});
  expect_single_violation(fold(lines), 16, "expiry release comes after a non-expiry effect");
}

TEST(Reconcile, AppliedWithReasonAndRejectedWithout) {
  // Proves the reason is empty exactly when the event was applied.
  std::vector<std::string> lines = correct_journal();
  lines[1] = decision(2, {budget_adjusted("bank", 1000)}, "APPLIED", "CAMPAIGN_CLOSED");
  lines[14] = decision(15, {}, "INVALID");
  const Result result = fold(lines);
  EXPECT_EQ(result.violation_count, 2) << messages(result);
  EXPECT_NE(messages(result).find("seq 2: APPLIED decision has reason CAMPAIGN_CLOSED"),
            std::string::npos);
  EXPECT_NE(messages(result).find("seq 15: INVALID decision has no reason"), std::string::npos);
}

TEST(Reconcile, NegativeAvailable) {
  // Proves a cut below what is available breaks the ledger and is reported once.
  std::vector<std::string> lines = correct_journal_plus({budget_adjusted("gov", -6000)});
  lines.push_back(decision(20, {budget_adjusted("gov", 1)}));  // still negative: not reported again
  expect_single_violation(fold(lines), 19,
                          "campaign fest funder gov: negative balance: available -850");
}

TEST(Reconcile, OverflowIsAViolationNotAWrap) {
  // Proves money arithmetic is checked: an overflowing posting is reported
  // and leaves the ledger as it was.
  const Result result = fold(correct_journal_plus({budget_adjusted("gov", INT64_MAX)}));
  expect_single_violation(result, 19, "budget 7001 + 9223372036854775807 overflows int64");
  EXPECT_EQ(result.funders[0].budget, 7001);
  EXPECT_EQ(result.funders[0].available, 5150);
}

TEST(Reconcile, BudgetSetTwice) {
  // Proves a campaign's funders are defined once; a later budgetSet is not folded.
  const Result result = fold(correct_journal_plus({budget_set("gov", 9999)}));
  expect_single_violation(result, 19, "budgetSet fest/gov: campaign already defined at seq 1");
  EXPECT_EQ(result.funders[0].budget, 7001);
}

TEST(Reconcile, MalformedLineIsAViolation) {
  // Proves a line that is not a decision is a violation with its line
  // number, and the rest of the journal still folds.
  std::vector<std::string> lines = correct_journal();
  lines.insert(lines.begin() + 4, "{\"eventId\": not json");
  lines.insert(lines.begin() + 4, "   ");  // blank lines are ignored
  const Result result = fold(lines);
  ASSERT_EQ(result.violation_count, 1) << messages(result);
  EXPECT_EQ(result.violations[0].line, 6);
  EXPECT_NE(result.violations[0].message.find("not a decision"), std::string::npos);
  EXPECT_EQ(result.decisions, 18);
  EXPECT_EQ(result.funders[0].available, 5150);
}

TEST(Reconcile, ViolationListIsBoundedButCounted) {
  // Proves memory for violations is bounded while the count stays exact.
  std::vector<std::string> lines;
  for (int i = 0; i < 10; ++i) lines.push_back("garbage");
  Options options;
  options.max_violations = 3;
  const Result result = fold(lines, options);
  EXPECT_EQ(result.violation_count, 10);
  EXPECT_EQ(result.violations.size(), 3u);
}

// ------------------------------------------------------------ settlement

TEST(Reconcile, SettlementMatchesNetDiscounts) {
  // Proves refund rows net out per coupon, quoted fields and CRLF parse,
  // and a fully reversed coupon matches zero.
  const Result result =
      fold(correct_journal(), with_settlement("matched.csv",
                                              "\xEF\xBB\xBFpaidAt,\"couponId\",discount,note\r\n"
                                              "2023-08-01,k1,2001,\"first, paid\"\r\n"
                                              "2023-08-02,k1,-2001,\"refund \"\"k1\"\"\"\r\n"
                                              "2023-08-03,\"k1\",2500,\r\n"
                                              "2023-08-01,k2,1000,\r\n"
                                              "2023-08-02,k2,-1000,\r\n"));
  EXPECT_TRUE(result.balanced) << messages(result);
  EXPECT_TRUE(result.settlement.present);
  EXPECT_EQ(result.settlement.matched, 2);
  EXPECT_TRUE(result.settlement.items.empty());
}

TEST(Reconcile, SettlementAmountMismatch) {
  // Proves a different net discount is reported with both amounts.
  const Result result = fold(correct_journal(),
                             with_settlement("mismatch.csv", "couponId,discount\nk1,2400\nk2,0\n"));
  EXPECT_FALSE(result.balanced);
  EXPECT_EQ(result.violation_count, 0);
  EXPECT_EQ(result.settlement.matched, 1);
  EXPECT_EQ(result.settlement.amount_mismatch, 1);
  ASSERT_EQ(result.settlement.items.size(), 1u);
  const SettlementItem& item = result.settlement.items[0];
  EXPECT_EQ(item.coupon_id, "k1");
  EXPECT_EQ(item.status, "amount_mismatch");
  EXPECT_EQ(item.engine_discount, 2500);
  EXPECT_EQ(item.settlement_discount, 2400);
}

TEST(Reconcile, SettlementMissingBothWays) {
  // Proves coupons only the file knows and coupons only the engine settled
  // are both reported; a zero engine net absent from the file is not.
  const Result result =
      fold(correct_journal(), with_settlement("missing.csv", "discount,couponId\n500,k9\n"));
  EXPECT_FALSE(result.balanced);
  const SettlementSummary& s = result.settlement;
  EXPECT_EQ(s.matched, 0);
  EXPECT_EQ(s.missing_in_engine, 1);
  EXPECT_EQ(s.missing_in_settlement, 1);
  ASSERT_EQ(s.items.size(), 2u);
  EXPECT_EQ(s.items[0].coupon_id, "k1");
  EXPECT_EQ(s.items[0].status, "missing_in_settlement");
  EXPECT_EQ(s.items[0].engine_discount, 2500);
  EXPECT_EQ(s.items[1].coupon_id, "k9");
  EXPECT_EQ(s.items[1].status, "missing_in_engine");
  EXPECT_EQ(s.items[1].settlement_discount, 500);
}

TEST(Reconcile, SettlementWithoutDiscountColumnIsAnError) {
  // Proves a file that cannot be matched stops the run with a clear error.
  std::istringstream in(join(correct_journal()));
  Result result;
  std::string error;
  EXPECT_FALSE(
      run(in, with_settlement("nodiscount.csv", "couponId,amount\nk1,2500\n"), &result, &error));
  EXPECT_NE(error.find("header has no discount column"), std::string::npos) << error;
}

TEST(Reconcile, MalformedSettlementRowIsAnErrorWithItsLine) {
  // Proves a bad data row stops the run and names its line.
  std::istringstream in(join(correct_journal()));
  Result result;
  std::string error;
  EXPECT_FALSE(run(in, with_settlement("badrow.csv", "couponId,discount\nk1,2500\nk2,12x\n"),
                   &result, &error));
  EXPECT_NE(error.find("line 3: discount \"12x\" is not an int64 integer"), std::string::npos)
      << error;
}

TEST(Reconcile, UnreadableSettlementFileIsAnError) {
  // Proves a missing settlement file is a run error, not an empty match.
  std::istringstream in(join(correct_journal()));
  Result result;
  std::string error;
  Options options;
  options.settlement_csv_path = testing::TempDir() + "/reconcile_test_does_not_exist.csv";
  EXPECT_FALSE(run(in, options, &result, &error));
  EXPECT_NE(error.find("cannot open settlement file"), std::string::npos) << error;
}

// ------------------------------------------------------------ output

TEST(Reconcile, JsonOutputUsesPlainIntegersAndEscapes) {
  // Proves the JSON form finance scripts read: plain integers, escaped text.
  std::vector<std::string> lines = correct_journal();
  lines.push_back("not a decision");
  lines.push_back(
      R"({"eventId":"ev-\"q\"\\x","shard":0,"seq":"3","partition":0,"offset":"99","outcome":"DUPLICATE"})");
  const std::string json = format_json(fold(lines));
  EXPECT_EQ(json.rfind("{\"balanced\":false,\"decisions\":18,\"violationCount\":2,", 0), 0u)
      << json;
  EXPECT_NE(json.find("{\"shard\":0,\"campaignId\":\"fest\",\"funderId\":\"gov\",\"budget\":7001,"
                      "\"available\":5150,\"reserved\":0,\"spent\":1851}"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"coupons\":{\"granted\":4,\"outstanding\":0,\"redeemed\":1,\"expired\":1,"
                      "\"void\":2}"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"line\":19,\"shard\":0,\"seq\":0,\"eventId\":\"\""), std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("line":20,"shard":0,"seq":3,"eventId":"ev-\"q\"\\x","message":"seq 3 of)"),
            std::string::npos)
      << json;
}

TEST(Reconcile, TableOutputNamesTheVerdict) {
  // Proves the human form leads with the verdict and lists each funder.
  const std::string table = format_table(fold(correct_journal()));
  EXPECT_EQ(table.rfind("BALANCED: 18 decisions, 0 violations\n", 0), 0u) << table;
  EXPECT_NE(table.find("fest"), std::string::npos);
  EXPECT_NE(table.find("5150"), std::string::npos);
}

}  // namespace
}  // namespace dangol::reconcile
