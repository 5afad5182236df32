#pragma once
// An open-addressing table keyed by hashes: 128-bit ones (EventIdKey, e.g. of
// event ids, where the id is not kept) or 64-bit ones (where the caller
// compares the id on a hit, IdIndex). Key and value are stored side by side
// so that a lookup in a large table costs one cache miss, not the two of a
// table with a separate control array. The idempotency table is probed by
// every event, so this is on the hot path.
//
// Keys are already uniform hashes: the low bits pick the slot and probing is
// linear. The all-zero key marks an empty slot, so a real key of zero (one in
// 2^64 or 2^128) is stored as 1.

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "engine/huge_pages.h"
#include "engine/state_keys.h"

namespace dangol {

template <class V, class K = EventIdKey>
class HashIndex {
  static_assert(std::is_same_v<K, EventIdKey> || std::is_same_v<K, std::uint64_t>);

 public:
  struct Entry {
    K key{};
    V value{};
  };

  // Inserts (key, value) unless key is present; returns the stored value and
  // whether it was inserted.
  std::pair<V*, bool> try_emplace(K key, V value) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    key = normalized(key);
    for (std::size_t i = home(key) & mask_;; i = (i + 1) & mask_) {
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

  const V* find(K key) const {
    if (slots_.empty()) return nullptr;
    key = normalized(key);
    for (std::size_t i = home(key) & mask_;; i = (i + 1) & mask_) {
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
  void prefetch(K key) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[home(normalized(key)) & mask_]);
  }

  template <class F>
  void for_each(F&& f) const {
    for (const Entry& e : slots_) {
      if (!is_empty(e)) f(e.key, e.value);
    }
  }

 private:
  static bool is_zero(const EventIdKey& k) { return k.high == 0 && k.low == 0; }
  static bool is_zero(std::uint64_t k) { return k == 0; }
  static std::uint64_t home(const EventIdKey& k) { return k.low; }
  static std::uint64_t home(std::uint64_t k) { return k; }
  static bool is_empty(const Entry& e) { return is_zero(e.key); }
  static K normalized(K k) {
    if constexpr (std::is_same_v<K, EventIdKey>) {
      return is_zero(k) ? EventIdKey{0, 1} : k;
    } else {
      return is_zero(k) ? 1 : k;
    }
  }

  void grow() { rehash(slots_.empty() ? 1024 : slots_.size() * 2); }

  // Grows the table to `slots` (a larger power of two) in place. The new
  // part is zero; each entry then moves to its place under the new mask,
  // where its home h becomes h + t * old_size for some t >= 0. Entries move
  // in slot order, starting after an empty slot so that each cluster moves
  // from its first entry on. An entry whose home stays put probes only
  // slots that have moved already and lands at or before its old slot (or,
  // if its cluster wrapped around the old end, just above old_size); one
  // whose home moves up lands among moved entries only, and no further than
  // its old slot plus t * old_size. So no probe crosses an entry that has yet
  // to move, and none runs off the end except those of a cluster that
  // wrapped around the old table: they move last, when every other slot is
  // final. Growing thus reads and writes the table in order and touches no
  // memory but the new part, where copying into a fresh table touched twice
  // the memory, half of it in random order.
  void rehash(std::size_t slots) {
    const std::size_t old_size = slots_.size();
    slots_.extend(slots);
    mask_ = slots - 1;
    if (old_size == 0) return;
    std::size_t start = 0;
    while (!is_empty(slots_[start])) ++start;  // there is one: the load is at most 1/2
    for (std::size_t k = 1; k <= old_size; ++k) {
      const std::size_t i = (start + k) & (old_size - 1);
      const Entry e = slots_[i];
      if (is_empty(e)) continue;
      slots_[i] = Entry{};
      std::size_t j = home(e.key) & mask_;
      while (!is_empty(slots_[j])) j = (j + 1) & mask_;
      slots_[j] = e;
    }
  }

  // The slots, all-zero (empty) when allocated. A large table is a fresh
  // anonymous mapping, which the kernel zeroes as it is first touched:
  // filling it with empty entries as well cost a pass over the whole table
  // per growth, about 7 % of deciding a million-event festival.
  class Slots {
   public:
    static_assert(std::is_trivially_copyable_v<Entry>);
    Slots() = default;
    explicit Slots(std::size_t n) : data_(static_cast<Entry*>(allocate_large(n * sizeof(Entry)))), size_(n) {
      if (n * sizeof(Entry) < kHugeThresholdBytes) std::memset(static_cast<void*>(data_), 0, n * sizeof(Entry));
    }
    Slots(Slots&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
    Slots& operator=(Slots&& o) noexcept {
      std::swap(data_, o.data_);
      std::swap(size_, o.size_);
      return *this;
    }
    ~Slots() { deallocate_large(data_, size_ * sizeof(Entry)); }
    // Grows to n slots, keeping the first size() and zeroing the rest.
    void extend(std::size_t n) {
      const std::size_t bytes = size_ * sizeof(Entry);
      if (bytes >= kHugeThresholdBytes) {
        if (void* p = extend_large(data_, bytes, n * sizeof(Entry))) {
          data_ = static_cast<Entry*>(p);
          size_ = n;
          return;
        }
      }
      Slots bigger(n);
      if (bytes > 0) std::memcpy(static_cast<void*>(bigger.data_), data_, bytes);
      *this = std::move(bigger);  // the old slots go with `bigger`
    }
    Entry& operator[](std::size_t i) { return data_[i]; }
    const Entry& operator[](std::size_t i) const { return data_[i]; }
    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    const Entry* begin() const { return data_; }
    const Entry* end() const { return data_ + size_; }

   private:
    Entry* data_ = nullptr;
    std::size_t size_ = 0;
  };
  Slots slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

}  // namespace dangol
