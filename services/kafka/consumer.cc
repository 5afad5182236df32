#include "services/kafka/consumer.h"

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
  if (handle_) {
    // Leaves no assignment behind; errors at shutdown have no one to tell.
    (void)rd_kafka_assign(handle_.get(), nullptr);
    (void)rd_kafka_consumer_close(handle_.get());
  }
}

Status Consumer::assign(const std::string& topic, int partition_count,
                        const std::map<std::int32_t, std::int64_t>& next_offsets) {
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
  const auto deadline = std::chrono::steady_clock::now() + max_wait;
  while (out->size() < max_records) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    // Once something arrived, only take what is already buffered.
    int wait_ms = out->empty() ? static_cast<int>(std::max<std::int64_t>(left.count(), 0)) : 0;
    MessagePtr m(rd_kafka_consumer_poll(handle_.get(), wait_ms));
    if (!m) {
      if (!out->empty() || left.count() <= 0) break;
      continue;
    }
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::FromCode(m->err, "consume").WithDetail(rd_kafka_message_errstr(m.get()));
    }
    out->push_back(std::move(m));
  }
  return Status::Ok();
}

Status Consumer::watermarks(const std::string& topic, std::int32_t partition, std::chrono::milliseconds timeout,
                            std::int64_t* low, std::int64_t* high) {
  return Status::FromCode(rd_kafka_query_watermark_offsets(handle_.get(), topic.c_str(), partition, low, high,
                                                           static_cast<int>(timeout.count())),
                          "watermarks of " + topic);
}

std::string OwnedRecord::header(std::string_view name) const {
  for (auto it = headers.rbegin(); it != headers.rend(); ++it) {
    if (it->first == name) return it->second;
  }
  return {};
}

namespace {

OwnedRecord copy_record(const rd_kafka_message_t& m) {
  OwnedRecord r;
  r.offset = m.offset;
  if (m.key) r.key.assign(static_cast<const char*>(m.key), m.key_len);
  if (m.payload) r.value.assign(static_cast<const char*>(m.payload), m.len);
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(&m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    for (std::size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      r.headers.emplace_back(name, value ? std::string(static_cast<const char*>(value), size) : std::string());
    }
  }
  return r;
}

}  // namespace

Status read_range(Consumer& reader, const std::string& topic, std::int32_t partition, std::int64_t from,
                  std::int64_t to, std::chrono::milliseconds timeout, std::vector<OwnedRecord>* out) {
  out->clear();
  if (from >= to) return Status::Ok();
  PartitionListPtr list(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition)->offset = from;
  if (Status s = Status::FromCode(rd_kafka_assign(reader.handle(), list.get()), "assign " + topic); !s.ok()) {
    return s;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<MessagePtr> batch;
  while (std::chrono::steady_clock::now() < deadline) {
    Status s = reader.poll_batch(1000, std::chrono::milliseconds(100), &batch);
    if (!s.ok() && !s.retriable()) return s;
    for (const auto& m : batch) {
      if (m->offset >= to) return Status::Ok();
      out->push_back(copy_record(*m));
      if (m->offset == to - 1) return Status::Ok();
    }
  }
  return Status::FromCode(RD_KAFKA_RESP_ERR__TIMED_OUT, "read " + topic + " [" + std::to_string(partition) + "]");
}

std::string header_value(const rd_kafka_message_t* message, const char* name) {
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(message, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  const void* value = nullptr;
  std::size_t size = 0;
  if (rd_kafka_header_get_last(headers, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR || value == nullptr) {
    return {};
  }
  return std::string(static_cast<const char*>(value), size);
}

}  // namespace dangol::kafka
