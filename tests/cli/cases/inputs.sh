# Inputs as users meet them: files that change while a run reads them, stdin
# (-q -), integer and Fortran-order .npy, big-ann ground truth, special files,
# repeated and missing options, and `vecscore help CMD`. Input handling does
# not depend on the device: the CPU backend keeps the many runs quick.
export VECSCORE_DEVICE=cpu
fixtures
"$VECSCORE" gen --count 500 --dim 16 --seed 9 -o other.fvecs || fail "gen other.fvecs"
cp base.fvecs orig.fvecs

# change_during_run N CHANGE ARGS...: vecscore ARGS stops itself after its Nth
# chunk of BASE (the VECSCORE_TEST_STOP_AFTER_CHUNK hook), CHANGE runs while
# it is stopped, then it continues. Deterministic: no race with the reads.
change_during_run() {
    local after=$1 change=$2 state="" pid
    shift 2
    LAST_CMD="$* (stopped after chunk $after for: $change)"
    VECSCORE_TEST_STOP_AFTER_CHUNK=$after "$VECSCORE" "$@" >stdout.txt 2>stderr.txt &
    pid=$!
    for _ in $(seq 1 1000); do
        state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)
        [ "$state" = T ] && break
        [ -z "$state" ] || [ "$state" = Z ] && break
        sleep 0.01
    done
    if [ "$state" != T ]; then
        kill -KILL "$pid" 2>/dev/null
        wait "$pid"
        RC=$?
        fail "vecscore did not stop after chunk $after (state '$state')"
    fi
    eval "$change"
    kill -CONT "$pid"
    wait "$pid"
    RC=$?
}
restore() { cp orig.fvecs base.fvecs; }
echo "keep me" >kept.tsv
expect_untouched() {
    expect_no_file out.ivecs out.fvecs out.fbin out.npy
    expect_no_temp
    [ "$(cat kept.tsv)" = "keep me" ] || fail "kept.tsv was touched"
}

# --- a base that shrinks, is rewritten or grows during a chunked run ------------
size=$(wc -c <base.fvecs)
half=$((size / 2))
for out in "-o out.ivecs --scores out.fvecs" "-o out.npy --scores out.fbin" "-o kept.tsv" "-o -"; do
    # shellcheck disable=SC2086
    change_during_run 3 "truncate -s $half base.fvecs" \
        topk -q q.fvecs -b base.fvecs -k 3 --chunk 10 --device cpu $out
    expect_exit 2
    expect_stderr_match "^vecscore topk: base.fvecs: file shrank from $size to $half bytes while being read$"
    expect_stdout_empty
    expect_untouched
    restore
done
change_during_run 5 "cat other.fvecs >base.fvecs; touch -d 2001-01-01 base.fvecs" \
    topk -q q.fvecs -b base.fvecs -k 3 --chunk 10 --device cpu -o out.ivecs --scores out.fvecs
expect_exit 2
expect_stderr_match "^vecscore topk: base.fvecs: file was rewritten while being read \\(same size, $size bytes"
expect_untouched
restore
change_during_run 1 "cat q.fvecs >>base.fvecs" \
    topk -q q.fvecs -b base.fvecs -k 3 --chunk 100 --device cpu -o kept.tsv
expect_exit 2
expect_stderr_match "base.fvecs: file grew from $size to $((size + $(wc -c <q.fvecs))) bytes while being read"
expect_untouched
restore
# truncated to nothing (a rewrite in progress)
change_during_run 2 ": >base.fvecs" topk -q q.fvecs -b base.fvecs -k 3 --chunk 10 -o out.ivecs
expect_exit 2
expect_stderr_match "base.fvecs: file shrank from $size to 0 bytes while being read"
expect_untouched
restore
# score: chunks are re-read for every batch of queries
change_during_run 4 "truncate -s $half base.fvecs" \
    score -q q.fvecs -b base.fvecs --chunk 50 --batch 8 --device cpu -o out.fbin
expect_exit 2
expect_stderr_match "^vecscore score: base.fvecs: file shrank from $size to $half bytes"
expect_untouched
restore
# the queries, re-read for every chunk when they take several batches
qsize=$(wc -c <q.fvecs)
cp q.fvecs q_orig.fvecs
change_during_run 1 "truncate -s 100 q.fvecs" \
    topk -q q.fvecs -b base.fvecs -k 3 --chunk 100 --batch 4 --device cpu -o out.ivecs
expect_exit 2
expect_stderr_match "^vecscore topk: q.fvecs: file shrank from $qsize to 100 bytes while being read$"
expect_untouched
cp q_orig.fvecs q.fvecs
# a converted format (bytes) and a float32 one read in place
"$VECSCORE" gen --count 300 --dim 6 --seed 5 -o big.u8bin || fail "gen big.u8bin"
"$VECSCORE" gen --count 300 --dim 6 --seed 5 -o big.fbin || fail "gen big.fbin"
for f in big.u8bin big.fbin; do
    fsize=$(wc -c <"$f")
    change_during_run 2 "truncate -s 20 $f" topk -q q.u8bin -b "$f" -k 2 --chunk 16 -o out.ivecs
    expect_exit 2
    expect_stderr_match "^vecscore topk: $f: file shrank from $fsize to 20 bytes while being read$"
    expect_untouched
done
# untouched, the same hook changes nothing
change_during_run 3 ":" topk -q q.fvecs -b base.fvecs -k 3 --chunk 10 --device cpu -o out.ivecs
expect_exit 0
run topk -q q.fvecs -b base.fvecs -k 3 --device cpu -o ref.ivecs
expect_same out.ivecs ref.ivecs
rm -f out.ivecs

# --- queries (or base) from standard input ---------------------------------------
for f in q.fvecs q.u8bin; do
    b=base.fvecs
    [ "$f" = q.u8bin ] && b=base.u8bin
    run topk -q "$f" -b "$b" -k 3 --metric l2 --device cpu -o file.tsv
    expect_exit 0
    run topk -q - -b "$b" -k 3 --metric l2 --device cpu -o pipe.tsv < <(cat "$f")
    expect_exit 0
    expect_same file.tsv pipe.tsv
    run topk -q - -b "$b" -k 3 --metric l2 --device cpu -o redirect.tsv <"$f"
    expect_exit 0
    expect_same file.tsv redirect.tsv
    run topk -q "$f" -b - -k 3 --metric l2 --device cpu -o base_pipe.tsv < <(cat "$b")
    expect_exit 0
    expect_same file.tsv base_pipe.tsv
done
"$VECSCORE" gen --count 30 --dim 16 --seed 2 -o q.npy || fail "gen q.npy"
"$VECSCORE" gen --count 30 --dim 16 --seed 2 -o q.fbin || fail "gen q.fbin"
for f in q.npy q.fbin; do
    run score -q - -b base.fvecs --metric dot --device cpu -o "stdin_$f.fvecs" < <(cat "$f")
    expect_exit 0
    run score -q "$f" -b base.fvecs --metric dot --device cpu -o "file_$f.fvecs"
    expect_exit 0
    expect_same "stdin_$f.fvecs" "file_$f.fvecs"
done
run topk -q - -b base.fvecs -k 3 -o out.ivecs </dev/null
expect_exit 2
expect_stderr_match '^vecscore topk: <stdin>: empty file \(0 bytes\)$'
expect_untouched
run topk -q - -b base.fvecs -k 3 -o out.ivecs < <(printf 'not vectors at all')
expect_exit 2
expect_stderr_match '^vecscore topk: <stdin>: unknown format'
run topk -q - -b base.fvecs -k 3 -o out.ivecs < <(head -c 100 q.fvecs)
expect_exit 2
expect_stderr_match '^vecscore topk: <stdin>: '
expect_untouched
run topk -q - -b - -k 3 -o out.ivecs </dev/null
expect_exit 1
expect_stderr_match 'cannot both be - '
run topk -q - -b base.u8bin -k 3 -o out.ivecs < <(cat q.fvecs)
expect_exit 2
expect_stderr_match '^vecscore topk: <stdin> has dimension 16 but base.u8bin has dimension 6'
run topk -q q.fvecs -b base.fvecs -k 10 --device cpu -o r.ivecs
expect_exit 0
run recall --result - --truth r.ivecs < <(cat r.ivecs)
expect_exit 0
expect_stdout_is $'recall@1\t1.000000\nrecall@10\t1.000000'
run recall --result - --truth - </dev/null
expect_exit 1
expect_stderr_match 'cannot both be -'

# --- special files are refused at once, never waited on ---------------------------
mkfifo fifo.fvecs
LAST_CMD="topk -q fifo.fvecs (no writer)"
timeout 20 "$VECSCORE" topk -q fifo.fvecs -b base.fvecs -k 3 -o out.ivecs >stdout.txt 2>stderr.txt
RC=$?
expect_exit 2
expect_stderr_match '^vecscore topk: fifo.fvecs: not a regular file \(it is a FIFO \(pipe\)\); to read a stream, give - and pipe it to standard input$'
run topk -q q.fvecs -b /dev/zero -k 3 -o out.ivecs
expect_exit 2
expect_stderr_match '/dev/zero: not a regular file \(it is a character device\)'
expect_untouched

# --- integer .npy as vectors: exact values are read, others refused by element -----
le64() { le32 "$1"; if [ "$1" -lt 0 ]; then le32 -1; else le32 0; fi; }
# 4 x 2 base: (1,0) (0,1) (2,2) (-1,3) as float32, int64, int32 and Fortran int64
{ le32 2; f32 1; f32 0; le32 2; f32 0; f32 1; le32 2; f32 2; f32 2; le32 2; f32 -1; printf '\x00\x00\x40\x40'; } >ib.fvecs
npy ib_i8.npy '<i8' False '(4, 2)' 0
for v in 1 0 0 1 2 2 -1 3; do le64 "$v"; done >>ib_i8.npy
npy ib_i4.npy '<i4' False '(4, 2)' 0
for v in 1 0 0 1 2 2 -1 3; do le32 "$v"; done >>ib_i4.npy
npy ib_i8f.npy '<i8' True '(4, 2)' 0
for v in 1 0 2 -1 0 1 2 3; do le64 "$v"; done >>ib_i8f.npy
{ le32 2; f32 1; f32 2; le32 2; f32 -1; f32 0.5; } >iq.fvecs
run topk -q iq.fvecs -b ib.fvecs -k 4 --metric dot --device cpu -o ref.tsv
expect_exit 0
for f in ib_i8.npy ib_i4.npy ib_i8f.npy; do
    run topk -q iq.fvecs -b "$f" -k 4 --metric dot --device cpu -o got.tsv
    expect_exit 0
    expect_same ref.tsv got.tsv
done
npy bad_i8.npy '<i8' False '(4, 2)' 0
for v in 1 0 0 1 2 16777217 -1 3; do le64 "$v"; done >>bad_i8.npy
run topk -q iq.fvecs -b bad_i8.npy -k 4 --metric dot -o out.ivecs
expect_exit 2
expect_stderr_match '^vecscore topk: bad_i8.npy: row 2, column 1: the int64 value 16777217 does not convert exactly to float32'
expect_untouched
npy bad_i4.npy '<i4' False '(2, 2)' 0
for v in 1 -2147483647 0 1; do le32 "$v"; done >>bad_i4.npy
run topk -q bad_i4.npy -b ib.fvecs -k 1 -o out.ivecs
expect_exit 2
expect_stderr_match 'bad_i4.npy: row 0, column 1: the int32 value -2147483647 does not convert exactly'
expect_untouched
# Fortran order: the first bad element in row order, not file order
npy bad_f.npy '<i8' True '(3, 2)' 0
for v in 1 2 33554431 4 16777217 6; do le64 "$v"; done >>bad_f.npy # rows (1,4) (2,16777217) (33554431,6)
run score -q bad_f.npy -b ib.fvecs -o out.fbin
expect_exit 2
expect_stderr_match 'bad_f.npy: row 1, column 1: the int64 value 16777217'
expect_untouched
# as ids (recall) the same values are fine
npy ids_i8.npy '<i8' False '(2, 2)' 0
for v in 16777217 5 7 16777219; do le64 "$v"; done >>ids_i8.npy
run recall --result ids_i8.npy --truth ids_i8.npy
expect_exit 0
expect_stdout_is $'recall@1\t1.000000\nrecall@2\t1.000000'

# --- Fortran-order .npy (np.save of a.T): read as its rows ---------------------------
# 40 x 6 bytes, v(i, j) = (i * 7 + j * 13) % 256, in C and in Fortran order
byte() { printf "\\x$(printf %02x "$1")"; }
npy fc.npy '|u1' False '(40, 6)' 0
for i in $(seq 0 39); do for j in $(seq 0 5); do byte $(((i * 7 + j * 13) % 256)); done; done >>fc.npy
npy ff.npy '|u1' True '(40, 6)' 0
for j in $(seq 0 5); do for i in $(seq 0 39); do byte $(((i * 7 + j * 13) % 256)); done; done >>ff.npy
for cmd in "topk -k 5" "score"; do
    # shellcheck disable=SC2086
    run $cmd -q q.u8bin -b fc.npy --metric l2 --device cpu -o c.tsv
    expect_exit 0
    # shellcheck disable=SC2086
    run $cmd -q q.u8bin -b ff.npy --metric l2 --device cpu --chunk 7 --batch 3 -o f.tsv
    expect_exit 0
    expect_same c.tsv f.tsv
    # shellcheck disable=SC2086
    run $cmd -q ff.npy -b base.u8bin --metric dot --device cpu --batch 4 -o fq.tsv
    expect_exit 0
    # shellcheck disable=SC2086
    run $cmd -q fc.npy -b base.u8bin --metric dot --device cpu -o cq.tsv
    expect_exit 0
    expect_same cq.tsv fq.tsv
done
# the same bytes from stdin
run topk -k 5 -q q.u8bin -b - --metric l2 --device cpu -o fs.tsv < <(cat ff.npy)
expect_exit 0
run topk -k 5 -q q.u8bin -b fc.npy --metric l2 --device cpu -o cs.tsv
expect_same cs.tsv fs.tsv

# --- big-ann ground truth .ibin (ids, then distances) for recall -------------------
run topk -q q.fvecs -b base.fvecs -k 10 --metric l2 --device cpu -o r.ibin
expect_exit 0
run topk -q q.fvecs -b base.fvecs -k 10 --metric l2 --device cpu -o r.ivecs
expect_exit 0
{ cat r.ibin; head -c $((30 * 10 * 4)) /dev/zero; } >gt.ibin
run recall --result r.ivecs --truth gt.ibin
expect_exit 0
expect_stdout_is $'recall@1\t1.000000\nrecall@10\t1.000000'
cp gt.ibin gt_noext
run recall --result r.ibin --truth gt_noext -k 5
expect_exit 0
expect_stdout_is $'recall@1\t1.000000\nrecall@10\t1.000000\nrecall@5\t1.000000'
{ cat r.ibin; head -c 17 /dev/zero; } >gtbad.ibin
run recall --result r.ivecs --truth gtbad.ibin
expect_exit 2
expect_stderr_match "gtbad.ibin: not a valid .ibin file: size 1225 is not 8 \\+ 30 x 10 x 4 = 1208 bytes .*nor 8 \\+ 30 x 10 x 8 = 2408 bytes"
cp gt.ibin gt.bin
run recall --result r.ivecs --truth gt.bin
expect_exit 2
expect_stderr_match 'gt.bin: looks like .ibin \(ids then distances: big-ann ground truth\), not .fbin'

# --- repeated and missing options ----------------------------------------------------
check_repeat() {
    local pattern=$1
    shift
    run "$@"
    expect_exit 1
    expect_stderr_match "$pattern"
    expect_untouched
}
check_repeat '^vecscore topk: -q/--queries is given more than once; give it once$' \
    topk -q q.fvecs -q base.fvecs -b base.fvecs -k 3 -o out.ivecs
check_repeat '^vecscore topk: -q/--queries is given more than once' \
    topk --queries=q.fvecs -b base.fvecs --queries q.fvecs -k 3 -o out.ivecs
check_repeat '^vecscore topk: -b/--base is given more than once' \
    topk -q q.fvecs -b base.fvecs --base=base.fvecs -k 3 -o out.ivecs
check_repeat '^vecscore topk: -o/--output is given more than once' \
    topk -q q.fvecs -b base.fvecs -k 3 -o out.ivecs -o out.fvecs
check_repeat '^vecscore topk: -k is given more than once' \
    topk -q q.fvecs -b base.fvecs -k 3 -k 4 -o out.ivecs
check_repeat '^vecscore topk: --scores is given more than once' \
    topk -q q.fvecs -b base.fvecs -k 3 -o out.ivecs --scores out.fvecs --scores out.fbin
for opt in "--metric dot" "--device cpu" "--batch 2" "--chunk 5" "--threads 1"; do
    # shellcheck disable=SC2086
    check_repeat "^vecscore score: (-m/|-t/)?${opt%% *} is given more than once" \
        score -q q.fvecs -b base.fvecs $opt $opt -o out.fvecs
done
check_repeat '^vecscore gen: -n/--count is given more than once' gen --count 3 -n 4 --dim 2 -o out.fvecs
check_repeat '^vecscore gen: -o/--output is given more than once' gen --count 3 --dim 2 -o out.fvecs -o out.fbin
check_repeat '^vecscore recall: -t/--truth is given more than once' recall --result r.ivecs --truth r.ivecs -t r.ivecs
check_repeat '^vecscore topk: -k and -o are required; see .vecscore topk --help.$' topk -q q.fvecs -b base.fvecs
check_repeat '^vecscore topk: -q is required' topk -b base.fvecs -k 3 -o out.ivecs
check_repeat '^vecscore topk: -q, -b, -k and -o are required' topk --quiet
check_repeat '^vecscore score: -b is required' score -q q.fvecs -o out.fvecs
check_repeat '^vecscore gen: --dim and -o are required' gen --count 3
check_repeat '^vecscore recall: --truth is required' recall --result r.ivecs

# --- vecscore help CMD is CMD --help -------------------------------------------------
for sub in devices gen topk score recall bench; do
    run "$sub" --help
    expect_exit 0
    cp stdout.txt "help_flag_$sub.txt"
    run help "$sub"
    expect_exit 0
    expect_stdout_match "^usage: vecscore $sub"
    expect_same stdout.txt "help_flag_$sub.txt"
done
run help
expect_exit 0
expect_stdout_match '^usage: vecscore <command> \[options\]$'
run help frobnicate
expect_exit 1
expect_stderr_match "unknown command 'frobnicate'"
run help topk extra
expect_exit 1
expect_stderr_match "^vecscore help: unexpected argument 'extra'"
