#pragma once
// The exactly-once pipeline of DESIGN §5: Kafka in, the engine, RocksDB, and
// Kafka out.
//
// Per batch, on the decision thread (the one that calls run()):
//   1. poll up to max_batch_records (or max_batch_wait) from the events
//      topic into the event-time merge (merge.h), and take from it up to
//      max_batch_records in event-time order;
//   2. decode each record; one that does not decode is set aside for the
//      dead-letter topic;
//   3. decide the rest in that order; each decision is encoded into the
//      batch's outbox (protobuf, written directly: append_decision_pb) or
//      built as a message for the committer to encode (JSON);
//   4. serialize the engine's changes and the next input offset of every
//      partition into a RocksDB WriteBatch (StateStore::prepare), before the
//      next batch changes the engine again, and hand the batch over.
// On the committer thread, one batch at a time, in order:
//   5. encode JSON decisions into the batch's outbox; dead letters, if any,
//      go to the DLQ (same partition, headers error/partition/offset) and
//      are flushed BEFORE the commit, so that none is lost;
//   6. ONE fsynced WriteBatch: the changes, the offsets and the outbox.
// On the publisher thread, in order, only once the batch is committed:
//   7. publish the outbox to the decisions topic (partition = the event's,
//      headers shard and seq) with an idempotent producer; trim it as
//      deliveries are confirmed.
// So the decision thread decides batch N+2 while N+1 is committed and N
// published. If a batch cannot be committed (its dead letters were not
// delivered), the batches after it are dropped too and the engine is loaded
// again from the store, so that nothing is applied twice.
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
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <google/protobuf/arena.h>

#include "engine/engine.h"
#include "services/campaignd/merge.h"
#include "services/kafka/consumer.h"
#include "services/http/prometheus.h"
#include "services/kafka/producer.h"
#include "storage/state_store.h"

namespace dangol::campaignd {

enum class DecisionsFormat { kProtobuf, kJson };

class OutcomeCounter;

struct PipelineOptions {
  std::string bootstrap_servers;
  std::string state_dir;
  std::string group_id = "campaignd";
  std::string events_topic = "campaign.events";
  std::string decisions_topic = "campaign.decisions";
  std::string dlq_topic = "campaign.dlq";
  DecisionsFormat decisions_format = DecisionsFormat::kProtobuf;
  // When the events topic does not exist: create the three topics with this
  // many partitions (0: do not create; wait for them). A missing decisions
  // or DLQ topic is created with the events topic's count either way.
  int create_partitions = 0;
  std::int32_t shard = 0;
  // Small enough that a batch's commit stays well under 50 ms at p99 (about
  // 10 ms at p50 on two cores); throughput hardly depends on it, as batches
  // are decided, committed and published at the same time.
  std::size_t max_batch_records = 3'000;
  std::chrono::milliseconds max_batch_wait{20};
  // How long a partition that is behind its end but sends nothing may hold
  // back the event-time merge (merge.h) before the others are decided
  // without it. Fetches answer within fetch.wait.max.ms (10 ms here) when
  // records are there, so 2 s is dozens of fetch rounds: only a partition
  // whose leader is gone waits it out, and then the others lose 2 s, not
  // their order.
  std::chrono::milliseconds max_idle{2'000};
  // How far back the tail read looks for the last published seq of a
  // partition. After the last new record, a broker that does not drop
  // retried duplicates (the development broker) may hold the records that
  // were in flight once more: at most 5 requests of kProduceBatchRecords
  // (pipeline.cc) per partition and round of retries. This covers two.
  std::int64_t tail_records = 10'000;
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
  // Recovered and consuming (GET /readyz), and why not when not.
  std::atomic<bool> ready{false};
  void set_ready() {
    std::lock_guard lock(readiness_mutex);
    not_ready_why.clear();
    ready = true;
  }
  void set_not_ready(std::string why) {
    std::lock_guard lock(readiness_mutex);
    not_ready_why = std::move(why);
    ready = false;
  }
  std::string not_ready_reason() const {
    std::lock_guard lock(readiness_mutex);
    return not_ready_why.empty() ? std::string("recovering: not consuming yet") : not_ready_why;
  }
  LatencyHistogram commit_ms;  // committer thread only (logs, after it stopped)
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

 private:
  mutable std::mutex readiness_mutex;
  std::string not_ready_why = "starting";
};

class Pipeline {
 public:
  explicit Pipeline(PipelineOptions options)
      : options_(std::move(options)), shard_text_(std::to_string(options_.shard)) {}
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

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
  // One batch on its way through the stages (see jobs_); the jobs are
  // reused, and their buffers with them.
  enum class Stage { kFree, kDecided, kCommitted };
  struct Job {
    Job();
    Stage stage = Stage::kFree;  // guarded by jobs_mutex_
    bool committed = false;      // (kCommitted) false: dropped, not to be published
    std::vector<kafka::MessagePtr> records;  // freed on the publisher thread
    std::vector<std::pair<std::size_t, std::string>> dead_letters;  // index in records, why
    // With --decisions-format json, the batch's decisions in seq order,
    // with the index of their record: built by the decision thread on
    // `arena`, printed into `outbox` by the committer thread. Protobuf
    // decisions go into `outbox` on the decision thread.
    std::vector<std::pair<std::size_t, v1::Decision*>> decisions;
    std::unique_ptr<char[]> arena_block;
    google::protobuf::Arena arena;
    storage::PendingCommit commit;
    storage::OutboxBatch outbox;
    double prepare_ms = 0;  // serializing the changes, on the decision thread
    void reset() {
      records.clear();
      dead_letters.clear();
      decisions.clear();
      arena.Reset();
      outbox.clear();
    }
  };

  // Outbox seqs produced and not yet trimmed, in order: the decisions
  // partition of each, whether it is confirmed in the topic, and where. They
  // are consecutive (decisions have gapless seqs), so a deque from the
  // first one.
  class DeliveryWindow {
   public:
    void clear() { slots_.clear(); }
    // `offset`: where the topic has it, when `delivered` and known.
    void sent(std::int64_t seq, std::int32_t partition, bool delivered, std::int64_t offset = -1);
    void delivered(std::int64_t seq, std::int64_t offset);
    // Drops the delivered prefix; returns its last seq, or -1 if none, and
    // raises (*last_offsets)[partition] to the largest offset it had there.
    std::int64_t pop_delivered(std::map<std::int32_t, std::int64_t>* last_offsets);

   private:
    struct Slot {
      std::int32_t partition = -1;
      bool delivered = true;  // a seq never sent cannot hold the trim back
      std::int64_t offset = -1;
    };
    std::int64_t first_ = 0;
    std::deque<Slot> slots_;
  };

  // A decision the tail read found in the decisions topic: its seq and
  // offset there.
  struct Published {
    std::int64_t seq;
    std::int64_t offset;
    bool operator<(const Published& o) const { return seq < o.seq; }
  };
  // An untrimmed outbox entry that recovery found in the topic, which holds
  // its partition's floor down (trim_delivered).
  struct FoundEntry {
    std::int64_t seq;
    std::int32_t partition;
    std::int64_t offset;
  };

  bool start(const std::atomic<bool>& stop, std::string* error);
  bool make_producers(std::string* error);
  bool check_record_limits(std::string* error);
  void check_brokers();
  // A permanent publishing or dead-lettering error (a record the topic
  // refuses for good, an authorization failure): campaignd must stop, since
  // retrying would block every later event for ever.
  void fail_permanently(std::string why);
  bool failed_permanently(std::string* error);
  void refresh_lag();
  bool restart(const std::atomic<bool>& stop, bool reload, std::string* error);
  bool open(std::string* error);
  bool load_state(std::string* error);
  bool recover(const std::atomic<bool>& stop, std::string* error, bool tails_read = false);
  kafka::Status ensure_topics(bool* creation_failed = nullptr);
  static void log_topics_wait(const kafka::Status& s);
  bool republish_outbox();
  bool read_published_positions();
  std::string check_state_not_behind_journal();
  bool run_batch(std::string* error);
  void reset_merge();
  void merge_records();
  void take_merged(Job* job);
  void decide(Job* job, std::map<std::pair<std::string, std::string>, std::int64_t>* outcomes);
  void decide_chunk(Job* job, std::size_t begin, std::size_t end, OutcomeCounter* counter);
  void publish_batch_stats(const std::map<std::pair<std::string, std::string>, std::int64_t>& decisions);
  void backoff(const std::atomic<bool>& stop);

  // The committer thread (steps 5 and 6) and the publisher thread (step
  // 7). They run only between recoveries. The publisher alone uses the
  // producer, the delivery window and published_ while it runs, the
  // committer alone the DLQ producer and dead_lettered_; the decision
  // thread uses them only while both are stopped.
  void start_workers();
  bool stop_workers(std::string* error);
  bool hand_over(Job* job);
  void committer_loop();
  void publisher_loop();
  bool commit(Job& job);
  bool deliver_dead_letters(const Job& job);
  bool dead_letter(const rd_kafka_message_t& m, const std::string& error);
  bool publish(std::int64_t seq, std::int32_t partition, std::string_view key, std::string_view value);
  // Whether the decisions topic has `seq` in `partition` (the tail read
  // found it); *offset is where, or -1 when it is only known to be older
  // than what the tail read covered.
  bool find_published(std::int64_t seq, std::int32_t partition, std::int64_t* offset) const;
  // Marks `seq` sent: delivered already (found in the topic) or in flight.
  void note_published(std::int64_t seq, std::int32_t partition, std::int64_t offset);
  void trim_delivered();
  void quiesce_producer();

  PipelineOptions options_;
  PipelineStats stats_;
  const std::string shard_text_;  // the `shard` header

  mutable std::mutex state_mutex_;  // guards engine_ against readers (read_state)
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<storage::StateStore> store_;
  std::atomic<bool> store_open_{false};
  std::unique_ptr<kafka::Consumer> consumer_;
  std::unique_ptr<kafka::Producer> producer_;      // decisions
  std::unique_ptr<kafka::Producer> dlq_producer_;  // dead letters
  int partitions_ = 0;
  std::map<std::int32_t, std::int64_t> next_offsets_;
  // What the tail read found in the decisions topic, by partition: every
  // seq of this shard from the partition's publish floor on (sorted), and,
  // for a partition without a floor (a store from before floors were kept),
  // the lowest seq of the window read: seqs below it count as published.
  std::vector<std::vector<Published>> published_;
  std::vector<std::int64_t> published_below_;
  std::int64_t journal_seq_ = 0;  // the highest seq found in any partition
  // Per decisions partition, the offset from which every untrimmed outbox
  // entry that reached the topic is found (trim_outbox stores them); and
  // the untrimmed entries the tail read found, which hold a floor down.
  std::map<std::int32_t, std::int64_t> publish_floors_;
  std::map<std::int32_t, std::int64_t> written_floors_;  // as last stored (publisher)
  std::deque<FoundEntry> found_untrimmed_;
  // Input offsets the DLQ has, by events partition (from its tail, and as
  // dead letters are produced); pruned below the committed offsets.
  std::map<std::int32_t, std::set<std::int64_t>> dead_lettered_;
  DeliveryWindow in_flight_;
  std::chrono::steady_clock::time_point started_;
  // The last seq of a batch that left no lag on any partition, and whether
  // catching up with the topic was logged (by the publisher).
  std::atomic<std::int64_t> drained_at_seq_{0};
  bool caught_up_logged_ = false;
  // A delivery failed: everything is re-derived by recover().
  std::atomic<bool> publish_failed_{false};
  std::mutex permanent_mutex_;
  std::string permanent_error_;  // guarded by permanent_mutex_
  // The largest dead letter the DLQ takes (its max.message.bytes, or
  // librdkafka's message.max.bytes if lower): a longer value is cut.
  std::atomic<std::size_t> dlq_record_bytes_max_{1'000'000};
  std::thread limits_checker_;  // check_record_limits(), once, beside the work
  std::atomic<std::int64_t> decisions_record_bytes_max_{1'000'000};
  bool brokers_unreachable_ = false;  // decision thread (check_brokers)
  std::chrono::steady_clock::time_point brokers_checked_{};
  std::chrono::milliseconds backoff_{100};

  // A batch goes through the jobs in turn: the decision thread fills a
  // free one, the committer commits it, the publisher publishes and frees
  // it. One job per stage: the decision thread may decide the next batch
  // while one is committed and another published, and at most one batch is
  // committed at a time.
  static constexpr int kJobs = 3;
  Job jobs_[kJobs];
  std::mutex jobs_mutex_;  // guards the stages, the cursors and the flags below
  std::condition_variable jobs_cv_;
  int next_job_ = 0, commit_next_ = 0, publish_next_ = 0;
  bool stopping_ = false;        // the workers finish the handed-over batches and exit
  bool committer_done_ = false;  // the committer exited: the publisher may too
  bool reload_needed_ = false;   // a batch was dropped: the engine is ahead of the store
  std::string commit_error_;     // a commit failed: campaignd must stop
  std::thread committer_, publisher_;

  // The event-time merge of the input partitions (decision thread), what a
  // poll brought and a take gave (scratch), which partitions are paused for
  // backpressure, and since when each blocking partition blocks.
  static constexpr std::size_t kMergeBufferedPerPartition = 20'000;
  EventTimeMerge merge_;
  std::vector<kafka::MessagePtr> polled_;
  std::vector<MergeItem> taken_;
  std::vector<std::int32_t> assigned_;
  std::vector<bool> paused_;
  struct Blocked {
    std::chrono::steady_clock::time_point since;
    bool passed_over = false;  // max_idle passed: decided without it
  };
  std::map<std::int32_t, Blocked> blocked_since_;
  std::map<std::int32_t, std::int64_t> fetched_next_;  // partition -> offset after the last fetched

  // decide_chunk()'s scratch: a chunk's envelopes, and the ones that decoded.
  std::vector<v1::Envelope> envelopes_ = std::vector<v1::Envelope>(kChunkRecords);
  std::vector<const v1::Envelope*> decodable_;
  std::vector<std::size_t> decodable_records_;
};

}  // namespace dangol::campaignd
