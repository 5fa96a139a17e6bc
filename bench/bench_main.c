/*
 * bench_main.c — the stand-alone benchmark binary (build/bench/bench_core):
 * the same harness as `vecscore bench`. Options: bench_core --help.
 */
#include "bench.h"

int main(int argc, char **argv) {
    return vs_bench_main(argc, argv, NULL);
}
