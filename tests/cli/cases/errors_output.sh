# Output errors exit 4, leave no partial file and no temporary file.
fixtures
run topk -q q.fvecs -b base.fvecs -k 3 -o nodir/out.ivecs
expect_exit 4
expect_stderr_match '^vecscore topk: nodir/out.ivecs: cannot create a temporary file in nodir/: No such file or directory$'
run topk -q q.fvecs -b base.fvecs -k 3 -o out.ivecs --scores nodir/s.fvecs
expect_exit 4
expect_stderr_match 'nodir/s.fvecs: cannot create a temporary file'
expect_no_file out.ivecs
# the target is a directory: the rename at the end fails
mkdir taken.tsv
run topk -q q.fvecs -b base.fvecs -k 3 -o taken.tsv
expect_exit 4
expect_stderr_match 'taken.tsv: cannot rename .* into place'
[ -d taken.tsv ] || fail "taken.tsv is still a directory"
expect_no_temp
run score -q q.fvecs -b base.fvecs -o nodir/s.npy
expect_exit 4
expect_no_temp
# stdout that cannot be written
if [ -w /dev/full ]; then
    LAST_CMD="topk ... -o - >/dev/full"
    "$VECSCORE" topk -q q.fvecs -b base.fvecs -k 3 -o - >/dev/full 2>stderr.txt
    RC=$?
    expect_exit 4
    expect_stderr_match 'writing to stdout failed'
fi
