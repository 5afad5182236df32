#pragma once
// Keys shared by the state tables.

#include <cstdint>
#include <utility>

namespace dangol {

// A 128-bit hash of an id (XXH3-128), used where the id itself need not be
// kept: collisions are 1 in 2^128 per pair.
struct EventIdKey {
  std::uint64_t high = 0, low = 0;
  bool operator==(const EventIdKey&) const = default;
  template <class H>
  friend H AbslHashValue(H h, const EventIdKey& k) {
    return H::combine(std::move(h), k.high, k.low);
  }
};

}  // namespace dangol
