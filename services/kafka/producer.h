#pragma once
// Producer: an idempotent librdkafka producer with a bounded local queue and
// counted delivery reports.
//
// Not thread-safe: one thread calls produce/poll/flush, and delivery reports
// (and `on_delivery`) run on that thread inside those calls.
//
// Every record ends in exactly one delivery report within
// `message_timeout_ms` of being produced (delivered, or failed after
// librdkafka's own retries). Idempotence (enable.idempotence=true) means
// those retries neither duplicate nor reorder records within a partition.

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "services/kafka/handles.h"
#include "services/kafka/status.h"

namespace dangol::kafka {

// The partitioner chooses the partition from the key (murmur2_random).
inline constexpr std::int32_t kAnyPartition = RD_KAFKA_PARTITION_UA;

struct Header {
  const char* name;  // NUL-terminated, usually a literal ("shard", "seq")
  std::string_view value;
};

struct OutRecord {
  std::string_view topic;
  std::string_view key;  // empty: no key (a null key in Kafka)
  std::string_view value;
  std::int32_t partition = kAnyPartition;
  std::span<const Header> headers = {};
  // Caller's bookkeeping, handed back in the delivery report: `tag` selects a
  // delivery counter (< kMaxTags), `id` is free (< 2^60).
  std::uint8_t tag = 0;
  std::uint64_t id = 0;
};

struct Delivery {
  std::uint8_t tag;
  std::uint64_t id;
  std::int32_t partition;
  std::int64_t offset;  // -1 when failed
  const Status* status;  // ok when delivered
  std::size_t bytes;     // of the record's value
};

struct ProducerOptions {
  std::string bootstrap_servers;
  // Each record is delivered or failed within this; also bounds metadata
  // requests and waiting for room in the local queue.
  int message_timeout_ms = 10'000;
  // Local queue bound (queue.buffering.max.messages): produce() waits,
  // serving delivery reports, while this many records are undelivered.
  int max_queued_records = 100'000;
  int linger_ms = 5;
  // Extra librdkafka properties, applied last (e.g. security settings).
  Settings config;
  // Optional; called for every delivery report on the producing thread.
  std::function<void(const Delivery&)> on_delivery;
  // Optional; librdkafka's log lines (level as syslog). Called from
  // librdkafka's threads. Without it, logs are dropped: errors still surface
  // through statuses, with the last client error in their text.
  std::function<void(int level, std::string_view line)> log;
};

class Producer {
 public:
  static constexpr int kMaxTags = 8;
  static constexpr std::size_t kMaxHeaders = 10;  // per record

  static Status create(ProducerOptions options, std::unique_ptr<Producer>* out);
  // Undelivered records are purged; flush() first to deliver them.
  ~Producer() = default;
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Enqueues one record (key and value are copied). While the local queue is
  // full it serves delivery reports and waits (never spins), up to
  // message_timeout_ms. Fails at once after a fatal client error. Delivery
  // reports are served every kPollEvery records (and by poll()/flush()).
  Status produce(const OutRecord& record);

  // Serves delivery reports for up to `timeout`.
  void poll(std::chrono::milliseconds timeout);

  // Waits until every record has its delivery report, up to `timeout`.
  // Ok only if nothing is left in flight and no delivery failed since the
  // previous flush() (first_error() keeps the first failure ever).
  Status flush(std::chrono::milliseconds timeout);

  // The topic's partition count from the brokers (cached after the first
  // success); bounded by message_timeout_ms.
  Status partition_count(std::string_view topic, int* count);

  std::int64_t delivered() const;
  std::int64_t delivered(std::uint8_t tag) const { return tag < kMaxTags ? delivered_[tag] : 0; }
  std::int64_t failed() const { return failed_; }
  // Times produce() found the local queue full and waited (backpressure).
  std::int64_t queue_full_waits() const { return queue_full_waits_; }
  // Records produced but without a delivery report served yet, plus events
  // waiting for poll (rd_kafka_outq_len).
  int in_flight() const { return rd_kafka_outq_len(handle_.get()); }
  // A fatal error happened: the client can produce nothing any more.
  bool fatal() const { return !fatal_error_.ok(); }
  // The first failed delivery or fatal error; ok if none.
  const Status& first_error() const { return first_error_; }
  // librdkafka's last client-level error text (e.g. "Connect to
  // ipv4#127.0.0.1:1 failed: Connection refused"), for context in messages.
  const std::string& last_client_error() const { return last_client_error_; }

  rd_kafka_t* handle() const { return handle_.get(); }
  const ProducerOptions& options() const { return options_; }

 private:
  explicit Producer(ProducerOptions options) : options_(std::move(options)) {}
  static void on_delivery_report(rd_kafka_t* rk, const rd_kafka_message_t* message, void* opaque);
  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  static void on_log(const rd_kafka_t* rk, int level, const char* facility, const char* line);
  rd_kafka_topic_t* topic(std::string_view name);
  Status with_context(Status s) const;
  void record_error(const Status& s);

  ProducerOptions options_;
  HandlePtr handle_;
  std::map<std::string, TopicPtr, std::less<>> topics_;
  std::map<std::string, int, std::less<>> partition_counts_;
  std::array<std::int64_t, kMaxTags> delivered_{};
  std::int64_t failed_ = 0;
  std::int64_t queue_full_waits_ = 0;
  static constexpr int kPollEvery = 64;  // produce() serves delivery reports every this many records
  int produced_since_poll_ = 0;
  Status first_error_;
  Status flush_error_;  // the first failure since the last flush()
  Status fatal_error_;
  std::string last_client_error_;
};

}  // namespace dangol::kafka
