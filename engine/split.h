#pragma once
// The funder split (DESIGN §3): how an amount is divided among a campaign's
// funders, to the won, so that every split sums exactly to its total and no
// funder ever gives more than it reserved.

#include <array>
#include <cstdint>
#include <span>

#include "engine/event.h"
#include "engine/types.h"

namespace dangol {

// Per-funder amounts in funder definition order; `size` funders are used.
struct Parts {
  std::array<std::int64_t, kMaxFunders> amount{};
  std::uint8_t size = 0;

  std::int64_t sum() const;
  std::int64_t operator[](std::size_t i) const { return amount[i]; }
  std::int64_t& operator[](std::size_t i) { return amount[i]; }
  bool operator==(const Parts&) const = default;
};

// Splits a new cost x by shares: floor(x·bps_i/10000), then the units left
// over one each by largest remainder (x·bps_i) mod 10000, ties in funder order.
Parts split_by_shares(Money total, std::span<const std::int32_t> shares_bps);

// Splits part a of an existing reservation in proportion to its remaining
// parts r_i: floor(a·r_i/Σr), then largest remainder (a·r_i) mod Σr. Requires
// 0 <= a <= Σr; the result never exceeds r_i for any funder.
Parts split_proportional(Money amount, const Parts& remaining);

// r - s, element-wise.
Parts subtract(const Parts& r, const Parts& s);

}  // namespace dangol
