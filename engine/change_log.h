#pragma once
// What the engine changed since the state store last saved it (DESIGN §5:
// each batch writes only what it changed, never the state as one blob).
//
// Step marks each record at the point where it mutates it; the store reads
// the log, writes the named records as they are *now*, and clears it. A
// record may be named many times (the store dedupes), so marking is one
// push_back of a small POD into a vector whose capacity survives clear():
// in steady state marking never allocates.
//
// Append-only tables (interned names, campaigns, coupons, the idempotency
// log) are covered by watermarks instead: everything at or past the size
// they had at the last clear is new. Coupons are also mutated later, so a
// changed coupon below the watermark is listed in `coupons`.

#include <array>
#include <cstdint>
#include <vector>

#include "engine/keyed_log.h"
#include "engine/state_keys.h"

namespace dangol {

struct State;

// Keys of the per-(campaign, x) tables: campaign << 32 | x.
inline std::uint64_t pair_key(std::uint32_t campaign, std::uint32_t x) {
  return (std::uint64_t{campaign} << 32) | x;
}

struct DailyTotalKey {
  std::uint32_t campaign = 0;
  std::int64_t local_day = 0;
  auto operator<=>(const DailyTotalKey&) const = default;
};

// A friendship made or ended; replayed in order, the last one wins.
struct FriendshipChange {
  std::uint64_t key = 0;  // merchant << 32 | customer, as State::friendships
  bool added = false;
};

// Sizes of the append-only tables at the last clear().
struct Watermarks {
  std::uint64_t events = 0;  // State::seen_events
  std::uint32_t campaigns = 0, coupons = 0;
  std::uint32_t campaign_ids = 0, merchant_ids = 0, market_ids = 0, category_ids = 0, customer_ids = 0;
};

struct ChangeLog {
  using EventEntry = KeyedLog<std::uint64_t>::Entry;

  std::vector<std::uint32_t> campaigns;        // ledger, status, counters, rejections, thresholds
  std::vector<std::uint32_t> merchants;        // by MerchantIdx
  std::vector<std::uint32_t> coupons;          // by coupon index (new ones too)
  std::vector<std::uint64_t> merchant_usage;   // pair_key(campaign, merchant)
  std::vector<DailyTotalKey> daily_totals;
  std::vector<std::uint64_t> message_cash;     // pair_key(campaign, merchant)
  std::vector<std::uint64_t> customer_grants;  // pair_key(campaign, customer)
  std::vector<FriendshipChange> friendships;   // in order of change
  std::vector<std::array<std::uint32_t, 3>> welcomed;  // new (campaign, merchant, customer), each once
  Watermarks since;
  bool meta = false;  // clock, next_seq, decisions by outcome

  // Forgets every mark (keeping capacity) and moves the watermarks to the
  // current sizes of `state`'s append-only tables.
  void clear(const State& state);
};

}  // namespace dangol
