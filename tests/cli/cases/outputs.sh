# Outputs that are not plain new files. FIFOs and character devices are
# written through (a reader gets exactly the bytes a file would hold; the
# FIFO stays a FIFO); /dev/null and /dev/stdout work; a symbolic link's
# target is replaced and the link stays; an existing file keeps its mode; any
# valid name (up to 255 bytes) works.
fixtures
run topk -q q.fvecs -b base.fvecs -k 5 -o ref.tsv
run topk -q q.fvecs -b base.fvecs -k 5 -o ref.npy --scores refs.fbin
expect_exit 0
run score -q q.fvecs -b base.fvecs -o refm.npy
run score -q q.fvecs -b base.fvecs -o refm.json
run gen --count 10 --dim 4 --seed 9 -o refg.fbin
expect_exit 0

# fifo_run FIFO EXPECTED ARGS...: vecscore ARGS with a reader on FIFO
fifo_run() {
    local fifo=$1 expected=$2
    shift 2
    rm -f "$fifo" got.bin
    mkfifo "$fifo"
    timeout 30 cat "$fifo" >got.bin &
    local reader=$!
    run "$@"
    expect_exit 0
    wait "$reader" || fail "the reader of $fifo failed"
    [ -p "$fifo" ] || fail "$fifo is no longer a FIFO"
    expect_same got.bin "$expected"
    expect_no_temp
}
fifo_run f.tsv ref.tsv topk -q q.fvecs -b base.fvecs -k 5 -o f.tsv
fifo_run f.npy ref.npy topk -q q.fvecs -b base.fvecs -k 5 -o f.npy
fifo_run f.fbin refs.fbin topk -q q.fvecs -b base.fvecs -k 5 -o r2.npy --scores f.fbin
expect_same r2.npy ref.npy
fifo_run m.npy refm.npy score -q q.fvecs -b base.fvecs -o m.npy
fifo_run m.json refm.json score -q q.fvecs -b base.fvecs -o m.json
fifo_run g.fbin refg.fbin gen --count 10 --dim 4 --seed 9 -o g.fbin
fifo_run noext ref.tsv topk -q q.fvecs -b base.fvecs -k 5 -o noext # no extension: TSV

# /dev/null: every command, every output
for args in "topk -q q.fvecs -b base.fvecs -k 5 -o /dev/null" \
    "topk -q q.fvecs -b base.fvecs -k 5 -o n.ivecs --scores /dev/null" \
    "score -q q.fvecs -b base.fvecs -o /dev/null" "gen --count 10 --dim 4 -o /dev/null"; do
    # shellcheck disable=SC2086
    run $args
    expect_exit 0
    expect_stdout_empty
    expect_stderr_empty
done
[ -c /dev/null ] || fail "/dev/null is no longer a character device"
[ -s n.ivecs ] || fail "n.ivecs was not written"
expect_no_temp

# /dev/stdout: a file, a pipe, appended to (>>), and binary through a link
run topk -q q.fvecs -b base.fvecs -k 5 -o /dev/stdout
expect_exit 0
expect_same stdout.txt ref.tsv
LAST_CMD="topk ... -o /dev/stdout | cat"
"$VECSCORE" topk -q q.fvecs -b base.fvecs -k 5 -o /dev/stdout | cat >piped.tsv
[ "${PIPESTATUS[0]}" -eq 0 ] || fail "-o /dev/stdout into a pipe failed"
expect_same piped.tsv ref.tsv
echo "before" >appended.tsv
"$VECSCORE" topk -q q.fvecs -b base.fvecs -k 5 -o /dev/stdout >>appended.tsv || fail ">> failed"
[ "$(head -n 1 appended.tsv)" = before ] || fail "-o /dev/stdout replaced what >> kept"
tail -n +2 appended.tsv | cmp -s - ref.tsv || fail "-o /dev/stdout >> appended something else"
ln -s /dev/stdout out.npy
"$VECSCORE" topk -q q.fvecs -b base.fvecs -k 5 -o out.npy >so.npy || fail "-o out.npy -> /dev/stdout failed"
expect_same so.npy ref.npy
[ -L out.npy ] || fail "out.npy is no longer a link"
run gen --count 10 --dim 4 --seed 9 -o /dev/fd/1
expect_exit 0
[ "$(stat -c %s stdout.txt)" -eq $((10 * 20)) ] || fail "gen -o /dev/fd/1: expected 200 bytes of .fvecs"

# a symbolic link: its target is replaced, the link stays
echo old >real.tsv
ln -s real.tsv link.tsv
ln -s link.tsv link2.tsv
run topk -q q.fvecs -b base.fvecs -k 5 -o link2.tsv
expect_exit 0
[ -L link.tsv ] && [ -L link2.tsv ] || fail "a link was replaced"
expect_same real.tsv ref.tsv
ln -s nowhere.tsv dangling.tsv
run topk -q q.fvecs -b base.fvecs -k 5 -o dangling.tsv
expect_exit 0
expect_same nowhere.tsv ref.tsv
mkdir elsewhere
ln -s elsewhere/target.npy far.npy
run topk -q q.fvecs -b base.fvecs -k 5 -o far.npy
expect_exit 0
expect_same elsewhere/target.npy ref.npy
[ -z "$(find elsewhere -name '.vs.tmp-*')" ] || fail "temporary file left in elsewhere/"

# modes: kept when replacing; new files follow the umask
echo old >private.tsv
chmod 600 private.tsv
run topk -q q.fvecs -b base.fvecs -k 5 -o private.tsv
expect_exit 0
[ "$(stat -c %a private.tsv)" = 600 ] || fail "private.tsv: mode $(stat -c %a private.tsv), expected 600"
expect_same private.tsv ref.tsv
cp ref.npy group.npy
chmod 640 group.npy
run topk -q q.fvecs -b base.fvecs -k 5 -o group.npy --scores group_s.fbin
[ "$(stat -c %a group.npy)" = 640 ] || fail "group.npy: mode $(stat -c %a group.npy), expected 640"
(umask 077 && exec "$VECSCORE" topk -q q.fvecs -b base.fvecs -k 5 -o new077.tsv) || fail "umask 077"
[ "$(stat -c %a new077.tsv)" = 600 ] || fail "new077.tsv: mode $(stat -c %a new077.tsv)"
(umask 022 && exec "$VECSCORE" gen --count 3 --dim 2 -o new022.fvecs) || fail "umask 022"
[ "$(stat -c %a new022.fvecs)" = 644 ] || fail "new022.fvecs: mode $(stat -c %a new022.fvecs)"

# names of 244..255 bytes (the temporary name must fit too)
for len in 244 250 255; do
    name=$(printf "%0$((len - 4))d" 0 | tr 0 n).tsv
    [ "${#name}" -eq "$len" ] || fail "name length ${#name}"
    run topk -q q.fvecs -b base.fvecs -k 5 -o "$name"
    expect_exit 0
    expect_same "$name" ref.tsv
    ids=$(printf "%0$((len - 4))d" 0 | tr 0 i).npy
    scores=$(printf "%0$((len - 5))d" 0 | tr 0 s).fbin
    run topk -q q.fvecs -b base.fvecs -k 5 -o "$ids" --scores "$scores"
    expect_exit 0
    expect_same "$ids" ref.npy
    expect_same "$scores" refs.fbin
    run score -q q.fvecs -b base.fvecs -o "$ids"
    expect_exit 0
    expect_same "$ids" refm.npy
done
expect_no_temp
