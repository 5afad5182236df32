#include "services/kafka/dev_broker.h"

#include <string>

namespace dangol::kafka {

// Notes on librdkafka 2.0.2's mock cluster, as used here:
//  * rd_kafka_mock_cluster_new needs a client handle for its bookkeeping; a
//    producer handle with no bootstrap servers is enough and never connects.
//  * Listeners bind 127.0.0.1 on ephemeral ports.
//  * A topic not created here is auto-created on first metadata request
//    with the mock's default partition count, so a typo'd topic name does
//    not fail.

Status DevBroker::start(const DevBrokerOptions& options, std::unique_ptr<DevBroker>* out) {
  if (options.partitions < 1 || options.partitions > kMaxPartitions) {
    return Status::Invalid("partitions must be 1.." + std::to_string(kMaxPartitions));
  }
  if (options.brokers < 1 || options.brokers > kMaxBrokers) {
    return Status::Invalid("brokers must be 1.." + std::to_string(kMaxBrokers));
  }
  ConfPtr conf;
  // The bookkeeping handle never connects anywhere; log_level 4 (warning)
  // hides its notice that no bootstrap.servers is configured.
  if (Status s = make_conf({{"client.id", "dangol-devbroker"}, {"log_level", "4"}}, &conf); !s.ok()) return s;
  std::unique_ptr<DevBroker> broker(new DevBroker());
  broker->options_ = options;
  if (Status s = new_handle(RD_KAFKA_PRODUCER, std::move(conf), &broker->handle_); !s.ok()) return s;
  broker->cluster_.reset(rd_kafka_mock_cluster_new(broker->handle_.get(), options.brokers));
  if (!broker->cluster_) return Status::Invalid("cannot start the mock Kafka cluster (listen on 127.0.0.1 failed?)");
  broker->bootstrap_servers_ = rd_kafka_mock_cluster_bootstraps(broker->cluster_.get());
  for (const std::string* topic : {&options.events_topic, &options.decisions_topic, &options.dlq_topic}) {
    if (topic->empty()) return Status::Invalid("topic names must not be empty");
    rd_kafka_resp_err_t err =
        rd_kafka_mock_topic_create(broker->cluster_.get(), topic->c_str(), options.partitions, 1);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return Status::FromCode(err, "creating topic " + *topic);
  }
  *out = std::move(broker);
  return Status::Ok();
}

void DevBroker::stop() {
  cluster_.reset();
  handle_.reset();
}

}  // namespace dangol::kafka
