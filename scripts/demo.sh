#!/usr/bin/env bash
# scripts/demo.sh — the quick start's "run the main job": installs what is
# missing, builds vecscore, then uses the `vecscore` command on a generated
# sample (20,000 x 128 base vectors, 100 queries, cosine top-10):
#   - the first results,
#   - the same job on the auto-chosen device and on every device
#     `vecscore devices` lists, with the time each took and its recall
#     against the CPU result.
#
# Every step writes to a file and reads that file back; nothing is piped into
# a reader that may stop early (`| head` under pipefail fails whenever the
# writer is still writing when head exits: it dies of SIGPIPE).
#
# DEMO_VECSCORE=PATH runs the demo with that vecscore binary and skips the
# set-up (the CLI test `cli.demo` does this); DEMO_WORK=DIR sets the work
# directory (default build/demo).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${DEMO_VECSCORE:-}" ]; then
  VECSCORE="$DEMO_VECSCORE"
else
  "$ROOT/scripts/setup.sh"
  VECSCORE="$ROOT/build/cli/vecscore"
fi
WORK="${DEMO_WORK:-$ROOT/build/demo}"
mkdir -p "$WORK"
cd "$WORK"
export POCL_CACHE_DIR="${POCL_CACHE_DIR:-$WORK/pocl-cache}"

echo "== devices"
"$VECSCORE" devices

echo
echo "== sample: 20000 x 128 base vectors, 100 queries (gaussian, seeds 1 and 2)"
"$VECSCORE" gen --count 20000 --dim 128 --seed 1 -o base.fvecs
"$VECSCORE" gen --count 100 --dim 128 --seed 2 -o queries.fvecs
"$VECSCORE" topk -q queries.fvecs -b base.fvecs -k 10 --metric cosine --device cpu \
  -o cpu.ivecs --quiet

echo
echo "== first results (query, rank, id, score) on the auto-chosen device"
"$VECSCORE" topk -q queries.fvecs -b base.fvecs -k 3 --metric cosine -o first.tsv --quiet
head -n 7 first.tsv

echo
echo "== top-10 on every device (recall against the CPU result)"
printf '%-12s %-8s %-44s %10s  %s\n' "selector" "backend" "device" "wall" "recall"
"$VECSCORE" devices --json >devices.json
selectors=$(grep -o '"selector": "[^"]*"' devices.json | cut -d'"' -f4 | grep -v '^auto$')
for sel in auto $selectors; do
  result="result-${sel//:/_}.ivecs"
  "$VECSCORE" topk -q queries.fvecs -b base.fvecs -k 10 --metric cosine --device "$sel" \
    -o "$result" --quiet --report 2> report.txt
  backend=$(awk -F= '$1 == "backend" { print $2; exit }' report.txt)
  device=$(awk -F= '$1 == "device" { print substr($0, 8, 44); exit }' report.txt)
  wall=$(awk -F= '$1 == "wall_seconds" { print $2; exit }' report.txt)
  "$VECSCORE" recall --result "$result" --truth cpu.ivecs -k 10 >recall.txt
  recall=$(awk '$1 == "recall@10" { print; exit }' recall.txt)
  printf '%-12s %-8s %-44s %8.3f s  %s\n' "$sel" "$backend" "$device" "$wall" "$recall"
done
