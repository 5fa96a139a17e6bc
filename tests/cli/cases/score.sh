# score: the full matrix, exact golden output on integer data, every output
# format, and chunked/batched runs bit-identical to one piece.
fixtures
run score -q q.u8bin -b base.u8bin --metric dot -o -
expect_exit 0
expect_stdout_exact score_dot.tsv
run score -q q.u8bin -b base.u8bin --metric l2 -o - --chunk 7 --batch 3
expect_exit 0
expect_stdout_exact score_l2.tsv
run score -q q.fvecs -b base.fvecs -o m.fvecs
expect_exit 0
[ "$(stat -c %s m.fvecs)" -eq $((30 * (4 + 500 * 4))) ] || fail "m.fvecs size"
run score -q q.fvecs -b base.fvecs -o m.npy
run score -q q.fvecs -b base.fvecs -o m.fbin
[ "$(stat -c %s m.fbin)" -eq $((8 + 30 * 500 * 4)) ] || fail "m.fbin size"
run score -q q.fvecs -b base.fvecs -o m.json
grep -q '^{"metric": "cosine", "scores": \[$' m.json || fail "json head"
[ "$(grep -c '^  \[' m.json)" -eq 30 ] || fail "json rows"
for metric in dot cosine l2; do
    run score -q q.fvecs -b base.fvecs --metric "$metric" -o one.npy
    for split in "--chunk 7 --batch 3" "--chunk 1" "--batch 1"; do
        # shellcheck disable=SC2086
        run score -q q.fvecs -b base.fvecs --metric "$metric" $split -o many.npy --report
        expect_exit 0
        expect_stderr_match '^peak_rss_bytes='
        expect_same one.npy many.npy
    done
done
# TSV: one line per (query, base row) plus the header
run score -q q.fvecs -b base.fvecs --metric dot -o m.tsv
expect_exit 0
[ "$(wc -l <m.tsv)" -eq $((30 * 500 + 1)) ] || fail "m.tsv rows"
