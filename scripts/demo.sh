#!/usr/bin/env bash
# scripts/demo.sh — the quick start's "run the main job": installs what is
# missing, builds vecscore, installs it into build/prefix, builds the example
# application against the installed package (find_package) and runs it on
# generated vectors: top-10 cosine over 20,000 x 128 for 100 queries on the
# best ISA, then on the serial reference kernels for comparison.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
cmake --install "$ROOT/build" --prefix "$ROOT/build/prefix" >/dev/null
cmake -S "$ROOT/examples" -B "$ROOT/build/example" -DCMAKE_PREFIX_PATH="$ROOT/build/prefix" >/dev/null
cmake --build "$ROOT/build/example" >/dev/null
LD_LIBRARY_PATH="$ROOT/build/prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
  "$ROOT/build/example/quickstart" "$@"
