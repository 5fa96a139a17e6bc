#!/usr/bin/env bash
# scripts/setup.sh — installs the Debian packages a task needs (only the
# missing ones), then configures and builds vecscore in build/.
#
#   setup.sh [demo]   the library and the vecscore command: a C compiler with
#                     OpenMP, CMake, the OpenCL loader and headers, and PoCL
#                     (the OpenCL device the demo lists). Used by demo.sh.
#   setup.sh test     also what the tests and CI checks need: cmocka,
#                     pkg-config, git, clang-format, clang-tidy (with clang's
#                     omp.h, libomp-dev), cppcheck, python3, Open MPI
#                     (libopenmpi-dev, openmpi-bin: vecscore-mpi and its
#                     mpirun tests, required with -DVECSCORE_MPI=ON so they
#                     never skip), SIMDe (libsimde-dev: the AVX-512 kernels
#                     tested on any x86 CPU, required with -DVECSCORE_SIMDE=ON);
#                     builds the tests.
#   setup.sh bench    also the benchmark's peers: g++ (the FAISS shim),
#                     OpenBLAS, FAISS, CLBlast and gnuplot; builds the bench.
#
# Groups combine (test.sh runs `setup.sh test bench`, as it runs a bench
# smoke test). A group turns on what it needs in build/ and never turns off
# what an earlier run turned on, so the demo after the tests keeps them.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

DEMO_PACKAGES=(build-essential cmake ocl-icd-opencl-dev opencl-headers pocl-opencl-icd)
TEST_PACKAGES=(libcmocka-dev pkg-config git clang-format clang-tidy libomp-dev cppcheck python3
               libopenmpi-dev openmpi-bin libsimde-dev)
BENCH_PACKAGES=(g++ pkg-config libopenblas-dev libfaiss-dev libclblast-dev gnuplot-nox)

groups=("$@")
[ "${#groups[@]}" -gt 0 ] || groups=(demo)
packages=("${DEMO_PACKAGES[@]}")
cmake_args=()
for group in "${groups[@]}"; do
    case "$group" in
    demo) ;;
    test)
        packages+=("${TEST_PACKAGES[@]}")
        cmake_args+=(-DVECSCORE_BUILD_TESTS=ON -DVECSCORE_MPI=ON -DVECSCORE_SIMDE=ON)
        ;;
    bench)
        packages+=("${BENCH_PACKAGES[@]}")
        cmake_args+=(-DVECSCORE_BUILD_BENCH=ON)
        ;;
    *)
        echo "setup: unknown group '$group' (expected demo, test or bench)" >&2
        exit 1
        ;;
    esac
done
# A first configure of build/ builds only what the groups ask for.
if [ ! -f "$ROOT/build/CMakeCache.txt" ]; then
    [[ " ${groups[*]} " == *" test "* ]] || cmake_args+=(-DVECSCORE_BUILD_TESTS=OFF)
    [[ " ${groups[*]} " == *" bench "* ]] || cmake_args+=(-DVECSCORE_BUILD_BENCH=OFF)
fi

missing=()
for pkg in $(printf '%s\n' "${packages[@]}" | sort -u); do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

JOBS="$(nproc 2>/dev/null || echo 2)"
cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=Release -DVECSCORE_WERROR=ON \
    ${cmake_args[@]+"${cmake_args[@]}"} >/dev/null
cmake --build "$ROOT/build" -j "$JOBS" >/dev/null
