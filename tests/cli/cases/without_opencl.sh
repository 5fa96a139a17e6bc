# A build without OpenCL (-DVECSCORE_OPENCL=OFF): the CPU is the only device
# and the reason is printed, auto runs on the CPU, and an explicit opencl
# selector is a device error (3) with that reason and no output.
# needs: no-opencl
run devices
expect_exit 0
expect_stdout_match '^cpu +native-cpu +yes'
expect_stdout_match '^opencl: no OpenCL platform \(built without OpenCL\)$'
expect_stdout_match '^auto picks: cpu'
run devices --json
expect_exit 0
expect_stdout_match '"opencl_status": "no OpenCL platform \(built without OpenCL\)", "devices": \[\{"index": 0, "selector": "cpu", "kind": "native-cpu", [^]]*\}\]'
run --version
expect_exit 0
expect_stdout_match '; opencl: no OpenCL platform \(built without OpenCL\)'
"$VECSCORE" gen --count 10 --dim 4 -o v.fvecs || fail "gen"
run topk -q v.fvecs -b v.fvecs -k 2 -o auto.ivecs
expect_exit 0
for sel in opencl opencl:0:0 opencl:name=pocl; do
    run topk -q v.fvecs -b v.fvecs -k 2 --device "$sel" -o out.ivecs
    expect_exit 3
    expect_stderr_match "^vecscore topk: cannot use device '$sel': .*built without OpenCL.*\(VS_ERR_NO_DEVICE\)$"
    expect_no_file out.ivecs
    expect_no_temp
done
