# A signal while the outputs are flushed and renamed leaves no temporary
# file. VECSCORE_CLI_TEST_PAUSE (a testing knob, docs/cli.md) stops the
# commit at a point: "flushed" (every output written and fsync'd, nothing
# renamed: the signal removes the temporary files and the old files survive)
# or "rename" (inside the rename phase, where signals are held: the set is
# completed, then the process dies by the signal). Either way it dies by the
# signal.
fixtures
run topk -q q.fvecs -b base.fvecs -k 5 -o ref.ivecs --scores ref.fvecs
expect_exit 0
run score -q q.fvecs -b base.fvecs -o refm.tsv
run gen --count 50 --dim 8 --seed 4 -o refg.npy

# paused PHASE SIGNAL ARGS...: starts vecscore ARGS, waits for the pause,
# checks that temporary files exist, sends SIGNAL, and checks the death.
paused() {
    local phase=$1 sig=$2
    shift 2
    LAST_CMD="$* (VECSCORE_CLI_TEST_PAUSE=$phase, SIG$sig)"
    VECSCORE_CLI_TEST_PAUSE=$phase "$VECSCORE" "$@" >stdout.txt 2>stderr.txt &
    local pid=$!
    for _ in $(seq 1 500); do
        grep -q "^vecscore: test pause: $phase$" stderr.txt && break
        sleep 0.02
    done
    grep -q "^vecscore: test pause: $phase$" stderr.txt || fail "no pause at $phase"
    [ -n "$(find . -name '.vs.tmp-*')" ] || fail "no temporary file during the pause"
    kill -s "$sig" "$pid"
    wait "$pid"
    RC=$?
    expect_exit $((128 + $(kill -l "$sig")))
    expect_no_temp
}
for sig in INT TERM HUP; do
    printf 'old ids' >ids.ivecs
    printf 'old scores' >s.fvecs
    paused flushed "$sig" topk -q q.fvecs -b base.fvecs -k 5 -o ids.ivecs --scores s.fvecs
    [ "$(cat ids.ivecs)" = "old ids" ] && [ "$(cat s.fvecs)" = "old scores" ] ||
        fail "SIG$sig before the renames replaced an output"
    paused rename "$sig" topk -q q.fvecs -b base.fvecs -k 5 -o ids.ivecs --scores s.fvecs
    expect_same ids.ivecs ref.ivecs
    expect_same s.fvecs ref.fvecs
done
printf 'old' >m.tsv
paused flushed TERM score -q q.fvecs -b base.fvecs -o m.tsv
[ "$(cat m.tsv)" = old ] || fail "m.tsv was replaced"
paused rename INT score -q q.fvecs -b base.fvecs -o m.tsv
expect_same m.tsv refm.tsv
paused flushed INT gen --count 50 --dim 8 --seed 4 -o g.npy
expect_no_file g.npy
paused rename TERM gen --count 50 --dim 8 --seed 4 -o g.npy
expect_same g.npy refg.npy
# without the knob the same runs finish normally
run topk -q q.fvecs -b base.fvecs -k 5 -o ids.ivecs --scores s.fvecs
expect_exit 0
expect_stderr_empty
