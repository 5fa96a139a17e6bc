# devices: every device the library reports, and what auto picks; --json is
# one object.
run devices
expect_exit 0
expect_stdout_match '^SELECTOR +KIND +AUTO +UNITS +MEMORY +ZERO-COPY +NAME$'
expect_stdout_match '^cpu +native-cpu +yes +[0-9]+ +- +yes +native CPU'
expect_stdout_match '^(opencl:[0-9]+:[0-9]+ +opencl-|opencl: )'
expect_stdout_match '^auto picks: (cpu|opencl) \(isa [a-z0-9]+\), device .+'
run devices --json
expect_exit 0
expect_stdout_match '^\{"version": "[0-9.]+", "cpu_best_isa": "[a-z0-9]+", "opencl_status": ".*", "devices": \[\{"index": 0, "selector": "cpu", "kind": "native-cpu", .*\], "auto": \{"selector": "auto", "available": true.*\}\}$'
[ "$(wc -l <stdout.txt)" -eq 1 ] || fail "--json prints one line"
run devices --bogus
expect_exit 1
expect_stderr_match "unknown argument '--bogus'"

# No OpenCL platform at all (an empty ICD vendor directory): the CPU is
# listed, the reason is printed, auto still works, and an explicit opencl
# request is a device error (3) with that reason.
mkdir -p no-vendors
OCL_ICD_VENDORS=$PWD/no-vendors run devices
expect_exit 0
expect_stdout_match '^cpu +native-cpu'
expect_stdout_match '^opencl: no OpenCL platform'
expect_stdout_match '^auto picks: cpu'
OCL_ICD_VENDORS=$PWD/no-vendors run --version
expect_exit 0
expect_stdout_match '^devices: cpu \(native CPU .*\); opencl: no OpenCL platform'
"$VECSCORE" gen --count 10 --dim 4 -o v.fvecs || fail "gen"
OCL_ICD_VENDORS=$PWD/no-vendors run topk -q v.fvecs -b v.fvecs -k 2 --device opencl -o out.ivecs
expect_exit 3
expect_stderr_match "^vecscore topk: cannot use device 'opencl': .*no OpenCL platform.*\(VS_ERR_NO_DEVICE\)$"
expect_no_file out.ivecs
expect_no_temp
