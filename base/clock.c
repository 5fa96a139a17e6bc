/*
 * clock.c — monotonic time.
 */
#define _GNU_SOURCE
#include "clock.h"

#include <time.h>

double vs__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
