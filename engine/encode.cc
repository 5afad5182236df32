#include "engine/encode.h"

#include <algorithm>
#include <cstring>
#include <string_view>

#include <google/protobuf/io/coded_stream.h>

#include "engine/assert.h"
#include "engine/engine.h"

namespace dangol {
namespace {

using FunderAmounts = google::protobuf::RepeatedPtrField<v1::FunderAmount>;

v1::ReservationReleased::Cause wire_cause(ReleaseCause c) {
  switch (c) {
    case ReleaseCause::kExpired: return v1::ReservationReleased::EXPIRED;
    case ReleaseCause::kClosed: return v1::ReservationReleased::CLOSED;
    case ReleaseCause::kVoided: return v1::ReservationReleased::VOIDED;
  }
  return v1::ReservationReleased::CAUSE_UNSPECIFIED;
}

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
    x->set_cause(wire_cause(r.cause));
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

// Protobuf's wire format, written as generated code serializes proto3:
// fields in number order, scalars and strings only when not the default,
// and a message field whenever it is set, even empty. It writes through a
// cursor after what `out` holds, and cuts `out` to what was written when it
// goes.
class Wire {
 public:
  explicit Wire(std::string* out) : out_(out), used_(out->size()) {}
  ~Wire() { out_->resize(used_); }
  Wire(const Wire&) = delete;
  Wire& operator=(const Wire&) = delete;

  void int64(int field, std::int64_t v) {
    if (v == 0) return;
    char* p = room(2 * kMaxVarint);
    p = varint(p, tag(field, kVarint));
    used_ = static_cast<std::size_t>(varint(p, static_cast<std::uint64_t>(v)) - out_->data());
  }
  // Negative int32s are sign-extended to ten bytes, as protobuf does.
  void int32(int field, std::int32_t v) { int64(field, v); }
  void boolean(int field, bool v) { int64(field, v ? 1 : 0); }
  void string(int field, std::string_view v) {
    if (v.empty()) return;
    char* p = room(2 * kMaxVarint + v.size());
    p = varint(p, tag(field, kLengthDelimited));
    p = varint(p, v.size());
    std::memcpy(p, v.data(), v.size());
    used_ = static_cast<std::size_t>(p + v.size() - out_->data());
  }
  // A message field: body() writes its fields. Its length goes before it,
  // in one byte when it fits (nearly always), else the body is moved up.
  template <class Body>
  void message(int field, Body&& body) {
    char* p = room(kMaxVarint + 1);
    const std::size_t at = static_cast<std::size_t>(varint(p, tag(field, kLengthDelimited)) - out_->data());
    used_ = at + 1;
    body();
    const std::size_t size = used_ - at - 1;
    if (size < 0x80) {
      (*out_)[at] = static_cast<char>(size);
      return;
    }
    char bytes[kMaxVarint];
    const auto n = static_cast<std::size_t>(varint(bytes, size) - bytes);
    room(n - 1);
    std::memmove(out_->data() + at + n, out_->data() + at + 1, size);
    std::memcpy(out_->data() + at, bytes, n);
    used_ += n - 1;
  }

 private:
  static constexpr int kVarint = 0, kLengthDelimited = 2;
  static constexpr std::size_t kMaxVarint = 10;
  static std::uint64_t tag(int field, int type) {
    return static_cast<std::uint64_t>(field) << 3 | static_cast<std::uint64_t>(type);
  }
  static char* varint(char* p, std::uint64_t v) {
    using google::protobuf::io::CodedOutputStream;
    return reinterpret_cast<char*>(CodedOutputStream::WriteVarint64ToArray(v, reinterpret_cast<std::uint8_t*>(p)));
  }
  // Where the next `n` bytes go, with room for them. The room grows by a
  // little at a time, not with the size of `out` (resize() zeroes what it
  // adds, and campaignd appends a batch's decisions to one buffer); the
  // string's capacity still grows by doubling.
  char* room(std::size_t n) {
    if (used_ + n > out_->size()) out_->resize(used_ + n + kSlack);
    return out_->data() + used_;
  }
  static constexpr std::size_t kSlack = 512;

  std::string* out_;
  std::size_t used_;  // bytes of *out_ written; the rest is room
};

// Encoder's effects (above), written straight to the wire; field numbers as
// in proto/dangol.proto. The rule tests (engine_fixture.h, every decision)
// and EngineProperty.DirectWireEncodingEqualsTheMessage check that the two
// agree byte for byte.
class WireEncoder {
 public:
  WireEncoder(const State& s, Wire* w) : s_(s), w_(*w) {}

  void effect(const EffectRecord& r) {
    w_.message(10, [&] {  // Decision.effects
      switch (r.kind) {
        case EffectKind::kBudgetSet:
          return w_.message(1, [&] {
            w_.string(1, campaign(r).campaign_id);
            w_.string(2, funder_id(r));
            w_.int64(3, r.amount);
          });
        case EffectKind::kBudgetAdjusted:
          return w_.message(2, [&] {
            w_.string(1, campaign(r).campaign_id);
            w_.string(2, funder_id(r));
            w_.int64(3, r.amount);
          });
        case EffectKind::kCouponGranted: return w_.message(3, [&] { coupon_granted(r); });
        case EffectKind::kGrantRejected:
          return w_.message(4, [&] {
            w_.string(1, campaign(r).campaign_id);
            w_.string(2, reason_name(r.reason));
          });
        case EffectKind::kRedemptionSettled: return w_.message(5, [&] { redemption_settled(r); });
        case EffectKind::kReservationReleased: return w_.message(6, [&] { reservation_released(r); });
        case EffectKind::kRedemptionReversed: return w_.message(7, [&] { redemption_reversed(r); });
        case EffectKind::kMessageCashGranted:
          return w_.message(8, [&] {
            w_.string(1, campaign(r).campaign_id);
            w_.string(2, merchant(r.merchant));
            w_.int64(3, r.amount);
            split(4, campaign(r), r.parts);
          });
        case EffectKind::kMessageCharged:
          return w_.message(9, [&] {
            if (r.campaign.valid()) w_.string(1, campaign(r).campaign_id);
            w_.string(2, merchant(r.merchant));
            w_.int64(3, r.amount);
            if (r.campaign.valid()) split(4, campaign(r), r.parts);
          });
        case EffectKind::kThresholdCrossed:
          return w_.message(10, [&] {
            w_.string(1, campaign(r).campaign_id);
            w_.string(2, funder_id(r));
            w_.int32(3, static_cast<std::int32_t>(r.amount));
          });
      }
    });
  }

 private:
  const Campaign& campaign(const EffectRecord& r) const { return s_.campaigns[r.campaign.value]; }
  const Coupon& coupon(const EffectRecord& r) const { return s_.coupons[r.coupon.value]; }
  std::string_view funder_id(const EffectRecord& r) const {
    return campaign(r).funders[static_cast<std::size_t>(r.funder)].funder_id;
  }
  std::string_view merchant(MerchantIdx m) const { return m.valid() ? std::string_view(s_.merchant_ids.name(m)) : ""; }

  void split(int field, const Campaign& c, const Parts& parts) {
    DANGOL_ASSERT(parts.size == c.funders.size(), "split size differs from funder count");
    for (std::size_t i = 0; i < c.funders.size(); ++i) {
      w_.message(field, [&] {
        w_.string(1, c.funders[i].funder_id);
        w_.int64(2, parts[i]);
      });
    }
  }

  void coupon_granted(const EffectRecord& r) {
    const Coupon& k = coupon(r);
    w_.string(1, k.coupon_id);
    w_.string(2, campaign(r).campaign_id);
    w_.string(3, merchant(k.merchant));
    w_.string(4, s_.customer_ids.name(k.customer));
    w_.int64(5, r.amount);
    w_.message(6, [&] {
      w_.int64(1, k.expires_at.seconds_floor());
      w_.int32(2, k.expires_at.subsecond_nanos());
    });
    split(7, campaign(r), r.parts);
  }

  void redemption_settled(const EffectRecord& r) {
    w_.string(1, coupon(r).coupon_id);
    w_.string(2, campaign(r).campaign_id);
    w_.string(3, merchant(r.merchant));
    w_.int64(4, r.order_amount);
    w_.int64(5, r.amount);
    split(6, campaign(r), r.parts);
    w_.int64(7, r.other_parts.sum());
    split(8, campaign(r), r.other_parts);
  }

  void reservation_released(const EffectRecord& r) {
    if (r.coupon.valid()) w_.string(1, coupon(r).coupon_id);
    w_.string(2, campaign(r).campaign_id);
    w_.string(3, merchant(r.merchant));
    w_.int64(4, r.amount);
    split(5, campaign(r), r.parts);
    w_.int32(6, wire_cause(r.cause));
  }

  void redemption_reversed(const EffectRecord& r) {
    w_.string(1, coupon(r).coupon_id);
    w_.string(2, campaign(r).campaign_id);
    w_.boolean(3, r.restored);
    split(4, campaign(r), r.parts);
    split(5, campaign(r), r.other_parts);
  }

  const State& s_;
  Wire& w_;
};

}  // namespace

v1::Decision::Outcome wire_outcome(Outcome o) {
  switch (o) {
    case Outcome::kApplied: return v1::Decision::APPLIED;
    case Outcome::kRejected: return v1::Decision::REJECTED;
    case Outcome::kDuplicate: return v1::Decision::DUPLICATE;
    case Outcome::kInvalid: return v1::Decision::INVALID;
  }
  return v1::Decision::INVALID;
}

std::string_view echoed_event_id(std::string_view event_id) {
  constexpr std::size_t kMaxBytes = 256;
  if (event_id.size() <= kMaxBytes) return event_id;
  std::size_t n = kMaxBytes;
  // Back off over continuation bytes (10xxxxxx) to the start of the
  // character that the cut would split.
  while (n > 0 && (static_cast<unsigned char>(event_id[n]) & 0xC0) == 0x80) --n;
  return event_id.substr(0, n);
}

namespace {

// Effects [first, last) of the verdict's part `part`, or all of them (kWhole).
constexpr std::int64_t kWhole = -1;
std::pair<std::size_t, std::size_t> effect_range(const Verdict& verdict, std::int64_t part) {
  if (part == kWhole) return {0, verdict.effects.size()};
  DANGOL_ASSERT(part >= 0 && part < verdict.parts(), "part out of range");
  const std::size_t first = static_cast<std::size_t>(part) * kMaxEffectsPerPart;
  return {first, std::min(verdict.effects.size(), first + kMaxEffectsPerPart)};
}

void append_pb(const State& state, const Verdict& verdict, const v1::Envelope& in, const Position& position,
               std::int64_t part, std::string* out) {
  Wire w(out);
  w.string(1, echoed_event_id(in.event_id()));
  w.int32(2, state.shard);
  w.int64(3, verdict.seq + std::max<std::int64_t>(part, 0));
  w.int32(4, position.partition);
  w.int64(5, position.offset);
  if (in.has_occurred_at()) {
    w.message(6, [&] {
      w.int64(1, in.occurred_at().seconds());
      w.int32(2, in.occurred_at().nanos());
    });
  }
  w.int32(7, wire_outcome(verdict.outcome));
  w.string(8, reason_name(verdict.reason));
  w.string(9, verdict.detail);
  WireEncoder encoder(state, &w);
  const auto [first, last] = effect_range(verdict, part);
  for (std::size_t i = first; i < last; ++i) encoder.effect(verdict.effects[i]);
  if (part != kWhole && verdict.parts() > 1) {
    w.int32(11, static_cast<std::int32_t>(part + 1));
    w.int32(12, static_cast<std::int32_t>(verdict.parts()));
  }
}

void encode(const State& state, const Verdict& verdict, const v1::Envelope& in, const Position& position,
            std::int64_t part, v1::Decision* out) {
  out->Clear();
  // Echo the event id even when it is broken (bounded).
  const std::string_view event_id = echoed_event_id(in.event_id());
  out->set_event_id(event_id.data(), event_id.size());
  out->set_shard(state.shard);
  out->set_seq(verdict.seq + std::max<std::int64_t>(part, 0));
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
  const auto [first, last] = effect_range(verdict, part);
  for (std::size_t i = first; i < last; ++i) encoder.effect(verdict.effects[i]);
  if (part != kWhole && verdict.parts() > 1) {
    out->set_part(static_cast<std::int32_t>(part + 1));
    out->set_parts(static_cast<std::int32_t>(verdict.parts()));
  }
}

}  // namespace

void append_decision_pb(const State& state, const Verdict& verdict, const v1::Envelope& in, const Position& position,
                        std::string* out) {
  append_pb(state, verdict, in, position, kWhole, out);
}

void append_decision_part_pb(const State& state, const Verdict& verdict, const v1::Envelope& in,
                             const Position& position, std::int64_t part, std::string* out) {
  append_pb(state, verdict, in, position, part, out);
}

void encode_decision(const State& state, const Verdict& verdict, const v1::Envelope& in, const Position& position,
                     v1::Decision* out) {
  encode(state, verdict, in, position, kWhole, out);
}

void encode_decision_part(const State& state, const Verdict& verdict, const v1::Envelope& in,
                          const Position& position, std::int64_t part, v1::Decision* out) {
  encode(state, verdict, in, position, part, out);
}

}  // namespace dangol
