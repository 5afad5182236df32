#pragma once
// The deterministic core (DESIGN §2): apply(state, envelope) -> decision.
// No I/O, no clock, no threads, no randomness: the same envelopes in the same
// order give byte-identical decisions and state.

#include <cstdint>
#include <algorithm>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <google/protobuf/arena.h>

#include "dangol.pb.h"
#include "engine/change_log.h"
#include "engine/state.h"
#include "engine/verdict.h"

namespace dangol {

// Where an input record came from; echoed in its decision.
struct Position {
  std::int32_t partition = 0;
  std::int64_t offset = 0;
};

// Storage for one decision at a time. Building a Decision on the heap costs
// more than deciding it (every effect is a separately allocated oneof that
// Clear() frees again), so decisions live on an arena that is reset for each
// event: in steady state no decision touches malloc.
class DecisionSlot {
 public:
  DecisionSlot();
  DecisionSlot(const DecisionSlot&) = delete;
  DecisionSlot& operator=(const DecisionSlot&) = delete;

  // An empty Decision, valid until the next call.
  v1::Decision* fresh();

 private:
  static constexpr std::size_t kInitialBlockBytes = 64 << 10;
  std::unique_ptr<char[]> initial_block_;
  google::protobuf::Arena arena_;
};

class Engine {
 public:
  explicit Engine(std::int32_t shard = 0);

  // Decides one event: exactly one verdict, with the next per-shard `seq`.
  // The verdict is valid until the next call. Never throws; a broken
  // invariant aborts.
  const Verdict& decide(const v1::Envelope& in);

  // Decides `envelopes` in order, calling on_verdict(i, verdict) after each:
  // the same verdicts as decide() one by one. Meanwhile it prefetches the
  // table slots that the next few events will probe, so that their cache
  // misses overlap with the work on the current one (campaignd decides in
  // batches anyway, DESIGN §5).
  // The keys that prefetching computes are kept for deciding, so that each
  // id is hashed once.
  template <class OnVerdict>
  void decide_batch(std::span<const v1::Envelope* const> envelopes, OnVerdict&& on_verdict) {
    constexpr std::size_t kLookahead = 4;
    IdKeys keys[kLookahead + 1];
    const std::size_t n = envelopes.size();
    for (std::size_t i = 0; i < std::min(kLookahead, n); ++i) prefetch_for(*envelopes[i], &keys[i]);
    for (std::size_t i = 0; i < n; ++i) {
      if (i + kLookahead < n) prefetch_for(*envelopes[i + kLookahead], &keys[(i + kLookahead) % (kLookahead + 1)]);
      on_verdict(i, decide(*envelopes[i], &keys[i % (kLookahead + 1)]));
    }
  }

  // decide() and encode the verdict as the wire Decision for `in`, read
  // from `position`. `out` is cleared first.
  void apply(const v1::Envelope& in, Position position, v1::Decision* out);

  const State& state() const { return state_; }

  // What decide() changed since the last clear_changes(), for the state
  // store (change_log.h). Off by default: the log grows until cleared, so
  // only a caller that persists every batch turns it on (replay and
  // benchmarks never pay for it). Turning it on clears the log.
  void track_changes(bool on);
  bool tracking_changes() const { return tracking_changes_; }
  const ChangeLog& changes() const { return changes_; }
  void clear_changes();

  // The full invariant check of DESIGN §4, O(state): every funder's
  // reserved equals the sum of its outstanding reservations, balances add up,
  // and every limit holds. apply() asserts the O(1) per-event subset on every
  // event; tests and `--paranoid` runs call this after every event. Returns
  // one line per violation, empty when all hold.
  std::vector<std::string> check_invariants() const;

 private:
  friend class StateRestorer;  // restore.h: rebuilds state_ from stored records

  void prefetch_for(const v1::Envelope& in, IdKeys* keys) const;
  // `keys` from prefetch_for(in), or null to hash the ids here.
  const Verdict& decide(const v1::Envelope& in, const IdKeys* keys);

  State state_;
  ChangeLog changes_;
  bool tracking_changes_ = false;
  Verdict verdict_;
  // Buffers reused across events so that deciding does not allocate.
  struct Scratch {
    Event event;                     // the decoded event (a fresh one costs a large variant's construction)
    std::string canonical;           // content-hash input
    std::vector<std::uint32_t> due;  // coupons expiring at this event
    CampaignIdx last_campaign;       // the campaign the last event named (Step::campaign_idx)
  } scratch_;
};

}  // namespace dangol
