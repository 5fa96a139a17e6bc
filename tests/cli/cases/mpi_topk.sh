# needs: mpi
# vecscore-mpi topk under mpirun -n 1..4 writes byte-for-byte what
# one-process vecscore topk writes: every metric and output format, uneven
# splits, ties that straddle the shard boundaries, k above a shard's rows
# and above N, NaN and zero vectors, chunks smaller than a shard, every storage.
. "$(dirname "$CASE_PATH")/../mpi_lib.sh"
mpi_fixtures
for metric in dot cosine l2; do
    # k = 300 > a shard of 4 ranks (250); chunks of 37 rows; batches of 5.
    same_as_one "1 2 3 4" topk -q q.fvecs -b base.fvecs -k 300 --metric "$metric" --chunk 37 \
        --batch 5 -o out.ivecs --scores out.fvecs
    # ties, NaN, inf and zero rows; k = 12 > N = 9 (padding); TSV on stdout
    same_as_one "1 2 3 4" topk -q tq.fvecs -b ties.fvecs -k 12 --metric "$metric" -o -
done
same_as_one "1 2 3 4" topk -q tq.fvecs -b ties.fvecs -k 4 -o out.json
# Every compact storage, exact and approximate: each rank keeps its shard in that storage, and
# the merged result is the one process's, byte for byte (ties, NaN and zero rows included).
for storage in f16 bf16 i8; do
    same_as_one "2 3" topk -q q.fvecs -b base.fvecs -k 20 --storage "$storage" -o out.ivecs \
        --scores out.fvecs
    same_as_one "3" topk -q tq.fvecs -b ties.fvecs -k 12 --storage "$storage" -o -
    same_as_one "2" topk -q q.fvecs -b base.fvecs -k 10 --storage "$storage" --approx \
        --metric cosine -o out.tsv
done
same_as_one "2 3" topk -q q.fvecs -b base.fvecs -k 1001 --metric dot -o out.npy --scores out.s.npy
same_as_one "3" topk -q q.fvecs -b base.fvecs -k 1100 --device cpu -o out.ibin --scores out.fbin
same_as_one "4" topk -q q.fvecs -b base.fvecs -k 7 --threads 1 --chunk 100 -o out.tsv

# Queries from standard input reach rank 0 only, which shares them.
"$VECSCORE" topk -q - -b base.fvecs -k 5 -o one.tsv <q.fvecs || fail "topk -q -"
LAST_CMD="(mpirun -n 3 vecscore-mpi) topk -q - <q.fvecs"
"$MPIEXEC" --oversubscribe -n 3 "$VECSCORE_TEST_MPI" topk -q - -b base.fvecs -k 5 -o out.tsv \
    <q.fvecs >stdout.txt 2>stderr.txt
RC=$?
expect_exit 0
expect_same one.tsv out.tsv

# More ranks than base rows: the ranks without rows still take part.
"$VECSCORE" topk -q tq.fvecs -b ties.fvecs -k 3 -o one.tsv || fail "topk ties"
mpi 11 topk -q tq.fvecs -b ties.fvecs -k 3 -o out.tsv
expect_exit 0
expect_same one.tsv out.tsv

# --report: the reduction's bytes. A rank sends its nq x k x 12 bytes once
# (13 x 10 x 12 = 1560); rank 0 receives ceil(log2 4) = 2 such messages;
# R - 1 = 3 are sent in all. N does not enter.
MPI_WRAP=leak_checked mpi 4 topk -q q.fvecs -b base.fvecs -k 10 -o out.tsv --report --quiet
expect_exit 0
expect_stderr_match '^ranks=4$'
expect_stderr_match '^reduce_bytes_sent_max=1560$'
expect_stderr_match '^reduce_bytes_received_max=3120$'
expect_stderr_match '^reduce_bytes_sent_total=4680$'
expect_no_temp
