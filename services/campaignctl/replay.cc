#include "services/campaignctl/replay.h"

#include <unistd.h>

#include "engine/encode.h"
#include "proto/json_codec.h"
#include "services/campaignctl/line_io.h"

namespace dangol::ctl {
namespace {

bool is_blank(std::string_view line) {
  return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

void report_skipped(BlockWriter& err, std::int64_t line_number, std::string_view why) {
  std::string& b = err.buffer();
  b += "line ";
  b += std::to_string(line_number);
  b += ": skipped: ";
  b += why;
  b += '\n';
  err.maybe_flush();
}

}  // namespace

bool replay(int in_fd, int out_fd, int err_fd, Engine& engine, const ReplayOptions& options, ReplayStats* stats,
            std::string* error) {
  LineReader reader(in_fd);
  BlockWriter out(out_fd);
  BlockWriter err(err_fd);
  v1::Envelope envelope;
  DecisionSlot slot;
  std::string parse_error;
  std::int64_t offset = 0;
  std::string_view line;
  while (reader.next(&line)) {
    if (is_blank(line)) continue;
    const std::int64_t this_offset = offset++;
    if (reader.too_long()) {
      report_skipped(err, reader.line_number(), "line longer than 16 MiB");
      stats->skipped++;
      continue;
    }
    if (!json::parse_envelope(line, &envelope, &parse_error)) {
      report_skipped(err, reader.line_number(), parse_error);
      stats->skipped++;
      continue;
    }
    const Verdict& verdict = engine.decide(envelope);
    stats->decided++;
    if (options.paranoid) {
      auto problems = engine.check_invariants();
      if (!problems.empty()) {
        *error = "invariant broken after line " + std::to_string(reader.line_number()) + ": " + problems.front();
        return false;
      }
    }
    if (options.commit && stats->decided % options.commit_every == 0 && !options.commit(error)) return false;
    if (options.write_decisions) {
      // One line per part, as campaignd publishes them (CONTRACT §3 "Parts").
      for (std::int64_t part = 0; part < verdict.parts(); ++part) {
        v1::Decision* decision = slot.fresh();
        encode_decision_part(engine.state(), verdict, envelope, Position{0, this_offset}, part, decision);
        json::append_decision(*decision, &out.buffer());
        out.buffer() += '\n';
        if (!out.maybe_flush()) {
          *error = "cannot write decisions";
          return false;
        }
      }
    }
  }
  if (!reader.error().empty()) {
    *error = "read failed: " + reader.error();
    return false;
  }
  if (options.commit && !options.commit(error)) return false;
  if (!out.flush()) {
    *error = "cannot write decisions";
    return false;
  }
  (void)err.flush();  // diagnostics are best effort; the decisions are out
  return true;
}

}  // namespace dangol::ctl
