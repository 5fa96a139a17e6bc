# stdout: every command reports a failed write with exit 4 and a message
# (help, version, devices, recall, every --help, topk/score -o -). A reader
# that exits early ends the run quietly by SIGPIPE (exit 141 in a shell, no
# message, no temporary file left); with SIGPIPE ignored the failed write is
# reported instead (exit 4).
fixtures
run topk -q q.fvecs -b base.fvecs -k 10 -o res.ivecs
full() {
    LAST_CMD="$* >/dev/full"
    "$VECSCORE" "$@" >/dev/full 2>stderr.txt
    RC=$?
    expect_exit 4
    expect_stderr_match 'writing to stdout failed: No space left on device$'
}
full --help
full help
full --version
full devices
full devices --json
for sub in devices gen topk score recall; do
    full "$sub" --help
done
full recall --result res.ivecs --truth res.ivecs
full topk -q q.fvecs -b base.fvecs -k 3 -o -
full score -q q.fvecs -b base.fvecs -o -
expect_no_temp

# a reader that stops early: 2000 queries x k 50 is far more than a pipe holds
"$VECSCORE" gen --count 2000 --dim 16 --seed 5 -o q2k.fvecs || fail "gen q2k.fvecs"
LAST_CMD="topk ... -o - | head -n 1"
set -o pipefail
"$VECSCORE" topk -q q2k.fvecs -b base.fvecs -k 50 -o - 2>stderr.txt | head -n 1 >stdout.txt
RC=$?
set +o pipefail
expect_exit 141
expect_stdout_is $'query\trank\tid\tscore'
expect_stderr_empty
LAST_CMD="score ... -o - | head -c 100"
"$VECSCORE" score -q q2k.fvecs -b base.fvecs -o - 2>stderr.txt | head -c 100 >/dev/null
RC=${PIPESTATUS[0]}
expect_exit 141
expect_stderr_empty
# the same into a FIFO whose reader stops early: the other output (a
# temporary file at that point) is removed and the old one survives
mkfifo early.ivecs
printf 'old' >early_s.fvecs
head -c 10 early.ivecs >/dev/null &
LAST_CMD="topk ... -o early.ivecs (FIFO, reader exits) --scores early_s.fvecs"
"$VECSCORE" topk -q q2k.fvecs -b base.fvecs -k 50 -o early.ivecs --scores early_s.fvecs 2>stderr.txt
RC=$?
wait
expect_exit 141
expect_stderr_empty
[ "$(cat early_s.fvecs)" = old ] || fail "early_s.fvecs was replaced"
expect_no_temp
# SIGPIPE ignored (inherited): a failed write, exit 4
LAST_CMD="topk ... -o - | head -n 1, SIGPIPE ignored"
(trap '' PIPE && "$VECSCORE" topk -q q2k.fvecs -b base.fvecs -k 50 -o - 2>stderr.txt | head -n 1 >/dev/null
 exit "${PIPESTATUS[0]}")
RC=$?
expect_exit 4
expect_stderr_match '^vecscore topk: writing to stdout failed: Broken pipe$'
