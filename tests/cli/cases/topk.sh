# topk: exact golden output on integer-valued data (dot and l2 are exact on
# every ISA and device), padding when k exceeds the base, every output format.
fixtures
run topk -q q.u8bin -b base.u8bin -k 3 --metric dot -o -
expect_exit 0
expect_stdout_exact topk_dot_k3.tsv
run topk -q q.u8bin -b base.u8bin -k 3 --metric l2 -o - --quiet
expect_exit 0
expect_stdout_exact topk_l2_k3.tsv

# k > base rows: padded with id -1 and -inf (similarities) or inf (l2)
run gen --count 2 --dim 6 --seed 5 -o tiny.u8bin
run topk -q q.u8bin -b tiny.u8bin -k 4 --metric cosine -o -
expect_exit 0
expect_stdout_match $'^0\t2\t-1\t-inf$'
expect_stdout_match $'^3\t3\t-1\t-inf$'
run topk -q q.u8bin -b tiny.u8bin -k 4 --metric l2 -o -
expect_stdout_match $'^0\t3\t-1\tinf$'

# every output format carries the same ids and scores
run topk -q q.fvecs -b base.fvecs -k 10 -o ref.tsv
expect_exit 0
expect_stdout_empty
head -n 1 ref.tsv | cmp -s - <(printf 'query\trank\tid\tscore\n') || fail "TSV header"
[ "$(wc -l <ref.tsv)" -eq $((30 * 10 + 1)) ] || fail "ref.tsv rows"
run topk -q q.fvecs -b base.fvecs -k 10 -o r.ivecs --scores s.fvecs
expect_exit 0
[ "$(stat -c %s r.ivecs)" -eq $((30 * 44)) ] || fail "r.ivecs size"
run topk -q q.fvecs -b base.fvecs -k 10 -o r.npy --scores s.npy
run topk -q q.fvecs -b base.fvecs -k 10 -o r.ibin --scores s.fbin
run topk -q q.fvecs -b base.fvecs -k 10 -o r.json
expect_exit 0
grep -q '^{"metric": "cosine", "k": 10, "results": \[$' r.json || fail "json head"
[ "$(grep -c '"query": ' r.json)" -eq 30 ] || fail "json rows"
for ids in r.ivecs r.npy r.ibin; do
    run recall --result "$ids" --truth r.ivecs
    expect_exit 0
    expect_stdout_is $'recall@1\t1.000000\nrecall@10\t1.000000'
done
# query batches of 7 give the same TSV
run topk -q q.fvecs -b base.fvecs -k 10 -o - --batch 7
expect_same stdout.txt ref.tsv
