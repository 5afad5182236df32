#include "services/kafka/admin.h"

#include <algorithm>
#include <cstdlib>
#include <string_view>
#include <map>
#include <memory>

namespace dangol::kafka {
namespace {

using Clock = std::chrono::steady_clock;

struct EventDeleter {
  void operator()(rd_kafka_event_t* p) const { rd_kafka_event_destroy(p); }
};
struct AdminOptionsDeleter {
  void operator()(rd_kafka_AdminOptions_t* p) const { rd_kafka_AdminOptions_destroy(p); }
};
// NewTopic objects are ours: rd_kafka_CreateTopics copies them.
struct NewTopics {
  std::vector<rd_kafka_NewTopic_t*> topics;
  NewTopics() = default;
  NewTopics(const NewTopics&) = delete;
  NewTopics& operator=(const NewTopics&) = delete;
  ~NewTopics() { rd_kafka_NewTopic_destroy_array(topics.data(), topics.size()); }
};

int to_ms(std::chrono::milliseconds d) { return static_cast<int>(std::max<std::int64_t>(d.count(), 1)); }

std::chrono::milliseconds left_until(Clock::time_point deadline) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
}

// Partition count of every topic the cluster lists (all topics: asking for
// named ones could auto-create them). A topic listed without partitions
// (still being created) is left out.
Status list_topics(rd_kafka_t* rk, std::chrono::milliseconds timeout, std::map<std::string, int>* counts) {
  const rd_kafka_metadata_t* raw = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, nullptr, &raw, to_ms(timeout));
  MetadataPtr md(raw);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return Status::FromCode(err, "listing topics");
  counts->clear();
  for (int i = 0; i < md->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = md->topics[i];
    if (t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || t.partition_cnt <= 0) continue;
    (*counts)[t.topic] = t.partition_cnt;
  }
  return Status::Ok();
}

Status mismatch(const std::string& topic, int count, const std::string& events, int events_count) {
  return Status::Invalid(topic + " has " + std::to_string(count) + " partitions but " + events + " has " +
                         std::to_string(events_count) + "; they must be equal (CONTRACT §2)");
}

}  // namespace

Status create_topics(rd_kafka_t* rk, const std::vector<std::string>& names, int partitions,
                     std::chrono::milliseconds timeout) {
  char error[512];
  NewTopics topics;
  for (const std::string& name : names) {
    rd_kafka_NewTopic_t* topic = rd_kafka_NewTopic_new(name.c_str(), partitions, -1, error, sizeof error);
    if (topic == nullptr) return Status::Invalid("creating topic " + name + ": " + error);
    topics.topics.push_back(topic);
  }
  std::unique_ptr<rd_kafka_AdminOptions_t, AdminOptionsDeleter> options(
      rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS));
  // The operation timeout makes the broker answer once the topics exist on
  // the controller, not merely when the request was accepted.
  if (rd_kafka_AdminOptions_set_request_timeout(options.get(), to_ms(timeout), error, sizeof error) ||
      rd_kafka_AdminOptions_set_operation_timeout(options.get(), to_ms(timeout), error, sizeof error)) {
    return Status::Invalid(std::string("creating topics: ") + error);
  }
  QueuePtr queue(rd_kafka_queue_new(rk));
  rd_kafka_CreateTopics(rk, topics.topics.data(), topics.topics.size(), options.get(), queue.get());
  // Request timeout plus a margin: librdkafka answers every admin request
  // by its own timeout, so this wait only guards against a lost result.
  std::unique_ptr<rd_kafka_event_t, EventDeleter> event(rd_kafka_queue_poll(queue.get(), to_ms(timeout) + 1000));
  if (!event) return Status::FromCode(RD_KAFKA_RESP_ERR__TIMED_OUT, "creating topics");
  if (rd_kafka_resp_err_t err = rd_kafka_event_error(event.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::string detail = rd_kafka_event_error_string(event.get());
    if (err == RD_KAFKA_RESP_ERR__TIMED_OUT) {
      // librdkafka's mock cluster names no controller, so this is where a
      // development broker started without these topics ends up.
      detail += "; create the topics beforehand (a development broker from `campaignctl devbroker` has only the "
                "default three and cannot create others; `campaignd --brokers embedded` creates the named ones)";
    }
    return Status::FromCode(err, "creating topics").WithDetail(detail);
  }
  const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event.get());
  if (result == nullptr) return Status::Invalid("creating topics: unexpected admin result");
  std::size_t count = 0;
  const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(result, &count);
  for (std::size_t i = 0; i < count; ++i) {
    rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) continue;
    const char* why = rd_kafka_topic_result_error_string(results[i]);
    return Status::FromCode(err, std::string("creating topic ") + rd_kafka_topic_result_name(results[i]))
        .WithDetail(why ? why : "");
  }
  return Status::Ok();
}

Status ensure_topics(rd_kafka_t* rk, const TopicNames& names, int create_partitions,
                     std::chrono::milliseconds timeout, int* partitions, std::vector<std::string>* created,
                     bool* creation_failed) {
  if (creation_failed != nullptr) *creation_failed = false;
  const auto deadline = Clock::now() + timeout;
  bool tried_create = false;
  std::map<std::string, int> counts;
  for (;;) {
    if (Status s = list_topics(rk, std::max(left_until(deadline), std::chrono::milliseconds(1)), &counts); !s.ok()) {
      return s;
    }
    auto events = counts.find(names.events);
    if (events == counts.end() && create_partitions <= 0 && !tried_create) {
      return Status::FromCode(RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, "topic " + names.events)
          .WithDetail("it does not exist; campaignd creates the topics only when told how many partitions they "
                      "get (--partitions N)");
    }
    const int want = events == counts.end() ? create_partitions : events->second;
    std::vector<std::string> missing;
    for (const std::string* topic : {&names.events, &names.decisions, &names.dlq}) {
      auto it = counts.find(*topic);
      if (it == counts.end()) {
        missing.push_back(*topic);
      } else if (it->second != want) {
        return mismatch(*topic, it->second, names.events, want);
      }
    }
    if (missing.empty()) {
      *partitions = want;
      return Status::Ok();
    }
    if (left_until(deadline).count() <= 0) {
      return Status::FromCode(RD_KAFKA_RESP_ERR__TIMED_OUT, "waiting for topic " + missing.front() + " to appear");
    }
    if (!tried_create) {
      // Once only: after that, wait for the metadata to list them.
      if (Status s = create_topics(rk, missing, want, left_until(deadline)); !s.ok()) {
        if (creation_failed != nullptr) *creation_failed = true;
        return s;
      }
      tried_create = true;
      *partitions = want;
      if (created != nullptr) *created = missing;
      continue;
    }
    rd_kafka_poll(rk, 100);
  }
}

Status topics_max_message_bytes(rd_kafka_t* rk, const std::vector<std::string>& topics,
                                std::chrono::milliseconds timeout, std::map<std::string, std::int64_t>* bytes) {
  char error[256];
  std::vector<rd_kafka_ConfigResource_t*> resources;
  for (const std::string& topic : topics) {
    resources.push_back(rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str()));
  }
  auto destroy = [&] {
    for (auto* r : resources) rd_kafka_ConfigResource_destroy(r);
  };
  std::unique_ptr<rd_kafka_AdminOptions_t, AdminOptionsDeleter> options(
      rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS));
  if (rd_kafka_AdminOptions_set_request_timeout(options.get(), to_ms(timeout), error, sizeof error)) {
    destroy();
    return Status::Invalid(std::string("describing topics: ") + error);
  }
  QueuePtr queue(rd_kafka_queue_new(rk));
  rd_kafka_DescribeConfigs(rk, resources.data(), resources.size(), options.get(), queue.get());
  destroy();
  std::unique_ptr<rd_kafka_event_t, EventDeleter> event(rd_kafka_queue_poll(queue.get(), to_ms(timeout) + 1000));
  if (!event) return Status::FromCode(RD_KAFKA_RESP_ERR__TIMED_OUT, "describing topics");
  if (rd_kafka_resp_err_t err = rd_kafka_event_error(event.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::FromCode(err, "describing topics").WithDetail(rd_kafka_event_error_string(event.get()));
  }
  const rd_kafka_DescribeConfigs_result_t* result = rd_kafka_event_DescribeConfigs_result(event.get());
  std::size_t count = 0;
  const rd_kafka_ConfigResource_t** described =
      result ? rd_kafka_DescribeConfigs_result_resources(result, &count) : nullptr;
  for (std::size_t i = 0; i < count; ++i) {
    const std::string context = std::string("describing topic ") + rd_kafka_ConfigResource_name(described[i]);
    if (rd_kafka_resp_err_t err = rd_kafka_ConfigResource_error(described[i]); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* why = rd_kafka_ConfigResource_error_string(described[i]);
      return Status::FromCode(err, context).WithDetail(why ? why : "");
    }
    std::size_t entries = 0;
    const rd_kafka_ConfigEntry_t** configs = rd_kafka_ConfigResource_configs(described[i], &entries);
    for (std::size_t k = 0; k < entries; ++k) {
      if (std::string_view(rd_kafka_ConfigEntry_name(configs[k])) != "max.message.bytes") continue;
      if (const char* value = rd_kafka_ConfigEntry_value(configs[k]); value != nullptr) {
        (*bytes)[rd_kafka_ConfigResource_name(described[i])] = std::strtoll(value, nullptr, 10);
      }
    }
  }
  for (const std::string& topic : topics) {
    if (!bytes->contains(topic)) {
      return Status::FromCode(RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE, "describing topic " + topic)
          .WithDetail("no max.message.bytes in the answer");
    }
  }
  return Status::Ok();
}

}  // namespace dangol::kafka
