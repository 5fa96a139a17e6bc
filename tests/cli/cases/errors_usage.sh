# Usage errors exit 1 before any file is touched.
fixtures
check_usage() {
    local pattern=$1
    shift
    run "$@"
    expect_exit 1
    expect_stderr_match "$pattern"
    expect_no_file out.ivecs out.tsv out.txt out.fvecs
    expect_no_temp
}
check_usage "unknown argument '--frob'" topk -q q.fvecs -b base.fvecs -k 3 -o out.ivecs --frob
check_usage '^vecscore topk: -k is required; see' topk -q q.fvecs -b base.fvecs -o out.ivecs
check_usage '^vecscore score: -b is required; see' score -q q.fvecs -o out.fvecs
check_usage "-k '0': expected 1 \.\. 1048576" topk -q q.fvecs -b base.fvecs -k 0 -o out.ivecs
check_usage "-k 'ten': expected" topk -q q.fvecs -b base.fvecs -k ten -o out.ivecs
check_usage '^vecscore topk: -o needs a value$' topk -q q.fvecs -b base.fvecs -k 3 -o
check_usage "--metric 'hamming': expected dot, cosine or l2" topk -q q.fvecs -b base.fvecs -k 3 --metric hamming -o out.ivecs
check_usage "--batch '0'" topk -q q.fvecs -b base.fvecs -k 3 --batch 0 -o out.ivecs
check_usage "--chunk '-3'" topk -q q.fvecs -b base.fvecs -k 3 --chunk -3 -o out.ivecs
check_usage "--threads 'many'" score -q q.fvecs -b base.fvecs --threads many -o out.fvecs
check_usage 'out.txt: results are written as \.ivecs, \.ibin, \.npy, \.tsv, \.json or -' topk -q q.fvecs -b base.fvecs -k 3 -o out.txt
check_usage 'out.ivecs: scores are written as \.fvecs' score -q q.fvecs -b base.fvecs -o out.ivecs
check_usage '--scores goes with \.ivecs/\.ibin/\.npy results' topk -q q.fvecs -b base.fvecs -k 3 -o out.tsv --scores out.fvecs
check_usage '--scores out.ivecs: expected \.fvecs, \.fbin or \.npy' topk -q q.fvecs -b base.fvecs -k 3 -o out.npy --scores out.ivecs
check_usage "unknown argument '--scores'" score -q q.fvecs -b base.fvecs -o out.fvecs --scores s.fvecs
check_usage "^vecscore topk: bad option: unknown device selector 'gpu-please'.*\\(VS_ERR_INVALID_ARGUMENT\\)$" topk -q q.fvecs -b base.fvecs -k 3 --device gpu-please -o out.ivecs
# environment overrides are options too
VECSCORE_THREADS=abc check_usage "bad option: environment variable VECSCORE_THREADS has an invalid value 'abc'" topk -q q.fvecs -b base.fvecs -k 3 -o out.ivecs
VECSCORE_ISA=sse9 check_usage "bad option: .*sse9" score -q q.fvecs -b base.fvecs -o out.fvecs
