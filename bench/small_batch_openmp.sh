#!/usr/bin/env bash
# small_batch_openmp.sh — judges issue 9's idle target "1x1000x768 top-10 no
# slower than the OpenMP driver": builds the OpenMP-era library (commit
# e9e36ee, the last one with the OpenMP CPU driver) in a scratch directory,
# compiles bench/small_batch.c against it and against this tree's library,
# and runs the two alternately (the order swaps every round), 2 threads and
# 1 thread, in the same session.
#
#   bash bench/small_batch_openmp.sh [BUILD_DIR] [ROUNDS]
#
# BUILD_DIR: this tree's build (default build; it must hold libvecscore.so).
# ROUNDS: rounds of the alternation (default 5); each run of
# vecscore-small-batch is 7 repeats of 200 calls. Prints every round, the
# median and range of the round medians of each variant, and one line
#   PASS|FAIL idle 1x1000x768 top-10, 2 threads: pool X ms vs OpenMP Y ms
# which vecscore-bench --contention repeats in its targets when
# VECSCORE_OPENMP_SMALL_RESULT names the file this script writes
# ($OUT_FILE, default bench-results/small_batch_openmp.txt).
# SB_PREFIX, if set, runs each measurement under that command (for example
# SB_PREFIX="chrt -f 1": SCHED_FIFO, so that other jobs on a shared machine
# cannot preempt the two threads; say so with the figures).
# Exit status: 0 PASS, 2 FAIL, 1 could not measure. About 4 minutes on a
# 2-core machine (2 of them the build).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
ROUNDS=${2:-5}
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
OMP_COMMIT=e9e36ee
OUT_FILE=${OUT_FILE:-$ROOT/bench-results/small_batch_openmp.txt}
if [ ! -e "$BUILD/libvecscore.so" ]; then
    echo "small_batch_openmp.sh: $BUILD/libvecscore.so not found (build the tree first)" >&2
    exit 1
fi
if ! [[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]]; then
    echo "small_batch_openmp.sh: ROUNDS '$ROUNDS' is not a whole number >= 1" >&2
    exit 1
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
echo "building the OpenMP driver ($OMP_COMMIT) in $TMP"
mkdir -p "$TMP/omp"
git -C "$ROOT" archive "$OMP_COMMIT" | tar -x -C "$TMP/omp"
cmake -S "$TMP/omp" -B "$TMP/omp/build" -DCMAKE_BUILD_TYPE=Release >"$TMP/cmake.log" 2>&1 ||
    { cat "$TMP/cmake.log" >&2; exit 1; }
cmake --build "$TMP/omp/build" -j2 --target vecscore >"$TMP/build.log" 2>&1 ||
    { tail -20 "$TMP/build.log" >&2; exit 1; }
CC=${CC:-cc}
"$CC" -O2 -std=c11 -I "$TMP/omp/include" "$ROOT/bench/small_batch.c" -o "$TMP/sb-omp" \
    -L "$TMP/omp/build" -lvecscore -Wl,-rpath,"$TMP/omp/build"
"$CC" -O2 -std=c11 -I "$ROOT/include" "$ROOT/bench/small_batch.c" -o "$TMP/sb-pool" \
    -L "$BUILD" -lvecscore -Wl,-rpath,"$BUILD"

# One run: prints the median of its repeat medians, in ms.
run() { ${SB_PREFIX:-} "$TMP/sb-$1" --threads "$2" --repeats 7 | sed -n 's/^summary: median of repeat medians \([0-9.]*\) ms.*/\1/p'; }

declare -A all
for t in 2 1; do for v in pool omp; do all[$v$t]=""; done; done
for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then order="omp pool"; else order="pool omp"; fi
    for t in 2 1; do
        line="round $r, $t thread(s):"
        for v in $order; do
            m=$(run "$v" "$t")
            [ -n "$m" ] || { echo "small_batch_openmp.sh: vecscore-small-batch ($v) failed" >&2; exit 1; }
            all[$v$t]+="$m "
            line+=" $v $m ms"
        done
        echo "$line"
    done
done

# median, min and max of a list of numbers
stats() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g | awk '{v[NR]=$1} END {printf "%.4f %.4f %.4f", v[int((NR+1)/2)], v[1], v[NR]}'; }
for t in 2 1; do
    read -r pm plo phi <<<"$(stats "${all[pool$t]}")"
    read -r om olo ohi <<<"$(stats "${all[omp$t]}")"
    echo "$t thread(s): pool median $pm ms ($plo-$phi), OpenMP median $om ms ($olo-$ohi), $ROUNDS rounds"
    if [ "$t" = 2 ]; then
        verdict=$(awk -v p="$pm" -v o="$om" 'BEGIN {print (p <= o) ? "PASS" : "FAIL"}')
        result="$verdict idle 1x1000x768 top-10, 2 threads: pool $pm ms ($plo-$phi) vs OpenMP $om ms ($olo-$ohi), median of $ROUNDS alternating rounds"
    fi
done
echo "$result"
mkdir -p "$(dirname "$OUT_FILE")"
echo "$result" >"$OUT_FILE"
[ "${result%% *}" = PASS ] && exit 0 || exit 2
