#!/usr/bin/env bash
# scripts/gpu_check.sh — checks vecscore's OpenCL backend on one device (an
# NVIDIA GPU by default) in a single run of at most 8 minutes, and writes what
# it found under an output directory (summary.txt first).
#
#   scripts/gpu_check.sh [--device SELECTOR] [--small] [--budget S] [--out DIR]
#
#   --device SELECTOR  the device under test (default opencl:name=NVIDIA);
#                      any vecscore selector, e.g. "opencl" for PoCL
#   --small            small shapes only: a dry run that finishes in a few
#                      minutes on PoCL's CPU device (CI machines, no GPU)
#   --budget S         overall deadline in seconds (default 460: under the
#                      8-minute limit with room to collect the results)
#   --out DIR          where results go (default $OUT, else ./gpu-check-out)
#
# Steps, in order; each has its own time limit taken from what is left of the
# budget, so a hanging step cannot starve the others, and a step with too
# little time left is reported as skipped:
#   facts   the machine: nvidia-smi, CPU, the OpenCL vendor files
#   icd     registers the NVIDIA ICD when the driver's libnvidia-opencl is
#           present but no vendor file names it (a private OCL_ICD_VENDORS
#           directory: no root needed)
#   build   Release build of test_opencl and the vecscore CLI (with bench)
#   tests   the OpenCL suite on the device (VECSCORE_TEST_DEVICE), once per
#           kernel family (VECSCORE_CL_KERNELS=gpu, then cpu)
#   bench   the device, the best CPU ISA and auto, top-k, at
#           1x1e6x768, 1024x1e6x768 and 1024x1e5x128 (k = 10, then 1000),
#           the k = 10 run with the cold and warm first-call measurement
#
# Exit status: 0 when every step that ran passed, 1 otherwise.
set -u -o pipefail

DEVICE="opencl:name=NVIDIA"
SMALL=0
BUDGET=460
DEST="${OUT:-$(pwd)/gpu-check-out}"
while [ $# -gt 0 ]; do
    case "$1" in
    --device) DEVICE="${2:?--device needs a selector}"; shift 2 ;;
    --small) SMALL=1; shift ;;
    --budget) BUDGET="${2:?--budget needs seconds}"; shift 2 ;;
    --out) DEST="${2:?--out needs a directory}"; shift 2 ;;
    -h | --help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument '$1' (see --help)" >&2; exit 1 ;;
    esac
done
case "$BUDGET" in '' | *[!0-9]*) echo "gpu_check.sh: --budget '$BUDGET' is not a number of seconds" >&2; exit 1 ;; esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
START=$(date +%s)
mkdir -p "$DEST" || exit 1
WORK=$(mktemp -d /tmp/vs-gpu-check.XXXXXX) || exit 1
BUILD="$WORK/build"
SUMMARY="$DEST/summary.txt"
: >"$SUMMARY"
JOBS=$(nproc 2>/dev/null || echo 4)
[ "$JOBS" -gt 16 ] && JOBS=16
FAILED=0
export ROOT WORK BUILD JOBS # for the steps, which run in their own shells (timeout)

# Nothing from the caller's environment may steer the library or the tests.
unset VECSCORE_DEVICE VECSCORE_THREADS VECSCORE_ARENA_BYTES VECSCORE_SCRATCH_BYTES \
      VECSCORE_LOCK_BYTES VECSCORE_ISA VECSCORE_VERIFY VECSCORE_LOG_LEVEL VECSCORE_CL_KERNEL \
      VECSCORE_CL_KERNELS VECSCORE_CL_BLOCK VECSCORE_CL_FUSED VECSCORE_CL_MAX_ALLOC_BYTES \
      VECSCORE_CL_SURVIVORS \
      VECSCORE_AUTO_OPENCL_CPU VECSCORE_TEST_DEVICE
export POCL_CACHE_DIR="$WORK/pocl-cache" VECSCORE_CACHE_DIR="$WORK/vs-cache"

remaining() { echo $((BUDGET - ($(date +%s) - START))); }
say() { echo "$*" | tee -a "$SUMMARY"; }

# run NAME LIMIT KEEP CMD...: CMD (a program; a shell function via bash -c) under min(LIMIT, time left - KEEP) seconds, its
# output in $DEST/NAME.txt and one line in the summary. Returns CMD's status
# (125 when there was no time left to start it).
run() {
    local name=$1 limit=$2 keep=$3
    shift 3
    local avail=$(($(remaining) - keep))
    if [ "$avail" -lt 10 ]; then
        say "$(printf '%-28s skipped (%ss of the budget left)' "$name" "$(remaining)")"
        return 125
    fi
    [ "$limit" -gt "$avail" ] && limit=$avail
    local t0 rc verdict
    t0=$(date +%s)
    { echo "# $*"; echo "# limit ${limit}s, $(date -u +%FT%TZ)"; } >"$DEST/$name.txt"
    timeout -k 5 "$limit" "$@" >>"$DEST/$name.txt" 2>&1
    rc=$?
    case $rc in
    0) verdict=ok ;;
    124 | 137) verdict="timed out after ${limit}s" ;;
    *) verdict="failed (exit $rc)" ;;
    esac
    [ "$rc" -ne 0 ] && FAILED=1
    say "$(printf '%-28s %-26s %4ss' "$name" "$verdict" "$(($(date +%s) - t0))")"
    return $rc
}

say "vecscore device check: device '$DEVICE', $([ $SMALL = 1 ] && echo 'small shapes (dry run)' || echo 'full shapes'), budget ${BUDGET}s"
say "commit $(git -C "$ROOT" log -1 --format='%h %s' 2>/dev/null || echo '(not a git checkout)')"

# ---- facts ----------------------------------------------------------------------------
facts() {
    date -u +%FT%TZ
    uname -a
    if command -v nvidia-smi >/dev/null 2>&1; then
        nvidia-smi -L
        nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,pcie.link.gen.current,pcie.link.width.current --format=csv
    else
        echo "nvidia-smi: not installed"
    fi
    lscpu 2>/dev/null | grep -E 'Model name|^CPU\(s\)|Flags' | cut -c1-300
    ls -l /etc/OpenCL/vendors 2>&1
    cat /etc/OpenCL/vendors/*.icd 2>/dev/null
    command -v clinfo >/dev/null 2>&1 && clinfo -l
    return 0
}
export -f facts
run facts 30 0 bash -c facts

# ---- icd ------------------------------------------------------------------------------
# The NVIDIA driver ships libnvidia-opencl.so.1; containers often mount it without the
# vendor file the ICD loader looks for. Then a private vendor directory holds one
# (together with the machine's own files), and OCL_ICD_VENDORS points at it.
register_icd() {
    local lib="" dir vendors="$WORK/vendors"
    if grep -qs nvidia /etc/OpenCL/vendors/*.icd; then
        echo "an NVIDIA vendor file is registered already"
        return 0
    fi
    lib=$(ldconfig -p 2>/dev/null | awk '/libnvidia-opencl\.so\.1/ {print $NF; exit}')
    for dir in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/local/nvidia/lib64 /usr/lib/aarch64-linux-gnu; do
        [ -z "$lib" ] && [ -e "$dir/libnvidia-opencl.so.1" ] && lib="$dir/libnvidia-opencl.so.1"
    done
    if [ -z "$lib" ]; then
        echo "no libnvidia-opencl.so.1 on this machine: nothing to register"
        return 0
    fi
    mkdir -p "$vendors"
    cp /etc/OpenCL/vendors/*.icd "$vendors/" 2>/dev/null
    echo "$lib" >"$vendors/nvidia.icd"
    echo "registered $lib in $vendors (OCL_ICD_VENDORS)"
}
export -f register_icd
run icd 20 0 bash -c register_icd
[ -f "$WORK/vendors/nvidia.icd" ] && export OCL_ICD_VENDORS="$WORK/vendors"

# ---- build ----------------------------------------------------------------------------
build() {
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release &&
        cmake --build "$BUILD" -j "$JOBS" --target test_opencl vecscore_cli vecscore_bench
}
export -f build
if ! run build 240 120 bash -c build; then
    say "the build failed: see $DEST/build.txt"
    exit 1
fi
VECSCORE="$BUILD/cli/vecscore"
"$VECSCORE" devices >"$DEST/devices.txt" 2>&1

# The bench path of the device under test: vs-opencl:P:D, from `vecscore devices`.
case "$DEVICE" in
opencl:[0-9]*:[0-9]*) PATH_ID=$DEVICE ;;
*)
    name=""
    case "$DEVICE" in opencl:name=*) name=${DEVICE#opencl:name=} ;; esac
    PATH_ID=$(awk -v n="$(echo "$name" | tr '[:upper:]' '[:lower:]')" \
        '$1 ~ /^opencl:[0-9]+:[0-9]+$/ && index(tolower($0), n) > 0 {print $1; exit}' \
        "$DEST/devices.txt")
    ;;
esac
say "device under test: ${PATH_ID:-not found} ($(grep -m1 "^${PATH_ID:-none} " "$DEST/devices.txt" | cut -c1-160))"
[ -z "$PATH_ID" ] && { say "no OpenCL device matches '$DEVICE': see $DEST/devices.txt"; exit 1; }

# ---- tests ----------------------------------------------------------------------------
for family in gpu cpu; do
    run "tests-$family" 200 90 env VECSCORE_TEST_DEVICE="$DEVICE" VECSCORE_CL_KERNELS="$family" \
        "$BUILD/tests/test_opencl"
done

# ---- bench ----------------------------------------------------------------------------
if [ "$SMALL" = 1 ]; then
    SHAPES=1x20000x64,64x20000x64,256x5000x32
else
    SHAPES=1x1000000x768,1024x1000000x768,1024x100000x128
fi
CPU_ISA=vs-avx2
"$VECSCORE" bench --list 2>/dev/null | grep -q '^vs-avx512 ' && CPU_ISA=vs-avx512
"$VECSCORE" bench --list 2>/dev/null | grep -q '^vs-neon ' && CPU_ISA=vs-neon
for k in 10 1000; do
    first=--no-first-call
    [ "$k" = 10 ] && first=""
    run "bench-k$k" 200 10 env VECSCORE_AUTO_OPENCL_CPU=$([ $SMALL = 1 ] && echo 1 || echo 0) \
        "$VECSCORE" bench --shapes "$SHAPES" --modes topk --metrics dot -k "$k" --reps 3 \
        --budget 20 --aux-budget 5 --paths "vs-$PATH_ID,$CPU_ISA,vs-auto" --no-alloc \
        --no-plots --no-contention $first --out "$DEST/bench-k$k"
    if [ -f "$DEST/bench-k$k/summary.md" ]; then
        {
            echo "--- bench k=$k (rows of $DEST/bench-k$k/summary.md)"
            grep -E '^\| (shape|---|[0-9]+x)' "$DEST/bench-k$k/summary.md"
        } >>"$SUMMARY"
    fi
done

say "total $(($(date +%s) - START))s of ${BUDGET}s; results in $DEST"
rm -rf "$WORK"
exit $FAILED
