#!/usr/bin/env bash
# scripts/test-arm.sh — cross-builds vecscore for 64-bit ARM (AArch64) and
# runs every test suite of that build under qemu-aarch64 (user-mode
# emulation), twice:
#   1. with the best ISA (neon; the run fails unless dispatch finds it), and
#   2. again with VECSCORE_ISA=serial, all but the kernels and compact suites:
#      those test every ISA this CPU has by name (serial and neon) whatever
#      VECSCORE_ISA says, so pass 1 already ran their serial cases (a second
#      run took 155 + 300 s of the 313 s pass; of it only test_compact's
#      host-level cases on the default context ran on serial, and pass 1
#      runs them on neon, as native runs do on the best ISA only).
# The build is the library, the `vecscore` command and the test suites,
# with -Werror, through cmake/toolchain-aarch64.cmake, and without OpenCL
# (-DVECSCORE_OPENCL=OFF: no OpenCL device worth testing runs under qemu;
# the OpenCL backend is tested natively on PoCL).
#
# It installs what is missing first (Debian 12; idempotent, only the missing
# packages): the cross compiler, qemu-user, and, from Debian multiarch
# (dpkg --add-architecture arm64), the arm64 libraries the tests load:
# libc6, libgomp1 and cmocka. When anything cannot be installed or found it
# fails; it never skips.
#
# Emulation proves correctness, not speed: no timing is asserted or
# reported. To keep the run short under emulation, the suites get
# VECSCORE_TEST_SMALL=1 (smaller sizes, the same cases; see
# tests/test_kernels.c) and GOMP_SPINCOUNT (idle OpenMP threads sleep
# sooner instead of spinning through emulated instructions; the library's
# code paths do not depend on it).
#
#   scripts/test-arm.sh [BUILD_DIR]     default: build-aarch64
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$ROOT/build-aarch64}"
JOBS="$(nproc 2>/dev/null || echo 2)"
TRIPLET=aarch64-linux-gnu
START=$SECONDS
# The tests choose their own settings; none may leak in from the caller.
unset VECSCORE_DEVICE VECSCORE_THREADS VECSCORE_ARENA_BYTES VECSCORE_SCRATCH_BYTES \
      VECSCORE_ISA VECSCORE_CACHE_DIR VECSCORE_VERIFY VECSCORE_LOG_LEVEL \
      VECSCORE_TEST_SMALL VECSCORE_TEST_REQUIRE_ISA VECSCORE_TEST_EMULATED

fail() {
  echo "test-arm: $*" >&2
  exit 1
}

# ---- 0. what the cross build and the emulated runs need --------------------
HOST_PACKAGES=(cmake pkg-config "gcc-$TRIPLET" libc6-dev-arm64-cross qemu-user)
TARGET_PACKAGES=(libc6:arm64 libgomp1:arm64 libcmocka-dev:arm64)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "test-arm: adding the arm64 architecture to dpkg (Debian multiarch)" >&2
  $SUDO dpkg --add-architecture arm64
  NEED_UPDATE=1
fi
missing=()
for pkg in "${HOST_PACKAGES[@]}" "${TARGET_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ] || [ -n "${NEED_UPDATE:-}" ]; then
  echo "test-arm: installing ${missing[*]:-(package lists only)}" >&2
  $SUDO apt-get update -qq || fail "apt-get update failed"
  if [ "${#missing[@]}" -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null || fail "could not install ${missing[*]}"
  fi
fi
command -v "$TRIPLET-gcc" >/dev/null || fail "no cross compiler $TRIPLET-gcc"
command -v qemu-aarch64 >/dev/null || fail "no qemu-aarch64 (Debian package qemu-user)"
[ -e /lib/ld-linux-aarch64.so.1 ] || fail "no arm64 dynamic loader /lib/ld-linux-aarch64.so.1 (libc6:arm64)"
PKG_CONFIG_LIBDIR=/usr/lib/$TRIPLET/pkgconfig pkg-config --exists cmocka ||
  fail "pkg-config finds no arm64 cmocka in /usr/lib/$TRIPLET/pkgconfig (libcmocka-dev:arm64)"
# The emulator runs a target program at all (loader, libc, binfmt-free).
echo 'int main(void) { return 0; }' >"${TMPDIR:-/tmp}/vs-arm-probe.c"
"$TRIPLET-gcc" -o "${TMPDIR:-/tmp}/vs-arm-probe" "${TMPDIR:-/tmp}/vs-arm-probe.c" ||
  fail "the cross compiler cannot build a program"
qemu-aarch64 "${TMPDIR:-/tmp}/vs-arm-probe" || fail "qemu-aarch64 cannot run an arm64 program"
rm -f "${TMPDIR:-/tmp}/vs-arm-probe" "${TMPDIR:-/tmp}/vs-arm-probe.c"

# ---- 1. cross build ---------------------------------------------------------
echo "== arm 1/3 cross build for aarch64 in $BUILD (no OpenCL, -Werror)"
TOOLCHAIN="$ROOT/cmake/toolchain-aarch64.cmake"
# A build directory configured another way (native, another toolchain) starts afresh;
# the toolchain is read on the first configure only.
if [ -f "$BUILD/CMakeCache.txt" ] &&
   [ "$(sed -n 's/^CMAKE_TOOLCHAIN_FILE:[A-Z]*=//p' "$BUILD/CMakeCache.txt")" != "$TOOLCHAIN" ]; then
  echo "test-arm: $BUILD was not configured with $TOOLCHAIN: removing it" >&2
  rm -rf "$BUILD"
fi
toolchain_arg=()
[ -f "$BUILD/CMakeCache.txt" ] || toolchain_arg=(-DCMAKE_TOOLCHAIN_FILE="$TOOLCHAIN")
cmake -S "$ROOT" -B "$BUILD" "${toolchain_arg[@]}" \
  -DCMAKE_BUILD_TYPE=Release -DVECSCORE_OPENCL=OFF -DVECSCORE_WERROR=ON >/dev/null
cmake --build "$BUILD" -j "$JOBS" >/dev/null
file_info=$(od -An -tx1 -j18 -N2 "$BUILD/tests/test_kernels" | tr -d ' ')
[ "$file_info" = "b700" ] || fail "$BUILD/tests/test_kernels is not an AArch64 program (e_machine $file_info)"
echo "   built in $((SECONDS - START)) s; $(qemu-aarch64 "$BUILD/cli/vecscore" --version | sed -n 2p)"

# ---- 2, 3. every suite under qemu ------------------------------------------
export VECSCORE_TEST_SMALL=1 VECSCORE_TEST_EMULATED=1 GOMP_SPINCOUNT=10000
export VECSCORE_TEST_REQUIRE_ISA=neon # dispatch must find NEON: serial alone is a failure
step=$SECONDS
echo "== arm 2/3 ctest under qemu-aarch64, best ISA (neon)"
(cd "$BUILD" && ctest --output-on-failure --no-tests=error -j "$JOBS")
echo "   $((SECONDS - step)) s"
step=$SECONDS
echo "== arm 3/3 ctest under qemu-aarch64, VECSCORE_ISA=serial (kernels, compact: in 2/3)"
(cd "$BUILD" && VECSCORE_ISA=serial ctest --output-on-failure --no-tests=error -j "$JOBS" \
  -E '^(kernels|compact)$')
echo "   $((SECONDS - step)) s"
echo "test-arm: all aarch64 suites passed under qemu in $((SECONDS - START)) s"
