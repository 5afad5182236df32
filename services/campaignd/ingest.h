#pragma once
// POST /v1/events: writes envelopes to the events topic, routed as CONTRACT
// §2 says, and, in wait mode, collects their decisions from the decisions
// topic.
//
// A request is answered only after the brokers acknowledged every record
// (acks=all, idempotent producer): "accepted" means durable. In wait mode
// each record's decision is matched by event id AND by the input position
// (partition, offset) the decision echoes, so a concurrent re-post of the
// same event id cannot answer for another request's record. A broadcast
// event is one record per partition and waits for all their decisions.
//
// Threads: submit() may be called from any thread; `done` runs on the
// producer's poll thread or the decision reader's thread. Both threads stop
// in the destructor, which first answers every pending request
// (kUnavailable, "shutting down").

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "dangol.pb.h"
#include "services/kafka/consumer.h"
#include "services/kafka/handles.h"

namespace dangol::campaignd {

struct IngestOptions {
  std::string bootstrap_servers;
  std::string events_topic = "campaign.events";
  std::string decisions_topic = "campaign.decisions";
  // Longest time to get a record acknowledged (then 503).
  std::chrono::milliseconds delivery_timeout{5'000};
  // Bound on requests in flight (then 503 "overloaded").
  std::size_t max_pending_requests = 10'000;
};

struct IngestResult {
  enum class Kind { kAccepted, kDecided, kTimedOut, kUnavailable };
  Kind kind = Kind::kAccepted;
  std::int64_t accepted = 0;           // events acknowledged by the brokers
  std::vector<std::string> decisions;  // wait mode: decision JSON objects in the order of the events
  std::vector<std::string> pending;    // wait mode, timed out: event ids still without a decision
  std::string error;                   // kUnavailable
};

struct IngestStats {
  std::atomic<std::int64_t> requests{0}, events{0}, records{0}, unavailable{0}, timed_out{0};
};

class Ingest {
 public:
  using Done = std::function<void(IngestResult)>;

  // Creates the producer and the decision reader (positioned at the end of
  // the decisions topic). Fails only on bad configuration; an unreachable
  // cluster makes requests answer 503 until it is back.
  static bool start(IngestOptions options, std::unique_ptr<Ingest>* out, std::string* error);
  ~Ingest();
  Ingest(const Ingest&) = delete;
  Ingest& operator=(const Ingest&) = delete;

  // Produces `events` and calls `done` once. Without wait: when all are
  // acknowledged (kAccepted) or one failed (kUnavailable). With wait: when
  // all decisions are read (kDecided), or at `wait_timeout` with what is
  // known (kTimedOut).
  void submit(std::vector<v1::Envelope> events, bool wait, std::chrono::milliseconds wait_timeout, Done done);

  const IngestStats& stats() const { return stats_; }

 private:
  struct Submission;
  struct Record {
    Submission* submission;
    std::size_t event;          // index into the submission's events
    std::int32_t partition = -1;
    std::int64_t offset = -1;   // known once delivered
    bool decided = false;
  };
  struct Submission {
    std::vector<v1::Envelope> events;
    std::vector<Record> records;
    std::vector<std::string> decisions;  // by event; a broadcast event's: the first decided copy
    std::vector<std::int64_t> decision_seqs;
    std::size_t undelivered = 0, undecided = 0;
    bool wait = false, failed = false;
    std::string error;
    std::chrono::steady_clock::time_point deadline;
    Done done;
  };
  // A decision read for an event id that some request waits for, before that
  // request learned its record's offset.
  struct EarlyDecision {
    std::int32_t partition;
    std::int64_t offset;
    std::int64_t seq;
    std::string json;
  };

  explicit Ingest(IngestOptions options) : options_(std::move(options)) {}
  static void on_delivery(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque);
  void delivered(Record* record, const rd_kafka_message_t& m);
  void read_decisions();
  bool assemble(v1::Decision* d);
  void match(const v1::Decision& d);
  bool try_decide(Submission* s, Record* r, std::int64_t seq, std::string json);
  // Removes a finished submission and returns it; call `done` outside mu_.
  std::unique_ptr<Submission> take(Submission* s);
  static void answer(Submission& s, IngestResult::Kind kind);
  void expire_overdue();

  IngestOptions options_;
  IngestStats stats_;
  kafka::HandlePtr producer_;
  kafka::TopicPtr events_topic_;
  std::unique_ptr<kafka::Consumer> reader_;
  std::atomic<int> partitions_{0};  // of the events topic, once known

  std::mutex mu_;
  std::map<Submission*, std::unique_ptr<Submission>> pending_;
  // Event id -> waiting submissions, and decisions that came early.
  std::unordered_multimap<std::string, Submission*> waiting_;
  std::unordered_map<std::string, std::vector<EarlyDecision>> early_;
  // The parts read so far of decisions of several records that a request
  // waits for, by input position; dropped when no request waits any more.
  struct Assembly {
    std::string event_id;
    std::vector<std::unique_ptr<v1::Decision>> parts;  // by part - 1
    std::size_t received = 0;
  };
  std::map<std::pair<std::int32_t, std::int64_t>, Assembly> assembling_;
  bool reader_assigned_ = false;

  std::atomic<bool> stop_{false};
  std::thread poller_, reader_thread_;
};

}  // namespace dangol::campaignd
