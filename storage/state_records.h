#pragma once
// Encoders and decoders of the state store's values, one pair per record
// kind (layout: state_store.h). Pure byte work on engine types; no RocksDB.
// Decoders return false on a malformed value (the caller reports corruption).

#include <string>
#include <string_view>

#include "engine/state.h"
#include "storage/record_codec.h"

namespace dangol::storage::records {

// Campaign definition: what campaignDefined fixed, never changed later.
void put_campaign_definition(const Campaign& c, std::string* out);
bool get_campaign_definition(std::string_view in, Campaign* c);

// Campaign ledger: status, funder balances and crossed thresholds, counters,
// rejections -- what later events change.
void put_campaign_ledger(const Campaign& c, std::string* out);
bool get_campaign_ledger(std::string_view in, Campaign* c);

void put_merchant(const Merchant& m, std::string* out);
bool get_merchant(std::string_view in, Merchant* m);

// A whole coupon (inside a coupon chunk), and the part of it that changes
// after the grant (an overlay).
void put_coupon(const Coupon& k, codec::Writer& w);
bool get_coupon(codec::Reader& r, Coupon* k);
void put_coupon_mutable(const Coupon& k, codec::Writer& w);
void get_coupon_mutable(codec::Reader& r, Coupon* k);

void put_usage(const MerchantUsage& u, std::string* out);
bool get_usage(std::string_view in, MerchantUsage* u);

void put_parts(const Parts& p, std::string* out);
bool get_parts(std::string_view in, Parts* p);

}  // namespace dangol::storage::records
