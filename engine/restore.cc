#include "engine/restore.h"

#include <algorithm>
#include <functional>

#include "engine/assert.h"

namespace dangol {

StateRestorer::StateRestorer(Engine* engine) : engine_(engine) {
  const State& s = engine_->state_;
  DANGOL_ASSERT(s.next_seq == 1 && s.campaigns.empty() && s.coupons.empty() && s.seen_events.size() == 0,
                "restoring into an engine that has already decided");
}

std::vector<std::string> StateRestorer::finish() {
  std::vector<std::string> problems;
  State& s = state();
  if (s.campaigns.size() != s.campaign_ids.size()) problems.push_back("campaign records and campaign ids differ in count");
  if (s.merchants.size() > s.merchant_ids.size()) problems.push_back("more merchant records than merchant ids");
  if (!coupons_indexed_) index_coupons(&problems);
  if (!problems.empty()) return problems;
  check_customers(&problems);
  s.merchants.resize(s.merchant_ids.size());
  rebuild_campaign_lists();
  engine_->clear_changes();
  return problems;
}

void StateRestorer::check_customers(std::vector<std::string>* problems) {
  const State& s = state();
  for (std::uint32_t i = 0; i < s.coupons.size(); ++i) {
    if (s.coupons[i].customer.value >= s.customer_ids.size()) {
      problems->push_back("coupon " + s.coupons[i].coupon_id + " refers to an unknown customer");
      return;
    }
  }
}

// The sorted lists are pure functions of the campaigns: the engine inserts
// each new campaign at its place in campaign-id order.
void StateRestorer::rebuild_campaign_lists() {
  State& s = state();
  auto by_id = [&](CampaignIdx a, CampaignIdx b) { return s.campaign_ids.name(a) < s.campaign_ids.name(b); };
  for (std::uint32_t i = 0; i < s.campaigns.size(); ++i) {
    const Campaign& c = s.campaigns[i];
    s.campaigns_by_id.push_back(CampaignIdx{i});
    if (c.trigger == Trigger::kChannelAdded) s.welcome_campaigns.push_back(CampaignIdx{i});
    if (c.message_cash_per_merchant.minor() > 0) s.message_cash_campaigns.push_back(CampaignIdx{i});
  }
  std::sort(s.campaigns_by_id.begin(), s.campaigns_by_id.end(), by_id);
  std::sort(s.welcome_campaigns.begin(), s.welcome_campaigns.end(), by_id);
  std::sort(s.message_cash_campaigns.begin(), s.message_cash_campaigns.end(), by_id);
}

// Coupons are granted in index order, so walking them in index order rebuilds
// each campaign's list exactly. The expiry queue holds one entry per coupon
// with in_expiry_queue set; which entries are due depends on their deadlines
// only, so a queue built in index order expires what the one built by the
// engine's pushes would.
void StateRestorer::index_coupons(std::vector<std::string>* problems) {
  coupons_indexed_ = true;
  State& s = state();
  s.coupon_index.reserve(s.coupons.size());
  for (std::uint32_t i = 0; i < s.coupons.size(); ++i) {
    Coupon& k = s.coupons[i];
    if (k.campaign.value >= s.campaigns.size() || (k.merchant.valid() && k.merchant.value >= s.merchant_ids.size())) {
      problems->push_back("coupon " + k.coupon_id + " refers to an unknown campaign or merchant");
      return;
    }
    if (k.reserved != s.campaigns[k.campaign.value].offer.reservation()) {
      problems->push_back("coupon " + k.coupon_id + " reserves other than its campaign's reservation");
      return;
    }
    if (!s.index_coupon(i)) {
      problems->push_back("coupon id " + k.coupon_id + " stored twice");
      return;
    }
    Campaign& c = s.campaigns[k.campaign.value];
    c.coupons.push_back(CouponIdx{i});
    if (!k.in_expiry_queue) continue;
    auto deadline = k.expires_at.plus_seconds(c.grace_seconds);
    if (!deadline) {
      problems->push_back("coupon " + k.coupon_id + ": expiry deadline overflows");
      return;
    }
    s.expiry_queue.push(k.campaign.value, {deadline->nanos(), i});
  }
}

}  // namespace dangol
