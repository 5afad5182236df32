#pragma once
// RAII owners for librdkafka's C objects, and the few helpers every client
// needs (configuration, handle creation, metadata). Each owner frees exactly
// what librdkafka says the application owns.

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "services/kafka/status.h"

namespace dangol::kafka {

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* p) const { rd_kafka_conf_destroy(p); }
};
struct HandleDeleter {
  // Blocks until librdkafka's threads are gone; outstanding producer records
  // are purged (flush first to deliver them).
  void operator()(rd_kafka_t* p) const { rd_kafka_destroy(p); }
};
struct TopicDeleter {
  void operator()(rd_kafka_topic_t* p) const { rd_kafka_topic_destroy(p); }
};
struct MessageDeleter {
  void operator()(rd_kafka_message_t* p) const { rd_kafka_message_destroy(p); }
};
struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* p) const { rd_kafka_topic_partition_list_destroy(p); }
};
struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* p) const { rd_kafka_metadata_destroy(p); }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* p) const { rd_kafka_queue_destroy(p); }
};
struct MockClusterDeleter {
  void operator()(rd_kafka_mock_cluster_t* p) const { rd_kafka_mock_cluster_destroy(p); }
};

using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using HandlePtr = std::unique_ptr<rd_kafka_t, HandleDeleter>;
using TopicPtr = std::unique_ptr<rd_kafka_topic_t, TopicDeleter>;
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;
using MetadataPtr = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;
using MockClusterPtr = std::unique_ptr<rd_kafka_mock_cluster_t, MockClusterDeleter>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;

using Settings = std::vector<std::pair<std::string, std::string>>;

// Sets one property; an unknown name or invalid value is a permanent error
// naming the property.
Status set_config(rd_kafka_conf_t* conf, std::string_view name, std::string_view value);

// A new configuration with `settings` applied in order.
Status make_conf(const Settings& settings, ConfPtr* out);

// rd_kafka_new. On success the handle owns the configuration (`conf` is
// released); on failure `conf` is still ours and freed by its owner.
Status new_handle(rd_kafka_type_t type, ConfPtr conf, HandlePtr* out);

// Partition count of `topic` from the brokers' metadata. Retries while the
// brokers are unreachable or the topic's leader is not yet known, up to
// `timeout`; a topic the cluster does not have is a permanent error.
Status fetch_partition_count(rd_kafka_t* rk, std::string_view topic, std::chrono::milliseconds timeout,
                             int* partition_count);

}  // namespace dangol::kafka
