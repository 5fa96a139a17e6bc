#!/usr/bin/env bash
# scripts/check_consumer.sh — vecscore as a subproject of another CMake
# project (tests/consumer), with the parent's CMAKE_BUILD_TYPE left empty:
#   1. add_subdirectory(), nothing asked: the parent's settings unchanged
#      (checked at configure time), only the library built (no vecscore
#      binary, no test of vecscore's registered, nothing of vecscore's
#      installed), and the example application builds and runs;
#   2. FetchContent from this source tree with -DVECSCORE_BUILD_CLI=ON: the
#      same checks, and the CLI is built and runs.
# Usage: scripts/check_consumer.sh [WORK_DIR]   (default build/consumer)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${1:-$ROOT/build/consumer}"
JOBS="$(nproc 2>/dev/null || echo 2)"
rm -rf "$WORK"
mkdir -p "$WORK"

fail() {
    echo "check_consumer: $*" >&2
    exit 1
}

consume() { # consume NAME VIA [CMAKE_ARGS...]
    local name=$1 via=$2
    shift 2
    local dir="$WORK/$name"
    cmake -S "$ROOT/tests/consumer" -B "$dir" -DCMAKE_BUILD_TYPE= -DVECSCORE_SOURCE_DIR="$ROOT" \
        -DVECSCORE_CONSUMER_VIA="$via" "$@" >"$dir.configure.log" 2>&1 ||
        { cat "$dir.configure.log" >&2; fail "$name: configure failed (log above)"; }
    grep -q "the parent's settings are unchanged" "$dir.configure.log" ||
        fail "$name: the configure-time checks did not run"
    cmake --build "$dir" -j "$JOBS" >"$dir.build.log" 2>&1 ||
        { tail -n 40 "$dir.build.log" >&2; fail "$name: build failed (log above)"; }
    # The parent's tests only: vecscore registers none under a parent.
    local tests
    tests=$(cd "$dir" && ctest -N | sed -n 's/^ *Test *#[0-9]*: //p')
    [ "$tests" = "consumer_app" ] || fail "$name: expected only the test consumer_app, found: $tests"
    (cd "$dir" && ctest --output-on-failure >/dev/null) || fail "$name: consumer_app failed"
    # Nothing of vecscore's is installed: only the parent's application.
    cmake --install "$dir" --prefix "$dir/prefix" >/dev/null
    local installed
    installed=$(cd "$dir/prefix" && find . -type f | sort)
    [ "$installed" = "./bin/consumer_app" ] ||
        fail "$name: install put more than bin/consumer_app in the prefix: $installed"
}

echo "consumer: add_subdirectory, empty CMAKE_BUILD_TYPE, nothing asked"
consume subdirectory add_subdirectory
[ ! -e "$WORK/subdirectory/vecscore/cli/vecscore" ] || fail "subdirectory: the CLI was built unasked"

echo "consumer: FetchContent from $ROOT, empty CMAKE_BUILD_TYPE, -DVECSCORE_BUILD_CLI=ON"
consume fetchcontent FetchContent -DVECSCORE_BUILD_CLI=ON
cli="$WORK/fetchcontent/_deps/vecscore-build/cli/vecscore"
[ -x "$cli" ] || fail "fetchcontent: VECSCORE_BUILD_CLI=ON but no $cli"
"$cli" --version >/dev/null || fail "fetchcontent: $cli --version failed"
echo "consumer: both ways keep the parent's settings and build only what was asked"
