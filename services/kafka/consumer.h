#pragma once
// Consumer: reads assigned partitions from explicit offsets. campaignd keeps
// its input position in RocksDB (DESIGN §5), not in Kafka's group offsets,
// so it assigns partitions itself and never commits to the broker.
//
// Not thread-safe: one thread polls.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "services/kafka/handles.h"
#include "services/kafka/status.h"

namespace dangol::kafka {

struct ConsumerOptions {
  std::string bootstrap_servers;
  std::string group_id = "campaignd";  // for broker-side bookkeeping only
  // What to do when a position is outside the log: "earliest" skips to the
  // oldest record; "error" makes poll_batch fail with
  // RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET (campaignd: records deleted before
  // they were decided must not be skipped silently).
  std::string auto_offset_reset = "earliest";
  Settings config;                     // extra librdkafka properties, applied last
};

// A partition and, once read, its low and high watermarks.
struct PartitionWatermarks {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t low = 0, high = 0;
};

class Consumer {
 public:
  static Status create(ConsumerOptions options, std::unique_ptr<Consumer>* out);
  ~Consumer();
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Reads partitions 0..count-1 of `topic`, each from next_offsets[p] or,
  // when absent, from offset 0 (where every Kafka partition starts: a later
  // log start means records were deleted).
  Status assign(const std::string& topic, int partition_count, const std::map<std::int32_t, std::int64_t>& next_offsets);

  // Makes the client learn `topic`'s partitions now (once): a client that
  // is assigned a topic it has no metadata for waits for its next periodic
  // refresh, about a second, before it fetches anything. assign() and
  // read_ranges() call it.
  Status learn_topic(const std::string& topic, std::chrono::milliseconds timeout);

  // Up to max_records records, waiting at most max_wait for the first and
  // returning early once the batch is full. Transport errors are returned as
  // a retriable status (the batch may still hold records received before).
  Status poll_batch(std::size_t max_records, std::chrono::milliseconds max_wait, std::vector<MessagePtr>* out);

  // Low and high watermarks of `partitions`, filled in: two requests per
  // broker for them all. (rd_kafka_query_watermark_offsets makes two round
  // trips per partition: 50 ms of campaignd's start on 16 partitions of two
  // topics, against 2 ms.)
  Status watermarks(std::vector<PartitionWatermarks>* partitions, std::chrono::milliseconds timeout);

  rd_kafka_t* handle() const { return handle_.get(); }

 private:
  Consumer() = default;
  HandlePtr handle_;
  std::map<std::string, TopicPtr, std::less<>> topics_;  // learnt: kept so that their metadata stays known
  QueuePtr queue_;                           // the consumer queue, for batch reads
  std::vector<rd_kafka_message_t*> batch_;  // poll_batch's scratch
};

// The records [from, to) of one partition.
struct OffsetRange {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t from = 0, to = 0;
};

// Reads all `ranges` at once with `reader` (a consumer used for nothing
// else meanwhile), calling on_record(index in ranges, record) for each
// record, in offset order within a range; for reading the tails of many
// partitions without copying them. Fails if they are not all read within
// `timeout`.
Status read_ranges(Consumer& reader, const std::vector<OffsetRange>& ranges, std::chrono::milliseconds timeout,
                   const std::function<void(std::size_t, const rd_kafka_message_t&)>& on_record);

// The value of header `name` of a record, or empty, as a view into the
// record (valid while it lives).
std::string_view header_view(const rd_kafka_message_t* message, const char* name);

}  // namespace dangol::kafka
