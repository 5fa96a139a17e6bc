# SIGINT and SIGTERM during a run remove the temporary output, leave an
# existing target untouched, and the process dies by the signal.
"$VECSCORE" gen --count 20000 --dim 256 --seed 1 -o big.fbin || fail "gen big.fbin"
"$VECSCORE" gen --count 4000 --dim 256 --seed 2 -o bigq.fbin || fail "gen bigq.fbin"
echo "old result" >res.tsv
for sig in INT TERM; do
    "$VECSCORE" topk -q bigq.fbin -b big.fbin -k 10 --threads 1 --batch 8 -o res.tsv &
    pid=$!
    for _ in $(seq 1 200); do
        [ -n "$(find . -name '.vs.tmp-*')" ] && break
        sleep 0.02
    done
    [ -n "$(find . -name '.vs.tmp-*')" ] || fail "no temporary file appeared"
    kill -s "$sig" "$pid"
    wait "$pid"
    RC=$?
    LAST_CMD="topk (SIG$sig)"
    [ "$RC" -ge 128 ] || fail "SIG$sig: expected death by signal, got $RC"
    expect_no_temp
    [ "$(cat res.tsv)" = "old result" ] || fail "res.tsv was touched"
done
