# recall against a brute-force float64 ground truth is 1.0 on the CPU
# backend, and on OpenCL when this build and machine have a device.
fixtures
for metric in dot cosine l2; do
    "$BRUTEFORCE" "$metric" 10 q.fvecs base.fvecs "truth_$metric.ivecs" || fail "bruteforce $metric"
    run topk -q q.fvecs -b base.fvecs -k 10 --metric "$metric" --device cpu -o "cpu_$metric.ivecs"
    expect_exit 0
    run recall --result "cpu_$metric.ivecs" --truth "truth_$metric.ivecs"
    expect_exit 0
    expect_stdout_is $'recall@1\t1.000000\nrecall@10\t1.000000'
    run recall --result "cpu_$metric.ivecs" --truth "truth_$metric.ivecs" -k 5
    expect_stdout_is $'recall@1\t1.000000\nrecall@10\t1.000000\nrecall@5\t1.000000'
done

# OpenCL (PoCL in CI): the same check in a build with the OpenCL backend
# (VECSCORE_TEST_OPENCL=1, set by tests/CMakeLists.txt), where a missing
# device fails the test; a build without OpenCL prints a NOTE and the CPU
# checks above gate the test.
if [ "${VECSCORE_TEST_OPENCL:-1}" != 0 ]; then
    for metric in dot cosine l2; do
        run topk -q q.fvecs -b base.fvecs -k 10 --metric "$metric" --device opencl -o "cl_$metric.ivecs"
        expect_exit 0
        run recall --result "cl_$metric.ivecs" --truth "truth_$metric.ivecs"
        expect_stdout_is $'recall@1\t1.000000\nrecall@10\t1.000000'
    done
else
    echo "NOTE [recall]: a build without OpenCL; recall checked on the CPU backend only"
fi

# partial overlap, padding and errors
{ le32 2; le32 0; le32 1; le32 2; le32 5; le32 -1; } >res.ivecs
{ le32 2; le32 0; le32 9; le32 2; le32 5; le32 7; } >tru.ivecs
run recall --result res.ivecs --truth tru.ivecs
expect_exit 0
expect_stdout_is $'recall@1\t1.000000\nrecall@2\t0.500000'
{ le32 2; le32 0; le32 1; } >short.ivecs
run recall --result short.ivecs --truth tru.ivecs
expect_exit 2
expect_stderr_match 'short.ivecs has 1 rows but tru.ivecs has 2'
run recall --result res.ivecs --truth tru.ivecs -k 3
expect_exit 2
expect_stderr_match '-k 3 exceeds the ids per query'
run recall --result q.fvecs --truth tru.ivecs
expect_exit 2
expect_stderr_match 'q.fvecs: holds f4 values; expected integer ids'
run recall --result res.ivecs
expect_exit 1
expect_stderr_match '^vecscore recall: --truth is required; see'
