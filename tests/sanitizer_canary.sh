#!/bin/sh
# sanitizer_canary.sh PROGRAM — passes only when PROGRAM, run under the
# sanitizer options of the suites, fails with a LeakSanitizer report whose
# stack names vs_context_create (tests/sanitizer_canary.c leaks a context).
log=$(mktemp) || exit 1
trap 'rm -f "$log"' EXIT
"$1" >"$log" 2>&1
status=$?
if [ "$status" -eq 0 ]; then
    cat "$log"
    echo "sanitizer_canary: the leaked context was not reported (exit 0)" >&2
    exit 1
fi
if ! grep -q 'ERROR: LeakSanitizer: detected memory leaks' "$log" ||
   ! grep -q 'vs_context_create' "$log"; then
    cat "$log"
    echo "sanitizer_canary: exit $status without a leak report naming vs_context_create" >&2
    exit 1
fi
if grep -q 'LeakSanitizer has encountered a fatal error' "$log"; then
    cat "$log"
    echo "sanitizer_canary: LeakSanitizer itself failed" >&2
    exit 1
fi
echo "sanitizer_canary: the leak was reported (exit $status), as it must be"
