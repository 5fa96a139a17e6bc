# `vecscore bench`: the benchmark program vecscore-bench (bench/,
# docs/benchmarks.md) run through the vecscore command. What vecscore links;
# --help and usage errors; a tiny real run (CSV, JSON); the plots' script
# (every metric, a style per path, "not run" labels, the limit's
# definition); the contention scenario (its rows and ratios, a load that is
# gone after the run, after SIGTERM and after SIGKILL); and the error when
# vecscore-bench is missing.
# Registered only when the benchmark is built (tests/CMakeLists.txt).
# needs: bench

# load_alive PID: a process of that benchmark's load (named vsload-PID) is
# still there and not a zombie (an exited child that init has not reaped yet).
load_alive() {
    ps -eo stat=,comm= | awk -v name="vsload-$1" '$2 == name && $1 !~ /^Z/ { found = 1 }
                                                  END { exit !found }'
}

# The vecscore command links only the library's dependencies: the peers
# (OpenBLAS, CLBlast, FAISS and its C++ runtime) are vecscore-bench's.
needed=$(readelf -d "$VECSCORE" | grep NEEDED) || fail "readelf -d $VECSCORE failed"
if echo "$needed" | grep -Eiq 'openblas|clblast|faiss|stdc\+\+'; then
    fail "vecscore links a benchmark peer: $needed"
fi
[ -x "$(dirname "$VECSCORE")/vecscore-bench" ] || fail "no vecscore-bench next to vecscore"

run bench --help
expect_exit 0
expect_stdout_match '^usage: vecscore bench \[--quick\]'
expect_stdout_match '^Exit status: 0, 1 usage, 2 a vecscore path failed its check'
expect_stdout_match '^  --contention '
expect_stderr_empty

run bench --devices all
expect_exit 1
expect_stderr_match "^vecscore bench: bad option '--devices' all$"
expect_stderr_match '^usage: vecscore bench'
run bench --shapes 1x2
expect_exit 1
expect_stderr_match "^vecscore bench: bad option '--shapes' 1x2$"
# Values that would parse as huge counts, or overflow a buffer size, are refused.
run bench --shapes 1x-2x3
expect_exit 1
expect_stderr_match "^vecscore bench: bad option '--shapes' 1x-2x3$"
run bench --contention-shapes 1x99999999999x99999999
expect_exit 1
expect_stderr_match "^vecscore bench: bad option '--contention-shapes' 1x99999999999x99999999$"
run bench --metrics ''
expect_exit 1
expect_stderr_match "^vecscore bench: bad option '--metrics' $"
run bench --contention-trials 0
expect_exit 1
expect_stderr_match "^vecscore bench: bad option '--contention-trials' 0$"
run bench --contention-window
expect_exit 1
expect_stderr_match "^vecscore bench: bad option '--contention-window'$"

# A tiny real run: two CPU paths, checked against float64 and timed. A run
# narrowed by --shapes or --paths has no contention rows.
run bench --quick --shapes 1x64x16,3x50x7 --metrics dot,l2sq --paths vs-serial,vs-auto --reps 1 \
    --no-alloc --no-plots --no-first-call --out out
expect_exit 0
expect_stdout_match '^3x50x7 +l2sq +topk +vs-serial +ok '
expect_stdout_match '^1x64x16 +dot +score +vs-auto +ok '
grep -q '^date,cpu,library_version,best_isa,queries,candidates,dim,metric,mode,k,path,' \
    out/results.csv || fail "out/results.csv has no header"
[ "$(grep -c ",ok," out/results.csv)" -eq 16 ] || fail "expected 16 ok rows in out/results.csv"
grep -q '"rows": \[' out/results.json || fail "out/results.json has no rows"
grep -q ',contention,' out/results.csv && fail "a narrowed run has contention rows"
[ "$(grep -c ',main,' out/results.csv)" -eq 16 ] || fail "expected 16 main rows"

# --quick without --paths (CI's smoke run) keeps the compact storage paths of
# the best ISA, the first OpenCL device and auto (bench/paths.c), and every
# float32 path; a full run has storage paths on every corpus path, and
# --paths still selects any of them.
storage='-(f16|bf16|i8)(-approx)? '
"$VECSCORE" bench --list >list_full.txt || fail "bench --list failed"
"$VECSCORE" bench --quick --list >list_quick.txt || fail "bench --quick --list failed"
opencl=$(grep -Ec '^vs-opencl:[0-9]+:[0-9]+ ' list_full.txt)
corpus=$(grep -Ec '^vs-[^ ]+-i8-approx ' list_full.txt) # ISAs + OpenCL devices + auto
[ "$(grep -Ec -- "$storage" list_full.txt)" -eq $((6 * corpus)) ] ||
    fail "a full run should have 6 storage paths per corpus path ($corpus)"
kept=$((1 + (opencl > 0 ? 1 : 0) + 1))
[ "$(grep -Ec -- "$storage" list_quick.txt)" -eq $((6 * kept)) ] ||
    fail "--quick should keep 6 storage paths on each of $kept corpus paths"
grep -q '^vs-auto-i8-approx ' list_quick.txt || fail "--quick lost vs-auto's storage paths"
[ "$(grep -E -- '-i8 ' list_quick.txt | grep -Evc '^vs-(auto|opencl:)')" -eq 1 ] ||
    fail "--quick should keep the storage paths of one ISA, the best"
if [ "$opencl" -gt 0 ]; then
    grep -Eq '^vs-opencl:[0-9]+:[0-9]+-i8 ' list_quick.txt || fail "--quick lost OpenCL storage"
fi
diff <(grep -Ev -- "$storage" list_full.txt) <(grep -Ev -- "$storage" list_quick.txt) ||
    fail "--quick should keep every float32 path and peer"
"$VECSCORE" bench --quick --list --paths 'vs-serial-i8' | grep -q '^vs-serial-i8 ' ||
    fail "--quick --paths vs-serial-i8 should select that path"

# The plots' script. The second shape is over a 1 ms budget for every path
# (main and auxiliary), so each gets a "not run" label there in each
# metric's panel of both top-k plots.
run bench --quick --shapes 1x64x16,256x20000x64 --modes topk --paths 'vs-*' --reps 1 \
    --budget 0.001 --aux-budget 0.001 --no-alloc --no-plots --no-first-call --out plots
expect_exit 0
expect_stdout_match '^256x20000x64 +dot +topk +vs-auto +skipped +.*budget'
gp=plots/plot.gp
for metric in dot cosine l2sq; do
    grep -q "^set title 'metric $metric'" $gp || fail "no $metric panel in plot.gp"
done
grep -q "^set output 'time_topk.png'" $gp || fail "no time_topk.png in plot.gp"
grep -q "^set output 'limit_topk.png'" $gp || fail "no limit_topk.png in plot.gp"
paths=$(grep -c ' vecscore$' <("$VECSCORE" bench --list --paths 'vs-*'))
[ "$paths" -ge 2 ] || fail "expected at least two vs-* paths"
[ "$(grep -Ec '^256x20000x64 +[a-z0-9]+ +topk +vs-[^ ]+ +skipped ' stdout.txt)" -eq $((3 * paths)) ] ||
    fail "expected every path skipped at 256x20000x64 in each metric"
# A label for every top-k row without a time (skipped here), in both top-k plots.
untimed=$(grep -c ',topk,10,vs-[^,]*,vecscore,skipped,' plots/results.csv)
labels=$(grep -c '^set label "not run: over budget" at first -\?[0-9.]*, graph' $gp)
[ "$labels" -eq $((2 * untimed)) ] ||
    fail "expected a 'not run' label per untimed row and plot ($((2 * untimed))), got $labels"
# Every series line: its marker, colour and title. One style per path, the
# same in every panel; no two paths share both a marker and a colour, and
# every marker (15) and colour (16) is used before one repeats (the compact
# storage rows make more vs-* paths than either).
grep -o "pt [0-9]* ps 1.6 lw 1.5 lc rgb '#[0-9a-f]*' title \"[^\"]*\"" $gp | sort -u >styles.txt
[ "$(wc -l <styles.txt)" -eq "$paths" ] || fail "a path has two styles, or a style is missing"
[ "$(cut -d' ' -f2,9 styles.txt | sort -u | wc -l)" -eq "$paths" ] || fail "two paths share a style"
[ "$(cut -d' ' -f2 styles.txt | sort -u | wc -l)" -eq $((paths < 15 ? paths : 15)) ] ||
    fail "a marker repeats before all are used"
[ "$(cut -d' ' -f9 styles.txt | sort -u | wc -l)" -eq $((paths < 16 ? paths : 16)) ] ||
    fail "a colour repeats before all are used"
grep -q 'machine: .*threads: [0-9]* OpenMP' $gp || fail "no machine and threads line in plot.gp"
grep -q 'run 20[0-9-]*T[0-9:]*Z' $gp || fail "no date in plot.gp"
grep -q '% of limit = 100 x roofline time / median time; roofline time = max(bytes / ' $gp ||
    fail "the % plots do not define the limit"
grep -q "first 100 nohead" $gp || fail "no 100% line"
grep -Eq '^-?[0-9.]+ [0-9.e+-]+$' plots/time_topk.dat || fail "no points in time_topk.dat"

# The contention scenario alone, small: 2 shapes x 2 trials x 2 settings, a
# row per shape for all its trials, 1, 2 and 4 callers idle and under load.
# In the background, to know its pid: its load must be gone once it has ended.
LAST_CMD="bench --contention --quick ... --out cont"
"$VECSCORE" bench --contention --quick --contention-shapes 1x500x32,4x3000x64 \
    --callers-shapes 2x2000x32 --contention-trials 2 --contention-window 0.05 --contention-load 2 \
    --no-plots --out cont >stdout.txt 2>stderr.txt &
pid=$!
wait $pid
RC=$?
# Stopped and reaped after each trial: not even a zombie is left.
pgrep -x "vsload-$pid" >/dev/null && fail "the load outlived the benchmark"
expect_exit 0
expect_stdout_match '^contention \(dot top-k k=10, device=cpu\): competing load of 2 busy loops'
expect_stdout_match '^contention 1x500x32 +trial 1: default \([0-9]+ threads\) +[0-9.]+ ms, 1 thread'
expect_stdout_match '^contention 4x3000x64 +all 2 trials: default / 1 thread max [0-9.]+x'
expect_stdout_match '^callers +2x2000x32 +idle: 4 callers +[0-9]+ queries/s'
expect_stdout_match '^callers +2x2000x32 +under load: 4 callers'
expect_stdout_match '^  (MISSED|met) +contention: default threads <= 1.5x 1 thread'
[ "$(grep -c ',contention,' cont/results.csv)" -eq 16 ] || fail "expected 16 contention rows"
# Besides, idle, only the rows its issue-9 targets compare against (quick: Q=1
# and Q=64 N=20000 d=768, dot, vs-auto and openblas), and a line per target.
grep ',main,' cont/results.csv | awk -F, '{ print $5 "x" $6 "x" $7, $8, $11 }' | sort -u >idle.txt
grep -q '^1x20000x768 dot vs-auto$' idle.txt || fail "--contention: no idle Q=1 vs-auto row"
grep -q '^64x20000x768 dot vs-auto$' idle.txt || fail "--contention: no idle Q=64 vs-auto row"
grep -Ev '^(1|64)x20000x768 dot (vs-auto|openblas)$' idle.txt &&
    fail "--contention ran other main rows: $(cat idle.txt)"
expect_stdout_match '^  .* idle: Q=1 N=100000 d=768 top-k >= 90% of read bandwidth \(this run\)'
expect_stdout_match '^  .* idle: Q=1024 N=100000 d=768 top-k >= 1.0x OpenBLAS sgemm, best core type'
[ "$(grep -c ',contention,[12],2,0,' cont/results.csv)" -eq 8 ] ||
    fail "expected 8 trial rows (trial 1-2, load 2, no callers)"
json=cont/results.json
# The per-shape rows: ratio = the worst trial, at least the median, both > 0.
grep -o '"trial": 0, "load": 2, "callers": 0, "calls": [0-9]*, "throughput_qps": [0-9.]*, "ratio": [0-9.]*, "ratio_max": [0-9.]*, "ratio_median": [0-9.]*' \
    $json >sums.txt
[ "$(wc -l <sums.txt)" -eq 2 ] || fail "expected a row per contention shape in results.json"
awk '{ r = $12 + 0; m = $16 + 0; if (!(r > 0 && m > 0 && r >= m && r == $14 + 0)) bad = 1 }
     END { exit bad }' FS='[ ,]+' sums.txt || fail "bad ratio columns: $(cat sums.txt)"
# 4 callers idle: a throughput and a ratio against 1 caller.
grep -q '"load": 0, "callers": 4, "calls": [1-9][0-9]*, "throughput_qps": [1-9][0-9.]*, "ratio": [0-9.]*' \
    $json || fail "no 4-caller row with a throughput and a ratio"
grep -q '"target": "4 callers on one context: total throughput within 10% of 1 caller"' $json ||
    fail "no callers target"
grep -q '"ratio_definition": "default-threads median / 1-thread median, same trial, under load"' \
    $json || fail "no ratio definition"

# Killed benchmark, killed load: SIGTERM (handler) and SIGKILL (parent-death
# signal). Calls of a few ms, so that each trial lasts long enough to be seen.
for sig in TERM KILL; do
    "$VECSCORE" bench --contention --quick --contention-shapes 16x20000x64 --callers-shapes 1x500x32 \
        --contention-trials 100 --contention-budget 60 --contention-window 10 --no-plots \
        --out "kill$sig" >"kill$sig.txt" 2>&1 &
    pid=$!
    for _ in $(seq 400); do
        load_alive $pid && break
        sleep 0.05
    done
    if ! load_alive $pid; then
        kill -KILL $pid
        fail "no load appeared (SIG$sig case): $(tail -3 "kill$sig.txt")"
    fi
    kill -"$sig" $pid
    wait $pid
    rc=$?
    [ $rc -ge 128 ] || fail "the benchmark was not killed by SIG$sig (exit $rc)"
    for _ in $(seq 40); do
        load_alive $pid || break
        sleep 0.05
    done
    load_alive $pid && fail "the load outlived the benchmark (SIG$sig)"
done

# vecscore-bench is looked for next to vecscore, then on PATH.
mkdir alone
cp "$VECSCORE" alone/vecscore
real=$VECSCORE
VECSCORE=$PWD/alone/vecscore
PATH=/nonexistent run bench --quick
expect_exit 1
expect_stderr_match "^vecscore bench: the benchmark program vecscore-bench is not in $PWD/alone nor on PATH"
expect_stdout_empty
PATH=/nonexistent run bench --help
expect_exit 0
expect_stdout_match '^usage: vecscore bench \[options\]$'
expect_stdout_match 'vecscore-bench is not installed'
PATH="$(dirname "$real")" run bench --list --paths vs-auto
expect_exit 0
expect_stdout_match '^vs-auto +vecscore$'
VECSCORE=$real
