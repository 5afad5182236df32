// campaignctl reconcile (CONTRACT §4): an independent fold of the decision
// journal. It re-derives every funder balance, every coupon's lifecycle and
// every message-cash account from the effects alone (never from the engine)
// and checks DESIGN §4 after every decision, so finance can trust the journal
// without trusting the code that wrote it.
//
// A decision published in parts (CONTRACT §3 "Parts": records of at most 256
// effects with consecutive seqs) is gathered and folded as one decision, so
// every per-decision rule and count sees the whole of it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace dangol::reconcile {

struct FunderBalance {
  std::int32_t shard = 0;
  std::string campaign_id;
  std::string funder_id;
  std::int64_t budget = 0;
  std::int64_t available = 0;
  std::int64_t reserved = 0;
  std::int64_t spent = 0;
};

// Final coupon states (over all shards in Result::coupons).
struct CouponCounts {
  std::int64_t granted = 0;
  std::int64_t outstanding = 0;  // ISSUED
  std::int64_t redeemed = 0;
  std::int64_t expired = 0;
  std::int64_t voided = 0;
};

struct StoredCampaign {
  std::string campaign_id;
  CouponCounts coupons;
};

// What one shard's state store holds (`--state-dir`), read by the caller:
// this library links neither the engine nor the store.
struct StoredState {
  std::int32_t shard = 0;
  std::int64_t last_seq = 0;  // the store has decided seqs 1..last_seq (its next seq − 1)
  std::array<std::int64_t, 4> decisions_by_outcome{};  // by dangol.v1.Decision.Outcome number
  std::vector<FunderBalance> funders;                   // every funder of every campaign
  std::vector<StoredCampaign> campaigns;
};

struct Options {
  std::string settlement_csv_path;    // empty: no settlement matching
  std::size_t max_violations = 1000;  // keep at most this many (also settlement items), count all
  // Decisions held per shard while waiting for a missing seq. Journals merged
  // from several partitions are only locally out of order; past this window
  // the missing seqs are reported as a gap so memory stays bounded.
  std::size_t reorder_window = 200'000;
  // Compare the fold of stored_state->shard with it after the fold: every
  // difference is a violation.
  std::optional<StoredState> stored_state;
};

// One broken rule, at the decision that broke it. line is the 1-based line
// of the input; shard/seq/event_id are empty or 0 when the line is not a
// decision.
struct Violation {
  std::int64_t line = 0;
  std::int32_t shard = 0;
  std::int64_t seq = 0;
  std::string event_id;
  std::string message;
};

// status: "amount_mismatch", "missing_in_engine" or "missing_in_settlement".
struct SettlementItem {
  std::string coupon_id;
  std::string status;
  std::int64_t engine_discount = 0;
  std::int64_t settlement_discount = 0;
};

struct SettlementSummary {
  bool present = false;
  std::int64_t matched = 0;
  std::int64_t amount_mismatch = 0;
  std::int64_t missing_in_engine = 0;
  std::int64_t missing_in_settlement = 0;
  std::vector<SettlementItem> items;  // non-matched only, sorted by coupon id, bounded
};

// The comparison with a state store. Balances, coupon counts and decisions
// by outcome are compared only when the journal's last seq of the shard is
// the store's: otherwise one of them is ahead and they would differ anyway.
struct StateSummary {
  bool present = false;
  std::int32_t shard = 0;
  std::int64_t journal_last_seq = 0;
  std::int64_t stored_last_seq = 0;
  bool compared = false;
  std::int64_t differences = 0;  // each also a violation
};

struct Result {
  bool balanced = false;       // no violation and no settlement discrepancy
  // Decisions folded, a decision of several parts once; a repeated seq is not folded.
  std::int64_t decisions = 0;
  std::int64_t violation_count = 0;
  std::vector<Violation> violations;   // the first Options::max_violations
  std::vector<FunderBalance> funders;  // by shard, campaign id, then funder definition order
  CouponCounts coupons;
  SettlementSummary settlement;
  StateSummary state;
};

// Folds a decisions JSONL stream (blank lines ignored). Returns false and sets
// *error only for failures that stop the run: an unreadable settlement file,
// a settlement CSV without couponId/discount columns or with a malformed data
// row. Lines that are not decisions are violations, not errors.
bool run(std::istream& decisions_jsonl, const Options& options, Result* out, std::string* error);

// {"balanced":bool,"decisions":n,"violationCount":n,"violations":[…],
//  "funders":[…],"coupons":{…},"settlement":{…},"state":{…}} with plain JSON
// integers.
std::string format_json(const Result& result);

// For people: a verdict, the funder ledger, coupon counts, settlement, the
// state comparison and the kept violations.
std::string format_table(const Result& result);

}  // namespace dangol::reconcile
