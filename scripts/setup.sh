#!/usr/bin/env bash
# scripts/setup.sh — installs the Debian packages vecscore needs (only the
# missing ones) and configures + builds the library in build/.
# Sourced by demo.sh and test.sh; safe to run on its own.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

PACKAGES=(build-essential g++ cmake pkg-config git libcmocka-dev clang-format libopenblas-dev
          libfaiss-dev libclblast-dev gnuplot-nox
          ocl-icd-opencl-dev opencl-headers pocl-opencl-icd clinfo)

missing=()
for pkg in "${PACKAGES[@]}"; do
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
cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=Release -DVECSCORE_WERROR=ON >/dev/null
cmake --build "$ROOT/build" -j "$JOBS" >/dev/null
