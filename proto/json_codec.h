// Fast JSON codec for the Envelope (CONTRACT §1) and the Decision (§3).
//
// `campaignctl replay` parses and writes one JSON object per event, and
// protobuf 3.21's util::JsonStringToMessage / MessageToJsonString cost
// microseconds each because they go through a type resolver. This codec is
// hand-written for our schema: no reflection, no type resolver, one pass.
//
// Output is byte-identical to protobuf's util (checked by differential tests
// in tests/unit/json_codec_test.cc), quirks included: '<', '>' and invisible
// code points escaped as \uXXXX, and, in a Decision, set Timestamps printed
// after all other fields.
//
// Input follows the protobuf JSON mapping as protobuf 3.21 parses it:
// lowerCamelCase and original field names; int64 and int32 as JSON numbers
// (integral values, including forms like 1.0 and 1e3) or as decimal strings
// ("+7" and "007" too); bool as true/false or protobuf's strings ("true",
// "yes", "1", ...); enums by name or number; Timestamps as RFC 3339 with any
// offset, converted to UTC exactly as protobuf does (digits beyond the ninth
// fractional one are truncated, as protobuf does); `null` for a field, or for
// an element of a repeated field, means "not set".
//
// Deliberate differences from protobuf 3.21's parser:
//  1. In an Envelope, an unknown enum NAME does not fail the parse: the field
//     is set to its 0 value (..._UNSPECIFIED), so that the engine answers
//     INVALID naming the field instead of the record being undecodable.
//     parse_decision keeps protobuf's rule (error), because Decision.Outcome's
//     0 value is APPLIED and must never be guessed.
//  2. A field given twice (the same key twice, or both its JSON and its
//     original name) is an error; protobuf silently keeps the last one.
// And, because protobuf 3.21's legacy parser accepts things that are not
// JSON, or that no producer of our events would send:
//  3. The syntax is strict RFC 8259 JSON: no single-quoted strings, unquoted
//     keys, trailing commas, raw control characters in strings, unknown
//     escapes (\x), hex or "5." numbers. A repeated field must be an array
//     (protobuf also takes a bare scalar, or nested arrays, and flattens).
//  4. A Timestamp must be an RFC 3339 string whose UTC value lies within
//     0001-01-01T00:00:00Z..9999-12-31T23:59:59.999999999Z, and nothing may
//     follow the offset (protobuf also takes {"seconds":..}, stops reading at
//     an escaped NUL, and accepts a value its own printer then refuses).
//
// Failures are one line "<path>: <problem>", e.g. "eventId: expected a
// string", "campaignDefined.funders[1]: unknown field \"foo\"", "invalid JSON
// at byte 17: expected ',' or '}'". Nesting is bounded by the schema (at most
// six brackets deep): the parser only descends into values of known fields, so
// hostile nesting fails at its first unexpected bracket.
#pragma once

#include <string>
#include <string_view>

#include "dangol.pb.h"

namespace dangol::json {

// None of these throws; an allocation failure terminates (noexcept).

// Parses one Envelope. On failure returns false, sets *error to one line and
// leaves *out cleared. `out` is Clear()ed first.
bool parse_envelope(std::string_view json, dangol::v1::Envelope* out,
                    std::string* error) noexcept;

// Parses one Decision (the output of append_decision or of protobuf's util),
// with the same contract as parse_envelope.
bool parse_decision(std::string_view json, dangol::v1::Decision* out,
                    std::string* error) noexcept;

// Appends the JSON of `d` without a trailing newline, byte-identical to
// MessageToJsonString with always_print_primitive_fields = true.
// Precondition (what parse_* guarantee): every Timestamp lies within
// 0001-01-01..9999-12-31 with nanos in [0, 1e9); protobuf's printer fails on
// anything else, and so a violation is a bug here and aborts.
// Strings are expected to be valid UTF-8; invalid bytes are dropped.
void append_decision(const dangol::v1::Decision& d, std::string* out) noexcept;

// Appends the JSON of `e` without a trailing newline, byte-identical to
// MessageToJsonString with default options (defaults omitted, proto3
// `optional` fields printed when present). Same precondition as above.
void append_envelope(const dangol::v1::Envelope& e, std::string* out) noexcept;

// Appends `ts` as a quoted RFC 3339 UTC string, as protobuf's JSON printer
// writes Timestamps ("2023-08-01T00:00:00Z"). Same precondition as above.
void append_timestamp_json(const google::protobuf::Timestamp& ts, std::string* out) noexcept;

}  // namespace dangol::json
