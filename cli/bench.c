/*
 * bench.c — `vecscore bench`: runs the benchmark program vecscore-bench.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* `vecscore bench [options]` runs the benchmark program vecscore-bench
 * (bench/, docs/benchmarks.md) with the same options: the one next to this
 * binary, else the first on PATH. It is a program of its own so that this
 * command links only the library. argv[0] here is "bench"; the benchmark
 * gets "vecscore bench" as its name for messages. Returns only on failure. */
int cli_bench(int argc, char **argv) {
    static char name[] = "vecscore bench";
    char self[4096] = "", next_to[4200] = "";
    ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    self[len > 0 ? len : 0] = '\0';
    char *slash = strrchr(self, '/');
    if (slash) {
        *slash = '\0'; /* self is now this binary's directory */
        snprintf(next_to, sizeof(next_to), "%s/vecscore-bench", self);
    }
    argv[0] = name;
    fflush(NULL);
    if (next_to[0] && access(next_to, X_OK) == 0) {
        execv(next_to, argv);
        return cli_fail(EXIT_USAGE, "bench", "cannot run %s: %s", next_to, strerror(errno));
    }
    execvp("vecscore-bench", argv);
    if (errno != ENOENT)
        return cli_fail(EXIT_USAGE, "bench", "cannot run vecscore-bench from PATH: %s",
                        strerror(errno));
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: vecscore bench [options]\n\nThe benchmark program vecscore-bench is "
                   "not installed next to vecscore or on PATH\n(configure with "
                   "-DVECSCORE_BUILD_BENCH=ON). It exits with code 1.\n");
            return EXIT_OK;
        }
    }
    return cli_fail(EXIT_USAGE, "bench",
                    "the benchmark program vecscore-bench is not in %s nor on PATH (configure "
                    "with -DVECSCORE_BUILD_BENCH=ON; it is built and installed next to vecscore)",
                    self[0] ? self : "this command's directory");
}
