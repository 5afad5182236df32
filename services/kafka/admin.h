#pragma once
// Topic administration for campaignd: its three topics (CONTRACT §2) must
// exist with equal partition counts before anything is produced to them,
// because the decision for an event read from partition p goes to partition
// p of the decisions topic (and a dead letter to partition p of the DLQ).

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "services/kafka/handles.h"
#include "services/kafka/status.h"

namespace dangol::kafka {

struct TopicNames {
  std::string events, decisions, dlq;
};

// Makes sure the three topics exist with one partition count, and returns it
// in *partitions:
//  * events missing: creates all three with `create_partitions` partitions
//    and the broker's default replication factor; with create_partitions 0
//    it returns RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC (nothing is created);
//  * decisions or dlq missing: creates it with the events topic's count;
//  * a count that differs from the events topic's: a permanent error naming
//    both (campaignd must stop, not guess);
//  * a topic that already exists when created (another client was first)
//    is fine.
// Existence comes from the metadata of all topics, which never auto-creates
// a topic (a request naming one may, with the broker's defaults). Brokers
// down or slow: a retriable status after `timeout`. `created` (optional)
// receives the names of the topics this call created; `creation_failed`
// (optional) says whether the status is that of creating missing topics.
Status ensure_topics(rd_kafka_t* rk, const TopicNames& names, int create_partitions,
                     std::chrono::milliseconds timeout, int* partitions, std::vector<std::string>* created = nullptr,
                     bool* creation_failed = nullptr);

// rd_kafka_CreateTopics for `names`, each with `partitions` partitions and
// replication factor -1 (the broker's default); waits for the result up to
// `timeout`. TOPIC_ALREADY_EXISTS counts as success.
Status create_topics(rd_kafka_t* rk, const std::vector<std::string>& names, int partitions,
                     std::chrono::milliseconds timeout);

// Each topic's max.message.bytes, the largest record batch its brokers
// take (one DescribeConfigs request). librdkafka's mock cluster names no
// controller and so never answers: there this times out, and the caller
// decides what to assume.
Status topics_max_message_bytes(rd_kafka_t* rk, const std::vector<std::string>& topics,
                                std::chrono::milliseconds timeout, std::map<std::string, std::int64_t>* bytes);

}  // namespace dangol::kafka
