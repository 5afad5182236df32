#pragma once
// What the core decides for one event, in domain terms: an outcome, a
// reason, and compact effect records that name campaigns, coupons and
// merchants by their interned index. encode.cc turns a Verdict into the wire
// Decision at the boundary (STYLE habit 4); names are append-only in the
// state, so a Verdict can be encoded any time after it was decided.

#include <cstdint>
#include <string>
#include <vector>

#include "engine/reason.h"
#include "engine/split.h"
#include "engine/types.h"

namespace dangol {

enum class Outcome : std::uint8_t { kApplied = 0, kRejected = 1, kDuplicate = 2, kInvalid = 3 };

enum class EffectKind : std::uint8_t {
  kBudgetSet,
  kBudgetAdjusted,
  kCouponGranted,
  kGrantRejected,
  kRedemptionSettled,
  kReservationReleased,
  kRedemptionReversed,
  kMessageCashGranted,
  kMessageCharged,
  kThresholdCrossed,
};

enum class ReleaseCause : std::uint8_t { kExpired = 1, kClosed = 2, kVoided = 3 };

// One effect of CONTRACT §3. Which fields mean what depends on `kind`:
//   budgetSet / budgetAdjusted: funder, amount (budget or delta)
//   couponGranted: coupon, amount (reserved), parts (split)
//   grantRejected: reason
//   redemptionSettled: coupon, merchant (where redeemed), order_amount,
//       amount (discount), parts (split), other_parts (releasedSplit)
//   reservationReleased: coupon (or none for message cash), merchant,
//       amount, parts, cause
//   redemptionReversed: coupon, restored, parts (spentReturned),
//       other_parts (reReserved)
//   messageCashGranted / messageCharged: merchant, amount, parts; a merchant
//       -paid charge has no campaign
//   thresholdCrossed: funder, amount (bps)
struct EffectRecord {
  EffectKind kind = EffectKind::kBudgetSet;
  Reason reason = Reason::kNone;
  ReleaseCause cause = ReleaseCause::kExpired;
  bool restored = false;
  std::int32_t funder = -1;
  CampaignIdx campaign;
  CouponIdx coupon;
  MerchantIdx merchant;
  std::int64_t amount = 0;
  std::int64_t order_amount = 0;
  Parts parts, other_parts;
};

// CONTRACT §3 "Parts": a decision record carries at most this many effects,
// so that every record fits a broker's default message limit (1 MiB) in
// either format; a decision with more is published as several records, its
// parts, with consecutive seqs.
inline constexpr std::size_t kMaxEffectsPerPart = 256;

struct Verdict {
  std::int64_t seq = 0;  // of the first part
  Outcome outcome = Outcome::kApplied;
  Reason reason = Reason::kNone;
  std::string detail;
  std::vector<EffectRecord> effects;

  // The records the decision is published as: 1 up to kMaxEffectsPerPart
  // effects. Part k (0-based) has seq `seq + k` and effects
  // [k·kMaxEffectsPerPart, (k+1)·kMaxEffectsPerPart).
  std::int64_t parts() const {
    return effects.size() <= kMaxEffectsPerPart
               ? 1
               : static_cast<std::int64_t>((effects.size() + kMaxEffectsPerPart - 1) / kMaxEffectsPerPart);
  }

  void reset(std::int64_t next_seq) {
    seq = next_seq;
    outcome = Outcome::kApplied;
    reason = Reason::kNone;
    detail.clear();
    effects.clear();  // keeps capacity: no allocation in steady state
  }
};

}  // namespace dangol
