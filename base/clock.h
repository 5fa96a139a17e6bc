/*
 * clock.h — monotonic time (bottom layer, base/).
 */
#ifndef VS_BASE_CLOCK_H
#define VS_BASE_CLOCK_H

/* Monotonic seconds (CLOCK_MONOTONIC); only differences mean anything. */
double vs__now(void);

#endif /* VS_BASE_CLOCK_H */
