#!/usr/bin/env bash
# `make run`: the pilot and festival demos through the engine, end to end on
# files: simulate -> replay -> reconcile -> report. Output lands in var/demo.
set -euo pipefail
build=${1:-build}
ctl="$build/services/campaignctl/campaignctl"
out=var/demo
mkdir -p "$out"

echo "== pilot: simulate, replay, reconcile"
"$ctl" simulate pilot > "$out/pilot.jsonl"
"$ctl" replay --events "$out/pilot.jsonl" --decisions "$out/pilot.decisions.jsonl"
"$ctl" reconcile --decisions "$out/pilot.decisions.jsonl"
"$ctl" report --events "$out/pilot.jsonl"

echo
echo "== festival (200,000 events): simulate, replay, reconcile"
"$ctl" simulate festival --events 200000 > "$out/festival.jsonl"
"$ctl" replay --events "$out/festival.jsonl" --decisions "$out/festival.decisions.jsonl"
"$ctl" reconcile --decisions "$out/festival.decisions.jsonl"
"$ctl" report --events "$out/festival.jsonl"

echo
echo "Files are in $out/. Try: $ctl report --events $out/festival.jsonl --format json"
