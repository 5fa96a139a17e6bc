#!/usr/bin/env bash
# bench/mpi_scaling.sh — vecscore-mpi scaling on one machine: 2 ranks x 1
# thread against 1 rank x 2 threads (vecscore, one process), top-10 of
# Q x 100,000 x 768 for Q = 1, 16, 1024, each run REPS times; and the bytes
# each rank sends in the top-k reduction (vecscore-mpi --report), for
# R = 2, 3, 4 and two base sizes, to show they are K x Q x 12, whatever N.
#
#   bench/mpi_scaling.sh BUILD_DIR [WORK_DIR] [REPS]
#
# Prints a Markdown table per part (docs/benchmarks.md quotes them). Times:
# "wall" is the whole command (mpirun's start-up included); "run" is the
# session's own wall_seconds from --report (inputs open to results written,
# rank 0's clock). Both results files are compared byte for byte.
set -euo pipefail
BUILD=${1:?usage: mpi_scaling.sh BUILD_DIR [WORK_DIR] [REPS]}
BUILD=$(cd "$BUILD" && pwd) # the runs happen in WORK_DIR: a relative BUILD_DIR must still resolve
WORK=${2:-$BUILD/mpi-scaling}
REPS=${3:-3}
V=$BUILD/cli/vecscore
M=$BUILD/mpi/vecscore-mpi
MPIEXEC=${MPIEXEC:-mpirun}
[ -x "$V" ] && [ -x "$M" ] || { echo "mpi_scaling: build $V and $M first" >&2; exit 1; }
[ "$(id -u)" -ne 0 ] || export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMP_WAIT_POLICY=PASSIVE
mkdir -p "$WORK"
cd "$WORK"

[ -f base.fbin ] || "$V" gen --count 100000 --dim 768 --seed 1 -o base.fbin
[ -f base4k.fbin ] || "$V" gen --count 4000 --dim 768 --seed 1 -o base4k.fbin
for q in 1 16 1024; do
    [ -f "q$q.fbin" ] || "$V" gen --count "$q" --dim 768 --seed 2 -o "q$q.fbin"
done

# timed LABEL CMD...: one run; prints "WALL RUN" (seconds) to stdout
timed() {
    local start end run
    start=$(date +%s.%N)
    "$@" --report --quiet 2>report.txt >/dev/null || { cat report.txt >&2; exit 1; }
    end=$(date +%s.%N)
    run=$(sed -n 's/^wall_seconds=//p' report.txt | tail -1)
    awk -v a="$start" -v b="$end" -v r="$run" 'BEGIN {printf "%.3f %s\n", b - a, r}'
}
stats() { # median min max of the numbers on stdin
    sort -g | awk '{v[NR]=$1} END {printf "%.3f %.3f %.3f\n", v[int((NR+1)/2)], v[1], v[NR]}'
}

echo "| Q x N x D | 1 rank x 2 threads: run s (min-max) | 2 ranks x 1 thread: run s (min-max) | ratio (2x1 / 1x2) | wall s, 1x2 / 2x1 |"
echo "|---|---|---|---|---|"
for q in 1 16 1024; do
    : >one.txt
    : >two.txt
    for _ in $(seq 1 "$REPS"); do
        timed "$V" topk -q "q$q.fbin" -b base.fbin -k 10 --threads 2 --device cpu -o one.ivecs >>one.txt
        timed "$MPIEXEC" -n 2 --bind-to none "$M" topk -q "q$q.fbin" -b base.fbin -k 10 --threads 1 \
            --device cpu -o two.ivecs >>two.txt
        cmp -s one.ivecs two.ivecs || { echo "mpi_scaling: results differ for Q=$q" >&2; exit 1; }
    done
    read -r one_med one_min one_max < <(awk '{print $2}' one.txt | stats)
    read -r two_med two_min two_max < <(awk '{print $2}' two.txt | stats)
    read -r one_wall _ _ < <(awk '{print $1}' one.txt | stats)
    read -r two_wall _ _ < <(awk '{print $1}' two.txt | stats)
    printf "| %s x 100000 x 768 | %s (%s-%s) | %s (%s-%s) | %.2f | %s / %s |\n" "$q" \
        "$one_med" "$one_min" "$one_max" "$two_med" "$two_min" "$two_max" \
        "$(awk -v a="$two_med" -v b="$one_med" 'BEGIN {print a / b}')" "$one_wall" "$two_wall"
done

echo
echo "| R | N | Q | K | bytes sent, most by one rank | bytes received by rank 0 | sent by all ranks | K x Q x 12 x ceil(log2 R) |"
echo "|---|---|---|---|---|---|---|---|"
for ranks in 2 3 4; do
    for base in base4k.fbin base.fbin; do
        n=$([ "$base" = base.fbin ] && echo 100000 || echo 4000)
        "$MPIEXEC" --oversubscribe -n "$ranks" "$M" topk -q q16.fbin -b "$base" -k 10 --device cpu \
            -o bytes.ivecs --report --quiet 2>report.txt >/dev/null
        sent=$(sed -n 's/^reduce_bytes_sent_max=//p' report.txt)
        received=$(sed -n 's/^reduce_bytes_received_max=//p' report.txt)
        total=$(sed -n 's/^reduce_bytes_sent_total=//p' report.txt)
        levels=$(awk -v r="$ranks" 'BEGIN {l = 0; while ((2 ^ l) < r) l++; print l}')
        echo "| $ranks | $n | 16 | 10 | $sent | $received | $total | $((10 * 16 * 12 * levels)) |"
    done
done
