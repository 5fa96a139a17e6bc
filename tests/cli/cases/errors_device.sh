# A device selector that matches nothing exits 3 with the library's reason
# and leaves no output. (Until the OpenCL backend is in the build, every
# "opencl..." selector ends here; afterwards only unmatched ones do.)
fixtures
for sel in 'opencl:name=zz-no-such-device' 'opencl:7:7'; do
    run topk -q q.fvecs -b base.fvecs -k 3 --device "$sel" -o out.ivecs --scores out.fvecs
    expect_exit 3
    expect_stderr_match "^vecscore topk: cannot use device '$sel': .*\(VS_ERR_NO_DEVICE\)$"
    expect_no_file out.ivecs out.fvecs
    expect_no_temp
    run score -q q.fvecs -b base.fvecs --device "$sel" -o out.fvecs
    expect_exit 3
    expect_stderr_match 'VS_ERR_NO_DEVICE'
    expect_no_file out.fvecs
done
run topk -q q.fvecs -b base.fvecs -k 3 --device cpu -o out.ivecs --threads 1
expect_exit 0
