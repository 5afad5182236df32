#include "engine/report.h"

#include <algorithm>
#include <map>

namespace dangol {

std::string_view campaign_status_name(CampaignStatus s) {
  switch (s) {
    case CampaignStatus::kActive: return "ACTIVE";
    case CampaignStatus::kPaused: return "PAUSED";
    case CampaignStatus::kClosed: return "CLOSED";
  }
  return "";
}

CampaignFigures campaign_figures(const Campaign& c) {
  CampaignFigures out;
  out.campaign_id = c.campaign_id;
  out.name = c.name;
  out.status = campaign_status_name(c.status);
  out.currency = c.currency;
  for (const auto& f : c.funders) {
    out.funders.push_back({f.funder_id, f.budget.minor(), f.available.minor(), f.reserved.minor(), f.spent.minor()});
  }
  out.coupons = c.coupon_counts;
  for (std::size_t r = 0; r < c.rejections.size(); ++r) {
    if (c.rejections[r] > 0) out.rejections.emplace_back(reason_name(static_cast<Reason>(r)), c.rejections[r]);
  }
  std::sort(out.rejections.begin(), out.rejections.end());
  return out;
}

std::vector<MarketFigures> market_figures(const State& s, const ReportFilter& filter) {
  std::map<std::string, MarketFigures> by_id;
  for (std::size_t i = 0; i < s.merchants.size(); ++i) {
    const Merchant& m = s.merchants[i];
    if (!m.enrolled) continue;
    const std::string& market_id = s.market_ids.name(m.market);
    if (filter.market_id && *filter.market_id != market_id) continue;
    MarketFigures& f = by_id[market_id];
    f.market_id = market_id;
    f.enrolled++;
    f.channels += m.has_channel ? 1 : 0;
    f.friends += m.friends;
    f.friend_adds += m.friend_adds;
    f.messages += m.messages;
    f.recipients += m.recipients;
    f.welcome_granted += m.welcome_granted;
    f.welcome_redeemed += m.welcome_redeemed;
  }
  std::vector<MarketFigures> out;
  for (auto& [id, f] : by_id) {
    f.adoption_bps = f.enrolled == 0 ? 0 : f.channels * kBpsWhole / f.enrolled;
    out.push_back(std::move(f));
  }
  return out;
}

Report build_report(const State& state, const ReportFilter& filter) {
  Report report;
  for (CampaignIdx idx : state.campaigns_by_id) {
    const Campaign& c = state.campaigns[idx.value];
    if (filter.campaign_id && *filter.campaign_id != c.campaign_id) continue;
    report.campaigns.push_back(campaign_figures(c));
  }
  report.markets = market_figures(state, filter);
  return report;
}

}  // namespace dangol
