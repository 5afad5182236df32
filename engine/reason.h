#pragma once
// Business rejection reasons (DESIGN §3). A rejection is data, never an error
// (STYLE habit 2). Numbers are stable: append, never renumber (habit 8).

#include <cstdint>
#include <optional>
#include <string_view>

namespace dangol {

#define DANGOL_REASONS(X)      \
  X(kNone, "")                 \
  X(kInvalidEvent, "INVALID_EVENT")              \
  X(kEventIdConflict, "EVENT_ID_CONFLICT")       \
  X(kMerchantExists, "MERCHANT_EXISTS")          \
  X(kMerchantNotEnrolled, "MERCHANT_NOT_ENROLLED") \
  X(kChannelExists, "CHANNEL_EXISTS")            \
  X(kNoChannel, "NO_CHANNEL")                    \
  X(kAlreadyFriend, "ALREADY_FRIEND")            \
  X(kNotFriend, "NOT_FRIEND")                    \
  X(kCampaignExists, "CAMPAIGN_EXISTS")          \
  X(kCampaignClosed, "CAMPAIGN_CLOSED")          \
  X(kUnknownCampaign, "UNKNOWN_CAMPAIGN")        \
  X(kUnknownFunder, "UNKNOWN_FUNDER")            \
  X(kInsufficientAvailable, "INSUFFICIENT_AVAILABLE") \
  X(kWrongTrigger, "WRONG_TRIGGER")              \
  X(kCampaignNotActive, "CAMPAIGN_NOT_ACTIVE")   \
  X(kMerchantNotEligible, "MERCHANT_NOT_ELIGIBLE") \
  X(kAlreadyWelcomed, "ALREADY_WELCOMED")        \
  X(kCustomerLimit, "CUSTOMER_LIMIT")            \
  X(kMerchantCountLimit, "MERCHANT_COUNT_LIMIT") \
  X(kTotalCountLimit, "TOTAL_COUNT_LIMIT")       \
  X(kMerchantAmountLimit, "MERCHANT_AMOUNT_LIMIT") \
  X(kDailyAmountLimit, "DAILY_AMOUNT_LIMIT")     \
  X(kBudgetExhausted, "BUDGET_EXHAUSTED")        \
  X(kCouponExists, "COUPON_EXISTS")              \
  X(kUnknownCoupon, "UNKNOWN_COUPON")            \
  X(kExpired, "EXPIRED")                         \
  X(kCouponNotActive, "COUPON_NOT_ACTIVE")       \
  X(kWrongMerchant, "WRONG_MERCHANT")            \
  X(kBelowMinOrder, "BELOW_MIN_ORDER")           \
  X(kDiscountMismatch, "DISCOUNT_MISMATCH")      \
  X(kCouponNotRedeemed, "COUPON_NOT_REDEEMED")

enum class Reason : std::uint8_t {
#define DANGOL_REASON_ENUM(name, text) name,
  DANGOL_REASONS(DANGOL_REASON_ENUM)
#undef DANGOL_REASON_ENUM
  kCount
};

inline constexpr std::string_view reason_name(Reason r) {
  switch (r) {
#define DANGOL_REASON_NAME(name, text) \
  case Reason::name:                   \
    return text;
    DANGOL_REASONS(DANGOL_REASON_NAME)
#undef DANGOL_REASON_NAME
    case Reason::kCount:
      break;
  }
  return "";
}

std::optional<Reason> reason_from_name(std::string_view name);

}  // namespace dangol
