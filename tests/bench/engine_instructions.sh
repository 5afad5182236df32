#!/usr/bin/env bash
# Instructions the engine executes per festival event (decode into the domain
# event, decide, and the batch prefetch), counted by callgrind: unlike the
# events/s of engine_bench, the count does not move with the load on a shared
# machine, so it shows what a change to the engine did, to within a percent.
#
# With MISSES=1 it also counts the cache lines the engine misses per event,
# in callgrind's cache simulation, as steady as the instructions: for
# changes to the state's layout, where events/s are too noisy to show them
# (docs/performance.md, "Measured"). The simulation has no hardware prefetcher and
# ignores prefetch instructions: it counts every line a load or a store
# misses, in a 48 KiB first-level data cache and a last-level cache of LL
# bytes (default 8 MiB), prefetched or not, and a sequential append as
# much as a random probe, where the hardware streams the one and waits for
# the other. Fewer misses is fewer lines to wait for or prefetch, not a
# prediction of events/s. About 5 minutes a build at a million events.
#
# Usage: tests/bench/engine_instructions.sh [BUILD_DIR [OTHER_BUILD_DIR]]
#   With two build dirs, both are counted and the changes are printed.
#   EVENTS=N sets the festival size (default 20000), MISSES=1 adds the
#   cache misses, LL=BYTES sets their last-level cache.
set -euo pipefail
events=${EVENTS:-20000}
misses=${MISSES:-0}
ll=${LL:-8388608}
command -v valgrind > /dev/null || { echo "engine_instructions: needs valgrind (scripts/install-deps.sh)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cache_sim=()
[ "$misses" = 1 ] && cache_sim=(--cache-sim=yes --D1=49152,12,64 --LL="$ll",16,64)

# Per event of the engine_bench in build dir $1: "instructions", or with
# MISSES=1 "instructions first-level-misses last-level-read-misses
# last-level-write-misses".
count() {
  DANGOL_BENCH_EVENTS=$events valgrind --tool=callgrind "${cache_sim[@]}" --callgrind-out-file="$work/out" \
    --toggle-collect='dangol::Engine::decide(*' --toggle-collect='dangol::Engine::prefetch_for(*' \
    "$1/tests/bench/engine_bench" --benchmark_filter=BM_DecodeDecideBatched --benchmark_min_time=0.01 \
    --benchmark_format=json --benchmark_out="$work/bench.json" --benchmark_out_format=json > /dev/null 2>&1
  # Each iteration of the benchmark decides the whole stream once.
  callgrind_annotate "$work/out" 2>/dev/null | python3 -c '
import json, re, sys
events = int(sys.argv[1]) * json.load(open(sys.argv[2]))["benchmarks"][0]["iterations"]
names = totals = None
for line in sys.stdin:  # read to the end: a closed pipe would fail callgrind_annotate
    if line.startswith("Events shown:"):
        names = line.split()[2:]
    elif "PROGRAM TOTALS" in line:
        totals = dict(zip(names, (int(v.replace(",", "")) for v in re.findall(r"([\d,]+) \(", line))))
counts = [totals["Ir"] // events]
if "DLmr" in totals:
    counts += [(totals["D1mr"] + totals["D1mw"]) / events, totals["DLmr"] / events, totals["DLmw"] / events]
print(" ".join(f"{c:.2f}" if isinstance(c, float) else str(c) for c in counts))
' "$events" "$work/bench.json"
}

show() {  # build dir, counts
  read -r ir d1 llr llw <<< "$2"
  if [ "$misses" = 1 ]; then
    echo "  $1: $ir instructions, $d1 first-level misses, $llr last-level read misses, $llw last-level write misses"
  else
    echo "  $1: $ir"
  fi
}

new=$(count "${1:-build}")
if [ "$misses" = 1 ]; then
  echo "== engine instructions and cache misses per festival event ($events events, LL $((ll >> 20)) MiB, decide + prefetch, callgrind)"
else
  echo "== engine instructions per festival event ($events events, decide + prefetch, callgrind)"
fi
show "${1:-build}" "$new"
if [ $# -ge 2 ]; then
  old=$(count "$2")
  show "$2" "$old"
  python3 -c '
import sys
new, old = ([float(x) for x in s.split()] for s in sys.argv[1:3])
names = ("instructions", "first-level misses", "last-level read misses", "last-level write misses")
change = lambda a, b: f"{100 * (a - b) / b:+.1f} %" if b else f"{a - b:+.2f}"
print("  change: " + ", ".join(f"{n} {change(a, b)}" for n, a, b in zip(names, new, old)))
' "$new" "$old"
fi
