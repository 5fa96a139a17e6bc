# The malformed-file corpus: every reader rejection through the CLI. Each
# must exit 2, name the file and the problem on stderr, leave no output
# (and no temporary file) behind, and leave an existing output untouched.
fixtures
echo "keep me" >kept.tsv

# check_bad FILE ERE [as-base]: FILE as the queries (or the base) of topk.
check_bad() {
    local file=$1 pattern=$2
    if [ "${3:-}" = base ]; then
        run topk -q q.fvecs -b "$file" -k 3 -o out.ivecs --scores out.fvecs
    else
        run topk -q "$file" -b base.fvecs -k 3 -o out.ivecs --scores out.fvecs
    fi
    expect_exit 2
    expect_stderr_match "^vecscore topk: (\\./)?$file: .*$pattern"
    expect_no_file out.ivecs out.fvecs
    expect_no_temp
    run topk -q "$file" -b "$file" -k 3 -o kept.tsv
    expect_exit 2
    [ "$(cat kept.tsv)" = "keep me" ] || fail "kept.tsv was touched"
    expect_no_temp
}

: >empty.fvecs
check_bad empty.fvecs 'empty file \(0 bytes\)'
printf '\x10\x00' >short.fvecs
check_bad short.fvecs 'truncated: 2 bytes'
{ le32 0; f32 1; } >dim0.fvecs
check_bad dim0.fvecs 'record 0 \(byte 0\): dimension 0; expected 1\.\.1048576'
{ le32 -5; f32 1; } >dimneg.fvecs
check_bad dimneg.fvecs 'dimension -5; expected 1\.\.'
{ le32 2000000; f32 1; } >dimbig.fvecs
check_bad dimbig.fvecs 'dimension 2000000; expected 1\.\.1048576'
{ le32 16; f32 1; } >trunc.fvecs
check_bad trunc.fvecs 'truncated: record 0 \(dimension 16\) needs 68 bytes, the file has 8'
{ le32 2; f32 1; f32 1; le32 2; f32 1; } >partial.fvecs
check_bad partial.fvecs 'trailing partial record 1 at byte 12' base
{ le32 2; f32 1; f32 1; le32 3; f32 1; f32 1; } >lastdim.fvecs
check_bad lastdim.fvecs 'record 1 \(byte 12\): dimension 3 differs from the first record.s 2'
{ le32 2; le32 16; f32 1; f32 1; f32 1; } >short.fbin
check_bad short.fbin 'not 8 \+ 2 x 16 x 4 = 136 bytes \(truncated'
{ le32 1; le32 16; head -c 64 /dev/zero; printf 'x'; } >trail.fbin
check_bad trail.fbin 'trailing bytes after the data end at byte 72'
{ le32 0; le32 16; } >zero.u8bin
check_bad zero.u8bin 'count 0 at byte 0: the file holds no vectors'
cp base.fvecs looks.fbin
check_bad looks.fbin 'looks like \.fvecs, not \.fbin' base
cp base.u8bin looks.fvecs
check_bad looks.fvecs 'looks like \.u8bin, not \.fvecs'
printf 'not a vector file at all' >junk.dat
check_bad junk.dat 'unknown format'
npy badmagic.npy '<f4' False '(2, 16)' 128
printf 'X' | dd of=badmagic.npy bs=1 seek=1 conv=notrunc 2>/dev/null
check_bad badmagic.npy 'bytes 0-5 are not the npy magic'
npy v9.npy '<f4' False '(2, 16)' 128
printf '\x09' | dd of=v9.npy bs=1 seek=6 conv=notrunc 2>/dev/null
check_bad v9.npy 'npy version 9\.0 at byte 6'
npy be.npy '>f4' False '(2, 16)' 128
check_bad be.npy "big-endian dtype '>f4'"
npy 3d.npy '<f4' False '(2, 4, 4)' 128
check_bad 3d.npy 'npy array has 3 dimensions; expected 2'
npy c8.npy '<c8' False '(2, 16)' 256
check_bad c8.npy "unsupported npy dtype '<c8'"
npy hdr.npy '<f4' False '(2, 16)' 0 2
head -c 40 hdr.npy >hdrpast.npy
check_bad hdrpast.npy 'header of 116 bytes \(length at byte 8\) ends at byte 128, past the end of the file \(40 bytes\)'
npy trunc.npy '<f4' False '(2, 16)' 100
check_bad trunc.npy '128 \+ 2 x 16 x 4 = 256 bytes \(truncated: data ends early at byte 228\)'
npy over.npy '<f8' False '(4611686018427387904, 1024)' 8
check_bad over.npy 'overflows 64 bits'
npy ok.npy '<f4' False '(2, 16)' 128
sed 's/fortran_order/fortran_ordre/' ok.npy >badkey.npy
check_bad badkey.npy "unknown key 'fortran_ordre'"
npy dim8.npy '<f4' False '(2, 8)' 64
run topk -q dim8.npy -b base.fvecs -k 3 -o out.ivecs
expect_exit 2
expect_stderr_match '^vecscore topk: dim8.npy has dimension 8 but base.fvecs has dimension 16; they must match$'
expect_no_file out.ivecs
expect_no_temp
run topk -q missing.fvecs -b base.fvecs -k 3 -o out.ivecs
expect_exit 2
expect_stderr_match '^vecscore topk: missing.fvecs: cannot open: No such file or directory$'

# a record in the middle with another dimension is found while streaming
{ for i in 1 2 3 4 5 6 7 8; do if [ $i -eq 5 ]; then le32 3; else le32 2; fi; f32 1; f32 0.5; done; } >mid.fvecs
truncate -s $((8 * 12)) mid.fvecs
{ le32 2; f32 1; f32 1; } >q2.fvecs
run topk -q q2.fvecs -b mid.fvecs -k 2 -o out.ivecs --chunk 2
expect_exit 2
expect_stderr_match 'mid.fvecs: record 4 \(byte 48\): dimension 3 differs'
expect_no_file out.ivecs
expect_no_temp

# NaN/Inf: scored by default, an error naming the row with --reject-nonfinite
{ le32 2; f32 1; f32 1; le32 2; f32 nan; f32 1; le32 2; f32 inf; f32 0; } >nan.fvecs
run topk -q q2.fvecs -b nan.fvecs -k 3 --metric dot -o -
expect_exit 0
expect_stdout_match $'^0\t0\t2\tinf$'
expect_stdout_match $'^0\t2\t1\tnan$'
run topk -q q2.fvecs -b nan.fvecs -k 3 --metric dot -o out.ivecs --reject-nonfinite
expect_exit 2
expect_stderr_match 'nan.fvecs: row 1, element 0 is NaN; non-finite values are rejected'
expect_no_file out.ivecs
run score -q nan.fvecs -b q2.fvecs -o out.fvecs --reject-nonfinite
expect_exit 2
expect_stderr_match 'nan.fvecs: row 1, element 0 is NaN'
expect_no_file out.fvecs
expect_no_temp
