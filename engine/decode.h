#pragma once
// The input boundary: a protobuf Envelope becomes a validated domain Event,
// or the name of the first field that breaks a rule (DESIGN §3 step 1).

#include <string>

#include "dangol.pb.h"
#include "engine/event.h"

namespace dangol {

// Fills *out and returns true when every field rule holds. Otherwise returns
// false and sets *detail to "<field path>: <rule>", e.g.
// "couponRedeemed.orderAmount: must be 0…10^15", and *out is left partly
// filled, not an event. `out` views strings of `in`; reusing it from event to
// event saves constructing its payload.
bool decode_envelope(const v1::Envelope& in, Event* out, std::string* detail);

// Converts a protobuf Timestamp to an Instant; false when out of range.
bool to_instant(const google::protobuf::Timestamp& ts, Instant* out);

bool is_valid_id(std::string_view id, std::size_t max_bytes = 64);
bool is_valid_coupon_id(std::string_view id);

}  // namespace dangol
