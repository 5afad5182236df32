#include "services/campaignd/pipeline.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <thread>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include "engine/encode.h"
#include "proto/json_codec.h"
#include "services/kafka/admin.h"

namespace dangol::campaignd {
namespace {

using Clock = std::chrono::steady_clock;

// A batch's JSON decisions live on one arena; its first block is reused, so
// that a batch of decisions usually needs no malloc.
constexpr std::size_t kArenaBlockBytes = 8 << 20;

// Decisions per produce request and partition (batch.num.messages), which
// bounds what a retry can duplicate (PipelineOptions::tail_records).
constexpr int kProduceBatchRecords = 1'000;

// Polls without waiting after the first of a batch, and how many batches
// worth of records the merge may hold before it stops polling ahead.
constexpr int kExtraPolls = 16;
constexpr std::size_t kMergeAhead = 4;

// Tries at creating missing topics before campaignd stops (exit 3).
constexpr int kCreationTries = 2;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// An event record is JSON when its first non-blank byte is '{' (CONTRACT §1),
// binary protobuf otherwise.
bool decode_record(const rd_kafka_message_t& m, v1::Envelope* out, std::string* error) {
  std::string_view bytes(static_cast<const char*>(m.payload), m.payload ? m.len : 0);
  auto first = bytes.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && bytes[first] == '{') return json::parse_envelope(bytes, out, error);
  if (!out->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    *error = "not a protobuf Envelope";
    return false;
  }
  return true;
}

// The largest decision record campaignd can write, in bytes: a part of 256
// redemptionSettled effects (the effect with the most fields) with every id
// at its longest, 8 funders, amounts of 16 digits, an event id of 256 bytes
// that JSON must escape, and allowance for the key and headers.
std::int64_t largest_decision_record_bytes(bool json) {
  v1::Decision d;
  d.set_event_id(std::string(256, '\x01'));
  d.set_shard(INT32_MAX), d.set_seq(INT64_MAX), d.set_partition(INT32_MAX), d.set_offset(INT64_MAX);
  d.mutable_occurred_at()->set_seconds(253402300799), d.mutable_occurred_at()->set_nanos(999999999);
  d.set_outcome(v1::Decision::APPLIED);
  d.set_reason(std::string(32, 'R'));
  d.set_detail(std::string(512, 'D'));
  d.set_part(INT32_MAX), d.set_parts(INT32_MAX);
  constexpr std::int64_t kAmount = -9'999'999'999'999'999;  // 16 digits and a sign
  for (std::size_t i = 0; i < kMaxEffectsPerPart; ++i) {
    auto* r = d.add_effects()->mutable_redemption_settled();
    r->set_coupon_id(std::string(200, 'c')), r->set_campaign_id(std::string(64, 'k'));
    r->set_merchant_id(std::string(64, 'm'));
    r->set_order_amount(kAmount), r->set_discount(kAmount), r->set_released(kAmount);
    for (int f = 0; f < 8; ++f) {
      for (auto* split : {r->add_split(), r->add_released_split()}) {
        split->set_funder_id(std::string(64, 'f')), split->set_amount(kAmount);
      }
    }
  }
  std::string value;
  if (json) {
    json::append_decision(d, &value);
  } else {
    d.SerializeToString(&value);
  }
  constexpr std::int64_t kKeyAndHeaders = 1'024;  // a routing key is an id of <= 64 bytes; shard, seq, epoch
  return static_cast<std::int64_t>(value.size()) + kKeyAndHeaders;
}

// A record's occurredAt in nanoseconds, for the event-time merge: read from
// the protobuf wire format without decoding the rest (field 2, a Timestamp
// of seconds = 1 and nanos = 2), or from a JSON record's full parse. False
// for a record that does not decode (it is dead-lettered at its turn). An
// envelope without occurredAt sorts first (it is decided INVALID).
bool occurred_at_ns(const rd_kafka_message_t& m, v1::Envelope* scratch, std::int64_t* out) {
  std::string_view bytes(static_cast<const char*>(m.payload), m.payload ? m.len : 0);
  *out = 0;
  auto first = bytes.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && bytes[first] == '{') {
    std::string error;
    if (!decode_record(m, scratch, &error)) return false;
    *out = scratch->occurred_at().seconds() * 1'000'000'000 + scratch->occurred_at().nanos();
    return true;
  }
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  while (std::uint32_t tag = in.ReadTag()) {
    if (tag != ((2u << 3) | 2u)) {
      if (!google::protobuf::internal::WireFormatLite::SkipField(&in, tag)) return false;
      continue;
    }
    std::uint32_t length = 0;
    if (!in.ReadVarint32(&length)) return false;
    const auto limit = in.PushLimit(static_cast<int>(length));
    std::uint64_t seconds = 0, nanos = 0;
    while (std::uint32_t field = in.ReadTag()) {
      if (field == ((1u << 3) | 0u)) {
        if (!in.ReadVarint64(&seconds)) return false;
      } else if (field == ((2u << 3) | 0u)) {
        if (!in.ReadVarint64(&nanos)) return false;
      } else if (!google::protobuf::internal::WireFormatLite::SkipField(&in, field)) {
        return false;
      }
    }
    in.PopLimit(limit);
    *out = static_cast<std::int64_t>(seconds) * 1'000'000'000 + static_cast<std::int32_t>(nanos);
  }
  return in.ConsumedEntireMessage();
}

std::string_view key_of(const rd_kafka_message_t& m) {
  return m.key ? std::string_view(static_cast<const char*>(m.key), m.key_len) : std::string_view();
}

}  // namespace

// Decisions by (outcome, reason) within a batch: a few distinct pairs, so a
// short vector searched in order beats building two strings per event for a
// map key.
class OutcomeCounter {
 public:
  void add(const Verdict& v) {
    for (auto& c : counts_) {
      if (c.outcome == v.outcome && c.reason == v.reason) {
        ++c.n;
        return;
      }
    }
    counts_.push_back({v.outcome, v.reason, 1});
  }
  void merge_into(std::map<std::pair<std::string, std::string>, std::int64_t>* out) const {
    for (const auto& c : counts_) {
      (*out)[{v1::Decision::Outcome_Name(wire_outcome(c.outcome)), std::string(reason_name(c.reason))}] += c.n;
    }
  }

 private:
  struct Count {
    Outcome outcome;
    Reason reason;
    std::int64_t n;
  };
  std::vector<Count> counts_;
};

Pipeline::~Pipeline() {
  (void)stop_workers(nullptr);
  if (limits_checker_.joinable()) limits_checker_.join();
}

bool Pipeline::run(const std::atomic<bool>& stop, std::string* error) {
  if (!start(stop, error)) return false;
  while (!stop.load()) {
    bool reload = false;
    {
      std::lock_guard lock(jobs_mutex_);
      reload = reload_needed_ || !commit_error_.empty();
    }
    if (failed_permanently(error)) {
      (void)stop_workers(nullptr);
      return false;
    }
    if (reload || publish_failed_) {
      if (!restart(stop, reload, error)) return false;
      continue;
    }
    if (!run_batch(error)) {
      (void)stop_workers(nullptr);
      return false;
    }
  }
  // The batches handed over are committed and published; deliver what is
  // in flight. Anything left stays in the outbox for the next start.
  if (!stop_workers(error)) return false;
  (void)producer_->flush(options_.broker_timeout);
  trim_delivered();
  spdlog::info("campaignd: stopped after {} batches, {} events, {} dead letters, {} decisions published; batch "
               "commit p50 {:.1f} ms, p99 {:.1f} ms",
               stats_.batches.load(), stats_.events.load(), stats_.dead_letters.load(),
               stats_.decisions_published.load(), stats_.commit_ms.quantile(0.5), stats_.commit_ms.quantile(0.99));
  return true;
}

// Opens, loads and recovers; then the workers run.
bool Pipeline::start(const std::atomic<bool>& stop, std::string* error) {
  started_ = Clock::now();
  if (!open(error)) return false;
  // The broker side of recovery (the topics, the tails of the decisions and
  // DLQ topics) overlaps loading the state: they share nothing, and loading
  // takes longer.
  bool tails_read = false;
  std::thread tails([this, &tails_read] {
    kafka::Status s = ensure_topics();
    // recover() tries again and reports errors it cannot wait out; a wait
    // is reported at once rather than after the second try.
    if (!s.ok() && (s.retriable() || s.code() == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)) log_topics_wait(s);
    tails_read = s.ok() && read_published_positions();
  });
  const bool loaded = load_state(error);
  tails.join();
  if (!loaded) return false;

  store_open_ = true;
  if (!recover(stop, error, tails_read)) return false;
  // The topics' limits are checked beside the work: brokers answer at once,
  // but the development broker never does, and waiting for it cost a
  // second of every start. A limit too small stops campaignd (exit 3)
  // before a record can be refused.
  limits_checker_ = std::thread([this] {
    if (std::string why; !check_record_limits(&why)) fail_permanently(why);
  });
  stats_.set_ready();
  start_workers();
  return true;
}

// After a failed delivery (broker down past the message timeout) or a
// dropped batch (`reload`): stops the workers, derives what is published
// from the topics again (and the state from the store), and resends the
// rest.
bool Pipeline::restart(const std::atomic<bool>& stop, bool reload, std::string* error) {
  if (!stop_workers(error)) return false;
  const std::string failure = producer_->first_error().message();
  stats_.set_not_ready("recovering: " + (reload ? std::string("a batch was not committed")
                                               : "publishing failed: " + failure));
  quiesce_producer();
  if (failed_permanently(error)) return false;
  if (producer_->fatal() || dlq_producer_->fatal()) {
    // An idempotent producer that lost its guarantees stays unusable: a
    // new one starts a new producer id (recovery resends what is missing).
    // The limits check may still use the old one's handle: it ends first.
    spdlog::warn("campaignd: replacing the producers after a fatal error: {}", failure);
    if (limits_checker_.joinable()) limits_checker_.join();
    if (!make_producers(error)) return false;
  }
  backoff(stop);
  if (reload && !load_state(error)) return false;
  if (!recover(stop, error)) return false;
  stats_.set_ready();
  start_workers();
  return true;
}

bool Pipeline::open(std::string* error) {
  auto started = Clock::now();
  if (auto s = storage::StateStore::open(options_.state_dir, &store_); !s.ok()) {
    *error = s.message();
    return false;
  }
  spdlog::info("campaignd: opened {} in {:.3f} s", options_.state_dir, seconds_since(started));

  if (!make_producers(error)) return false;
  kafka::ConsumerOptions consumer_options;
  consumer_options.bootstrap_servers = options_.bootstrap_servers;
  consumer_options.group_id = options_.group_id;
  consumer_options.auto_offset_reset = "error";
  if (auto s = kafka::Consumer::create(consumer_options, &consumer_); !s.ok()) {
    *error = s.message();
    return false;
  }
  return true;
}

namespace {
// A delivery error that no retry can fix: the topic refuses the record (too
// large, invalid), or campaignd may not write there.
bool is_permanent(const kafka::Status& s) {
  if (s.ok() || s.retriable() || s.fatal()) return false;
  switch (s.code()) {
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:     // quiesce_producer() dropped it: the outbox has it
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
    case RD_KAFKA_RESP_ERR__DESTROY:
      return false;
    default:
      return true;
  }
}
}  // namespace

// The decisions and dead-letter producers, new (at open, and after a fatal
// error made the old ones unusable).
bool Pipeline::make_producers(std::string* error) {
  kafka::ProducerOptions producer_options;
  producer_options.bootstrap_servers = options_.bootstrap_servers;
  producer_options.message_timeout_ms = static_cast<int>(options_.broker_timeout.count());
  producer_options.config = {{"batch.num.messages", std::to_string(kProduceBatchRecords)}};
  producer_options.on_delivery = [this](const kafka::Delivery& d) {
    if (d.tag != 0) return;  // dead letters are flushed synchronously
    if (!d.status->ok()) {
      if (is_permanent(*d.status)) {
        fail_permanently(options_.decisions_topic + " refused the decision of seq " + std::to_string(d.id) + " (" +
                         std::to_string(d.bytes) + " bytes; the topic takes " +
                         std::to_string(decisions_record_bytes_max_) + ") for good: " + d.status->message());
      }
      publish_failed_ = true;
      return;
    }
    in_flight_.delivered(static_cast<std::int64_t>(d.id), d.offset);
    stats_.decisions_published++;
  };
  producer_.reset();
  if (auto s = kafka::Producer::create(producer_options, &producer_); !s.ok()) {
    *error = s.message();
    return false;
  }
  // Dead letters have their own producer: the committer thread flushes
  // them before a commit while the publisher thread uses the other one.
  producer_options.on_delivery = nullptr;
  dlq_producer_.reset();
  if (auto s = kafka::Producer::create(producer_options, &dlq_producer_); !s.ok()) {
    *error = s.message();
    return false;
  }
  return true;
}

void Pipeline::fail_permanently(std::string why) {
  std::lock_guard lock(permanent_mutex_);
  if (permanent_error_.empty()) {
    permanent_error_ = std::move(why);
    stats_.set_not_ready("stopping: " + permanent_error_);
  }
}

bool Pipeline::failed_permanently(std::string* error) {
  std::lock_guard lock(permanent_mutex_);
  if (permanent_error_.empty()) return false;
  *error = permanent_error_;
  return true;
}

// (Re)builds the engine and the input position from the store alone.
bool Pipeline::load_state(std::string* error) {
  auto started = Clock::now();
  auto engine = std::make_unique<Engine>(options_.shard);
  next_offsets_.clear();
  storage::StateStore::LoadStats load;
  if (auto s = store_->load(engine.get(), &next_offsets_, &load); !s.ok()) {
    *error = s.message();
    return false;
  }
  {
    std::lock_guard lock(state_mutex_);
    engine_ = std::move(engine);
  }
  spdlog::info("campaignd: state loaded: {} coupons, {} event ids, {} bytes, next seq {}, {} partitions with "
               "offsets, in {:.3f} s",
               load.coupons, load.events, load.bytes, engine_->state().next_seq, next_offsets_.size(),
               seconds_since(started));
  return true;
}

// `tails_read`: ensure_topics() and read_published_positions() succeeded
// just before.
bool Pipeline::recover(const std::atomic<bool>& stop, std::string* error, bool tails_read) {
  auto started = Clock::now();
  int creations_failed = 0;
  for (; !stop.load(); tails_read = false) {
    if (failed_permanently(error)) return false;
    if (!tails_read) {
      bool creation_failed = false;
      if (auto s = ensure_topics(&creation_failed); !s.ok()) {
        if (!s.retriable() && s.code() != RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) {
          *error = s.message();  // e.g. partition counts that differ: guessing would misroute decisions
          return false;
        }
        // Brokers that failed to create the missing topics on repeated
        // tries will not on the next (no controller, no permission): say
        // so and stop, rather than wait for ever.
        if (creation_failed && ++creations_failed >= kCreationTries) {
          *error = "the missing topics could not be created (" + s.message() + ")";
          return false;
        }
        log_topics_wait(s);
        stats_.set_not_ready("waiting for the brokers and topics: " + s.message());
        backoff(stop);
        continue;
      }
      if (!read_published_positions()) {
        stats_.set_not_ready("recovering: cannot read the tails of " + options_.decisions_topic + " and " +
                             options_.dlq_topic + " (brokers unreachable?)");
        backoff(stop);
        continue;
      }
    }
    if (auto s = check_state_not_behind_journal(); !s.empty()) {
      *error = s;
      return false;
    }
    if (!republish_outbox()) {
      if (failed_permanently(error)) return false;
      stats_.set_not_ready("recovering: the outbox is not delivered yet: " + producer_->first_error().message());
      refresh_lag();
      backoff(stop);
      continue;
    }
    if (auto s = consumer_->assign(options_.events_topic, partitions_, next_offsets_); !s.ok()) {
      *error = s.message();
      return false;
    }
    reset_merge();
    backoff_ = std::chrono::milliseconds(100);
    spdlog::info("campaignd: recovered in {:.3f} s: {} partitions, {} outbox entries replayed, consuming from {}",
                 seconds_since(started), partitions_, stats_.outbox_replayed.load(),
                 next_offsets_.empty() ? std::string("the beginning") : std::string("stored offsets"));
    return true;
  }
  return true;
}

// The largest record campaignd writes must fit both topics: a decision
// part (at most 256 effects, whatever the ids) in the decisions topic, and
// a dead letter (cut to fit) in the DLQ. Reads the topics' max.message.bytes
// (once, on its own thread after recovery); where the brokers do not
// answer DescribeConfigs (the development broker), Kafka's default is
// assumed, and the log says so.
bool Pipeline::check_record_limits(std::string* error) {
  bool ok = true;
  [&] {
    // librdkafka refuses larger records itself (message.max.bytes default).
    constexpr std::int64_t kClientMax = 1'000'000;
    constexpr std::int64_t kKafkaDefault = 1'048'588;
    std::map<std::string, std::int64_t> limits;
    // Brokers answer DescribeConfigs in milliseconds; the development broker
    // never does (it names no controller that would), so the wait is short.
    if (auto s = kafka::topics_max_message_bytes(producer_->handle(), {options_.decisions_topic, options_.dlq_topic},
                                                 std::chrono::milliseconds(1'000), &limits);
        !s.ok()) {
      spdlog::info("campaignd: the topics' max.message.bytes is not known ({}); assuming Kafka's default of {} bytes",
                   s.message(), kKafkaDefault);
    }
    auto limit_of = [&](const std::string& topic) {
      auto it = limits.find(topic);
      return std::min(it == limits.end() ? kKafkaDefault : it->second, kClientMax);
    };
    const std::int64_t decisions_max = limit_of(options_.decisions_topic);
    const std::int64_t dlq_max = limit_of(options_.dlq_topic);
    const std::int64_t largest = largest_decision_record_bytes(options_.decisions_format == DecisionsFormat::kJson);
    if (largest > decisions_max) {
      *error = options_.decisions_topic + " takes records of at most " + std::to_string(decisions_max) +
               " bytes (max.message.bytes), but a decision part of 256 effects can take " + std::to_string(largest) +
               " bytes: raise the topic's max.message.bytes";
      ok = false;
      return;
    }
    dlq_record_bytes_max_ = static_cast<std::size_t>(dlq_max);
    decisions_record_bytes_max_ = decisions_max;
    spdlog::info("campaignd: records fit: the largest decision part is {} bytes ({} takes {}); dead letters are cut "
                 "to fit {} bytes",
                 largest, options_.decisions_topic, decisions_max, dlq_max);
  }();
  return ok;
}

// A state dir older than the decisions topic (restored from a checkpoint)
// is safe only if deciding the later events again reproduces the journal:
// the same events in the same order, which holds when they all come from
// one partition (poll order across partitions is not reproducible). With
// several, events could be decided differently from what was published, or
// a new event could get a seq that is skipped as published: refuse.
// Returns the reason to stop, or empty.
std::string Pipeline::check_state_not_behind_journal() {
  const std::int64_t journal_seq = journal_seq_;
  const std::int64_t state_seq = engine_->state().next_seq - 1;
  if (journal_seq <= state_seq) return "";
  int partitions_with_events = 0;
  std::vector<kafka::PartitionWatermarks> ends;
  for (std::int32_t p = 0; p < partitions_; ++p) ends.push_back({options_.events_topic, p});
  if (!consumer_->watermarks(&ends, options_.broker_timeout).ok()) {
    partitions_with_events = partitions_;  // unknown: assume the worst
  } else {
    for (const auto& e : ends) {
      auto next = next_offsets_.find(e.partition);
      if (e.high > (next == next_offsets_.end() ? 0 : next->second)) ++partitions_with_events;
    }
  }
  if (partitions_with_events <= 1) {
    spdlog::warn("campaignd: the state ends at seq {} but {} has seq {}: deciding the events after the state again, "
                 "in the same order, and publishing only what the topic does not have",
                 state_seq, options_.decisions_topic, journal_seq);
    return "";
  }
  return "the state dir ends at seq " + std::to_string(state_seq) + " but " + options_.decisions_topic +
         " already has seq " + std::to_string(journal_seq) + " (was the state dir restored from an older "
         "checkpoint?); events of " + std::to_string(partitions_with_events) +
         " partitions would be decided again in an order that need not match the journal. Restore the latest "
         "checkpoint, or rebuild the state by replaying " + options_.events_topic + " into a new state dir "
         "and a new decisions topic";
}

void Pipeline::log_topics_wait(const kafka::Status& s) {
  spdlog::warn("campaignd: waiting for the brokers and topics: {}", s.message());
}

// The three topics exist with one partition count (CONTRACT §2), created
// here when missing (PipelineOptions::create_partitions); sets partitions_.
kafka::Status Pipeline::ensure_topics(bool* creation_failed) {
  const kafka::TopicNames names{options_.events_topic, options_.decisions_topic, options_.dlq_topic};
  std::vector<std::string> created;
  kafka::Status s = kafka::ensure_topics(producer_->handle(), names, options_.create_partitions,
                                         options_.broker_timeout, &partitions_, &created, creation_failed);
  for (const auto& topic : created) spdlog::info("campaignd: created topic {} with {} partitions", topic, partitions_);
  return s;
}

// What the decisions topic and the DLQ already have, from their tails:
// every seq of this shard in each decisions partition from its publish
// floor on (the last tail_records records where no floor is stored), and
// the input offsets dead-lettered in the last tail_records records of each
// DLQ partition, read at once.
//
// Each seq is looked up on its own, never inferred from a higher one: a
// record that timed out may be followed in its partition by later ones
// that were delivered (librdkafka fails queued records past
// message.timeout.ms and delivers the rest), so the highest seq in a
// partition says nothing of the seqs below it.
bool Pipeline::read_published_positions() {
  kafka::ConsumerOptions reader_options;
  reader_options.bootstrap_servers = options_.bootstrap_servers;
  reader_options.group_id = options_.group_id + ".tail";
  std::unique_ptr<kafka::Consumer> reader;
  if (auto s = kafka::Consumer::create(reader_options, &reader); !s.ok()) {
    spdlog::warn("campaignd: cannot create the tail reader: {}", s.message());
    return false;
  }
  if (auto s = store_->read_publish_floors(&publish_floors_); !s.ok()) {
    spdlog::warn("campaignd: {}", s.message());
    return false;
  }
  std::vector<kafka::PartitionWatermarks> ends;  // decisions, dlq, decisions, ... by partition
  for (std::int32_t p = 0; p < partitions_; ++p) {
    for (const std::string* topic : {&options_.decisions_topic, &options_.dlq_topic}) ends.push_back({*topic, p});
  }
  if (auto s = consumer_->watermarks(&ends, options_.broker_timeout); !s.ok()) {
    spdlog::warn("campaignd: cannot read the tails of {} and {}: {}", options_.decisions_topic, options_.dlq_topic,
                 s.message());
    return false;
  }
  std::vector<kafka::OffsetRange> ranges;  // in the order of `ends`
  std::vector<bool> windowed(static_cast<std::size_t>(partitions_), false);
  for (const auto& e : ends) {
    std::int64_t from = std::max(e.low, e.high - options_.tail_records);
    if (e.topic == options_.decisions_topic) {
      auto floor = publish_floors_.find(e.partition);
      if (floor != publish_floors_.end()) {
        from = std::clamp(floor->second, e.low, e.high);
      } else {
        windowed[static_cast<std::size_t>(e.partition)] = from > e.low;
      }
    }
    ranges.push_back({e.topic, e.partition, from, e.high});
  }
  published_.assign(static_cast<std::size_t>(partitions_), {});
  published_below_.assign(static_cast<std::size_t>(partitions_), 0);
  journal_seq_ = 0;
  dead_lettered_.clear();
  auto on_record = [&](std::size_t range, const rd_kafka_message_t& m) {
    const std::size_t p = range / 2;
    std::int64_t value = 0;
    if (range % 2 == 0) {
      if (kafka::header_view(&m, "shard") != shard_text_) return;
      std::string_view seq = kafka::header_view(&m, "seq");
      std::from_chars(seq.data(), seq.data() + seq.size(), value);
      published_[p].push_back({value, m.offset});
    } else {
      std::string_view offset = kafka::header_view(&m, "offset");  // headers are ours
      std::from_chars(offset.data(), offset.data() + offset.size(), value);
      dead_lettered_[static_cast<std::int32_t>(p)].insert(value);
    }
  };
  if (auto s = kafka::read_ranges(*reader, ranges, options_.broker_timeout, on_record); !s.ok()) {
    spdlog::warn("campaignd: cannot read the tails of {} and {}: {}", options_.decisions_topic, options_.dlq_topic,
                 s.message());
    return false;
  }
  for (std::size_t p = 0; p < published_.size(); ++p) {
    auto& found = published_[p];
    // A broker may hold a retried duplicate after later records
    // (librdkafka's mock cluster does): the first copy counts.
    std::stable_sort(found.begin(), found.end());
    found.erase(std::unique(found.begin(), found.end(),
                            [](const Published& a, const Published& b) { return a.seq == b.seq; }),
                found.end());
    if (!found.empty()) {
      journal_seq_ = std::max(journal_seq_, found.back().seq);
      if (windowed[p]) published_below_[p] = found.front().seq;
    }
  }
  return true;
}

// Publishes the outbox entries that the decisions topic does not have yet.
bool Pipeline::republish_outbox() {
  std::vector<storage::OutboxEntry> outbox;
  if (auto s = store_->read_outbox(&outbox); !s.ok()) {
    spdlog::error("campaignd: cannot read the outbox: {}", s.message());
    return false;
  }
  in_flight_.clear();
  found_untrimmed_.clear();
  written_floors_.clear();
  publish_failed_ = false;
  std::int64_t already = 0;
  for (const auto& entry : outbox) {
    std::int64_t offset = -1;
    const bool published = find_published(entry.seq, entry.partition, &offset);  // before the crash
    if (!publish(entry.seq, entry.partition, entry.key, entry.value)) return false;
    if (published) {
      ++already;
    } else {
      stats_.outbox_replayed++;
    }
  }
  if (auto s = producer_->flush(options_.broker_timeout); !s.ok() || publish_failed_) {
    spdlog::warn("campaignd: outbox not delivered yet: {}", s.message());
    return false;
  }
  trim_delivered();
  if (!outbox.empty()) {
    spdlog::info("campaignd: outbox had {} entries, {} already published", outbox.size(), already);
  }
  return true;
}

// Produces one decision, unless the decisions topic has it already: then it
// only counts as delivered, for trimming. The topic has it when the tail
// read found its seq in its partition: after a crash between publishing
// and trimming, or after an older checkpoint was restored, when the engine
// decides again what it had decided and published (byte-identical: it is
// deterministic).
bool Pipeline::publish(std::int64_t seq, std::int32_t partition, std::string_view key, std::string_view value) {
  if (std::int64_t offset = -1; find_published(seq, partition, &offset)) {
    note_published(seq, partition, offset);
    return true;
  }
  char seq_text[24];
  const int seq_size = std::snprintf(seq_text, sizeof seq_text, "%lld", static_cast<long long>(seq));
  const kafka::Header headers[] = {{"shard", shard_text_}, {"seq", std::string_view(seq_text, seq_size)}};
  kafka::OutRecord record;
  record.topic = options_.decisions_topic;
  record.key = key;
  record.value = value;
  record.partition = partition;
  record.headers = headers;
  record.tag = 0;
  record.id = static_cast<std::uint64_t>(seq);
  in_flight_.sent(seq, partition, false);
  if (auto s = producer_->produce(record); !s.ok()) {
    if (is_permanent(s)) {
      fail_permanently(options_.decisions_topic + " refused the decision of seq " + std::to_string(seq) + " (" +
                       std::to_string(value.size()) + " bytes; the topic takes " +
                       std::to_string(decisions_record_bytes_max_) + ") for good: " + s.message());
    }
    spdlog::warn("campaignd: publishing seq {} failed: {}", seq, s.message());
    publish_failed_ = true;
    return false;
  }
  return true;
}

bool Pipeline::find_published(std::int64_t seq, std::int32_t partition, std::int64_t* offset) const {
  *offset = -1;
  const auto p = static_cast<std::size_t>(partition);
  if (seq > journal_seq_ || p >= published_.size()) return false;  // the common case: a new seq
  const auto& found = published_[p];
  auto it = std::lower_bound(found.begin(), found.end(), Published{seq, 0});
  if (it != found.end() && it->seq == seq) {
    *offset = it->offset;
    return true;
  }
  return seq < published_below_[p];
}

void Pipeline::note_published(std::int64_t seq, std::int32_t partition, std::int64_t offset) {
  in_flight_.sent(seq, partition, true, offset);
  if (offset >= 0) found_untrimmed_.push_back({seq, partition, offset});
}

// Trims the outbox up to the highest seq below which everything is
// confirmed, and moves the publish floors up with it: a partition's floor
// is just past the last trimmed entry there (what is produced later lands
// later: idempotence keeps a partition's delivered records in produce
// order), but never above an untrimmed entry that the tail read found.
void Pipeline::trim_delivered() {
  std::map<std::int32_t, std::int64_t> last_offsets;
  const std::int64_t upto = in_flight_.pop_delivered(&last_offsets);
  if (upto < 0) return;
  const std::int64_t drained = drained_at_seq_.load();
  if (!caught_up_logged_ && drained > 0 && upto >= drained) {
    // Once per process: how long the backlog took after a (re)start.
    caught_up_logged_ = true;
    spdlog::info("campaignd: caught up with {}: decided and published up to seq {}, {:.3f} s after start",
                 options_.events_topic, upto, seconds_since(started_));
  }
  for (const auto& [partition, offset] : last_offsets) {
    if (offset >= 0) publish_floors_[partition] = offset + 1;
  }
  while (!found_untrimmed_.empty() && found_untrimmed_.front().seq <= upto) found_untrimmed_.pop_front();
  std::map<std::int32_t, std::int64_t> floors = publish_floors_;
  for (const FoundEntry& e : found_untrimmed_) {
    auto [it, inserted] = floors.try_emplace(e.partition, e.offset);
    if (!inserted) it->second = std::min(it->second, e.offset);
  }
  // Written only when they moved: most trims move the floors of a few
  // partitions, and an idle publisher's trims move none.
  if (floors == written_floors_) {
    floors.clear();
  } else {
    written_floors_ = floors;
  }
  if (auto s = store_->trim_outbox(upto, floors); !s.ok()) {
    // Harmless: the tail read at the next start finds what is published.
    written_floors_.clear();
    spdlog::warn("campaignd: outbox trim failed: {}", s.message());
  }
}

// Before recovery reads what the topic has: no record of the last round may
// still be on its way, or it could land after the read and be published a
// second time by the resend. Records not sent yet are dropped (the outbox
// has them); those in flight get their answer or time out
// (message.timeout.ms).
void Pipeline::quiesce_producer() {
  for (kafka::Producer* producer : {producer_.get(), dlq_producer_.get()}) {
    rd_kafka_purge(producer->handle(), RD_KAFKA_PURGE_F_QUEUE);
    if (auto s = producer->flush(options_.broker_timeout + std::chrono::seconds(1)); !s.ok()) {
      spdlog::debug("campaignd: quiescing a producer: {}", s.message());
    }
  }
}

void Pipeline::DeliveryWindow::sent(std::int64_t seq, std::int32_t partition, bool delivered, std::int64_t offset) {
  if (slots_.empty()) first_ = seq;
  if (seq < first_) return;  // trimmed already
  while (static_cast<std::int64_t>(slots_.size()) <= seq - first_) slots_.emplace_back();
  slots_[static_cast<std::size_t>(seq - first_)] = Slot{partition, delivered, offset};
}

void Pipeline::DeliveryWindow::delivered(std::int64_t seq, std::int64_t offset) {
  if (seq >= first_ && seq - first_ < static_cast<std::int64_t>(slots_.size())) {
    Slot& slot = slots_[static_cast<std::size_t>(seq - first_)];
    slot.delivered = true;
    slot.offset = offset;
  }
}

std::int64_t Pipeline::DeliveryWindow::pop_delivered(std::map<std::int32_t, std::int64_t>* last_offsets) {
  std::int64_t upto = -1;
  while (!slots_.empty() && slots_.front().delivered) {
    const Slot& slot = slots_.front();
    if (slot.partition >= 0 && slot.offset >= 0) {
      auto [it, inserted] = last_offsets->try_emplace(slot.partition, slot.offset);
      if (!inserted) it->second = std::max(it->second, slot.offset);
    }
    upto = first_++;
    slots_.pop_front();
  }
  return upto;
}

// ------------------------------------------------------- the decision thread

bool Pipeline::run_batch(std::string* error) {
  Job& job = jobs_[next_job_];
  const auto wait_started = Clock::now();
  {
    std::unique_lock lock(jobs_mutex_);
    jobs_cv_.wait(lock, [&] { return job.stage == Stage::kFree; });
  }
  job.reset();
  const double wait_ms = seconds_since(wait_started) * 1e3;
  const auto poll_started = Clock::now();
  // While the merge has a full batch ready, only what is already fetched
  // is taken; otherwise up to max_batch_wait for more.
  const bool ready = merge_.buffered() >= options_.max_batch_records;
  if (auto s = consumer_->poll_batch(options_.max_batch_records, ready ? std::chrono::milliseconds(0) : options_.max_batch_wait,
                                     &polled_);
      !s.ok()) {
    if (s.code() == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET) {
      // The next event to decide is gone from the topic (retention deleted
      // it first). Skipping would lose events without a decision: stop.
      *error = "events were deleted from " + options_.events_topic + " before they were decided (" + s.message() +
               "); refusing to skip them";
      return false;
    }
    if (s.code() == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
        s.code() == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED ||
        s.code() == RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED) {
      // Permanent until an operator changes the ACLs or the credentials:
      // retrying would only log this for ever.
      *error = "reading " + options_.events_topic + " is not allowed: " + s.message();
      return false;
    }
    spdlog::warn("campaignd: consuming: {}", s.message());
  }
  bool fetched = !polled_.empty();
  merge_records();
  // The client's queue holds fetches partition after partition: a batch in
  // event time needs every partition's records, so take what else is
  // already there (without waiting) before merging, up to a bound.
  for (int more = 0; fetched && more < kExtraPolls && merge_.buffered() < kMergeAhead * options_.max_batch_records;
       ++more) {
    if (!consumer_->poll_batch(options_.max_batch_records, std::chrono::milliseconds(0), &polled_).ok() ||
        polled_.empty()) {
      break;
    }
    merge_records();
  }
  take_merged(&job);
  if (job.records.empty()) {
    if (!fetched) check_brokers();
    return true;
  }

  const double poll_ms = seconds_since(poll_started) * 1e3;
  const auto started = Clock::now();
  std::map<std::pair<std::string, std::string>, std::int64_t> outcomes;
  decide(&job, &outcomes);
  const double decide_ms = seconds_since(started) * 1e3;
  const auto prepare_started = Clock::now();
  if (auto s = store_->prepare(*engine_, next_offsets_, &job.commit); !s.ok()) {
    *error = "preparing a batch: " + s.message();
    return false;
  }
  job.prepare_ms = seconds_since(prepare_started) * 1e3;
  publish_batch_stats(outcomes);
  spdlog::debug("campaignd: decided a batch of {} in {:.1f} ms (waited {:.1f} ms for a free slot, {:.1f} ms polling; "
                "prepared in {:.1f} ms)",
                job.records.size(), decide_ms, wait_ms, poll_ms, job.prepare_ms);
  if (!hand_over(&job)) job.reset();  // a batch failed: run() starts over from the store
  return true;
}

// After (re)assigning the input: nothing buffered, nothing paused, every
// partition fetched from its stored offset.
void Pipeline::reset_merge() {
  merge_.clear();
  polled_.clear();
  assigned_.clear();
  for (std::int32_t p = 0; p < partitions_; ++p) assigned_.push_back(p);
  paused_.assign(static_cast<std::size_t>(partitions_), false);
  blocked_since_.clear();
  fetched_next_ = next_offsets_;
}

// Buffers what was polled for the event-time merge (merge.h).
void Pipeline::merge_records() {
  for (auto& m : polled_) {
    fetched_next_[m->partition] = m->offset + 1;
    MergeItem item;
    item.partition = m->partition;
    item.offset = m->offset;
    item.decodable = occurred_at_ns(*m, &envelopes_[0], &item.time_ns);
    item.record = std::move(m);
    merge_.add(std::move(item));
  }
  polled_.clear();
  // Backpressure: a partition far ahead of the others stops fetching until
  // the merge has taken most of what it holds (DESIGN §5: the others may
  // be what holds it back).
  std::vector<std::int32_t> pause, resume;
  for (std::int32_t p = 0; p < partitions_; ++p) {
    const std::size_t n = merge_.buffered(p);
    if (!paused_[p] && n >= kMergeBufferedPerPartition) pause.push_back(p);
    if (paused_[p] && n <= kMergeBufferedPerPartition / 2) resume.push_back(p);
  }
  for (auto [list, on] : {std::pair{&pause, true}, std::pair{&resume, false}}) {
    if (list->empty()) continue;
    kafka::PartitionListPtr partitions(rd_kafka_topic_partition_list_new(static_cast<int>(list->size())));
    for (std::int32_t p : *list) {
      rd_kafka_topic_partition_list_add(partitions.get(), options_.events_topic.c_str(), p);
      paused_[p] = on;
    }
    if (on) {
      rd_kafka_pause_partitions(consumer_->handle(), partitions.get());
    } else {
      rd_kafka_resume_partitions(consumer_->handle(), partitions.get());
    }
  }
}

// Moves the next records in event-time order into the job. A partition
// blocks the merge while its buffer is empty and its end (the brokers'
// high watermark, as the last fetch told it) is not known or lies beyond
// what was fetched; after --max-idle-ms of blocking it is passed over, and
// the log says so (the order is then that of arrival for its records).
void Pipeline::take_merged(Job* job) {
  const auto now = Clock::now();
  auto blocks = [&](std::int32_t p) {
    std::int64_t low = 0, high = -1;
    if (rd_kafka_get_watermark_offsets(consumer_->handle(), options_.events_topic.c_str(), p, &low, &high) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      high = -1;
    }
    auto next = fetched_next_.find(p);
    const std::int64_t fetched = next == fetched_next_.end() ? std::max<std::int64_t>(low, 0) : next->second;
    const bool behind = high < 0 || fetched < high;
    if (!behind) {
      blocked_since_.erase(p);
      return false;
    }
    auto [blocked, first] = blocked_since_.try_emplace(p, Blocked{now, false});
    if (blocked->second.passed_over) return false;
    if (now - blocked->second.since < options_.max_idle) return true;
    spdlog::warn("campaignd: partition {} of {} sent nothing for {} ms although it is behind its end; deciding the "
                 "others without waiting for it",
                 p, options_.events_topic, options_.max_idle.count());
    blocked->second.passed_over = true;  // until it is at its end again
    return false;
  };
  taken_.clear();
  (void)merge_.take(options_.max_batch_records, assigned_, blocks, &taken_);
  for (auto& item : taken_) job->records.push_back(std::move(item.record));
  taken_.clear();
}

// Decides the job's records in merged order into its decisions; undecodable
// ones become its dead letters. Readers (read_state) get the state lock
// between chunks of kChunkRecords.
void Pipeline::decide(Job* job, std::map<std::pair<std::string, std::string>, std::int64_t>* outcomes) {
  OutcomeCounter counter;
  for (std::size_t begin = 0; begin < job->records.size(); begin += kChunkRecords) {
    const std::size_t end = std::min(job->records.size(), begin + kChunkRecords);
    std::lock_guard lock(state_mutex_);
    decide_chunk(job, begin, end, &counter);
  }
  counter.merge_into(outcomes);
}

// Decodes records [begin, end) first, then decides them in one call, so
// that the engine prefetches what the next events will probe
// (Engine::decide_batch); each verdict becomes its wire Decision as apply()
// would make it.
void Pipeline::decide_chunk(Job* job, std::size_t begin, std::size_t end, OutcomeCounter* counter) {
  decodable_.clear();
  decodable_records_.clear();
  std::string decode_error;
  for (std::size_t i = begin; i < end; ++i) {
    const rd_kafka_message_t& m = *job->records[i];
    next_offsets_[m.partition] = m.offset + 1;
    v1::Envelope* envelope = &envelopes_[i - begin];
    if (!decode_record(m, envelope, &decode_error)) {
      job->dead_letters.emplace_back(i, decode_error);
      continue;
    }
    decodable_.push_back(envelope);
    decodable_records_.push_back(i);
  }
  engine_->decide_batch(decodable_, [&](std::size_t k, const Verdict& verdict) {
    const std::size_t i = decodable_records_[k];
    const rd_kafka_message_t& m = *job->records[i];
    const Position position{m.partition, m.offset};
    counter->add(verdict);
    // One record per part (CONTRACT §3 "Parts"): most decisions have one.
    const std::int64_t parts = verdict.parts();
    if (options_.decisions_format == DecisionsFormat::kProtobuf) {
      // Straight into the outbox: building the message first cost more
      // than deciding (encode.h).
      for (std::int64_t part = 0; part < parts; ++part) {
        job->outbox.add(verdict.seq + part, m.partition, key_of(m), [&](std::string* out) {
          append_decision_part_pb(engine_->state(), verdict, *decodable_[k], position, part, out);
        });
      }
      return;
    }
    for (std::int64_t part = 0; part < parts; ++part) {
      auto* decision = google::protobuf::Arena::CreateMessage<v1::Decision>(&job->arena);
      encode_decision_part(engine_->state(), verdict, *decodable_[k], position, part, decision);
      job->decisions.emplace_back(i, decision);
    }
  });
}

// Merges a batch's decision counts into the shared snapshot, with the lag of
// every assigned partition from the consumer's cached watermarks.
void Pipeline::publish_batch_stats(const std::map<std::pair<std::string, std::string>, std::int64_t>& decisions) {
  std::map<std::int32_t, std::int64_t> lag;
  for (std::int32_t p = 0; p < partitions_; ++p) {
    std::int64_t low = 0, high = 0;
    if (rd_kafka_get_watermark_offsets(consumer_->handle(), options_.events_topic.c_str(), p, &low, &high) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        high < 0) {
      continue;
    }
    auto next = next_offsets_.find(p);
    lag[p] = std::max<std::int64_t>(0, high - (next == next_offsets_.end() ? low : next->second));
  }
  std::int64_t behind = 0;
  for (const auto& [partition, n] : lag) behind += n;
  // Every event the topic had is decided: once their decisions are
  // published too, campaignd has caught up (trim_delivered logs it). Only
  // when every partition's end is known: before its first fetch it is not.
  if (behind == 0 && static_cast<int>(lag.size()) == partitions_) drained_at_seq_ = engine_->state().next_seq - 1;
  std::lock_guard lock(stats_.mutex);
  for (const auto& [key, n] : decisions) stats_.shared.decisions[key] += n;
  stats_.shared.lag = std::move(lag);
}

// The lag while nothing is decided (recovering, publishing stuck): every
// event behind the stored offsets is undecided, from the brokers' ends.
void Pipeline::refresh_lag() {
  std::vector<kafka::PartitionWatermarks> ends;
  for (std::int32_t p = 0; p < partitions_; ++p) ends.push_back({options_.events_topic, p});
  if (ends.empty() || !consumer_->watermarks(&ends, std::chrono::milliseconds(1'000)).ok()) return;
  std::map<std::int32_t, std::int64_t> lag;
  for (const auto& e : ends) {
    auto next = next_offsets_.find(e.partition);
    lag[e.partition] = std::max<std::int64_t>(0, e.high - (next == next_offsets_.end() ? e.low : next->second));
  }
  std::lock_guard lock(stats_.mutex);
  stats_.shared.lag = std::move(lag);
}

// While idle, asks the brokers for metadata every two seconds, so that
// /readyz says when they are unreachable although nothing needs them yet.
void Pipeline::check_brokers() {
  constexpr auto kEvery = std::chrono::seconds(2);
  if (Clock::now() - brokers_checked_ < kEvery) return;
  brokers_checked_ = Clock::now();
  const rd_kafka_metadata_t* metadata = nullptr;
  const rd_kafka_resp_err_t err = rd_kafka_metadata(consumer_->handle(), 0, nullptr, &metadata, 1'000);
  if (metadata != nullptr) rd_kafka_metadata_destroy(metadata);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (brokers_unreachable_) {
      spdlog::info("campaignd: brokers reachable again");
      brokers_unreachable_ = false;
      stats_.set_ready();
    }
    return;
  }
  if (!brokers_unreachable_) spdlog::warn("campaignd: brokers unreachable: {}", rd_kafka_err2str(err));
  brokers_unreachable_ = true;
  stats_.set_not_ready(std::string("brokers unreachable: ") + rd_kafka_err2str(err));
}

// -------------------------------------------- the committer and publisher

void Pipeline::start_workers() {
  {
    std::lock_guard lock(jobs_mutex_);
    stopping_ = false;
    committer_done_ = false;
    reload_needed_ = false;
    commit_error_.clear();
  }
  committer_ = std::thread([this] { committer_loop(); });
  publisher_ = std::thread([this] { publisher_loop(); });
}

// Lets the workers commit and publish the batches handed over, and joins
// them. False (with *error) when a commit failed.
bool Pipeline::stop_workers(std::string* error) {
  if (!committer_.joinable()) return true;
  {
    std::lock_guard lock(jobs_mutex_);
    stopping_ = true;
  }
  jobs_cv_.notify_all();
  committer_.join();
  publisher_.join();
  std::lock_guard lock(jobs_mutex_);
  if (commit_error_.empty()) return true;
  if (error != nullptr) *error = commit_error_;
  return false;
}

// Gives the committer `job`. False (the job is not taken) after a failed
// batch: the batches after it must not be committed either.
bool Pipeline::hand_over(Job* job) {
  {
    std::lock_guard lock(jobs_mutex_);
    if (reload_needed_ || !commit_error_.empty()) return false;
    job->stage = Stage::kDecided;
    next_job_ = (next_job_ + 1) % kJobs;
  }
  jobs_cv_.notify_all();
  return true;
}

// Commits the decided batches in order, one at a time.
void Pipeline::committer_loop() {
  pthread_setname_np(pthread_self(), "dangol:commit");  // for top -H and perf
  std::unique_lock lock(jobs_mutex_);
  for (;;) {
    Job& job = jobs_[commit_next_];
    jobs_cv_.wait(lock, [&] { return job.stage == Stage::kDecided || stopping_; });
    if (job.stage != Stage::kDecided) break;  // stopping, and nothing left
    const bool failed = reload_needed_ || !commit_error_.empty();
    lock.unlock();
    const bool committed = !failed && commit(job);
    lock.lock();
    job.committed = committed;  // else the publisher only frees it
    job.stage = Stage::kCommitted;
    commit_next_ = (commit_next_ + 1) % kJobs;
    jobs_cv_.notify_all();
  }
  committer_done_ = true;
  jobs_cv_.notify_all();
}

// Publishes the committed batches in order; meanwhile serves delivery
// reports, so that the outbox is trimmed.
void Pipeline::publisher_loop() {
  pthread_setname_np(pthread_self(), "dangol:publish");
  std::unique_lock lock(jobs_mutex_);
  for (;;) {
    Job& job = jobs_[publish_next_];
    jobs_cv_.wait_for(lock, std::chrono::milliseconds(10),
                      [&] { return job.stage == Stage::kCommitted || committer_done_; });
    if (job.stage != Stage::kCommitted) {
      if (committer_done_) return;
      lock.unlock();
      producer_->poll(std::chrono::milliseconds(0));
      trim_delivered();
      lock.lock();
      continue;
    }
    lock.unlock();
    if (job.committed && !publish_failed_) {  // else recover() resends from the outbox
      for (const auto& e : job.outbox.entries()) {
        if (!publish(e.seq, e.partition, job.outbox.key(e), job.outbox.value(e))) break;
      }
    }
    producer_->poll(std::chrono::milliseconds(0));
    trim_delivered();
    job.reset();  // frees the records here, not on the decision thread
    lock.lock();
    job.stage = Stage::kFree;
    publish_next_ = (publish_next_ + 1) % kJobs;
    jobs_cv_.notify_all();
  }
}

Pipeline::Job::Job()
    : arena_block(new char[kArenaBlockBytes]), arena([this] {
        google::protobuf::ArenaOptions options;
        options.initial_block = arena_block.get();
        options.initial_block_size = kArenaBlockBytes;
        return options;
      }()) {}

// Steps 5 and 6 for one batch: its outbox, its dead letters, one fsynced
// WriteBatch. False if it is not committed (then the flags say why).
bool Pipeline::commit(Job& job) {
  const auto started = Clock::now();
  // JSON decisions (protobuf ones are in the outbox already).
  for (const auto& [index, decision] : job.decisions) {
    const rd_kafka_message_t& m = *job.records[index];
    job.outbox.add(decision->seq(), m.partition, key_of(m),
                   [&](std::string* out) { json::append_decision(*decision, out); });
  }
  if (!job.dead_letters.empty() && !deliver_dead_letters(job)) {
    // The engine already applied this batch in memory: it must not be
    // committed without its dead letters, so run() loads the state again.
    std::lock_guard lock(jobs_mutex_);
    reload_needed_ = true;
    return false;
  }
  const auto write_started = Clock::now();
  if (auto s = store_->write(&job.commit, job.outbox); !s.ok()) {
    std::lock_guard lock(jobs_mutex_);
    commit_error_ = "committing a batch: " + s.message();
    return false;
  }
  // The commit's cost: serializing the changes (decision thread) and
  // writing them (here), not encoding the outbox.
  const double commit_ms = job.prepare_ms + seconds_since(write_started) * 1e3;
  stats_.commit_ms.record(commit_ms);
  stats_.commit_seconds.observe(commit_ms / 1e3);
  stats_.batch_records.observe(static_cast<double>(job.records.size()));
  stats_.batches++;
  stats_.events += static_cast<std::int64_t>(job.records.size());
  // Counted once committed: a batch tried again after a failed flush
  // dead-letters the same records again, and they are records, not tries.
  stats_.dead_letters += static_cast<std::int64_t>(job.dead_letters.size());
  for (const auto& [index, why] : job.dead_letters) {
    // Committed: never decided again, so the DLQ's copy need not be known.
    const rd_kafka_message_t& m = *job.records[index];
    auto& done = dead_lettered_[m.partition];
    done.erase(done.begin(), done.upper_bound(m.offset));
  }
  spdlog::debug("campaignd: committed a batch of {} in {:.1f} ms ({} bytes; {:.1f} ms with the outbox)",
                job.records.size(), commit_ms, store_->last_commit_bytes(), seconds_since(started) * 1e3);
  return true;
}

// Dead letters go out and are flushed before their batch commits.
bool Pipeline::deliver_dead_letters(const Job& job) {
  for (const auto& [index, why] : job.dead_letters) {
    if (!dead_letter(*job.records[index], why)) return false;
  }
  if (auto s = dlq_producer_->flush(options_.broker_timeout); !s.ok()) {
    if (is_permanent(s)) fail_permanently(options_.dlq_topic + " refused a dead letter for good: " + s.message());
    spdlog::warn("campaignd: dead letters not delivered: {}", s.message());
    return false;
  }
  return true;
}

// Dead-letters one undecodable record: to the DLQ partition with the same
// number. Records the DLQ already has (seen by the tail read after a crash)
// are not sent again.
bool Pipeline::dead_letter(const rd_kafka_message_t& m, const std::string& error) {
  // Each offset on its own, as for decisions (read_published_positions).
  auto done = dead_lettered_.find(m.partition);
  if (done != dead_lettered_.end() && done->second.contains(m.offset)) return true;
  const std::string partition = std::to_string(m.partition);
  const std::string offset = std::to_string(m.offset);
  const std::string original_size = std::to_string(m.payload ? m.len : 0);
  // The DLQ takes records of at most dlq_record_bytes_max_ bytes, and the
  // events topic may hold larger ones: such a value is cut to fit, and the
  // header `truncated` gives its original size. A record the DLQ refused
  // would block its partition for ever.
  std::string_view key = key_of(m);
  std::string_view value(static_cast<const char*>(m.payload), m.payload ? m.len : 0);
  constexpr std::size_t kRecordOverhead = 512;  // batch and record framing, header names
  const std::size_t limit = dlq_record_bytes_max_.load();
  const std::size_t room = limit - std::min(limit, kRecordOverhead);
  const std::size_t fixed = error.size() + partition.size() + offset.size() + original_size.size();
  key = key.substr(0, std::min(key.size(), room / 4));  // a key is an id: a huge one is hostile too
  const std::size_t value_room = room - std::min(room, fixed + key.size());
  const bool truncated = value.size() > value_room;
  if (truncated) value = value.substr(0, value_room);
  const kafka::Header headers[] = {
      {"error", error}, {"partition", partition}, {"offset", offset}, {"truncated", original_size}};
  kafka::OutRecord record;
  record.topic = options_.dlq_topic;
  record.key = key;
  record.value = value;
  record.partition = m.partition;
  record.headers = std::span<const kafka::Header>(headers, truncated ? 4 : 3);
  record.tag = 1;
  if (auto s = dlq_producer_->produce(record); !s.ok()) {
    if (is_permanent(s)) fail_permanently(options_.dlq_topic + " refused a dead letter for good: " + s.message());
    spdlog::warn("campaignd: dead-lettering {}[{}]@{} failed: {}", options_.events_topic, m.partition, m.offset,
                 s.message());
    return false;
  }
  if (truncated) {
    spdlog::warn("campaignd: dead-lettered {}[{}]@{} cut from {} to {} bytes to fit {}", options_.events_topic,
                 m.partition, m.offset, original_size, value.size(), options_.dlq_topic);
  }
  dead_lettered_[m.partition].insert(m.offset);
  return true;
}

// ------------------------------------------------------------------- others

bool Pipeline::checkpoint(const std::string& dir, std::string* error) {
  if (!store_open_) {
    *error = "the state store is not open yet";
    return false;
  }
  if (auto s = store_->checkpoint(dir); !s.ok()) {
    *error = s.message();
    return false;
  }
  return true;
}

void Pipeline::backoff(const std::atomic<bool>& stop) {
  auto until = Clock::now() + backoff_;
  while (!stop.load() && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  backoff_ = std::min(backoff_ * 2, options_.backoff_max);
}

}  // namespace dangol::campaignd
