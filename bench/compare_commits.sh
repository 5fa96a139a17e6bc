#!/usr/bin/env bash
# compare_commits.sh — the same benchmark on two commits, side by side.
#
#   bench/compare_commits.sh [--quick] [--rounds N] [--out DIR] [--keep] [BEFORE [AFTER]]
#
# Builds BEFORE and AFTER (default: the last commit before issue 14's work,
# c5c8dc7, and HEAD) each in its own scratch worktree (Release, no tests),
# then runs the same benchmark command on them alternately, before, after,
# before, after (N rounds, default 2), so that a change in the machine's
# load falls on both sides alike. The command is
#
#   OPENBLAS_CORETYPE=<best core of this CPU> <bench> --metrics dot,cosine,l2sq
#       [--no-contention] --no-plots --out DIR/<side>-<round>
#
# with the default shapes (--quick: the bench's quick shapes, a smoke test),
# where <bench> is vecscore-bench, or `vecscore bench` in a tree from before
# the two were split. --no-contention is passed to a tree that knows it (a
# tree from before the scenario has none to leave out).
#
# Writes DIR/compare.md: one row per (shape, metric, mode, k, path) that
# either side ran, with the median over the rounds of each side's median
# time, after/before, and each side's spread (smallest to largest of its
# rounds, in % of its median); a row one side did not run says so. Also
# DIR/<side>-<round>/ (each run's own results) and DIR/commands.txt. DIR
# defaults to bench-compare-<before>-<after> in the current directory.
#
# Running time, measured with --quick on the 2-core development VM while
# other builds shared it (load average 12 to 15): 41 minutes, of which the two
# builds (tests off) took 4 and the four quick runs 434 to 686 s each; on an
# idle machine a quick run takes a few minutes. The default shapes take far
# longer per run (the full benchmark; docs/benchmarks.md). Set
# OPENBLAS_CORETYPE to override the core type; JOBS (default 2) for the build.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
QUICK=0
ROUNDS=2
OUT=""
KEEP=0
SIDES=()
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) QUICK=1 ;;
    --rounds)
        [ $# -ge 2 ] || { echo "compare_commits: --rounds needs a number" >&2; exit 1; }
        ROUNDS="$2"
        shift
        ;;
    --out)
        [ $# -ge 2 ] || { echo "compare_commits: --out needs a directory" >&2; exit 1; }
        OUT="$2"
        shift
        ;;
    --keep) KEEP=1 ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    -*) echo "compare_commits: unknown option '$1' (see --help)" >&2; exit 1 ;;
    *) SIDES+=("$1") ;;
    esac
    shift
done
case "$ROUNDS" in
'' | *[!0-9]* | 0) echo "compare_commits: --rounds '$ROUNDS' is not a whole number >= 1" >&2; exit 1 ;;
esac
[ ${#SIDES[@]} -le 2 ] || { echo "compare_commits: at most two commits, got ${#SIDES[@]}" >&2; exit 1; }
BEFORE_REF="${SIDES[0]:-c5c8dc7}"
AFTER_REF="${SIDES[1]:-HEAD}"
BEFORE="$(git -C "$ROOT" rev-parse --verify --quiet "$BEFORE_REF^{commit}")" ||
    { echo "compare_commits: '$BEFORE_REF' is not a commit of $ROOT" >&2; exit 1; }
AFTER="$(git -C "$ROOT" rev-parse --verify --quiet "$AFTER_REF^{commit}")" ||
    { echo "compare_commits: '$AFTER_REF' is not a commit of $ROOT" >&2; exit 1; }
OUT="${OUT:-bench-compare-${BEFORE:0:7}-${AFTER:0:7}}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
JOBS="${JOBS:-2}"

# The best OpenBLAS core type this CPU runs (the one the bench's targets name).
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
    flags="$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)"
    case " $flags " in
    *" avx512bw "*) OPENBLAS_CORETYPE=SkylakeX ;;
    *" avx2 "*) OPENBLAS_CORETYPE=Haswell ;;
    *) OPENBLAS_CORETYPE="" ;;
    esac
fi
export OPENBLAS_CORETYPE

SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/vecscore-compare.XXXXXX")"
cleanup() {
    for side in before after; do
        [ -d "$SCRATCH/$side" ] && git -C "$ROOT" worktree remove --force "$SCRATCH/$side" 2>/dev/null
    done
    if [ "$KEEP" = 0 ]; then rm -rf "$SCRATCH"; else echo "compare_commits: builds kept in $SCRATCH"; fi
}
trap cleanup EXIT

# build SIDE COMMIT: a Release build of COMMIT in $SCRATCH/SIDE; sets BENCH_SIDE to its command.
build() {
    local side="$1" commit="$2" tree="$SCRATCH/$1"
    echo "== $side: building ${commit:0:12} in $tree"
    git -C "$ROOT" worktree add --detach --quiet "$tree" "$commit"
    cmake -S "$tree" -B "$tree/build" -DCMAKE_BUILD_TYPE=Release -DVECSCORE_BUILD_TESTS=OFF \
        >"$OUT/$side-build.log" 2>&1 &&
        cmake --build "$tree/build" -j "$JOBS" >>"$OUT/$side-build.log" 2>&1 ||
        { echo "compare_commits: the $side build failed; see $OUT/$side-build.log" >&2; exit 3; }
    local split
    split="$(find "$tree/build" -name vecscore-bench -type f -perm -u+x | head -n 1)"
    if [ -n "$split" ]; then
        eval "BENCH_$side=(\"\$split\")"
    else
        local cli
        cli="$(find "$tree/build" -name vecscore -type f -perm -u+x | head -n 1)"
        [ -n "$cli" ] || { echo "compare_commits: no vecscore or vecscore-bench in the $side build" >&2; exit 3; }
        eval "BENCH_$side=(\"\$cli\" bench)"
    fi
}
build before "$BEFORE"
build after "$AFTER"

# args SIDE: the bench arguments for that side's tree.
args() {
    local -n cmd="BENCH_$1"
    local help
    help="$("${cmd[@]}" --help 2>&1 || true)"
    ARGS=(--metrics "dot,cosine,l2sq")
    [ "$QUICK" = 1 ] && ARGS+=(--quick)
    case "$help" in *--no-contention*) ARGS+=(--no-contention) ;; esac
    case "$help" in *--no-plots*) ARGS+=(--no-plots) ;; esac
}

: >"$OUT/commands.txt"
for round in $(seq 1 "$ROUNDS"); do
    for side in before after; do
        local_out="$OUT/$side-$round"
        rm -rf "$local_out"
        args "$side"
        declare -n cmd="BENCH_$side"
        echo "OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE ${cmd[*]} ${ARGS[*]} --out $local_out" |
            tee -a "$OUT/commands.txt"
        start=$(date +%s)
        # Exit 2 (a path failed its check) still leaves results to compare; the table says so.
        rc=0
        POCL_CACHE_DIR="$SCRATCH/pocl-$side" "${cmd[@]}" "${ARGS[@]}" --out "$local_out" \
            >"$OUT/$side-$round.txt" 2>&1 || rc=$?
        echo "   $side round $round: exit $rc, $(($(date +%s) - start)) s"
        [ -f "$local_out/results.csv" ] ||
            { echo "compare_commits: $side round $round wrote no results.csv; see $OUT/$side-$round.txt" >&2; exit 3; }
        unset -n cmd
    done
done

python3 - "$OUT" "$ROUNDS" "$BEFORE" "$AFTER" "$OPENBLAS_CORETYPE" <<'EOF'
import csv, os, statistics, sys

out, rounds, before, after, coretype = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
KEY = ("queries", "candidates", "dim", "metric", "mode", "k", "path")


def load(side):
    times, status = {}, {}
    for r in range(1, rounds + 1):
        with open(os.path.join(out, f"{side}-{r}", "results.csv"), newline="") as f:
            for row in csv.DictReader(f):
                key = tuple(row[c] for c in KEY)
                status.setdefault(key, set()).add(row["status"])
                if row["status"] == "ok" and float(row["median_s"]) > 0:
                    times.setdefault(key, []).append(float(row["median_s"]))
    return times, status


def cell(values):
    if not values:
        return None, "not run"
    m = statistics.median(values)
    spread = (max(values) - min(values)) / m * 100 if m > 0 else 0.0
    return m, f"{m * 1e3:.3f} ms (±{spread / 2:.0f}%, n={len(values)})"


bt, bs = load("before")
at, as_ = load("after")
keys = sorted(set(bs) | set(as_), key=lambda k: (int(k[0]), int(k[1]), int(k[2]), k[3], k[4], int(k[5]), k[6]))
lines = [f"# Before/after: vecscore-bench, {before[:12]} -> {after[:12]}", "",
         f"Each side ran {rounds} times, alternating before/after; a cell is the median over the rounds of "
         f"that round's median time, ± half the range of the rounds in % of that median. "
         f"after/before < 1 is faster. OPENBLAS_CORETYPE={coretype or '(unset)'}. "
         f"Commands: commands.txt.", "",
         "| Q×N×D | metric | mode | k | path | before | after | after/before |",
         "|---|---|---|---|---|---|---|---|"]
ratios = []
for k in keys:
    bm, btxt = cell(bt.get(k, []))
    am, atxt = cell(at.get(k, []))
    if bm is None and k in bs:
        btxt = "not run (" + ",".join(sorted(bs[k])) + ")"
    if am is None and k in as_:
        atxt = "not run (" + ",".join(sorted(as_[k])) + ")"
    if k not in bs:
        btxt = "no such row"
    if k not in as_:
        atxt = "no such row"
    ratio = f"{am / bm:.3f}" if bm and am else "—"
    if bm and am and not k[6].startswith(("openblas", "faiss", "clblast", "blog")):
        ratios.append(am / bm)
    lines.append(f"| {k[0]}×{k[1]}×{k[2]} | {k[3]} | {k[4]} | {k[5]} | {k[6]} | {btxt} | {atxt} | {ratio} |")
if ratios:
    lines += ["", f"vecscore rows timed on both sides: {len(ratios)}; after/before median "
              f"{statistics.median(ratios):.3f}, smallest {min(ratios):.3f}, largest {max(ratios):.3f} "
              f"(the peers, OpenBLAS, FAISS, CLBlast and the blog baselines, are left out of this line)."]
with open(os.path.join(out, "compare.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
print("\n".join(lines[-1:]))
print(f"wrote {os.path.join(out, 'compare.md')}")
EOF
