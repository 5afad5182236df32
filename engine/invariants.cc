// The full invariant check of DESIGN §4, recomputed from scratch so that it
// is independent of the incremental bookkeeping in engine.cc.

#include <sstream>

#include "absl/container/flat_hash_map.h"
#include "engine/engine.h"
#include "engine/split.h"

namespace dangol {
namespace {

class Checker {
 public:
  explicit Checker(const State& s) : s_(s) {}

  std::vector<std::string> run() {
    s_.merchant_usages.for_each([&](CampaignIdx c, MerchantIdx m, const MerchantUsage& usage) {
      if (c.value >= s_.campaigns.size()) {
        problems_.push_back("merchant " + s_.merchant_ids.name(m) + ": a usage of campaign index " +
                            std::to_string(c.value) + ", which is not defined");
      } else {
        usages_[c].emplace_back(m, &usage);
      }
    });
    for (std::size_t i = 0; i < s_.campaigns.size(); ++i) check_campaign(s_.campaigns[i], CampaignIdx{static_cast<std::uint32_t>(i)});
    check_customer_limits();
    return std::move(problems_);
  }

 private:
  template <class... Args>
  void fail(const Campaign& c, Args&&... args) {
    std::ostringstream line;
    line << "campaign " << c.campaign_id << ": ";
    (line << ... << args);
    problems_.push_back(line.str());
  }

  // Every eligibility the engine remembers is the one the lists give now.
  void check_remembered_eligibility(const Campaign& c) {
    for (std::uint32_t m = 0; m < s_.merchants.size(); ++m) {
      const std::uint8_t known = c.remembered_eligibility(MerchantIdx{m});
      if (known == 0) continue;
      const Merchant& merchant = s_.merchants[m];
      const auto listed = [](const auto& set, auto value) { return set.empty() || set.count(value) > 0; };
      const bool eligible = merchant.enrolled && listed(c.eligible_markets, merchant.market) &&
                            listed(c.eligible_merchants, MerchantIdx{m}) &&
                            listed(c.eligible_categories, merchant.category);
      if (known != (eligible ? 2 : 1)) fail(c, "merchant ", s_.merchant_ids.name(MerchantIdx{m}), " remembered as ",
                                           known == 2 ? "eligible" : "not eligible");
    }
  }

  void check_campaign(const Campaign& c, CampaignIdx idx) {
    check_remembered_eligibility(c);
    std::vector<std::int64_t> outstanding(c.funders.size(), 0);
    absl::flat_hash_map<MerchantIdx, std::int64_t> committed, granted;
    CouponCounts counts;
    for (CouponIdx k_idx : c.coupons) {
      const Coupon& k = s_.coupons[k_idx.value];
      if (k.campaign != idx) fail(c, "coupon ", k.coupon_id, " listed under another campaign");
      Parts parts = split_by_shares(k.reserved, c.shares_bps);
      counts.granted++;
      if (k.merchant.valid()) granted[k.merchant]++;
      switch (k.status) {
        case CouponStatus::kIssued:
          counts.outstanding++;
          for (std::size_t i = 0; i < c.funders.size(); ++i) outstanding[i] += parts[i];
          if (k.merchant.valid()) committed[k.merchant] += k.reserved.minor();
          break;
        case CouponStatus::kRedeemed:
          counts.redeemed++;
          if (k.merchant.valid()) committed[k.merchant] += k.discount.minor();
          break;
        case CouponStatus::kExpired: counts.expired++; break;
        case CouponStatus::kVoid: counts.voided++; break;
      }
    }
    for (const auto& [m, account] : c.message_cash) {
      for (std::size_t i = 0; i < c.funders.size(); ++i) outstanding[i] += account.remaining[i];
    }
    for (std::size_t i = 0; i < c.funders.size(); ++i) {
      const FunderAccount& f = c.funders[i];
      if (f.budget.minor() != f.available.minor() + f.reserved.minor() + f.spent.minor()) {
        fail(c, "funder ", f.funder_id, ": budget ", f.budget.minor(), " != available ", f.available.minor(),
             " + reserved ", f.reserved.minor(), " + spent ", f.spent.minor());
      }
      if (f.available.minor() < 0 || f.reserved.minor() < 0 || f.spent.minor() < 0) {
        fail(c, "funder ", f.funder_id, ": negative balance");
      }
      if (f.reserved.minor() != outstanding[i]) {
        fail(c, "funder ", f.funder_id, ": reserved ", f.reserved.minor(), " != outstanding reservations ",
             outstanding[i]);
      }
      // Alerts search from the first threshold not crossed (engine.cc): the
      // crossed ones must be the lowest.
      if ((f.crossed_thresholds & (f.crossed_thresholds + 1)) != 0 ||
          (f.crossed_thresholds >> c.thresholds_bps.size()) != 0) {  // at most kMaxThresholds (16)
        fail(c, "funder ", f.funder_id, ": crossed thresholds ", f.crossed_thresholds, " are not the lowest ones");
      }
    }
    check_counts(c, counts);
    check_merchant_limits(c, idx, committed, granted);
    check_daily_limit(c);
  }

  void check_counts(const Campaign& c, const CouponCounts& n) {
    const CouponCounts& k = c.coupon_counts;
    if (k.granted != n.granted || k.redeemed != n.redeemed || k.expired != n.expired || k.voided != n.voided ||
        k.outstanding != n.outstanding) {
      fail(c, "coupon counts out of step with coupons");
    }
    if (c.granted_total != n.granted) fail(c, "granted_total ", c.granted_total, " != coupons ", n.granted);
    if (c.limits.total_count > 0 && n.granted > c.limits.total_count) {
      fail(c, "totalCount exceeded: ", n.granted, " > ", c.limits.total_count);
    }
  }

  void check_merchant_limits(const Campaign& c, CampaignIdx idx,
                             const absl::flat_hash_map<MerchantIdx, std::int64_t>& committed,
                             const absl::flat_hash_map<MerchantIdx, std::int64_t>& granted) {
    const auto usages = usages_.find(idx);
    if (usages == usages_.end()) return;
    for (const auto& [m, usage_ptr] : usages->second) {
      const MerchantUsage& usage = *usage_ptr;
      auto cm = committed.find(m);
      std::int64_t expect_committed = cm == committed.end() ? 0 : cm->second;
      auto gm = granted.find(m);
      std::int64_t expect_granted = gm == granted.end() ? 0 : gm->second;
      const std::string& name = s_.merchant_ids.name(m);
      if (usage.committed.minor() != expect_committed) {
        fail(c, "merchant ", name, ": committed ", usage.committed.minor(), " != ", expect_committed);
      }
      if (usage.granted_count != expect_granted) fail(c, "merchant ", name, ": granted count out of step");
      if (c.limits.per_merchant_amount.minor() > 0 && expect_committed > c.limits.per_merchant_amount.minor()) {
        fail(c, "merchant ", name, ": perMerchantAmount exceeded: ", expect_committed);
      }
      if (c.limits.per_merchant_count > 0 && expect_granted > c.limits.per_merchant_count) {
        fail(c, "merchant ", name, ": perMerchantCount exceeded: ", expect_granted);
      }
    }
  }

  void check_daily_limit(const Campaign& c) {
    if (c.limits.daily_amount.minor() == 0) return;
    for (const auto& [day, amount] : c.granted_by_local_day) {
      if (amount > c.limits.daily_amount) fail(c, "dailyAmount exceeded on local day ", day, ": ", amount.minor());
    }
  }

  void check_customer_limits() {
    s_.customer_grants.for_each([&](std::uint64_t key, std::uint32_t count) {
      const Campaign& c = s_.campaigns[key >> 32];
      if (c.limits.per_customer > 0 && count > c.limits.per_customer) {
        fail(c, "customer ", s_.customer_ids.name(CustomerIdx{static_cast<std::uint32_t>(key)}),
             ": perCustomer exceeded: ", count);
      }
    });
  }

  const State& s_;
  // The merchant usages by campaign (run).
  absl::flat_hash_map<CampaignIdx, std::vector<std::pair<MerchantIdx, const MerchantUsage*>>> usages_;
  std::vector<std::string> problems_;
};

}  // namespace

std::vector<std::string> Engine::check_invariants() const { return Checker(state_).run(); }

}  // namespace dangol
