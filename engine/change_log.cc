#include "engine/change_log.h"

#include "engine/state.h"

namespace dangol {

void ChangeLog::clear(const State& state) {
  campaigns.clear();
  merchants.clear();
  coupons.clear();
  merchant_usage.clear();
  daily_totals.clear();
  message_cash.clear();
  customer_grants.clear();
  friendships.clear();
  welcomed.clear();
  meta = false;
  since.events = state.seen_events.size();
  since.campaigns = static_cast<std::uint32_t>(state.campaigns.size());
  since.coupons = static_cast<std::uint32_t>(state.coupons.size());
  since.campaign_ids = static_cast<std::uint32_t>(state.campaign_ids.size());
  since.merchant_ids = static_cast<std::uint32_t>(state.merchant_ids.size());
  since.market_ids = static_cast<std::uint32_t>(state.market_ids.size());
  since.category_ids = static_cast<std::uint32_t>(state.category_ids.size());
  since.customer_ids = static_cast<std::uint32_t>(state.customer_ids.size());
}

}  // namespace dangol
