#pragma once
// The exactly-once pipeline of DESIGN §5: Kafka in, the engine, RocksDB, and
// Kafka out.
//
// Per batch:
//   1. poll up to max_batch_records (or max_batch_wait) from the events topic;
//   2. decode each record; one that does not decode is dead-lettered:
//      published to the DLQ (same partition, headers error/partition/offset)
//      and flushed BEFORE the commit, so it is never lost;
//   3. decide the rest in poll order; encode each decision;
//   4. ONE fsynced RocksDB WriteBatch: the engine's changes, the next input
//      offset of every partition, and the decisions into the outbox;
//   5. publish the outbox to the decisions topic (partition = the event's,
//      headers shard and seq) with an idempotent producer; trim the outbox as
//      deliveries are confirmed.
//
// Recovery (start, and after any publish failure): load state and offsets,
// read the tail of the decisions topic for the last published seq of each
// partition and of the DLQ for the last dead-lettered offset, publish the
// outbox entries after those, then consume from the stored offsets. Nothing
// is applied twice (offsets commit atomically with state), no decision is
// lost (the outbox commits with them) or published twice (the tail read).

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "engine/engine.h"
#include "services/kafka/consumer.h"
#include "services/http/prometheus.h"
#include "services/kafka/producer.h"
#include "storage/state_store.h"

namespace dangol::campaignd {

enum class DecisionsFormat { kProtobuf, kJson };

struct PipelineOptions {
  std::string bootstrap_servers;
  std::string state_dir;
  std::string group_id = "campaignd";
  std::string events_topic = "campaign.events";
  std::string decisions_topic = "campaign.decisions";
  std::string dlq_topic = "campaign.dlq";
  DecisionsFormat decisions_format = DecisionsFormat::kProtobuf;
  std::int32_t shard = 0;
  std::size_t max_batch_records = 10'000;
  std::chrono::milliseconds max_batch_wait{20};
  // How far back the tail read looks for the last published seq; must cover
  // one batch's decisions per partition.
  std::int64_t tail_records = 20'000;
  std::chrono::milliseconds broker_timeout{10'000};
  std::chrono::milliseconds backoff_max{5'000};
};

// Batch commit latencies (the fsynced WriteBatch), in 0.1 ms buckets up to
// 1 s, for the p50/p99 figures in logs and benchmarks.
class LatencyHistogram {
 public:
  void record(double ms) {
    auto bucket = static_cast<std::size_t>(std::clamp(ms * 10.0, 0.0, static_cast<double>(kBuckets - 1)));
    counts_[bucket]++;
    total_++;
  }
  // The smallest latency (ms) that `fraction` of the samples do not exceed.
  double quantile(double fraction) const {
    std::int64_t seen = 0, want = static_cast<std::int64_t>(fraction * static_cast<double>(total_));
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen > want || (seen == total_ && total_ > 0)) return static_cast<double>(i + 1) / 10.0;
    }
    return 0;
  }
  std::int64_t count() const { return total_; }

 private:
  static constexpr std::size_t kBuckets = 10'000;
  std::array<std::int64_t, kBuckets> counts_{};
  std::int64_t total_ = 0;
};

// Counters for logs and metrics; written by the pipeline thread, read by
// any (the HTTP thread serving /metrics).
struct PipelineStats {
  std::atomic<std::int64_t> batches{0}, events{0}, dead_letters{0}, decisions_published{0};
  std::atomic<std::int64_t> outbox_replayed{0};
  // Recovered and consuming (GET /readyz).
  std::atomic<bool> ready{false};
  LatencyHistogram commit_ms;  // pipeline thread only (logs)
  http::AtomicHistogram<10> commit_seconds{{0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1}};
  http::AtomicHistogram<8> batch_records{{1, 10, 100, 1000, 2000, 5000, 10000, 50000}};

  // Decisions by outcome and reason, and the input lag per partition
  // (high watermark minus the next offset to decide), guarded by `mutex`.
  struct Snapshot {
    std::map<std::pair<std::string, std::string>, std::int64_t> decisions;  // (outcome, reason) -> count
    std::map<std::int32_t, std::int64_t> lag;                              // partition -> records
  };
  Snapshot snapshot() const {
    std::lock_guard lock(mutex);
    return shared;
  }
  mutable std::mutex mutex;
  Snapshot shared;
};

class Pipeline {
 public:
  explicit Pipeline(PipelineOptions options) : options_(std::move(options)) {}

  // Recovers, then runs batches until `stop` becomes true; the batch in
  // progress is finished and committed first. Returns false (with *error)
  // only for a failure it cannot ride out (a corrupt state dir, a fatal
  // producer error); broker outages are retried with backoff.
  bool run(const std::atomic<bool>& stop, std::string* error);

  const PipelineStats& stats() const { return stats_; }

  // Calls f(const Engine&) with the state as of the last decided event,
  // under the state lock: the pipeline decides in chunks of kChunkRecords
  // and takes the lock per chunk, so a reader waits at most one chunk and
  // the decision loop waits at most one reader. Keep f short. Returns false
  // (without calling f) before the state is loaded.
  template <class F>
  bool read_state(F&& f) const {
    std::lock_guard lock(state_mutex_);
    if (!engine_) return false;
    std::forward<F>(f)(*engine_);
    return true;
  }

  // A RocksDB checkpoint of the committed state in `dir` (POST
  // /v1/admin/checkpoint); safe from any thread once ready.
  bool checkpoint(const std::string& dir, std::string* error);

  static constexpr std::size_t kChunkRecords = 256;

 private:
  bool open(std::string* error);
  bool load_state(std::string* error);
  bool recover(const std::atomic<bool>& stop, std::string* error);
  bool republish_outbox();
  bool read_published_positions();
  bool run_batch(std::string* error);
  bool dead_letter(const rd_kafka_message_t& m, const std::string& error);
  bool publish(const storage::OutboxEntry& entry);
  void trim_delivered();
  void backoff(const std::atomic<bool>& stop);
  std::string encode(const v1::Decision& d) const;

  PipelineOptions options_;
  PipelineStats stats_;
  void publish_batch_stats(const std::map<std::pair<std::string, std::string>, std::int64_t>& decisions);

  mutable std::mutex state_mutex_;  // guards engine_ against readers (read_state)
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<storage::StateStore> store_;
  std::atomic<bool> store_open_{false};
  std::unique_ptr<kafka::Consumer> consumer_;
  std::unique_ptr<kafka::Producer> producer_;
  int partitions_ = 0;
  std::map<std::int32_t, std::int64_t> next_offsets_;
  std::map<std::int32_t, std::int64_t> published_seq_;     // decisions partition -> last seq there
  std::map<std::int32_t, std::int64_t> dead_lettered_to_;  // events partition -> last offset in DLQ
  // Outbox bookkeeping: seqs produced but not yet confirmed, and whether a
  // delivery failed (then everything is re-derived by recover()).
  std::map<std::int64_t, bool> in_flight_;  // seq -> delivered
  bool publish_failed_ = false;
  std::chrono::milliseconds backoff_{100};
};

}  // namespace dangol::campaignd
