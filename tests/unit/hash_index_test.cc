// The engine's hash tables: KeyedLog, the idempotency table, and IdIndex,
// the id index, both on a PositionIndex, CustomerGrants, the perCustomer
// counts, and MerchantUsages, the per-merchant limits' usages: random
// operations against std::map as the obviously-correct reference (the
// RocksDB db_map_fuzzer pattern). Also the runs of StableVector that the
// state store writes.

#include "engine/hash_index.h"
#include "engine/id_index.h"
#include "engine/keyed_log.h"
#include "engine/stable_vector.h"
#include "engine/state.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace dangol {
namespace {

struct KeyLess {
  bool operator()(const EventIdKey& a, const EventIdKey& b) const {
    return a.high != b.high ? a.high < b.high : a.low < b.low;
  }
};

using Log = KeyedLog<std::uint64_t>;

// A random seed, or DANGOL_SEED's to rerun a failure.
std::uint64_t test_seed() {
  if (const char* s = std::getenv("DANGOL_SEED")) return std::strtoull(s, nullptr, 10);
  return std::random_device{}();
}

// Random keys from a small space, so that repeats and low-bit collisions are
// common, with the all-zero key among them; many share their fragment (the
// low 32 bits) and differ above it or in the high half.
EventIdKey random_key(std::mt19937_64& rng) {
  switch (rng() % 5) {
    case 0: return EventIdKey{rng() % 64, 0};
    case 1: return EventIdKey{0, (rng() % 64) << 20};
    case 2: return EventIdKey{0, 0};
    case 3: return EventIdKey{rng() % 4, (rng() % 64) << 32 | 5};
    default: return EventIdKey{rng(), rng()};
  }
}

// Inserts and lookups agree with std::map across growth, including keys
// that collide in their low bits and the all-zero key, and the log lists
// its entries in the order they were appended.
TEST(KeyedLog, AgreesWithStdMap) {
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("DANGOL_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  Log log;
  std::map<EventIdKey, std::uint64_t, KeyLess> reference;
  std::vector<EventIdKey> order;
  for (int op = 0; op < 200'000; ++op) {
    const EventIdKey key = random_key(rng);
    if (rng() % 2 == 0) {
      std::uint64_t value = rng();
      auto [stored, inserted] = log.try_emplace(key, value);
      auto [it, ref_inserted] = reference.try_emplace(key, value);
      ASSERT_EQ(inserted, ref_inserted);
      ASSERT_EQ(*stored, it->second);
      if (inserted) order.push_back(key);
    } else {
      const std::uint64_t* found = log.find(key);
      auto it = reference.find(key);
      ASSERT_EQ(found != nullptr, it != reference.end());
      if (found) {
        ASSERT_EQ(*found, it->second);
      }
    }
    ASSERT_EQ(log.size(), reference.size());
  }
  std::vector<EventIdKey> listed;
  log.for_each([&](const EventIdKey& k, std::uint64_t v) {
    listed.push_back(k);
    EXPECT_EQ(v, reference.at(k));
  });
  EXPECT_EQ(listed, order);
}

TEST(KeyedLog, ReserveKeepsEntries) {
  Log log;
  for (std::uint64_t i = 1; i <= 1000; ++i) log.try_emplace(EventIdKey{i, i * 7}, i);
  log.reserve(100'000);
  for (std::uint64_t i = 1001; i <= 50'000; ++i) log.try_emplace(EventIdKey{i, i * 7}, i);
  for (std::uint64_t i = 1; i <= 50'000; ++i) {
    const std::uint64_t* v = log.find(EventIdKey{i, i * 7});
    ASSERT_NE(v, nullptr);
    ASSERT_EQ(*v, i);
  }
  EXPECT_EQ(log.size(), 50'000u);
}

// Growing moves slots in place: clusters that wrap around the end of the
// table, and probes that run off the end of the grown one, keep every entry
// findable. The keys of each round share their ten low bits, so they pile
// up in one cluster, which for the first round starts at the last slot and
// wraps; the table grows through the sizes that are malloc'd and those that
// are mapped. Half the keys of a round share their whole fragment, so each
// probe compares them in the log.
TEST(KeyedLog, GrowingKeepsClustersThatWrapAround) {
  for (std::uint64_t low : {~std::uint64_t{0}, ~std::uint64_t{0} << 9, std::uint64_t{1} << 40}) {
    SCOPED_TRACE(low);
    Log log;
    std::mt19937_64 rng(low);
    std::vector<EventIdKey> keys;
    for (std::uint64_t i = 0; i < 3000; ++i) {
      // The others differ only above bit 10, where the growing mask reaches
      // them one size at a time.
      keys.push_back(EventIdKey{rng(), i % 2 == 0 ? low : low ^ (rng() << 10)});
      ASSERT_TRUE(log.try_emplace(keys.back(), i).second);
      if (i % 97 == 0 || i + 1 == 3000) {
        for (std::uint64_t k = 0; k < keys.size(); ++k) {
          const std::uint64_t* v = log.find(keys[k]);
          ASSERT_NE(v, nullptr) << "key " << k << " of " << keys.size();
          ASSERT_EQ(*v, k);
        }
      }
    }
    EXPECT_EQ(log.size(), keys.size());
  }
}

// Large tables grow by extending their mapping; entries of random keys all
// survive several such growths, fourfold up to 2^20 slots and then twofold
// (600,000 entries take the table past 2^20 slots, to 2^21).
TEST(KeyedLog, LargeTablesGrowInPlace) {
  Log log;
  std::mt19937_64 rng(7);
  std::vector<EventIdKey> keys(600'000);
  for (auto& k : keys) k = EventIdKey{rng(), rng()};
  for (std::uint64_t i = 0; i < keys.size(); ++i) log.try_emplace(keys[i], i);
  for (std::uint64_t i = 0; i < keys.size(); ++i) {
    const std::uint64_t* v = log.find(keys[i]);
    ASSERT_NE(v, nullptr);
    ASSERT_EQ(*v, i);
  }
  std::size_t visited = 0;
  log.for_each([&](const EventIdKey&, std::uint64_t) { ++visited; });
  EXPECT_EQ(visited, keys.size());
}

// The state store writes the idempotency log's new entries as the runs
// for_each_run gives: from any position, they are the elements in order,
// each run within one chunk (chunks of 4 here, so runs cross boundaries).
TEST(StableVector, RunsListEveryElementFromAnyPosition) {
  StableVector<std::uint64_t, 4> v;
  for (std::uint64_t i = 0; i < 19; ++i) v.emplace_back(i * 3);
  for (std::size_t from = 0; from <= 20; ++from) {
    std::vector<std::uint64_t> seen;
    v.for_each_run(from, [&](const std::uint64_t* run, std::size_t n) {
      ASSERT_GE(n, 1u);
      ASSERT_LE(n, 4u);
      ASSERT_EQ(run, &v[from + seen.size()]);
      seen.insert(seen.end(), run, run + n);
    });
    std::vector<std::uint64_t> want;
    for (std::size_t i = from; i < 19; ++i) want.push_back(i * 3);
    EXPECT_EQ(seen, want) << from;
  }
}

// Merchants' names come in chunks of 1,024 from malloc, customers' in
// huge-page chunks of 65,536 (kNamesPerChunk): either way names interned
// across chunk boundaries keep their indexes, are found again, and stay
// where they were put (the index compares them in place).
template <class IndexT>
void CheckInternerAcrossChunks(std::size_t n) {
  Interner<IndexT> names;
  std::vector<const std::string*> where;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string name = "id-" + std::to_string(i);
    ASSERT_EQ(names.intern(name).value, i);
    where.push_back(&names.name(IndexT{static_cast<std::uint32_t>(i)}));
  }
  ASSERT_EQ(names.size(), n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::string name = "id-" + std::to_string(i);
    ASSERT_EQ(names.find(name).value, i) << name;
    ASSERT_EQ(names.intern(name).value, i) << name;  // interned once
    ASSERT_EQ(&names.name(IndexT{static_cast<std::uint32_t>(i)}), where[i]) << name;
    ASSERT_EQ(names.name(IndexT{static_cast<std::uint32_t>(i)}), name);
  }
  EXPECT_FALSE(names.find("id-" + std::to_string(n)).valid());
  EXPECT_EQ(names.size(), n);
}

TEST(Interner, NamesKeepTheirIndexesAcrossChunks) {
  static_assert(kNamesPerChunk<MerchantIdx> == 1024);
  CheckInternerAcrossChunks<MerchantIdx>(3 * 1024 + 5);
  CheckInternerAcrossChunks<CustomerIdx>(kNamesPerChunk<CustomerIdx> + 3);
}

// A hash that collides often: one of 8 values, so most ids share their key
// (and fragment) with others, and each probe compares them.
struct WeakHash {
  std::uint64_t operator()(std::string_view id) const { return id.size() % 8 + 1; }
};

// Ids are compared on every hit: colliding ids never see each other's
// values, with the real hash and with one that collides on purpose.
template <class Hash>
void CheckIdIndexAgreesWithStdMap(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> names;  // value -> id, as the coupons or interned names are
  IdIndex<Hash> index;
  std::map<std::string, std::uint32_t> reference;
  auto name_of = [&](std::uint32_t v) -> std::string_view { return names[v]; };
  for (int op = 0; op < 20'000; ++op) {
    std::string id = "id-" + std::to_string(rng() % 5'000);
    if (rng() % 2 == 0) {
      const bool fresh = !reference.count(id);
      if (fresh) names.push_back(id);  // the caller stores the id before indexing it
      const auto value = static_cast<std::uint32_t>(fresh ? names.size() - 1 : reference.at(id));
      ASSERT_EQ(index.insert(id, value, name_of), fresh) << id;
      reference.try_emplace(id, value);
    } else {
      auto found = index.find(id, name_of);
      auto it = reference.find(id);
      ASSERT_EQ(found.has_value(), it != reference.end()) << id;
      if (found) {
        ASSERT_EQ(*found, it->second) << id;
      }
    }
    ASSERT_EQ(index.size(), reference.size());
  }
}

// same_id agrees with ==: for ids of every length from 0 to 40, equal
// copies (at different addresses) are the same, and a difference at any one
// position, or in the length, is seen.
TEST(IdIndex, SameIdSeesEveryByte) {
  for (std::size_t n = 0; n <= 40; ++n) {
    std::string a, b;
    for (std::size_t i = 0; i < n; ++i) a += static_cast<char>('a' + i % 26);
    b = a;
    ASSERT_TRUE(same_id(a, b)) << n;
    for (std::size_t i = 0; i < n; ++i) {
      std::string c = a;
      c[i] = static_cast<char>(c[i] ^ 0x40);
      ASSERT_FALSE(same_id(a, c)) << n << " " << i;
      ASSERT_FALSE(same_id(c, a)) << n << " " << i;
    }
    ASSERT_FALSE(same_id(a, a + "x")) << n;
    if (n > 0) {
      ASSERT_FALSE(same_id(std::string_view(a).substr(0, n - 1), a)) << n;
    }
  }
}

TEST(IdIndex, AgreesWithStdMap) {
  CheckIdIndexAgreesWithStdMap<IdHash>(7);
  CheckIdIndexAgreesWithStdMap<CouponIdHash>(7);
}

TEST(IdIndex, CollidingHashesNeverAliasIds) {
  CheckIdIndexAgreesWithStdMap<WeakHash>(11);
  IdIndex<WeakHash> index;
  std::vector<std::string> names = {"ab", "cd"};  // same size: same weak key
  auto name_of = [&](std::uint32_t v) -> std::string_view { return names[v]; };
  ASSERT_TRUE(index.insert("ab", 0, name_of));
  EXPECT_FALSE(index.find("cd", name_of).has_value());
  ASSERT_TRUE(index.insert("cd", 1, name_of));
  EXPECT_EQ(index.find("ab", name_of), std::optional<std::uint32_t>(0));
  EXPECT_EQ(index.find("cd", name_of), std::optional<std::uint32_t>(1));
  EXPECT_FALSE(index.insert("cd", 1, name_of));
}

// Counts agree with a map keyed by (campaign, customer), whether a customer
// has one campaign (the dense array) or several (the map beside it),
// whether customers arrive in order or out of it, and through set() (a
// stored state loaded) as through add().
TEST(CustomerGrants, AgreesWithStdMap) {
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("DANGOL_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  CustomerGrants grants;
  std::map<std::uint64_t, std::uint32_t> reference;
  auto listed = [&] {
    std::map<std::uint64_t, std::uint32_t> all;
    grants.for_each([&](std::uint64_t k, std::uint32_t n) { EXPECT_TRUE(all.emplace(k, n).second) << k; });
    return all;
  };
  for (int op = 0; op < 20'000; ++op) {
    const CampaignIdx c{static_cast<std::uint32_t>(rng() % 4)};
    // Mostly new customers in order, as interning makes them; sometimes a
    // known one, sometimes one far ahead.
    const std::uint32_t u = rng() % 8 == 0 ? static_cast<std::uint32_t>(rng() % 5'000)
                                           : static_cast<std::uint32_t>(op / 3);
    const std::uint64_t key = CustomerGrants::key(c, CustomerIdx{u});
    switch (rng() % 4) {
      case 0:
      case 1:
        ASSERT_EQ(grants.add(c, CustomerIdx{u}), ++reference[key]);
        break;
      case 2: {
        const auto n = static_cast<std::uint32_t>(1 + rng() % 5);
        grants.set(key, n);
        reference[key] = n;
        break;
      }
      case 3: {
        auto it = reference.find(key);
        ASSERT_EQ(grants.count(c, CustomerIdx{u}), it == reference.end() ? 0u : it->second);
        ASSERT_EQ(grants.count(key), it == reference.end() ? 0u : it->second);
        break;
      }
    }
    ASSERT_EQ(grants.size(), reference.size());
    if (op % 5'000 == 0) {
      ASSERT_EQ(listed(), reference);
    }
  }
  EXPECT_EQ(listed(), reference);
  EXPECT_EQ(grants.count(CampaignIdx{0}, CustomerIdx{}), 0u);  // not a customer yet
}

// Usages agree with a map keyed by (campaign, merchant), whether a merchant
// has one campaign (the dense array) or several (the map beside it), and
// whether merchants come in order or not; find() makes nothing.
TEST(MerchantUsages, AgreesWithStdMap) {
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("DANGOL_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  MerchantUsages usages;
  std::map<std::uint64_t, std::pair<std::int64_t, std::int64_t>> reference;  // granted_count, committed
  auto listed = [&] {
    std::map<std::uint64_t, std::pair<std::int64_t, std::int64_t>> all;
    usages.for_each([&](CampaignIdx c, MerchantIdx m, const MerchantUsage& u) {
      EXPECT_TRUE(all.emplace(MerchantUsages::key(c, m), std::pair{u.granted_count, u.committed.minor()}).second);
    });
    return all;
  };
  for (int op = 0; op < 20'000; ++op) {
    const CampaignIdx c{static_cast<std::uint32_t>(rng() % 4)};
    const std::uint32_t m = rng() % 8 == 0 ? static_cast<std::uint32_t>(rng() % 3'000)
                                           : static_cast<std::uint32_t>(op / 5);
    const std::uint64_t key = MerchantUsages::key(c, MerchantIdx{m});
    if (rng() % 2 == 0) {
      MerchantUsage& u = usages.get(c, MerchantIdx{m});
      const auto amount = static_cast<std::int64_t>(rng() % 1'000);
      u.granted_count++;
      u.committed = Money(u.committed.minor() + amount);
      auto& r = reference[key];
      r.first++;
      r.second += amount;
    }
    const MerchantUsage* found = usages.find(c, MerchantIdx{m});
    const auto it = reference.find(key);
    ASSERT_EQ(found != nullptr, it != reference.end()) << key;
    if (found != nullptr) {
      ASSERT_EQ(found->granted_count, it->second.first);
      ASSERT_EQ(found->committed.minor(), it->second.second);
    }
    if (op % 5'000 == 0) {
      ASSERT_EQ(listed(), reference);
    }
  }
  EXPECT_EQ(listed(), reference);
}

}  // namespace
}  // namespace dangol
