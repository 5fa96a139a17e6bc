/*
 * io_internal.c — the helpers io/'s files share (io_internal.h).
 */
#include "io_internal.h"

#include <stdarg.h>
#include <stdio.h>

void vs__io_msg(char *buf, size_t size, const char *fmt, ...) {
    if (buf == NULL || size == 0) return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(buf, size, fmt, args);
    va_end(args);
}
