#pragma once
// The engine's hash index: an open-addressing table from 64-bit hashes to
// positions in a sequence the caller keeps (the idempotency log, the
// coupons, the interned names), where the caller compares the entry at a
// position with what it looks for. A slot is 8 bytes: the low 32 bits of
// the hash (its fragment) and the position + 1 (0: an empty slot). The
// fragment picks the slot, probing is linear, and a probe compares
// fragments first, so it reads an entry only when its fragment matches:
// for an id not indexed yet, almost never. Entries whose hashes collide,
// by chance or crafted (XXH3 is not a cryptographic hash, and ids come
// from outside), are separate entries that the caller's comparison tells
// apart: no id is ever taken for another.
//
// Slots of whole entries took 16 bytes (a 64-bit hash and the position),
// and 24 in the idempotency table (its 128-bit hash and content hash), at
// most half full and in random order; growing moved them all. 8-byte slots
// make those tables, and what their growth moves, a half and a third the
// size (docs/performance.md, "Memory stalls dominate at scale").
//
// The fragment is also where a slot goes when the table grows, so a table
// holds at most 2^31 entries (2^32 slots at half load), which is checked on
// every insert.

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <utility>

#include "engine/assert.h"
#include "engine/huge_pages.h"

namespace dangol {

class PositionIndex {
 public:
  static constexpr std::uint32_t kNone = ~std::uint32_t{0};
  static constexpr std::size_t kMaxEntries = std::size_t{1} << 31;

  // The position of the entry indexed under `hash` for which same(position)
  // holds, or kNone.
  template <class Same>
  std::uint32_t find(std::uint64_t hash, const Same& same) const {
    if (slots_.empty()) return kNone;
    const std::uint32_t f = fragment(hash);
    for (std::size_t i = f & mask_;; i = (i + 1) & mask_) {
      const std::uint64_t s = slots_[i];
      if (s == 0) return kNone;
      if (fragment_of(s) == f && same(position_of(s))) return position_of(s);
    }
  }

  // Indexes `position` under `hash` unless an entry for which same(p) holds
  // is indexed already; returns that entry's position or `position`, and
  // whether it was inserted.
  template <class Same>
  std::pair<std::uint32_t, bool> insert(std::uint64_t hash, std::uint32_t position, const Same& same) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    const std::uint32_t f = fragment(hash);
    for (std::size_t i = f & mask_;; i = (i + 1) & mask_) {
      const std::uint64_t s = slots_[i];
      if (s == 0) {
        DANGOL_ASSERT(size_ < kMaxEntries && position < kNone, "a hash index holds 2^31 entries at most");
        slots_[i] = std::uint64_t{f} << 32 | (position + std::uint64_t{1});
        ++size_;
        return {position, true};
      }
      if (fragment_of(s) == f && same(position_of(s))) return {position_of(s), false};
    }
  }

  std::size_t size() const { return size_; }

  // Makes room for `n` entries in all, so that inserting up to them never
  // grows the table (loading a stored state).
  void reserve(std::size_t n) {
    std::size_t slots = slots_.empty() ? kFirstSlots : slots_.size();
    while (n * 2 > slots) slots *= 2;
    if (slots > slots_.size()) rehash(slots);
  }

  // Hints that `hash` will be probed soon (see Engine::decide_batch).
  void prefetch(std::uint64_t hash) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[fragment(hash) & mask_]);
  }

 private:
  static constexpr std::size_t kFirstSlots = 1024;
  static constexpr std::size_t kGroup = 8;  // one cache line of slots
  static constexpr std::size_t kQuadrupleBelow = std::size_t{1} << 20;  // slots (8 MiB)

  static std::uint32_t fragment(std::uint64_t hash) { return static_cast<std::uint32_t>(hash); }
  static std::uint32_t fragment_of(std::uint64_t slot) { return static_cast<std::uint32_t>(slot >> 32); }
  static std::uint32_t position_of(std::uint64_t slot) { return static_cast<std::uint32_t>(slot) - 1; }

  // Tables grow fourfold up to kQuadrupleBelow slots, then twofold. Each
  // growth moves every entry (rehash), and growing fourfold moves an entry
  // about half as often over a table's life (tables sized up front for
  // the whole stream decided a 200,000-event festival 4-13 % faster). The
  // price is a table that is an eighth full just after growing; below the
  // bound that wastes at most 6 MiB of a table, above it memory matters
  // more.
  void grow() {
    const std::size_t n = slots_.size();
    rehash(n == 0 ? kFirstSlots : n * (n < kQuadrupleBelow ? 4 : 2));
  }

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
  // No move writes a slot that has yet to move, either, so the occupied
  // slots of a group of kGroup are read at once into a bit mask, and only
  // they are visited: testing each slot for emptiness was a branch taken at
  // random, about a third of the cost of growing.
  void rehash(std::size_t slots) {
    const std::size_t old_size = slots_.size();
    slots_.extend(slots);
    mask_ = slots - 1;
    if (old_size == 0) return;
    // Locals: the slots are of mask_'s type, so a store to one could
    // change it, for all the compiler knows.
    std::uint64_t* const at = &slots_[0];
    const std::size_t mask = mask_;
    std::size_t start = 0;
    while (at[start] != 0) ++start;  // there is one: the load is at most 1/2
    std::size_t i = (start + 1) & (old_size - 1);
    for (std::size_t left = old_size; left > 0;) {
      const std::size_t n = std::min(kGroup - (i & (kGroup - 1)), left);
      std::uint32_t full = 0;
      for (std::size_t b = 0; b < n; ++b) full |= static_cast<std::uint32_t>(at[i + b] != 0) << b;
      for (; full != 0; full &= full - 1) {
        const std::size_t from = i + static_cast<std::size_t>(std::countr_zero(full));
        const std::uint64_t s = at[from];
        at[from] = 0;
        std::size_t j = fragment_of(s) & mask;
        while (at[j] != 0) j = (j + 1) & mask;
        at[j] = s;
      }
      i = (i + n) & (old_size - 1);
      left -= n;
    }
  }

  // The slots, all-zero (empty) when allocated. A large table is a fresh
  // anonymous mapping, which the kernel zeroes as it is first touched:
  // filling it with empty slots as well cost a pass over the whole table per
  // growth, about 7 % of deciding a million-event festival.
  class Slots {
   public:
    Slots() = default;
    explicit Slots(std::size_t n) : data_(static_cast<std::uint64_t*>(allocate_large(n * kBytes))), size_(n) {
      if (n * kBytes < kHugeThresholdBytes) std::memset(data_, 0, n * kBytes);
    }
    Slots(Slots&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
    Slots& operator=(Slots&& o) noexcept {
      std::swap(data_, o.data_);
      std::swap(size_, o.size_);
      return *this;
    }
    ~Slots() { deallocate_large(data_, size_ * kBytes); }
    // Grows to n slots, keeping the first size() and zeroing the rest.
    void extend(std::size_t n) {
      const std::size_t bytes = size_ * kBytes;
      if (bytes >= kHugeThresholdBytes) {
        if (void* p = extend_large(data_, bytes, n * kBytes)) {
          data_ = static_cast<std::uint64_t*>(p);
          size_ = n;
          return;
        }
      }
      Slots bigger(n);
      if (bytes > 0) std::memcpy(bigger.data_, data_, bytes);
      *this = std::move(bigger);  // the old slots go with `bigger`
    }
    std::uint64_t& operator[](std::size_t i) { return data_[i]; }
    const std::uint64_t& operator[](std::size_t i) const { return data_[i]; }
    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }

   private:
    static constexpr std::size_t kBytes = sizeof(std::uint64_t);
    std::uint64_t* data_ = nullptr;
    std::size_t size_ = 0;
  };

  Slots slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

}  // namespace dangol
