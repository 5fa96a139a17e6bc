# gen: deterministic per seed, every writable format, distributions,
# --normalize, and its usage/output errors (nothing left behind).
run gen --count 50 --dim 8 --seed 3 -o a.fvecs
expect_exit 0
expect_stderr_empty
[ "$(stat -c %s a.fvecs)" -eq $((50 * (4 + 8 * 4))) ] || fail "a.fvecs size"
run gen --count 50 --dim 8 --seed 3 -o b.fvecs
expect_same a.fvecs b.fvecs
run gen --count 50 --dim 8 --seed 4 -o c.fvecs
cmp -s a.fvecs c.fvecs && fail "different seeds gave the same file"
for dist in gaussian uniform clustered; do
    for ext in fvecs fbin npy bvecs u8bin; do
        run gen --count 20 --dim 5 --distribution "$dist" -o "d_$dist.$ext"
        expect_exit 0
    done
done
[ "$(stat -c %s d_uniform.u8bin)" -eq $((8 + 20 * 5)) ] || fail "u8bin size"
[ "$(stat -c %s d_gaussian.npy)" -eq $((128 + 20 * 5 * 4)) ] || fail "npy size"
# the same gaussian values whatever the float format
run topk -q d_gaussian.fvecs -b d_gaussian.npy -k 3 --metric dot -o - --quiet
cp stdout.txt via_npy.tsv
run topk -q d_gaussian.fbin -b d_gaussian.fvecs -k 3 --metric dot -o -
expect_same stdout.txt via_npy.tsv

# --normalize: each vector's dot with itself is 1 (to float rounding)
run gen --count 10 --dim 32 --normalize -o n.fvecs
run topk -q n.fvecs -b n.fvecs -k 1 --metric dot -o -
expect_exit 0
[ "$(awk 'NR > 1 && ($2 != 0 || $3 != $1 || $4 < 0.99999 || $4 > 1.00001)' stdout.txt | wc -l)" -eq 0 ] \
    || fail "normalized vectors are not unit length"

run gen --dim 4 -o x.fvecs
expect_exit 1
expect_stderr_match 'required'
run gen --count 0 --dim 4 -o x.fvecs
expect_exit 1
expect_stderr_match "--count '0': expected 1"
run gen --count 3 --dim 4 --distribution zipf -o x.fvecs
expect_exit 1
expect_stderr_match "--distribution 'zipf'"
run gen --count 3 --dim 4 -o x.ivecs
expect_exit 1
expect_stderr_match 'cannot tell the format'
run gen --count 3 --dim 4 --normalize -o x.bvecs
expect_exit 1
expect_stderr_match '--normalize needs a float format'
run gen --count 3 --dim 4 -o nodir/x.fvecs
expect_exit 4
expect_stderr_match 'cannot create a temporary file in nodir/'
expect_no_file x.fvecs x.ivecs x.bvecs nodir
expect_no_temp
