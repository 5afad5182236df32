#!/usr/bin/env bash
# HTTP API benchmarks (issue 4 targets) with wrk, on loopback, in one run:
#   - GET /v1/campaigns/{id}: 2 threads, 64 connections; requests/s and p99
#     (target >= 20,000 requests/s, p99 <= 10 ms);
#   - POST /v1/events?wait=1 paced near 500 requests/s (each of 46
#     connections waits 70 ms between requests); achieved rate and p99
#     (target p99 <= 50 ms at 500 requests/s).
# campaignd runs on the embedded development broker with a small demo.
# Usage: tests/bench/http_bench.sh [BUILD_DIR]   (DURATION=seconds per run)
set -euo pipefail
build=${1:-build}
duration=${DURATION:-10}
daemon="$build/services/campaignd/campaignd"
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

"$daemon" --brokers embedded --state-dir "$work/state" --http 127.0.0.1:0 --demo --demo-events 20000 \
  --http-max-connections 4096 > "$work/out" 2>&1 &
pid=$!
port=
for _ in $(seq 100); do
  port=$(sed -n 's|.*HTTP API on http://127.0.0.1:\([0-9]*\).*|\1|p' "$work/out" | head -1)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "campaignd did not start"; cat "$work/out"; exit 1; }
base="http://127.0.0.1:$port"
# The demo is in once the seq stops moving.
last=-1
for _ in $(seq 300); do
  seq=$(curl -sf "$base/readyz" | sed -n 's/.*"nextSeq":\([0-9]*\).*/\1/p' || true)
  [ -n "$seq" ] && [ "$seq" -gt 20000 ] && [ "$seq" = "$last" ] && break
  last=${seq:--1}
  sleep 0.5
done
echo "campaignd on $base, demo decided (next seq $last)"

p99_ms() {  # the 99% line of wrk --latency, in ms
  awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } printf "%.2f", v }' "$1"
}
rate() { awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$1"; }

echo
echo "== GET /v1/campaigns/welcome-mangwon-2023 (wrk -t2 -c64 -d${duration}s)"
wrk -t2 -c64 -d"${duration}s" --latency "$base/v1/campaigns/welcome-mangwon-2023" > "$work/get.txt"
grep -E "Requests/sec|Non-2xx|Socket errors" "$work/get.txt" || true
get_rate=$(rate "$work/get.txt")
get_p99=$(p99_ms "$work/get.txt")
echo "GET: $get_rate requests/s, p99 $get_p99 ms (targets: >= 20000 requests/s, p99 <= 10 ms)"

cat > "$work/post.lua" <<'EOF'
-- Unique event ids per thread and request; channel-added events for the
-- pilot's merchants, dated inside the campaign and before the engine clock
-- (no expiry sweep in the answers).
local counter = 0
local id = 0
function setup(thread)
  id = id + 1
  thread:set("tid", id)
end
function request()
  counter = counter + 1
  local body = string.format(
    '{"eventId":"bench-%d-%d","occurredAt":"2023-08-01T09:00:00+09:00","channelAdded":{"merchantId":"m-%03d","customerId":"c-bench-%d-%d"}}',
    tid, counter, counter % 70 + 1, tid, counter)
  return wrk.format("POST", "/v1/events?wait=1", {["Content-Type"] = "application/json"}, body)
end
function delay()
  return 70
end
EOF
echo
echo "== POST /v1/events?wait=1 paced near 500 requests/s (wrk -t2 -c46 -d${duration}s, 70 ms between requests)"
wrk -t2 -c46 -d"${duration}s" --latency -s "$work/post.lua" "$base" > "$work/post.txt"
grep -E "Requests/sec|Non-2xx|Socket errors" "$work/post.txt" || true
post_rate=$(rate "$work/post.txt")
post_p99=$(p99_ms "$work/post.txt")
echo "POST wait: $post_rate requests/s, p99 $post_p99 ms (target: p99 <= 50 ms at 500 requests/s)"
echo
echo "Full wrk output: GET"; sed -n '/Latency Distribution/,/Requests\/sec/p' "$work/get.txt"
echo "Full wrk output: POST"; sed -n '/Latency Distribution/,/Requests\/sec/p' "$work/post.txt"
curl -sf "$base/metrics" | grep -E '^dangol_batch_commit_seconds_(sum|count)' || true
