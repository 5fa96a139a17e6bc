# `vecscore bench`: --help, usage errors for bad options, and one tiny bench
# run (the harness of bench/, docs/benchmarks.md) that writes its CSV and JSON.
# needs: bench
run bench --help
expect_exit 0
expect_stdout_match '^usage: vecscore bench \[--quick\]'
expect_stdout_match '^Exit status: 0, 1 usage, 2 a vecscore path failed its check'
expect_stderr_empty

run bench --devices all
expect_exit 1
expect_stderr_match "^vecscore bench: bad option '--devices' all$"
expect_stderr_match '^usage: vecscore bench'
run bench --shapes 1x2
expect_exit 1
expect_stderr_match "^vecscore bench: bad option '--shapes' 1x2$"

# A tiny real run: two CPU paths, checked against float64 and timed.
run bench --quick --shapes 1x64x16,3x50x7 --metrics dot,l2sq --paths vs-serial,vs-auto --reps 1 \
    --no-alloc --no-plots --no-first-call --out out
expect_exit 0
expect_stdout_match '^3x50x7 +l2sq +topk +vs-serial +ok '
expect_stdout_match '^1x64x16 +dot +score +vs-auto +ok '
grep -q '^date,cpu,library_version,best_isa,queries,candidates,dim,metric,mode,k,path,' \
    out/results.csv || fail "out/results.csv has no header"
[ "$(grep -c ",ok," out/results.csv)" -eq 16 ] || fail "expected 16 ok rows in out/results.csv"
grep -q '"rows": \[' out/results.json || fail "out/results.json has no rows"
