#!/usr/bin/env bash
# `make run`: campaignd on the embedded development broker with the demo
# (pilot + festival) and the HTTP API, in the foreground. Ctrl-C stops it
# cleanly. The embedded broker keeps its topics in memory, so every run
# starts from a fresh state dir under var/run.
set -euo pipefail
build=${1:-build}
http=${DANGOL_HTTP:-127.0.0.1:8080}
campaignd="$build/services/campaignd/campaignd"
state=var/run/state
rm -rf "$state"
mkdir -p var/run

"$campaignd" --brokers embedded --state-dir "$state" --demo --http "$http" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid' INT TERM

# Tell the user where to look once the API answers and the demo is in.
for _ in $(seq 1 100); do
  if ! kill -0 $pid 2>/dev/null; then wait $pid; exit $?; fi
  if curl -sf "http://$http/readyz" >/dev/null 2>&1 &&
     curl -sf "http://$http/v1/campaigns" 2>/dev/null | grep -q buy-local; then
    break
  fi
  sleep 0.2
done
cat <<EOF

  Dangol is running: campaignd, embedded development broker, demo data
  (the Mangwon pilot and a 100,000-event festival). Try, in another shell:

    curl http://$http/v1/campaigns
    curl http://$http/v1/markets/mkt-mangwon
    curl http://$http/v1/reconciliation
    curl http://$http/metrics
    curl -X POST 'http://$http/v1/events?wait=1' -d \\
      '{"eventId":"try-1","occurredAt":"2023-12-01T09:00:00+09:00","channelAdded":{"merchantId":"m-001","customerId":"c-try"}}'
    curl http://$http/v1/coupons/try-1/welcome-mangwon-2023

  Without --auth-file every request acts as admin (loopback only).
  Ctrl-C stops campaignd (it finishes its batch and commits).

EOF
wait $pid
