#pragma once
// The output boundary: a domain Verdict becomes the wire Decision of
// CONTRACT §3, with ids resolved from the state's interned names.

#include "dangol.pb.h"
#include "engine/state.h"
#include "engine/verdict.h"

namespace dangol {

struct Position;

// Fills `out` (cleared first) with the decision for `in`, read at `position`,
// whole: every effect, seq of its first part, no part fields (the answer of
// POST /v1/events?wait=1, and what folding all its parts gives).
void encode_decision(const State& state, const Verdict& verdict, const v1::Envelope& in, const Position& position,
                     v1::Decision* out);

// Fills `out` with the record of the decision's part `part` (0-based, below
// verdict.parts()), as it is published (CONTRACT §3 "Parts"): seq
// verdict.seq + part, the part's effects, and `part` (1-based) and `parts`
// when there are several.
void encode_decision_part(const State& state, const Verdict& verdict, const v1::Envelope& in,
                          const Position& position, std::int64_t part, v1::Decision* out);

// Appends to `out` the protobuf encoding of the decision encode_decision()
// makes, byte for byte as its SerializeToString would be, without building
// the message: campaignd's hot path, where building one cost more than
// deciding (a heap string for every id of 16 bytes or more).
void append_decision_pb(const State& state, const Verdict& verdict, const v1::Envelope& in, const Position& position,
                        std::string* out);
// The same for encode_decision_part().
void append_decision_part_pb(const State& state, const Verdict& verdict, const v1::Envelope& in,
                             const Position& position, std::int64_t part, std::string* out);

// The wire form of an outcome.
v1::Decision::Outcome wire_outcome(Outcome o);

// The event id a decision echoes: the event's, cut to at most 256 bytes (so
// that a hostile id cannot blow up the decision) at a UTF-8 character
// boundary (so that the decision stays valid proto3).
std::string_view echoed_event_id(std::string_view event_id);

}  // namespace dangol
