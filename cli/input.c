/*
 * input.c — opening the inputs: a named file through the streaming reader,
 * or standard input read whole; and the chunk-read testing hook.
 */
#include "cli.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads all of standard input into a malloc'd buffer; EXIT_OK or EXIT_INPUT. */
static int read_stdin(const char *cmd, unsigned char **out, size_t *out_size) {
    size_t size = 0, capacity = 0;
    unsigned char *data = NULL;
    for (;;) {
        if (size == capacity) {
            size_t bigger = capacity ? capacity * 2 : (size_t)1 << 16;
            unsigned char *grown = bigger > capacity ? realloc(data, bigger) : NULL;
            if (grown == NULL) {
                free(data);
                return cli_fail(EXIT_INPUT, cmd, "%s: out of memory after %zu bytes",
                                CLI_STDIN_NAME, size);
            }
            data = grown;
            capacity = bigger;
        }
        ssize_t got = read(STDIN_FILENO, data + size, capacity - size);
        if (got > 0) {
            size += (size_t)got;
        } else if (got == 0) {
            break;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) { /* a non-blocking pipe */
            struct pollfd ready = {STDIN_FILENO, POLLIN, 0};
            (void)poll(&ready, 1, -1);
        } else {
            int error = errno;
            free(data);
            return cli_fail(EXIT_INPUT, cmd, "%s: read failed after %zu bytes: %s", CLI_STDIN_NAME,
                            size, strerror(error));
        }
    }
    *out = data;
    *out_size = size;
    return EXIT_OK;
}

int cli_open_input(const char *cmd, const char *path, unsigned flags, int ids, vs_reader **out,
                   unsigned char **owned) {
    *out = NULL;
    *owned = NULL;
    char err[VS_IO_ERROR_SIZE];
    if (strcmp(path, "-") != 0) {
        if (vs_reader_open(path, VS_FORMAT_UNKNOWN, flags, out, err, sizeof(err)) == 0)
            return EXIT_OK;
        struct stat st; /* a pipe by name (a FIFO, /dev/stdin): say how to read it */
        int stream = stat(path, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode));
        return cli_fail(EXIT_INPUT, cmd, "%s%s", err,
                        stream ? "; to read a stream, give - and pipe it to standard input" : "");
    }
    if (isatty(STDIN_FILENO))
        return cli_fail(EXIT_INPUT, cmd,
                        "%s: standard input is a terminal; pipe or redirect a vector file into "
                        "it",
                        CLI_STDIN_NAME);
    unsigned char *data = NULL;
    size_t size = 0;
    int code = read_stdin(cmd, &data, &size);
    if (code != EXIT_OK) return code;
    /* The name has no extension: the content decides the format. */
    if (vs_reader_open_memory(data, size, CLI_STDIN_NAME, VS_FORMAT_UNKNOWN, flags, out, err,
                              sizeof(err)) != 0) {
        free(data);
        return cli_fail(EXIT_INPUT, cmd, "%s", err);
    }
    /* .ivecs/.ibin have the layouts of .fvecs/.fbin: where ids are expected,
     * that layout means the integer one. */
    vs_file_format format = vs_reader_get_info(*out)->format;
    if (ids && (format == VS_FORMAT_FVECS || format == VS_FORMAT_FBIN)) {
        vs_reader_close(*out);
        if (vs_reader_open_memory(data, size, CLI_STDIN_NAME,
                                  format == VS_FORMAT_FVECS ? VS_FORMAT_IVECS : VS_FORMAT_IBIN,
                                  flags, out, err, sizeof(err)) != 0) {
            free(data);
            return cli_fail(EXIT_INPUT, cmd, "%s", err);
        }
    }
    *owned = data;
    return EXIT_OK;
}

void cli_close_input(vs_reader *reader, unsigned char *owned) {
    vs_reader_close(reader);
    free(owned);
}

void cli_test_chunk_read(void) {
    static long stop_at = -1; /* -1: not read yet; 0: off */
    static long reads;
    if (stop_at < 0) {
        const char *text = getenv("VECSCORE_TEST_STOP_AFTER_CHUNK");
        uint64_t value = 0;
        stop_at = text != NULL && cli_parse_u64(text, 1, 1000000000, &value) == 0 ? (long)value : 0;
    }
    if (stop_at > 0 && ++reads == stop_at) raise(SIGSTOP);
}
