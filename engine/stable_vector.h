#pragma once
// An append-only sequence whose elements never move, stored in large chunks
// (huge-page backed, see huge_pages.h). The engine keys hash maps on views
// into elements (coupon ids, interned names), so elements must stay put; a
// std::deque would too, but in 512-byte nodes that cost a page fault and a
// TLB entry per handful of coupons.
//
// A chunk holds a power of two of elements, so that finding one takes a
// shift and a mask (a division by 23,831, the coupons per 2 MiB, took a
// multiplication and several more instructions, on every coupon and name
// looked up), and fills whole huge pages: the fewest elements whose bytes
// are a multiple of 2 MiB, such as 2^18 coupons of 88 bytes in 22 MiB. Only
// the pages written to are ever faulted in, so a chunk's size costs address
// space, not memory.

#include <algorithm>
#include <bit>
#include <cstddef>
#include <memory>
#include <new>
#include <numeric>
#include <utility>
#include <vector>

#include "engine/huge_pages.h"

namespace dangol {

template <class T, std::size_t kChunkElements = kHugePageBytes / std::gcd(sizeof(T), kHugePageBytes)>
class StableVector {
  static_assert(std::has_single_bit(kChunkElements));

 public:
  StableVector() = default;
  StableVector(const StableVector&) = delete;
  StableVector& operator=(const StableVector&) = delete;
  ~StableVector() { clear(); }

  template <class... Args>
  T& emplace_back(Args&&... args) {
    if (size_ == chunks_.size() * kChunkElements) {
      chunks_.push_back(static_cast<T*>(allocate_large(kChunkElements * sizeof(T))));
    }
    T* slot = chunks_.back() + size_ % kChunkElements;
    ::new (static_cast<void*>(slot)) T(std::forward<Args>(args)...);
    ++size_;
    return *slot;
  }

  T& operator[](std::size_t i) { return chunks_[i / kChunkElements][i % kChunkElements]; }
  const T& operator[](std::size_t i) const { return chunks_[i / kChunkElements][i % kChunkElements]; }
  T& back() { return (*this)[size_ - 1]; }
  const T& back() const { return (*this)[size_ - 1]; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Forward iteration in insertion order.
  template <class V, class Owner>
  class Iter {
   public:
    Iter(Owner* v, std::size_t i) : v_(v), i_(i) {}
    V& operator*() const { return (*v_)[i_]; }
    V* operator->() const { return &(*v_)[i_]; }
    Iter& operator++() {
      ++i_;
      return *this;
    }
    bool operator==(const Iter& o) const { return i_ == o.i_; }

   private:
    Owner* v_;
    std::size_t i_;
  };
  auto begin() const { return Iter<const T, const StableVector>(this, 0); }
  auto end() const { return Iter<const T, const StableVector>(this, size_); }

  // f(pointer, count) for the elements [from, size()) in order, as runs
  // that are contiguous in memory: one per chunk they reach into.
  template <class F>
  void for_each_run(std::size_t from, F&& f) const {
    while (from < size_) {
      const std::size_t in_chunk = from % kChunkElements;
      const std::size_t n = std::min(kChunkElements - in_chunk, size_ - from);
      f(static_cast<const T*>(chunks_[from / kChunkElements] + in_chunk), n);
      from += n;
    }
  }

  void clear() {
    for (std::size_t i = 0; i < size_; ++i) (*this)[i].~T();
    for (T* chunk : chunks_) deallocate_large(chunk, kChunkElements * sizeof(T));
    chunks_.clear();
    size_ = 0;
  }

 private:
  std::vector<T*> chunks_;
  std::size_t size_ = 0;
};

}  // namespace dangol
