#pragma once
// Strong types for money, time and interned ids (STYLE habit 3). Money is
// int64 minor units; every operation that could overflow is checked.

#include <compare>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>

namespace dangol {

// Largest amount an event may carry (CONTRACT §1: amounts are 0…10^15).
inline constexpr std::int64_t kMaxAmount = 1'000'000'000'000'000;
inline constexpr std::int32_t kBpsWhole = 10'000;

// Minor units of the campaign currency (KRW has none).
class Money {
 public:
  constexpr Money() = default;
  constexpr explicit Money(std::int64_t minor) : minor_(minor) {}
  constexpr std::int64_t minor() const { return minor_; }
  constexpr auto operator<=>(const Money&) const = default;

  // Checked arithmetic: nullopt on int64 overflow.
  std::optional<Money> checked_add(Money other) const {
    std::int64_t r;
    if (__builtin_add_overflow(minor_, other.minor_, &r)) return std::nullopt;
    return Money(r);
  }
  std::optional<Money> checked_sub(Money other) const {
    std::int64_t r;
    if (__builtin_sub_overflow(minor_, other.minor_, &r)) return std::nullopt;
    return Money(r);
  }

 private:
  std::int64_t minor_ = 0;
};

// A point in time as nanoseconds since the Unix epoch. Inside the engine
// time only ever comes from events (DESIGN §2).
class Instant {
 public:
  static constexpr std::int64_t kNanosPerSecond = 1'000'000'000;
  constexpr Instant() = default;
  static constexpr Instant from_nanos(std::int64_t n) { return Instant(n); }
  constexpr std::int64_t nanos() const { return nanos_; }
  constexpr std::int64_t seconds_floor() const {
    return nanos_ >= 0 ? nanos_ / kNanosPerSecond : -((-nanos_ + kNanosPerSecond - 1) / kNanosPerSecond);
  }
  constexpr std::int32_t subsecond_nanos() const {
    return static_cast<std::int32_t>(nanos_ - seconds_floor() * kNanosPerSecond);
  }
  constexpr auto operator<=>(const Instant&) const = default;

  // Checked: nullopt when the result leaves the int64 nanosecond range.
  std::optional<Instant> plus_seconds(std::int64_t s) const {
    std::int64_t delta, r;
    if (__builtin_mul_overflow(s, kNanosPerSecond, &delta)) return std::nullopt;
    if (__builtin_add_overflow(nanos_, delta, &r)) return std::nullopt;
    return Instant(r);
  }

 private:
  constexpr explicit Instant(std::int64_t n) : nanos_(n) {}
  std::int64_t nanos_ = 0;
};

// Dense index of an interned id (campaign, merchant, customer, market, …).
// The tag keeps a merchant index from being passed where a customer index
// belongs.
template <class Tag>
struct Index {
  static constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
  std::uint32_t value = kNone;
  constexpr bool valid() const { return value != kNone; }
  constexpr auto operator<=>(const Index&) const = default;
  template <class H>
  friend H AbslHashValue(H h, Index i) {
    return H::combine(std::move(h), i.value);
  }
};

using CampaignIdx = Index<struct CampaignTag>;
using MerchantIdx = Index<struct MerchantTag>;
using CustomerIdx = Index<struct CustomerTag>;
using MarketIdx = Index<struct MarketTag>;
using CategoryIdx = Index<struct CategoryTag>;
using CouponIdx = Index<struct CouponTag>;

}  // namespace dangol
