#!/usr/bin/env bash
# scripts/demo.sh — the quick start's "run the main job": installs what is
# missing, builds vecscore, then uses the `vecscore` command on a generated
# sample (20,000 x 128 base vectors, 100 queries, cosine top-10):
#   - the first results,
#   - the same job on the auto-chosen device and on every device
#     `vecscore devices` lists, with the time each took and its recall
#     against the CPU result.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
VECSCORE="$ROOT/build/cli/vecscore"
WORK="$ROOT/build/demo"
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
"$VECSCORE" topk -q queries.fvecs -b base.fvecs -k 3 --metric cosine -o - --quiet | head -n 7

echo
echo "== top-10 on every device (recall against the CPU result)"
printf '%-12s %-8s %-44s %10s  %s\n' "selector" "backend" "device" "wall" "recall"
selectors=$("$VECSCORE" devices --json | grep -o '"selector": "[^"]*"' | cut -d'"' -f4 | grep -v '^auto$')
for sel in auto $selectors; do
  "$VECSCORE" topk -q queries.fvecs -b base.fvecs -k 10 --metric cosine --device "$sel" \
    -o "result-${sel//:/_}.ivecs" --quiet --report 2> report.txt
  backend=$(grep '^backend=' report.txt | head -n 1 | cut -d= -f2)
  device=$(grep '^device=' report.txt | head -n 1 | cut -d= -f2 | cut -c1-44)
  wall=$(grep '^wall_seconds=' report.txt | head -n 1 | cut -d= -f2)
  recall=$("$VECSCORE" recall --result "result-${sel//:/_}.ivecs" --truth cpu.ivecs -k 10 |
    grep -i 'recall@10' | head -n 1)
  printf '%-12s %-8s %-44s %8.3f s  %s\n' "$sel" "$backend" "$device" "$wall" "$recall"
done
