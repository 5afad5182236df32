#pragma once
// campaignd's HTTP API (CONTRACT §5) over http::Server.
//
// How reads see state: every GET runs Pipeline::read_state, i.e. under the
// state lock, against the engine as of the last decided event (which may be
// up to one batch ahead of what is committed and published: after a crash
// the same events are decided again to the same state, so nothing read is
// ever taken back). The pipeline takes that lock per chunk of 256 events, so
// a read waits at most for one chunk, and the decision loop at most for one
// read. Reads copy the figures they need under the lock and format JSON
// after it. GET /v1/reconciliation runs the full invariant check, O(state):
// its result is cached until the next decided event.

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "services/campaignd/ingest.h"
#include "services/campaignd/pipeline.h"
#include "services/http/auth.h"
#include "services/http/server.h"

namespace dangol::campaignd {

struct ApiOptions {
  std::chrono::milliseconds default_wait{5'000};  // POST /v1/events?wait=1
  std::chrono::milliseconds max_wait{30'000};     // ?timeoutMs= is capped here
  std::string state_dir;                          // checkpoints must not be inside it
};

class Api {
 public:
  // `ingest` may be null (then POST /v1/events answers 503).
  Api(ApiOptions options, Pipeline& pipeline, Ingest* ingest, http::Auth auth)
      : options_(std::move(options)), pipeline_(pipeline), ingest_(ingest), auth_(std::move(auth)) {}

  void handle(http::Request& request, http::Reply reply);

  // Server stats to include in /metrics (optional).
  void set_server_stats(const http::ServerStats* stats) { server_stats_ = stats; }

  // A request target split into decoded path segments and query parameters.
  struct Target;

 private:
  http::Response route(const http::Request& request, const Target& target, const std::optional<http::Role>& role,
                       const http::Reply& reply, bool* answered_later);
  http::Response post_events(const http::Request& request, const Target& target, const http::Role& role,
                             const http::Reply& reply, bool* answered_later);
  http::Response get_campaigns(const Target& target);
  http::Response get_coupon(const std::string& id, const http::Role& role);
  http::Response get_merchant(const std::string& id, const http::Role& role);
  http::Response get_markets(const Target& target);
  http::Response get_reconciliation();
  http::Response post_checkpoint(const http::Request& request);
  http::Response get_metrics();
  http::Response get_ready();

  ApiOptions options_;
  Pipeline& pipeline_;
  Ingest* ingest_;
  http::Auth auth_;
  const http::ServerStats* server_stats_ = nullptr;

  // The last reconciliation and the seq it was computed at.
  std::mutex reconciliation_mutex_;
  std::int64_t reconciled_at_seq_ = -1;
  std::string reconciliation_json_;
};

}  // namespace dangol::campaignd
