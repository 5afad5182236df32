#pragma once
// A deliberately naive reference model of Dangol's budget rules, written from
// DESIGN §3 and CONTRACT §1 alone (never from engine/): plain std::map and
// std::vector, linear scans, __int128 for products, no indexes, no caches.
// It is slow on purpose -- every limit is recounted from the full coupon list
// on every grant -- so that it is obviously right; property_test.cc compares
// the real engine against it after every event (STYLE habit 7, in the manner
// of RocksDB's db_map_fuzzer).
//
// Covered: validation of the field rules the generator can break, event-id
// idempotency, the engine clock and expiry with grace, entities (merchants,
// channels, friends), campaigns and status changes (close releases),
// budgetAdjusted, grants via couponIssued and welcome grants via channelAdded
// with the 8 checks in order, redemption, reversal (restore or void), message
// cash, the funder split, and alert thresholds. Not covered: report counters
// and the other effects' fields (the journal-fold property covers those).

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "dangol.pb.h"

namespace dangol::ref {

struct FunderRow {
  std::string campaign_id, funder_id;
  std::int64_t budget = 0, available = 0, reserved = 0, spent = 0;
  bool operator==(const FunderRow&) const = default;
};

struct Outcome {
  v1::Decision::Outcome outcome = v1::Decision::APPLIED;
  std::string reason;  // empty when applied or duplicate
  // thresholdCrossed effects, in order: "campaign/funder/bps".
  std::vector<std::string> thresholds;
};

// floor(x·bps_i/10000), leftover units one each by largest remainder
// (x·bps_i) mod 10000, ties in funder order (DESIGN §3 "Funder split").
std::vector<std::int64_t> split_by_shares(std::int64_t x, const std::vector<std::int64_t>& shares_bps);
// floor(a·r_i/Σr), leftover units by largest remainder (a·r_i) mod Σr.
std::vector<std::int64_t> split_in_proportion(std::int64_t a, const std::vector<std::int64_t>& remaining);

class Model {
 public:
  Outcome apply(const v1::Envelope& envelope);

  // Every funder of every campaign, by campaign id then definition order.
  std::vector<FunderRow> funders() const;
  // Coupon id -> "ISSUED" | "REDEEMED" | "EXPIRED" | "VOID".
  std::map<std::string, std::string> coupon_statuses() const;

 private:
  struct Funder {
    std::string id;
    std::int64_t share_bps = 0, budget = 0, available = 0, reserved = 0, spent = 0;
    std::set<std::int64_t> crossed;  // thresholds already announced
  };
  struct Campaign {
    std::string id;
    std::int64_t starts_ns = 0, ends_ns = 0, utc_offset_minutes = 0;
    std::vector<Funder> funders;
    std::vector<std::string> markets, merchants, categories;
    bool welcome_trigger = false;  // CHANNEL_ADDED; else ISSUED
    std::int64_t fixed = 0, percent_bps = 0, max_discount = 0, min_order = 0, valid_days = 0;
    std::int64_t per_customer = 0, per_merchant_count = 0, total_count = 0, per_merchant_amount = 0,
                 daily_amount = 0;
    std::int64_t cash_per_merchant = 0;  // 0: no message cash
    std::int64_t grace_seconds = 86400;
    std::string status = "ACTIVE";
    std::vector<std::int64_t> thresholds_bps;  // ascending
    // merchant -> what is left of its message cash, per funder
    std::map<std::string, std::vector<std::int64_t>> cash_left;
  };
  struct Coupon {
    std::string id, campaign, merchant /* empty: none */, customer;
    std::string status = "ISSUED";
    std::int64_t full_reservation = 0;         // R
    std::vector<std::int64_t> granted_parts;    // split of R at grant
    std::vector<std::int64_t> reserved_parts;   // what this coupon holds reserved now
    std::vector<std::int64_t> spent_parts;      // what this coupon has spent now
    std::string redeemed_at;
    std::int64_t issued_ns = 0, expires_ns = 0;
  };
  struct Merchant {
    std::string market, category;
    bool has_channel = false;
  };

  std::string apply_payload(const v1::Envelope& e, std::int64_t t_ns);
  std::string campaign_defined(const v1::CampaignDefined& p);
  std::string budget_adjusted(const v1::BudgetAdjusted& p);
  std::string status_changed(const v1::CampaignStatusChanged& p);
  std::string channel_added(const std::string& event_id, const v1::ChannelAdded& p, std::int64_t t_ns);
  std::string coupon_issued(const std::string& event_id, const v1::CouponIssued& p, std::int64_t t_ns);
  std::string coupon_redeemed(const v1::CouponRedeemed& p, std::int64_t t_ns);
  std::string redemption_reversed(const v1::RedemptionReversed& p);
  std::string message_sent(const v1::MessageSent& p, std::int64_t t_ns);

  // One grant of DESIGN §3 from check 1 on; "" and a new coupon on success.
  std::string grant(const std::string& coupon_id, const std::string& campaign_id, const std::string& merchant,
                    const std::string& customer, std::int64_t t_ns, bool welcome);
  bool active_at(const Campaign& c, std::int64_t t_ns) const;
  bool eligible(const std::string& merchant, const Campaign& c) const;
  void expire_coupons();
  std::vector<std::string> new_thresholds();
  void close_campaign(Campaign& c);
  Campaign* find_campaign(const std::string& id);

  std::map<std::string, std::string> seen_;  // event id -> content (serialized, event id cleared)
  bool has_clock_ = false;
  std::int64_t clock_ns_ = 0;
  std::map<std::string, Campaign> campaigns_;  // by id: iteration is campaign-id order
  std::map<std::string, Coupon> coupons_;
  std::map<std::string, Merchant> merchants_;
  std::set<std::pair<std::string, std::string>> friends_;                       // (merchant, customer)
  std::set<std::tuple<std::string, std::string, std::string>> welcomed_;        // (campaign, merchant, customer)
};

// The field rules of CONTRACT §1 / DESIGN §3 step 1. Returns "" when valid,
// else the name of the first broken field.
std::string validate(const v1::Envelope& e);

}  // namespace dangol::ref
