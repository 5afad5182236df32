#pragma once
// The order across partitions of DESIGN §5: campaignd merges its input
// partitions in event time, as Kafka Streams does ("stream-time
// synchronization"), so that a backlog is decided as it happened and the
// same topic contents always give the same journal.
//
// Records wait in one buffer per partition, in offset order. The next
// record decided is the buffered head with the smallest occurredAt (ties:
// partition, then offset). While some partition's buffer is empty and that
// partition is known to hold more records than were fetched (or its end is
// not known yet), nothing is taken: the caller fetches first. A record that
// does not decode is taken as soon as it is the head of its partition (it
// is dead-lettered; it changes no state and gets no seq).
//
// Pure: no Kafka calls, no clock. The caller says which partitions block.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <tuple>
#include <vector>

#include "services/kafka/handles.h"

namespace dangol::campaignd {

struct MergeItem {
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::int64_t time_ns = 0;  // occurredAt; unused when !decodable
  bool decodable = true;
  kafka::MessagePtr record;  // may be null in tests
};

class EventTimeMerge {
 public:
  // Appends a record fetched from its partition (offsets increasing).
  void add(MergeItem item);

  // Appends up to `max` records to *out in merged order. `blocks(p)` says
  // whether partition p, when its buffer is empty, holds records not
  // fetched yet (then no record may pass it). `assigned` lists every input
  // partition. Returns the partition that stopped the merge, or -1 when it
  // stopped for `max` or because every buffer ran dry without blocking.
  std::int32_t take(std::size_t max, const std::vector<std::int32_t>& assigned,
                    const std::function<bool(std::int32_t)>& blocks, std::vector<MergeItem>* out);

  std::size_t buffered() const { return buffered_; }
  std::size_t buffered(std::int32_t partition) const;
  // The offset after the last record buffered for `partition`, or -1.
  std::int64_t next_offset(std::int32_t partition) const;
  void clear();

 private:
  std::vector<std::deque<MergeItem>> buffers_;  // by partition
  std::vector<std::tuple<std::int64_t, std::int32_t, std::int64_t>> heap_;  // take()'s scratch
  std::size_t buffered_ = 0;
};

}  // namespace dangol::campaignd
