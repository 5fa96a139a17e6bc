# topk over BASE streamed in several chunks (and queries in small batches)
# equals topk over the same data in one piece, for every metric; ties and
# NaN order survive the merge.
fixtures
for metric in dot cosine l2; do
    run topk -q q.fvecs -b base.fvecs -k 25 --metric "$metric" -o one.ivecs --scores one.fvecs
    expect_exit 0
    for split in "--chunk 7 --batch 3" "--chunk 64" "--chunk 499 --batch 1" "--chunk 1"; do
        # shellcheck disable=SC2086
        run topk -q q.fvecs -b base.fvecs -k 25 --metric "$metric" $split -o many.ivecs --scores many.fvecs --report
        expect_exit 0
        expect_stderr_match '^chunks=[0-9]+$'
        expect_same one.ivecs many.ivecs
        expect_same one.fvecs many.fvecs
    done
done
run topk -q q.fvecs -b base.fvecs -k 5 --chunk 7 --report -o x.ivecs
expect_stderr_match '^chunks=72$'
expect_stderr_match '^peak_rss_bytes=[1-9][0-9]*$'
expect_stderr_match '^backend=cpu$'

# duplicate base rows (equal scores) and a NaN row: ids in order, NaN last
{
    for row in 0 1 2 3 4 5; do
        le32 2
        if [ "$row" -eq 2 ]; then f32 nan; f32 1; else f32 1; f32 0.5; fi
    done
} >dups.fvecs
{ le32 2; f32 1; f32 1; } >one_q.fvecs
run topk -q one_q.fvecs -b dups.fvecs -k 6 --metric dot -o - --chunk 2
expect_exit 0
expect_stdout_is $'query\trank\tid\tscore\n0\t0\t0\t1.5\n0\t1\t1\t1.5\n0\t2\t3\t1.5\n0\t3\t4\t1.5\n0\t4\t5\t1.5\n0\t5\t2\tnan'
run topk -q one_q.fvecs -b dups.fvecs -k 6 --metric dot -o - --chunk 6
expect_stdout_is $'query\trank\tid\tscore\n0\t0\t0\t1.5\n0\t1\t1\t1.5\n0\t2\t3\t1.5\n0\t3\t4\t1.5\n0\t4\t5\t1.5\n0\t5\t2\tnan'
