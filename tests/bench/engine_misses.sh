#!/usr/bin/env bash
# Cache lines the engine misses per festival event (decode into the domain
# event, decide, and the batch prefetch), in callgrind's cache simulation:
# like engine_instructions.sh, the count does not move with the load on a
# shared machine, so it shows what a change to the state's layout did to
# the misses where events/s are too noisy to show it (README, "Measured").
#
# The simulation has no hardware prefetcher and ignores prefetch
# instructions: it counts every line that a load or a store misses, in a
# 48 KiB first-level data cache and a last-level cache of LL bytes (default
# 8 MiB), prefetched or not. A sequential append counts as much as a
# random probe, where the hardware streams the one and waits for the
# other. Fewer misses per event is fewer lines to wait for or prefetch, not
# a prediction of events/s. It takes about 5 minutes at a million events.
#
# Usage: tests/bench/engine_misses.sh [BUILD_DIR [OTHER_BUILD_DIR]]
#   With two build dirs, both are counted and the changes are printed.
#   EVENTS=N sets the festival size (default 1000000), LL=BYTES the
#   last-level cache (default 8388608).
set -euo pipefail
events=${EVENTS:-1000000}
ll=${LL:-8388608}
command -v valgrind > /dev/null || { echo "engine_misses: needs valgrind (scripts/install-deps.sh)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

count() {  # "instructions D1-misses LL-read-misses LL-write-misses" per event, engine_bench in build dir $1
  DANGOL_BENCH_EVENTS=$events valgrind --tool=callgrind --cache-sim=yes --D1=49152,12,64 --LL="$ll",16,64 \
    --callgrind-out-file="$work/out" \
    --toggle-collect='dangol::Engine::decide(*' --toggle-collect='dangol::Engine::prefetch_for(*' \
    "$1/tests/bench/engine_bench" --benchmark_filter=BM_DecodeDecideBatched --benchmark_min_time=0.01 \
    --benchmark_format=json --benchmark_out="$work/bench.json" --benchmark_out_format=json > /dev/null 2>&1
  callgrind_annotate "$work/out" 2>/dev/null | python3 -c '
import json, re, sys
events = int(sys.argv[1]) * json.load(open(sys.argv[2]))["benchmarks"][0]["iterations"]
names = None
for line in sys.stdin:
    if line.startswith("Events shown:"):
        names = line.split()[2:]
    elif "PROGRAM TOTALS" in line:
        totals = dict(zip(names, (int(v.replace(",", "")) for v in re.findall(r"([\d,]+) \(", line))))
        ir, d1, llr, llw = (sum(totals[k] for k in keys) / events
                            for keys in (["Ir"], ["D1mr", "D1mw"], ["DLmr"], ["DLmw"]))
        print(f"{ir:.0f} {d1:.2f} {llr:.2f} {llw:.2f}")
' "$events" "$work/bench.json"
}

show() {  # build dir, counts
  read -r ir d1 llr llw <<< "$2"
  echo "  $1: $ir instructions, $d1 first-level misses, $llr last-level read misses, $llw last-level write misses"
}

echo "== engine cache misses per festival event ($events events, LL $((ll >> 20)) MiB, decide + prefetch, callgrind)"
new=$(count "${1:-build}")
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
