# Output errors exit 4 (or 1 for a usage error found before any work), leave
# no partial file and no temporary file, and never replace an existing file
# unless the whole run succeeded.
fixtures
run topk -q q.fvecs -b base.fvecs -k 3 -o nodir/out.ivecs
expect_exit 4
expect_stderr_match '^vecscore topk: nodir/out.ivecs: cannot create a temporary file in nodir/: No such file or directory$'
run topk -q q.fvecs -b base.fvecs -k 3 -o out.ivecs --scores nodir/s.fvecs
expect_exit 4
expect_stderr_match 'nodir/s.fvecs: cannot create a temporary file'
expect_no_file out.ivecs
# the target is a directory: refused when the output is opened, before any work
mkdir taken.tsv
run topk -q q.fvecs -b base.fvecs -k 3 -o taken.tsv
expect_exit 4
expect_stderr_match '^vecscore topk: taken.tsv: is a directory; expected a file name$'
[ -d taken.tsv ] || fail "taken.tsv is still a directory"
expect_no_temp
run score -q q.fvecs -b base.fvecs -o nodir/s.npy
expect_exit 4
expect_no_temp

# ---- an output that names an input or the other output: exit 1, nothing touched
"$VECSCORE" gen --count 30 --dim 16 --seed 2 -o q.npy || fail "gen q.npy"
cp q.npy q.orig
cp base.fvecs base.orig
ln -s q.npy qlink.npy
ln q.npy qhard.npy
ln -s base.fvecs blink.fvecs
same_file() { # same_file EXPECTED_STDERR_ERE ARGS...
    local pattern=$1
    shift
    run "$@"
    expect_exit 1
    expect_stderr_match "$pattern"
    expect_same q.npy q.orig
    expect_same base.fvecs base.orig
    expect_no_temp
}
same_file '^vecscore topk: -o q.npy is the same file as -q q.npy; refusing to overwrite an input$' \
    topk -q q.npy -b base.fvecs -k 3 -o q.npy
same_file '-o ./q.npy is the same file as -q q.npy' topk -q q.npy -b base.fvecs -k 3 -o ./q.npy
same_file "-o $PWD/q.npy is the same file as -q q.npy" topk -q q.npy -b base.fvecs -k 3 -o "$PWD/q.npy"
same_file '-o qlink.npy is the same file as -q q.npy' topk -q q.npy -b base.fvecs -k 3 -o qlink.npy
same_file '-o qhard.npy is the same file as -q q.npy' topk -q q.npy -b base.fvecs -k 3 -o qhard.npy
same_file '-o q.npy is the same file as -b qhard.npy' topk -q q.fvecs -b qhard.npy -k 3 -o q.npy
same_file '--scores q.npy is the same file as -q q.npy' topk -q q.npy -b base.fvecs -k 3 -o r.npy --scores q.npy
same_file '-o base.fvecs is the same file as -b base.fvecs' score -q q.fvecs -b base.fvecs -o base.fvecs
same_file '-o ./blink.fvecs is the same file as -b base.fvecs' score -q q.fvecs -b base.fvecs -o ./blink.fvecs
same_file '-o q.npy is the same file as -q qlink.npy' score -q qlink.npy -b base.fvecs -o q.npy
mkdir sub
same_file '-o sub/../base.fvecs is the same file as -b base.fvecs' score -q q.fvecs -b base.fvecs -o sub/../base.fvecs
# -o and --scores naming one file: existing, or not existing yet, or through a link
cp q.npy r.npy
cp q.npy r.orig
same_file '^vecscore topk: -o r.npy and --scores r.npy are the same file; one would overwrite the other$' \
    topk -q q.fvecs -b base.fvecs -k 3 -o r.npy --scores r.npy
expect_same r.npy r.orig
same_file '-o new.npy and --scores ./new.npy are the same file' topk -q q.fvecs -b base.fvecs -k 3 -o new.npy --scores ./new.npy
ln -s later.npy dangling.npy
same_file '-o later.npy and --scores dangling.npy are the same file' topk -q q.fvecs -b base.fvecs -k 3 -o later.npy --scores dangling.npy
same_file '-o sub/../new.npy and --scores new.npy are the same file' topk -q q.fvecs -b base.fvecs -k 3 -o sub/../new.npy --scores new.npy
expect_no_file new.npy later.npy
# a query file given as its own base is fine (not an output)
run topk -q q.npy -b q.npy -k 1 -o self.ivecs
expect_exit 0

# ---- outputs of one run are committed as a set: both or neither
printf 'old ids' >ids.ivecs
printf 'old scores' >scores.fvecs
cp ids.ivecs ids.orig
cp scores.fvecs scores.orig
# --scores names a directory: no ids committed, the existing ids file unchanged
mkdir sdir.fvecs
run topk -q q.fvecs -b base.fvecs -k 3 -o ids.ivecs --scores sdir.fvecs
expect_exit 4
expect_stderr_match '^vecscore topk: sdir.fvecs: is a directory; expected a file name$'
expect_same ids.ivecs ids.orig
expect_no_temp
# the disk fills at the final flush (RLIMIT_FSIZE; the CLI ignores SIGXFSZ so
# the write fails): 200 queries, k = 1: ids.ibin is 808 bytes, scores.fvecs
# 1600 and over the 1 KiB limit, both still in stdio's buffer until the flush
# run_limited KIB ARGS...: run ARGS under `ulimit -f KIB` (1 KiB units in bash)
run_limited() {
    local limit=$1
    shift
    LAST_CMD="$* (ulimit -f $limit)"
    (ulimit -f "$limit" && exec "$VECSCORE" "$@" >stdout.txt 2>stderr.txt)
    RC=$?
}
"$VECSCORE" gen --count 200 --dim 16 --seed 3 -o q200.fvecs || fail "gen q200.fvecs"
printf 'old ids' >ids.ibin
cp ids.ibin ids_ibin.orig
run_limited 1 topk -q q200.fvecs -b base.fvecs -k 1 -o ids.ibin --scores scores.fvecs
expect_exit 4
expect_stderr_match '^vecscore topk: scores.fvecs: write failed: File too large$'
expect_same ids.ibin ids_ibin.orig
expect_same scores.fvecs scores.orig
expect_no_temp
# the other way round: the ids do not fit, the scores would
run_limited 1 topk -q q200.fvecs -b base.fvecs -k 1 -o big.npy --scores small.fbin
expect_exit 4
expect_stderr_match 'big.npy: write failed: File too large'
expect_no_file big.npy small.fbin
expect_no_temp
# within the limit the same run succeeds (the limit above is what failed it)
run_limited 4 topk -q q200.fvecs -b base.fvecs -k 1 -o ids.ibin --scores scores.fvecs
expect_exit 0
[ "$(stat -c %s ids.ibin)" -eq 808 ] && [ "$(stat -c %s scores.fvecs)" -eq 1600 ] || fail "sizes"
# gen and score hit the same limit: exit 4, nothing left
printf 'old' >g.fvecs
run_limited 1 gen --count 1000 --dim 8 -o g.fvecs
expect_exit 4
expect_stderr_match 'g.fvecs: write failed: File too large'
[ "$(cat g.fvecs)" = old ] || fail "g.fvecs was replaced"
run_limited 1 score -q q.fvecs -b base.fvecs -o m.tsv
expect_exit 4
expect_stderr_match 'm.tsv: write failed: File too large'
expect_no_file m.tsv
expect_no_temp

# ---- text outputs stop at the first failed write (exit 4). Query row 20 of
# qbad.fvecs has a wrong dimension field, found only when row 20 is read: a
# run that kept going after the failed write would exit 2 there instead.
cp q.fvecs qbad.fvecs
printf '\x0f\x00\x00\x00' | dd of=qbad.fvecs bs=1 seek=$((20 * 68)) conv=notrunc 2>/dev/null
run score -q qbad.fvecs -b base.fvecs --batch 1 -o qbad.tsv
expect_exit 2
expect_stderr_match 'qbad.fvecs: record 20'
ln -s /dev/full full.json # JSON, written through to /dev/full
for target in /dev/full full.json -; do
    LAST_CMD="score -q qbad.fvecs -b base.fvecs --batch 1 -o $target >/dev/full"
    "$VECSCORE" score -q qbad.fvecs -b base.fvecs --batch 1 -o "$target" >/dev/full 2>stderr.txt
    RC=$?
    expect_exit 4
    expect_stderr_match '(/dev/full|full.json|stdout).* No space left on device$'
done
[ -c /dev/full ] && [ -L full.json ] || fail "/dev/full or full.json was replaced"
# stdout that cannot be written
LAST_CMD="topk ... -o - >/dev/full"
"$VECSCORE" topk -q q.fvecs -b base.fvecs -k 3 -o - >/dev/full 2>stderr.txt
RC=$?
expect_exit 4
expect_stderr_match '^vecscore topk: writing to stdout failed: No space left on device$'
run topk -q q.fvecs -b base.fvecs -k 3 -o /dev/full
expect_exit 4
expect_stderr_match '^vecscore topk: /dev/full: write failed: No space left on device$'
run gen --count 100 --dim 8 -o /dev/full
expect_exit 4
expect_stderr_match '/dev/full: write failed: No space left on device'
