#!/usr/bin/env bash
# campaignd benchmarks (issue 3 targets), in one run on this machine:
#   - end-to-end decisions/s through the development broker, against the
#     rate at which kcat alone consumes the same events topic (ratio printed);
#   - batch commit latency p50/p99 (campaignd logs them at shutdown);
#   - time to ready after kill -9 with 1M outstanding coupons.
# Usage: tests/bench/campaignd_bench.sh [BUILD_DIR]   (EVENTS=N, COUPONS=N to resize)
set -euo pipefail
build=${1:-build}
events=${EVENTS:-300000}
coupons=${COUPONS:-1000000}
ctl="$build/services/campaignctl/campaignctl"
daemon="$build/services/campaignd/campaignd"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"; }
trap cleanup EXIT

# 16 partitions: the development broker keeps only about 5 MB per partition
# and would drop events before campaignd reads them.
partitions=16
# start_broker: a fresh development broker in the background; sets $bs.
start_broker() {
  rm -f "$work/brokers"
  "$ctl" devbroker --partitions $partitions --brokers-file "$work/brokers" >/dev/null 2>&1 &
  broker_pid=$!; pids+=($broker_pid)
  for _ in $(seq 100); do [ -s "$work/brokers" ] && break; sleep 0.1; done
  bs=$(cat "$work/brokers")
}

# Waiting must not take CPU from campaignd on a two-core machine: polling
# with kcat, awk and sleep every 50 ms took about a fifth of it. The loops
# below read campaignd's log with bash builtins and sleep on a FIFO.
mkfifo "$work/tick"
exec 4<> "$work/tick"
nap() { read -r -t "$1" -u 4 _ || true; }
# wait_for_log FILE TEXT SECONDS: until a line of FILE contains TEXT.
wait_for_log() {
  local file=$1 text=$2 deadline=$((SECONDS + $3)) line= partial=
  until [ -e "$file" ]; do
    if [ $SECONDS -ge $deadline ]; then return 1; fi
    nap 0.01
  done
  exec 5< "$file"
  while :; do
    while IFS= read -r line <&5 || { partial+=$line; line=; false; }; do
      line=$partial$line; partial=
      if [[ $line == *"$text"* ]]; then exec 5<&-; return 0; fi
    done
    if [ $SECONDS -ge $deadline ]; then exec 5<&-; return 1; fi
    nap 0.01
  done
}

# start_campaignd LOG: campaignd on $work/state in the background; sets $pid.
start_campaignd() {
  "$daemon" --brokers "$bs" --state-dir "$work/state" > "$1" 2>&1 &
  pid=$!; pids+=($pid)
}
# await LOG TEXT SECONDS: until campaignd logs TEXT, or fail the benchmark.
await() { wait_for_log "$1" "$2" "$3" || { echo "campaignd did not log \"$2\" within $3 s" >&2; exit 1; }; }

topic_size() {  # records in a topic: the sum of its partitions' end offsets
  # One kcat for all partitions: one per partition cost about a quarter of
  # a CPU second per check, taken from campaignd on a two-core machine.
  local args=()
  for p in $(seq 0 $((partitions - 1))); do args+=(-t "$1:$p:-1"); done
  kcat -Q -b "$bs" "${args[@]}" 2>/dev/null | awk '{n += $NF} END {print n + 0}'
}
now() { date +%s.%N; }

echo "== end to end: $events festival events through the development broker"
"$ctl" simulate festival --seed 3 --events "$events" > "$work/festival.jsonl"
# Three runs of each, alternating, and the fastest of each compared: on this
# shared VM one run of either varies by up to a third, and the fastest is the
# fairest measure of what each can do. Each pair of runs gets a fresh broker
# holding the same events, so that every campaignd run starts from empty
# topics and state, as the first would.
runs=${RUNS:-3}
kcat_times=() e2e_times=()
for run in $(seq "$runs"); do
  if [ "$run" -gt 1 ]; then kill -9 "$broker_pid"; wait "$broker_pid" 2>/dev/null || true; fi
  start_broker
  "$ctl" produce --brokers "$bs" "$work/festival.jsonl" > /dev/null
  records=$(topic_size campaign.events)
  t0=$(now); kcat -C -b "$bs" -t campaign.events -e -o beginning -q -f '%o\n' > /dev/null 2>&1; t1=$(now)
  kcat_times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
  # campaignd logs "caught up" once every event the topic had is decided and
  # the decisions topic has acknowledged every decision.
  rm -rf "$work/state"
  t2=$(now)
  start_campaignd "$work/run$run.log"
  await "$work/run$run.log" "caught up with" 300
  t3=$(now)
  kill -TERM "$pid"; wait "$pid" || true
  e2e_times+=("$(awk -v a="$t2" -v b="$t3" 'BEGIN { print b - a }')")
  published=$(topic_size campaign.decisions)
  [ "$published" -eq "$records" ] || { echo "run $run: decisions topic holds $published records, not $records" >&2; exit 1; }
done
python3 - "$records" "${kcat_times[*]}" "${e2e_times[*]}" <<'PY'
import sys
n = int(sys.argv[1])
kcat = [n / float(t) for t in sys.argv[2].split()]
e2e = [n / float(t) for t in sys.argv[3].split()]
rates = lambda r: ", ".join(f"{x:,.0f}" for x in r)
print(f"  kcat alone consumes {rates(kcat)} records/s; campaignd decides and publishes {rates(e2e)} records/s")
print(f"  fastest of {len(e2e)} each: {max(e2e):,.0f} vs {max(kcat):,.0f} records/s")
print(f"  end to end = {100 * max(e2e) / max(kcat):.0f} % of the bare kcat rate (target >= 50 %)")
PY
for run in $(seq "$runs"); do
  grep -o 'batch commit p50.*' "$work/run$run.log" | sed "s/^/  run $run: /; s/\$/ (target p99 <= 50 ms)/"
done

echo "== recovery after kill -9 with $coupons outstanding coupons"
"$(dirname "$0")/outstanding_coupons.py" "$coupons" > "$work/coupons.jsonl"
"$ctl" produce --brokers "$bs" "$work/coupons.jsonl" > /dev/null
records=$(topic_size campaign.events)
start_campaignd "$work/fill.log"
await "$work/fill.log" "caught up with" 300
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
t0=$(now)
start_campaignd "$work/recover.log"
await "$work/recover.log" "recovered in" 60
t1=$(now)
kill -TERM "$pid"; wait "$pid" || true
grep -o 'state loaded: .*' "$work/recover.log" | head -1 | sed 's/^/  /'
python3 -c "import sys; print(f'  ready {float(sys.argv[2]) - float(sys.argv[1]):.2f} s after restart (target <= 2 s)')" "$t0" "$t1"
