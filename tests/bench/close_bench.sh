#!/usr/bin/env bash
# The close of a campaign with many outstanding coupons (issue 22 targets),
# in one run on this machine, through the development broker:
#   - the close decided and every part published: seconds (target <= 10 s
#     for 1M coupons);
#   - GET /v1/campaigns/{id} latency p50/p99 meanwhile (target p99 <= 100 ms);
#   - ready after kill -9 in the middle of publishing a decision of 2,000+
#     parts (target <= 2 s).
# Usage: tests/bench/close_bench.sh [BUILD_DIR]   (COUPONS=N to resize)
set -euo pipefail
build=${1:-build}
coupons=${COUPONS:-1000000}
ctl="$build/services/campaignctl/campaignctl"
daemon="$build/services/campaignd/campaignd"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"; }
trap cleanup EXIT

partitions=16
"$ctl" devbroker --partitions $partitions --brokers-file "$work/brokers" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/brokers" ] && break; sleep 0.1; done
bs=$(cat "$work/brokers")

wait_for_log() {  # FILE TEXT SECONDS
  local deadline=$((SECONDS + $3))
  until grep -q -- "$2" "$1" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { echo "no \"$2\" in $1 within $3 s" >&2; tail -5 "$1" >&2; exit 1; }
    sleep 0.05
  done
}
topic_size() {
  local args=()
  for p in $(seq 0 $((partitions - 1))); do args+=(-t "$1:$p:-1"); done
  kcat -Q -b "$bs" "${args[@]}" 2>/dev/null | awk '{n += $NF} END {print n + 0}'
}
now() { date +%s.%N; }
start_campaignd() {  # LOG
  "$daemon" --brokers "$bs" --state-dir "$work/state" --http 127.0.0.1:0 > "$1" 2>&1 &
  pid=$!; pids+=($pid)
}
port_of() { grep -o 'HTTP API on http://127.0.0.1:[0-9]*' "$1" | head -1 | sed 's/.*://'; }

echo "== $coupons outstanding coupons of one campaign"
"$(dirname "$0")/outstanding_coupons.py" "$coupons" > "$work/coupons.jsonl"
"$ctl" produce --brokers "$bs" "$work/coupons.jsonl" > /dev/null
records=$(topic_size campaign.events)
start_campaignd "$work/fill.log"
wait_for_log "$work/fill.log" "caught up with" 600
port=$(port_of "$work/fill.log")

echo "== close: decided and every part published, GET /v1/campaigns/big meanwhile"
parts=$(( (coupons + 255) / 256 ))
want=$((records + partitions - 1 + parts))  # the close is one record per partition; the applied copy has the parts
before=$(topic_size campaign.decisions)
python3 - "$port" "$work/latency.txt" <<'PY' &
import http.client, sys, time, os
port, out = int(sys.argv[1]), sys.argv[2]
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
lat = []
stop = out + ".stop"
while not os.path.exists(stop):
    t = time.perf_counter()
    conn.request("GET", "/v1/campaigns/big")
    conn.getresponse().read()
    lat.append((time.perf_counter() - t) * 1e3)
    time.sleep(0.01)
open(out, "w").write("\n".join(f"{x:.3f}" for x in lat))
PY
reader=$!
sleep 0.5
t0=$(now)
echo '{"eventId":"close-big","occurredAt":"2023-08-02T00:00:00Z","campaignStatusChanged":{"campaignId":"big","status":"CLOSED"}}' \
  | "$ctl" produce --brokers "$bs" > /dev/null
until [ "$(topic_size campaign.decisions)" -ge "$want" ]; do sleep 0.05; done
t1=$(now)
sleep 0.5
touch "$work/latency.txt.stop"; wait "$reader"
python3 - "$t0" "$t1" "$coupons" "$parts" "$work/latency.txt" <<'PY'
import sys
t0, t1, n, parts = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
lat = sorted(float(x) for x in open(sys.argv[5]).read().split())
q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))]
print(f"  close of {n:,} coupons: {parts:,} parts decided and published in {t1 - t0:.2f} s (target <= 10 s)")
print(f"  GET /v1/campaigns/big during it: {len(lat)} requests, p50 {q(0.5):.1f} ms, p99 {q(0.99):.1f} ms, "
      f"max {lat[-1]:.1f} ms (target p99 <= 100 ms)")
PY
kill -TERM "$pid"; wait "$pid" || true

echo "== ready after kill -9 while the parts of a close are published"
# A second campaign of 512,000 coupons (a close of 2,000 parts), closed;
# campaignd killed as soon as the first of its parts is in the topic.
second=${SECOND:-512000}
"$(dirname "$0")/outstanding_coupons.py" "$second" big2 > "$work/coupons2.jsonl"
"$ctl" produce --brokers "$bs" "$work/coupons2.jsonl" > /dev/null
start_campaignd "$work/fill2.log"
wait_for_log "$work/fill2.log" "caught up with" 600
before=$(topic_size campaign.decisions)
echo '{"eventId":"close-big2","occurredAt":"2023-08-03T00:00:00Z","campaignStatusChanged":{"campaignId":"big2","status":"CLOSED"}}' \
  | "$ctl" produce --brokers "$bs" > /dev/null
until [ "$(topic_size campaign.decisions)" -gt $((before + partitions)) ]; do sleep 0.01; done
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
published=$(topic_size campaign.decisions)
t0=$(now)
start_campaignd "$work/recover.log"
wait_for_log "$work/recover.log" "recovered in" 120
t1=$(now)
grep -o 'outbox had.*' "$work/recover.log" | head -1 | sed 's/^/  /'
python3 -c "import sys; print(f'  {int(sys.argv[3]) - int(sys.argv[4])} records were out at the kill; ready {float(sys.argv[2]) - float(sys.argv[1]):.2f} s after restart (target <= 2 s)')" \
  "$t0" "$t1" "$published" "$before"
kill -TERM "$pid"; wait "$pid" || true
