#!/usr/bin/env bash
# bench/reproduce.sh — the runs behind docs/benchmarks.md, in one go:
#   1. the full benchmark (every path, every default shape, metric and mode,
#      then the contention scenario), with each peer at its best setting here;
#   2. OpenBLAS with the Haswell (AVX2) kernels this machine's environment
#      forces, for comparison with 1;
#   3. vecscore right after an OpenBLAS call, with OpenBLAS's idle threads
#      told to sleep at once (OPENBLAS_THREAD_TIMEOUT=4), for comparison
#      with the vs-auto-after-blas rows of 1;
#   4. the OpenCL top-k without the fused score+select kernel;
#   5. the cache-resident shape with OpenMP's default wait policy (threads
#      spin between calls) instead of PASSIVE.
#
#   bench/reproduce.sh [OUT_DIR]      (default bench-results)
#
# VECSCORE names the vecscore binary (default build/cli/vecscore; `vecscore
# bench` runs build/cli/vecscore-bench). Runs take about 13 minutes on the
# 2-core machine of the docs (the contention scenario is bounded to about 4
# of them); run them on a quiet machine: every other process shows up in
# the numbers. Steps 2 to 5 name their shapes and paths, so they leave the
# contention scenario out.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VECSCORE="${VECSCORE:-$ROOT/build/cli/vecscore}"
OUT="${1:-bench-results}"
mkdir -p "$OUT"
POCL_CACHE_DIR="$(mktemp -d)"
export POCL_CACHE_DIR
export OMP_WAIT_POLICY=PASSIVE
batched=16x100000x768,256x100000x128,1024x100000x768
quiet=(--no-alloc --no-plots --no-first-call)

echo "== 1/5 full run" >&2
OPENBLAS_CORETYPE=SkylakeX "$VECSCORE" bench --out "$OUT/full" | tee "$OUT/full.txt"

echo "== 2/5 OpenBLAS with its Haswell kernels" >&2
OPENBLAS_CORETYPE=Haswell "$VECSCORE" bench --shapes "$batched" --metrics dot \
  --paths openblas,faiss-flat "${quiet[@]}" --out "$OUT/openblas-haswell" |
  tee "$OUT/openblas-haswell.txt"

echo "== 3/5 vecscore after OpenBLAS, OpenBLAS threads sleeping at once" >&2
OPENBLAS_CORETYPE=SkylakeX OPENBLAS_THREAD_TIMEOUT=4 "$VECSCORE" bench --shapes "$batched" \
  --metrics dot --paths vs-auto,openblas,vs-auto-after-blas "${quiet[@]}" \
  --out "$OUT/openblas-timeout" | tee "$OUT/openblas-timeout.txt"

echo "== 4/5 OpenCL top-k without the fused kernel" >&2
VECSCORE_CL_FUSED=0 "$VECSCORE" bench --shapes 16x100000x768,256x100000x128 --metrics dot \
  --modes topk --paths 'vs-opencl*' "${quiet[@]}" --out "$OUT/opencl-unfused" |
  tee "$OUT/opencl-unfused.txt"

echo "== 5/5 Q=1 N=1000 d=768 with OpenMP's default wait policy" >&2
env -u OMP_WAIT_POLICY OPENBLAS_CORETYPE=SkylakeX "$VECSCORE" bench --shapes 1x1000x768 \
  --metrics dot,cosine --paths vs-auto,openblas,blog-malloc "${quiet[@]}" \
  --out "$OUT/omp-default" | tee "$OUT/omp-default.txt"

rm -rf "$POCL_CACHE_DIR"
echo "results in $OUT/full (plots, CSV, JSON, summary.md) and $OUT/*.txt" >&2
