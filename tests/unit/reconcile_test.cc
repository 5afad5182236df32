// Tests of the reconcile fold: a hand-written correct journal, then one
// mutation per rule the fold enforces.
#include "services/campaignctl/reconcile.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
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

// One record of shard 0 read from partition 0; part and parts only when
// parts is not 0, as json::append_decision writes them.
struct Record {
  std::int64_t seq = 0;
  std::string event_id;
  std::int64_t offset = 0;
  std::vector<std::string> effects;
  std::string outcome = "APPLIED";
  std::string reason;
  int part = 0;
  int parts = 0;
};

std::string record_line(const Record& r) {
  std::string text = R"({"eventId":")" + r.event_id + R"(","shard":0,"seq":")" +
                     std::to_string(r.seq) + R"(","partition":0,"offset":")" +
                     std::to_string(r.offset) + R"(","outcome":")" + r.outcome +
                     R"(","reason":")" + r.reason + R"(","effects":[)";
  for (std::size_t i = 0; i < r.effects.size(); ++i) text += (i ? "," : "") + r.effects[i];
  text += "]";
  if (r.parts != 0) {
    text += ",\"part\":" + std::to_string(r.part) + ",\"parts\":" + std::to_string(r.parts);
  }
  return text + "}";
}

// One decision of shard 0 read from partition 0 at offset seq − 1.
std::string decision(std::int64_t seq, const std::vector<std::string>& effects,
                     const std::string& outcome = "APPLIED", const std::string& reason = "",
                     std::int64_t offset = -1) {
  return record_line({.seq = seq,
                      .event_id = "ev-" + std::to_string(seq),
                      .offset = offset < 0 ? seq - 1 : offset,
                      .effects = effects,
                      .outcome = outcome,
                      .reason = reason});
}

// The records of one decision as campaignd publishes it (CONTRACT §3
// "Parts"): seqs first_seq…, each with the next `per_part` effects (256
// unless a test breaks the rule), all at offset first_seq − 1.
std::vector<Record> in_parts(std::int64_t first_seq, const std::vector<std::string>& effects,
                             std::size_t per_part = 256) {
  std::vector<Record> records;
  const int parts = static_cast<int>((effects.size() + per_part - 1) / per_part);
  for (int k = 0; k < parts; ++k) {
    const auto first = effects.begin() + static_cast<std::ptrdiff_t>(k * per_part);
    const auto last = effects.begin() +
                      static_cast<std::ptrdiff_t>(std::min(effects.size(), (k + 1) * per_part));
    records.push_back({.seq = first_seq + k,
                       .event_id = "ev-" + std::to_string(first_seq),
                       .offset = first_seq - 1,
                       .effects = {first, last},
                       .part = k + 1,
                       .parts = parts});
  }
  return records;
}

// `count` coupons of 2 (1 + 1), ids prefix0, prefix1, …
std::vector<std::string> grants(const std::string& prefix, int count) {
  std::vector<std::string> effects;
  for (int i = 0; i < count; ++i) effects.push_back(granted(prefix + std::to_string(i), 2, 1, 1));
  return effects;
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

// ------------------------------------------------------------ parts

std::vector<std::string> lines_of(const std::vector<Record>& records) {
  std::vector<std::string> lines;
  for (const Record& r : records) lines.push_back(record_line(r));
  return lines;
}

// The correct journal, then 600 grants in parts 256 + 256 + 88 at seqs
// 19..21 (offset 18), then a one-record decision at seq 22 (offset 19).
// Tests break `parts` before joining.
std::vector<std::string> journal_with_parts(const std::vector<Record>& parts) {
  std::vector<std::string> lines = correct_journal();
  for (const std::string& line : lines_of(parts)) lines.push_back(line);
  const std::int64_t next = 19 + static_cast<std::int64_t>(parts.size());
  lines.push_back(decision(next, {budget_adjusted("gov", 1)}, "APPLIED", "", /*offset=*/19));
  return lines;
}

std::vector<Record> six_hundred_grants() { return in_parts(19, grants("p", 600)); }

TEST(Reconcile, PartsFoldAsOneDecision) {
  // Proves the parts of a decision share one (partition, offset), count as
  // one decision, and move the money of all their effects.
  const std::vector<Record> parts = six_hundred_grants();
  ASSERT_EQ(parts.size(), 3u);
  ASSERT_EQ(parts[2].effects.size(), 88u);
  const Result result = fold(journal_with_parts(parts));
  EXPECT_TRUE(result.balanced) << messages(result);
  EXPECT_EQ(result.decisions, 20);
  EXPECT_EQ(result.coupons.granted, 604);
  EXPECT_EQ(result.coupons.outstanding, 600);
  EXPECT_EQ(result.funders[0].reserved, 600);
  EXPECT_EQ(result.funders[1].reserved, 600);
  EXPECT_EQ(result.funders[0].budget, 7002);
}

TEST(Reconcile, PartsInAnyLineOrderFoldBySeq) {
  // Proves parts are gathered in seq order, not line order.
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::vector<std::string> lines = journal_with_parts(six_hundred_grants());
  const Result ordered = fold(lines);
  std::shuffle(lines.begin(), lines.end(), std::mt19937(seed));
  const Result shuffled = fold(lines);
  EXPECT_TRUE(shuffled.balanced) << messages(shuffled);
  EXPECT_EQ(format_json(shuffled), format_json(ordered));
}

TEST(Reconcile, SecondDecisionAtThePartsPosition) {
  // Proves parts share their position, but another decision there is
  // still a second decision for it.
  std::vector<std::string> lines = journal_with_parts(six_hundred_grants());
  lines.push_back(decision(23, {}, "DUPLICATE", "", /*offset=*/18));
  expect_single_violation(fold(lines), 23, "partition 0 offset 18 already has a decision");
}

TEST(Reconcile, MissingMiddlePart) {
  // Proves a missing part is named, and what arrived is still folded once.
  std::vector<Record> parts = six_hundred_grants();
  parts.erase(parts.begin() + 1);
  std::vector<std::string> lines = journal_with_parts(parts);
  lines.back() = decision(22, {budget_adjusted("gov", 1)}, "APPLIED", "", 19);
  const Result result = fold(lines);
  EXPECT_FALSE(result.balanced);
  ASSERT_EQ(result.violation_count, 2) << messages(result);
  EXPECT_EQ(result.violations[0].message,
            "seq gap in shard 0: expected seq 20, next is 21 (1 missing)");
  EXPECT_EQ(result.violations[1].seq, 21);
  EXPECT_EQ(result.violations[1].event_id, "ev-19");
  EXPECT_EQ(result.violations[1].message, "part 2 of 3 is missing");
  EXPECT_EQ(result.decisions, 20);
  EXPECT_EQ(result.coupons.granted, 4 + 256 + 88);
}

TEST(Reconcile, JournalEndsBeforeTheLastPart) {
  // Proves a decision cut off by the end of the journal is reported.
  std::vector<std::string> lines = correct_journal();
  std::vector<Record> parts = six_hundred_grants();
  parts.pop_back();
  for (const std::string& line : lines_of(parts)) lines.push_back(line);
  const Result result = fold(lines);
  expect_single_violation(result, 20, "part 3 of 3 is missing: the journal ends");
  EXPECT_EQ(result.decisions, 19);
}

TEST(Reconcile, NextDecisionBeforeTheLastPart) {
  // Proves a decision cut off by the next decision is reported.
  std::vector<Record> parts = six_hundred_grants();
  parts.pop_back();
  expect_single_violation(fold(journal_with_parts(parts)), 20,
                          "part 3 of 3 is missing: the next record, seq 21, is a decision of "
                          "one record");
}

TEST(Reconcile, FirstPartMissing) {
  // Proves a decision whose records begin after part 1 is reported.
  std::vector<Record> parts = six_hundred_grants();
  parts.erase(parts.begin());
  for (Record& r : parts) --r.seq;
  expect_single_violation(fold(journal_with_parts(parts)), 19,
                          "part 1 of 3 is missing: the decision's first record is part 2");
}

TEST(Reconcile, RepeatedPart) {
  // Proves a part published twice (at two seqs) is reported and folded once.
  std::vector<Record> parts = six_hundred_grants();
  parts.insert(parts.begin() + 2, parts[1]);
  for (std::size_t i = 0; i < parts.size(); ++i) parts[i].seq = 19 + static_cast<std::int64_t>(i);
  const Result result = fold(journal_with_parts(parts));
  expect_single_violation(result, 21, "part 2 of 3 is repeated (seq 20 has it); not folded");
  EXPECT_EQ(result.coupons.granted, 604);
}

TEST(Reconcile, PartNumberOutOfRange) {
  // Proves a part number beyond parts is reported (and part 3 then missing).
  std::vector<Record> parts = six_hundred_grants();
  parts[2].part = 4;
  const Result result = fold(journal_with_parts(parts));
  EXPECT_FALSE(result.balanced);
  ASSERT_EQ(result.violation_count, 2) << messages(result);
  EXPECT_EQ(result.violations[0].seq, 21);
  EXPECT_EQ(result.violations[0].message, "part 4 of 3: part number out of 1..3");
  EXPECT_EQ(result.violations[1].message,
            "part 3 of 3 is missing: the next record, seq 22, is a decision of one record");
}

TEST(Reconcile, PartsDisagreeOnTheirCount) {
  // Proves every part must say the same parts.
  std::vector<Record> parts = six_hundred_grants();
  parts[1].parts = 4;
  expect_single_violation(fold(journal_with_parts(parts)), 20,
                          "part 2 of 4: parts 4, the decision's first part (seq 19) has parts 3");
}

TEST(Reconcile, PartsDisagreeOnEchoFields) {
  // Proves every part repeats the decision's echo fields.
  std::vector<Record> parts = six_hundred_grants();
  parts[1].offset = 99;
  parts[2].event_id = "ev-other";
  const Result result = fold(journal_with_parts(parts));
  ASSERT_EQ(result.violation_count, 2) << messages(result);
  EXPECT_EQ(result.violations[0].seq, 20);
  EXPECT_EQ(result.violations[0].message,
            "part 2 of 3: offset \"99\", the decision's first part (seq 19) has \"18\"");
  EXPECT_EQ(result.violations[1].seq, 21);
  EXPECT_EQ(result.violations[1].message,
            "part 3 of 3: eventId \"ev-other\", the decision's first part (seq 19) has \"ev-19\"");
}

TEST(Reconcile, PartOverTheEffectLimit) {
  // Proves no part carries more than 256 effects.
  const Result result = fold(journal_with_parts(in_parts(19, grants("p", 600), 300)));
  ASSERT_EQ(result.violation_count, 2) << messages(result);
  EXPECT_EQ(result.violations[0].seq, 19);
  EXPECT_EQ(result.violations[0].message, "part 1 of 2 carries 300 effects, more than 256");
  EXPECT_EQ(result.violations[1].message, "part 2 of 2 carries 300 effects, more than 256");
}

TEST(Reconcile, PartShortOfTheEffectLimitBeforeTheLast) {
  // Proves every part but the last is full.
  std::vector<Record> parts = six_hundred_grants();
  parts[1].effects.pop_back();
  parts[2].effects.push_back(granted("p600", 2, 1, 1));
  expect_single_violation(
      fold(journal_with_parts(parts)), 20,
      "part 2 of 3 carries 255 effects; every part but the last carries exactly 256");
}

TEST(Reconcile, OneRecordOverTheEffectLimit) {
  // Proves a decision of more than 256 effects must come in parts.
  expect_single_violation(fold(correct_journal_plus(grants("p", 257))), 19,
                          "decision of one record carries 257 effects, more than 256: it must be "
                          "published in parts");
}

TEST(Reconcile, AlertsComeLastAcrossParts) {
  // Proves the order rules are of the decision: an alert at the end of
  // part 1 is not last when part 2 carries effects.
  std::vector<std::string> effects = grants("p", 255);
  effects.push_back(threshold("gov", 2000));
  effects.push_back(granted("q", 2, 1, 1));
  expect_single_violation(fold(journal_with_parts(in_parts(19, effects))), 20,
                          "couponGranted effect comes after thresholdCrossed (alerts come last)");
}

TEST(Reconcile, ExpiryFirstAcrossParts) {
  // Proves an expiry release opening part 2 still comes after part 1's grants.
  std::vector<std::string> lines = correct_journal_plus({granted("x", 2, 1, 1)});
  std::vector<std::string> effects = grants("p", 256);
  effects.push_back(released("x", "m1", 2, 1, 1, "EXPIRED"));
  for (const std::string& line : lines_of(in_parts(20, effects))) lines.push_back(line);
  expect_single_violation(fold(lines), 21, "expiry release comes after a non-expiry effect");
}

TEST(Reconcile, CampaignDefinedAcrossParts) {
  // Proves a campaign whose budgetSet effects span parts is defined once,
  // by the decision, not again by its second part.
  std::vector<std::string> effects;
  for (int f = 0; f < 300; ++f) {
    effects.push_back(R"({"budgetSet":{"campaignId":"wide","funderId":"f)" + std::to_string(f) +
                      R"(","budget":"10"}})");
  }
  const Result result = fold(journal_with_parts(in_parts(19, effects)));
  EXPECT_TRUE(result.balanced) << messages(result);
  EXPECT_EQ(result.funders.size(), 2u + 300u);
}

// ------------------------------------------------------------ state store

// What a store that decided the correct journal holds.
StoredState stored_correct_journal() {
  StoredState stored;
  stored.last_seq = 18;
  stored.decisions_by_outcome = {15, 1, 1, 1};  // APPLIED, REJECTED, DUPLICATE, INVALID
  stored.funders = {{0, "fest", "gov", 7001, 5150, 0, 1851},
                    {0, "fest", "bank", 8000, 6150, 0, 1850}};
  stored.campaigns = {{"fest", {.granted = 4, .redeemed = 1, .expired = 1, .voided = 2}}};
  return stored;
}

Result fold_against(const StoredState& stored, std::vector<std::string> lines = correct_journal()) {
  Options options;
  options.stored_state = stored;
  return fold(lines, options);
}

TEST(Reconcile, StateThatMatchesTheFold) {
  // Proves a store with the fold's balances, coupons and outcomes agrees.
  const Result result = fold_against(stored_correct_journal());
  EXPECT_TRUE(result.balanced) << messages(result);
  EXPECT_TRUE(result.state.present);
  EXPECT_TRUE(result.state.compared);
  EXPECT_EQ(result.state.journal_last_seq, 18);
  EXPECT_EQ(result.state.differences, 0);
  EXPECT_NE(format_table(result).find("state dir: shard 0, last seq 18 in the store, 18 in the "
                                      "journal: 0 differences"),
            std::string::npos);
}

TEST(Reconcile, StateDifferencesNameWhatDiffers) {
  // Proves every compared figure is named with both values.
  StoredState stored = stored_correct_journal();
  stored.funders[0].spent = 1850;
  stored.funders.push_back({0, "fest", "city", 10, 10, 0, 0});
  stored.campaigns[0].coupons.redeemed = 2;
  stored.decisions_by_outcome[0] = 14;
  const Result result = fold_against(stored);
  EXPECT_FALSE(result.balanced);
  EXPECT_EQ(result.state.differences, 4);
  EXPECT_EQ(messages(result),
            "  seq 0: state dir: APPLIED decisions: journal 15, stored 14\n"
            "  seq 0: state dir: campaign fest funder gov: spent journal 1851, stored 1850\n"
            "  seq 0: state dir: campaign fest funder city: in the store (budget 10), not in the "
            "journal\n"
            "  seq 0: state dir: campaign fest coupons redeemed: journal 1, stored 2\n");
}

TEST(Reconcile, StateAheadOrOfAnotherShardIsNotCompared) {
  // Proves balances are compared only when the journal ends at the store's
  // last seq of the store's shard.
  StoredState ahead = stored_correct_journal();
  ahead.last_seq = 19;
  ahead.funders[0].spent = 0;
  const Result result = fold_against(ahead);
  expect_single_violation(result, 0,
                          "state dir: shard 0: the store's last seq is 19, the journal's is 18 "
                          "(the store is ahead by 1); balances not compared");
  EXPECT_FALSE(result.state.compared);
  StoredState other = stored_correct_journal();
  other.shard = 1;
  expect_single_violation(fold_against(other), 0,
                          "the store's last seq is 18, the journal's is 0 (the store is ahead");
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

// ------------------------------------------------------------ the real binaries
//
// A festival whose campaign closes after its last event: the close voids
// every outstanding coupon in one decision, which `campaignctl replay`
// writes in parts as campaignd publishes them. Then `campaignctl reconcile`
// on that journal, mutated, and against the replay's state dir.

namespace fs = std::filesystem;

std::string campaignctl() {
  if (const char* dir = std::getenv("DANGOL_BIN_DIR")) {
    return std::string(dir) + "/campaignctl/campaignctl";
  }
  // Run by hand: this binary is build/tests/unit/reconcile_test.
  const fs::path self = fs::read_symlink("/proc/self/exe");
  return (self.parent_path() / "../../services/campaignctl/campaignctl").lexically_normal();
}

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> read_lines(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

void write_lines(const fs::path& path, const std::vector<std::string>& lines) {
  std::ofstream(path, std::ios::binary) << join(lines);
}

std::string first_match(const std::string& text, const std::string& pattern) {
  std::smatch match;
  return std::regex_search(text, match, std::regex(pattern)) ? match[1].str() : "";
}

struct Exit {
  int exit_code = -1;
  std::string out, err;
};

class ReconcileCli : public testing::Test {
 protected:
  // Once per test process: the festival (f.jsonl), the festival closed
  // (closed.jsonl) and the journal of the closed festival (journal.jsonl).
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("dangol-reconcile-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    if (!fs::exists(campaignctl())) {
      setup_error_ = campaignctl() + " is not built (ninja -C build campaignctl)";
      return;
    }
    const Exit simulate = run("simulate festival --seed 7 --events 20000");
    std::ofstream(path("f.jsonl"), std::ios::binary) << simulate.out;
    campaign_ = first_match(simulate.out, R"re("campaignDefined":\{"campaignId":"([^"]+)")re");
    funder_ = first_match(simulate.out, R"re("funders":\[\{"funderId":"([^"]+)")re");
    const std::vector<std::string> events = read_lines(path("f.jsonl"));
    last_time_ = events.empty() ? "" : first_match(events.back(), R"re("occurredAt":"([^"]+)")re");
    if (simulate.exit_code != 0 || campaign_.empty() || funder_.empty() || last_time_.empty()) {
      setup_error_ = "simulate failed: " + simulate.err;
      return;
    }
    write_lines(path("closed.jsonl"), with(events, event("close", "campaignStatusChanged",
                                                           R"("status":"CLOSED")")));
    const Exit replay =
        run("replay --events " + path("closed.jsonl") + " --decisions " + path("journal.jsonl"));
    if (replay.exit_code != 0) setup_error_ = "replay failed: " + replay.err;
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  void SetUp() override {
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
    fs::remove_all(path("state"));  // each test's replay starts a new store
  }

  static std::string path(const std::string& name) { return (dir_ / name).string(); }

  // Runs campaignctl with `args` (shell words), capturing stdout and stderr.
  static Exit run(const std::string& args) {
    const std::string out = path("stdout"), err = path("stderr");
    const std::string command =
        campaignctl() + " " + args + " >" + out + " 2>" + err + " </dev/null";
    const int status = std::system(command.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), read_all(out),
            read_all(err)};
  }

  // An event of the festival's campaign at the time of its last event.
  static std::string event(const std::string& id, const std::string& kind,
                           const std::string& fields) {
    return R"({"eventId":")" + id + R"(","occurredAt":")" + last_time_ + R"(",")" + kind +
           R"(":{"campaignId":")" + campaign_ + R"(",)" + fields + "}}";
  }

  static std::vector<std::string> with(std::vector<std::string> lines, const std::string& line) {
    lines.push_back(line);
    return lines;
  }

  static Exit reconcile(const std::vector<std::string>& journal, const std::string& more = "") {
    write_lines(path("mutated.jsonl"), journal);
    return run("reconcile --decisions " + path("mutated.jsonl") + more);
  }

  // The journal's lines and the index of the line of part `part`.
  static std::size_t part_line(const std::vector<std::string>& lines, int part) {
    const std::string needle = "\"part\":" + std::to_string(part) + ",\"parts\":";
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (lines[i].find(needle) != std::string::npos) return i;
    }
    ADD_FAILURE() << "no line has " << needle;
    return 0;
  }

  static int parts_of_close(const std::vector<std::string>& lines) {
    return std::stoi(first_match(lines.back(), R"re("parts":(\d+))re"));
  }

  static std::string seq_of(const std::string& line) {
    return first_match(line, R"re("seq":"(\d+)")re");
  }

  static inline fs::path dir_;
  static inline std::string setup_error_, campaign_, funder_, last_time_;
};

TEST_F(ReconcileCli, FestivalClosedInPartsBalances) {
  // Proves a real journal with a decision in parts reconciles, the parts
  // counted as one decision.
  const std::vector<std::string> journal = read_lines(path("journal.jsonl"));
  const int parts = parts_of_close(journal);
  ASSERT_GE(parts, 3) << journal.back().substr(0, 300);
  EXPECT_EQ(journal.size(), 20000u + static_cast<std::size_t>(parts));
  const Exit result = reconcile(journal);
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_EQ(result.out.rfind("BALANCED: 20001 decisions, 0 violations\n", 0), 0u) << result.out;
}

TEST_F(ReconcileCli, DroppedPartIsNamed) {
  std::vector<std::string> journal = read_lines(path("journal.jsonl"));
  const int parts = parts_of_close(journal);
  journal.erase(journal.begin() + static_cast<std::ptrdiff_t>(part_line(journal, 2)));
  const Exit result = reconcile(journal);
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_NE(result.out.find("part 2 of " + std::to_string(parts) + " is missing"),
            std::string::npos)
      << result.out;
}

TEST_F(ReconcileCli, DroppedLastPartIsNamed) {
  std::vector<std::string> journal = read_lines(path("journal.jsonl"));
  const int parts = parts_of_close(journal);
  journal.pop_back();
  const Exit result = reconcile(journal);
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_NE(result.out.find("part " + std::to_string(parts) + " of " + std::to_string(parts) +
                            " is missing: the journal ends"),
            std::string::npos)
      << result.out;
}

TEST_F(ReconcileCli, DuplicatedPartIsNamed) {
  std::vector<std::string> journal = read_lines(path("journal.jsonl"));
  const std::size_t second = part_line(journal, 2);
  const std::string seq = seq_of(journal[second]);
  journal.insert(journal.begin() + static_cast<std::ptrdiff_t>(second), journal[second]);
  const Exit result = reconcile(journal);
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_NE(result.out.find("seq " + seq + " of shard 0 is repeated"), std::string::npos)
      << result.out;
}

TEST_F(ReconcileCli, ChangedPartCountIsNamed) {
  std::vector<std::string> journal = read_lines(path("journal.jsonl"));
  const int parts = parts_of_close(journal);
  std::string& second = journal[part_line(journal, 2)];
  const std::string was = "\"parts\":" + std::to_string(parts);
  second.replace(second.rfind(was), was.size(), "\"parts\":" + std::to_string(parts + 1));
  const std::string first_seq = seq_of(journal[part_line(journal, 1)]);
  const Exit result = reconcile(journal);
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_NE(result.out.find("part 2 of " + std::to_string(parts + 1) + ": parts " +
                            std::to_string(parts + 1) + ", the decision's first part (seq " +
                            first_seq + ") has parts " + std::to_string(parts)),
            std::string::npos)
      << result.out;
}

TEST_F(ReconcileCli, SwappedPartLinesStillBalance) {
  // Proves parts are folded by seq: their order in the file does not matter.
  std::vector<std::string> journal = read_lines(path("journal.jsonl"));
  std::swap(journal[part_line(journal, 2)], journal[part_line(journal, 3)]);
  const Exit result = reconcile(journal);
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
}

TEST_F(ReconcileCli, StateDirAgreesWithItsJournal) {
  // Proves --state-dir compares balances, coupons and decisions by outcome
  // (the parts of the close counted once on both sides), and finds none.
  const Exit replay = run("replay --state-dir " + path("state") + " --events " +
                         path("closed.jsonl") + " --decisions " + path("stored.jsonl"));
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  const Exit result = run("reconcile --decisions " + path("stored.jsonl") + " --state-dir " +
                         path("state") + " --format json");
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  const std::string last = std::to_string(read_lines(path("stored.jsonl")).size());
  EXPECT_NE(result.out.find("\"state\":{\"present\":true,\"shard\":0,\"journalLastSeq\":" +
                            last + ",\"storedLastSeq\":" + last +
                            ",\"compared\":true,\"differences\":0}"),
            std::string::npos)
      << result.out;
}

TEST_F(ReconcileCli, StateDirAheadOfTheJournal) {
  // Proves a journal that stops short of the store is reported by seq, not
  // as a difference in every balance.
  const Exit replay = run("replay --state-dir " + path("state") + " --events " +
                         path("closed.jsonl") + " --decisions " + path("stored.jsonl"));
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  std::vector<std::string> journal = read_lines(path("stored.jsonl"));
  const std::size_t last = journal.size();
  journal.pop_back();
  const Exit result = reconcile(journal, " --state-dir " + path("state"));
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_NE(result.out.find("state dir: shard 0: the store's last seq is " + std::to_string(last) +
                            ", the journal's is " + std::to_string(last - 1) +
                            " (the store is ahead by 1); balances not compared"),
            std::string::npos)
      << result.out;
  EXPECT_EQ(result.out.find("budget journal"), std::string::npos) << result.out;
}

TEST_F(ReconcileCli, StateDirOfAnotherRunNamesTheFunder) {
  // Proves balances are compared: the same events but for one budget
  // adjustment give a journal and a store as long as each other whose
  // funder differs by the adjustment.
  const std::vector<std::string> events = read_lines(path("f.jsonl"));
  const auto adjust = [&](int delta) {
    return event("adjust", "budgetAdjusted",
                 R"("funderId":")" + funder_ + R"(","delta":")" + std::to_string(delta) + "\"");
  };
  write_lines(path("plus1000.jsonl"), with(events, adjust(1000)));
  write_lines(path("plus2000.jsonl"), with(events, adjust(2000)));
  const Exit replay = run("replay --state-dir " + path("state") + " --events " +
                         path("plus2000.jsonl") + " --decisions /dev/null");
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  ASSERT_EQ(run("replay --events " + path("plus1000.jsonl") + " --decisions " +
                path("journal1000.jsonl"))
                .exit_code,
            0);
  const Exit result = run("reconcile --decisions " + path("journal1000.jsonl") + " --state-dir " +
                         path("state"));
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  const std::string who = "state dir: campaign " + campaign_ + " funder " + funder_ + ": ";
  EXPECT_NE(result.out.find(who + "budget journal "), std::string::npos) << result.out;
  EXPECT_NE(result.out.find(who + "available journal "), std::string::npos) << result.out;
  EXPECT_NE(result.out.find(": 2 differences"), std::string::npos) << result.out;
}

TEST_F(ReconcileCli, MissingOrForeignStateDirIsARuntimeError) {
  // Proves a --state-dir that is not a store stops with exit 3 and one line,
  // and that reconcile does not create a store there.
  const std::string journal = " --decisions " + path("journal.jsonl");
  const Exit missing = run("reconcile" + journal + " --state-dir " + path("nowhere"));
  EXPECT_EQ(missing.exit_code, 3);
  EXPECT_EQ(missing.err, "campaignctl: --state-dir " + path("nowhere") + ": no such directory\n");
  EXPECT_FALSE(fs::exists(path("nowhere")));
  fs::create_directories(path("empty"));
  const Exit empty = run("reconcile" + journal + " --state-dir " + path("empty"));
  EXPECT_EQ(empty.exit_code, 3);
  EXPECT_EQ(empty.err, "campaignctl: --state-dir " + path("empty") +
                           ": not a state store (no RocksDB CURRENT file)\n");
  EXPECT_TRUE(fs::is_empty(path("empty")));
}

}  // namespace
}  // namespace dangol::reconcile
