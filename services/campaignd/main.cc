// campaignd: the Dangol service (CONTRACT §5). Consumes campaign events from
// Kafka, decides them with the engine, keeps state in RocksDB and publishes
// exactly one decision per event (DESIGN §5).
//
// Exit status: 0 after a clean stop (SIGINT/SIGTERM), 2 usage error, 3
// runtime error.

#include <signal.h>

#include <atomic>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include <boost/asio/ip/address.hpp>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "services/campaignctl/simulate.h"
#include "services/campaignd/api.h"
#include "services/campaignd/ingest.h"
#include "services/campaignd/pipeline.h"
#include "services/http/fd_limit.h"
#include "services/kafka/dev_broker.h"
#include "services/kafka/envelope_producer.h"
#include "services/malloc/allocator.h"

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

// Splits "HOST:PORT" ("[::1]:8080" for IPv6).
bool parse_listen_address(const std::string& text, std::string* host, std::uint16_t* port) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return false;
  *host = text.substr(0, colon);
  if (host->front() == '[' && host->back() == ']') *host = host->substr(1, host->size() - 2);
  char* end = nullptr;
  const long value = std::strtol(text.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || value < 0 || value > 65535) return false;
  *port = static_cast<std::uint16_t>(value);
  boost::system::error_code ec;
  boost::asio::ip::make_address(*host, ec);
  return !ec;
}

bool is_loopback(const std::string& host) {
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(host, ec);
  return !ec && address.is_loopback();
}

// --demo: writes the pilot, then (once the pilot is decided, so that the
// engine clock moves forward in order) a festival, to the events topic.
void feed_demo(const std::string& brokers, const std::string& topic, const dangol::campaignd::Pipeline& pipeline,
               std::int64_t festival_events) {
  auto produce = [&](const std::string& jsonl, const char* what) -> std::int64_t {
    dangol::kafka::ProducerOptions options;
    options.bootstrap_servers = brokers;
    std::unique_ptr<dangol::kafka::Producer> producer;
    if (auto s = dangol::kafka::Producer::create(options, &producer); !s.ok()) {
      spdlog::error("campaignd: demo: {}", s.message());
      return -1;
    }
    std::istringstream in(jsonl);
    std::string line;
    std::int64_t number = 0;
    dangol::kafka::NextLine next = [&](dangol::kafka::InputLine* out) {
      if (!std::getline(in, line)) return false;
      out->text = line;
      out->number = ++number;
      return true;
    };
    dangol::kafka::JsonlProduceStats stats;
    std::ostringstream diagnostics;
    if (auto s = dangol::kafka::produce_jsonl(next, *producer, topic, std::chrono::seconds(30), diagnostics, &stats);
        !s.ok()) {
      spdlog::error("campaignd: demo: producing the {}: {}", what, s.message());
      return -1;
    }
    spdlog::info("campaignd: demo: {}: {}", what, dangol::kafka::format_summary(topic, stats));
    return stats.delivered_keyed + stats.delivered_broadcast_copies;
  };
  std::ostringstream pilot;
  dangol::simulate::pilot(pilot, 1);
  const std::int64_t records = produce(pilot.str(), "pilot");
  if (records < 0) return;
  while (!g_stop.load() && pipeline.stats().events.load() < records) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::ostringstream festival;
  dangol::simulate::festival(festival, 1, festival_events);
  (void)produce(festival.str(), "festival");
}

}  // namespace

int main(int argc, char** argv) {
  // Before anything else (and before any thread exists): a SIGTERM that
  // arrives while campaignd starts must stop it cleanly, not kill it.
  std::thread signal_watcher = start_signal_watcher();
  signal_watcher.detach();
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
  app.add_option("--partitions", partitions,
                 "Partitions of the topics created when missing (and of the embedded broker's)")
      ->check(CLI::Range(1, 1024));
  app.add_option("--events-topic", options.events_topic, "Events topic");
  app.add_option("--decisions-topic", options.decisions_topic, "Decisions topic");
  app.add_option("--dlq-topic", options.dlq_topic, "Dead-letter topic");
  app.add_option("--decisions-format", decisions_format, "pb or json")->check(CLI::IsMember({"pb", "json"}));
  app.add_option("--batch-records", batch_records, "Most events per batch")->check(CLI::Range(1, 100'000));
  app.add_option("--batch-wait-ms", batch_wait_ms, "Longest wait for a batch to fill")->check(CLI::Range(1, 10'000));
  int max_idle_ms = static_cast<int>(options.max_idle.count());
  app.add_option("--max-idle-ms", max_idle_ms,
                 "Longest wait for an input partition that is behind its end but sends nothing, before the others "
                 "are decided without it (event-time order)")
      ->check(CLI::Range(0, 600'000));
  int broker_timeout_ms = static_cast<int>(options.broker_timeout.count());
  app.add_option("--broker-timeout-ms", broker_timeout_ms,
                 "Longest wait for a broker request; a decision not delivered within it is sent again")
      ->check(CLI::Range(500, 600'000));
  std::string http_address, auth_file;
  bool demo = false;
  int http_threads = 2;
  std::int64_t demo_events = 100'000;
  app.add_option("--http", http_address, "Serve the HTTP API on HOST:PORT (e.g. 127.0.0.1:8080)");
  app.add_option("--auth-file", auth_file, "YAML file of bearer tokens and roles (required off loopback)")
      ->check(CLI::ExistingFile);
  app.add_option("--http-threads", http_threads, "HTTP I/O threads")->check(CLI::Range(1, 64));
  int http_request_timeout_ms = 10'000;
  std::size_t http_max_connections = 1024;
  auto* max_connections_option =
      app.add_option("--http-max-connections", http_max_connections, "Most open HTTP connections")
      ->check(CLI::Range(1, 100'000));
  app.add_option("--http-request-timeout-ms", http_request_timeout_ms,
                 "Longest time a client may take to send one request")
      ->check(CLI::Range(100, 600'000));
  app.add_flag("--demo", demo, "Feed the pilot and a festival simulation into the events topic");
  app.add_option("--demo-events", demo_events, "Festival events fed by --demo")
      ->check(CLI::Range(std::int64_t{dangol::simulate::kFestivalMinEvents}, std::int64_t{10'000'000}));
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
  // Before RocksDB, librdkafka or the server open anything. The default cap
  // shrinks to what the descriptor limit allows; a cap the user gave that
  // does not fit is refused.
  dangol::http::FdLimit fd_limit;
  if (std::string why;
      !dangol::http::raise_fd_limit(http_address.empty() ? 0 : http_max_connections, &fd_limit, &why)) {
    const bool shrinkable = max_connections_option->count() == 0 &&
                            fd_limit.soft > dangol::http::kReservedDescriptors + 16;
    if (!shrinkable) {
      std::cerr << "campaignd: " << why << "\n";
      return kExitUsage;
    }
    http_max_connections = static_cast<std::size_t>(fd_limit.soft - dangol::http::kReservedDescriptors);
    spdlog::warn("campaignd: --http-max-connections lowered to {} to fit the descriptor limit {}",
                 http_max_connections, fd_limit.soft);
  }
  std::string http_host;
  std::uint16_t http_port = 0;
  if (!http_address.empty() && !parse_listen_address(http_address, &http_host, &http_port)) {
    std::cerr << "campaignd: --http " << http_address << ": expected HOST:PORT with an IP address, e.g. "
              << "127.0.0.1:8080\nusage: campaignd --brokers embedded|LIST --state-dir DIR [options]; see campaignd --help\n";
    return kExitUsage;
  }
  if (!http_address.empty() && auth_file.empty() && !is_loopback(http_host)) {
    std::cerr << "campaignd: --http " << http_address << " is not a loopback address: without --auth-file every "
              << "request acts as admin, so campaignd serves only 127.0.0.1 or ::1. Give --auth-file (CONTRACT §5) "
              << "or listen on loopback.\n";
    return kExitUsage;
  }
  dangol::http::Auth auth = dangol::http::Auth::open_access();
  if (!auth_file.empty()) {
    std::string why;
    if (!dangol::http::Auth::load(auth_file, &auth, &why)) {
      std::cerr << "campaignd: " << why << "\n";
      return kExitUsage;
    }
  }
  spdlog::set_level(spdlog::level::from_str(log_level));
  options.decisions_format =
      decisions_format == "json" ? dangol::campaignd::DecisionsFormat::kJson : dangol::campaignd::DecisionsFormat::kProtobuf;
  options.max_batch_records = batch_records;
  options.max_batch_wait = std::chrono::milliseconds(batch_wait_ms);
  options.broker_timeout = std::chrono::milliseconds(broker_timeout_ms);
  options.max_idle = std::chrono::milliseconds(max_idle_ms);
  // Missing topics are created with --partitions (the three with the same
  // count, CONTRACT §2); existing ones are checked for equal counts.
  options.create_partitions = partitions;

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
  spdlog::info("campaignd: starting: brokers {}, state {}, topics {} -> {} (dlq {}), shard {}, allocator {}", brokers,
               options.state_dir, options.events_topic, options.decisions_topic, options.dlq_topic, options.shard,
               dangol::allocator_description());

  dangol::campaignd::Pipeline pipeline(options);
  std::unique_ptr<dangol::campaignd::Ingest> ingest;
  std::unique_ptr<dangol::campaignd::Api> api;
  std::unique_ptr<dangol::http::Server> server;
  if (!http_address.empty()) {
    dangol::campaignd::IngestOptions ingest_options;
    ingest_options.bootstrap_servers = brokers;
    ingest_options.events_topic = options.events_topic;
    ingest_options.decisions_topic = options.decisions_topic;
    std::string why;
    if (!dangol::campaignd::Ingest::start(ingest_options, &ingest, &why)) {
      spdlog::error("campaignd: {}", why);
      return kExitRuntime;
    }
    dangol::campaignd::ApiOptions api_options;
    api_options.state_dir = options.state_dir;
    api = std::make_unique<dangol::campaignd::Api>(api_options, pipeline, ingest.get(), std::move(auth));
    dangol::http::ServerOptions server_options;
    server_options.address = http_host;
    server_options.port = http_port;
    server_options.threads = http_threads;
    server_options.request_timeout = std::chrono::milliseconds(http_request_timeout_ms);
    server_options.max_connections = http_max_connections;
    auto* handler_api = api.get();
    if (!dangol::http::Server::start(
            server_options, [handler_api](dangol::http::Request& r, dangol::http::Reply reply) {
              handler_api->handle(r, std::move(reply));
            },
            &server, &why)) {
      spdlog::error("campaignd: cannot serve HTTP on {}", why);
      return kExitRuntime;
    }
    api->set_server_stats(&server->stats());
    spdlog::info("campaignd: HTTP API on http://{}:{} ({})", http_host, server->port(),
                 auth_file.empty() ? "no auth file: every request acts as admin" : "bearer tokens from " + auth_file);
  }
  std::thread demo_feeder;
  if (demo) {
    demo_feeder = std::thread([&] { feed_demo(brokers, options.events_topic, pipeline, demo_events); });
  }

  std::string error;
  const bool ok = pipeline.run(g_stop, &error);
  g_stop = true;
  if (demo_feeder.joinable()) demo_feeder.join();
  // Pending POST /v1/events answers go out (503 "shutting down") while the
  // server still runs; then the server stops.
  ingest.reset();
  server.reset();
  if (!ok) {
    spdlog::error("campaignd: {}", error);
    return kExitRuntime;
  }
  spdlog::info("campaignd: shut down cleanly");
  return kExitOk;
}
