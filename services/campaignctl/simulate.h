#pragma once
// `campaignctl simulate` (CONTRACT §4): deterministic event streams for demos,
// golden tests and benchmarks. Both write one Envelope per line in the
// protobuf JSON mapping (CONTRACT §1). The same seed gives byte-identical
// output on every machine: the generators use their own PRNG and integer
// arithmetic only, and read no clock.

#include <cstdint>
#include <ostream>

namespace dangol::simulate {

// The pilot of DESIGN §1: one market, 70 enrolled merchants, 62 channels,
// 4,040 friends net of blocks, 361 messages, under a co-funded welcome
// campaign. Replayed through the engine, `report` shows exactly these
// figures for market "mkt-mangwon", whatever the seed. About 5,700 lines.
void pilot(std::ostream& out, std::uint64_t seed);

// Fewest lines festival() can write: the setup and one of every outcome it
// promises need this many. Callers must reject smaller `events`.
inline constexpr std::int64_t kFestivalMinEvents = 200;

// The festival promotion of DESIGN §1: a 50/50 co-funded ISSUED campaign,
// 10 % up to 5,000 KRW, whose budget claims exhaust once before a top-up.
// Writes exactly `events` lines (>= kFestivalMinEvents), streaming: memory
// does not grow with the stream, only with the coupons still inside their
// validity window. The shape is described at the top of simulate.cc.
void festival(std::ostream& out, std::uint64_t seed, std::int64_t events);

}  // namespace dangol::simulate
