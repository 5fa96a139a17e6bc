/*
 * output.c — outputs that appear whole or not at all: signals and the list
 * of temporary files to remove, opening, finishing and committing outputs,
 * and the stdout checks.
 */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- signals and temporary files ----------------------------------------------------------
 *
 * The clean-up list holds copies of the temporary paths (a signal handler
 * must not follow pointers into memory that the main thread may free).
 * Slots are appended and never reused, so a handler never reads a slot that
 * is being written: a slot's path is complete before its flag is set, and
 * the flag is cleared before the slot is forgotten. One run registers a few
 * outputs; CLI_MAX_TEMPS is far above that.
 *
 * cli_signals_hold defers SIGINT/SIGTERM/SIGHUP/SIGQUIT/SIGPIPE: a handler
 * (on any thread) only records the signal, and cli_signals_release then acts
 * on it. The CLI holds them while a temporary file is created and registered,
 * and while a set of outputs is renamed, so a signal then ends the run after
 * the set is complete, never half-way through it. */

#define CLI_MAX_TEMPS 16
static char temp_paths[CLI_MAX_TEMPS][PATH_MAX];
static atomic_int temp_live[CLI_MAX_TEMPS];
static atomic_int temp_count;
static atomic_int signals_held;
static atomic_int signal_pending;

static void remove_temps(void) {
    int count = atomic_load(&temp_count);
    for (int i = 0; i < count && i < CLI_MAX_TEMPS; i++)
        if (atomic_load(&temp_live[i])) unlink(temp_paths[i]); /* async-signal-safe */
}

static void die_by(int sig) {
    remove_temps();
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = SIG_DFL;
    sigemptyset(&action.sa_mask);
    sigaction(sig, &action, NULL);
    raise(sig); /* delivered when the handler returns (or now, outside one) */
}

static void on_signal(int sig) {
    atomic_store(&signal_pending, sig);
    if (atomic_load(&signals_held)) return;
    die_by(sig);
}

void cli_signals_install(void) {
    static const int catch[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE};
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < sizeof(catch) / sizeof(catch[0]); i++) {
        struct sigaction old;
        /* An inherited "ignore SIGPIPE" stays: writes to a closed pipe then fail
         * with EPIPE and are reported (exit 4) instead of killing the run. */
        if (catch[i] == SIGPIPE && sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_IGN)
            continue;
        sigaction(catch[i], &action, NULL);
    }
    /* A write past RLIMIT_FSIZE (ulimit -f) then fails with EFBIG and is
     * reported like a full disk, instead of killing the run with its
     * temporary file in place. */
    action.sa_handler = SIG_IGN;
    sigaction(SIGXFSZ, &action, NULL);
}

void cli_signals_hold(void) {
    atomic_store(&signals_held, 1);
    /* A handler that saw signals not held yet is ending the process and may
     * have cleaned up already: end it here too, before anything is created. */
    int sig = atomic_load(&signal_pending);
    if (sig != 0) die_by(sig);
}

void cli_signals_release(void) {
    atomic_store(&signals_held, 0);
    int sig = atomic_load(&signal_pending);
    if (sig != 0) die_by(sig);
}

void cli_temp_register(const char *path) {
    if (path == NULL || strlen(path) >= PATH_MAX) return;
    int slot = atomic_load(&temp_count);
    if (slot >= CLI_MAX_TEMPS) return;
    memcpy(temp_paths[slot], path, strlen(path) + 1);
    atomic_store(&temp_live[slot], 1);
    atomic_store(&temp_count, slot + 1);
}

void cli_temp_unregister(const char *path) {
    if (path == NULL) return;
    int count = atomic_load(&temp_count);
    for (int i = 0; i < count && i < CLI_MAX_TEMPS; i++)
        if (atomic_load(&temp_live[i]) && strcmp(temp_paths[i], path) == 0)
            atomic_store(&temp_live[i], 0);
}

/* Testing knob: VECSCORE_CLI_TEST_PAUSE=flushed|rename stops the commit for
 * up to 30 s at that point (after every output is flushed and synced; inside
 * the held rename phase), after printing "vecscore: test pause: PHASE" to
 * stderr, so that a test can deliver a signal exactly there. */
static void test_pause(const char *phase) {
    const char *knob = getenv("VECSCORE_CLI_TEST_PAUSE");
    if (knob == NULL || strcmp(knob, phase) != 0) return;
    fprintf(stderr, "vecscore: test pause: %s\n", phase);
    fflush(stderr);
    struct timespec step = {0, 10 * 1000 * 1000};
    for (int i = 0; i < 3000 && atomic_load(&signal_pending) == 0; i++)
        nanosleep(&step, NULL);
}

int cli_output_open(const char *cmd, const char *path, vs_outfile **out) {
    char err[VS_IO_ERROR_SIZE];
    /* Held so that no signal falls between creating the temporary file and
     * registering it; not for a FIFO, whose open may wait for a reader. */
    int hold = !vs_outfile_writes_through(path);
    if (hold) cli_signals_hold();
    int rc = vs_outfile_open(path, out, err, sizeof(err));
    if (rc == 0) cli_temp_register(vs_outfile_temp_path(*out));
    if (hold) cli_signals_release();
    return rc == 0 ? EXIT_OK : cli_fail(EXIT_OUTPUT, cmd, "%s", err);
}

int cli_writer_open(const char *cmd, const char *path, vs_file_format format, vs_dtype dtype,
                    uint64_t dim, uint64_t rows, vs_writer **out) {
    char err[VS_IO_ERROR_SIZE];
    int hold = !vs_outfile_writes_through(path);
    if (hold) cli_signals_hold();
    int rc = vs_writer_open(path, format, dtype, dim, out, err, sizeof(err));
    if (rc == 0) cli_temp_register(vs_writer_temp_path(*out));
    if (hold) cli_signals_release();
    if (rc != 0) return cli_fail(EXIT_OUTPUT, cmd, "%s", err);
    if (vs_writer_expect_rows(*out, rows) != 0) {
        cli_fail(EXIT_OUTPUT, cmd, "%s", vs_writer_error(*out));
        cli_writer_abort(*out);
        *out = NULL;
        return EXIT_OUTPUT;
    }
    return EXIT_OK;
}

void cli_output_abort(vs_outfile *f) {
    if (f == NULL) return;
    char temp[PATH_MAX] = "";
    const char *path = vs_outfile_temp_path(f);
    if (path != NULL) snprintf(temp, sizeof(temp), "%s", path);
    vs_outfile_abort(f); /* removed first, then forgotten: never a moment without either */
    cli_temp_unregister(temp);
}

void cli_writer_abort(vs_writer *w) {
    if (w == NULL) return;
    char temp[PATH_MAX] = "";
    const char *path = vs_writer_temp_path(w);
    if (path != NULL) snprintf(temp, sizeof(temp), "%s", path);
    vs_writer_abort(w);
    cli_temp_unregister(temp);
}

int cli_writer_finish(const char *cmd, vs_writer *w, vs_outfile **file) {
    char err[VS_IO_ERROR_SIZE], temp[PATH_MAX] = "";
    const char *path = vs_writer_temp_path(w);
    if (path != NULL) snprintf(temp, sizeof(temp), "%s", path);
    if (vs_writer_finish(w, file, err, sizeof(err)) == 0) return EXIT_OK;
    cli_temp_unregister(temp); /* vs_writer_finish removed it */
    return cli_fail(EXIT_OUTPUT, cmd, "%s", err);
}

int cli_commit(const char *cmd, vs_outfile **files, size_t count) {
    char err[VS_IO_ERROR_SIZE];
    char temps[CLI_MAX_TEMPS][PATH_MAX];
    int failed = count > CLI_MAX_TEMPS;
    for (size_t i = 0; i < count && !failed; i++) {
        temps[i][0] = '\0';
        if (files[i] == NULL) continue;
        const char *temp = vs_outfile_temp_path(files[i]);
        if (temp != NULL) snprintf(temps[i], sizeof(temps[i]), "%s", temp);
        failed = vs_outfile_finish(files[i], err, sizeof(err)) != 0;
    }
    if (failed) {
        for (size_t i = 0; i < count; i++)
            cli_output_abort(files[i]);
        return cli_fail(EXIT_OUTPUT, cmd, "%s", count > CLI_MAX_TEMPS ? "too many outputs" : err);
    }
    test_pause("flushed");
    cli_signals_hold();
    test_pause("rename");
    int rc = vs_outfile_commit_all(files, count, err, sizeof(err));
    for (size_t i = 0; i < count; i++)
        cli_temp_unregister(temps[i]);
    cli_signals_release();
    return rc == 0 ? EXIT_OK : cli_fail(EXIT_OUTPUT, cmd, "%s", err);
}

/* ---- stdout ------------------------------------------------------------------------------
 *
 * Every subcommand's stdout is checked when it returns (main): a write that
 * failed (a full disk, /dev/full, a closed pipe with SIGPIPE ignored) turns
 * a successful exit into 4, with a message. */

static int stdout_reported;

int cli_stdout_failed(const char *cmd) {
    int saved = errno;
    stdout_reported = 1;
    return cli_fail(EXIT_OUTPUT, cmd, "writing to stdout failed: %s",
                    saved ? strerror(saved) : "an earlier write failed");
}

int cli_finish_stdout(int code) {
    errno = 0;
    int flushed = fflush(stdout) == 0;
    if (flushed && !ferror(stdout)) return code;
    if (!stdout_reported) {
        fprintf(stderr, "vecscore: writing to stdout failed: %s\n",
                !flushed && errno ? strerror(errno) : "an earlier write failed");
        stdout_reported = 1;
    }
    return code == EXIT_OK ? EXIT_OUTPUT : code;
}
