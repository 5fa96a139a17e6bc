/*
 * cli.h — what the `vecscore` subcommands share. Built only on the public
 * headers (vecscore.h, vecscore_io.h).
 */
#ifndef VS_CLI_H
#define VS_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vecscore.h"
#include "vecscore_io.h"

/* Exit codes, documented in `vecscore --help` and docs/cli.md. */
enum {
    EXIT_OK = 0,
    EXIT_USAGE = 1,  /* bad command line (also: a subcommand not available yet) */
    EXIT_INPUT = 2,  /* an input file is missing, unreadable or malformed */
    EXIT_DEVICE = 3, /* no such device, or the device/library failed */
    EXIT_OUTPUT = 4  /* an output file could not be written */
};

/* Prints "vecscore CMD: message" to stderr and returns code. While a
 * capture is on (cli_fail_capture), the message is kept instead, the first
 * one of the run: a driver of several processes (mpi/) prints one process's
 * message once, after the processes agreed on the outcome. */
int cli_fail(int code, const char *cmd, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void cli_fail_capture(int on);
/* The first message kept since capture began ("" if none), as it would
 * have been printed, without the newline. */
const char *cli_fail_captured(void);

/* What the usage texts of every subcommand end with. */
extern const char cli_exit_codes_help[];

/* Strict number parsing: the whole string, within [min, max]. 0 or -1. */
int cli_parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out);

/* ---- options: one table for every subcommand (options.c) ----------------------------------
 *
 * Each row of the table says an option's name and short form, what kind of
 * value it takes (and its range), which subcommands accept it, which list
 * it in their --help, and its help text. cli_options_parse and
 * cli_options_help both read it, so parsing and help cannot disagree. An
 * option may have several rows (-o: its help differs by subcommand; -t is
 * --threads in topk/score but --truth in recall); rows of one id store
 * into the same slot. */
enum {
    CLI_CMD_DEVICES = 1u << 0,
    CLI_CMD_GEN = 1u << 1,
    CLI_CMD_TOPK = 1u << 2,
    CLI_CMD_SCORE = 1u << 3,
    CLI_CMD_RECALL = 1u << 4,
    CLI_CMD_SEARCH = CLI_CMD_TOPK | CLI_CMD_SCORE
};

typedef enum cli_option_id {
    CLI_OPT_QUERIES,
    CLI_OPT_BASE,
    CLI_OPT_K,
    CLI_OPT_METRIC,
    CLI_OPT_DEVICE,
    CLI_OPT_OUTPUT,
    CLI_OPT_SCORES,
    CLI_OPT_BATCH,
    CLI_OPT_CHUNK,
    CLI_OPT_THREADS,
    CLI_OPT_REPORT,
    CLI_OPT_QUIET,
    CLI_OPT_REJECT_NONFINITE,
    CLI_OPT_STORAGE,
    CLI_OPT_APPROX,
    CLI_OPT_COUNT,
    CLI_OPT_DIM,
    CLI_OPT_SEED,
    CLI_OPT_DISTRIBUTION,
    CLI_OPT_NORMALIZE,
    CLI_OPT_RESULT,
    CLI_OPT_TRUTH,
    CLI_OPT_JSON,
    CLI_OPT_IDS /* how many ids there are */
} cli_option_id;

/* What cli_options_parse found: for each id, whether it was given, its
 * text, and its number (CLI_ARG_U64: the value; CLI_ARG_METRIC: the
 * vs_metric). */
typedef struct cli_values {
    int given[CLI_OPT_IDS];
    const char *text[CLI_OPT_IDS];
    uint64_t number[CLI_OPT_IDS];
} cli_values;

/* Parses argv[0..argc) for the subcommand command (one CLI_CMD_* bit; cmd
 * is its name for messages). --help/-h prints help(stdout) and returns
 * EXIT_OK; an unknown argument, a missing or bad value, or a single-valued
 * option given twice prints the error and returns EXIT_USAGE; else -1. The
 * order of checks is the order of argv. */
int cli_options_parse(unsigned command, const char *cmd, int argc, char **argv,
                      void (*help)(FILE *), cli_values *values);

/* Prints the help lines of the options that command's --help lists, in
 * table order, with the labels padded to width columns. */
void cli_options_help(FILE *out, unsigned command, int width);

/* A subcommand's --help: usage (its synopsis and description), the options
 * of command (cli_options_help, labels padded to width), after ("" for
 * none), then a blank line and the exit codes. */
void cli_help(FILE *out, const char *usage, unsigned command, int width, const char *after);

/* With names[i] present[i] for n required options: -1 when all are there,
 * else a usage error naming only the missing ones ("-k and -o are required"). */
int cli_require(const char *cmd, int n, const char *const *names, const int *present);

/* Opens an input for reading; path "-" reads standard input whole into
 * memory (the content decides the format, and with ids set the .fvecs/.fbin
 * layouts are read as the .ivecs/.ibin ones; *owned must then outlive the
 * reader). On failure prints and returns EXIT_INPUT, else EXIT_OK. */
int cli_open_input(const char *cmd, const char *path, unsigned flags, int ids, vs_reader **out,
                   unsigned char **owned);
void cli_close_input(vs_reader *reader, unsigned char *owned);
#define CLI_STDIN_NAME "<stdin>"

/* Testing hook, called after each chunk of BASE is read: with
 * VECSCORE_TEST_STOP_AFTER_CHUNK=N the process stops itself (SIGSTOP) after
 * its Nth chunk read, so a test can change the file at a known point and
 * continue it (SIGCONT). Unset: nothing. */
void cli_test_chunk_read(void);

/* Signals: SIGINT, SIGTERM, SIGHUP, SIGQUIT and SIGPIPE remove every
 * registered temporary file and end the process by that signal (an inherited
 * ignored SIGPIPE stays ignored); SIGXFSZ is ignored, so a write past
 * `ulimit -f` fails and is reported. hold/release defer those signals over a
 * short critical section (see main.c). The clean-up list keeps copies of the
 * paths; NULL is ignored. */
void cli_signals_install(void);
void cli_signals_hold(void);
void cli_signals_release(void);
void cli_temp_register(const char *path);
void cli_temp_unregister(const char *path);

/* Outputs, with their temporary files on the clean-up list for their whole
 * life. open/finish/commit print the failure and return EXIT_OUTPUT, or
 * return EXIT_OK. cli_writer_open also declares the row count, so that every
 * format can go to a FIFO or device. cli_commit finishes every file (flush,
 * fsync), then renames the set with signals held; it consumes the files,
 * success or not. */
int cli_output_open(const char *cmd, const char *path, vs_outfile **out);
int cli_writer_open(const char *cmd, const char *path, vs_file_format format, vs_dtype dtype,
                    uint64_t dim, uint64_t rows, vs_writer **out);
int cli_writer_finish(const char *cmd, vs_writer *w, vs_outfile **file);
int cli_commit(const char *cmd, vs_outfile **files, size_t count);
void cli_output_abort(vs_outfile *f);
void cli_writer_abort(vs_writer *w);

/* main's last step: stdout is flushed and checked; a failed write turns a
 * successful exit into EXIT_OUTPUT, with one message. Returns the code. */
int cli_finish_stdout(int code);

/* Reports a failed write to stdout once ("writing to stdout failed: ..."),
 * from errno; returns EXIT_OUTPUT. main checks stdout again at the end. */
int cli_stdout_failed(const char *cmd);

/* Library log messages: warnings go to stderr (unless quiet); the last
 * error is kept for the failure message. */
typedef struct cli_log {
    int quiet;
    char last[512];
} cli_log;
void cli_log_callback(void *user, vs_log_level level, const char *message);

/* Creates a context from --device/--threads; on failure prints and returns
 * the exit code (EXIT_USAGE for a malformed selector, EXIT_DEVICE else). */
int cli_context(const char *cmd, const char *device, int threads, cli_log *log, vs_context **out);

/* Progress bar on stderr, only when stderr is a terminal and not quiet, and
 * only after the first second. */
typedef struct cli_progress {
    int enabled;
    double start;
    double last_draw;
    int drawn;
    const char *unit;
} cli_progress;
void cli_progress_start(cli_progress *p, int quiet, const char *unit);
void cli_progress_update(cli_progress *p, uint64_t done, uint64_t total);
void cli_progress_finish(cli_progress *p);

/* Checked 64-bit product: 1 and *out, or 0 on overflow. */
static inline int cli_mul(uint64_t a, uint64_t b, uint64_t *out) {
    if (a != 0 && b > UINT64_MAX / a) return 0;
    *out = a * b;
    return 1;
}

double cli_now(void);
uint64_t cli_peak_rss_bytes(void);

/* Subcommands, each in a file of its name; argv[0] is the first argument
 * after the subcommand. cli_bench returns only on failure (it runs
 * vecscore-bench). */
int cli_version(void);
int cli_bench(int argc, char **argv);
int cli_devices(int argc, char **argv);
int cli_gen(int argc, char **argv);
int cli_topk(int argc, char **argv);
int cli_score(int argc, char **argv);
int cli_recall(int argc, char **argv);

#endif /* VS_CLI_H */
