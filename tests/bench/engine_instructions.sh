#!/usr/bin/env bash
# Instructions the engine executes per festival event (decode into the domain
# event, decide, and the batch prefetch), counted by callgrind: unlike the
# events/s of engine_bench, the count does not move with the load on a shared
# machine, so it shows what a change to the engine did, to within a percent.
# (It does not show cache misses: engine_bench does.)
# Usage: tests/bench/engine_instructions.sh [BUILD_DIR [OTHER_BUILD_DIR]]
#   With two build dirs, both are counted and the change is printed.
#   EVENTS=N sets the festival size (default 20000).
set -euo pipefail
events=${EVENTS:-20000}
command -v valgrind > /dev/null || { echo "engine_instructions: needs valgrind (scripts/install-deps.sh)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

count() {  # instructions per event of the engine_bench in build dir $1
  DANGOL_BENCH_EVENTS=$events valgrind --tool=callgrind --callgrind-out-file="$work/out" \
    --toggle-collect='dangol::Engine::decide(*' --toggle-collect='dangol::Engine::prefetch_for(*' \
    "$1/tests/bench/engine_bench" --benchmark_filter=BM_DecodeDecideBatched --benchmark_min_time=0.01 \
    --benchmark_format=json --benchmark_out="$work/bench.json" --benchmark_out_format=json > /dev/null 2>&1
  # Each iteration of the benchmark decides the whole stream once.
  local total iterations
  total=$(callgrind_annotate "$work/out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
  iterations=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["benchmarks"][0]["iterations"])' \
    "$work/bench.json")
  echo $((total / (events * iterations)))
}

new=$(count "${1:-build}")
echo "== engine instructions per festival event ($events events, decide + prefetch, callgrind)"
echo "  ${1:-build}: $new"
if [ $# -ge 2 ]; then
  old=$(count "$2")
  echo "  $2: $old"
  awk -v a="$old" -v b="$new" 'BEGIN { printf "  change: %+.1f %%\n", 100 * (b - a) / a }'
fi
