# The quick start's demo (scripts/demo.sh) succeeds with this build's vecscore
# and prints every section, under `set -euo pipefail`. It pipes nothing into a
# reader that stops early (that died of SIGPIPE in about one run of three;
# cli.stdout checks what vecscore does then).
ROOT="$(cd "$(dirname "$CASE")/../../.." && pwd)"
if grep -nE '^[^#]*\|[[:space:]]*head' "$ROOT/scripts/demo.sh"; then
    fail "scripts/demo.sh pipes into head"
fi
LAST_CMD="(scripts/demo.sh with DEMO_VECSCORE=$VECSCORE)"
DEMO_VECSCORE="$VECSCORE" DEMO_WORK="$PWD/demo" bash "$ROOT/scripts/demo.sh" >stdout.txt 2>stderr.txt
RC=$?
expect_exit 0
expect_stdout_match '^auto picks: (cpu|opencl)'
expect_stdout_match $'^query\trank\tid\tscore$'
[ "$(grep -cE $'^[0-9]+\t[0-2]\t[0-9]+\t' stdout.txt)" -eq 6 ] || fail "expected 6 result lines"
expect_stdout_match $'^cpu +cpu .* s  recall@10\t1\\.000000$'
expect_stdout_match $'^auto +(cpu|opencl) .* s  recall@10\t(1\\.000000|0\\.99[0-9]+)$'
if grep -q '"kind": "opencl-' demo/devices.json; then
    expect_stdout_match $'^opencl:[0-9]+:[0-9]+ +opencl .* s  recall@10\t(1\\.000000|0\\.99[0-9]+)$'
fi
# library warnings (a cache that cannot be written, say) may go to stderr; nothing else
grep -v '^vecscore: warning: ' stderr.txt >stderr.other
[ ! -s stderr.other ] || fail "unexpected stderr: $(head -n 3 stderr.other)"
