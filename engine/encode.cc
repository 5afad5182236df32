#include "engine/encode.h"

#include <algorithm>

#include "engine/assert.h"
#include "engine/engine.h"

namespace dangol {
namespace {

using FunderAmounts = google::protobuf::RepeatedPtrField<v1::FunderAmount>;

class Encoder {
 public:
  Encoder(const State& s, v1::Decision* out) : s_(s), out_(out) {}

  void effect(const EffectRecord& r) {
    v1::Effect* e = out_->add_effects();
    switch (r.kind) {
      case EffectKind::kBudgetSet: {
        auto* b = e->mutable_budget_set();
        b->set_campaign_id(campaign(r).campaign_id);
        b->set_funder_id(funder_id(r));
        b->set_budget(r.amount);
        break;
      }
      case EffectKind::kBudgetAdjusted: {
        auto* b = e->mutable_budget_adjusted();
        b->set_campaign_id(campaign(r).campaign_id);
        b->set_funder_id(funder_id(r));
        b->set_delta(r.amount);
        break;
      }
      case EffectKind::kCouponGranted: coupon_granted(r, e->mutable_coupon_granted()); break;
      case EffectKind::kGrantRejected: {
        auto* g = e->mutable_grant_rejected();
        g->set_campaign_id(campaign(r).campaign_id);
        std::string_view reason = reason_name(r.reason);
        g->set_reason(reason.data(), reason.size());
        break;
      }
      case EffectKind::kRedemptionSettled: redemption_settled(r, e->mutable_redemption_settled()); break;
      case EffectKind::kReservationReleased: reservation_released(r, e->mutable_reservation_released()); break;
      case EffectKind::kRedemptionReversed: redemption_reversed(r, e->mutable_redemption_reversed()); break;
      case EffectKind::kMessageCashGranted: {
        auto* g = e->mutable_message_cash_granted();
        g->set_campaign_id(campaign(r).campaign_id);
        if (r.merchant.valid()) g->set_merchant_id(merchant(r.merchant));
        g->set_amount(r.amount);
        split(campaign(r), r.parts, g->mutable_split());
        break;
      }
      case EffectKind::kMessageCharged: {
        auto* c = e->mutable_message_charged();
        if (r.campaign.valid()) c->set_campaign_id(campaign(r).campaign_id);
        if (r.merchant.valid()) c->set_merchant_id(merchant(r.merchant));
        c->set_amount(r.amount);
        if (r.campaign.valid()) split(campaign(r), r.parts, c->mutable_split());
        break;
      }
      case EffectKind::kThresholdCrossed: {
        auto* x = e->mutable_threshold_crossed();
        x->set_campaign_id(campaign(r).campaign_id);
        x->set_funder_id(funder_id(r));
        x->set_bps(static_cast<std::int32_t>(r.amount));
        break;
      }
    }
  }

 private:
  const Campaign& campaign(const EffectRecord& r) const { return s_.campaigns[r.campaign.value]; }
  const Coupon& coupon(const EffectRecord& r) const { return s_.coupons[r.coupon.value]; }
  const std::string& funder_id(const EffectRecord& r) const {
    return campaign(r).funders[static_cast<std::size_t>(r.funder)].funder_id;
  }
  const std::string& merchant(MerchantIdx m) const {
    static const std::string kNone;
    return m.valid() ? s_.merchant_ids.name(m) : kNone;
  }

  static void split(const Campaign& c, const Parts& parts, FunderAmounts* out) {
    DANGOL_ASSERT(parts.size == c.funders.size(), "split size differs from funder count");
    out->Reserve(static_cast<int>(c.funders.size()));
    for (std::size_t i = 0; i < c.funders.size(); ++i) {
      auto* fa = out->Add();
      fa->set_funder_id(c.funders[i].funder_id);
      fa->set_amount(parts[i]);
    }
  }

  void coupon_granted(const EffectRecord& r, v1::CouponGranted* g) const {
    const Coupon& k = coupon(r);
    g->set_coupon_id(k.coupon_id);
    g->set_campaign_id(campaign(r).campaign_id);
    if (k.merchant.valid()) g->set_merchant_id(merchant(k.merchant));
    g->set_customer_id(s_.customer_ids.name(k.customer));
    g->set_reserved(r.amount);
    g->mutable_expires_at()->set_seconds(k.expires_at.seconds_floor());
    g->mutable_expires_at()->set_nanos(k.expires_at.subsecond_nanos());
    split(campaign(r), r.parts, g->mutable_split());
  }

  void redemption_settled(const EffectRecord& r, v1::RedemptionSettled* x) const {
    x->set_coupon_id(coupon(r).coupon_id);
    x->set_campaign_id(campaign(r).campaign_id);
    if (r.merchant.valid()) x->set_merchant_id(merchant(r.merchant));
    x->set_order_amount(r.order_amount);
    x->set_discount(r.amount);
    split(campaign(r), r.parts, x->mutable_split());
    x->set_released(r.other_parts.sum());
    split(campaign(r), r.other_parts, x->mutable_released_split());
  }

  void reservation_released(const EffectRecord& r, v1::ReservationReleased* x) const {
    if (r.coupon.valid()) x->set_coupon_id(coupon(r).coupon_id);
    x->set_campaign_id(campaign(r).campaign_id);
    if (r.merchant.valid()) x->set_merchant_id(merchant(r.merchant));
    x->set_amount(r.amount);
    split(campaign(r), r.parts, x->mutable_split());
    switch (r.cause) {
      case ReleaseCause::kExpired: x->set_cause(v1::ReservationReleased::EXPIRED); break;
      case ReleaseCause::kClosed: x->set_cause(v1::ReservationReleased::CLOSED); break;
      case ReleaseCause::kVoided: x->set_cause(v1::ReservationReleased::VOIDED); break;
    }
  }

  void redemption_reversed(const EffectRecord& r, v1::RedemptionReversedEffect* x) const {
    x->set_coupon_id(coupon(r).coupon_id);
    x->set_campaign_id(campaign(r).campaign_id);
    x->set_restored(r.restored);
    split(campaign(r), r.parts, x->mutable_spent_returned());
    split(campaign(r), r.other_parts, x->mutable_re_reserved());
  }

  const State& s_;
  v1::Decision* out_;
};

v1::Decision::Outcome wire_outcome(Outcome o) {
  switch (o) {
    case Outcome::kApplied: return v1::Decision::APPLIED;
    case Outcome::kRejected: return v1::Decision::REJECTED;
    case Outcome::kDuplicate: return v1::Decision::DUPLICATE;
    case Outcome::kInvalid: return v1::Decision::INVALID;
  }
  return v1::Decision::INVALID;
}

}  // namespace

void encode_decision(const State& state, const Verdict& verdict, const v1::Envelope& in, const Position& position,
                     v1::Decision* out) {
  out->Clear();
  // Echo the event id even when it is broken, bounded so a hostile id cannot
  // blow up the decision.
  out->set_event_id(in.event_id().data(), std::min<std::size_t>(in.event_id().size(), 256));
  out->set_shard(state.shard);
  out->set_seq(verdict.seq);
  out->set_partition(position.partition);
  out->set_offset(position.offset);
  if (in.has_occurred_at()) {
    // Field by field: a message assignment goes through MergeFrom, which
    // costs more than the rest of a typical decision.
    out->mutable_occurred_at()->set_seconds(in.occurred_at().seconds());
    out->mutable_occurred_at()->set_nanos(in.occurred_at().nanos());
  }
  out->set_outcome(wire_outcome(verdict.outcome));
  // Empty strings are proto3 defaults, not serialized: setting them would
  // only allocate an arena string for each (most decisions have neither).
  std::string_view reason = reason_name(verdict.reason);
  if (!reason.empty()) out->set_reason(reason.data(), reason.size());
  if (!verdict.detail.empty()) out->set_detail(verdict.detail);
  Encoder encoder(state, out);
  for (const EffectRecord& r : verdict.effects) encoder.effect(r);
}

}  // namespace dangol
