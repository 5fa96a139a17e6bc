# needs: mpi
# vecscore-mpi score under mpirun -n 1..4 writes byte-for-byte the matrix
# of one-process vecscore score, in every format, with uneven column blocks,
# chunks smaller than a block, ties, NaN, inf and zero vectors.
. "$(dirname "$CASE_PATH")/../mpi_lib.sh"
mpi_fixtures
for metric in dot cosine l2; do
    same_as_one "1 2 3 4" score -q tq.fvecs -b ties.fvecs --metric "$metric" -o out.tsv
done
same_as_one "3 4" score -q q.fvecs -b base.fvecs --metric l2 -o out.fvecs
same_as_one "2 3" score -q q.fvecs -b base.fvecs --chunk 90 --batch 4 -o out.npy
same_as_one "4" score -q q.fvecs -b base.fvecs --batch 1 --metric dot -o out.fbin
same_as_one "3" score -q tq.fvecs -b ties.fvecs --metric dot -o out.json
# Every compact storage (exact: float32 scores; approximate: the compact scores), per column block.
for storage in f16 bf16 i8; do
    same_as_one "2 3" score -q q.fvecs -b base.fvecs --storage "$storage" -o out.npy
    same_as_one "3" score -q tq.fvecs -b ties.fvecs --storage "$storage" --approx -o out.tsv
done
same_as_one "2 4" score -q tq.fvecs -b ties.fvecs --chunk 2 -o -
MPI_WRAP=leak_checked mpi 3 score -q q.fvecs -b base.fvecs --chunk 90 --batch 4 -o out.tsv
expect_exit 0
expect_no_temp
