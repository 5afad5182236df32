// State store figures (issue 3 targets: ready <= 2 s after kill -9 with a
// million outstanding coupons; one fsynced WriteBatch per 10,000-event batch).
//
// BM_CommitBatches builds the store in a child process: a synthetic festival
// of 200 batches of 10,000 events (per batch 6,000 claims, 1,000 redemptions
// of earlier coupons, 3,000 redemptions rejected below the minimum order),
// i.e. 2,000,000 event ids, 1,200,000 coupons of which 1,000,000 stay
// outstanding. Each batch is committed with its decisions in the outbox (and
// trimmed, as if delivered); the child times every commit, then SIGKILLs
// itself -- no flush, no close, as after kill -9.
// BM_OpenAndLoadAfterKill then opens that store and loads it into a fresh
// engine: the recovery time campaignd would see.
//
// DANGOL_BENCH_BATCHES scales the size (default 200); DANGOL_BENCH_DIR picks
// where the store lives (default: a fresh directory under /tmp, removed at
// exit; a given directory is kept, and reused by the load benchmark).

#include <benchmark/benchmark.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "storage/state_store.h"

namespace {

using dangol::Engine;
using dangol::v1::Envelope;
using dangol::storage::OutboxEntry;
using dangol::storage::StateStore;
using dangol::storage::Status;

constexpr int kEventsPerBatch = 10'000;
constexpr int kClaims = 6'000, kRedemptions = 1'000;  // the rest: rejected redemptions
constexpr std::int64_t kT0 = 1'693'526'400;          // 2023-09-01T00:00:00Z

int batches() {
  const char* env = std::getenv("DANGOL_BENCH_BATCHES");
  return env ? std::max(1, std::atoi(env)) : 200;
}

const std::string& store_dir() {
  static const std::string dir = [] {
    const char* env = std::getenv("DANGOL_BENCH_DIR");
    if (env != nullptr) return std::string(env);  // kept, for inspection
    std::string d = "/tmp/dangol-storage-bench-" + std::to_string(::getpid());
    std::filesystem::remove_all(d);
    return d;
  }();
  // Registered after `dir` is constructed, so it runs before `dir` is destroyed.
  static const bool remove_at_exit = std::getenv("DANGOL_BENCH_DIR") == nullptr &&
                                     std::atexit([] { std::filesystem::remove_all(store_dir()); }) == 0;
  (void)remove_at_exit;
  return dir;
}

// ------------------------------------------------------------------ the workload

Envelope setup_campaign() {
  Envelope e;
  e.set_event_id("setup-campaign");
  e.mutable_occurred_at()->set_seconds(kT0);
  auto* p = e.mutable_campaign_defined();
  p->set_campaign_id("bench-festival");
  p->set_name("Bench festival");
  p->set_currency("KRW");
  p->mutable_starts_at()->set_seconds(kT0 - 86'400);
  p->mutable_ends_at()->set_seconds(kT0 + 365 * 86'400);
  for (const char* funder : {"gov", "private"}) {
    auto* f = p->add_funders();
    f->set_funder_id(funder);
    f->set_share_bps(5000);
    f->set_budget(1'000'000'000'000);
  }
  p->set_trigger(dangol::v1::CampaignDefined::ISSUED);
  auto* offer = p->mutable_offer();
  offer->set_percent_bps(1000);
  offer->set_max_discount(5000);
  offer->set_min_order_amount(10'000);
  offer->set_valid_days(365);  // nothing expires during the run: all stay outstanding
  return e;
}

Envelope enroll(int m) {
  Envelope e;
  e.set_event_id("setup-m" + std::to_string(m));
  e.mutable_occurred_at()->set_seconds(kT0);
  auto* p = e.mutable_merchant_enrolled();
  p->set_merchant_id("m-" + std::to_string(m));
  p->set_market_id("mkt-" + std::to_string(m % 100));
  p->set_category("food");
  return e;
}

// Event `i` of batch `b`; claims are numbered globally so ids never repeat.
Envelope batch_event(int b, int i) {
  Envelope e;
  e.set_event_id("ev-" + std::to_string(b) + "-" + std::to_string(i));
  e.mutable_occurred_at()->set_seconds(kT0 + b * 60 + i / 1000);
  const std::int64_t claim = std::int64_t{b} * kClaims + i;
  if (i < kClaims) {
    auto* p = e.mutable_coupon_issued();
    p->set_campaign_id("bench-festival");
    p->set_customer_id("cust-" + std::to_string(claim));
    p->set_merchant_id("m-" + std::to_string(claim % 5000));
    p->set_coupon_id("fest-" + std::to_string(claim));
  } else {
    auto* p = e.mutable_coupon_redeemed();
    const bool real = i < kClaims + kRedemptions && b > 0;
    // A real redemption takes a coupon of the previous batch: an overlay.
    const std::int64_t coupon = real ? std::int64_t{b - 1} * kClaims + (i - kClaims) : claim % (std::int64_t{b + 1} * kClaims);
    p->set_coupon_id("fest-" + std::to_string(coupon));
    p->set_merchant_id("m-" + std::to_string(coupon % 5000));
    p->set_order_amount(real ? 30'000 : 5'000);
  }
  return e;
}

void check(const Status& st, const char* what) {
  if (st.ok()) return;
  std::fprintf(stderr, "storage_bench: %s: %s\n", what, st.message().c_str());
  std::_Exit(2);
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

// ------------------------------------------------------------------ building, in a child

struct CommitFigures {
  double p50_ms = 0, p99_ms = 0, max_ms = 0, mean_batch_mb = 0;
};

// Decides one batch into the outbox and commits it; returns the commit time.
double commit_batch(Engine& engine, StateStore& store, const std::vector<Envelope>& events, std::int64_t* offset) {
  std::vector<OutboxEntry> outbox;
  outbox.reserve(events.size());
  dangol::v1::Decision decision;
  for (const Envelope& e : events) {
    engine.apply(e, dangol::Position{0, *offset}, &decision);
    outbox.push_back({decision.seq(), 0, e.event_id(), decision.SerializeAsString()});
    ++*offset;
  }
  const auto start = std::chrono::steady_clock::now();
  check(store.commit(engine, {{0, *offset}}, outbox), "commit");
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  check(store.trim_outbox(outbox.back().seq), "trim");  // delivered
  return ms;
}

[[noreturn]] void build_and_die(int result_fd) {
  std::unique_ptr<StateStore> store;
  check(StateStore::open(store_dir(), &store), "open");
  Engine engine;
  std::map<std::int32_t, std::int64_t> offsets;
  check(store->load(&engine, &offsets, nullptr), "load");
  std::int64_t offset = 0;
  std::vector<Envelope> setup = {setup_campaign()};
  for (int m = 0; m < 5000; ++m) setup.push_back(enroll(m));
  commit_batch(engine, *store, setup, &offset);
  std::vector<double> latencies;
  double bytes = 0;
  for (int b = 0; b < batches(); ++b) {
    std::vector<Envelope> events;
    events.reserve(kEventsPerBatch);
    for (int i = 0; i < kEventsPerBatch; ++i) events.push_back(batch_event(b, i));
    latencies.push_back(commit_batch(engine, *store, events, &offset));
    bytes += static_cast<double>(store->last_commit_bytes());
  }
  CommitFigures f{percentile(latencies, 0.5), percentile(latencies, 0.99), percentile(latencies, 1.0),
                  bytes / latencies.size() / (1 << 20)};
  if (write(result_fd, &f, sizeof f) != sizeof f) std::_Exit(3);
  ::kill(::getpid(), SIGKILL);  // as kill -9: no flush, no close
  std::_Exit(4);
}

CommitFigures build_store() {
  const std::string& dir = store_dir();  // named by the parent, which removes it at exit
  (void)dir;
  int fds[2];
  if (pipe(fds) != 0) std::abort();
  pid_t child = fork();
  if (child == 0) build_and_die(fds[1]);
  close(fds[1]);
  CommitFigures f;
  const bool got = read(fds[0], &f, sizeof f) == sizeof f;
  close(fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  if (!got || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
    std::fprintf(stderr, "storage_bench: the building child failed\n");
    std::exit(2);
  }
  return f;
}

// ------------------------------------------------------------------ benchmarks

void BM_CommitBatches(benchmark::State& state) {
  CommitFigures f;
  for (auto _ : state) f = build_store();
  state.counters["commit_p50_ms"] = f.p50_ms;
  state.counters["commit_p99_ms"] = f.p99_ms;
  state.counters["commit_max_ms"] = f.max_ms;
  state.counters["batch_MB"] = f.mean_batch_mb;
  state.counters["batches"] = batches();
}
BENCHMARK(BM_CommitBatches)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

// The first iteration recovers from the kill (WAL replay); later ones open a
// cleanly closed store. Both are reported.
void BM_OpenAndLoadAfterKill(benchmark::State& state) {
  if (!std::filesystem::exists(store_dir())) build_store();
  StateStore::LoadStats stats, first_stats;
  double open_s = 0, first_open_s = -1;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    std::unique_ptr<StateStore> store;
    check(StateStore::open(store_dir(), &store), "open");
    open_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    auto engine = std::make_unique<Engine>();
    std::map<std::int32_t, std::int64_t> offsets;
    check(store->load(engine.get(), &offsets, &stats), "load");
    state.PauseTiming();
    if (first_open_s < 0) first_open_s = open_s, first_stats = stats;
    if (engine->state().coupons.size() == 0) std::abort();
    engine.reset();  // teardown is not recovery
    store.reset();
    state.ResumeTiming();
  }
  state.counters["killed_open_s"] = first_open_s;
  state.counters["killed_load_s"] = first_stats.seconds;
  state.counters["open_s"] = open_s;
  state.counters["load_s"] = stats.seconds;
  state.counters["coupons"] = static_cast<double>(stats.coupons);
  state.counters["events"] = static_cast<double>(stats.events);
  state.counters["MB"] = static_cast<double>(stats.bytes) / (1 << 20);
}
BENCHMARK(BM_OpenAndLoadAfterKill)->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
