/*
 * pool.h — the library's worker pool: one per process, shared by every
 * context and every calling thread.
 *
 * Why one per process: the rule is at most one worker per core in total,
 * however many contexts and callers there are. A pool per context would put
 * contexts x cores workers in a process that keeps several contexts (one
 * per model, per index, per request type). Contexts with different thread
 * counts share the workers; each job caps its own helpers.
 *
 * A job is `units` calls of fn(arg, unit, slot), unit in [0, units):
 *
 *   caller ── post job ──► active list ◄── idle workers attach (each gets a slot)
 *     │                                      │
 *     └─ claims from its home range ◄─ one range per slot ─► helpers: theirs,
 *        then the others' from the back                       then the others'
 *     └─ when no unit is left: waits only for units already claimed, then returns
 *
 *   - Units are claimed one at a time: each slot first from its own home
 *     range (slot s of P owns units [s*U/P, (s+1)*U/P), so that everyone
 *     reads the same part of the data in every job while all come), then
 *     from the back of the others'. A helper that has not started yet
 *     (asleep, or parked by the scheduler) claims nothing and delays
 *     nothing, its range being emptied by the others; one parked while
 *     running a unit delays the call by that unit at most.
 *   - slot 0 is the caller, helpers get 1 .. participants - 1 in the order
 *     they attach; a slot indexes per-participant scratch memory. Which unit
 *     runs in which slot depends on timing, so results must not: a unit's
 *     output may depend only on the unit index.
 *   - Workers are started when a job first wants them (never more than
 *     vs__pool_cpu_count() - 1, the caller being the last core), spin for a
 *     short time after a job (as long as a sleeping worker takes to wake,
 *     measured), then sleep on a condition variable. They stop when the last
 *     context is freed (vs__pool_release).
 *   - The pool measures what a helper costs: the time from posting a job to
 *     the first helper attaching (at start with a few calibration rounds,
 *     then from every job; a job no helper reached in time counts as "at
 *     least as long as the call"). vs__pool_join_seconds() gives the current
 *     estimate; a caller splits work only when its estimated time alone is
 *     well above it, so small batches run on the caller alone.
 *   - Which estimate applies is read from the pool's state now: a worker
 *     counts as on a CPU only while it spins and its heartbeat (the time of
 *     its latest spin step) is younger than a few of its measured steps. A
 *     declined call wakes a sleeping worker when none spins (so that the
 *     next call finds one on a CPU), and while the last split paid, a call
 *     that finds a worker on a CPU splits whatever the estimate says
 *     (vs__pool_probe; docs/threads.md, "When to split").
 */
#ifndef VS_CPU_POOL_H
#define VS_CPU_POOL_H

#include <stddef.h>

typedef void (*vs__pool_fn)(void *arg, size_t unit, int slot);

typedef struct vs__pool_run_info {
    int joined;            /* participants that ran at least one unit, caller included */
    size_t caller_units;   /* units the caller ran */
    double caller_seconds; /* time the caller spent in units */
} vs__pool_run_info;

/* A context starts/stops using the pool. retain: 0 or VS_ERR_OUT_OF_MEMORY. */
int vs__pool_retain(void);
void vs__pool_release(void);

/* CPUs this process may run on (sched_getaffinity), >= 1. */
int vs__pool_cpu_count(void);

/*
 * Estimated seconds until a helper joins a job posted now. Starts up to
 * `helpers` workers (and calibrates) on first use. Returns INFINITY when no
 * helper can come (one CPU, or the pool is starting in another thread).
 */
double vs__pool_join_seconds(int helpers);

/*
 * For work of `seconds` that the join estimate declined but that is worth
 * splitting against the fastest join seen: 1 when the last split paid and a
 * worker is on a CPU now, else 1 once in 16 calls (up to once in 1024,
 * backing off while helpers are observed to be slow), so that the estimate
 * follows a machine that has become idle again. A declined call may also
 * wake a sleeping worker (none spinning) for the next call.
 */
int vs__pool_probe(double seconds);

/*
 * The fastest join ever observed (a helper that was spinning on an idle
 * CPU): what handing out one unit costs at best, the scale for how small a
 * unit may be. 0 before the pool has started.
 */
double vs__pool_join_fastest(void);

/*
 * Runs fn(arg, unit, slot) for every unit in [0, units), the calling thread
 * as slot 0 and at most participants - 1 helpers; returns when every unit
 * has finished. participants <= 1, units <= 1, or no workers: all on the
 * caller. info may be NULL.
 */
void vs__pool_run(vs__pool_fn fn, void *arg, size_t units, int participants,
                  vs__pool_run_info *info);

/* ---- testing hooks (tests/test_threads.c) ------------------------------------------- */

enum {
    VS_POOL_PARK_NONE = 0,
    VS_POOL_PARK_BEFORE_CLAIM = 1, /* the next helper to attach parks before claiming a unit */
    VS_POOL_PARK_HOLDING_UNIT = 2  /* the next helper to claim a unit parks before running it */
};

/*
 * Arms a park (mode above). With wait_for_helper, the next job's caller
 * waits (up to 10 s) for a helper to park before it claims units, so that
 * the parked helper is in the job (and, for VS_POOL_PARK_HOLDING_UNIT,
 * holds one of its units). vs__pool_test_parked() is 1 while a
 * helper is parked; vs__pool_test_unpark() lets it go.
 */
void vs__pool_test_park(int mode, int wait_for_helper);
int vs__pool_test_parked(void);
void vs__pool_test_unpark(void);

/* Overrides the CPU count (0 = the real one), e.g. to test 8 threads on 2 cores. */
void vs__pool_test_set_cpu_count(int cpus);

/* 1: vs__pool_join_seconds() returns 0, so every batch that can be split is (0 = measured). */
void vs__pool_test_force_split(int on);

/*
 * Replaces the measured helper cost: vs__pool_join_seconds() returns
 * join_seconds (once workers are started) and vs__pool_join_fastest() and
 * vs__pool_probe() use fastest_seconds, so that a test decides which side of
 * the split threshold a batch falls on. join_seconds <= 0: measured again.
 * vs__pool_test_force_split takes precedence.
 */
void vs__pool_test_set_join(double join_seconds, double fastest_seconds);

/*
 * Replaces the measured answer to "is a worker spinning on a CPU now" (the
 * spinner's heartbeat): 1 yes, 0 no, -1 measured again.
 */
void vs__pool_test_set_on_cpu(int state);

/*
 * Sets whether the last split paid (the flag that lets a call split while a
 * worker is on a CPU although the estimate says no), and resets the probe
 * counters with the longest probe interval, so that no periodic probe
 * splits one of the next 1000 declined calls. vs__pool_test_paid() reads the
 * flag, which every split sets from its own timing.
 */
void vs__pool_test_set_paid(int paid);
int vs__pool_test_paid(void);

/* Sleeping workers woken without a job so far (by declined calls, when no worker spun). */
unsigned vs__pool_test_nudges(void);

/* Workers started so far. */
int vs__pool_test_workers(void);

/*
 * The plan of the calling thread's last CPU batch (cpu/backend.c): the
 * participants it was planned for (1: the caller alone), the units of its
 * first query chunk (0 for an empty batch) and whether they are candidate
 * ranges (1) or query ranges (0).
 */
void vs__cpu_test_last_plan(int *threads, size_t *units, int *split_candidates);

/* The query groups of that chunk's candidate split (cpu/backend.c; 1 without one). */
size_t vs__cpu_test_last_query_groups(void);

#endif /* VS_CPU_POOL_H */
