#pragma once
// Prometheus text exposition format 0.0.4, written by hand: prometheus-cpp
// is not packaged in Debian 12, and what /metrics needs is small: counters,
// gauges and cumulative histograms with escaped labels.

#include <array>
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dangol::http {

using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

class PrometheusText {
 public:
  // Starts a family: "# HELP name help" and "# TYPE name type" (counter,
  // gauge or histogram).
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, Labels labels, double value);
  void sample(std::string_view name, Labels labels, std::int64_t value);
  // A family with one unlabelled sample (most counters and gauges).
  void single(std::string_view name, std::string_view type, std::string_view help, std::int64_t value) {
    family(name, type, help);
    sample(name, {}, value);
  }
  // A histogram's series: name_bucket{le=…} (cumulative), name_sum, name_count.
  void histogram(std::string_view name, Labels labels, std::span<const double> upper_bounds,
                 std::span<const std::int64_t> counts, double sum);

  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void series(std::string_view name, Labels labels, std::string_view extra_label = {},
              std::string_view extra_value = {});
  std::string out_;
};

// A histogram updated from one thread at a time and read from any: fixed
// upper bounds, relaxed atomic counts (a scrape may see a sample's count
// before its sum; Prometheus tolerates that).
template <std::size_t N>
class AtomicHistogram {
 public:
  explicit constexpr AtomicHistogram(std::array<double, N> upper_bounds) : bounds_(upper_bounds) {}
  void observe(double value) {
    std::size_t i = 0;
    while (i < N && value > bounds_[i]) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    // A CAS loop: std::atomic<double>::fetch_add needs C++20 library support
    // that Debian 12's libstdc++ has, but keep it portable.
    double old = sum_.load(std::memory_order_relaxed);
    while (!sum_.compare_exchange_weak(old, old + value, std::memory_order_relaxed)) {
    }
  }
  void write(PrometheusText& out, std::string_view name, Labels labels = {}) const {
    std::array<std::int64_t, N + 1> counts;
    for (std::size_t i = 0; i <= N; ++i) counts[i] = counts_[i].load(std::memory_order_relaxed);
    out.histogram(name, labels, bounds_, counts, sum_.load(std::memory_order_relaxed));
  }

 private:
  std::array<double, N> bounds_;
  std::array<std::atomic<std::int64_t>, N + 1> counts_{};  // last: above every bound (+Inf)
  std::atomic<double> sum_{0};
};

}  // namespace dangol::http
