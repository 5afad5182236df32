#pragma once
// Envelopes to Kafka, routed per CONTRACT §2 (see routing.h): the building
// block of `campaignctl produce` and of campaignd's POST /v1/events.

#include <chrono>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>

#include "dangol.pb.h"
#include "services/kafka/producer.h"
#include "services/kafka/status.h"

namespace dangol::kafka {

// Delivery tags (Producer counters) of the records written here.
inline constexpr std::uint8_t kKeyedTag = 0;
inline constexpr std::uint8_t kBroadcastTag = 1;

// Produces `e` as protobuf binary: once with its routing key, or, for a
// broadcast payload, once to each of partitions 0..partition_count-1 with
// key kBroadcastKey and the same bytes. `scratch` holds the serialized bytes.
Status produce_envelope(Producer& producer, std::string_view topic, int partition_count, const v1::Envelope& e,
                        std::string* scratch);

struct InputLine {
  std::string_view text;
  std::int64_t number = 0;  // 1-based line number in the input
  bool too_long = false;    // text was truncated
};
// Returns false at end of input.
using NextLine = std::function<bool(InputLine*)>;

struct JsonlProduceStats {
  std::int64_t lines = 0;             // non-blank lines read
  std::int64_t skipped = 0;           // lines that did not decode (reported, not produced)
  std::int64_t keyed_events = 0;      // events produced with their routing key
  std::int64_t broadcast_events = 0;  // events produced to every partition
  int partitions = 0;                 // of the topic
  std::int64_t delivered_keyed = 0;   // delivery reports: keyed records
  std::int64_t delivered_broadcast_copies = 0;
  std::int64_t failed = 0;            // delivery reports: failed records
};

// Reads JSONL envelopes from `next` and produces each (blank lines are
// ignored; a line that does not decode is reported on `diagnostics` as
// "line N: skipped: <why>" and skipped), then flushes. Stops at the first
// failed delivery. Ok iff every produced record was delivered: skipped lines
// do not make it fail (as in `campaignctl replay`, whose decisions exist only
// for records that decode).
Status produce_jsonl(const NextLine& next, Producer& producer, std::string_view topic,
                     std::chrono::milliseconds flush_timeout, std::ostream& diagnostics, JsonlProduceStats* stats);

// "produced 46 records to campaign.events (38 keyed events, 2 broadcast
// events x 4 partitions = 8 copies); 1 undecodable line skipped"
std::string format_summary(std::string_view topic, const JsonlProduceStats& stats);

}  // namespace dangol::kafka
