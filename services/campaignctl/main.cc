// campaignctl: Dangol's command-line tools (CONTRACT §4).
// Exit status: 0 ok, 1 a check found discrepancies, 2 usage error, 3 runtime
// error. Errors go to stderr as one clear line each.

#include <unistd.h>

#include <fstream>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "engine/engine.h"
#include "engine/report.h"
#include "services/campaignctl/line_io.h"
#include "services/campaignctl/reconcile.h"
#include "services/campaignctl/replay.h"
#include "services/campaignctl/report_format.h"
#include "services/campaignctl/simulate.h"

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
  std::string events, decisions;
  bool paranoid = false;
};

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
  bool ok = dangol::ctl::replay(in, out, STDERR_FILENO, engine, options, &stats, &error);
  if (out != STDOUT_FILENO && ::close(out) != 0) return fail("closing " + a.decisions + " failed");
  if (!ok) return fail(error);
  return kExitOk;
}

struct ReportArgs {
  std::string events, format = "table", campaign, market;
};

int run_report(const ReportArgs& a) {
  std::string error;
  int in = dangol::ctl::open_input(a.events, &error);
  if (in < 0) return fail(error);
  dangol::Engine engine;
  dangol::ctl::ReplayStats stats;
  dangol::ctl::ReplayOptions options;
  options.write_decisions = false;
  if (!dangol::ctl::replay(in, STDOUT_FILENO, STDERR_FILENO, engine, options, &stats, &error)) return fail(error);
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
  std::string decisions, settlement, format = "table";
};

int run_reconcile(const ReconcileArgs& a) {
  std::ifstream in(a.decisions, std::ios::binary);
  if (!in) return fail(a.decisions + ": cannot open");
  dangol::reconcile::Options options;
  options.settlement_csv_path = a.settlement;
  dangol::reconcile::Result result;
  std::string error;
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"campaignctl: Dangol's tools for event files, reports and reconciliation", "campaignctl"};
  app.require_subcommand(1);

  ReplayArgs replay;
  auto* replay_cmd = app.add_subcommand("replay", "Apply JSONL envelopes in file order; write decisions JSONL");
  replay_cmd->add_option("--events", replay.events, "Events JSONL file (default: stdin)");
  replay_cmd->add_option("--decisions", replay.decisions, "Decisions JSONL file (default: stdout)");
  replay_cmd->add_flag("--paranoid", replay.paranoid, "Run the full invariant check after every event (slow)");

  ReportArgs report;
  auto* report_cmd = app.add_subcommand("report", "Campaign, funder and market figures");
  report_cmd->add_option("--events", report.events, "Events JSONL file to replay")->required();
  report_cmd->add_option("--format", report.format, "table, json or csv")
      ->check(CLI::IsMember({"table", "json", "csv"}));
  report_cmd->add_option("--campaign", report.campaign, "Only this campaign");
  report_cmd->add_option("--market", report.market, "Only this market");

  ReconcileArgs reconcile;
  auto* reconcile_cmd = app.add_subcommand("reconcile", "Fold the decision journal and check every invariant");
  reconcile_cmd->add_option("--decisions", reconcile.decisions, "Decisions JSONL file")->required();
  reconcile_cmd->add_option("--settlement", reconcile.settlement, "Payment provider settlement CSV (couponId,discount)");
  reconcile_cmd->add_option("--format", reconcile.format, "table or json")->check(CLI::IsMember({"table", "json"}));

  SimulateArgs simulate;
  auto* simulate_cmd = app.add_subcommand("simulate", "Write a simulated event stream as JSONL to stdout");
  simulate_cmd->add_option("scenario", simulate.scenario, "pilot or festival")
      ->required()
      ->check(CLI::IsMember({"pilot", "festival"}));
  simulate_cmd->add_option("--seed", simulate.seed, "Random seed");
  simulate_cmd->add_option("--events", simulate.events, "Number of festival events")->check(CLI::Range(dangol::simulate::kFestivalMinEvents, std::int64_t{1'000'000'000}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "campaignctl: " << e.what() << "\n";
    std::cerr << "usage: campaignctl replay|report|reconcile|simulate [options]; see campaignctl --help\n";
    return kExitUsage;
  }

  if (replay_cmd->parsed()) return run_replay(replay);
  if (report_cmd->parsed()) return run_report(report);
  if (reconcile_cmd->parsed()) return run_reconcile(reconcile);
  if (simulate_cmd->parsed()) return run_simulate(simulate);
  return kExitUsage;
}
