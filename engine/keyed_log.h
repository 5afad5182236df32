#pragma once
// The idempotency table: an append-only log of (128-bit key, value) entries,
// indexed by key. Every event probes it, and it holds an entry per event
// ever decided, so it is the engine's largest table.
//
// Entries never move: they are appended to a StableVector in the order they
// come, and a PositionIndex (hash_index.h) of 8-byte slots finds them by the
// low half of their key. A table of whole entries (24 bytes, at most half
// full) took 64 bytes per event in random order, and every growth moved
// them all; here the index takes about 21 bytes per event and the log 24
// bytes in order. The batched 200k-event festival took 98 and 102 ms
// against 105 and 110 ms (medians of two sets of alternating runs of
// engine_bench; best runs 89 against 96-98 ms).

#include <cstdint>
#include <utility>

#include "engine/hash_index.h"
#include "engine/stable_vector.h"
#include "engine/state_keys.h"

namespace dangol {

template <class V>
class KeyedLog {
 public:
  struct Entry {
    EventIdKey key;
    V value{};
  };

  KeyedLog() = default;
  KeyedLog(const KeyedLog&) = delete;
  KeyedLog& operator=(const KeyedLog&) = delete;

  // Appends (key, value) unless key is present; returns the stored value and
  // whether it was appended.
  std::pair<V*, bool> try_emplace(EventIdKey key, V value) {
    const auto position = static_cast<std::uint32_t>(log_.size());
    auto [at, inserted] = index_.insert(key.low, position, [&](std::uint32_t p) { return log_[p].key == key; });
    if (!inserted) return {&log_[at].value, false};
    return {&log_.emplace_back(Entry{key, value}).value, true};
  }

  const V* find(EventIdKey key) const {
    const std::uint32_t at = index_.find(key.low, [&](std::uint32_t p) { return log_[p].key == key; });
    return at == PositionIndex::kNone ? nullptr : &log_[at].value;
  }

  std::size_t size() const { return log_.size(); }

  // Makes room for `n` entries in all, so that appending up to them never
  // grows the index (loading a stored state).
  void reserve(std::size_t n) { index_.reserve(n); }

  // Hints that `key` will be probed soon (see Engine::decide_batch).
  void prefetch(EventIdKey key) const { index_.prefetch(key.low); }

  // f(key, value) for every entry, in the order they were appended.
  template <class F>
  void for_each(F&& f) const {
    for (const Entry& e : log_) f(e.key, e.value);
  }

  // f(entries, count) for the entries appended at or after position `from`,
  // in order, as runs contiguous in memory (the state store writes them as
  // they are: ChangeLog's watermark says where the new ones begin).
  template <class F>
  void for_each_run(std::size_t from, F&& f) const {
    log_.for_each_run(from, f);
  }

 private:
  StableVector<Entry> log_;
  PositionIndex index_;
};

}  // namespace dangol
