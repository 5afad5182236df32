#pragma once
// Stable hashes for idempotency (DESIGN §3 step 2). They are persisted, so
// they must never depend on the platform or std::hash: XXH3 over a canonical
// byte form of the decoded event.

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/event.h"
#include "engine/state.h"

namespace dangol {

// 128-bit hash of an event id; the idempotency table keys on it.
EventIdKey event_id_key(std::string_view event_id);

// 64-bit hash of everything the event says besides its id (occurredAt and
// payload), so that JSON and protobuf forms of one event hash alike.
// `scratch` is the buffer for the canonical bytes (its contents are not
// the canonical form afterwards); reusing it keeps hashing off malloc.
std::uint64_t content_hash(const Event& event, std::string* scratch);

}  // namespace dangol
