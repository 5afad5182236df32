// HashIndex, the idempotency table: random operations against std::map as
// the obviously-correct reference (the RocksDB db_map_fuzzer pattern).

#include "engine/hash_index.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <random>

namespace dangol {
namespace {

struct KeyLess {
  bool operator()(const EventIdKey& a, const EventIdKey& b) const {
    return a.high != b.high ? a.high < b.high : a.low < b.low;
  }
};

// Inserts and lookups agree with std::map across growth, including keys
// that collide in their low bits and the all-zero key.
TEST(HashIndex, AgreesWithStdMap) {
  std::uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("DANGOL_SEED")) seed = std::strtoull(s, nullptr, 10);
  SCOPED_TRACE("DANGOL_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  HashIndex<std::uint64_t> index;
  std::map<EventIdKey, std::uint64_t, KeyLess> reference;
  auto random_key = [&] {
    // Small key space so that repeats and low-bit collisions are common.
    switch (rng() % 4) {
      case 0: return EventIdKey{rng() % 64, 0};
      case 1: return EventIdKey{0, (rng() % 64) << 20};
      case 2: return EventIdKey{0, 0};
      default: return EventIdKey{rng(), rng()};
    }
  };
  for (int op = 0; op < 200'000; ++op) {
    EventIdKey key = random_key();
    if (rng() % 2 == 0) {
      std::uint64_t value = rng();
      auto [stored, inserted] = index.try_emplace(key, value);
      auto [it, ref_inserted] = reference.try_emplace(key, value);
      ASSERT_EQ(inserted, ref_inserted);
      ASSERT_EQ(*stored, it->second);
    } else {
      const std::uint64_t* found = index.find(key);
      auto it = reference.find(key);
      ASSERT_EQ(found != nullptr, it != reference.end());
      if (found) {
        ASSERT_EQ(*found, it->second);
      }
    }
    ASSERT_EQ(index.size(), reference.size());
  }
  std::size_t visited = 0;
  index.for_each([&](EventIdKey, std::uint64_t) { ++visited; });
  EXPECT_EQ(visited, reference.size());
}

}  // namespace
}  // namespace dangol
