#pragma once
// The output boundary: a domain Verdict becomes the wire Decision of
// CONTRACT §3, with ids resolved from the state's interned names.

#include "dangol.pb.h"
#include "engine/state.h"
#include "engine/verdict.h"

namespace dangol {

struct Position;

// Fills `out` (cleared first) with the decision for `in`, read at `position`.
void encode_decision(const State& state, const Verdict& verdict, const v1::Envelope& in, const Position& position,
                     v1::Decision* out);

}  // namespace dangol
