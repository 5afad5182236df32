#include "services/campaignd/pipeline.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "engine/encode.h"
#include "proto/json_codec.h"

namespace dangol::campaignd {
namespace {

using Clock = std::chrono::steady_clock;

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

std::string_view key_of(const rd_kafka_message_t& m) {
  return m.key ? std::string_view(static_cast<const char*>(m.key), m.key_len) : std::string_view();
}

}  // namespace

bool Pipeline::run(const std::atomic<bool>& stop, std::string* error) {
  if (!open(error) || !recover(stop, error)) return false;
  stats_.ready = true;
  while (!stop.load()) {
    if (publish_failed_) {
      // A delivery failed (broker down past the message timeout): derive
      // what is published from the topic again and resend the rest.
      stats_.ready = false;
      backoff(stop);
      if (!recover(stop, error)) return false;
      stats_.ready = true;
      continue;
    }
    if (!run_batch(error)) return false;
  }
  // Deliver what is in flight; anything left stays in the outbox for the
  // next start.
  (void)producer_->flush(options_.broker_timeout);
  trim_delivered();
  spdlog::info("campaignd: stopped after {} batches, {} events, {} dead letters, {} decisions published; batch "
               "commit p50 {:.1f} ms, p99 {:.1f} ms",
               stats_.batches.load(), stats_.events.load(), stats_.dead_letters.load(),
               stats_.decisions_published.load(), stats_.commit_ms.quantile(0.5), stats_.commit_ms.quantile(0.99));
  return true;
}

bool Pipeline::open(std::string* error) {
  auto started = Clock::now();
  if (auto s = storage::StateStore::open(options_.state_dir, &store_); !s.ok()) {
    *error = s.message();
    return false;
  }
  if (!load_state(error)) return false;
  store_open_ = true;
  spdlog::info("campaignd: opened {} in {:.3f} s", options_.state_dir, seconds_since(started));

  kafka::ProducerOptions producer_options;
  producer_options.bootstrap_servers = options_.bootstrap_servers;
  producer_options.message_timeout_ms = static_cast<int>(options_.broker_timeout.count());
  producer_options.on_delivery = [this](const kafka::Delivery& d) {
    if (d.tag != 0) return;  // dead letters are flushed synchronously
    if (!d.status->ok()) {
      publish_failed_ = true;
      return;
    }
    in_flight_[static_cast<std::int64_t>(d.id)] = true;
    stats_.decisions_published++;
  };
  if (auto s = kafka::Producer::create(producer_options, &producer_); !s.ok()) {
    *error = s.message();
    return false;
  }
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

bool Pipeline::recover(const std::atomic<bool>& stop, std::string* error) {
  auto started = Clock::now();
  while (!stop.load()) {
    if (auto s = producer_->partition_count(options_.events_topic, &partitions_); !s.ok()) {
      spdlog::warn("campaignd: waiting for the brokers: {}", s.message());
      backoff(stop);
      continue;
    }
    if (!read_published_positions() || !republish_outbox()) {
      backoff(stop);
      continue;
    }
    if (auto s = consumer_->assign(options_.events_topic, partitions_, next_offsets_); !s.ok()) {
      *error = s.message();
      return false;
    }
    backoff_ = std::chrono::milliseconds(100);
    spdlog::info("campaignd: recovered in {:.3f} s: {} partitions, {} outbox entries replayed, consuming from {}",
                 seconds_since(started), partitions_, stats_.outbox_replayed.load(),
                 next_offsets_.empty() ? std::string("the beginning") : std::string("stored offsets"));
    return true;
  }
  return true;
}

// The last seq published to each decisions partition, and the last input
// offset dead-lettered from each events partition, from the topics' tails.
bool Pipeline::read_published_positions() {
  kafka::ConsumerOptions reader_options;
  reader_options.bootstrap_servers = options_.bootstrap_servers;
  reader_options.group_id = options_.group_id + ".tail";
  std::unique_ptr<kafka::Consumer> reader;
  if (auto s = kafka::Consumer::create(reader_options, &reader); !s.ok()) {
    spdlog::warn("campaignd: cannot create the tail reader: {}", s.message());
    return false;
  }
  published_seq_.clear();
  dead_lettered_to_.clear();
  std::vector<kafka::OwnedRecord> tail;
  for (std::int32_t p = 0; p < partitions_; ++p) {
    for (const std::string* topic : {&options_.decisions_topic, &options_.dlq_topic}) {
      std::int64_t low = 0, high = 0;
      if (auto s = consumer_->watermarks(*topic, p, options_.broker_timeout, &low, &high); !s.ok()) {
        spdlog::warn("campaignd: cannot read the tail of {}: {}", *topic, s.message());
        return false;
      }
      std::int64_t from = std::max(low, high - options_.tail_records);
      if (auto s = kafka::read_range(*reader, *topic, p, from, high, options_.broker_timeout, &tail); !s.ok()) {
        spdlog::warn("campaignd: cannot read the tail of {}: {}", *topic, s.message());
        return false;
      }
      // The maximum, not the last record: a broker may hold a retried
      // duplicate after later records (librdkafka's mock cluster does).
      for (const auto& r : tail) {
        if (topic == &options_.decisions_topic) {
          if (r.header("shard") != std::to_string(options_.shard)) continue;
          published_seq_[p] = std::max<std::int64_t>(published_seq_[p], std::atoll(r.header("seq").c_str()));
        } else {
          std::int64_t offset = std::atoll(r.header("offset").c_str());  // NOLINT: headers are ours
          auto [it, inserted] = dead_lettered_to_.try_emplace(p, offset);
          if (!inserted) it->second = std::max(it->second, offset);
        }
      }
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
  publish_failed_ = false;
  std::int64_t already = 0;
  for (const auto& entry : outbox) {
    if (entry.seq <= published_seq_[entry.partition]) {
      in_flight_[entry.seq] = true;  // delivered before the crash
      ++already;
      continue;
    }
    if (!publish(entry)) return false;
    stats_.outbox_replayed++;
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

bool Pipeline::publish(const storage::OutboxEntry& entry) {
  const std::string shard = std::to_string(options_.shard);
  const std::string seq = std::to_string(entry.seq);
  const kafka::Header headers[] = {{"shard", shard}, {"seq", seq}};
  kafka::OutRecord record;
  record.topic = options_.decisions_topic;
  record.key = entry.key;
  record.value = entry.value;
  record.partition = entry.partition;
  record.headers = headers;
  record.tag = 0;
  record.id = static_cast<std::uint64_t>(entry.seq);
  in_flight_[entry.seq] = false;
  if (auto s = producer_->produce(record); !s.ok()) {
    spdlog::warn("campaignd: publishing seq {} failed: {}", entry.seq, s.message());
    publish_failed_ = true;
    return false;
  }
  return true;
}

// Trims the outbox up to the highest seq below which everything is delivered.
void Pipeline::trim_delivered() {
  std::int64_t upto = -1;
  while (!in_flight_.empty() && in_flight_.begin()->second) {
    upto = in_flight_.begin()->first;
    in_flight_.erase(in_flight_.begin());
  }
  if (upto < 0) return;
  if (auto s = store_->trim_outbox(upto); !s.ok()) {
    // Harmless: the tail read at the next start skips what is published.
    spdlog::warn("campaignd: outbox trim failed: {}", s.message());
  }
}

// Dead-letters one undecodable record: to the DLQ partition with the same
// number, flushed before the batch commits so it is never lost. Records the
// DLQ already has (seen by the tail read after a crash) are not sent again.
bool Pipeline::dead_letter(const rd_kafka_message_t& m, const std::string& error) {
  stats_.dead_letters++;
  auto done = dead_lettered_to_.find(m.partition);
  if (done != dead_lettered_to_.end() && m.offset <= done->second) return true;
  const std::string partition = std::to_string(m.partition);
  const std::string offset = std::to_string(m.offset);
  const kafka::Header headers[] = {{"error", error}, {"partition", partition}, {"offset", offset}};
  kafka::OutRecord record;
  record.topic = options_.dlq_topic;
  record.key = key_of(m);
  record.value = std::string_view(static_cast<const char*>(m.payload), m.payload ? m.len : 0);
  record.partition = m.partition;
  record.headers = headers;
  record.tag = 1;
  if (auto s = producer_->produce(record); !s.ok()) {
    spdlog::warn("campaignd: dead-lettering {}[{}]@{} failed: {}", options_.events_topic, m.partition, m.offset,
                 s.message());
    return false;
  }
  dead_lettered_to_[m.partition] = m.offset;
  return true;
}

std::string Pipeline::encode(const v1::Decision& d) const {
  if (options_.decisions_format == DecisionsFormat::kJson) {
    std::string out;
    json::append_decision(d, &out);
    return out;
  }
  std::string out;
  d.SerializeToString(&out);
  return out;
}

bool Pipeline::run_batch(std::string* error) {
  std::vector<kafka::MessagePtr> records;
  if (auto s = consumer_->poll_batch(options_.max_batch_records, options_.max_batch_wait, &records); !s.ok()) {
    if (s.code() == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET) {
      // The next event to decide is gone from the topic (retention deleted
      // it first). Skipping would lose events without a decision: stop.
      *error = "events were deleted from " + options_.events_topic + " before they were decided (" + s.message() +
               "); refusing to skip them";
      return false;
    }
    spdlog::warn("campaignd: consuming: {}", s.message());
    if (records.empty()) {
      producer_->poll(std::chrono::milliseconds(0));
      return true;
    }
  }
  producer_->poll(std::chrono::milliseconds(0));
  trim_delivered();
  if (records.empty()) return true;

  auto started = Clock::now();
  std::vector<storage::OutboxEntry> outbox;
  outbox.reserve(records.size());
  bool dead_letters = false;
  v1::Envelope envelope;
  DecisionSlot slot;
  std::string decode_error;
  std::map<std::pair<std::string, std::string>, std::int64_t> outcomes;
  std::unique_lock state_lock(state_mutex_, std::defer_lock);
  for (std::size_t i = 0; i < records.size(); ++i) {
    // Readers (read_state) get the lock between chunks.
    if (i % kChunkRecords == 0) {
      if (state_lock.owns_lock()) state_lock.unlock();
      state_lock.lock();
    }
    const auto& m = records[i];
    next_offsets_[m->partition] = m->offset + 1;
    if (!decode_record(*m, &envelope, &decode_error)) {
      if (!dead_letter(*m, decode_error)) {
        publish_failed_ = true;
        state_lock.unlock();
        // The engine may have applied part of this batch in memory: start
        // over from the store so that it is applied exactly once.
        return load_state(error);
      }
      dead_letters = true;
      continue;
    }
    v1::Decision* decision = slot.fresh();
    engine_->apply(envelope, Position{m->partition, m->offset}, decision);
    outcomes[{v1::Decision::Outcome_Name(decision->outcome()), decision->reason()}]++;
    outbox.push_back({decision->seq(), m->partition, std::string(key_of(*m)), encode(*decision)});
  }
  if (state_lock.owns_lock()) state_lock.unlock();
  if (dead_letters) {
    if (auto s = producer_->flush(options_.broker_timeout); !s.ok()) {
      // The engine already applied this batch in memory: start over from the
      // store so that it is applied exactly once.
      spdlog::warn("campaignd: dead letters not delivered: {}", s.message());
      publish_failed_ = true;
      return load_state(error);
    }
  }
  auto commit_started = Clock::now();
  if (auto s = store_->commit(*engine_, next_offsets_, outbox); !s.ok()) {
    *error = "committing a batch: " + s.message();
    return false;
  }
  const double commit_ms = seconds_since(commit_started) * 1e3;
  stats_.commit_ms.record(commit_ms);
  stats_.commit_seconds.observe(commit_ms / 1e3);
  stats_.batch_records.observe(static_cast<double>(records.size()));
  stats_.batches++;
  stats_.events += static_cast<std::int64_t>(records.size());
  publish_batch_stats(outcomes);
  for (const auto& entry : outbox) {
    if (!publish(entry)) break;  // recover() resends from the outbox
  }
  spdlog::debug("campaignd: batch of {} in {:.1f} ms", records.size(), seconds_since(started) * 1e3);
  return true;
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
  std::lock_guard lock(stats_.mutex);
  for (const auto& [key, n] : decisions) stats_.shared.decisions[key] += n;
  stats_.shared.lag = std::move(lag);
}

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
