// The reconcile fold. It deliberately shares no code with engine/: a bug in
// the engine's ledger must not be able to hide itself by being reused here.
//
// Model. Per shard (shards are independent engines, CONTRACT §2) the fold
// keeps, re-derived from effects only:
//  * per (campaign, funder) a Ledger: budget, available, reserved, spent as
//    the effects move them, plus `outstanding`, the sum of the reservations
//    the fold itself still holds for that funder;
//  * per coupon its state and per-funder parts;
//  * per (campaign, merchant) the remaining message-cash parts.
// An effect that cannot be mapped onto funders (wrong funder list, negative
// part, unknown coupon or campaign) is reported and not folded. An effect
// whose numbers are wrong is reported and folded as written, because the
// engine did move those amounts; the ledger check after the decision then
// shows where the money went.
//
// Parts (CONTRACT §3). A decision of more than 256 effects comes as n
// records with consecutive seqs. They reach take() in seq order and are
// gathered until part n, then folded as one decision: expiry first, alerts
// last, one decision per (partition, offset) and every count are rules of
// the whole decision, not of a record. Only one decision per shard is held.
#include "services/campaignctl/reconcile.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <initializer_list>
#include <istream>
#include <iterator>
#include <map>
#include <queue>
#include <span>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "dangol.pb.h"

namespace dangol::reconcile {
namespace {

namespace v1 = ::dangol::v1;
using absl::StrCat;
using Split = google::protobuf::RepeatedPtrField<v1::FunderAmount>;

// The one parsing seam; dangol::json::parse_decision has the same contract
// and will replace the body.
bool parse_decision(std::string_view line, v1::Decision* decision, std::string* error) {
  decision->Clear();
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(line.data(), line.size()), decision);
  if (status.ok()) return true;
  *error = status.ToString();
  return false;
}

// ------------------------------------------------------------------ model

// One amount per funder of a campaign, in definition order. Two inline
// slots cover the usual 1+1 co-funding without a heap allocation.
using Parts = absl::InlinedVector<std::int64_t, 2>;

enum class CouponState : std::uint8_t { kIssued, kRedeemed, kExpired, kVoid };

absl::string_view state_name(CouponState state) {
  switch (state) {
    case CouponState::kIssued:
      return "ISSUED";
    case CouponState::kRedeemed:
      return "REDEEMED";
    case CouponState::kExpired:
      return "EXPIRED";
    case CouponState::kVoid:
      return "VOID";
  }
  return "?";
}

// Kept for every coupon ever granted (ids are never reused), so it is small.
struct Coupon {
  std::uint32_t campaign = 0;  // index into Shard::campaigns
  CouponState state = CouponState::kIssued;
  bool settled_ever = false;      // known to the engine's settlement side
  std::int64_t net_discount = 0;  // settled discounts − spentReturned
  Parts held;                     // ISSUED: reserved parts; REDEEMED: settled discount parts
  Parts released;  // REDEEMED: parts released at settlement, re-reserved by a restore
};

struct Ledger {
  std::int64_t budget = 0;
  std::int64_t available = 0;
  std::int64_t reserved = 0;
  std::int64_t spent = 0;
  std::int64_t outstanding = 0;  // Σ reservations held by the fold; must equal reserved
};
using Column = std::int64_t Ledger::*;

absl::string_view column_name(Column column) {
  if (column == &Ledger::budget) return "budget";
  if (column == &Ledger::available) return "available";
  if (column == &Ledger::reserved) return "reserved";
  if (column == &Ledger::spent) return "spent";
  return "outstanding";
}

// Bits of Funder::broken: which ledger invariants are currently broken, so
// each breakage is reported once when it happens, not after every decision.
enum : std::uint8_t { kBrokenEquation = 1, kBrokenNegative = 2, kBrokenUnbacked = 4 };

struct Funder {
  std::string id;
  Ledger ledger;
  std::vector<std::int32_t> thresholds_crossed_bps;
  std::uint8_t broken = 0;
};

struct Campaign {
  std::string id;
  std::uint32_t index = 0;
  std::int64_t defined_seq = 0;  // the decision whose budgetSet effects define the funders
  std::vector<Funder> funders;
  absl::flat_hash_map<std::string, Parts> message_cash_by_merchant;  // remaining parts
};

// CONTRACT §3 "Parts": no record carries more effects than this.
constexpr int kMaxEffectsPerRecord = 256;

struct PendingDecision {
  std::int64_t line = 0;
  v1::Decision decision;
};

struct Shard {
  std::int64_t next_seq = 1;
  std::map<std::int64_t, PendingDecision> pending;  // arrived ahead of next_seq
  // The parts of a decision gathered so far, in seq order, and the part
  // number expected next; empty between decisions.
  std::vector<PendingDecision> gathered;
  std::int64_t next_part = 0;
  std::array<std::int64_t, 4> outcomes{};  // decisions folded, by outcome number
  std::deque<Campaign> campaigns;  // deque: references stay valid as campaigns are added
  absl::flat_hash_map<std::string, std::uint32_t> campaign_by_id;
  absl::flat_hash_map<std::string, Coupon> coupons;
};

// Offsets seen in one partition as disjoint runs first -> last. A journal's
// offsets are nearly contiguous, so this stays tiny where a set would not.
class OffsetRuns {
 public:
  // False when the offset was already seen.
  bool insert(std::int64_t offset) {
    auto after = runs_.upper_bound(offset);
    if (after != runs_.begin()) {
      auto before = std::prev(after);
      if (offset <= before->second) return false;
      if (before->second + 1 == offset) {
        before->second = offset;
        if (after != runs_.end() && after->first - 1 == offset) {
          before->second = after->second;
          runs_.erase(after);
        }
        return true;
      }
    }
    if (after != runs_.end() && after->first - 1 == offset) {
      const std::int64_t last = after->second;
      runs_.erase(after);
      runs_.emplace(offset, last);
      return true;
    }
    runs_.emplace(offset, offset);
    return true;
  }

 private:
  std::map<std::int64_t, std::int64_t> runs_;
};

std::int64_t sum_or_max(const Parts& parts) {
  std::int64_t sum = 0;
  for (std::int64_t part : parts) {
    if (__builtin_add_overflow(sum, part, &sum)) return INT64_MAX;
  }
  return sum;
}

std::string describe(const Campaign& campaign, const Parts& parts) {
  std::string text;
  for (std::size_t i = 0; i < parts.size() && i < campaign.funders.size(); ++i) {
    absl::StrAppend(&text, i == 0 ? "" : " ", campaign.funders[i].id, "=", parts[i]);
  }
  return text;
}

bool is_expiry(const v1::Effect& effect) {
  return effect.has_reservation_released() &&
         effect.reservation_released().cause() == v1::ReservationReleased::EXPIRED;
}

std::string outcome_name(v1::Decision::Outcome outcome) {
  const std::string& name = v1::Decision::Outcome_Name(outcome);
  return name.empty() ? StrCat("outcome ", static_cast<int>(outcome)) : name;
}

std::string effect_name(const v1::Effect& effect) {
  const auto* field = effect.GetDescriptor()->FindFieldByNumber(effect.kind_case());
  return field == nullptr ? "empty effect" : field->json_name();
}

// ------------------------------------------------------------------ fold

class Fold {
 public:
  Fold(const Options& options, Result* out) : options_(options), out_(out) {}

  void add_line(std::int64_t line, std::string_view text);
  // Folds what still waits behind a gap and fills the result's balances.
  void finish();
  // Engine side of settlement matching: net discount of every coupon that
  // was ever settled, over all shards.
  absl::flat_hash_map<absl::string_view, std::int64_t> settled_nets();
  // After finish(): the fold of the store's shard against the store.
  void compare_state(const StoredState& stored, StateSummary* summary);

 private:
  void report(std::int64_t line, const v1::Decision* decision, std::string message);
  void violate(std::string message) { report(line_, decision_, std::move(message)); }

  void accept(std::int64_t line, v1::Decision decision);
  void drain(Shard& shard, bool to_end);
  void take(Shard& shard, PendingDecision& record);
  void check_record_shape(const PendingDecision& record);
  void start_parts(Shard& shard, PendingDecision& record);
  void add_part(Shard& shard, PendingDecision& record);
  void check_echo(const PendingDecision& first, const PendingDecision& part);
  void end_parts(Shard& shard, absl::string_view why);
  void fold_gathered(Shard& shard);
  void fold(Shard& shard, std::span<const PendingDecision> records);
  void check_partition_offset(const v1::Decision& decision);
  void check_reason(const v1::Decision& decision);
  bool admit(const v1::Decision& decision, const v1::Effect& effect, bool* past_expiry,
             bool* past_thresholds);
  void apply(const v1::Effect& effect);

  void budget_set(const v1::BudgetSet& effect);
  void budget_adjusted(const v1::BudgetAdjustedEffect& effect);
  void coupon_granted(const v1::CouponGranted& effect);
  void redemption_settled(const v1::RedemptionSettled& effect);
  void coupon_released(const v1::ReservationReleased& effect);
  void message_cash_released(const v1::ReservationReleased& effect);
  void redemption_reversed(const v1::RedemptionReversedEffect& effect);
  void message_cash_granted(const v1::MessageCashGranted& effect);
  // The merchant's remaining message cash parts, or a violation and null.
  Parts* message_cash(const std::string& what, Campaign& campaign, const std::string& merchant_id);
  void message_charged(const v1::MessageCharged& effect);
  void threshold_crossed(const v1::ThresholdCrossed& effect);

  Campaign* find_campaign(absl::string_view what, const std::string& campaign_id);
  Funder* find_funder(absl::string_view what, Campaign& campaign, const std::string& funder_id);
  Coupon* find_coupon(absl::string_view what, const std::string& coupon_id,
                      const std::string& campaign_id, CouponState required);
  bool read_split(absl::string_view what, const Campaign& campaign, const Split& split,
                  std::int64_t total, Parts* parts);
  void expect_parts(absl::string_view what, const Campaign& campaign, const Parts& got,
                    const Parts& want, absl::string_view want_name);

  struct Posting {
    Column column;
    std::int64_t delta;
  };
  void post(Campaign& campaign, std::size_t funder, std::initializer_list<Posting> postings);
  void check_touched_funders();
  void check_funder(const Campaign& campaign, Funder& funder);

  void compare_outcomes(const Shard& shard, const StoredState& stored);
  void compare_funders(const StoredState& stored);
  void compare_coupons(const Shard& shard, const StoredState& stored);
  void differ(std::int32_t shard, std::string message);

  const Options& options_;
  Result* out_;
  std::map<std::int32_t, Shard> shards_;
  absl::flat_hash_map<std::int32_t, OffsetRuns> offsets_by_partition_;

  // The decision being folded, for violations and effect lookups: the
  // record (part) that holds the effect and the seq of the decision's first.
  Shard* shard_ = nullptr;
  std::int64_t line_ = 0;
  const v1::Decision* decision_ = nullptr;
  std::int64_t decision_seq_ = 0;
  StateSummary* state_summary_ = nullptr;
  std::vector<std::pair<Campaign*, std::size_t>> touched_;
};

void Fold::report(std::int64_t line, const v1::Decision* decision, std::string message) {
  ++out_->violation_count;
  if (out_->violations.size() >= options_.max_violations) return;
  Violation violation{.line = line, .message = std::move(message)};
  if (decision != nullptr) {
    violation.shard = decision->shard();
    violation.seq = decision->seq();
    violation.event_id = decision->event_id();
  }
  out_->violations.push_back(std::move(violation));
}

void Fold::add_line(std::int64_t line, std::string_view text) {
  if (std::all_of(text.begin(), text.end(), absl::ascii_isspace)) return;
  v1::Decision decision;
  std::string error;
  if (!parse_decision(text, &decision, &error)) {
    report(line, nullptr, StrCat("not a decision: ", error));
    return;
  }
  accept(line, std::move(decision));
}

// Decisions are folded per shard in seq order. Out-of-order lines wait in
// `pending` until the seqs before them arrive (or the window overflows).
void Fold::accept(std::int64_t line, v1::Decision decision) {
  Shard& shard = shards_[decision.shard()];
  const std::int64_t seq = decision.seq();
  if (seq < 1) {
    report(line, &decision, StrCat("seq ", seq, " is not valid: seqs start at 1"));
    return;
  }
  if (seq < shard.next_seq || shard.pending.contains(seq)) {
    report(line, &decision,
           StrCat("seq ", seq, " of shard ", decision.shard(),
                  " is repeated (or arrived after its gap was reported); not folded"));
    return;
  }
  shard.pending.emplace(seq, PendingDecision{line, std::move(decision)});
  drain(shard, /*to_end=*/false);
}

void Fold::drain(Shard& shard, bool to_end) {
  while (!shard.pending.empty()) {
    auto first = shard.pending.begin();
    if (first->first != shard.next_seq) {
      if (!to_end && shard.pending.size() <= options_.reorder_window) return;
      report(first->second.line, &first->second.decision,
             StrCat("seq gap in shard ", first->second.decision.shard(), ": expected seq ",
                    shard.next_seq, ", next is ", first->first, " (", first->first - shard.next_seq,
                    " missing)"));
    }
    take(shard, first->second);
    shard.next_seq = first->first + 1;
    shard.pending.erase(first);
  }
}

// Records arrive in seq order. A decision of one record is folded at once;
// the parts of one are gathered and folded together after the last part,
// or as far as they go when a record that is not a later part comes next.
void Fold::take(Shard& shard, PendingDecision& record) {
  check_record_shape(record);
  const v1::Decision& decision = record.decision;
  const bool later_part = decision.parts() != 0 && decision.part() != 1;
  if (!shard.gathered.empty()) {
    if (later_part) return add_part(shard, record);
    end_parts(shard, StrCat("the next record, seq ", decision.seq(), ", ",
                            decision.parts() == 0 ? "is a decision of one record"
                                                  : "starts another decision"));
  }
  if (decision.parts() == 0) return fold(shard, std::span(&record, 1));
  start_parts(shard, record);
}

// The rules of one record, whichever decision it belongs to.
void Fold::check_record_shape(const PendingDecision& record) {
  const v1::Decision& d = record.decision;
  const int effects = d.effects_size();
  const auto wrong = [&](std::string message) { report(record.line, &d, std::move(message)); };
  if (d.parts() == 0) {
    if (d.part() != 0) wrong(StrCat("part ", d.part(), " without parts"));
    if (effects > kMaxEffectsPerRecord) {
      wrong(StrCat("decision of one record carries ", effects, " effects, more than ",
                   kMaxEffectsPerRecord, ": it must be published in parts"));
    }
    return;
  }
  const std::string part = StrCat("part ", d.part(), " of ", d.parts());
  if (d.parts() < 2) {
    return wrong(StrCat(part, ": a decision of one record has neither part nor parts"));
  }
  if (d.part() < 1 || d.part() > d.parts()) {
    return wrong(StrCat(part, ": part number out of 1..", d.parts()));
  }
  if (effects > kMaxEffectsPerRecord) {
    wrong(StrCat(part, " carries ", effects, " effects, more than ", kMaxEffectsPerRecord));
  } else if (d.part() < d.parts() && effects != kMaxEffectsPerRecord) {
    wrong(StrCat(part, " carries ", effects, " effects; every part but the last carries exactly ",
                 kMaxEffectsPerRecord));
  } else if (effects == 0) {
    wrong(StrCat(part, " carries no effects: the last part carries at least one"));
  }
}

std::string missing_parts(std::int64_t first, std::int64_t last, std::int64_t parts) {
  if (first == last) return StrCat("part ", first, " of ", parts, " is missing");
  return StrCat("parts ", first, "..", last, " of ", parts, " are missing");
}

void Fold::start_parts(Shard& shard, PendingDecision& record) {
  const std::int64_t part = record.decision.part();
  const std::int64_t parts = record.decision.parts();
  if (part > 1 && part <= parts) {
    report(record.line, &record.decision,
           StrCat(missing_parts(1, part - 1, parts), ": the decision's first record is part ",
                  part));
  }
  shard.next_part = std::max<std::int64_t>(part, 1) + 1;
  shard.gathered.push_back(std::move(record));
  if (shard.next_part > parts) fold_gathered(shard);
}

// A part must be the next one of the decision being gathered, and say what
// its first part says. A part seen already is not folded again.
void Fold::add_part(Shard& shard, PendingDecision& record) {
  const PendingDecision& first = shard.gathered.front();
  const std::int64_t parts = first.decision.parts();
  const v1::Decision& d = record.decision;
  const auto wrong = [&](std::string message) { report(record.line, &d, std::move(message)); };
  const std::string part = StrCat("part ", d.part(), " of ", d.parts());
  if (d.parts() != parts) {
    wrong(StrCat(part, ": parts ", d.parts(), ", the decision's first part (seq ",
                 first.decision.seq(), ") has parts ", parts));
  }
  check_echo(first, record);
  const bool in_range = d.part() >= 1 && d.part() <= parts;
  if (in_range && d.part() < shard.next_part) {
    for (const PendingDecision& seen : shard.gathered) {
      if (seen.decision.part() != d.part()) continue;
      return wrong(StrCat(part, " is repeated (seq ", seen.decision.seq(), " has it); not folded"));
    }
    wrong(StrCat(part, " comes after part ", shard.next_part - 1, " in seq order"));
  } else if (in_range && d.part() > shard.next_part) {
    wrong(missing_parts(shard.next_part, d.part() - 1, parts));
  }
  if (in_range) shard.next_part = std::max<std::int64_t>(shard.next_part, d.part() + 1);
  shard.gathered.push_back(std::move(record));
  if (shard.next_part > parts) fold_gathered(shard);
}

// The fields every part repeats, as text to compare and to show.
std::array<std::pair<absl::string_view, std::string>, 7> echo_fields(const v1::Decision& d) {
  using google::protobuf::util::TimeUtil;
  return {{{"eventId", d.event_id()},
           {"partition", StrCat(d.partition())},
           {"offset", StrCat(d.offset())},
           {"occurredAt", d.has_occurred_at() ? TimeUtil::ToString(d.occurred_at()) : "(none)"},
           {"outcome", outcome_name(d.outcome())},
           {"reason", d.reason()},
           {"detail", d.detail()}}};
}

void Fold::check_echo(const PendingDecision& first, const PendingDecision& part) {
  const auto want = echo_fields(first.decision);
  const auto got = echo_fields(part.decision);
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (got[i].second == want[i].second) continue;
    report(part.line, &part.decision,
           StrCat("part ", part.decision.part(), " of ", part.decision.parts(), ": ", got[i].first,
                  " \"", got[i].second, "\", the decision's first part (seq ",
                  first.decision.seq(), ") has \"", want[i].second, "\""));
  }
}

// The decision being gathered stops short of its last part: what arrived
// is folded, and the parts that did not are reported on the last that did.
void Fold::end_parts(Shard& shard, absl::string_view why) {
  const PendingDecision& last = shard.gathered.back();
  const std::int64_t parts = shard.gathered.front().decision.parts();
  report(last.line, &last.decision,
         StrCat(missing_parts(shard.next_part, parts, parts), ": ", why));
  fold_gathered(shard);
}

void Fold::fold_gathered(Shard& shard) {
  fold(shard, shard.gathered);
  shard.gathered.clear();
  shard.next_part = 0;
}

std::vector<const Campaign*> campaigns_by_id(const Shard& shard) {
  std::vector<const Campaign*> campaigns;
  for (const Campaign& campaign : shard.campaigns) campaigns.push_back(&campaign);
  std::sort(campaigns.begin(), campaigns.end(),
            [](const Campaign* a, const Campaign* b) { return a->id < b->id; });
  return campaigns;
}

void count_coupon(CouponState state, CouponCounts* counts) {
  ++counts->granted;
  switch (state) {
    case CouponState::kIssued:
      ++counts->outstanding;
      break;
    case CouponState::kRedeemed:
      ++counts->redeemed;
      break;
    case CouponState::kExpired:
      ++counts->expired;
      break;
    case CouponState::kVoid:
      ++counts->voided;
      break;
  }
}

void Fold::finish() {
  for (auto& [id, shard] : shards_) {
    drain(shard, /*to_end=*/true);
    if (!shard.gathered.empty()) end_parts(shard, "the journal ends");
  }
  for (const auto& [shard_id, shard] : shards_) {
    for (const Campaign* campaign : campaigns_by_id(shard)) {
      for (const Funder& funder : campaign->funders) {
        const Ledger& l = funder.ledger;
        out_->funders.push_back(
            {shard_id, campaign->id, funder.id, l.budget, l.available, l.reserved, l.spent});
      }
    }
    for (const auto& [id, coupon] : shard.coupons) count_coupon(coupon.state, &out_->coupons);
  }
}

absl::flat_hash_map<absl::string_view, std::int64_t> Fold::settled_nets() {
  absl::flat_hash_map<absl::string_view, std::int64_t> nets;
  for (const auto& [shard_id, shard] : shards_) {
    for (const auto& [id, coupon] : shard.coupons) {
      if (!coupon.settled_ever) continue;
      std::int64_t& net = nets[id];
      if (__builtin_add_overflow(net, coupon.net_discount, &net)) {
        report(0, nullptr, StrCat("coupon ", id, ": net discount over shards overflows int64"));
      }
    }
  }
  return nets;
}

// One decision: its one record, or its parts in seq order. The echo fields
// come from the first record; a violation names the record being folded.
void Fold::fold(Shard& shard, std::span<const PendingDecision> records) {
  shard_ = &shard;
  const v1::Decision& decision = records.front().decision;
  line_ = records.front().line;
  decision_ = &decision;
  decision_seq_ = decision.seq();
  touched_.clear();
  ++out_->decisions;
  const int outcome = decision.outcome();
  if (outcome >= 0 && outcome < std::ssize(shard.outcomes)) ++shard.outcomes[outcome];
  check_partition_offset(decision);
  check_reason(decision);
  bool past_expiry = false;
  bool past_thresholds = false;
  for (const PendingDecision& record : records) {
    line_ = record.line;
    decision_ = &record.decision;
    for (const v1::Effect& effect : record.decision.effects()) {
      if (admit(decision, effect, &past_expiry, &past_thresholds)) apply(effect);
    }
  }
  check_touched_funders();
}

void Fold::check_partition_offset(const v1::Decision& decision) {
  if (!offsets_by_partition_[decision.partition()].insert(decision.offset())) {
    violate(StrCat("partition ", decision.partition(), " offset ", decision.offset(),
                   " already has a decision"));
  }
}

void Fold::check_reason(const v1::Decision& decision) {
  const std::string outcome = outcome_name(decision.outcome());
  switch (decision.outcome()) {
    case v1::Decision::APPLIED:
      if (!decision.reason().empty())
        violate(StrCat("APPLIED decision has reason ", decision.reason()));
      break;
    case v1::Decision::REJECTED:
    case v1::Decision::INVALID:
      if (decision.reason().empty()) violate(StrCat(outcome, " decision has no reason"));
      break;
    case v1::Decision::DUPLICATE:
      break;
    default:
      violate(StrCat("unknown ", outcome));
  }
}

// DESIGN §3 order of work: INVALID and DUPLICATE stop before anything
// moves; the expiry pass runs before the rule, so its releases come first
// and may ride on a REJECTED decision; threshold alerts come last.
bool Fold::admit(const v1::Decision& decision, const v1::Effect& effect, bool* past_expiry,
                 bool* past_thresholds) {
  const std::string name = effect_name(effect);
  const auto outcome = decision.outcome();
  if (outcome != v1::Decision::APPLIED && outcome != v1::Decision::REJECTED) {
    violate(StrCat(outcome_name(outcome), " decision carries a ", name, " effect; not folded"));
    return false;
  }
  const bool expiry = is_expiry(effect);
  if (expiry && *past_expiry) violate(StrCat("expiry release comes after a non-expiry effect"));
  if (!expiry) *past_expiry = true;
  if (outcome == v1::Decision::REJECTED && !expiry) {
    violate(StrCat("REJECTED decision carries a ", name,
                   " effect (only expiry releases may); not folded"));
    return false;
  }
  if (effect.has_threshold_crossed()) {
    *past_thresholds = true;
  } else if (*past_thresholds) {
    violate(StrCat(name, " effect comes after thresholdCrossed (alerts come last)"));
  }
  return true;
}

void Fold::apply(const v1::Effect& effect) {
  switch (effect.kind_case()) {
    case v1::Effect::kBudgetSet:
      return budget_set(effect.budget_set());
    case v1::Effect::kBudgetAdjusted:
      return budget_adjusted(effect.budget_adjusted());
    case v1::Effect::kCouponGranted:
      return coupon_granted(effect.coupon_granted());
    case v1::Effect::kGrantRejected:
      if (effect.grant_rejected().reason().empty()) violate("grantRejected without a reason");
      return;
    case v1::Effect::kRedemptionSettled:
      return redemption_settled(effect.redemption_settled());
    case v1::Effect::kReservationReleased:
      if (effect.reservation_released().coupon_id().empty()) {
        return message_cash_released(effect.reservation_released());
      }
      return coupon_released(effect.reservation_released());
    case v1::Effect::kRedemptionReversed:
      return redemption_reversed(effect.redemption_reversed());
    case v1::Effect::kMessageCashGranted:
      return message_cash_granted(effect.message_cash_granted());
    case v1::Effect::kMessageCharged:
      return message_charged(effect.message_charged());
    case v1::Effect::kThresholdCrossed:
      return threshold_crossed(effect.threshold_crossed());
    case v1::Effect::KIND_NOT_SET:
      return violate("effect without a kind");
  }
}

// ------------------------------------------------------------------ lookups

Campaign* Fold::find_campaign(absl::string_view what, const std::string& campaign_id) {
  auto it = shard_->campaign_by_id.find(campaign_id);
  if (it == shard_->campaign_by_id.end()) {
    violate(StrCat(what, ": unknown campaign ", campaign_id));
    return nullptr;
  }
  return &shard_->campaigns[it->second];
}

Funder* Fold::find_funder(absl::string_view what, Campaign& campaign,
                          const std::string& funder_id) {
  for (Funder& funder : campaign.funders) {
    if (funder.id == funder_id) return &funder;
  }
  violate(StrCat(what, ": campaign ", campaign.id, " has no funder ", funder_id));
  return nullptr;
}

Coupon* Fold::find_coupon(absl::string_view what, const std::string& coupon_id,
                          const std::string& campaign_id, CouponState required) {
  auto it = shard_->coupons.find(coupon_id);
  if (it == shard_->coupons.end()) {
    violate(StrCat(what, ": unknown coupon"));
    return nullptr;
  }
  Coupon& coupon = it->second;
  const std::string& owner = shard_->campaigns[coupon.campaign].id;
  if (owner != campaign_id) {
    violate(StrCat(what, ": coupon belongs to campaign ", owner, ", effect names ", campaign_id));
    return nullptr;
  }
  if (coupon.state != required) {
    violate(
        StrCat(what, ": coupon is ", state_name(coupon.state), ", must be ", state_name(required)));
    return nullptr;
  }
  return &coupon;
}

// A split must name every funder of the campaign in definition order, none
// negative. Returns false (reported) when it cannot be mapped onto the
// funders. A wrong total is reported but the parts are still returned.
bool Fold::read_split(absl::string_view what, const Campaign& campaign, const Split& split,
                      std::int64_t total, Parts* parts) {
  if (static_cast<std::size_t>(split.size()) != campaign.funders.size()) {
    violate(StrCat(what, ": split lists ", split.size(), " funders, campaign ", campaign.id,
                   " has ", campaign.funders.size(), "; not folded"));
    return false;
  }
  parts->clear();
  std::int64_t sum = 0;
  for (int i = 0; i < split.size(); ++i) {
    const v1::FunderAmount& entry = split[i];
    const std::string& expected = campaign.funders[i].id;
    if (entry.funder_id() != expected) {
      violate(StrCat(what, ": split entry ", i, " is funder ", entry.funder_id(), ", expected ",
                     expected, " (definition order); not folded"));
      return false;
    }
    if (entry.amount() < 0) {
      violate(StrCat(what, ": funder ", expected, " part ", entry.amount(),
                     " is negative; not folded"));
      return false;
    }
    if (__builtin_add_overflow(sum, entry.amount(), &sum)) {
      violate(StrCat(what, ": split total overflows int64; not folded"));
      return false;
    }
    parts->push_back(entry.amount());
  }
  if (sum != total) violate(StrCat(what, ": split sums to ", sum, ", total is ", total));
  return true;
}

void Fold::expect_parts(absl::string_view what, const Campaign& campaign, const Parts& got,
                        const Parts& want, absl::string_view want_name) {
  if (got == want) return;
  violate(StrCat(what, ": moves ", describe(campaign, got), ", ", want_name, " ",
                 describe(campaign, want)));
}

// ------------------------------------------------------------------ ledger

// Applies signed deltas to one funder's columns, all or nothing: an
// overflow is a violation and leaves the ledger as it was.
void Fold::post(Campaign& campaign, std::size_t funder, std::initializer_list<Posting> postings) {
  Funder& target = campaign.funders[funder];
  Ledger next = target.ledger;
  for (const Posting& posting : postings) {
    if (__builtin_add_overflow(next.*posting.column, posting.delta, &(next.*posting.column))) {
      violate(StrCat("campaign ", campaign.id, " funder ", target.id, ": ",
                     column_name(posting.column), " ", target.ledger.*posting.column, " + ",
                     posting.delta, " overflows int64; not folded"));
      return;
    }
  }
  target.ledger = next;
  touched_.emplace_back(&campaign, funder);
}

// DESIGN §4, after every decision, for every funder the decision touched
// (the others did not change since they were last checked).
void Fold::check_touched_funders() {
  std::sort(touched_.begin(), touched_.end());
  touched_.erase(std::unique(touched_.begin(), touched_.end()), touched_.end());
  for (auto [campaign, funder] : touched_) check_funder(*campaign, campaign->funders[funder]);
}

void Fold::check_funder(const Campaign& campaign, Funder& funder) {
  const Ledger& l = funder.ledger;
  const std::string who = StrCat("campaign ", campaign.id, " funder ", funder.id, ": ");
  const __int128 parts = static_cast<__int128>(l.available) + l.reserved + l.spent;
  const std::pair<std::uint8_t, bool> checks[] = {
      {kBrokenEquation, parts != l.budget},
      {kBrokenNegative, l.available < 0 || l.reserved < 0 || l.spent < 0},
      {kBrokenUnbacked, l.reserved != l.outstanding},
  };
  for (auto [bit, broken] : checks) {
    const bool newly = broken && (funder.broken & bit) == 0;
    funder.broken = broken ? (funder.broken | bit) : (funder.broken & ~bit);
    if (!newly) continue;
    if (bit == kBrokenEquation) {
      violate(StrCat(who, "budget ", l.budget, " != available ", l.available, " + reserved ",
                     l.reserved, " + spent ", l.spent));
    } else if (bit == kBrokenNegative) {
      violate(StrCat(who, "negative balance: available ", l.available, ", reserved ", l.reserved,
                     ", spent ", l.spent));
    } else {
      violate(StrCat(who, "reserved ", l.reserved, " != outstanding reservations ", l.outstanding));
    }
  }
}

// ------------------------------------------------------------------ effects

// A campaign's funders are all defined by the budgetSet effects of the one
// decision that defines it; any later budgetSet would reset spent money.
void Fold::budget_set(const v1::BudgetSet& effect) {
  const std::string what = StrCat("budgetSet ", effect.campaign_id(), "/", effect.funder_id());
  if (effect.budget() < 0) return violate(StrCat(what, ": negative budget ", effect.budget()));
  const auto next_index = static_cast<std::uint32_t>(shard_->campaigns.size());
  auto [it, inserted] = shard_->campaign_by_id.try_emplace(effect.campaign_id(), next_index);
  if (inserted) {
    shard_->campaigns.push_back(
        Campaign{.id = effect.campaign_id(), .index = next_index, .defined_seq = decision_seq_});
  }
  Campaign& campaign = shard_->campaigns[it->second];
  if (campaign.defined_seq != decision_seq_) {
    return violate(
        StrCat(what, ": campaign already defined at seq ", campaign.defined_seq, "; not folded"));
  }
  for (const Funder& funder : campaign.funders) {
    if (funder.id == effect.funder_id()) {
      return violate(StrCat(what, ": budget already set for this funder; not folded"));
    }
  }
  campaign.funders.push_back(
      Funder{.id = effect.funder_id(),
             .ledger = {.budget = effect.budget(), .available = effect.budget()}});
  touched_.emplace_back(&campaign, campaign.funders.size() - 1);
}

void Fold::budget_adjusted(const v1::BudgetAdjustedEffect& effect) {
  const std::string what = StrCat("budgetAdjusted ", effect.campaign_id(), "/", effect.funder_id());
  Campaign* campaign = find_campaign(what, effect.campaign_id());
  if (campaign == nullptr) return;
  Funder* funder = find_funder(what, *campaign, effect.funder_id());
  if (funder == nullptr) return;
  post(*campaign, funder - campaign->funders.data(),
       {{&Ledger::budget, effect.delta()}, {&Ledger::available, effect.delta()}});
}

void Fold::coupon_granted(const v1::CouponGranted& effect) {
  const std::string what = StrCat("couponGranted ", effect.coupon_id());
  Campaign* campaign = find_campaign(what, effect.campaign_id());
  if (campaign == nullptr) return;
  if (auto it = shard_->coupons.find(effect.coupon_id()); it != shard_->coupons.end()) {
    return violate(StrCat(what, ": coupon already granted (now ", state_name(it->second.state),
                          "); not folded"));
  }
  Parts parts;
  if (!read_split(what, *campaign, effect.split(), effect.reserved(), &parts)) return;
  for (std::size_t f = 0; f < parts.size(); ++f) {
    post(*campaign, f,
         {{&Ledger::available, -parts[f]},
          {&Ledger::reserved, parts[f]},
          {&Ledger::outstanding, parts[f]}});
  }
  Coupon& coupon = shard_->coupons[effect.coupon_id()];
  coupon.campaign = campaign->index;
  coupon.held = std::move(parts);
}

// The whole reservation leaves: the discount to spent, the rest back to
// available, per funder exactly what that funder had reserved.
void Fold::redemption_settled(const v1::RedemptionSettled& effect) {
  const std::string what = StrCat("redemptionSettled ", effect.coupon_id());
  Coupon* coupon =
      find_coupon(what, effect.coupon_id(), effect.campaign_id(), CouponState::kIssued);
  if (coupon == nullptr) return;
  Campaign& campaign = shard_->campaigns[coupon->campaign];
  Parts discount;
  Parts released;
  if (!read_split(StrCat(what, " split"), campaign, effect.split(), effect.discount(), &discount) ||
      !read_split(StrCat(what, " releasedSplit"), campaign, effect.released_split(),
                  effect.released(), &released)) {
    return;
  }
  Parts settled(discount.size());
  for (std::size_t f = 0; f < settled.size(); ++f) {
    if (__builtin_add_overflow(discount[f], released[f], &settled[f])) settled[f] = INT64_MAX;
  }
  const std::int64_t reservation = sum_or_max(coupon->held);
  if (sum_or_max(settled) != reservation) {
    violate(StrCat(what, ": discount ", effect.discount(), " + released ", effect.released(),
                   " != coupon's reservation ", reservation));
  } else {
    expect_parts(what, campaign, settled, coupon->held, "coupon holds");
  }
  for (std::size_t f = 0; f < settled.size(); ++f) {
    post(campaign, f,
         {{&Ledger::reserved, -discount[f]},
          {&Ledger::spent, discount[f]},
          {&Ledger::reserved, -released[f]},
          {&Ledger::available, released[f]},
          {&Ledger::outstanding, -coupon->held[f]}});
  }
  if (__builtin_add_overflow(coupon->net_discount, effect.discount(), &coupon->net_discount)) {
    violate(StrCat(what, ": net settled discount overflows int64"));
  }
  coupon->state = CouponState::kRedeemed;
  coupon->settled_ever = true;
  coupon->held = std::move(discount);
  coupon->released = std::move(released);
}

// Expiry, campaign close or void: the coupon's outstanding parts go back
// to available, exactly, and the coupon is finished.
void Fold::coupon_released(const v1::ReservationReleased& effect) {
  const std::string what = StrCat("reservationReleased ", effect.coupon_id(), " (",
                                  v1::ReservationReleased::Cause_Name(effect.cause()), ")");
  const bool expired = effect.cause() == v1::ReservationReleased::EXPIRED;
  if (!expired && effect.cause() != v1::ReservationReleased::CLOSED &&
      effect.cause() != v1::ReservationReleased::VOIDED) {
    return violate(StrCat(what, ": unknown cause; not folded"));
  }
  Coupon* coupon =
      find_coupon(what, effect.coupon_id(), effect.campaign_id(), CouponState::kIssued);
  if (coupon == nullptr) return;
  Campaign& campaign = shard_->campaigns[coupon->campaign];
  Parts parts;
  if (!read_split(what, campaign, effect.split(), effect.amount(), &parts)) return;
  expect_parts(what, campaign, parts, coupon->held, "coupon holds");
  for (std::size_t f = 0; f < parts.size(); ++f) {
    post(campaign, f,
         {{&Ledger::reserved, -parts[f]},
          {&Ledger::available, parts[f]},
          {&Ledger::outstanding, -coupon->held[f]}});
  }
  coupon->state = expired ? CouponState::kExpired : CouponState::kVoid;
  coupon->held.clear();
}

// Only a campaign close releases message cash: exactly what remains.
void Fold::message_cash_released(const v1::ReservationReleased& effect) {
  const std::string what = StrCat("reservationReleased of message cash ", effect.campaign_id(), "/",
                                  effect.merchant_id());
  if (effect.cause() != v1::ReservationReleased::CLOSED) {
    violate(StrCat(what, ": cause ", v1::ReservationReleased::Cause_Name(effect.cause()),
                   ", message cash is released only by CLOSED"));
  }
  Campaign* campaign = find_campaign(what, effect.campaign_id());
  if (campaign == nullptr) return;
  Parts* cash = message_cash(what, *campaign, effect.merchant_id());
  if (cash == nullptr) return;
  Parts& remaining = *cash;
  Parts parts;
  if (!read_split(what, *campaign, effect.split(), effect.amount(), &parts)) return;
  expect_parts(what, *campaign, parts, remaining, "remaining");
  for (std::size_t f = 0; f < parts.size(); ++f) {
    post(*campaign, f,
         {{&Ledger::reserved, -parts[f]},
          {&Ledger::available, parts[f]},
          {&Ledger::outstanding, -remaining[f]}});
    remaining[f] = 0;
  }
}

// Restored: the settled discount and the released rest are reserved again,
// so the coupon holds its full original reservation. Not restored: the
// discount goes back to available and the coupon is void.
void Fold::redemption_reversed(const v1::RedemptionReversedEffect& effect) {
  const std::string what = StrCat("redemptionReversed ", effect.coupon_id(),
                                  effect.restored() ? " (restored)" : " (not restored)");
  Coupon* coupon =
      find_coupon(what, effect.coupon_id(), effect.campaign_id(), CouponState::kRedeemed);
  if (coupon == nullptr) return;
  Campaign& campaign = shard_->campaigns[coupon->campaign];
  const std::int64_t settled = sum_or_max(coupon->held);
  const std::int64_t to_reserve = effect.restored() ? sum_or_max(coupon->released) : 0;
  Parts returned;
  Parts reserved_again;
  if (!read_split(StrCat(what, " spentReturned"), campaign, effect.spent_returned(), settled,
                  &returned) ||
      !read_split(StrCat(what, " reReserved"), campaign, effect.re_reserved(), to_reserve,
                  &reserved_again)) {
    return;
  }
  expect_parts(StrCat(what, " spentReturned"), campaign, returned, coupon->held, "settled");
  if (effect.restored()) {
    expect_parts(StrCat(what, " reReserved"), campaign, reserved_again, coupon->released,
                 "released at settlement");
  }
  for (std::size_t f = 0; f < returned.size(); ++f) {
    if (effect.restored()) {
      post(campaign, f,
           {{&Ledger::spent, -returned[f]},
            {&Ledger::reserved, returned[f]},
            {&Ledger::available, -reserved_again[f]},
            {&Ledger::reserved, reserved_again[f]},
            {&Ledger::outstanding, returned[f]},
            {&Ledger::outstanding, reserved_again[f]}});
    } else {
      post(campaign, f, {{&Ledger::spent, -returned[f]}, {&Ledger::available, returned[f]}});
    }
  }
  if (__builtin_sub_overflow(coupon->net_discount, sum_or_max(returned), &coupon->net_discount)) {
    violate(StrCat(what, ": net settled discount overflows int64"));
  }
  coupon->released.clear();
  if (effect.restored()) {
    for (std::size_t f = 0; f < returned.size(); ++f) returned[f] += reserved_again[f];
    coupon->state = CouponState::kIssued;
    coupon->held = std::move(returned);
  } else {
    coupon->state = CouponState::kVoid;
    coupon->held.clear();
  }
}

Parts* Fold::message_cash(const std::string& what, Campaign& campaign, const std::string& merchant_id) {
  auto account = campaign.message_cash_by_merchant.find(merchant_id);
  if (account == campaign.message_cash_by_merchant.end()) {
    violate(StrCat(what, ": no message cash was granted; not folded"));
    return nullptr;
  }
  return &account->second;
}

void Fold::message_cash_granted(const v1::MessageCashGranted& effect) {
  const std::string what =
      StrCat("messageCashGranted ", effect.campaign_id(), "/", effect.merchant_id());
  Campaign* campaign = find_campaign(what, effect.campaign_id());
  if (campaign == nullptr) return;
  Parts parts;
  if (!read_split(what, *campaign, effect.split(), effect.amount(), &parts)) return;
  auto [account, inserted] =
      campaign->message_cash_by_merchant.try_emplace(effect.merchant_id(), Parts(parts.size(), 0));
  // DESIGN §3: message cash is granted once per (campaign, merchant), ever.
  if (!inserted) violate(StrCat(what, ": message cash granted a second time"));
  for (std::size_t f = 0; f < parts.size(); ++f) {
    post(*campaign, f,
         {{&Ledger::available, -parts[f]},
          {&Ledger::reserved, parts[f]},
          {&Ledger::outstanding, parts[f]}});
    account->second[f] += parts[f];
  }
}

// A charge spends message cash a merchant holds; no funder may give more
// than remains of its part. An empty campaignId is the merchant's own money.
void Fold::message_charged(const v1::MessageCharged& effect) {
  if (effect.campaign_id().empty()) {
    if (!effect.split().empty() || effect.amount() < 0) {
      violate(StrCat("messageCharged to merchant ", effect.merchant_id(),
                     ": a merchant-paid charge has a non-negative amount and no funder split"));
    }
    return;
  }
  const std::string what =
      StrCat("messageCharged ", effect.campaign_id(), "/", effect.merchant_id());
  Campaign* campaign = find_campaign(what, effect.campaign_id());
  if (campaign == nullptr) return;
  Parts* cash = message_cash(what, *campaign, effect.merchant_id());
  if (cash == nullptr) return;
  Parts& remaining = *cash;
  Parts parts;
  if (!read_split(what, *campaign, effect.split(), effect.amount(), &parts)) return;
  for (std::size_t f = 0; f < parts.size(); ++f) {
    if (parts[f] > remaining[f]) {
      violate(StrCat(what, ": funder ", campaign->funders[f].id, " charged ", parts[f], ", only ",
                     remaining[f], " remains"));
    }
    const std::int64_t covered = std::min(parts[f], remaining[f]);
    post(*campaign, f,
         {{&Ledger::reserved, -parts[f]},
          {&Ledger::spent, parts[f]},
          {&Ledger::outstanding, -covered}});
    remaining[f] -= covered;
  }
}

// An alert must be true when raised, and raised once per threshold ever.
void Fold::threshold_crossed(const v1::ThresholdCrossed& effect) {
  const std::string what = StrCat("thresholdCrossed ", effect.campaign_id(), "/",
                                  effect.funder_id(), " at ", effect.bps(), " bps");
  Campaign* campaign = find_campaign(what, effect.campaign_id());
  if (campaign == nullptr) return;
  Funder* funder = find_funder(what, *campaign, effect.funder_id());
  if (funder == nullptr) return;
  if (effect.bps() <= 0) return violate(StrCat(what, ": threshold must be positive"));
  auto& crossed = funder->thresholds_crossed_bps;
  if (std::find(crossed.begin(), crossed.end(), effect.bps()) != crossed.end()) {
    return violate(StrCat(what, ": already crossed earlier"));
  }
  crossed.push_back(effect.bps());
  const Ledger& l = funder->ledger;
  const __int128 used = static_cast<__int128>(l.reserved) + l.spent;
  if (used * 10000 < static_cast<__int128>(effect.bps()) * l.budget) {
    violate(StrCat(what, ": not reached, (reserved ", l.reserved, " + spent ", l.spent,
                   ") * 10000 < ", effect.bps(), " * budget ", l.budget));
  }
}

// ------------------------------------------------------------------ state

// --state-dir. The store and the journal can only agree when the journal
// holds exactly the store's decisions: a store ahead or behind differs in
// every balance it moved since, so then only the seqs are reported.
void Fold::compare_state(const StoredState& stored, StateSummary* summary) {
  *summary = {.present = true, .shard = stored.shard, .stored_last_seq = stored.last_seq};
  state_summary_ = summary;
  const Shard none{};
  const auto it = shards_.find(stored.shard);
  const Shard& shard = it == shards_.end() ? none : it->second;
  summary->journal_last_seq = shard.next_seq - 1;
  const std::int64_t ahead = stored.last_seq - summary->journal_last_seq;
  if (ahead != 0) {
    return differ(stored.shard,
                  StrCat("shard ", stored.shard, ": the store's last seq is ", stored.last_seq,
                         ", the journal's is ", summary->journal_last_seq, " (the ",
                         ahead > 0 ? "store" : "journal", " is ahead by ", ahead > 0 ? ahead : -ahead,
                         "); balances not compared"));
  }
  summary->compared = true;
  compare_outcomes(shard, stored);
  compare_funders(stored);
  compare_coupons(shard, stored);
}

void Fold::differ(std::int32_t shard, std::string message) {
  ++state_summary_->differences;
  ++out_->violation_count;
  if (out_->violations.size() >= options_.max_violations) return;
  out_->violations.push_back({.shard = shard, .message = StrCat("state dir: ", message)});
}

// The store counts a decision once whatever its parts, as the fold does.
void Fold::compare_outcomes(const Shard& shard, const StoredState& stored) {
  for (std::size_t i = 0; i < shard.outcomes.size(); ++i) {
    if (shard.outcomes[i] == stored.decisions_by_outcome[i]) continue;
    differ(stored.shard, StrCat(outcome_name(static_cast<v1::Decision::Outcome>(i)),
                                " decisions: journal ", shard.outcomes[i], ", stored ",
                                stored.decisions_by_outcome[i]));
  }
}

// The fold's balances are in out_->funders by now, sorted.
void Fold::compare_funders(const StoredState& stored) {
  absl::flat_hash_map<std::pair<std::string, std::string>, const FunderBalance*> unmatched;
  for (const FunderBalance& f : stored.funders) {
    unmatched.emplace(std::pair(f.campaign_id, f.funder_id), &f);
  }
  constexpr std::pair<absl::string_view, std::int64_t FunderBalance::*> kColumns[] = {
      {"budget", &FunderBalance::budget},
      {"available", &FunderBalance::available},
      {"reserved", &FunderBalance::reserved},
      {"spent", &FunderBalance::spent}};
  for (const FunderBalance& folded : out_->funders) {
    if (folded.shard != stored.shard) continue;
    const std::string who = StrCat("campaign ", folded.campaign_id, " funder ", folded.funder_id);
    const auto it = unmatched.find(std::pair(folded.campaign_id, folded.funder_id));
    if (it == unmatched.end()) {
      differ(stored.shard, StrCat(who, ": in the journal (budget ", folded.budget,
                                  "), not in the store"));
      continue;
    }
    for (const auto& [name, column] : kColumns) {
      if (folded.*column == it->second->*column) continue;
      differ(stored.shard, StrCat(who, ": ", name, " journal ", folded.*column, ", stored ",
                                  it->second->*column));
    }
    unmatched.erase(it);
  }
  for (const FunderBalance& f : stored.funders) {
    if (!unmatched.contains(std::pair(f.campaign_id, f.funder_id))) continue;
    differ(stored.shard, StrCat("campaign ", f.campaign_id, " funder ", f.funder_id,
                                ": in the store (budget ", f.budget, "), not in the journal"));
  }
}

// Per campaign both have; a campaign only one side has is a funder
// difference already.
void Fold::compare_coupons(const Shard& shard, const StoredState& stored) {
  std::vector<CouponCounts> folded(shard.campaigns.size());
  for (const auto& [id, coupon] : shard.coupons) {
    count_coupon(coupon.state, &folded[coupon.campaign]);
  }
  absl::flat_hash_map<absl::string_view, const CouponCounts*> stored_by_id;
  for (const StoredCampaign& c : stored.campaigns) stored_by_id[c.campaign_id] = &c.coupons;
  constexpr std::pair<absl::string_view, std::int64_t CouponCounts::*> kCounts[] = {
      {"granted", &CouponCounts::granted},
      {"outstanding", &CouponCounts::outstanding},
      {"redeemed", &CouponCounts::redeemed},
      {"expired", &CouponCounts::expired},
      {"void", &CouponCounts::voided}};
  for (const Campaign* campaign : campaigns_by_id(shard)) {
    const auto it = stored_by_id.find(campaign->id);
    if (it == stored_by_id.end()) continue;
    const CouponCounts& mine = folded[campaign->index];
    for (const auto& [name, count] : kCounts) {
      if (mine.*count == it->second->*count) continue;
      differ(stored.shard, StrCat("campaign ", campaign->id, " coupons ", name, ": journal ",
                                  mine.*count, ", stored ", it->second->*count));
    }
  }
}

// ------------------------------------------------------------------ settlement

using SettlementTotals = absl::flat_hash_map<std::string, std::int64_t>;

// RFC 4180 records: quoted fields with "" escapes, LF or CRLF line ends,
// line breaks inside quotes. Tracks physical lines for error messages.
class CsvReader {
 public:
  explicit CsvReader(std::istream& in) : in_(in) {}

  // False at the end of input. *line is where the record starts.
  bool next(std::vector<std::string>* fields, std::int64_t* line) {
    fields->clear();
    int ch = in_.get();
    if (ch == std::char_traits<char>::eof()) return false;
    *line = line_;
    std::string field;
    bool quoted = false;
    for (;; ch = in_.get()) {
      if (ch == std::char_traits<char>::eof()) {
        unterminated_quote_ = quoted;
        break;
      }
      if (quoted) {
        if (ch != '"') {
          if (ch == '\n') ++line_;
          field.push_back(static_cast<char>(ch));
        } else if (in_.peek() == '"') {
          field.push_back(static_cast<char>(in_.get()));
        } else {
          quoted = false;
        }
      } else if (ch == '"') {
        quoted = true;
      } else if (ch == ',') {
        fields->push_back(std::move(field));
        field.clear();
      } else if (ch == '\n') {
        ++line_;
        break;
      } else if (ch != '\r' || in_.peek() != '\n') {
        field.push_back(static_cast<char>(ch));
      }
    }
    fields->push_back(std::move(field));
    return true;
  }

  bool unterminated_quote() const { return unterminated_quote_; }

 private:
  std::istream& in_;
  std::int64_t line_ = 1;
  bool unterminated_quote_ = false;
};

std::ptrdiff_t column_index(const std::vector<std::string>& header, absl::string_view name) {
  for (std::size_t i = 0; i < header.size(); ++i) {
    absl::string_view cell = absl::StripAsciiWhitespace(header[i]);
    if (i == 0) absl::ConsumePrefix(&cell, "\xEF\xBB\xBF");  // UTF-8 BOM
    if (cell == name) return static_cast<std::ptrdiff_t>(i);
  }
  return -1;
}

struct SettlementColumns {
  std::size_t coupon_id = 0;
  std::size_t discount = 0;
};

bool read_header(CsvReader& reader, const std::string& path, SettlementColumns* columns,
                 std::string* error) {
  std::vector<std::string> header;
  std::int64_t line = 0;
  if (!reader.next(&header, &line)) {
    *error = StrCat("settlement file ", path, " is empty: a couponId,discount header is required");
    return false;
  }
  const std::ptrdiff_t coupon_id = column_index(header, "couponId");
  const std::ptrdiff_t discount = column_index(header, "discount");
  if (coupon_id < 0 || discount < 0) {
    *error = StrCat("settlement file ", path, ": header has no ",
                    coupon_id < 0 ? "couponId" : "discount", " column");
    return false;
  }
  *columns = {static_cast<std::size_t>(coupon_id), static_cast<std::size_t>(discount)};
  return true;
}

// Adds one data row; `where` names the file and line for the error.
bool add_row(const std::vector<std::string>& fields, const SettlementColumns& columns,
             const std::string& where, SettlementTotals* totals, std::string* error) {
  const std::size_t needed = std::max(columns.coupon_id, columns.discount) + 1;
  if (fields.size() < needed) {
    *error = StrCat(where, "expected at least ", needed, " fields, found ", fields.size());
    return false;
  }
  const absl::string_view coupon_id = absl::StripAsciiWhitespace(fields[columns.coupon_id]);
  const absl::string_view discount_text = absl::StripAsciiWhitespace(fields[columns.discount]);
  std::int64_t discount = 0;
  if (coupon_id.empty()) {
    *error = StrCat(where, "empty couponId");
    return false;
  }
  if (!absl::SimpleAtoi(discount_text, &discount)) {
    *error = StrCat(where, "discount \"", discount_text, "\" is not an int64 integer");
    return false;
  }
  std::int64_t& total = (*totals)[coupon_id];
  if (__builtin_add_overflow(total, discount, &total)) {
    *error = StrCat(where, "total discount of coupon ", coupon_id, " overflows int64");
    return false;
  }
  return true;
}

// Sums the settlement file's discounts per coupon (refund rows are negative).
bool load_settlement(const std::string& path, SettlementTotals* totals, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) {
    *error = StrCat("cannot open settlement file ", path, ": ", std::strerror(errno));
    return false;
  }
  CsvReader reader(in);
  SettlementColumns columns;
  if (!read_header(reader, path, &columns, error)) return false;
  std::vector<std::string> fields;
  std::int64_t line = 0;
  while (reader.next(&fields, &line)) {
    const std::string where = StrCat("settlement file ", path, " line ", line, ": ");
    if (reader.unterminated_quote()) {
      *error = StrCat(where, "unterminated quoted field");
      return false;
    }
    const bool blank = fields.size() == 1 && absl::StripAsciiWhitespace(fields[0]).empty();
    if (!blank && !add_row(fields, columns, where, totals, error)) return false;
  }
  if (in.bad()) {
    *error = StrCat("cannot read settlement file ", path, ": ", std::strerror(errno));
    return false;
  }
  return true;
}

// Keeps the discrepancies with the smallest coupon ids, so the kept list is
// bounded and the same on every run.
class BoundedItems {
 public:
  explicit BoundedItems(std::size_t limit) : limit_(limit) {}

  void add(SettlementItem item) {
    heap_.push(std::move(item));
    if (heap_.size() > limit_) heap_.pop();
  }

  std::vector<SettlementItem> sorted() && {
    std::vector<SettlementItem> items;
    for (; !heap_.empty(); heap_.pop()) items.push_back(heap_.top());
    std::reverse(items.begin(), items.end());
    return items;
  }

 private:
  struct ByCouponId {
    bool operator()(const SettlementItem& a, const SettlementItem& b) const {
      return a.coupon_id < b.coupon_id;
    }
  };
  std::size_t limit_;
  std::priority_queue<SettlementItem, std::vector<SettlementItem>, ByCouponId> heap_;
};

void match_settlement(const SettlementTotals& file,
                      const absl::flat_hash_map<absl::string_view, std::int64_t>& engine,
                      std::size_t max_items, SettlementSummary* summary) {
  summary->present = true;
  BoundedItems items(max_items);
  for (const auto& [coupon_id, file_discount] : file) {
    auto it = engine.find(coupon_id);
    if (it == engine.end()) {
      ++summary->missing_in_engine;
      items.add({coupon_id, "missing_in_engine", 0, file_discount});
    } else if (it->second != file_discount) {
      ++summary->amount_mismatch;
      items.add({coupon_id, "amount_mismatch", it->second, file_discount});
    } else {
      ++summary->matched;
    }
  }
  for (const auto& [coupon_id, engine_discount] : engine) {
    if (engine_discount == 0 || file.contains(coupon_id)) continue;
    ++summary->missing_in_settlement;
    items.add({std::string(coupon_id), "missing_in_settlement", engine_discount, 0});
  }
  summary->items = std::move(items).sorted();
}

bool has_discrepancy(const SettlementSummary& s) {
  return s.amount_mismatch + s.missing_in_engine + s.missing_in_settlement > 0;
}

// ------------------------------------------------------------------ output

void append_json_string(std::string* out, absl::string_view text) {
  out->push_back('"');
  for (unsigned char ch : text) {
    if (ch == '"' || ch == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(ch));
    } else if (ch < 0x20) {
      absl::StrAppendFormat(out, "\\u%04x", ch);
    } else {
      out->push_back(static_cast<char>(ch));
    }
  }
  out->push_back('"');
}

std::string json_string(absl::string_view text) {
  std::string out;
  append_json_string(&out, text);
  return out;
}

template <typename T, typename Write>
void append_json_array(std::string* out, const std::vector<T>& items, Write write) {
  out->push_back('[');
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out->push_back(',');
    write(items[i]);
  }
  out->push_back(']');
}

}  // namespace

bool run(std::istream& decisions_jsonl, const Options& options, Result* out, std::string* error) {
  *out = Result{};
  SettlementTotals settlement;
  const bool matching = !options.settlement_csv_path.empty();
  // Read the settlement file first: a bad file should fail before a long fold.
  if (matching && !load_settlement(options.settlement_csv_path, &settlement, error)) return false;
  Fold fold(options, out);
  std::string line;
  for (std::int64_t line_number = 1; std::getline(decisions_jsonl, line); ++line_number) {
    fold.add_line(line_number, line);
  }
  if (decisions_jsonl.bad()) {
    *error = StrCat("cannot read decisions: ", std::strerror(errno));
    return false;
  }
  fold.finish();
  if (options.stored_state) fold.compare_state(*options.stored_state, &out->state);
  if (matching) {
    match_settlement(settlement, fold.settled_nets(), options.max_violations, &out->settlement);
  }
  out->balanced = out->violation_count == 0 && !has_discrepancy(out->settlement);
  return true;
}

std::string format_json(const Result& r) {
  std::string out =
      StrCat("{\"balanced\":", r.balanced ? "true" : "false", ",\"decisions\":", r.decisions,
             ",\"violationCount\":", r.violation_count, ",\"violations\":");
  append_json_array(&out, r.violations, [&out](const Violation& v) {
    absl::StrAppend(&out, "{\"line\":", v.line, ",\"shard\":", v.shard, ",\"seq\":", v.seq,
                    ",\"eventId\":", json_string(v.event_id),
                    ",\"message\":", json_string(v.message), "}");
  });
  out += ",\"funders\":";
  append_json_array(&out, r.funders, [&out](const FunderBalance& f) {
    absl::StrAppend(&out, "{\"shard\":", f.shard, ",\"campaignId\":", json_string(f.campaign_id),
                    ",\"funderId\":", json_string(f.funder_id), ",\"budget\":", f.budget,
                    ",\"available\":", f.available, ",\"reserved\":", f.reserved,
                    ",\"spent\":", f.spent, "}");
  });
  const CouponCounts& c = r.coupons;
  absl::StrAppend(&out, ",\"coupons\":{\"granted\":", c.granted, ",\"outstanding\":", c.outstanding,
                  ",\"redeemed\":", c.redeemed, ",\"expired\":", c.expired, ",\"void\":", c.voided,
                  "}");
  const SettlementSummary& s = r.settlement;
  absl::StrAppend(&out, ",\"settlement\":{\"present\":", s.present ? "true" : "false",
                  ",\"matched\":", s.matched, ",\"amount_mismatch\":", s.amount_mismatch,
                  ",\"missing_in_engine\":", s.missing_in_engine,
                  ",\"missing_in_settlement\":", s.missing_in_settlement, ",\"items\":");
  append_json_array(&out, s.items, [&out](const SettlementItem& i) {
    absl::StrAppend(&out, "{\"couponId\":", json_string(i.coupon_id),
                    ",\"status\":", json_string(i.status),
                    ",\"engineDiscount\":", i.engine_discount,
                    ",\"settlementDiscount\":", i.settlement_discount, "}");
  });
  const StateSummary& st = r.state;
  absl::StrAppend(&out, "},\"state\":{\"present\":", st.present ? "true" : "false",
                  ",\"shard\":", st.shard, ",\"journalLastSeq\":", st.journal_last_seq,
                  ",\"storedLastSeq\":", st.stored_last_seq,
                  ",\"compared\":", st.compared ? "true" : "false",
                  ",\"differences\":", st.differences, "}}");
  return out;
}

std::string format_table(const Result& r) {
  std::string out =
      absl::StrFormat("%s: %d decisions, %d violations\n", r.balanced ? "BALANCED" : "NOT BALANCED",
                      r.decisions, r.violation_count);
  std::size_t campaign_width = 8;
  std::size_t funder_width = 6;
  for (const FunderBalance& f : r.funders) {
    campaign_width = std::max(campaign_width, f.campaign_id.size());
    funder_width = std::max(funder_width, f.funder_id.size());
  }
  const auto row = [&](absl::string_view shard, absl::string_view campaign,
                       absl::string_view funder, absl::string_view budget,
                       absl::string_view available, absl::string_view reserved,
                       absl::string_view spent) {
    absl::StrAppendFormat(
        &out, "%5s  %-*s  %-*s  %16s %16s %16s %16s\n", shard, static_cast<int>(campaign_width),
        campaign, static_cast<int>(funder_width), funder, budget, available, reserved, spent);
  };
  out += "\n";
  row("shard", "campaign", "funder", "budget", "available", "reserved", "spent");
  for (const FunderBalance& f : r.funders) {
    row(StrCat(f.shard), f.campaign_id, f.funder_id, StrCat(f.budget), StrCat(f.available),
        StrCat(f.reserved), StrCat(f.spent));
  }
  const CouponCounts& c = r.coupons;
  absl::StrAppendFormat(&out,
                        "\ncoupons: %d granted, %d outstanding, %d redeemed, %d expired, %d void\n",
                        c.granted, c.outstanding, c.redeemed, c.expired, c.voided);
  const SettlementSummary& s = r.settlement;
  if (s.present) {
    absl::StrAppendFormat(&out,
                          "\nsettlement: %d matched, %d amount_mismatch, %d missing_in_engine, "
                          "%d missing_in_settlement\n",
                          s.matched, s.amount_mismatch, s.missing_in_engine,
                          s.missing_in_settlement);
    for (const SettlementItem& i : s.items) {
      absl::StrAppendFormat(&out, "  %-22s %s  engine %d  settlement %d\n", i.status, i.coupon_id,
                            i.engine_discount, i.settlement_discount);
    }
  }
  const StateSummary& st = r.state;
  if (st.present) {
    absl::StrAppendFormat(&out, "\nstate dir: shard %d, last seq %d in the store, %d in the "
                          "journal", st.shard, st.stored_last_seq, st.journal_last_seq);
    if (st.compared) {
      absl::StrAppendFormat(&out, ": %d differences\n", st.differences);
    } else {
      out += ": not compared, see the violations\n";
    }
  }
  if (!r.violations.empty()) {
    absl::StrAppendFormat(&out, "\nviolations (first %d of %d):\n", r.violations.size(),
                          r.violation_count);
    for (const Violation& v : r.violations) {
      absl::StrAppendFormat(&out, "  line %d shard %d seq %d event %s: %s\n", v.line, v.shard,
                            v.seq, v.event_id.empty() ? "-" : v.event_id, v.message);
    }
  }
  return out;
}

}  // namespace dangol::reconcile
