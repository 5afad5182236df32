#pragma once
// `campaignctl replay` and the event-file half of `report` (CONTRACT §4):
// JSONL envelopes in file order, as shard 0, partition 0, offset = index of
// the non-blank line.

#include <cstdint>
#include <functional>
#include <string>

#include "engine/engine.h"

namespace dangol::ctl {

struct ReplayStats {
  std::int64_t decided = 0;  // decisions written
  std::int64_t skipped = 0;  // non-blank lines that did not decode
};

struct ReplayOptions {
  bool write_decisions = true;
  bool paranoid = false;  // full invariant check after every event
  // Called after every `commit_every` decisions and once at the end, e.g. to
  // persist the engine's changes; returning false stops the replay.
  std::function<bool(std::string* error)> commit;
  std::int64_t commit_every = 10'000;
};

// Applies every decodable line of `in_fd` to `engine`, writing one decision
// JSON line per event to `out_fd`. Lines that do not decode are reported on
// `err_fd` with their line number and skipped. Returns false (with *error)
// on an I/O failure or a broken invariant under `paranoid`.
bool replay(int in_fd, int out_fd, int err_fd, Engine& engine, const ReplayOptions& options, ReplayStats* stats,
            std::string* error);

}  // namespace dangol::ctl
