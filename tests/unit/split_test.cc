// The funder split (DESIGN §3): exact sums, largest remainder with ties in
// funder order, and no funder ever giving more than it reserved.

#include "engine/split.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "tests/unit/reference_model.h"

namespace dangol {
namespace {

std::vector<std::int64_t> as_vector(const Parts& p) { return {p.amount.begin(), p.amount.begin() + p.size}; }

// An even split needs no leftover units.
TEST(SplitByShares, EvenSplitHasNoLeftover) {
  std::vector<std::int32_t> shares = {5000, 5000};
  EXPECT_EQ(as_vector(split_by_shares(Money(2000), shares)), (std::vector<std::int64_t>{1000, 1000}));
}

// A leftover unit goes to the largest remainder; equal remainders go to the
// earlier funder.
TEST(SplitByShares, LeftoverGoesToLargestRemainderThenFunderOrder) {
  std::vector<std::int32_t> halves = {5000, 5000};
  EXPECT_EQ(as_vector(split_by_shares(Money(1), halves)), (std::vector<std::int64_t>{1, 0}));
  std::vector<std::int32_t> thirds = {3333, 3333, 3334};
  // 100·3333 = 333300 -> 33 r 3300; 100·3334 = 333400 -> 33 r 3400: the third funder wins the unit.
  EXPECT_EQ(as_vector(split_by_shares(Money(100), thirds)), (std::vector<std::int64_t>{33, 33, 34}));
  // 2 units: remainders 6666, 6666, 6668 -> the third, then the first of the tied two.
  EXPECT_EQ(as_vector(split_by_shares(Money(2), thirds)), (std::vector<std::int64_t>{1, 0, 1}));
}

// Splits of zero list every funder with zeros.
TEST(SplitByShares, ZeroListsEveryFunder) {
  std::vector<std::int32_t> shares = {1, 9999};
  EXPECT_EQ(as_vector(split_by_shares(Money(0), shares)), (std::vector<std::int64_t>{0, 0}));
}

// Near the largest amount the products do not overflow.
TEST(SplitByShares, LargestAmountDoesNotOverflow) {
  std::vector<std::int32_t> shares = {3333, 3333, 3334};
  Parts p = split_by_shares(Money(kMaxAmount), shares);
  EXPECT_EQ(p.sum(), kMaxAmount);
}

// Moving part of a reservation splits it in proportion to what each funder
// still has reserved, never more than that.
TEST(SplitProportional, FollowsRemainingParts) {
  Parts r;
  r.size = 2;
  r[0] = 300;
  r[1] = 100;
  EXPECT_EQ(as_vector(split_proportional(Money(200), r)), (std::vector<std::int64_t>{150, 50}));
  EXPECT_EQ(as_vector(split_proportional(Money(400), r)), (std::vector<std::int64_t>{300, 100}));
  EXPECT_EQ(as_vector(split_proportional(Money(1), r)), (std::vector<std::int64_t>{1, 0}));
}

// A funder with nothing left reserved never pays a leftover unit.
TEST(SplitProportional, EmptyPartNeverPays) {
  Parts r;
  r.size = 3;
  r[0] = 0;
  r[1] = 1;
  r[2] = 1;
  EXPECT_EQ(as_vector(split_proportional(Money(1), r)), (std::vector<std::int64_t>{0, 1, 0}));
}

// Random splits always sum exactly and never exceed the reservation; the
// seed is printed so a failure can be rerun.
TEST(SplitProportional, RandomSplitsSumExactlyAndStayWithinParts) {
  std::uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("DANGOL_SEED")) seed = std::strtoull(s, nullptr, 10);
  SCOPED_TRACE("DANGOL_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 20'000; ++round) {
    Parts r;
    r.size = static_cast<std::uint8_t>(1 + rng() % kMaxFunders);
    for (int i = 0; i < r.size; ++i) r[i] = static_cast<std::int64_t>(rng() % 1'000'000);
    std::int64_t whole = r.sum();
    std::int64_t a = whole == 0 ? 0 : static_cast<std::int64_t>(rng() % (whole + 1));
    Parts s = split_proportional(Money(a), r);
    ASSERT_EQ(s.sum(), a);
    for (int i = 0; i < r.size; ++i) ASSERT_LE(s[i], r[i]);
  }
}

// The splits take a 64-bit path when the products fit. Amounts up to 10^15
// won split by shares always fit; the test also splits amounts up to 2^62,
// which no event carries, to reach the 128-bit path. Proportional splits of
// parts up to 10^15 fall on both sides of 2^64. Both paths must give the
// reference model's split, which is 128-bit only.
TEST(Split, SmallAndHugeAmountsMatchTheReference) {
  std::uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("DANGOL_SEED")) seed = std::strtoull(s, nullptr, 10);
  SCOPED_TRACE("DANGOL_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  auto amount = [&](std::int64_t most) {  // log-uniform in [0, most]
    const std::int64_t scale = static_cast<std::int64_t>(1) << (rng() % 63);
    return static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(std::min(scale, most) + 1));
  };
  for (int round = 0; round < 20'000; ++round) {
    const std::size_t n = 1 + rng() % kMaxFunders;
    std::vector<std::int32_t> shares(n, 0);
    std::int32_t left = static_cast<std::int32_t>(kBpsWhole);
    for (std::size_t i = 0; i + 1 < n; ++i) {
      shares[i] = static_cast<std::int32_t>(rng() % static_cast<std::uint64_t>(left + 1));
      left -= shares[i];
    }
    shares[n - 1] = left;
    const std::int64_t x = amount(std::int64_t{1} << 62);
    EXPECT_EQ(as_vector(split_by_shares(Money(x), shares)),
              ref::split_by_shares(x, std::vector<std::int64_t>(shares.begin(), shares.end())))
        << "x=" << x;

    Parts r;
    r.size = static_cast<std::uint8_t>(n);
    std::vector<std::int64_t> weights(n);
    for (std::size_t i = 0; i < n; ++i) weights[i] = r[i] = amount(kMaxAmount) / static_cast<std::int64_t>(n);
    const std::int64_t whole = r.sum();
    if (whole == 0) continue;
    const std::int64_t a = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(whole + 1));
    ASSERT_EQ(as_vector(split_proportional(Money(a), r)), ref::split_in_proportion(a, weights)) << "a=" << a;
  }
}

}  // namespace
}  // namespace dangol
