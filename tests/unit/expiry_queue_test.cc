// ExpiryQueue against a std::multimap of deadlines as the obviously-correct
// reference: every pop_due(now) returns exactly the entries with a deadline
// before `now`, whatever the order they were pushed in.

#include "engine/expiry_queue.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace dangol {
namespace {

using Entries = std::vector<std::pair<std::int64_t, std::uint32_t>>;

Entries sorted(Entries e) {
  std::sort(e.begin(), e.end());
  return e;
}

// Runs `ops` random pushes and pops: runs (campaigns) mostly get growing
// deadlines, as events in time order give them, and sometimes earlier ones
// (late events, restored coupons); the clock mostly creeps and sometimes
// jumps, emptying runs or the whole queue.
void check_against_multimap(std::uint64_t seed, int ops, std::uint32_t runs) {
  SCOPED_TRACE("DANGOL_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  ExpiryQueue queue;
  std::multimap<std::int64_t, std::uint32_t> reference;
  std::vector<std::int64_t> last(runs, 0);
  std::int64_t now = 0;
  std::uint32_t coupon = 0;
  for (int op = 0; op < ops; ++op) {
    if (rng() % 3 != 0) {
      const auto run = static_cast<std::uint32_t>(rng() % runs);
      std::int64_t deadline = std::max(last[run], now) + static_cast<std::int64_t>(rng() % 50);
      if (rng() % 10 == 0) deadline = now + static_cast<std::int64_t>(rng() % 200) - 100;  // out of order
      last[run] = std::max(last[run], deadline);
      queue.push(run, {deadline, coupon});
      reference.emplace(deadline, coupon);
      ++coupon;
    } else {
      now += rng() % 100 == 0 ? static_cast<std::int64_t>(rng() % 5'000) : static_cast<std::int64_t>(rng() % 20);
      Entries popped, expected;
      queue.pop_due(now, [&](std::uint32_t k) { popped.push_back({0, k}); }, [](std::uint32_t) {});
      for (auto it = reference.begin(); it != reference.end() && it->first < now;) {
        expected.push_back({0, it->second});
        it = reference.erase(it);
      }
      ASSERT_EQ(sorted(popped), sorted(expected)) << "at " << now;
    }
    ASSERT_EQ(queue.size(), reference.size());
  }
  Entries listed, expected;
  queue.for_each([&](const ExpiryEntry& e) { listed.push_back({e.deadline_nanos, e.coupon}); });
  for (const auto& [deadline, k] : reference) expected.push_back({deadline, k});
  EXPECT_EQ(sorted(listed), sorted(expected));
}

std::uint64_t test_seed() {
  std::uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("DANGOL_SEED")) seed = std::strtoull(s, nullptr, 10);
  return seed;
}

TEST(ExpiryQueue, PopsExactlyTheDueEntries) { check_against_multimap(test_seed(), 50'000, 5); }

TEST(ExpiryQueue, ManyRunsAndOneRun) {
  const std::uint64_t seed = test_seed();
  check_against_multimap(seed, 20'000, 300);
  check_against_multimap(seed + 1, 20'000, 1);
}

// A run that is never empty drops its popped entries (Run::compact) and
// still pops in order.
TEST(ExpiryQueue, ARunThatNeverEmptiesKeepsPopping) {
  ExpiryQueue queue;
  std::uint32_t next_popped = 0;
  for (std::uint32_t i = 0; i < 100'000; ++i) {
    queue.push(0, {std::int64_t{i} + 1'000, i});
    queue.pop_due(i, [&](std::uint32_t k) { ASSERT_EQ(k, next_popped++); }, [](std::uint32_t) {});
  }
  EXPECT_EQ(queue.size(), 100'000u - next_popped);
  EXPECT_EQ(next_popped, 100'000u - 1'001);
}

}  // namespace
}  // namespace dangol
