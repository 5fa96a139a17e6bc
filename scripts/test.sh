#!/usr/bin/env bash
# scripts/test.sh — the quick start's "run all tests": the same set-up as
# demo.sh, then
#   1. the cmocka suites (ctest) on the -Werror release build,
#   2. the same suites on an AddressSanitizer + UBSan build,
#   3. install, then the example built through find_package and through
#      pkg-config, each run,
#   4. a quick benchmark run (result checks only, no speed asserts),
#   5. clang-format check of every C file.
# Exits non-zero on the first failure.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JOBS="$(nproc 2>/dev/null || echo 2)"
export POCL_CACHE_DIR="${POCL_CACHE_DIR:-$(mktemp -d)}"
# The tests choose their own settings; none may leak in from the caller.
unset VECSCORE_DEVICE VECSCORE_THREADS VECSCORE_ARENA_BYTES VECSCORE_SCRATCH_BYTES \
      VECSCORE_ISA VECSCORE_CACHE_DIR VECSCORE_VERIFY VECSCORE_LOG_LEVEL

"$ROOT/scripts/setup.sh"

echo "== 1/5 tests: release build (-Wall -Wextra -Werror)"
(cd "$ROOT/build" && ctest --output-on-failure -j "$JOBS")

echo "== 2/5 tests: AddressSanitizer + UndefinedBehaviorSanitizer build"
cmake -S "$ROOT" -B "$ROOT/build-sanitize" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DVECSCORE_SANITIZE=ON -DVECSCORE_WERROR=ON >/dev/null
cmake --build "$ROOT/build-sanitize" -j "$JOBS" >/dev/null
(cd "$ROOT/build-sanitize" && ctest --output-on-failure -j "$JOBS")

echo "== 3/5 install; example through find_package and through pkg-config"
PREFIX="$ROOT/build/prefix"
rm -rf "$PREFIX"
cmake --install "$ROOT/build" --prefix "$PREFIX" >/dev/null
cmake -S "$ROOT/examples" -B "$ROOT/build/example" -DCMAKE_PREFIX_PATH="$PREFIX" >/dev/null
cmake --build "$ROOT/build/example" >/dev/null
LD_LIBRARY_PATH="$PREFIX/lib" "$ROOT/build/example/quickstart" 2000 20 64
PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig" make -s -C "$ROOT/examples" OUT="$ROOT/build/quickstart-pkgconfig"
LD_LIBRARY_PATH="$PREFIX/lib" "$ROOT/build/quickstart-pkgconfig" 2000 20 64
# ---- ARM: cross build for AArch64, every suite under qemu-aarch64 (docs/isa.md) ----
echo "== arm: cross build for aarch64 (no OpenCL); the suites under qemu, NEON then serial"
"$ROOT/scripts/test-arm.sh" "$ROOT/build-aarch64"
# ---- end of ARM ----

echo "== 4/5 benchmark smoke run (checks results, asserts nothing about speed)"
OMP_WAIT_POLICY=PASSIVE "$ROOT/build/bench/bench_core" --quick --reps 1 --out "$ROOT/build/bench-results"

echo "== 5/5 clang-format"
cd "$ROOT"
unformatted=$(git ls-files '*.c' '*.h' | xargs clang-format --dry-run 2>&1 | grep -c warning || true)
if [ "$unformatted" != "0" ]; then
  git ls-files '*.c' '*.h' | xargs clang-format --dry-run 2>&1 | head -20
  echo "clang-format: $unformatted lines need formatting (run clang-format -i)" >&2
  exit 1
fi
echo "all checks passed"
