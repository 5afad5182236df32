#pragma once
// The idempotency table: an append-only log of (128-bit key, value) entries,
// indexed by key. Every event probes it, and it holds an entry per event
// ever decided, so it is the engine's largest table.
//
// Entries never move: they are appended to a StableVector in the order they
// come. The index is an open-addressing table of 8-byte slots, each the low
// 32 bits of its key's low half (a fragment) and the position of its entry
// in the log. A probe compares fragments and reads the entry only when its
// fragment matches, which for an event not seen before (nearly every one) is
// never. A table of whole entries (24 bytes, at most half full) took 64
// bytes per event in random order and every growth moved them all; here the
// index takes about 21 bytes per event and the log 24 bytes in order, and
// growing moves 8-byte slots. The batched 200k-event festival took 98 and
// 102 ms against 105 and 110 ms (medians of two sets of alternating runs of
// engine_bench; best runs 89 against 96-98 ms).
//
// The fragment is also the home of a slot when the index grows, so the
// index never exceeds 2^32 slots: the log holds at most 2^31 entries (about
// 95 GB of state), an invariant checked on every insert.

#include <cstdint>
#include <utility>

#include "engine/assert.h"
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

  static constexpr std::size_t kMaxEntries = std::size_t{1} << 31;

  KeyedLog() = default;
  KeyedLog(const KeyedLog&) = delete;
  KeyedLog& operator=(const KeyedLog&) = delete;

  // Appends (key, value) unless key is present; returns the stored value and
  // whether it was appended.
  std::pair<V*, bool> try_emplace(EventIdKey key, V value) {
    if ((log_.size() + 1) * 2 > slots_.size()) grow();
    const std::uint32_t f = fragment(key);
    for (std::size_t i = f & mask_;; i = (i + 1) & mask_) {
      const std::uint64_t s = slots_[i];
      if (s == 0) {
        DANGOL_ASSERT(log_.size() < kMaxEntries, "the idempotency table holds 2^31 event ids at most");
        Entry& e = log_.emplace_back(Entry{key, value});
        slots_[i] = std::uint64_t{f} << 32 | log_.size();  // position + 1: never 0
        return {&e.value, true};
      }
      if (static_cast<std::uint32_t>(s >> 32) == f) {
        Entry& e = log_[position(s)];
        if (e.key == key) return {&e.value, false};
      }
    }
  }

  const V* find(EventIdKey key) const {
    if (slots_.empty()) return nullptr;
    const std::uint32_t f = fragment(key);
    for (std::size_t i = f & mask_;; i = (i + 1) & mask_) {
      const std::uint64_t s = slots_[i];
      if (s == 0) return nullptr;
      if (static_cast<std::uint32_t>(s >> 32) == f) {
        const Entry& e = log_[position(s)];
        if (e.key == key) return &e.value;
      }
    }
  }

  std::size_t size() const { return log_.size(); }

  // Makes room for `n` entries in all, so that appending up to them never
  // grows the index (loading a stored state).
  void reserve(std::size_t n) {
    std::size_t slots = slots_.empty() ? kFirstSlots : slots_.size();
    while (n * 2 > slots) slots *= 2;
    if (slots > slots_.size()) rehash(slots);
  }

  // Hints that `key` will be probed soon (see Engine::decide_batch).
  void prefetch(EventIdKey key) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[fragment(key) & mask_]);
  }

  // f(key, value) for every entry, in the order they were appended.
  template <class F>
  void for_each(F&& f) const {
    for (const Entry& e : log_) f(e.key, e.value);
  }

 private:
  static constexpr std::size_t kFirstSlots = 1024;

  static std::uint32_t fragment(const EventIdKey& key) { return static_cast<std::uint32_t>(key.low); }
  static std::size_t position(std::uint64_t slot) { return static_cast<std::uint32_t>(slot) - std::size_t{1}; }

  void grow() { rehash(slots_.empty() ? kFirstSlots : slots_.size() * 2); }
  void rehash(std::size_t slots) {
    grow_in_place(
        slots_, slots, [](std::uint64_t s) { return s == 0; }, [](std::uint64_t s) { return s >> 32; });
    mask_ = slots - 1;
  }

  StableVector<Entry> log_;
  ZeroedSlots<std::uint64_t> slots_;
  std::size_t mask_ = 0;
};

}  // namespace dangol
