// campaignd: the Dangol service (CONTRACT §5). Consumes campaign events from
// Kafka, decides them with the engine, keeps state in RocksDB and publishes
// exactly one decision per event (DESIGN §5).
//
// Exit status: 0 after a clean stop (SIGINT/SIGTERM), 2 usage error, 3
// runtime error.

#include <signal.h>

#include <atomic>
#include <iostream>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "services/campaignd/pipeline.h"
#include "services/kafka/dev_broker.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitUsage = 2;
constexpr int kExitRuntime = 3;

std::atomic<bool> g_stop{false};

// Blocks SIGINT and SIGTERM in every thread and turns them into g_stop from
// one waiting thread, so the pipeline finishes its batch and commits.
std::thread start_signal_watcher() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return std::thread([signals] {
    int received = 0;
    sigwait(&signals, &received);
    spdlog::info("campaignd: signal {} received, finishing the batch", received);
    g_stop = true;
  });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"campaignd: decides campaign events from Kafka exactly once", "campaignd"};
  dangol::campaignd::PipelineOptions options;
  std::string brokers, decisions_format = "pb", log_level = "info";
  int partitions = 4;
  std::size_t batch_records = options.max_batch_records;
  int batch_wait_ms = static_cast<int>(options.max_batch_wait.count());
  app.add_option("--brokers", brokers, "Bootstrap brokers, or 'embedded' for an in-memory development broker")
      ->required();
  app.add_option("--state-dir", options.state_dir, "RocksDB state directory")->required();
  app.add_option("--group", options.group_id, "Consumer group id (bookkeeping only; offsets live in the state)");
  app.add_option("--partitions", partitions, "Partitions of the embedded broker's topics")
      ->check(CLI::Range(1, 1024));
  app.add_option("--events-topic", options.events_topic, "Events topic");
  app.add_option("--decisions-topic", options.decisions_topic, "Decisions topic");
  app.add_option("--dlq-topic", options.dlq_topic, "Dead-letter topic");
  app.add_option("--decisions-format", decisions_format, "pb or json")->check(CLI::IsMember({"pb", "json"}));
  app.add_option("--batch-records", batch_records, "Most events per batch")->check(CLI::Range(1, 100'000));
  app.add_option("--batch-wait-ms", batch_wait_ms, "Longest wait for a batch to fill")->check(CLI::Range(1, 10'000));
  app.add_option("--log-level", log_level, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "campaignd: " << e.what() << "\nusage: campaignd --brokers embedded|LIST --state-dir DIR [options]; "
              << "see campaignd --help\n";
    return kExitUsage;
  }
  spdlog::set_level(spdlog::level::from_str(log_level));
  options.decisions_format =
      decisions_format == "json" ? dangol::campaignd::DecisionsFormat::kJson : dangol::campaignd::DecisionsFormat::kProtobuf;
  options.max_batch_records = batch_records;
  options.max_batch_wait = std::chrono::milliseconds(batch_wait_ms);

  std::thread signal_watcher = start_signal_watcher();
  signal_watcher.detach();

  std::unique_ptr<dangol::kafka::DevBroker> dev_broker;
  if (brokers == "embedded") {
    dangol::kafka::DevBrokerOptions broker_options;
    broker_options.partitions = partitions;
    broker_options.events_topic = options.events_topic;
    broker_options.decisions_topic = options.decisions_topic;
    broker_options.dlq_topic = options.dlq_topic;
    if (auto s = dangol::kafka::DevBroker::start(broker_options, &dev_broker); !s.ok()) {
      std::cerr << "campaignd: cannot start the embedded broker: " << s.message() << "\n";
      return kExitRuntime;
    }
    spdlog::warn("campaignd: embedded development broker at {} (in memory: topics are lost on exit)",
                 dev_broker->bootstrap_servers());
    brokers = dev_broker->bootstrap_servers();
  }
  options.bootstrap_servers = brokers;
  spdlog::info("campaignd: starting: brokers {}, state {}, topics {} -> {} (dlq {}), shard {}", brokers,
               options.state_dir, options.events_topic, options.decisions_topic, options.dlq_topic, options.shard);

  dangol::campaignd::Pipeline pipeline(options);
  std::string error;
  if (!pipeline.run(g_stop, &error)) {
    spdlog::error("campaignd: {}", error);
    return kExitRuntime;
  }
  spdlog::info("campaignd: shut down cleanly");
  return kExitOk;
}
