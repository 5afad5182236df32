#include "services/kafka/envelope_producer.h"

#include "proto/json_codec.h"
#include "services/kafka/routing.h"

namespace dangol::kafka {

namespace {

bool is_blank(std::string_view line) { return line.find_first_not_of(" \t\r") == std::string_view::npos; }

}  // namespace

Status produce_envelope(Producer& producer, std::string_view topic, int partition_count, const v1::Envelope& e,
                        std::string* scratch) {
  scratch->clear();
  if (!e.SerializeToString(scratch)) return Status::Invalid("event " + e.event_id() + ": cannot serialize");
  OutRecord record;
  record.topic = topic;
  record.value = *scratch;
  if (!is_broadcast(e)) {
    const std::string key = routing_key(e);
    record.key = key;
    record.tag = kKeyedTag;
    return producer.produce(record);
  }
  record.key = kBroadcastKey;
  record.tag = kBroadcastTag;
  for (int p = 0; p < partition_count; ++p) {
    record.partition = p;
    if (Status s = producer.produce(record); !s.ok()) return s;
  }
  return Status::Ok();
}

Status produce_jsonl(const NextLine& next, Producer& producer, std::string_view topic,
                     std::chrono::milliseconds flush_timeout, std::ostream& diagnostics, JsonlProduceStats* stats) {
  // Up front: broadcast needs it, and an unreachable cluster fails here,
  // within the producer's timeout, before any input is read.
  if (Status s = producer.partition_count(topic, &stats->partitions); !s.ok()) return s;
  v1::Envelope envelope;
  std::string parse_error, bytes;
  InputLine line;
  Status status;
  while (status.ok() && producer.first_error().ok() && next(&line)) {
    if (is_blank(line.text)) continue;
    ++stats->lines;
    if (line.too_long || !json::parse_envelope(line.text, &envelope, &parse_error)) {
      diagnostics << "line " << line.number << ": skipped: " << (line.too_long ? "line too long" : parse_error)
                  << "\n";
      ++stats->skipped;
      continue;
    }
    status = produce_envelope(producer, topic, stats->partitions, envelope, &bytes);
    ++(is_broadcast(envelope) ? stats->broadcast_events : stats->keyed_events);
  }
  // Deliver what was produced even after a failure, so the counts are true.
  Status flushed = producer.flush(flush_timeout);
  stats->delivered_keyed = producer.delivered(kKeyedTag);
  stats->delivered_broadcast_copies = producer.delivered(kBroadcastTag);
  stats->failed = producer.failed();
  if (!producer.first_error().ok()) return producer.first_error();
  if (!status.ok()) return status;
  return flushed;
}

std::string format_summary(std::string_view topic, const JsonlProduceStats& s) {
  std::string out = "produced " + std::to_string(s.delivered_keyed + s.delivered_broadcast_copies) + " records to " +
                    std::string(topic) + " (" + std::to_string(s.delivered_keyed) + " keyed events, " +
                    std::to_string(s.broadcast_events) + (s.broadcast_events == 1 ? " broadcast event x " : " broadcast events x ") + std::to_string(s.partitions) +
                    " partitions = " + std::to_string(s.delivered_broadcast_copies) + " copies)";
  if (s.skipped > 0) {
    out += "; " + std::to_string(s.skipped) + (s.skipped == 1 ? " undecodable line" : " undecodable lines") +
           " skipped";
  }
  return out;
}

}  // namespace dangol::kafka
