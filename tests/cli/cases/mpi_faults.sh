# needs: mpi
# vecscore-mpi faults: a failure on any rank makes every rank exit non-zero
# with that rank's message, writes no output and does not hang; a rank
# killed during the run leaves no OUT and no temporary file.
. "$(dirname "$CASE_PATH")/../mpi_lib.sh"
M=$VECSCORE_TEST_MPI
mpmd() { # mpmd "ARGS OF RANK 0" "ARGS OF RANK 1" ...: one rank each
    LAST_CMD="(mpirun, one rank per argument list) $*"
    local spec=() first=1
    for args in "$@"; do
        [ $first -eq 1 ] || spec+=(:)
        first=0
        # shellcheck disable=SC2206
        spec+=(--oversubscribe -n 1 "$M" $args)
    done
    leak_checked "$MPIEXEC" "${spec[@]}" >stdout.txt 2>stderr.txt
    RC=$?
}

"$VECSCORE" gen --count 500 --dim 16 --seed 1 -o base.fvecs || fail "gen base"
"$VECSCORE" gen --count 9 --dim 16 --seed 2 -o q.fvecs || fail "gen queries"
"$VECSCORE" gen --count 500 --dim 8 --seed 3 -o base8.fvecs || fail "gen base8"
"$VECSCORE" gen --count 400 --dim 16 --seed 3 -o base400.fvecs || fail "gen base400"
ok="-q q.fvecs -b base.fvecs -k 5 -o out.tsv"

# BASE unreadable on one rank (each rank here opens its own -b).
for bad in 1 2; do
    args=("$ok" "$ok" "$ok")
    args[$bad]="-q q.fvecs -b missing.fvecs -k 5 -o out.tsv"
    mpmd "${args[@]/#/topk }"
    [ "$RC" -eq 2 ] || fail "unreadable base on rank $bad: expected exit 2"
    expect_stderr_match "^vecscore topk: missing.fvecs: .*No such file.* \(rank $bad of 3\)$"
    [ "$(grep -c 'missing.fvecs' stderr.txt)" -eq 1 ] || fail "the message is printed once"
    expect_no_file out.tsv
    expect_no_temp
done
# A per-node copy of BASE that is another file: other rows, other dimension.
mpmd "topk $ok" "topk -q q.fvecs -b base400.fvecs -k 5 -o out.tsv"
[ "$RC" -eq 2 ] || fail "base rows differ: expected exit 2"
expect_stderr_match "base400.fvecs has 400 rows here but 500 where QUERIES is read \(rank 1 of 2\)"
expect_no_file out.tsv
mpmd "score -q q.fvecs -b base.fvecs -o out.fvecs" "score -q q.fvecs -b base8.fvecs -o out.fvecs"
[ "$RC" -eq 2 ] || fail "base dimension differs: expected exit 2"
expect_stderr_match "q.fvecs has dimension 16 but base8.fvecs has dimension 8; they must match \(rank 1 of 2\)"
expect_no_file out.fvecs
# A device that one rank cannot open.
mpmd "topk $ok" "topk $ok --device opencl:9:9"
[ "$RC" -eq 3 ] || fail "bad device on rank 1: expected exit 3"
expect_stderr_match "cannot use device 'opencl:9:9'.*\(rank 1 of 2\)$"
expect_no_file out.tsv
expect_no_temp
# Bad options: the same usage error as vecscore's, once.
LAST_CMD="(mpirun -n 3) topk --bogus"
"$MPIEXEC" --oversubscribe -n 3 "$M" topk $ok --bogus >stdout.txt 2>stderr.txt
RC=$?
expect_exit 1
expect_stderr_match "^vecscore topk: unknown argument '--bogus'; see 'vecscore topk --help' \(rank 0 of 3\)$"
[ "$(grep -c 'unknown argument' stderr.txt)" -eq 1 ] || fail "the message is printed once"
"$MPIEXEC" --oversubscribe -n 2 "$M" score -q q.fvecs -b - -o out.tsv <base.fvecs >stdout.txt 2>stderr.txt
RC=$?
expect_exit 1
expect_stderr_match "^vecscore score: -b -: every process reads its own rows of BASE"
"$MPIEXEC" --oversubscribe -n 2 "$M" gen --count 3 --dim 2 -o g.fvecs >stdout.txt 2>stderr.txt
RC=$?
expect_exit 1
expect_stderr_match "unknown command 'gen'"
expect_no_file out.tsv g.fvecs
"$MPIEXEC" --oversubscribe -n 2 "$M" topk --help >stdout.txt 2>stderr.txt
RC=$?
expect_exit 0
[ "$(grep -c '^usage: vecscore topk' stdout.txt)" -eq 1 ] || fail "help is printed once"

# A rank killed during the run: every rank stops itself after its first
# chunk (VECSCORE_TEST_STOP_AFTER_CHUNK), rank 1 is killed, the others
# continue; mpirun ends the job and rank 0 removes its temporary file.
echo "old" >old.tsv
LAST_CMD="(mpirun -n 3) topk, rank 1 killed"
VECSCORE_TEST_STOP_AFTER_CHUNK=1 "$MPIEXEC" --oversubscribe -n 3 "$M" topk -q q.fvecs \
    -b base.fvecs -k 5 --chunk 50 -o old.tsv >stdout.txt 2>stderr.txt &
launcher=$!
ranks=()
for _ in $(seq 1 3000); do # until all three have stopped (no timing: at most 60 s)
    ranks=()
    for pid in $(ps -o pid= --ppid "$launcher"); do
        [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = T ] && ranks+=("$pid")
    done
    [ "${#ranks[@]}" -eq 3 ] && break
    sleep 0.02
done
[ "${#ranks[@]}" -eq 3 ] || { kill -9 "$launcher"; fail "the ranks did not stop after a chunk"; }
[ -n "$(find . -name '.vs.tmp-*')" ] || fail "rank 0 has no temporary output while running"
for pid in "${ranks[@]}"; do
    if tr '\0' '\n' <"/proc/$pid/environ" | grep -qx 'OMPI_COMM_WORLD_RANK=1'; then
        kill -9 "$pid"
    fi
done
for pid in "${ranks[@]}"; do kill -CONT "$pid" 2>/dev/null; done
wait "$launcher"
RC=$?
[ "$RC" -ne 0 ] || fail "a killed rank: mpirun exited 0"
[ "$(cat old.tsv)" = old ] || fail "old.tsv was replaced"
expect_no_temp

# --device per node-local rank: a list picks entry L mod n, {local} becomes
# L. With "cpu,x{local}" local rank 0 runs on the CPU and rank 1 asks for
# device "x1", which does not parse: that rank's usage error stops both.
mpi 2 topk $ok --device 'cpu,x{local}'
expect_exit 1
expect_stderr_match "^vecscore topk: bad option: unknown device selector 'x1' .*\(rank 1 of 2\)$"
expect_no_file out.tsv
mpi 3 topk $ok --device 'cpu,cpu'
expect_exit 0
"$VECSCORE" topk -q q.fvecs -b base.fvecs -k 5 --device cpu -o one.tsv || fail "vecscore topk"
expect_same one.tsv out.tsv
