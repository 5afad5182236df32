#pragma once
// Rebuilds an engine from stored records (DESIGN §5 recovery). Pure: the
// state store (storage/) reads and decodes its records, fills the stored
// tables through state(), and finish() rebuilds everything derived from
// them, so that the loaded engine decides exactly as one that never stopped.
//
// Filled by the caller, in index order where tables are indexed:
//   interners (campaign, merchant, market, category, customer ids), campaigns
//   (definition and ledger; `coupons` left empty), merchants (may be shorter
//   than merchant_ids: the rest are default), coupons (coupon_id .. status,
//   in_expiry_queue), friendships, customer_grants, merchant_usages, welcomed,
//   each campaign's granted_by_local_day / message_cash, seen_events, and
//   shard, next_seq, has_clock, clock, outcomes.
// Rebuilt by finish():
//   coupon_index, each campaign's coupon list, the expiry queue, the sorted
//   campaign lists, and merchants padded to merchant_ids.

#include <string>
#include <vector>

#include "engine/engine.h"

namespace dangol {

class StateRestorer {
 public:
  // `engine` must be fresh (nothing decided yet).
  explicit StateRestorer(Engine* engine);

  State& state() { return engine_->state_; }

  // Rebuilds the coupon index, each campaign's coupon list and the expiry
  // queue. It reads only campaigns, coupons and merchant ids, so a loader may
  // run it while another thread fills customer names, customer tables and
  // seen events. finish() runs it if the caller did not.
  void index_coupons(std::vector<std::string>* problems);

  // Rebuilds the remaining derived tables, checks that the stored ones refer
  // to each other consistently, and clears the engine's change log. Returns
  // one line per problem (empty when the state is usable); a state with
  // problems must not be used.
  std::vector<std::string> finish();

 private:
  void rebuild_campaign_lists();
  void check_customers(std::vector<std::string>* problems);

  bool coupons_indexed_ = false;
  Engine* engine_;
};

}  // namespace dangol
