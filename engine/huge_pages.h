#pragma once
// Memory for the engine's large tables, backed by transparent huge pages
// where the kernel offers them on request (THP mode "madvise", Debian's
// default). A million-coupon state spans hundreds of MiB; with 4 KiB pages
// the first touch of each page costs a fault (expensive under
// virtualisation) and lookups miss the TLB. Measured on the festival
// benchmark: about 30 % more events/s at a million events.
//
// Small requests go to malloc as usual; blocks of at least
// kHugeThresholdBytes get a mapping of their own, aligned to and sized in
// whole huge pages. Alignment matters: the kernel backs only the 2 MiB-aligned
// part of a mapping with huge pages and the fringes with 4 KiB pages, and a
// 4 KiB fault costs about 12 us on the virtual machines we measured on (one
// 2 MiB fault about 150 us). Growing a table to 200,000 entries cost 140 ns
// per insert with unaligned mappings and a 1 MiB threshold, 35 ns with both
// fixed; the rounding wastes at most one huge page per table, and only once
// the table is touched there.
//
// Only blocks that stay put or grow in place belong here: the hash tables'
// slots (extend_large) and StableVector's chunks. A container that grows by
// moving to a larger block (std::vector, absl's tables) is better served by
// malloc (jemalloc, with huge pages: services/malloc): on a mapping of its
// own, each growth step below 2 MiB faulted in and zeroed a whole huge page
// of which it used a fraction (the expiry queue's runs and the grant
// counts were allocated here before; docs/performance.md, "Memory stalls
// dominate at scale").

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace dangol {

inline constexpr std::size_t kHugeThresholdBytes = 64 << 10;
inline constexpr std::size_t kHugePageBytes = 2 << 20;

// The length of the mapping that holds a block of `bytes`.
inline constexpr std::size_t mapped_bytes(std::size_t bytes) {
  return (bytes + kHugePageBytes - 1) & ~(kHugePageBytes - 1);
}

inline void* allocate_large(std::size_t bytes) {
  if (bytes < kHugeThresholdBytes) {
    void* p = std::malloc(bytes);
    if (p == nullptr) throw std::bad_alloc();
    return p;
  }
  // Map one huge page more than needed and give back the unaligned head and
  // the tail.
  const std::size_t length = mapped_bytes(bytes);
  void* raw = ::mmap(nullptr, length + kHugePageBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const auto begin = reinterpret_cast<std::uintptr_t>(raw);
  const auto aligned = (begin + kHugePageBytes - 1) & ~(kHugePageBytes - 1);
  if (aligned > begin) ::munmap(raw, aligned - begin);
  const std::size_t tail = begin + kHugePageBytes - aligned;
  if (tail > 0) ::munmap(reinterpret_cast<void*>(aligned + length), tail);
  void* p = reinterpret_cast<void*>(aligned);
  // Advice only: without THP the mapping works with ordinary pages.
  (void)::madvise(p, length, MADV_HUGEPAGE);
  return p;
}

inline void deallocate_large(void* p, std::size_t bytes) {
  if (p == nullptr) return;
  if (bytes < kHugeThresholdBytes) {
    std::free(p);
  } else {
    ::munmap(p, mapped_bytes(bytes));
  }
}

// Grows a block from allocate_large(old_bytes), old_bytes at least
// kHugeThresholdBytes, to new_bytes without copying: the kernel moves its
// pages (page tables only) or extends the mapping in place, so growing a
// table touches only its new part and the pages it had stay warm. Its
// contents are kept and the bytes past old_bytes are zero (the block's
// rounding slack must never have been written). Returns the block, or
// nullptr, leaving the block as it was, if the kernel refused.
inline void* extend_large(void* p, std::size_t old_bytes, std::size_t new_bytes) {
  const std::size_t old_length = mapped_bytes(old_bytes), new_length = mapped_bytes(new_bytes);
  if (new_length <= old_length) return p;
  if (::mremap(p, old_length, new_length, 0) != MAP_FAILED) return p;  // the address space after it was free
  void* q = allocate_large(new_bytes);
  if (::mremap(p, old_length, old_length, MREMAP_MAYMOVE | MREMAP_FIXED, q) == MAP_FAILED) {
    deallocate_large(q, new_bytes);
    return nullptr;
  }
  return q;
}

}  // namespace dangol
