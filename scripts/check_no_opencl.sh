#!/usr/bin/env bash
# scripts/check_no_opencl.sh — the build without OpenCL (-DVECSCORE_OPENCL=OFF):
# configures (no OpenCL package looked for), builds (no OpenCL header read by
# any object: the compiler's dependency files say so), runs every test this
# build registers (the non-OpenCL ones, plus the checks of the OFF build
# itself), and checks that the installed files do not link the OpenCL loader.
# Usage: scripts/check_no_opencl.sh [BUILD_DIR]   (default build-no-opencl)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$ROOT/build-no-opencl}"
JOBS="$(nproc 2>/dev/null || echo 2)"
mkdir -p "$BUILD"
fail() {
    echo "check_no_opencl: $*" >&2
    exit 1
}
cmake -S "$ROOT" -B "$BUILD" -G "Unix Makefiles" -DCMAKE_BUILD_TYPE=Release -DVECSCORE_WERROR=ON \
    -DVECSCORE_OPENCL=OFF >"$BUILD/configure.log" 2>&1 ||
    { cat "$BUILD/configure.log" >&2; fail "configure failed (log above)"; }
if grep -Eq '^OpenCL_(INCLUDE_DIR|LIBRARY)' "$BUILD/CMakeCache.txt"; then
    fail "the configure step looked for OpenCL (OpenCL_* in $BUILD/CMakeCache.txt)"
fi
cmake --build "$BUILD" -j "$JOBS" >"$BUILD/build.log" 2>&1 ||
    { tail -n 40 "$BUILD/build.log" >&2; fail "build failed (log above)"; }
depfiles=$(find "$BUILD" -name '*.o.d' | wc -l)
[ "$depfiles" -gt 0 ] || fail "no compiler dependency files (*.o.d) under $BUILD to check"
with_cl=$(find "$BUILD" -name '*.o.d' -exec grep -l '/CL/cl' {} + || true)
[ -z "$with_cl" ] || fail "objects that read OpenCL headers: $with_cl"
(cd "$BUILD" && ctest --output-on-failure -j "$JOBS")
"$ROOT/scripts/check_links.sh" "$BUILD" --no-opencl
