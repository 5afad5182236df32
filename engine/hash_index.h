#pragma once
// An open-addressing table keyed by 128-bit hashes (e.g. of event ids), with
// key and value stored side by side so that a lookup in a large table costs
// one cache miss, not the two of a table with a separate control array. The
// idempotency table is probed by every event, so this is on the hot path.
//
// Keys are already uniform hashes: the low bits pick the slot and probing is
// linear. The all-zero key marks an empty slot, so a real key of zero (one in
// 2^128) is stored as {0, 1}.

#include <cstdint>
#include <utility>
#include <vector>

#include "engine/assert.h"
#include "engine/huge_pages.h"
#include "engine/state_keys.h"

namespace dangol {

template <class V>
class HashIndex {
 public:
  struct Entry {
    EventIdKey key;
    V value{};
  };

  // Inserts (key, value) unless key is present; returns the stored value and
  // whether it was inserted.
  std::pair<V*, bool> try_emplace(EventIdKey key, V value) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    key = normalized(key);
    for (std::size_t i = key.low & mask_;; i = (i + 1) & mask_) {
      Entry& e = slots_[i];
      if (e.key == key) return {&e.value, false};
      if (is_empty(e)) {
        e.key = key;
        e.value = value;
        ++size_;
        return {&e.value, true};
      }
    }
  }

  const V* find(EventIdKey key) const {
    if (slots_.empty()) return nullptr;
    key = normalized(key);
    for (std::size_t i = key.low & mask_;; i = (i + 1) & mask_) {
      const Entry& e = slots_[i];
      if (e.key == key) return &e.value;
      if (is_empty(e)) return nullptr;
    }
  }

  std::size_t size() const { return size_; }

  // Makes room for `n` entries in all, so that inserting up to them never
  // grows the table (loading a stored state).
  void reserve(std::size_t n) {
    std::size_t slots = slots_.empty() ? 1024 : slots_.size();
    while (n * 2 > slots) slots *= 2;
    if (slots > slots_.size()) rehash(slots);
  }

  // Hints that `key` will be probed soon (see Engine::decide_batch).
  void prefetch(EventIdKey key) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[normalized(key).low & mask_]);
  }

  template <class F>
  void for_each(F&& f) const {
    for (const Entry& e : slots_) {
      if (!is_empty(e)) f(e.key, e.value);
    }
  }

 private:
  static bool is_empty(const Entry& e) { return e.key.high == 0 && e.key.low == 0; }
  static EventIdKey normalized(EventIdKey k) { return (k.high == 0 && k.low == 0) ? EventIdKey{0, 1} : k; }

  void grow() { rehash(slots_.empty() ? 1024 : slots_.size() * 2); }

  void rehash(std::size_t slots) {
    Slots old = std::move(slots_);
    slots_.assign(slots, Entry{});
    mask_ = slots_.size() - 1;
    for (const Entry& e : old) {
      if (is_empty(e)) continue;
      std::size_t i = e.key.low & mask_;
      while (!is_empty(slots_[i])) i = (i + 1) & mask_;
      slots_[i] = e;
    }
  }

  using Slots = std::vector<Entry, HugePageAllocator<Entry>>;
  Slots slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

}  // namespace dangol
