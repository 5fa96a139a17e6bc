#!/usr/bin/env bash
# scripts/test.sh — the quick start's "run all tests": the same set-up as
# demo.sh, the demo itself (a broken quick start fails here), then
#   1. the cmocka suites (ctest) on the -Werror release build,
#   2. the same suites on an AddressSanitizer + UBSan build,
#   3. the threads suite (worker pool, concurrent callers) on a
#      ThreadSanitizer build,
#   4. install, then the example built through find_package and through
#      pkg-config, each run (and examples/shard.c, the sharded merge check),
#   5. a quick benchmark run through `vecscore bench` (result checks only, no
#      speed asserts; the contention scenario included),
#   6. clang-format check of every C and C++ file;
# and the build checks: the build without OpenCL, vecscore as a subproject,
# include cycles, the options table, function lengths, clang-tidy + cppcheck,
# and what the installed vecscore links (scripts/check_*.sh,
# check_include_cycles.py, check_options.py, check_getenv.py, check_function_length.py,
# lint.py).
# Exits non-zero on the first failure.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JOBS="$(nproc 2>/dev/null || echo 2)"
export POCL_CACHE_DIR="${POCL_CACHE_DIR:-$(mktemp -d)}"
# The tests choose their own settings; none may leak in from the caller.
# Every row of the options table (host/options.h), and the test programs' device selector.
# shellcheck disable=SC2046
unset $(grep -o '"VECSCORE_[A-Z0-9_]*"' "$ROOT/host/options.h" | tr -d '"') VECSCORE_TEST_DEVICE

"$ROOT/scripts/setup.sh" test bench

echo "== quick start: scripts/demo.sh (the README's first command must work)"
unset DEMO_VECSCORE DEMO_WORK # the real demo: its own set-up and build/demo
"$ROOT/scripts/demo.sh"

echo "== 1/6 tests: release build (-Wall -Wextra -Werror)"
(cd "$ROOT/build" && ctest --output-on-failure -j "$JOBS")
# The whole OpenCL suite again with the GPU kernel family forced on PoCL's CPU
# device, so every GPU kernel is checked here too (docs/opencl.md).
echo "== 1/6 tests: the OpenCL suite with VECSCORE_CL_KERNELS=gpu"
(cd "$ROOT/build" && VECSCORE_CL_KERNELS=gpu ctest --output-on-failure -j "$JOBS" -R '^(opencl|compact_cl)$')

echo "== 2/6 tests: AddressSanitizer + UndefinedBehaviorSanitizer build"
cmake -S "$ROOT" -B "$ROOT/build-sanitize" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DVECSCORE_SANITIZE=ON -DVECSCORE_WERROR=ON -DVECSCORE_MPI=ON -DVECSCORE_SIMDE=ON >/dev/null
cmake --build "$ROOT/build-sanitize" -j "$JOBS" >/dev/null
# The sanitizer options (tests/CMakeLists.txt) include intercept_tls_get_addr=0,
# which keeps LeakSanitizer's tracer from crashing at exit on a misread dynamic
# TLS block of PoCL's; the sanitizer_canary case checks leaks are still found.
(cd "$ROOT/build-sanitize" && ctest --output-on-failure -j "$JOBS")

# ---- build checks (scripts/): each prints what it checked or what is wrong ----
echo "== build check: without OpenCL (-DVECSCORE_OPENCL=OFF): configure, build, tests, links"
"$ROOT/scripts/check_no_opencl.sh" "$ROOT/build-no-opencl"
echo "== build check: vecscore as a subproject (add_subdirectory, FetchContent)"
"$ROOT/scripts/check_consumer.sh" "$ROOT/build/consumer"
echo "== build check: no include cycle beyond scripts/include_cycles.allow"
python3 "$ROOT/scripts/check_include_cycles.py" --self-test
python3 "$ROOT/scripts/check_include_cycles.py"
echo "== build check: the README's options table matches host/options.h"
python3 "$ROOT/scripts/check_options.py" --self-test
python3 "$ROOT/scripts/check_options.py"
echo "== build check: the library reads the environment only through the options table"
python3 "$ROOT/scripts/check_getenv.py" --self-test
python3 "$ROOT/scripts/check_getenv.py"
echo "== build check: no function of the library, cli/, bench/ or mpi/ over 100 lines without a reason"
python3 "$ROOT/scripts/check_function_length.py" --self-test
python3 "$ROOT/scripts/check_function_length.py"
echo "== build check: clang-tidy and cppcheck (findings not in scripts/lint.suppress)"
python3 "$ROOT/scripts/lint.py" --build "$ROOT/build-lint"
# ---- end of build checks ----

echo "== 3/6 threads suite: ThreadSanitizer build"
cmake -S "$ROOT" -B "$ROOT/build-tsan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVECSCORE_TSAN=ON \
  -DVECSCORE_WERROR=ON -DVECSCORE_BUILD_BENCH=OFF >/dev/null
cmake --build "$ROOT/build-tsan" -j "$JOBS" --target test_threads >/dev/null
(cd "$ROOT/build-tsan" && ctest --output-on-failure -R '^threads$')

echo "== 4/6 install; example through find_package and through pkg-config"
PREFIX="$ROOT/build/prefix"
rm -rf "$PREFIX"
cmake --install "$ROOT/build" --prefix "$PREFIX" >/dev/null
cmake -S "$ROOT/examples" -B "$ROOT/build/example" -DCMAKE_PREFIX_PATH="$PREFIX" >/dev/null
cmake --build "$ROOT/build/example" >/dev/null
LD_LIBRARY_PATH="$PREFIX/lib" "$ROOT/build/example/quickstart" 2000 20 64
LD_LIBRARY_PATH="$PREFIX/lib" "$ROOT/build/example/shard" 5000 16 64 5
PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig" make -s -C "$ROOT/examples" OUT="$ROOT/build/quickstart-pkgconfig"
LD_LIBRARY_PATH="$PREFIX/lib" "$ROOT/build/quickstart-pkgconfig" 2000 20 64
# ---- ARM: cross build for AArch64, every suite under qemu-aarch64 (docs/isa.md) ----
echo "== arm: cross build for aarch64 (no OpenCL); the suites under qemu, NEON then serial"
"$ROOT/scripts/test-arm.sh" "$ROOT/build-aarch64"
# ---- end of ARM ----

echo "== 5/6 benchmark smoke run (checks results, asserts nothing about speed)"
# A vecscore row that disagrees with float64 exits 2. --quick times the compact
# storage rows on the best ISA, the first OpenCL device and auto at one shape
# (bench/paths.c; every ISA x storage x OpenCL family is checked against float64
# by the compact and compact_cl suites above): those rows must be there and,
# on the CPU paths, checked (ok, not skipped).
OMP_WAIT_POLICY=PASSIVE "$ROOT/build/cli/vecscore" bench --quick --reps 1 --out "$ROOT/build/bench-results"
python3 - "$ROOT/build/bench-results/results.csv" <<'PY'
import csv, re, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["scenario"] == "main"]
storage = [r for r in rows if re.search(r"-(f16|bf16|i8)(-approx)?$", r["path"])]
shapes = {(r["queries"], r["candidates"], r["dim"]) for r in storage}
paths = {r["path"] for r in storage}
cpu_unchecked = [r["path"] for r in storage if not r["path"].startswith("vs-opencl")
                 and r["status"] != "ok"]
if len(shapes) != 1 or len(paths) < 12 or cpu_unchecked or any(r["mode"] != "topk" for r in storage):
    sys.exit(f"bench smoke run: storage rows at shapes {sorted(shapes)}, paths {sorted(paths)}, "
             f"CPU rows not ok: {cpu_unchecked}")
print(f"bench smoke run: {len(rows)} rows; {len(storage)} storage rows on {len(paths)} paths at "
      f"{'x'.join(next(iter(shapes)))}")
PY

echo "== 6/6 clang-format"
cd "$ROOT"
# Every C and C++ source (bench/peers_faiss.cpp), by the repo's .clang-format.
unformatted=$(git ls-files '*.c' '*.h' '*.cpp' | xargs clang-format --dry-run 2>&1 | grep -c warning || true)
if [ "$unformatted" != "0" ]; then
  git ls-files '*.c' '*.h' '*.cpp' | xargs clang-format --dry-run 2>&1 | head -20
  echo "clang-format: $unformatted lines need formatting (run clang-format -i)" >&2
  exit 1
fi
# ---- build check (scripts/check_links.sh) ----
echo "== build check: the installed vecscore links only libvecscore, libm, OpenMP, pthreads, OpenCL"
"$ROOT/scripts/check_links.sh" "$ROOT/build"
# ---- end of build check ----
echo "all checks passed"
