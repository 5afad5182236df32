// The event-time merge of campaignd's input partitions (merge.h, DESIGN §5
// "Order across partitions"), without Kafka: records are fed per partition
// as fetches would bring them, and the order taken is checked.

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <tuple>
#include <vector>

#include "services/campaignd/merge.h"

namespace dangol::campaignd {
namespace {

MergeItem item(std::int32_t partition, std::int64_t offset, std::int64_t time, bool decodable = true) {
  MergeItem i;
  i.partition = partition;
  i.offset = offset;
  i.time_ns = time;
  i.decodable = decodable;
  return i;
}

using Taken = std::vector<std::pair<std::int32_t, std::int64_t>>;  // (partition, offset)

Taken positions(const std::vector<MergeItem>& items) {
  Taken out;
  for (const auto& i : items) out.emplace_back(i.partition, i.offset);
  return out;
}

const auto kNeverBlocks = [](std::int32_t) { return false; };

TEST(EventTimeMerge, TakesTheSmallestTimeFirstTiesByPartitionThenOffset) {
  // Proves the order rule: smallest occurredAt, then partition, then offset.
  EventTimeMerge merge;
  merge.add(item(1, 0, 30));
  merge.add(item(1, 1, 40));
  merge.add(item(0, 0, 20));
  merge.add(item(0, 1, 40));
  merge.add(item(2, 0, 40));
  std::vector<MergeItem> out;
  EXPECT_EQ(merge.take(100, {0, 1, 2}, kNeverBlocks, &out), -1);
  EXPECT_EQ(positions(out), (Taken{{0, 0}, {1, 0}, {0, 1}, {1, 1}, {2, 0}}));
  EXPECT_EQ(merge.buffered(), 0u);
}

TEST(EventTimeMerge, AnEmptyPartitionBehindItsEndHoldsEveryoneBack) {
  // Proves a partition with nothing buffered that still has records to
  // fetch stops the merge (its next record may be the earliest), and that
  // once it is at its end the others flow.
  EventTimeMerge merge;
  merge.add(item(0, 0, 10));
  merge.add(item(0, 1, 50));
  std::vector<MergeItem> out;
  bool one_behind = true;
  auto blocks = [&](std::int32_t p) { return p == 1 && one_behind; };
  EXPECT_EQ(merge.take(100, {0, 1}, blocks, &out), 1);
  EXPECT_TRUE(out.empty());
  merge.add(item(1, 0, 20));  // fetched: earlier than partition 0's second
  EXPECT_EQ(merge.take(100, {0, 1}, blocks, &out), 1);  // partition 1 is empty again and behind
  EXPECT_EQ(positions(out), (Taken{{0, 0}, {1, 0}}));
  one_behind = false;
  EXPECT_EQ(merge.take(100, {0, 1}, blocks, &out), -1);
  EXPECT_EQ(positions(out), (Taken{{0, 0}, {1, 0}, {0, 1}}));
}

TEST(EventTimeMerge, AnUndecodableRecordGoesAtItsTurnInItsPartition) {
  // Proves a record that does not decode is taken once it heads its
  // partition, not before the records ahead of it there.
  EventTimeMerge merge;
  merge.add(item(0, 0, 100));
  merge.add(item(0, 1, 0, /*decodable=*/false));
  merge.add(item(1, 0, 50));
  std::vector<MergeItem> out;
  EXPECT_EQ(merge.take(100, {0, 1}, kNeverBlocks, &out), -1);
  EXPECT_EQ(positions(out), (Taken{{1, 0}, {0, 0}, {0, 1}}));
}

TEST(EventTimeMerge, StopsAtMaxAndGoesOnWhereItStopped) {
  // Proves `max` bounds a take and the next take continues the order.
  EventTimeMerge merge;
  for (int i = 0; i < 10; ++i) merge.add(item(i % 2, i / 2, i));
  std::vector<MergeItem> out;
  EXPECT_EQ(merge.take(4, {0, 1}, kNeverBlocks, &out), -1);
  EXPECT_EQ(out.size(), 4u);
  EXPECT_EQ(merge.take(100, {0, 1}, kNeverBlocks, &out), -1);
  ASSERT_EQ(out.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(out[i].time_ns, i);
}

TEST(EventTimeMerge, TheOrderDoesNotDependOnHowRecordsArrive) {
  // Proves DESIGN §5's determinism: the same partitions, fetched in random
  // slices in random partition order and taken in random batch sizes, are
  // always taken in the one order of the rule, as long as a partition that
  // has unfetched records blocks while it is empty. Seeded; prints it.
  std::uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("DANGOL_SEED")) seed = std::strtoull(s, nullptr, 10);
  SCOPED_TRACE("DANGOL_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  constexpr int kPartitions = 8;
  std::vector<std::vector<MergeItem>> topic(kPartitions);
  std::vector<std::tuple<std::int64_t, std::int32_t, std::int64_t>> want;
  for (int p = 0; p < kPartitions; ++p) {
    std::int64_t t = 0;
    const int n = static_cast<int>(rng() % 300);
    for (int o = 0; o < n; ++o) {
      t += static_cast<std::int64_t>(rng() % 5) - 1;  // mostly forward, sometimes back, many ties
      topic[p].push_back(item(p, o, t, rng() % 50 != 0));
    }
  }
  // The ideal merge, with every record known.
  EventTimeMerge ideal;
  for (auto& partition : topic) {
    for (auto& i : partition) ideal.add(item(i.partition, i.offset, i.time_ns, i.decodable));
  }
  std::vector<std::int32_t> all;
  for (int p = 0; p < kPartitions; ++p) all.push_back(p);
  std::vector<MergeItem> expected;
  ideal.take(1'000'000, all, kNeverBlocks, &expected);
  for (int round = 0; round < 50; ++round) {
    EventTimeMerge merge;
    std::vector<std::size_t> fetched(kPartitions, 0);
    auto blocks = [&](std::int32_t p) { return fetched[p] < topic[p].size(); };
    std::vector<MergeItem> got;
    while (got.size() < expected.size()) {
      const int p = static_cast<int>(rng() % kPartitions);
      const std::size_t slice = rng() % 20;
      for (std::size_t k = 0; k < slice && fetched[p] < topic[p].size(); ++k, ++fetched[p]) {
        const MergeItem& i = topic[p][fetched[p]];
        merge.add(item(i.partition, i.offset, i.time_ns, i.decodable));
      }
      merge.take(1 + rng() % 50, all, blocks, &got);
    }
    // Decodable records in the rule's order; dead letters each at their
    // turn in their partition (their place among other partitions' records
    // does not matter: they get no seq and change no state).
    auto decodable = [](const std::vector<MergeItem>& items) {
      Taken out;
      for (const auto& i : items) {
        if (i.decodable) out.emplace_back(i.partition, i.offset);
      }
      return out;
    };
    ASSERT_EQ(decodable(got), decodable(expected)) << "round " << round;
    for (int p = 0; p < kPartitions; ++p) {
      Taken in_partition;
      for (const auto& i : got) {
        if (i.partition == p) in_partition.emplace_back(p, i.offset);
      }
      ASSERT_EQ(in_partition.size(), topic[p].size());
      ASSERT_TRUE(std::is_sorted(in_partition.begin(), in_partition.end()));
    }
  }
}

}  // namespace
}  // namespace dangol::campaignd
