# --version: the version, the ISA this CPU runs, and the devices.
run --version
expect_exit 0
expect_stdout_match '^vecscore [0-9]+\.[0-9]+\.[0-9]+$'
expect_stdout_match '^isa: (serial|avx2|avx512|neon) \(supported: serial( [a-z0-9]+)*\)$'
expect_stdout_match '^devices: cpu( |$)'
expect_stderr_empty
