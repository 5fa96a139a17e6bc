# devices: every selector probed, what auto picks; --json is one object.
run devices
expect_exit 0
expect_stdout_match '^cpu +available +backend=cpu isa=[a-z0-9]+ threads=[0-9]+ device=.+'
expect_stdout_match '^opencl +(available|unavailable)'
expect_stdout_match '^auto +picks +backend=(cpu|opencl)'
run devices --json
expect_exit 0
expect_stdout_match '^\{"version": "[0-9.]+", "cpu_best_isa": "[a-z0-9]+", "devices": \[\{"selector": "cpu", "available": true, "backend": "cpu", .*\], "auto": \{"selector": "auto", "available": true.*\}\}$'
[ "$(wc -l <stdout.txt)" -eq 1 ] || fail "--json prints one line"
run devices --bogus
expect_exit 1
expect_stderr_match "unknown argument '--bogus'"
