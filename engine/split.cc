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

// *quotient = a·b / d and *remainder = a·b mod d, for a, b >= 0 and d > 0:
// in 64-bit arithmetic whenever the product fits, as it does for every
// amount up to 10^15 won times a share (a 128-bit division is a library
// call; a 64-bit one by the constant 10000 is a multiplication).
inline void multiply_divide(std::int64_t a, std::int64_t b, std::int64_t d, std::int64_t* quotient,
                            __int128* remainder) {
  DANGOL_ASSERT(a >= 0 && b >= 0 && d > 0, "split of negative amounts");
  std::uint64_t product;
  if (!__builtin_mul_overflow(static_cast<std::uint64_t>(a), static_cast<std::uint64_t>(b), &product)) {
    *quotient = static_cast<std::int64_t>(product / static_cast<std::uint64_t>(d));
    *remainder = product % static_cast<std::uint64_t>(d);
    return;
  }
  const __int128 wide = static_cast<__int128>(a) * b;
  *quotient = static_cast<std::int64_t>(wide / d);
  *remainder = wide % d;
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
    multiply_divide(total.minor(), shares_bps[i], kBpsWhole, &parts[i], &remainder[i]);
    assigned += parts[i];
  }
  distribute_leftover(parts, remainder, total.minor() - assigned);
  DANGOL_ASSERT(parts.sum() == total.minor(), "share split does not sum to its total");
  return parts;
}

Parts split_proportional(Money amount, const Parts& remaining) {
  const std::int64_t whole = remaining.sum();
  DANGOL_ASSERT(amount.minor() >= 0 && amount.minor() <= whole, "proportional split outside the reservation");
  if (amount.minor() == whole) return remaining;  // a capped discount: all of it, no division
  Parts parts;
  parts.size = remaining.size;
  if (whole == 0) return parts;
  std::array<__int128, kMaxFunders> remainder{};
  std::int64_t assigned = 0;
  const int last = remaining.size - 1;
  __int128 remainders = 0;
  for (int i = 0; i < last; ++i) {
    multiply_divide(amount.minor(), remaining[i], whole, &parts[i], &remainder[i]);
    assigned += parts[i];
    remainders += remainder[i];
  }
  // The last part without a division (one of two for a co-funded campaign):
  // its product a·r_last = a·whole - sum of the others' = (a - assigned)·whole
  // - remainders, so its quotient is a - assigned - ceil(remainders / whole),
  // and remainders < last · whole takes at most `last` steps.
  std::int64_t up = 0;
  while (static_cast<__int128>(up) * whole < remainders) ++up;
  parts[last] = amount.minor() - assigned - up;
  remainder[last] = static_cast<__int128>(up) * whole - remainders;
  assigned += parts[last];
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
