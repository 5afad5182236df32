#include "engine/split.h"

#include "engine/assert.h"

namespace dangol {
namespace {

// Hands out `leftover` single units to the funders with the largest
// remainders, ties to the earlier funder. leftover < number of funders with a
// non-zero remainder, so each funder gets at most one unit.
void distribute_leftover(Parts& parts, const std::array<__int128, kMaxFunders>& remainder, std::int64_t leftover) {
  std::array<bool, kMaxFunders> taken{};
  for (std::int64_t unit = 0; unit < leftover; ++unit) {
    int best = -1;
    for (int i = 0; i < parts.size; ++i) {
      if (taken[i]) continue;
      if (best < 0 || remainder[i] > remainder[best]) best = i;
    }
    DANGOL_ASSERT(best >= 0, "split leftover exceeds funder count");
    taken[best] = true;
    parts[best] += 1;
  }
}

}  // namespace

std::int64_t Parts::sum() const {
  std::int64_t s = 0;
  for (int i = 0; i < size; ++i) s += amount[i];
  return s;
}

Parts split_by_shares(Money total, std::span<const std::int32_t> shares_bps) {
  DANGOL_ASSERT(total.minor() >= 0, "split of a negative amount");
  DANGOL_ASSERT(shares_bps.size() >= 1 && shares_bps.size() <= kMaxFunders, "funder count out of range");
  Parts parts;
  parts.size = static_cast<std::uint8_t>(shares_bps.size());
  std::array<__int128, kMaxFunders> remainder{};
  std::int64_t assigned = 0;
  for (std::size_t i = 0; i < shares_bps.size(); ++i) {
    DANGOL_ASSERT(shares_bps[i] >= 0, "negative share");
    std::uint64_t product64;
    if (!__builtin_mul_overflow(static_cast<std::uint64_t>(total.minor()), static_cast<std::uint64_t>(shares_bps[i]),
                                &product64)) {
      // Every amount up to 10^15 won: 64-bit arithmetic, and the division by
      // a constant is a multiplication (128-bit division is a library call).
      parts[i] = static_cast<std::int64_t>(product64 / kBpsWhole);
      remainder[i] = product64 % kBpsWhole;
    } else {
      __int128 product = static_cast<__int128>(total.minor()) * shares_bps[i];
      parts[i] = static_cast<std::int64_t>(product / kBpsWhole);
      remainder[i] = product % kBpsWhole;
    }
    assigned += parts[i];
  }
  distribute_leftover(parts, remainder, total.minor() - assigned);
  DANGOL_ASSERT(parts.sum() == total.minor(), "share split does not sum to its total");
  return parts;
}

Parts split_proportional(Money amount, const Parts& remaining) {
  const std::int64_t whole = remaining.sum();
  DANGOL_ASSERT(amount.minor() >= 0 && amount.minor() <= whole, "proportional split outside the reservation");
  Parts parts;
  parts.size = remaining.size;
  if (whole == 0) return parts;
  std::array<__int128, kMaxFunders> remainder{};
  std::int64_t assigned = 0;
  for (int i = 0; i < remaining.size; ++i) {
    DANGOL_ASSERT(remaining[i] >= 0, "negative remaining part");
    std::uint64_t product64;
    if (!__builtin_mul_overflow(static_cast<std::uint64_t>(amount.minor()), static_cast<std::uint64_t>(remaining[i]),
                                &product64)) {
      const auto divisor = static_cast<std::uint64_t>(whole);
      parts[i] = static_cast<std::int64_t>(product64 / divisor);
      remainder[i] = product64 % divisor;
    } else {
      __int128 product = static_cast<__int128>(amount.minor()) * remaining[i];
      parts[i] = static_cast<std::int64_t>(product / whole);
      remainder[i] = product % whole;
    }
    assigned += parts[i];
  }
  distribute_leftover(parts, remainder, amount.minor() - assigned);
  DANGOL_ASSERT(parts.sum() == amount.minor(), "proportional split does not sum to its total");
  for (int i = 0; i < parts.size; ++i) {
    DANGOL_ASSERT(parts[i] <= remaining[i], "a funder would give more than it reserved");
  }
  return parts;
}

Parts subtract(const Parts& r, const Parts& s) {
  DANGOL_ASSERT(r.size == s.size, "part sizes differ");
  Parts out;
  out.size = r.size;
  for (int i = 0; i < r.size; ++i) out[i] = r[i] - s[i];
  return out;
}

}  // namespace dangol
