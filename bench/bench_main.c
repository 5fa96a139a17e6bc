/*
 * bench_main.c — the benchmark program, vecscore-bench (docs/benchmarks.md).
 * `vecscore bench ...` runs this program with the same arguments. It is a
 * program of its own so that the vecscore command links only the library,
 * not the peers (OpenBLAS, FAISS and its C++ runtime, CLBlast).
 * Options: vecscore-bench --help.
 */
#include "bench.h"

int main(int argc, char **argv) {
    return vs_bench_main(argc, argv);
}
