#pragma once
// An index from string ids to dense values (coupon positions, interned
// indexes), by their hashes in a PositionIndex (hash_index.h). A lookup
// probes one flat table; absl's map of string_views probed control bytes,
// then a slot, then the key's characters elsewhere: three cache misses per
// lookup in a million-coupon state, the largest cost of deciding a claim.
//
// The table does not keep the ids: on a fragment match the caller's
// `name_of(value)` gives the id stored with the value (in the coupon, in
// the interned names), and it is compared, so a collision of hashes never
// maps one id to another's value.

#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>

#include "engine/hash_index.h"
#include "engine/state_keys.h"
#include "engine/unaligned.h"

namespace dangol {

// XXH3-128 of an id (content_hash.cc).
EventIdKey event_id_key(std::string_view event_id);
// XXH3-64 of an id (content_hash.cc): the interned names' key, shorter to
// compute than the 128-bit one, of which the index uses 64 bits anyway.
std::uint64_t id_hash(std::string_view id);

// a == b, for ids: most are 4 to 32 bytes, compared here in two
// overlapping loads each instead of a call to memcmp.
inline bool same_id(std::string_view a, std::string_view b) {
  const std::size_t n = a.size();
  if (n != b.size()) return false;
  const auto same_ends = [&]<class Word>(Word) {
    return load_unaligned<Word>(a.data()) == load_unaligned<Word>(b.data()) &&
           load_unaligned<Word>(a.data() + n - sizeof(Word)) == load_unaligned<Word>(b.data() + n - sizeof(Word));
  };
  if (n > 16 && n <= 32) return same_ends(static_cast<unsigned __int128>(0));
  if (n >= 8 && n <= 16) return same_ends(std::uint64_t{});
  if (n >= 4 && n < 8) return same_ends(std::uint32_t{});
  return a == b;
}

// The hash an IdIndex keys an id by: XXH3-64 (IdHash), or the low half of
// XXH3-128 for coupon ids, whose key is often the event id's (CouponIdHash).
struct IdHash {
  std::uint64_t operator()(std::string_view id) const { return id_hash(id); }
};
struct CouponIdHash {
  std::uint64_t operator()(std::string_view id) const { return event_id_key(id).low; }
};

// Values are positions in the caller's sequence (coupons, interned names).
template <class Hash = IdHash>
class IdIndex {
  static_assert(std::is_same_v<decltype(Hash{}(std::string_view())), std::uint64_t>);

 public:
  // The position of `id`, if indexed. name_of(std::uint32_t) -> std::string_view.
  template <class NameOf>
  std::optional<std::uint32_t> find(std::string_view id, const NameOf& name_of) const {
    return find(Hash{}(id), id, name_of);
  }
  // The same, with the id's key already computed (key == Hash{}(id)): an
  // event's id is its coupon's id, and both are looked up.
  template <class NameOf>
  std::optional<std::uint32_t> find(std::uint64_t key, std::string_view id, const NameOf& name_of) const {
    const std::uint32_t p = index_.find(key, [&](std::uint32_t q) { return same_id(name_of(q), id); });
    if (p == PositionIndex::kNone) return std::nullopt;
    return p;
  }

  // Indexes id -> position unless id is indexed already (then false).
  template <class NameOf>
  bool insert(std::string_view id, std::uint32_t position, const NameOf& name_of) {
    return insert(Hash{}(id), id, position, name_of);
  }
  template <class NameOf>
  bool insert(std::uint64_t key, std::string_view id, std::uint32_t position, const NameOf& name_of) {
    return index_.insert(key, position, [&](std::uint32_t q) { return same_id(name_of(q), id); }).second;
  }

  // Hints that the id whose key is `key` will be looked up soon
  // (Engine::decide_batch).
  void prefetch(std::uint64_t key) const { index_.prefetch(key); }
  void reserve(std::size_t n) { index_.reserve(n); }
  std::size_t size() const { return index_.size(); }

 private:
  PositionIndex index_;
};

}  // namespace dangol
