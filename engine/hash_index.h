#pragma once
// An open-addressing table keyed by 64-bit hashes, where the caller compares
// the id on a hit (IdIndex), and the slot storage and in-place growth it
// shares with KeyedLog's index (keyed_log.h). Key and value are stored side
// by side so that a lookup in a large table costs one cache miss, not the
// two of a table with a separate control array.
//
// Keys are already uniform hashes: the low bits pick the slot and probing is
// linear. The zero key marks an empty slot, so a real key of zero (one in
// 2^64) is stored as 1.

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "engine/huge_pages.h"

namespace dangol {

// The slots of an open-addressing table, all-zero (empty) when allocated. A
// large table is a fresh anonymous mapping, which the kernel zeroes as it is
// first touched: filling it with empty entries as well cost a pass over the
// whole table per growth, about 7 % of deciding a million-event festival.
template <class T>
class ZeroedSlots {
 public:
  static_assert(std::is_trivially_copyable_v<T>);
  ZeroedSlots() = default;
  explicit ZeroedSlots(std::size_t n) : data_(static_cast<T*>(allocate_large(n * sizeof(T)))), size_(n) {
    if (n * sizeof(T) < kHugeThresholdBytes) std::memset(static_cast<void*>(data_), 0, n * sizeof(T));
  }
  ZeroedSlots(ZeroedSlots&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  ZeroedSlots& operator=(ZeroedSlots&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    return *this;
  }
  ~ZeroedSlots() { deallocate_large(data_, size_ * sizeof(T)); }
  // Grows to n slots, keeping the first size() and zeroing the rest.
  void extend(std::size_t n) {
    const std::size_t bytes = size_ * sizeof(T);
    if (bytes >= kHugeThresholdBytes) {
      if (void* p = extend_large(data_, bytes, n * sizeof(T))) {
        data_ = static_cast<T*>(p);
        size_ = n;
        return;
      }
    }
    ZeroedSlots bigger(n);
    if (bytes > 0) std::memcpy(static_cast<void*>(bigger.data_), data_, bytes);
    *this = std::move(bigger);  // the old slots go with `bigger`
  }
  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

// Grows a linearly probed table to `size` slots (a larger power of two) in
// place; is_empty(slot) tells an empty slot (an all-zero one) from an entry,
// and home(slot) is the hash whose low bits pick an entry's place. The new
// part is zero; each entry then moves to its place under the new mask, where
// its home h becomes h + t * old_size for some t >= 0. Entries move in slot
// order, starting after an empty slot so that each cluster moves from its
// first entry on. An entry whose home stays put probes only slots that have
// moved already and lands at or before its old slot (or, if its cluster
// wrapped around the old end, just above old_size); one whose home moves up
// lands among moved entries only, and no further than its old slot plus
// t * old_size. So no probe crosses an entry that has yet to move, and none
// runs off the end except those of a cluster that wrapped around the old
// table: they move last, when every other slot is final. Growing thus reads
// and writes the table in order and touches no memory but the new part,
// where copying into a fresh table touched twice the memory, half of it in
// random order.
template <class T, class IsEmpty, class Home>
void grow_in_place(ZeroedSlots<T>& slots, std::size_t size, const IsEmpty& is_empty, const Home& home) {
  const std::size_t old_size = slots.size();
  slots.extend(size);
  if (old_size == 0) return;
  const std::size_t mask = size - 1;
  std::size_t start = 0;
  while (!is_empty(slots[start])) ++start;  // there is one: the load is at most 1/2
  for (std::size_t k = 1; k <= old_size; ++k) {
    const std::size_t i = (start + k) & (old_size - 1);
    const T t = slots[i];
    if (is_empty(t)) continue;
    slots[i] = T{};
    std::size_t j = home(t) & mask;
    while (!is_empty(slots[j])) j = (j + 1) & mask;
    slots[j] = t;
  }
}

template <class V>
class HashIndex {
 public:
  struct Entry {
    std::uint64_t key = 0;
    V value{};
  };

  // Inserts (key, value) unless key is present; returns the stored value and
  // whether it was inserted.
  std::pair<V*, bool> try_emplace(std::uint64_t key, V value) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    key = normalized(key);
    for (std::size_t i = key & mask_;; i = (i + 1) & mask_) {
      Entry& e = slots_[i];
      if (e.key == key) return {&e.value, false};
      if (e.key == 0) {
        e.key = key;
        e.value = value;
        ++size_;
        return {&e.value, true};
      }
    }
  }

  const V* find(std::uint64_t key) const {
    if (slots_.empty()) return nullptr;
    key = normalized(key);
    for (std::size_t i = key & mask_;; i = (i + 1) & mask_) {
      const Entry& e = slots_[i];
      if (e.key == key) return &e.value;
      if (e.key == 0) return nullptr;
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
  void prefetch(std::uint64_t key) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[normalized(key) & mask_]);
  }

  template <class F>
  void for_each(F&& f) const {
    for (const Entry& e : slots_) {
      if (e.key != 0) f(e.key, e.value);
    }
  }

 private:
  static std::uint64_t normalized(std::uint64_t k) { return k == 0 ? 1 : k; }

  void grow() { rehash(slots_.empty() ? 1024 : slots_.size() * 2); }
  void rehash(std::size_t slots) {
    const auto key = [](const Entry& e) { return e.key; };
    grow_in_place(slots_, slots, [&](const Entry& e) { return key(e) == 0; }, key);
    mask_ = slots - 1;
  }

  ZeroedSlots<Entry> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

}  // namespace dangol
