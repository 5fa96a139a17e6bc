/*
 * log.c — the log sink and the per-thread last error message.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

#define VS_ERROR_MESSAGE_BYTES 512

/* Thread-local storage of fixed size: setting an error never allocates, so it cannot fail. */
static _Thread_local char tl_error[VS_ERROR_MESSAGE_BYTES];

void vs__error_clear(void) {
    tl_error[0] = '\0';
}

void vs__error_set(const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    vsnprintf(tl_error, sizeof(tl_error), fmt, args);
    va_end(args);
}

int vs__error_is_set(void) {
    return tl_error[0] != '\0';
}

const char *vs_last_error_message(void) {
    return tl_error;
}

static void log_va(const vs__log_sink *sink, vs_log_level level, const char *fmt, va_list args) {
    const int deliver = sink != NULL && sink->fn != NULL && (int)level <= sink->level;
    if (level != VS_LOG_ERROR && !deliver) return;
    char message[VS_ERROR_MESSAGE_BYTES];
    vsnprintf(message, sizeof(message), fmt, args);
    /* Every error is kept for vs_last_error_message, with or without a callback. */
    if (level == VS_LOG_ERROR) vs__error_set("%s", message);
    if (deliver) sink->fn(sink->user, level, message);
}

void vs__log(const vs__log_sink *sink, vs_log_level level, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    log_va(sink, level, fmt, args);
    va_end(args);
}

int vs__fail(const vs__log_sink *sink, int status, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    log_va(sink, VS_LOG_ERROR, fmt, args);
    va_end(args);
    return status;
}

int vs__fail_msg(char *buf, size_t size, int status, const char *fmt, ...) {
    if (buf != NULL && size > 0) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(buf, size, fmt, args);
        va_end(args);
    }
    return status;
}
