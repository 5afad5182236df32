#pragma once
// Figures for people and finance (CONTRACT §4 `report`), computed from the
// engine state. Pure: no formatting here, see services/campaignctl.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/state.h"

namespace dangol {

struct FunderFigures {
  std::string funder_id;
  std::int64_t budget = 0, available = 0, reserved = 0, spent = 0;
};

struct CampaignFigures {
  std::string campaign_id, name, status, currency;
  std::vector<FunderFigures> funders;
  CouponCounts coupons;
  std::vector<std::pair<std::string, std::int64_t>> rejections;  // by reason name
};

struct MarketFigures {
  std::string market_id;
  std::int64_t enrolled = 0, channels = 0, adoption_bps = 0, friends = 0, friend_adds = 0, messages = 0,
               recipients = 0, welcome_granted = 0, welcome_redeemed = 0;
};

struct Report {
  std::vector<CampaignFigures> campaigns;  // by campaign id
  std::vector<MarketFigures> markets;      // by market id; markets with enrolled merchants
};

struct ReportFilter {
  std::optional<std::string> campaign_id;
  std::optional<std::string> market_id;
};

Report build_report(const State& state, const ReportFilter& filter = {});

// The parts of a report, for callers that need one campaign or the markets
// only (the HTTP API): O(funders) and O(merchants).
CampaignFigures campaign_figures(const Campaign& c);
std::vector<MarketFigures> market_figures(const State& s, const ReportFilter& filter);

std::string_view campaign_status_name(CampaignStatus s);

}  // namespace dangol
