/*
 * main.c — the `vecscore` command: which subcommand runs (each has a file
 * of its own: devices.c, gen.c, topk.c, score.c, recall.c, bench.c), and
 * the overall help.
 */
#include "cli.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <string.h>

static void main_help(FILE *out) {
    fprintf(out,
            "usage: vecscore <command> [options]\n"
            "\n"
            "Batched vector scoring (dot, cosine, squared L2) over vector files.\n"
            "\n"
            "Commands:\n"
            "  devices [--json]        what can run, and what auto picks\n"
            "  gen                     generate random vectors into a file\n"
            "  topk                    best k base vectors per query (streams BASE)\n"
            "  score                   full query x base score matrix\n"
            "  recall                  recall of a top-k result against ground truth\n"
            "  bench                   device and peer benchmark (docs/benchmarks.md)\n"
            "\n"
            "Options: --help (also after a command, or as: help COMMAND), --version\n"
            "Files: .fvecs .bvecs .ivecs .fbin .u8bin .ibin .npy (see docs/formats.md)\n"
            "\n%s",
            cli_exit_codes_help);
}

/* ---- dispatch ------------------------------------------------------------------------------ */

static int run_command(int argc, char **argv) {
    /* `vecscore help CMD` is `vecscore CMD --help`; an unknown CMD is refused as a command. */
    static char help_flag[] = "--help";
    char *as_help[4] = {NULL, NULL, help_flag, NULL};
    if (argc >= 3 && strcmp(argv[1], "help") == 0) {
        if (argc > 3)
            return cli_fail(EXIT_USAGE, "help",
                            "unexpected argument '%s'; usage: vecscore help [COMMAND]", argv[3]);
        if (strcmp(argv[2], "help") != 0) {
            as_help[0] = argv[0];
            as_help[1] = argv[2];
            argv = as_help;
        }
    }
    /* Before the malloc tuning below: the benchmark's allocation figures are
     * for glibc's defaults, as an application gets them. */
    if (argc >= 2 && strcmp(argv[1], "bench") == 0) return cli_bench(argc - 1, argv + 1);
#ifdef __GLIBC__
    /* Chunk buffers and corpora are large and short-lived: keep them in
     * their own mappings so that freeing one returns it to the system.
     * glibc's default raises the threshold after the first such free, and
     * freed chunks then stay resident in the heap (measured: 2.5x the
     * documented memory bound with 25 MB chunks). */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
    cli_signals_install();
    if (argc < 2) {
        main_help(stderr);
        return EXIT_USAGE;
    }
    const char *command = argv[1];
    if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0 ||
        strcmp(command, "help") == 0) {
        main_help(stdout);
        return EXIT_OK;
    }
    if (strcmp(command, "--version") == 0 || strcmp(command, "-V") == 0) return cli_version();
    if (strcmp(command, "devices") == 0) return cli_devices(argc - 2, argv + 2);
    if (strcmp(command, "gen") == 0) return cli_gen(argc - 2, argv + 2);
    if (strcmp(command, "topk") == 0) return cli_topk(argc - 2, argv + 2);
    if (strcmp(command, "score") == 0) return cli_score(argc - 2, argv + 2);
    if (strcmp(command, "recall") == 0) return cli_recall(argc - 2, argv + 2);
    fprintf(stderr, "vecscore: unknown command '%s'\n\n", command);
    main_help(stderr);
    return EXIT_USAGE;
}

int main(int argc, char **argv) {
    return cli_finish_stdout(run_command(argc, argv));
}
