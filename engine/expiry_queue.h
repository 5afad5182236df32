#pragma once
// The coupons waiting to expire, by deadline (expiresAt + grace).
//
// A campaign grants every coupon with one validity and one grace, so as
// events arrive in time order its deadlines only grow: each campaign appends
// to a run of its own, and a run is consumed from its front. Popping the due
// entries thus reads each run in order, where a binary heap of all coupons
// walked log2(n) levels per pop, the deeper ones cache misses (about 3 % of
// deciding a festival). An entry that would break its run's order (a late
// event, a coupon restored by a reversal) goes to a heap beside the runs,
// and a small heap of the runs' first deadlines finds the runs with due
// entries without looking at the others.
//
// Which entries are due depends only on the deadlines, and the engine sorts
// the due coupons before expiring them, so the order this queue pops them in
// never shows in a decision.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

namespace dangol {

// An entry: the coupon may expire once the clock passes `deadline`. The
// engine skips an entry whose coupon is no longer ISSUED when it is popped.
struct ExpiryEntry {
  std::int64_t deadline_nanos;
  std::uint32_t coupon;
  bool operator>(const ExpiryEntry& o) const {
    return deadline_nanos != o.deadline_nanos ? deadline_nanos > o.deadline_nanos : coupon > o.coupon;
  }
};

class ExpiryQueue {
 public:
  // Queues `e` for the campaign with index `run`.
  void push(std::uint32_t run, ExpiryEntry e) {
    if (run >= runs_.size()) runs_.resize(std::size_t{run} + 1);
    Run& r = runs_[run];
    if (r.empty()) {
      r.entries.push_back(e);
      heads_.push_back({e.deadline_nanos, run});
      std::push_heap(heads_.begin(), heads_.end(), std::greater<>());
    } else if (e.deadline_nanos >= r.entries.back().deadline_nanos) {
      r.entries.push_back(e);
    } else {
      late_.push_back(e);
      std::push_heap(late_.begin(), late_.end(), std::greater<>());
    }
    ++size_;
  }

  // Removes every entry whose deadline is before `now`, calling
  // on_due(coupon) for each, in no particular order. Meanwhile it calls
  // prefetch(coupon) for coupons a few entries ahead in a run: on_due reads
  // each coupon's record, which the queue cannot put in cache itself.
  template <class OnDue, class Prefetch>
  void pop_due(std::int64_t now, OnDue&& on_due, Prefetch&& prefetch) {
    constexpr std::size_t kLookahead = 8;
    while (!heads_.empty() && heads_.front().first < now) {
      const std::uint32_t run = heads_.front().second;
      std::pop_heap(heads_.begin(), heads_.end(), std::greater<>());
      heads_.pop_back();
      Run& r = runs_[run];
      while (!r.empty() && r.front().deadline_nanos < now) {
        if (r.head + kLookahead < r.entries.size()) prefetch(r.entries[r.head + kLookahead].coupon);
        on_due(r.front().coupon);
        ++r.head;
        --size_;
      }
      if (r.empty()) {
        r.clear();
        continue;
      }
      r.compact();
      heads_.push_back({r.front().deadline_nanos, run});
      std::push_heap(heads_.begin(), heads_.end(), std::greater<>());
    }
    while (!late_.empty() && late_.front().deadline_nanos < now) {
      std::pop_heap(late_.begin(), late_.end(), std::greater<>());
      on_due(late_.back().coupon);
      late_.pop_back();
      --size_;
    }
  }

  std::size_t size() const { return size_; }

  // f(entry) for every queued entry, in no particular order.
  template <class F>
  void for_each(F&& f) const {
    for (const Run& r : runs_) {
      for (std::size_t i = r.head; i < r.entries.size(); ++i) f(r.entries[i]);
    }
    for (const ExpiryEntry& e : late_) f(e);
  }

 private:
  struct Run {
    std::vector<ExpiryEntry> entries;
    std::size_t head = 0;  // entries before it have been popped
    bool empty() const { return head == entries.size(); }
    const ExpiryEntry& front() const { return entries[head]; }
    void clear() {
      entries.clear();
      head = 0;
    }
    // Drops the popped entries once they are most of the run, so that a
    // campaign that always has coupons waiting does not keep every entry it
    // ever had; each entry moves O(1) times on average.
    void compact() {
      if (head < 4096 || head * 2 < entries.size()) return;
      entries.erase(entries.begin(), entries.begin() + static_cast<std::ptrdiff_t>(head));
      head = 0;
    }
  };

  std::vector<Run> runs_;                                 // by campaign index
  std::vector<std::pair<std::int64_t, std::uint32_t>> heads_;  // min-heap: (first deadline, run), runs not empty
  std::vector<ExpiryEntry> late_;  // min-heap
  std::size_t size_ = 0;
};

}  // namespace dangol
