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

// The hashed ids of an event, as deciding it looks them up and its content
// hash takes them: the event id; the coupon id that a couponIssued names (or
// its event id), a couponRedeemed or a redemptionReversed; the customer of a
// couponIssued or a channelAdded; the merchant of a couponIssued that names
// one, a couponRedeemed or a redemptionReversed. Keys an event does not name
// are unspecified.
struct IdKeys {
  EventIdKey event, coupon;          // event_id_key (the coupon's is often the event's)
  std::uint64_t customer, merchant;  // id_hash
};

}  // namespace dangol
