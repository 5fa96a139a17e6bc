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

/* Prints "vecscore CMD: message" to stderr and returns code. */
int cli_fail(int code, const char *cmd, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Strict number parsing: the whole string, within [min, max]. 0 or -1. */
int cli_parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out);

/* Option scanning: returns the value of "--name VALUE" / "--name=VALUE" /
 * "-n VALUE" at argv[*i] (advancing *i), or NULL if argv[*i] is not that
 * option. *missing is set when the option is present without a value. */
const char *cli_option(int argc, char **argv, int *i, const char *long_name, const char *short_name,
                       int *missing);

/* "NAMES is given more than once; give it once" (names: "-q/--queries"):
 * returns EXIT_USAGE. Single-valued options may appear once. */
int cli_repeated(const char *cmd, const char *names);

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

/* Subcommands. */
int cli_devices(int argc, char **argv);
int cli_gen(int argc, char **argv);
int cli_topk(int argc, char **argv);
int cli_score(int argc, char **argv);
int cli_recall(int argc, char **argv);

#endif /* VS_CLI_H */
