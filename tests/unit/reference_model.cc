// The naive reference model; see reference_model.h. Each rule is written out
// as DESIGN §3 states it, in the same order, with linear scans.
#include "tests/unit/reference_model.h"

#include <algorithm>
#include <numeric>

namespace dangol::ref {
namespace {

using i128 = __int128;
constexpr std::int64_t kNs = 1'000'000'000;
constexpr std::int64_t kDay = 86'400;
constexpr std::int64_t kMaxAmount = 1'000'000'000'000'000;

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

bool id_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == ':' || c == '-';
}
bool good_id(const std::string& s, std::size_t max_len = 64) {
  return !s.empty() && s.size() <= max_len && std::all_of(s.begin(), s.end(), id_char);
}
bool good_coupon_id(const std::string& s) {
  return !s.empty() && s.size() <= 200 && std::all_of(s.begin(), s.end(), [](char c) { return id_char(c) || c == '/'; });
}
bool good_amount(std::int64_t v) { return v >= 0 && v <= kMaxAmount; }
bool good_time(const google::protobuf::Timestamp& ts) {
  return ts.seconds() >= 0 && ts.nanos() >= 0 && ts.nanos() < kNs && ts.seconds() < 7'000'000'000;
}
std::int64_t nanos(const google::protobuf::Timestamp& ts) { return ts.seconds() * kNs + ts.nanos(); }

// Distributes `left` single units by largest remainder, ties in funder order.
void hand_out_leftover(std::vector<std::int64_t>& parts, const std::vector<i128>& rem, std::int64_t left) {
  std::vector<std::size_t> order(parts.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return rem[a] > rem[b]; });
  for (std::int64_t k = 0; k < left; ++k) parts[order[static_cast<std::size_t>(k)]] += 1;
}

std::int64_t sum(const std::vector<std::int64_t>& v) { return std::accumulate(v.begin(), v.end(), std::int64_t{0}); }

}  // namespace

std::vector<std::int64_t> split_by_shares(std::int64_t x, const std::vector<std::int64_t>& shares) {
  std::vector<std::int64_t> parts(shares.size());
  std::vector<i128> rem(shares.size());
  std::int64_t given = 0;
  for (std::size_t i = 0; i < shares.size(); ++i) {
    i128 prod = static_cast<i128>(x) * shares[i];
    parts[i] = static_cast<std::int64_t>(prod / 10000);
    rem[i] = prod % 10000;
    given += parts[i];
  }
  hand_out_leftover(parts, rem, x - given);
  return parts;
}

std::vector<std::int64_t> split_in_proportion(std::int64_t a, const std::vector<std::int64_t>& remaining) {
  std::vector<std::int64_t> parts(remaining.size(), 0);
  std::int64_t total = sum(remaining);
  if (total == 0) return parts;  // nothing to move (a must be 0)
  std::vector<i128> rem(remaining.size());
  std::int64_t given = 0;
  for (std::size_t i = 0; i < remaining.size(); ++i) {
    i128 prod = static_cast<i128>(a) * remaining[i];
    parts[i] = static_cast<std::int64_t>(prod / total);
    rem[i] = prod % total;
    given += parts[i];
  }
  hand_out_leftover(parts, rem, a - given);
  return parts;
}

std::string validate(const v1::Envelope& e) {
  using E = v1::Envelope;
  if (!good_id(e.event_id(), 128)) return "eventId";
  if (!e.has_occurred_at() || !good_time(e.occurred_at())) return "occurredAt";
  switch (e.payload_case()) {
    case E::kCampaignDefined: {
      const auto& p = e.campaign_defined();
      if (!good_id(p.campaign_id())) return "campaignId";
      if (p.name().empty()) return "name";
      if (p.currency().size() != 3) return "currency";
      if (!p.has_starts_at() || !good_time(p.starts_at())) return "startsAt";
      if (!p.has_ends_at() || !good_time(p.ends_at())) return "endsAt";
      if (nanos(p.starts_at()) >= nanos(p.ends_at())) return "endsAt";
      if (p.funders_size() < 1 || p.funders_size() > 8) return "funders";
      std::int64_t share_sum = 0;
      std::set<std::string> ids;
      for (const auto& f : p.funders()) {
        if (!good_id(f.funder_id()) || !ids.insert(f.funder_id()).second) return "funderId";
        if (!good_amount(f.budget())) return "budget";
        if (f.share_bps() < 1 || f.share_bps() > 10000) return "shareBps";
        share_sum += f.share_bps();
      }
      if (share_sum != 10000) return "shareBps";
      for (const auto* list : {&p.eligibility().market_ids(), &p.eligibility().merchant_ids(),
                               &p.eligibility().categories()}) {
        for (const auto& id : *list) {
          if (!good_id(id)) return "eligibility";
        }
      }
      if (p.trigger() != v1::CampaignDefined::CHANNEL_ADDED && p.trigger() != v1::CampaignDefined::ISSUED) {
        return "trigger";
      }
      const auto& o = p.offer();
      if (!p.has_offer()) return "offer";
      if (!good_amount(o.fixed_amount()) || !good_amount(o.max_discount()) || !good_amount(o.min_order_amount())) {
        return "offer";
      }
      bool fixed = o.fixed_amount() > 0 && o.percent_bps() == 0 && o.max_discount() == 0;
      bool percent = o.fixed_amount() == 0 && o.percent_bps() >= 1 && o.percent_bps() <= 10000 && o.max_discount() >= 1;
      if (!fixed && !percent) return "offer";
      if (o.valid_days() < 1) return "validDays";
      const auto& l = p.limits();
      for (std::int64_t v : {l.per_customer(), l.per_merchant_count(), l.total_count(), l.per_merchant_amount(),
                             l.daily_amount()}) {
        if (!good_amount(v)) return "limits";
      }
      if (p.has_message_cash() && (p.message_cash().per_merchant() < 1 || !good_amount(p.message_cash().per_merchant()))) {
        return "messageCash";
      }
      if (p.has_redemption_grace_seconds() && p.redemption_grace_seconds() < 0) return "redemptionGraceSeconds";
      return "";
    }
    case E::kBudgetAdjusted: {
      const auto& p = e.budget_adjusted();
      if (!good_id(p.campaign_id()) || !good_id(p.funder_id())) return "id";
      if (p.delta() < -kMaxAmount || p.delta() > kMaxAmount) return "delta";
      return "";
    }
    case E::kCampaignStatusChanged: {
      const auto& p = e.campaign_status_changed();
      if (!good_id(p.campaign_id())) return "campaignId";
      if (p.status() != v1::CampaignStatusChanged::ACTIVE && p.status() != v1::CampaignStatusChanged::PAUSED &&
          p.status() != v1::CampaignStatusChanged::CLOSED) {
        return "status";
      }
      return "";
    }
    case E::kMerchantEnrolled: {
      const auto& p = e.merchant_enrolled();
      return good_id(p.merchant_id()) && good_id(p.market_id()) && good_id(p.category()) ? "" : "id";
    }
    case E::kChannelOpened:
      return good_id(e.channel_opened().merchant_id()) && good_id(e.channel_opened().channel_id()) ? "" : "id";
    case E::kChannelAdded:
      return good_id(e.channel_added().merchant_id()) && good_id(e.channel_added().customer_id()) ? "" : "id";
    case E::kChannelBlocked:
      return good_id(e.channel_blocked().merchant_id()) && good_id(e.channel_blocked().customer_id()) ? "" : "id";
    case E::kCouponIssued: {
      const auto& p = e.coupon_issued();
      if (!good_id(p.campaign_id()) || !good_id(p.customer_id())) return "id";
      if (p.has_merchant_id() && !good_id(p.merchant_id())) return "merchantId";
      if (p.has_coupon_id() && !good_coupon_id(p.coupon_id())) return "couponId";
      return "";
    }
    case E::kCouponRedeemed: {
      const auto& p = e.coupon_redeemed();
      if (!good_coupon_id(p.coupon_id()) || !good_id(p.merchant_id())) return "id";
      if (!good_amount(p.order_amount())) return "orderAmount";
      if (p.has_discount() && !good_amount(p.discount())) return "discount";
      return "";
    }
    case E::kRedemptionReversed:
      return good_coupon_id(e.redemption_reversed().coupon_id()) && good_id(e.redemption_reversed().merchant_id())
                 ? ""
                 : "id";
    case E::kMessageSent: {
      const auto& p = e.message_sent();
      if (!good_id(p.merchant_id())) return "merchantId";
      if (p.recipients() < 1 || !good_amount(p.recipients())) return "recipients";
      if (!good_amount(p.unit_cost())) return "unitCost";
      if (static_cast<i128>(p.recipients()) * p.unit_cost() > kMaxAmount) return "unitCost";
      return "";
    }
    case E::PAYLOAD_NOT_SET:
      break;
  }
  return "payload";
}

Outcome Model::apply(const v1::Envelope& e) {
  // (1) validate
  if (!validate(e).empty()) return {v1::Decision::INVALID, "INVALID_EVENT"};
  // (2) idempotency: same id, same content -> DUPLICATE; other content -> conflict
  v1::Envelope content = e;
  content.clear_event_id();
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream s(&bytes);
    google::protobuf::io::CodedOutputStream cos(&s);
    cos.SetSerializationDeterministic(true);
    content.SerializeToCodedStream(&cos);
  }
  auto seen = seen_.find(e.event_id());
  if (seen != seen_.end()) {
    if (seen->second == bytes) return {v1::Decision::DUPLICATE, ""};
    return {v1::Decision::REJECTED, "EVENT_ID_CONFLICT"};
  }
  seen_[e.event_id()] = bytes;
  // (3) clock and expiry
  std::int64_t t = nanos(e.occurred_at());
  if (!has_clock_ || t > clock_ns_) clock_ns_ = t;
  has_clock_ = true;
  expire_coupons();
  // (4) the payload's rule
  std::string reason = apply_payload(e, t);
  if (reason.empty()) return {v1::Decision::APPLIED, "", new_thresholds()};
  return {v1::Decision::REJECTED, reason, new_thresholds()};
}

// DESIGN §3 "Alerts": (reserved + spent)·10000/budget reaching a threshold
// for the first time. A funder with budget 0 has no ratio and never alerts.
std::vector<std::string> Model::new_thresholds() {
  std::vector<std::string> out;
  for (auto& [id, c] : campaigns_) {
    for (auto& f : c.funders) {
      for (std::int64_t bps : c.thresholds_bps) {
        if (f.budget <= 0 || f.crossed.count(bps)) continue;
        if (static_cast<i128>(f.reserved + f.spent) * 10000 >= static_cast<i128>(bps) * f.budget) {
          f.crossed.insert(bps);
          out.push_back(id + "/" + f.id + "/" + std::to_string(bps));
        }
      }
    }
  }
  return out;
}

void Model::expire_coupons() {
  for (auto& [id, k] : coupons_) {
    if (k.status != "ISSUED") continue;
    Campaign& c = campaigns_.at(k.campaign);
    if (clock_ns_ > k.expires_ns + c.grace_seconds * kNs) {
      for (std::size_t i = 0; i < c.funders.size(); ++i) {
        c.funders[i].reserved -= k.reserved_parts[i];
        c.funders[i].available += k.reserved_parts[i];
        k.reserved_parts[i] = 0;
      }
      k.status = "EXPIRED";
    }
  }
}

Model::Campaign* Model::find_campaign(const std::string& id) {
  auto it = campaigns_.find(id);
  return it == campaigns_.end() ? nullptr : &it->second;
}

bool Model::active_at(const Campaign& c, std::int64_t t) const {
  return c.status == "ACTIVE" && c.starts_ns <= t && t < c.ends_ns;
}

bool Model::eligible(const std::string& merchant, const Campaign& c) const {
  auto m = merchants_.find(merchant);
  if (m == merchants_.end()) return false;
  auto passes = [](const std::vector<std::string>& list, const std::string& v) {
    return list.empty() || std::find(list.begin(), list.end(), v) != list.end();
  };
  return passes(c.markets, m->second.market) && passes(c.merchants, merchant) && passes(c.categories, m->second.category);
}

std::string Model::apply_payload(const v1::Envelope& e, std::int64_t t) {
  using E = v1::Envelope;
  switch (e.payload_case()) {
    case E::kCampaignDefined: return campaign_defined(e.campaign_defined());
    case E::kBudgetAdjusted: return budget_adjusted(e.budget_adjusted());
    case E::kCampaignStatusChanged: return status_changed(e.campaign_status_changed());
    case E::kMerchantEnrolled: {
      const auto& p = e.merchant_enrolled();
      auto it = merchants_.find(p.merchant_id());
      if (it == merchants_.end()) {
        merchants_[p.merchant_id()] = Merchant{p.market_id(), p.category(), false};
        return "";
      }
      return it->second.market == p.market_id() && it->second.category == p.category() ? "" : "MERCHANT_EXISTS";
    }
    case E::kChannelOpened: {
      auto it = merchants_.find(e.channel_opened().merchant_id());
      if (it == merchants_.end()) return "MERCHANT_NOT_ENROLLED";
      if (it->second.has_channel) return "CHANNEL_EXISTS";
      it->second.has_channel = true;
      return "";
    }
    case E::kChannelAdded: return channel_added(e.event_id(), e.channel_added(), t);
    case E::kChannelBlocked: {
      const auto& p = e.channel_blocked();
      auto it = merchants_.find(p.merchant_id());
      if (it == merchants_.end() || !it->second.has_channel) return "NO_CHANNEL";
      if (friends_.erase({p.merchant_id(), p.customer_id()}) == 0) return "NOT_FRIEND";
      return "";
    }
    case E::kCouponIssued: return coupon_issued(e.event_id(), e.coupon_issued(), t);
    case E::kCouponRedeemed: return coupon_redeemed(e.coupon_redeemed(), t);
    case E::kRedemptionReversed: return redemption_reversed(e.redemption_reversed());
    case E::kMessageSent: return message_sent(e.message_sent(), t);
    case E::PAYLOAD_NOT_SET: break;
  }
  return "INVALID_EVENT";  // unreachable: validate() refuses it
}

std::string Model::campaign_defined(const v1::CampaignDefined& p) {
  if (campaigns_.count(p.campaign_id())) return "CAMPAIGN_EXISTS";
  Campaign c;
  c.id = p.campaign_id();
  c.starts_ns = nanos(p.starts_at());
  c.ends_ns = nanos(p.ends_at());
  c.utc_offset_minutes = p.utc_offset_minutes();
  for (const auto& f : p.funders()) {
    c.funders.push_back(Funder{f.funder_id(), f.share_bps(), f.budget(), f.budget(), 0, 0});
  }
  c.markets.assign(p.eligibility().market_ids().begin(), p.eligibility().market_ids().end());
  c.merchants.assign(p.eligibility().merchant_ids().begin(), p.eligibility().merchant_ids().end());
  c.categories.assign(p.eligibility().categories().begin(), p.eligibility().categories().end());
  c.welcome_trigger = p.trigger() == v1::CampaignDefined::CHANNEL_ADDED;
  c.fixed = p.offer().fixed_amount();
  c.percent_bps = p.offer().percent_bps();
  c.max_discount = p.offer().max_discount();
  c.min_order = p.offer().min_order_amount();
  c.valid_days = p.offer().valid_days();
  c.per_customer = p.limits().per_customer();
  c.per_merchant_count = p.limits().per_merchant_count();
  c.total_count = p.limits().total_count();
  c.per_merchant_amount = p.limits().per_merchant_amount();
  c.daily_amount = p.limits().daily_amount();
  c.cash_per_merchant = p.has_message_cash() ? p.message_cash().per_merchant() : 0;
  c.grace_seconds = p.has_redemption_grace_seconds() ? p.redemption_grace_seconds() : 86400;
  c.thresholds_bps.assign(p.alert_thresholds_bps().begin(), p.alert_thresholds_bps().end());
  if (c.thresholds_bps.empty()) c.thresholds_bps = {5000, 8000, 10000};
  std::sort(c.thresholds_bps.begin(), c.thresholds_bps.end());
  campaigns_[c.id] = c;
  return "";
}

std::string Model::budget_adjusted(const v1::BudgetAdjusted& p) {
  Campaign* c = find_campaign(p.campaign_id());
  if (!c) return "UNKNOWN_CAMPAIGN";
  Funder* f = nullptr;
  for (auto& x : c->funders) {
    if (x.id == p.funder_id()) f = &x;
  }
  if (!f) return "UNKNOWN_FUNDER";
  if (c->status == "CLOSED") return "CAMPAIGN_CLOSED";
  if (p.delta() < 0 && -p.delta() > f->available) return "INSUFFICIENT_AVAILABLE";
  f->budget += p.delta();
  f->available += p.delta();
  return "";
}

std::string Model::status_changed(const v1::CampaignStatusChanged& p) {
  Campaign* c = find_campaign(p.campaign_id());
  if (!c) return "UNKNOWN_CAMPAIGN";
  if (c->status == "CLOSED") return "CAMPAIGN_CLOSED";
  switch (p.status()) {
    case v1::CampaignStatusChanged::ACTIVE: c->status = "ACTIVE"; break;
    case v1::CampaignStatusChanged::PAUSED: c->status = "PAUSED"; break;
    default: close_campaign(*c); break;
  }
  return "";
}

void Model::close_campaign(Campaign& c) {
  c.status = "CLOSED";
  for (auto& [id, k] : coupons_) {
    if (k.campaign != c.id || k.status != "ISSUED") continue;
    for (std::size_t i = 0; i < c.funders.size(); ++i) {
      c.funders[i].reserved -= k.reserved_parts[i];
      c.funders[i].available += k.reserved_parts[i];
      k.reserved_parts[i] = 0;
    }
    k.status = "VOID";
  }
  for (auto& [merchant, left] : c.cash_left) {
    for (std::size_t i = 0; i < c.funders.size(); ++i) {
      c.funders[i].reserved -= left[i];
      c.funders[i].available += left[i];
      left[i] = 0;
    }
  }
}

std::string Model::grant(const std::string& coupon_id, const std::string& campaign_id, const std::string& merchant,
                         const std::string& customer, std::int64_t t, bool welcome) {
  // 1.
  Campaign* cp = find_campaign(campaign_id);
  if (!cp) return "UNKNOWN_CAMPAIGN";
  Campaign& c = *cp;
  if (c.welcome_trigger != welcome) return "WRONG_TRIGGER";
  if (!active_at(c, t)) return "CAMPAIGN_NOT_ACTIVE";
  // 2.
  if (!merchant.empty()) {
    if (!merchants_.count(merchant)) return "MERCHANT_NOT_ENROLLED";
    if (!eligible(merchant, c)) return "MERCHANT_NOT_ELIGIBLE";
  }
  // 3.
  if (welcome && welcomed_.count({campaign_id, merchant, customer})) return "ALREADY_WELCOMED";
  // Counts and sums over every coupon ever granted under C.
  std::int64_t R = c.percent_bps > 0 ? c.max_discount : c.fixed;
  std::int64_t to_customer = 0, with_merchant = 0, total = 0, merchant_committed = 0, today = 0;
  auto local_day = [&](std::int64_t ns) { return floor_div(ns + c.utc_offset_minutes * 60 * kNs, kDay * kNs); };
  for (const auto& [id, k] : coupons_) {
    if (k.campaign != campaign_id) continue;
    ++total;
    if (k.customer == customer) ++to_customer;
    if (!merchant.empty() && k.merchant == merchant) {
      ++with_merchant;
      merchant_committed += sum(k.reserved_parts) + sum(k.spent_parts);
    }
    if (local_day(k.issued_ns) == local_day(t)) today += k.full_reservation;
  }
  // 4.
  if (c.per_customer > 0 && to_customer >= c.per_customer) return "CUSTOMER_LIMIT";
  // 5.
  if (!merchant.empty() && c.per_merchant_count > 0 && with_merchant >= c.per_merchant_count) {
    return "MERCHANT_COUNT_LIMIT";
  }
  if (c.total_count > 0 && total >= c.total_count) return "TOTAL_COUNT_LIMIT";
  // 6.
  if (!merchant.empty() && c.per_merchant_amount > 0 && merchant_committed + R > c.per_merchant_amount) {
    return "MERCHANT_AMOUNT_LIMIT";
  }
  // 7.
  if (c.daily_amount > 0 && today + R > c.daily_amount) return "DAILY_AMOUNT_LIMIT";
  // 8.
  std::vector<std::int64_t> shares;
  for (const auto& f : c.funders) shares.push_back(f.share_bps);
  std::vector<std::int64_t> parts = split_by_shares(R, shares);
  for (std::size_t i = 0; i < c.funders.size(); ++i) {
    if (c.funders[i].available < parts[i]) return "BUDGET_EXHAUSTED";
  }
  for (std::size_t i = 0; i < c.funders.size(); ++i) {
    c.funders[i].available -= parts[i];
    c.funders[i].reserved += parts[i];
  }
  Coupon k;
  k.id = coupon_id;
  k.campaign = campaign_id;
  k.merchant = merchant;
  k.customer = customer;
  k.full_reservation = R;
  k.granted_parts = parts;
  k.reserved_parts = parts;
  k.spent_parts.assign(parts.size(), 0);
  k.issued_ns = t;
  k.expires_ns = t + c.valid_days * kDay * kNs;
  coupons_[coupon_id] = k;
  if (welcome) welcomed_.insert({campaign_id, merchant, customer});
  return "";
}

std::string Model::channel_added(const std::string& event_id, const v1::ChannelAdded& p, std::int64_t t) {
  auto m = merchants_.find(p.merchant_id());
  if (m == merchants_.end()) return "MERCHANT_NOT_ENROLLED";
  if (!m->second.has_channel) return "NO_CHANNEL";
  if (!friends_.insert({p.merchant_id(), p.customer_id()}).second) return "ALREADY_FRIEND";
  for (auto& [id, c] : campaigns_) {  // campaign-id order
    if (!c.welcome_trigger || !active_at(c, t)) continue;
    if (!eligible(p.merchant_id(), c)) continue;  // skipped silently
    std::string coupon_id = event_id + "/" + id;
    if (coupons_.count(coupon_id)) continue;  // a grantRejected COUPON_EXISTS: no money moves
    grant(coupon_id, id, p.merchant_id(), p.customer_id(), t, /*welcome=*/true);  // refusal: grantRejected
  }
  return "";
}

std::string Model::coupon_issued(const std::string& event_id, const v1::CouponIssued& p, std::int64_t t) {
  std::string coupon_id = p.has_coupon_id() ? p.coupon_id() : event_id;
  if (coupons_.count(coupon_id)) return "COUPON_EXISTS";
  return grant(coupon_id, p.campaign_id(), p.has_merchant_id() ? p.merchant_id() : "", p.customer_id(), t,
               /*welcome=*/false);
}

std::string Model::coupon_redeemed(const v1::CouponRedeemed& p, std::int64_t t) {
  auto it = coupons_.find(p.coupon_id());
  if (it == coupons_.end()) return "UNKNOWN_COUPON";
  Coupon& k = it->second;
  Campaign& c = campaigns_.at(k.campaign);
  if (c.status == "CLOSED") return "CAMPAIGN_CLOSED";
  if (k.status == "EXPIRED" || t > k.expires_ns) return "EXPIRED";
  if (k.status == "REDEEMED" || k.status == "VOID") return "COUPON_NOT_ACTIVE";
  if (!k.merchant.empty() && k.merchant != p.merchant_id()) return "WRONG_MERCHANT";
  if (k.merchant.empty() && !eligible(p.merchant_id(), c)) return "WRONG_MERCHANT";
  if (p.order_amount() < c.min_order) return "BELOW_MIN_ORDER";
  std::int64_t d = c.percent_bps > 0
                       ? std::min<std::int64_t>(static_cast<std::int64_t>(static_cast<i128>(p.order_amount()) *
                                                                          c.percent_bps / 10000),
                                                c.max_discount)
                       : std::min(c.fixed, p.order_amount());
  if (p.has_discount() && p.discount() != d) return "DISCOUNT_MISMATCH";
  std::vector<std::int64_t> settled = split_in_proportion(d, k.reserved_parts);
  for (std::size_t i = 0; i < c.funders.size(); ++i) {
    std::int64_t released = k.reserved_parts[i] - settled[i];
    c.funders[i].reserved -= k.reserved_parts[i];
    c.funders[i].spent += settled[i];
    c.funders[i].available += released;
    k.spent_parts[i] = settled[i];
    k.reserved_parts[i] = 0;
  }
  k.status = "REDEEMED";
  k.redeemed_at = p.merchant_id();
  return "";
}

std::string Model::redemption_reversed(const v1::RedemptionReversed& p) {
  auto it = coupons_.find(p.coupon_id());
  if (it == coupons_.end()) return "UNKNOWN_COUPON";
  Coupon& k = it->second;
  if (k.status != "REDEEMED") return "COUPON_NOT_REDEEMED";
  if (k.redeemed_at != p.merchant_id()) return "WRONG_MERCHANT";
  Campaign& c = campaigns_.at(k.campaign);
  bool can_restore = clock_ns_ <= k.expires_ns && c.status != "CLOSED";
  for (std::size_t i = 0; i < c.funders.size(); ++i) {
    std::int64_t need = k.granted_parts[i] - k.spent_parts[i];  // its part of R - d
    if (c.funders[i].available < need) can_restore = false;
  }
  // Not in DESIGN §3's reversal text, but required by §4 ("every limit of §3
  // holds at every step"): a restore may not push the coupon's merchant past
  // perMerchantAmount, since the headroom it released may have been granted
  // since. (The engine does the same; reported to the lead as a spec gap.)
  if (!k.merchant.empty() && c.per_merchant_amount > 0) {
    std::int64_t committed = 0;
    for (const auto& [other_id, other] : coupons_) {
      if (other.campaign == c.id && other.merchant == k.merchant) {
        committed += sum(other.reserved_parts) + sum(other.spent_parts);
      }
    }
    if (committed + (k.full_reservation - sum(k.spent_parts)) > c.per_merchant_amount) can_restore = false;
  }
  for (std::size_t i = 0; i < c.funders.size(); ++i) {
    if (can_restore) {
      std::int64_t need = k.granted_parts[i] - k.spent_parts[i];
      c.funders[i].spent -= k.spent_parts[i];
      c.funders[i].reserved += k.spent_parts[i];
      c.funders[i].available -= need;
      c.funders[i].reserved += need;
      k.reserved_parts[i] = k.granted_parts[i];
    } else {
      c.funders[i].spent -= k.spent_parts[i];
      c.funders[i].available += k.spent_parts[i];
    }
    k.spent_parts[i] = 0;
  }
  k.status = can_restore ? "ISSUED" : "VOID";
  k.redeemed_at.clear();
  return "";
}

std::string Model::message_sent(const v1::MessageSent& p, std::int64_t t) {
  auto m = merchants_.find(p.merchant_id());
  if (m == merchants_.end()) return "MERCHANT_NOT_ENROLLED";
  if (!m->second.has_channel) return "NO_CHANNEL";
  std::int64_t cost_left = p.recipients() * p.unit_cost();
  for (auto& [id, c] : campaigns_) {  // campaign-id order
    if (c.cash_per_merchant == 0 || !active_at(c, t) || !eligible(p.merchant_id(), c)) continue;
    auto acct = c.cash_left.find(p.merchant_id());
    if (acct == c.cash_left.end()) {
      std::vector<std::int64_t> shares;
      for (const auto& f : c.funders) shares.push_back(f.share_bps);
      std::vector<std::int64_t> parts = split_by_shares(c.cash_per_merchant, shares);
      bool covered = true;
      for (std::size_t i = 0; i < c.funders.size(); ++i) {
        if (c.funders[i].available < parts[i]) covered = false;
      }
      if (!covered) continue;  // grantRejected BUDGET_EXHAUSTED; the next message tries again
      for (std::size_t i = 0; i < c.funders.size(); ++i) {
        c.funders[i].available -= parts[i];
        c.funders[i].reserved += parts[i];
      }
      acct = c.cash_left.emplace(p.merchant_id(), parts).first;
    }
    std::int64_t charge = std::min(cost_left, sum(acct->second));
    std::vector<std::int64_t> parts = split_in_proportion(charge, acct->second);
    for (std::size_t i = 0; i < c.funders.size(); ++i) {
      acct->second[i] -= parts[i];
      c.funders[i].reserved -= parts[i];
      c.funders[i].spent += parts[i];
    }
    cost_left -= charge;
  }
  return "";  // what is left is paid by the merchant, never by a budget
}

std::vector<FunderRow> Model::funders() const {
  std::vector<FunderRow> rows;
  for (const auto& [id, c] : campaigns_) {
    for (const auto& f : c.funders) rows.push_back({id, f.id, f.budget, f.available, f.reserved, f.spent});
  }
  return rows;
}

std::map<std::string, std::string> Model::coupon_statuses() const {
  std::map<std::string, std::string> out;
  for (const auto& [id, k] : coupons_) out[id] = k.status;
  return out;
}

}  // namespace dangol::ref
