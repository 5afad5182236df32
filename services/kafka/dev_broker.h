#pragma once
// DevBroker: librdkafka's in-memory mock Kafka cluster (rdkafka_mock.h) with
// Dangol's three topics (CONTRACT §2), listening on loopback. For
// development and tests only: nothing is persisted, and the mock implements
// only part of the protocol (see the notes in dev_broker.cc).

#include <memory>
#include <string>

#include "services/kafka/handles.h"
#include "services/kafka/status.h"

namespace dangol::kafka {

struct DevBrokerOptions {
  int partitions = 4;  // events, decisions and dlq all get this many
  int brokers = 1;     // mock brokers (ids 1..brokers); topics have replication 1
  std::string events_topic = "campaign.events";
  std::string decisions_topic = "campaign.decisions";
  std::string dlq_topic = "campaign.dlq";
};

class DevBroker {
 public:
  static constexpr int kMaxPartitions = 1024;
  static constexpr int kMaxBrokers = 16;

  // Starts the cluster and creates the topics; on failure *out is untouched.
  static Status start(const DevBrokerOptions& options, std::unique_ptr<DevBroker>* out);
  ~DevBroker() { stop(); }
  DevBroker(const DevBroker&) = delete;
  DevBroker& operator=(const DevBroker&) = delete;

  // "127.0.0.1:port,..." for bootstrap.servers.
  const std::string& bootstrap_servers() const { return bootstrap_servers_; }
  const DevBrokerOptions& options() const { return options_; }
  // For fault injection (rd_kafka_mock_push_request_errors,
  // rd_kafka_mock_broker_set_down, ...). Null after stop().
  rd_kafka_mock_cluster_t* cluster() const { return cluster_.get(); }

  // Closes the listeners and drops all data. Idempotent.
  void stop();

 private:
  DevBroker() = default;
  DevBrokerOptions options_;
  // Declaration order matters: the cluster is destroyed before the handle
  // that owns its bookkeeping (stop() does it explicitly too).
  HandlePtr handle_;
  MockClusterPtr cluster_;
  std::string bootstrap_servers_;
};

}  // namespace dangol::kafka
