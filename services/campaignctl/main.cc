// campaignctl: Dangol's command-line tools (CONTRACT §4).
// Exit status: 0 ok, 1 a check found discrepancies, 2 usage error, 3 runtime
// error. Errors go to stderr as one clear line each.

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "engine/encode.h"
#include "engine/engine.h"
#include "engine/report.h"
#include "services/campaignctl/line_io.h"
#include "services/campaignctl/reconcile.h"
#include "services/campaignctl/replay.h"
#include "services/campaignctl/report_format.h"
#include "services/campaignctl/simulate.h"
#include "storage/state_store.h"
#include "services/kafka/dev_broker.h"
#include "services/kafka/envelope_producer.h"
#include "services/kafka/producer.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitDiscrepancy = 1;
constexpr int kExitUsage = 2;
constexpr int kExitRuntime = 3;

int fail(const std::string& what) {
  std::cerr << "campaignctl: " << what << "\n";
  return kExitRuntime;
}

struct ReplayArgs {
  std::string events, decisions, state_dir;
  bool paranoid = false;
};

// With --state-dir, the engine is loaded from (and its changes committed to)
// the RocksDB state store that campaignd uses.
bool open_state(const std::string& state_dir, dangol::Engine* engine,
                std::unique_ptr<dangol::storage::StateStore>* store, std::string* error) {
  if (auto s = dangol::storage::StateStore::open(state_dir, store); !s.ok()) {
    *error = s.message();
    return false;
  }
  std::map<std::int32_t, std::int64_t> offsets;
  dangol::storage::StateStore::LoadStats stats;
  if (auto s = (*store)->load(engine, &offsets, &stats); !s.ok()) {
    *error = s.message();
    return false;
  }
  return true;
}

int run_replay(const ReplayArgs& a) {
  std::string error;
  int in = dangol::ctl::open_input(a.events, &error);
  if (in < 0) return fail(error);
  int out = dangol::ctl::open_output(a.decisions, &error);
  if (out < 0) return fail(error);
  dangol::Engine engine;
  dangol::ctl::ReplayStats stats;
  dangol::ctl::ReplayOptions options;
  options.paranoid = a.paranoid;
  std::unique_ptr<dangol::storage::StateStore> store;
  if (!a.state_dir.empty()) {
    if (!open_state(a.state_dir, &engine, &store, &error)) return fail(error);
    options.commit = [&](std::string* commit_error) {
      auto s = store->commit(engine, {}, {});
      if (!s.ok()) *commit_error = s.message();
      return s.ok();
    };
  }
  bool ok = dangol::ctl::replay(in, out, STDERR_FILENO, engine, options, &stats, &error);
  if (out != STDOUT_FILENO && ::close(out) != 0) return fail("closing " + a.decisions + " failed");
  if (!ok) return fail(error);
  return kExitOk;
}

struct ReportArgs {
  std::string events, state_dir, format = "table", campaign, market;
};

int run_report(const ReportArgs& a) {
  std::string error;
  dangol::Engine engine;
  std::unique_ptr<dangol::storage::StateStore> store;
  if (!a.state_dir.empty()) {
    if (!open_state(a.state_dir, &engine, &store, &error)) return fail(error);
  } else {
    int in = dangol::ctl::open_input(a.events, &error);
    if (in < 0) return fail(error);
    dangol::ctl::ReplayStats stats;
    dangol::ctl::ReplayOptions options;
    options.write_decisions = false;
    if (!dangol::ctl::replay(in, STDOUT_FILENO, STDERR_FILENO, engine, options, &stats, &error)) return fail(error);
  }
  dangol::ReportFilter filter;
  if (!a.campaign.empty()) filter.campaign_id = a.campaign;
  if (!a.market.empty()) filter.market_id = a.market;
  auto format = a.format == "json"  ? dangol::ctl::ReportFormat::kJson
                : a.format == "csv" ? dangol::ctl::ReportFormat::kCsv
                                    : dangol::ctl::ReportFormat::kTable;
  std::cout << dangol::ctl::format_report(dangol::build_report(engine.state(), filter), format);
  return std::cout.flush() ? kExitOk : fail("cannot write the report");
}

struct ReconcileArgs {
  std::string decisions, settlement, state_dir, format = "table";
};

// What the store in `dir` holds, for reconcile to compare. Opening a store
// creates one where there is none, and a check must not, so the directory
// must already hold one (RocksDB's CURRENT file).
bool read_stored_state(const std::string& dir, dangol::reconcile::StoredState* out, std::string* error) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    *error = "--state-dir " + dir + ": no such directory";
    return false;
  }
  if (!std::filesystem::exists(std::filesystem::path(dir) / "CURRENT", ec)) {
    *error = "--state-dir " + dir + ": not a state store (no RocksDB CURRENT file)";
    return false;
  }
  dangol::Engine engine;
  std::unique_ptr<dangol::storage::StateStore> store;
  if (!open_state(dir, &engine, &store, error)) return false;
  const dangol::State& state = engine.state();
  out->shard = state.shard;
  out->last_seq = state.next_seq - 1;
  for (std::size_t i = 0; i < state.outcomes.size(); ++i) {
    out->decisions_by_outcome[dangol::wire_outcome(static_cast<dangol::Outcome>(i))] = state.outcomes[i];
  }
  for (const dangol::CampaignFigures& c : dangol::build_report(state).campaigns) {
    for (const dangol::FunderFigures& f : c.funders) {
      out->funders.push_back({state.shard, c.campaign_id, f.funder_id, f.budget, f.available, f.reserved, f.spent});
    }
    const dangol::CouponCounts& k = c.coupons;
    out->campaigns.push_back({c.campaign_id, {k.granted, k.outstanding, k.redeemed, k.expired, k.voided}});
  }
  return true;
}

int run_reconcile(const ReconcileArgs& a) {
  dangol::reconcile::Options options;
  std::string error;
  // The store first: a bad --state-dir should fail before a long fold.
  if (!a.state_dir.empty() && !read_stored_state(a.state_dir, &options.stored_state.emplace(), &error)) {
    return fail(error);
  }
  std::ifstream in(a.decisions, std::ios::binary);
  if (!in) return fail(a.decisions + ": cannot open");
  options.settlement_csv_path = a.settlement;
  dangol::reconcile::Result result;
  if (!dangol::reconcile::run(in, options, &result, &error)) return fail(error);
  std::cout << (a.format == "json" ? dangol::reconcile::format_json(result)
                                   : dangol::reconcile::format_table(result));
  std::cout.flush();
  return result.balanced ? kExitOk : kExitDiscrepancy;
}

struct SimulateArgs {
  std::string scenario;
  std::uint64_t seed = 1;
  std::int64_t events = 1'000'000;
};

int run_simulate(const SimulateArgs& a) {
  std::ios::sync_with_stdio(false);
  if (a.scenario == "pilot") {
    dangol::simulate::pilot(std::cout, a.seed);
  } else {
    dangol::simulate::festival(std::cout, a.seed, a.events);
  }
  std::cout.flush();
  return std::cout ? kExitOk : fail("cannot write the simulation");
}

struct DevBrokerArgs {
  int partitions = 4;
  std::string brokers_file;
};

// Writes `content` to `path` atomically (temp file + rename), so that a
// process waiting for the file never reads half of it.
bool write_file_atomically(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out.flush()) return false;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  return !ec;
}

int run_devbroker(const DevBrokerArgs& a) {
  // Block the stop signals before librdkafka starts its threads (they
  // inherit the mask), then wait for one synchronously: no handler races.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  if (pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr) != 0) return fail("cannot block SIGINT/SIGTERM");

  dangol::kafka::DevBrokerOptions options;
  options.partitions = a.partitions;
  std::unique_ptr<dangol::kafka::DevBroker> broker;
  if (auto s = dangol::kafka::DevBroker::start(options, &broker); !s.ok()) return fail("devbroker: " + s.message());
  std::cerr << "campaignctl: devbroker: in-memory development broker (librdkafka mock cluster), not for production; "
            << options.partitions << " partitions for " << options.events_topic << ", " << options.decisions_topic
            << ", " << options.dlq_topic << "; data is lost on exit\n";
  std::cout << broker->bootstrap_servers() << std::endl;  // first stdout line, flushed
  if (!a.brokers_file.empty() && !write_file_atomically(a.brokers_file, broker->bootstrap_servers() + "\n")) {
    return fail(a.brokers_file + ": cannot write");
  }
  int signal_number = 0;
  while (sigwait(&stop_signals, &signal_number) != 0) {
  }
  broker->stop();
  std::cerr << "campaignctl: devbroker: stopped on " << (signal_number == SIGINT ? "SIGINT" : "SIGTERM") << "\n";
  return kExitOk;
}

struct ProduceArgs {
  std::string brokers, topic = "campaign.events", input;
  int timeout_ms = 10'000;
};

int run_produce(const ProduceArgs& a) {
  std::string error;
  int in = dangol::ctl::open_input(a.input, &error);
  if (in < 0) return fail(error);
  dangol::kafka::ProducerOptions options;
  options.bootstrap_servers = a.brokers;
  options.message_timeout_ms = a.timeout_ms;
  std::unique_ptr<dangol::kafka::Producer> producer;
  if (auto s = dangol::kafka::Producer::create(options, &producer); !s.ok()) return fail("produce: " + s.message());
  dangol::ctl::LineReader reader(in);
  dangol::kafka::NextLine next = [&reader](dangol::kafka::InputLine* line) {
    if (!reader.next(&line->text)) return false;
    line->number = reader.line_number();
    line->too_long = reader.too_long();
    return true;
  };
  dangol::kafka::JsonlProduceStats stats;
  // Every record has its report within the message timeout; the margin
  // covers the last linger and the reports' trip back.
  const auto flush_timeout = std::chrono::milliseconds(a.timeout_ms + 5'000);
  auto s = dangol::kafka::produce_jsonl(next, *producer, a.topic, flush_timeout, std::cerr, &stats);
  if (!reader.error().empty()) return fail((a.input.empty() ? std::string("stdin") : a.input) + ": " + reader.error());
  if (!s.ok()) {
    return fail("produce to " + a.brokers + " failed (" +
                std::to_string(stats.delivered_keyed + stats.delivered_broadcast_copies) + " records delivered): " +
                s.message());
  }
  std::cout << dangol::kafka::format_summary(a.topic, stats) << "\n";
  std::cout.flush();
  return std::cout ? kExitOk : fail("cannot write the summary");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"campaignctl: Dangol's tools for event files, reports and reconciliation", "campaignctl"};
  app.require_subcommand(1);

  ReplayArgs replay;
  auto* replay_cmd = app.add_subcommand("replay", "Apply JSONL envelopes in file order; write decisions JSONL");
  replay_cmd->add_option("--events", replay.events, "Events JSONL file (default: stdin)");
  replay_cmd->add_option("--decisions", replay.decisions, "Decisions JSONL file (default: stdout)");
  replay_cmd->add_flag("--paranoid", replay.paranoid, "Run the full invariant check after every event (slow)");
  replay_cmd->add_option("--state-dir", replay.state_dir, "Keep state in this RocksDB directory; continue from it");

  ReportArgs report;
  auto* report_cmd = app.add_subcommand("report", "Campaign, funder and market figures");
  auto* report_events = report_cmd->add_option("--events", report.events, "Events JSONL file to replay");
  auto* report_state = report_cmd->add_option("--state-dir", report.state_dir, "RocksDB state directory");
  report_events->excludes(report_state);
  report_cmd->callback([report_events, report_state] {
    if (report_events->count() + report_state->count() != 1) {
      throw CLI::ValidationError("report", "exactly one of --events or --state-dir is required");
    }
  });
  report_cmd->add_option("--format", report.format, "table, json or csv")
      ->check(CLI::IsMember({"table", "json", "csv"}));
  report_cmd->add_option("--campaign", report.campaign, "Only this campaign");
  report_cmd->add_option("--market", report.market, "Only this market");

  ReconcileArgs reconcile;
  auto* reconcile_cmd = app.add_subcommand(
      "reconcile",
      "Fold the decision journal and check every invariant (a decision in parts counts once); exit 1 on any "
      "violation or difference");
  reconcile_cmd->add_option("--decisions", reconcile.decisions, "Decisions JSONL file")->required();
  reconcile_cmd->add_option("--settlement", reconcile.settlement, "Payment provider settlement CSV (couponId,discount)");
  reconcile_cmd->add_option("--state-dir", reconcile.state_dir,
                            "RocksDB state directory (stop campaignd first): compare the fold of its shard with its "
                            "balances, coupon counts and decisions by outcome, if the journal ends at its last seq");
  reconcile_cmd->add_option("--format", reconcile.format, "table or json")->check(CLI::IsMember({"table", "json"}));

  SimulateArgs simulate;
  auto* simulate_cmd = app.add_subcommand("simulate", "Write a simulated event stream as JSONL to stdout");
  simulate_cmd->add_option("scenario", simulate.scenario, "pilot or festival")
      ->required()
      ->check(CLI::IsMember({"pilot", "festival"}));
  simulate_cmd->add_option("--seed", simulate.seed, "Random seed");
  simulate_cmd->add_option("--events", simulate.events, "Number of festival events")->check(CLI::Range(dangol::simulate::kFestivalMinEvents, std::int64_t{1'000'000'000}));

  DevBrokerArgs devbroker;
  auto* devbroker_cmd = app.add_subcommand(
      "devbroker", "Run an in-memory development Kafka broker (librdkafka mock cluster) on loopback until SIGINT/SIGTERM");
  devbroker_cmd->add_option("--partitions", devbroker.partitions, "Partitions of each topic (default 4)")
      ->check(CLI::Range(1, dangol::kafka::DevBroker::kMaxPartitions));
  devbroker_cmd->add_option("--brokers-file", devbroker.brokers_file, "Also write the bootstrap list to this file");

  ProduceArgs produce;
  auto* produce_cmd = app.add_subcommand(
      "produce",
      "Produce JSONL envelopes to Kafka as protobuf, routed per CONTRACT §2; undecodable lines are reported and "
      "skipped; exit 0 iff every decodable line was delivered");
  produce_cmd->add_option("--brokers", produce.brokers, "Bootstrap servers, host:port[,...]")->required();
  produce_cmd->add_option("--topic", produce.topic, "Topic (default campaign.events)");
  produce_cmd->add_option("--timeout-ms", produce.timeout_ms,
                          "Give up on a record (or on reaching the brokers) after this long (default 10000)")
      ->check(CLI::Range(100, 600'000));
  produce_cmd->add_option("file", produce.input, "Events JSONL file (default or \"-\": stdin)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "campaignctl: " << e.what() << "\n";
    std::cerr << "usage: campaignctl replay|report|reconcile|simulate|produce|devbroker [options]; see campaignctl --help\n";
    return kExitUsage;
  }

  if (replay_cmd->parsed()) return run_replay(replay);
  if (report_cmd->parsed()) return run_report(report);
  if (reconcile_cmd->parsed()) return run_reconcile(reconcile);
  if (simulate_cmd->parsed()) return run_simulate(simulate);
  if (devbroker_cmd->parsed()) return run_devbroker(devbroker);
  if (produce_cmd->parsed()) return run_produce(produce);
  return kExitUsage;
}
