#pragma once
// Domain events: the validated, plain form of an Envelope (STYLE habit 4).
// Strings are views into the Envelope they were decoded from, which must
// outlive the Event.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/types.h"

namespace dangol {

inline constexpr std::size_t kMaxFunders = 8;
inline constexpr std::size_t kMaxEligibilityEntries = 10'000;
inline constexpr std::size_t kMaxThresholds = 16;
inline constexpr std::int64_t kDefaultGraceSeconds = 86'400;
inline constexpr std::int32_t kMaxValidDays = 3'660;
inline constexpr std::int64_t kMaxGraceSeconds = 366LL * 86'400;

enum class Trigger : std::uint8_t { kChannelAdded = 1, kIssued = 2 };
enum class CampaignStatus : std::uint8_t { kActive = 1, kPaused = 2, kClosed = 3 };

struct FunderDef {
  std::string_view funder_id;
  Money budget;
  std::int32_t share_bps = 0;
};

struct OfferTerms {
  Money fixed_amount;       // > 0 for a fixed offer
  std::int32_t percent_bps = 0;  // > 0 for a percent offer
  Money max_discount;       // cap of a percent offer
  Money min_order_amount;
  std::int32_t valid_days = 0;
  // What a grant reserves: the fixed amount, or the cap of a percent offer.
  Money reservation() const { return percent_bps > 0 ? max_discount : fixed_amount; }
};

struct LimitTerms {  // 0 means unlimited
  std::int64_t per_customer = 0;
  std::int64_t per_merchant_count = 0;
  std::int64_t total_count = 0;
  Money per_merchant_amount;
  Money daily_amount;
};

struct CampaignDefinedEvent {
  std::string_view campaign_id, name, currency;
  Instant starts_at, ends_at;
  std::int32_t utc_offset_minutes = 0;
  std::vector<FunderDef> funders;
  std::vector<std::string_view> market_ids, merchant_ids, categories;
  Trigger trigger = Trigger::kIssued;
  OfferTerms offer;
  LimitTerms limits;
  Money message_cash_per_merchant;  // 0: no message cash
  std::int64_t grace_seconds = kDefaultGraceSeconds;
  std::vector<std::int32_t> thresholds_bps;  // ascending, never empty
};

struct BudgetAdjustedEvent {
  std::string_view campaign_id, funder_id;
  Money delta;
};

struct CampaignStatusChangedEvent {
  std::string_view campaign_id;
  CampaignStatus status = CampaignStatus::kActive;
};

struct MerchantEnrolledEvent {
  std::string_view merchant_id, market_id, category;
};

struct ChannelOpenedEvent {
  std::string_view merchant_id, channel_id;
};

struct ChannelAddedEvent {
  std::string_view merchant_id, customer_id;
};

struct ChannelBlockedEvent {
  std::string_view merchant_id, customer_id;
};

struct CouponIssuedEvent {
  std::string_view campaign_id, customer_id;
  std::optional<std::string_view> merchant_id, coupon_id;
};

struct CouponRedeemedEvent {
  std::string_view coupon_id, merchant_id;
  Money order_amount;
  std::optional<Money> discount;
};

struct RedemptionReversedEvent {
  std::string_view coupon_id, merchant_id;
};

struct MessageSentEvent {
  std::string_view merchant_id;
  std::int64_t recipients = 0;
  Money unit_cost;
  Money cost;  // recipients × unit_cost, checked at decode
};

using Payload = std::variant<CampaignDefinedEvent, BudgetAdjustedEvent, CampaignStatusChangedEvent,
                             MerchantEnrolledEvent, ChannelOpenedEvent, ChannelAddedEvent,
                             ChannelBlockedEvent, CouponIssuedEvent, CouponRedeemedEvent,
                             RedemptionReversedEvent, MessageSentEvent>;

struct Event {
  std::string_view event_id;
  Instant occurred_at;
  Payload payload;
};

}  // namespace dangol
