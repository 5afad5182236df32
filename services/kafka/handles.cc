#include "services/kafka/handles.h"

#include <cstdlib>
#include <string>

namespace dangol::kafka {

Status set_config(rd_kafka_conf_t* conf, std::string_view name, std::string_view value) {
  char error[512];
  std::string n(name), v(value);
  if (rd_kafka_conf_set(conf, n.c_str(), v.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK) {
    return Status::Invalid("configuration " + n + "=" + v + ": " + error);
  }
  return Status::Ok();
}

Status make_conf(const Settings& settings, ConfPtr* out) {
  ConfPtr conf(rd_kafka_conf_new());
  for (const auto& [name, value] : settings) {
    if (Status s = set_config(conf.get(), name, value); !s.ok()) return s;
  }
  // librdkafka's own debug log (contexts such as "fetch,broker"), for diagnosing
  // a client; it goes where the client sends its log (stderr by default).
  if (const char* contexts = std::getenv("DANGOL_KAFKA_DEBUG"); contexts != nullptr && *contexts != '\0') {
    if (Status s = set_config(conf.get(), "debug", contexts); !s.ok()) return s;
  }
  *out = std::move(conf);
  return Status::Ok();
}

Status new_handle(rd_kafka_type_t type, ConfPtr conf, HandlePtr* out) {
  char error[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), error, sizeof error);
  if (rk == nullptr) return Status::Invalid(std::string("creating a Kafka client: ") + error);
  (void)conf.release();  // owned by rk now
  out->reset(rk);
  return Status::Ok();
}

Status fetch_partition_count(rd_kafka_t* rk, std::string_view topic, std::chrono::milliseconds timeout,
                             int* partition_count) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  const std::string name(topic);
  TopicPtr rkt(rd_kafka_topic_new(rk, name.c_str(), nullptr));
  if (!rkt) return Status::FromCode(rd_kafka_last_error(), "topic " + name);
  Status last = Status::FromCode(RD_KAFKA_RESP_ERR__TIMED_OUT, "metadata for topic " + name);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    const rd_kafka_metadata_t* raw = nullptr;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt.get(), &raw, static_cast<int>(left.count()));
    MetadataPtr md(raw);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      last = Status::FromCode(err, "metadata for topic " + name);
      if (!last.retriable()) return last;
    } else if (md->topic_cnt != 1) {
      last = Status::FromCode(RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, "metadata for topic " + name);
    } else {
      const rd_kafka_metadata_topic_t& t = md->topics[0];
      last = Status::FromCode(t.err, "topic " + name);
      if (t.err == RD_KAFKA_RESP_ERR_NO_ERROR && t.partition_cnt > 0) {
        *partition_count = t.partition_cnt;
        return Status::Ok();
      }
      // Being auto-created or electing a leader: ask again. Anything else
      // (unknown topic, authorization) will not change by waiting.
      if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR && !last.retriable()) return last;
    }
    // Serve callbacks while waiting; bounded by the deadline.
    rd_kafka_poll(rk, 100);
  }
  return last;
}

}  // namespace dangol::kafka
