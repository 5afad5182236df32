#include "services/kafka/consumer.h"

#include <algorithm>
#include <cstring>

namespace dangol::kafka {

Status Consumer::create(ConsumerOptions options, std::unique_ptr<Consumer>* out) {
  Settings settings = {
      {"bootstrap.servers", options.bootstrap_servers},
      {"group.id", options.group_id},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", options.auto_offset_reset},
      {"enable.partition.eof", "false"},
      {"fetch.wait.max.ms", "10"},
      // Bound the fetch buffers: a batch is at most max_records anyway.
      {"queued.max.messages.kbytes", "65536"},
      // Once the queue holds queued.min.messages (100,000 by default),
      // librdkafka 2.0 stops fetching and looks again only after a backoff
      // of most of a second, not when the queue drains: campaignd decides
      // 100,000 events faster than that and sat idle for 0.8 s each time
      // (a third of the end-to-end benchmark). 500,000 take over two
      // seconds to decide. A queued message costs about 200 bytes besides
      // its payload: about 130 MiB for 500,000 small events (larger ones
      // meet the 64 MiB payload bound above first).
      {"queued.min.messages", "500000"},
  };
  settings.insert(settings.end(), options.config.begin(), options.config.end());
  ConfPtr conf;
  if (Status s = make_conf(settings, &conf); !s.ok()) return s;
  std::unique_ptr<Consumer> consumer(new Consumer());
  if (Status s = new_handle(RD_KAFKA_CONSUMER, std::move(conf), &consumer->handle_); !s.ok()) return s;
  rd_kafka_poll_set_consumer(consumer->handle_.get());
  *out = std::move(consumer);
  return Status::Ok();
}

Consumer::~Consumer() {
  queue_.reset();  // before the handle they belong to
  topics_.clear();
  if (handle_) {
    // Leaves no assignment behind; errors at shutdown have no one to tell.
    (void)rd_kafka_assign(handle_.get(), nullptr);
    (void)rd_kafka_consumer_close(handle_.get());
  }
}

Status Consumer::learn_topic(const std::string& topic, std::chrono::milliseconds timeout) {
  if (topics_.count(topic) != 0) return Status::Ok();
  TopicPtr rkt(rd_kafka_topic_new(handle_.get(), topic.c_str(), nullptr));
  if (!rkt) return Status::FromCode(rd_kafka_last_error(), "topic " + topic);
  int partitions = 0;
  if (Status s = fetch_partition_count(handle_.get(), topic, timeout, &partitions); !s.ok()) return s;
  topics_.emplace(topic, std::move(rkt));
  return Status::Ok();
}

Status Consumer::assign(const std::string& topic, int partition_count,
                        const std::map<std::int32_t, std::int64_t>& next_offsets) {
  // Best effort: without it the first fetch waits for a metadata refresh.
  learn_topic(topic, std::chrono::milliseconds(2'000)).IgnoreError();
  PartitionListPtr list(rd_kafka_topic_partition_list_new(partition_count));
  for (int p = 0; p < partition_count; ++p) {
    auto* tp = rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p);
    auto it = next_offsets.find(p);
    tp->offset = it == next_offsets.end() ? 0 : it->second;
  }
  return Status::FromCode(rd_kafka_assign(handle_.get(), list.get()), "assign " + topic);
}

Status Consumer::poll_batch(std::size_t max_records, std::chrono::milliseconds max_wait,
                            std::vector<MessagePtr>* out) {
  out->clear();
  if (queue_ == nullptr) queue_.reset(rd_kafka_queue_get_consumer(handle_.get()));
  if (batch_.size() < max_records) batch_.resize(max_records);
  const auto deadline = std::chrono::steady_clock::now() + max_wait;
  Status first_error;
  // Keeps the records after a failed one: they are consumed already, and
  // dropping them would skip them.
  auto take = [&](rd_kafka_message_t* raw) {
    MessagePtr m(raw);
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (first_error.ok()) {
        first_error = Status::FromCode(m->err, "consume").WithDetail(rd_kafka_message_errstr(m.get()));
      }
      return;
    }
    out->push_back(std::move(m));
  };
  while (out->empty() && first_error.ok()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    rd_kafka_message_t* first =
        rd_kafka_consume_queue(queue_.get(), static_cast<int>(std::max<std::int64_t>(left.count(), 0)));
    if (first != nullptr) {
      take(first);
    } else if (left.count() <= 0) {
      return Status::Ok();
    }
  }
  // Then what is already buffered, many per call: one call per record
  // costs more than deciding the record does.
  while (out->size() < max_records && first_error.ok()) {
    ssize_t n = rd_kafka_consume_batch_queue(queue_.get(), 0, batch_.data(), max_records - out->size());
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) take(batch_[i]);
  }
  return first_error;
}

Status Consumer::watermarks(std::vector<PartitionWatermarks>* partitions, std::chrono::milliseconds timeout) {
  if (partitions->empty()) return Status();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // ListOffsets with the special timestamps -2 and -1 answers with the log
  // start and the log end of each partition.
  for (const std::int64_t which : {RD_KAFKA_OFFSET_BEGINNING, RD_KAFKA_OFFSET_END}) {
    PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions->size())));
    for (const PartitionWatermarks& p : *partitions) {
      rd_kafka_topic_partition_list_add(list.get(), p.topic.c_str(), p.partition)->offset = which;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    const int left_ms = static_cast<int>(std::max<std::int64_t>(left.count(), 1));
    const std::string what = which == RD_KAFKA_OFFSET_BEGINNING ? "low watermarks" : "high watermarks";
    if (auto err = rd_kafka_offsets_for_times(handle_.get(), list.get(), left_ms); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::FromCode(err, what);
    }
    // The list is answered in place, in the order asked.
    for (int i = 0; i < list->cnt; ++i) {
      const rd_kafka_topic_partition_t& answer = list->elems[i];
      PartitionWatermarks& p = (*partitions)[static_cast<std::size_t>(i)];
      if (answer.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return Status::FromCode(answer.err, what + " of " + p.topic + " [" + std::to_string(p.partition) + "]");
      }
      (which == RD_KAFKA_OFFSET_BEGINNING ? p.low : p.high) = answer.offset;
    }
  }
  return Status();
}

Status read_ranges(Consumer& reader, const std::vector<OffsetRange>& ranges, std::chrono::milliseconds timeout,
                   const std::function<void(std::size_t, const rd_kafka_message_t&)>& on_record) {
  // (topic, partition) -> index in ranges, for the ranges not read yet.
  std::map<std::pair<std::string, std::int32_t>, std::size_t, std::less<>> open;
  PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(ranges.size())));
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    const OffsetRange& r = ranges[i];
    if (r.from >= r.to) continue;
    reader.learn_topic(r.topic, timeout).IgnoreError();  // best effort, as in assign()
    rd_kafka_topic_partition_list_add(list.get(), r.topic.c_str(), r.partition)->offset = r.from;
    open[{r.topic, r.partition}] = i;
  }
  if (open.empty()) return Status::Ok();
  if (Status s = Status::FromCode(rd_kafka_assign(reader.handle(), list.get()), "assign"); !s.ok()) return s;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<MessagePtr> batch;
  std::pair<std::string, std::int32_t> key;
  while (!open.empty() && std::chrono::steady_clock::now() < deadline) {
    Status s = reader.poll_batch(10'000, std::chrono::milliseconds(100), &batch);
    if (!s.ok() && !s.retriable()) return s;
    for (const auto& m : batch) {
      key.first = rd_kafka_topic_name(m->rkt);
      key.second = m->partition;
      auto it = open.find(key);
      if (it == open.end()) continue;  // read to its end already
      const OffsetRange& r = ranges[it->second];
      if (m->offset < r.to) on_record(it->second, *m);
      if (m->offset >= r.to - 1) open.erase(it);
    }
  }
  if (open.empty()) return Status::Ok();
  const auto& [topic, partition] = open.begin()->first;
  return Status::FromCode(RD_KAFKA_RESP_ERR__TIMED_OUT, "read " + topic + " [" + std::to_string(partition) + "]");
}

std::string_view header_view(const rd_kafka_message_t* message, const char* name) {
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(message, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  const void* value = nullptr;
  std::size_t size = 0;
  if (rd_kafka_header_get_last(headers, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR || value == nullptr) {
    return {};
  }
  return {static_cast<const char*>(value), size};
}

}  // namespace dangol::kafka
