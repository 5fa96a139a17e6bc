# --help for the command and every subcommand; usage errors for no command
# and an unknown command. (`vecscore bench` is checked in bench.sh, which
# needs a build with the benchmark.)
run --help
expect_exit 0
expect_stdout_match '^usage: vecscore <command> \[options\]$'
expect_stdout_match '^Exit codes: 0 success, 1 usage error, 2 bad input file, 3 device error,$'
expect_stdout_match '^ +4 output error'
for sub in devices gen topk score recall; do
    run "$sub" --help
    expect_exit 0
    expect_stdout_match "^usage: vecscore $sub"
    expect_stdout_match '^Exit codes: 0 success'
    expect_stderr_empty
done
run
expect_exit 1
expect_stderr_match '^usage: vecscore <command>'
run frobnicate
expect_exit 1
expect_stderr_match "unknown command 'frobnicate'"
