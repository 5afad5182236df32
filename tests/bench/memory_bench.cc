// What a random memory access costs on the machine the benchmarks run on,
// measured beside them (tests/bench/run.sh prints it next to the engine's
// ratios). Deciding an event probes hash tables at random places, and at a
// million events the engine's state (about 120 MiB) no longer fits the
// caches: how far the decode+decide ratio rises from 200k to a million
// events depends on this machine's memory more than on the engine's code,
// and on a virtual machine that can change from one day to the next
// (docs/performance.md, "Measured").
//
// BM_DependentLoad: a pointer chase through a random cycle of cache lines
// in a buffer of the given size, so that each load waits for the one
// before (the latency of one miss). BM_IndependentLoad: loads of random
// lines whose addresses are known in advance, so that the misses overlap
// (the throughput of misses). Sizes are in MiB, powers of two. Both
// buffers come from allocate_large, as the engine's tables do
// (transparent huge pages).

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "engine/huge_pages.h"

namespace {

constexpr std::size_t kLine = 64;

// A buffer of `bytes` whose cache lines each hold the index of the next
// line of one random cycle through all of them.
class RandomCycle {
 public:
  explicit RandomCycle(std::size_t bytes)
      : lines_(bytes / kLine), data_(static_cast<std::uint64_t*>(dangol::allocate_large(lines_ * kLine))) {
    std::vector<std::uint64_t> order(lines_);
    std::iota(order.begin(), order.end(), std::uint64_t{0});
    std::shuffle(order.begin(), order.end(), std::mt19937_64(42));
    for (std::size_t i = 0; i < lines_; ++i) next(order[i]) = order[(i + 1) % lines_];
  }
  RandomCycle(const RandomCycle&) = delete;
  RandomCycle& operator=(const RandomCycle&) = delete;
  ~RandomCycle() { dangol::deallocate_large(data_, lines_ * kLine); }

  std::uint64_t& next(std::uint64_t line) { return data_[line * (kLine / sizeof(std::uint64_t))]; }
  std::size_t lines() const { return lines_; }

 private:
  std::size_t lines_;
  std::uint64_t* data_;
};

constexpr std::int64_t kLoadsPerIteration = 1 << 16;

void BM_DependentLoad(benchmark::State& state) {
  RandomCycle cycle(static_cast<std::size_t>(state.range(0)) << 20);
  std::uint64_t at = 0;
  for (auto _ : state) {
    for (std::int64_t i = 0; i < kLoadsPerIteration; ++i) at = cycle.next(at);
    benchmark::DoNotOptimize(at);
  }
  state.SetItemsProcessed(state.iterations() * kLoadsPerIteration);
}
BENCHMARK(BM_DependentLoad)->Arg(1)->Arg(4)->Arg(16)->Arg(128)->Unit(benchmark::kMicrosecond)->MinTime(0.5);

// The addresses come from a xorshift generator, not from the loads, so the
// loads do not wait for each other; a fresh random line each time, so that
// they are not served by lines an earlier iteration brought in.
void BM_IndependentLoad(benchmark::State& state) {
  RandomCycle cycle(static_cast<std::size_t>(state.range(0)) << 20);
  const std::uint64_t mask = cycle.lines() - 1;  // a power of two
  std::uint64_t x = 88172645463325252u;
  for (auto _ : state) {
    std::uint64_t sum = 0;
    for (std::int64_t i = 0; i < kLoadsPerIteration; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      sum += cycle.next(x & mask);
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * kLoadsPerIteration);
}
BENCHMARK(BM_IndependentLoad)->Arg(1)->Arg(4)->Arg(16)->Arg(128)->Unit(benchmark::kMicrosecond)->MinTime(0.5);

}  // namespace

BENCHMARK_MAIN();
