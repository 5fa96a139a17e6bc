#!/usr/bin/env bash
# scripts/check_links.sh — what the installed `vecscore` command and
# libvecscore.so load: the C runtime (libc, the dynamic loader), libm,
# OpenMP (libgomp or libomp), pthreads, the OpenCL loader and libvecscore
# itself, nothing else (no BLAS, CLBlast, FAISS or C++ runtime: those are
# the benchmark's, in vecscore-bench). Installs BUILD_DIR into a scratch
# prefix and reads each file's NEEDED entries (readelf -d).
# Usage: scripts/check_links.sh BUILD_DIR [--no-opencl]
#   --no-opencl   a build with -DVECSCORE_OPENCL=OFF: the OpenCL loader is
#                 not allowed either.
set -euo pipefail
BUILD="${1:?usage: check_links.sh BUILD_DIR [--no-opencl]}"
ALLOWED='libc|libm|libgomp|libomp|libpthread|libOpenCL|libvecscore|ld-linux-[a-z0-9_-]+'
WHAT="the C runtime, libm, OpenMP, pthreads, the OpenCL loader and libvecscore"
if [ "${2:-}" = "--no-opencl" ]; then
    ALLOWED='libc|libm|libgomp|libomp|libpthread|libvecscore|ld-linux-[a-z0-9_-]+'
    WHAT="the C runtime, libm, OpenMP, pthreads and libvecscore (no OpenCL loader)"
elif [ -n "${2:-}" ]; then
    echo "check_links: unknown option '$2' (expected --no-opencl)" >&2
    exit 2
fi
PREFIX="$BUILD/link-check-prefix"
rm -rf "$PREFIX"
cmake --install "$BUILD" --prefix "$PREFIX" >/dev/null
status=0
checked=0
for file in "$PREFIX/bin/vecscore" "$PREFIX"/lib*/libvecscore.so.*.*; do
    if [ ! -f "$file" ]; then
        echo "check_links: ${file#"$PREFIX"/} is not installed" >&2
        status=1
        continue
    fi
    needed=$(readelf -d "$file" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
    bad=$(printf '%s\n' "$needed" | grep -Ev "^($ALLOWED)\.so(\.[0-9]+)*$" || true)
    if [ -n "$bad" ]; then
        echo "check_links: ${file#"$PREFIX"/} links what it must not:" $bad >&2
        status=1
    fi
    checked=$((checked + 1))
done
rm -rf "$PREFIX"
[ "$status" -eq 0 ] && echo "check_links: $checked installed files link only $WHAT"
exit "$status"
