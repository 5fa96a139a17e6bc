/*
 * pool.c — the process-wide worker pool described in pool.h.
 *
 * Synchronisation: one mutex (pool.lock) guards the worker set, the active
 * job list, the free job list and each job's slots/refs/first_join; a job's
 * home ranges and counters (done, joined) are atomics, so claiming a unit
 * never takes the lock. A job object stays alive while anyone refers to it (the
 * caller until its units are done, each attached helper until it leaves), so
 * a helper that wakes late only ever touches the job object, never the
 * caller's data: it reaches fn/arg only through a unit it claimed, and the
 * caller waits for every claimed unit.
 */
#define _GNU_SOURCE
#include "pool.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../base/clock.h"
#include "vecscore.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define VS_CPU_RELAX() _mm_pause()
#else
#define VS_CPU_RELAX() ((void)0)
#endif

#define VS_POOL_CALIBRATION_ROUNDS 5
#define VS_POOL_SPIN_MAX_SECONDS 1e-3   /* never spin longer than this, whatever was measured */
#define VS_POOL_CALIBRATION_SPIN 200e-6 /* spin while calibrating (the "spinning" rounds) */
#define VS_POOL_PROBE_MIN 16u           /* probe one declined split in 16 while helpers are quick */
#define VS_POOL_PROBE_MAX 1024u         /* ... and one in 1024 while they are slow */
#define VS_POOL_TEST_WAIT_SECONDS 10.0
#define VS_POOL_FRESH_STEPS 4 /* a heartbeat this many spin steps old: the spinner is off CPU */
#define VS_POOL_STEP_GAP 8    /* a gap of this many steps is a yield to another thread */

/*
 * A participant's home range of units, packed in one word so that its owner
 * (from the front) and a thief (from the back) claim with one compare-and-swap:
 * bits 0-31 the next unit from the front, bits 32-63 one past the last unit.
 */
typedef struct pool_range {
    _Atomic uint64_t span;
    char pad[64 - sizeof(uint64_t)]; /* one cache line each: owners claim without sharing one */
} pool_range;

typedef struct pool_job {
    vs__pool_fn fn;
    void *arg;
    size_t units;
    int max_slots;    /* participants, caller included */
    pool_range *home; /* max_slots home ranges: slot s owns units [s*units/P, (s+1)*units/P) */
    int home_capacity;
    atomic_size_t done; /* units finished; each participant adds its own when it runs out */
    atomic_int joined;  /* helpers that ran at least one unit */
    /* guarded by pool.lock */
    int slots; /* slots handed out; the caller holds slot 0 */
    int refs;  /* caller + attached helpers */
    int listed;
    int caller_waiting;
    double posted_at, first_join;
    int spinner; /* a worker was spinning when it was posted */
    pthread_cond_t finished;
    struct pool_job *next_job; /* active list, or free list */
} pool_job;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t work; /* idle workers sleep here */
    int refs;            /* contexts using the pool */
    int workers;
    int capacity; /* entries in threads */
    pthread_t *threads;
    int stop;
    int starting; /* a thread is starting workers / calibrating */
    int calibrated;
    int sleeping;
    atomic_int spinning; /* changed under the lock, read without it by vs__pool_join_seconds */
    atomic_uint posted;  /* bumped by every job posted */
    pool_job *active;    /* FIFO */
    pool_job *free_jobs;
    /*
     * Estimates of the time from posting a job to the first helper attaching:
     * when a worker was spinning at the post, and when every worker slept.
     */
    _Atomic double join_spinning, join_sleeping;
    _Atomic double join_fastest; /* the fastest join observed */
    double spin_seconds;
    /*
     * Declined splits since the last probe, counted apart for the two states
     * a decision can see (a worker spinning, or all asleep): each state's
     * estimate comes down only through probes taken in that state.
     */
    atomic_uint probes[2];
    atomic_uint probe_interval; /* 16, doubled (up to 1024) by every slow observation */
    /*
     * The time of a spinning worker's latest spin step: a worker counted in
     * `spinning` is on a CPU now only if this is recent (a spinner the
     * scheduler has parked behind other threads comes no sooner than a
     * sleeping one). In a cache line of its own with spin_step, which only
     * spinners write (every step), so that callers reading the fields
     * around them do not miss on every call.
     */
    _Alignas(64) _Atomic double heartbeat;
    _Atomic double spin_step; /* seconds between a spinner's steps while it runs (step_observe) */
    char spin_pad[64 - 2 * sizeof(double)];
    /*
     * 1 while the last split paid (its helper came and shared the work): a
     * call that finds a worker on a CPU then splits even if the estimate says
     * no, so that after a stall the estimate comes back down in a few calls
     * instead of waiting for the rare probes (pool_split_paid).
     */
    atomic_int paid;
    atomic_uint nudges;           /* sleeping workers woken without a job (nudge_sleeper) */
    _Atomic double last_declined; /* when the latest declined call asked (nudge_sleeper) */
    atomic_int ready;             /* workers started and calibrated: read without the lock */
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .work = PTHREAD_COND_INITIALIZER};

/* Serialises retain/release, so that a release joining workers never races a retain. */
static pthread_mutex_t lifecycle = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static atomic_int test_cpu_count;
static atomic_int test_force_split;
static atomic_int test_fresh = -1; /* -1: measured; 0/1: whether a worker is on a CPU now */
static _Atomic double test_join, test_join_fastest; /* > 0: replace the measured estimates */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    atomic_int mode;
    atomic_int wait_for_helper;
    int parked;
    int release;
} test = {.lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER};

/* The library's one clock (base/clock.c, below the pool). */
static double now_seconds(void) {
    return vs__now();
}

static void sleep_seconds(double seconds) {
    struct timespec ts = {.tv_sec = (time_t)seconds,
                          .tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
}

int vs__pool_cpu_count(void) {
    int forced = atomic_load(&test_cpu_count);
    if (forced > 0) return forced;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        int count = CPU_COUNT(&set);
        if (count > 0) return count;
    }
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
}

/* ---- testing hooks ------------------------------------------------------------------- */

void vs__pool_test_set_cpu_count(int cpus) {
    atomic_store(&test_cpu_count, cpus > 0 ? cpus : 0);
}

void vs__pool_test_force_split(int on) {
    atomic_store(&test_force_split, on != 0);
}

void vs__pool_test_set_on_cpu(int state) {
    atomic_store(&test_fresh, state < 0 ? -1 : state != 0);
}

void vs__pool_test_set_paid(int paid) {
    atomic_store(&pool.paid, paid != 0);
    atomic_store(&pool.probes[0], 0u);
    atomic_store(&pool.probes[1], 0u);
    atomic_store(&pool.probe_interval, VS_POOL_PROBE_MAX);
}

int vs__pool_test_paid(void) {
    return atomic_load(&pool.paid);
}

unsigned vs__pool_test_nudges(void) {
    return atomic_load(&pool.nudges);
}

void vs__pool_test_set_join(double join_seconds, double fastest_seconds) {
    const int on = join_seconds > 0;
    atomic_store(&test_join_fastest, on ? fastest_seconds : 0.0);
    atomic_store(&test_join, on ? join_seconds : 0.0);
}

void vs__pool_test_park(int mode, int wait_for_helper) {
    pthread_mutex_lock(&test.lock);
    test.release = 0;
    pthread_mutex_unlock(&test.lock);
    atomic_store(&test.wait_for_helper, wait_for_helper);
    atomic_store(&test.mode, mode);
}

int vs__pool_test_parked(void) {
    pthread_mutex_lock(&test.lock);
    int parked = test.parked;
    pthread_mutex_unlock(&test.lock);
    return parked;
}

void vs__pool_test_unpark(void) {
    atomic_store(&test.mode, VS_POOL_PARK_NONE);
    pthread_mutex_lock(&test.lock);
    test.release = 1;
    pthread_cond_broadcast(&test.changed);
    pthread_mutex_unlock(&test.lock);
}

int vs__pool_test_workers(void) {
    pthread_mutex_lock(&pool.lock);
    int workers = pool.workers;
    pthread_mutex_unlock(&pool.lock);
    return workers;
}

/* Parks the calling helper if `mode` is armed (once). */
static void test_maybe_park(int mode) {
    int expected = mode;
    if (atomic_load_explicit(&test.mode, memory_order_relaxed) != mode ||
        !atomic_compare_exchange_strong(&test.mode, &expected, VS_POOL_PARK_NONE))
        return;
    pthread_mutex_lock(&test.lock);
    test.parked = 1;
    pthread_cond_broadcast(&test.changed);
    while (!test.release)
        pthread_cond_wait(&test.changed, &test.lock);
    test.parked = 0;
    pthread_mutex_unlock(&test.lock);
}

/* ---- jobs -------------------------------------------------------------------------- */

/* Drops a reference (pool.lock held); the last one returns the job to the free list. */
static void job_unref(pool_job *job) {
    if (--job->refs > 0) return;
    job->next_job = pool.free_jobs;
    pool.free_jobs = job;
}

static void job_unlist(pool_job *job) {
    if (!job->listed) return;
    for (pool_job **at = &pool.active; *at != NULL; at = &(*at)->next_job)
        if (*at == job) {
            *at = job->next_job;
            break;
        }
    job->listed = 0;
    job->next_job = NULL;
}

#define VS_POOL_NO_UNIT SIZE_MAX

/* 1 while some home range of the job has an unclaimed unit. */
static int job_has_units(pool_job *job) {
    for (int s = 0; s < job->max_slots; s++) {
        const uint64_t span = atomic_load_explicit(&job->home[s].span, memory_order_relaxed);
        if ((span & 0xffffffffu) < (span >> 32)) return 1;
    }
    return 0;
}

/* First active job that still has units and a free slot (pool.lock held). */
static pool_job *job_pick(void) {
    for (pool_job *job = pool.active; job != NULL; job = job->next_job)
        if (job->slots < job->max_slots && job_has_units(job)) return job;
    return NULL;
}

/* Takes the front unit (owner) or the back unit (thief) of a home range, or VS_POOL_NO_UNIT. */
static size_t range_take(pool_range *range, int from_back) {
    uint64_t seen = atomic_load_explicit(&range->span, memory_order_relaxed);
    for (;;) {
        const uint64_t front = seen & 0xffffffffu, back = seen >> 32;
        if (front >= back) return VS_POOL_NO_UNIT;
        const uint64_t next = from_back ? ((back - 1) << 32) | front : (back << 32) | (front + 1);
        if (atomic_compare_exchange_weak_explicit(&range->span, &seen, next, memory_order_relaxed,
                                                  memory_order_relaxed))
            return (size_t)(from_back ? back - 1 : front);
    }
}

/*
 * The next unit for `slot`: the front of its own home range while it lasts,
 * then the back of the others' (the next slots first). Every participant
 * thus reads the same part of the data in every job while all of them come
 * (the split a static schedule would give, and the cache locality with it:
 * with a shared counter, 16 units of 1 x 1000 x 768 took 62 us against
 * 43 us in 2), and a participant that never comes delays nothing, its range
 * being taken from the back by the others.
 */
static size_t claim_unit(pool_job *job, int slot) {
    const int ranges = job->max_slots;
    for (int i = 0; i < ranges; i++) {
        const int at = (slot + i) % ranges;
        const size_t unit = range_take(&job->home[at], i > 0);
        if (unit != VS_POOL_NO_UNIT) return unit;
    }
    return VS_POOL_NO_UNIT;
}

/* Claims and runs units until none is left. Returns the units this participant ran. */
static size_t run_units(pool_job *job, int slot) {
    size_t ran = 0;
    for (;;) {
        const size_t unit = claim_unit(job, slot);
        if (unit == VS_POOL_NO_UNIT) break;
        if (slot > 0) {
            if (ran == 0) atomic_fetch_add_explicit(&job->joined, 1, memory_order_relaxed);
            test_maybe_park(VS_POOL_PARK_HOLDING_UNIT);
        }
        job->fn(job->arg, unit, slot);
        ran++;
    }
    /*
     * Finished units are counted once per participant, when it finds no unit
     * left, so that claiming and finishing a unit touch no cache line that
     * another participant writes: a unit still running is one this
     * participant claimed, so the count reaches `units` only after it.
     */
    if (ran == 0) return 0;
    const size_t done = atomic_fetch_add_explicit(&job->done, ran, memory_order_acq_rel) + ran;
    if (done == job->units && slot > 0) {
        pthread_mutex_lock(&pool.lock);
        if (job->caller_waiting) pthread_cond_signal(&job->finished);
        pthread_mutex_unlock(&pool.lock);
    }
    return ran;
}

/*
 * One step of a spin: a few pauses and, after the first few steps (a couple
 * of microseconds, when the event usually comes), sched_yield, so that a
 * spinning thread gives its CPU to any other runnable thread on it (on a
 * busy machine, often the very thread it waits for) instead of holding it
 * until its spin ends. On an idle CPU the yield returns at once.
 */
#define VS_POOL_SPIN_EAGER_STEPS 8
static void spin_step(unsigned *steps) {
    for (int i = 0; i < 16; i++)
        VS_CPU_RELAX();
    if (++*steps > VS_POOL_SPIN_EAGER_STEPS) sched_yield();
}

/*
 * Folds the time between two spin steps into pool.spin_step: a moving
 * average of logarithms that follows a shorter step half way and a longer
 * one an eighth of the way, and ignores a gap over VS_POOL_STEP_GAP steps:
 * (only the steps that yield, the ones a long spin is made of, count)
 * that is the spinner having given its CPU to another thread (the yield in
 * every step), not a step.
 */
static void step_observe(double seconds) {
    if (!(seconds > 1e-9)) return;
    const double old = atomic_load_explicit(&pool.spin_step, memory_order_relaxed);
    if (!(old > 0)) {
        atomic_store_explicit(&pool.spin_step, seconds, memory_order_relaxed);
        return;
    }
    if (seconds > VS_POOL_STEP_GAP * old) return;
    const double step = log(seconds / old);
    atomic_store_explicit(&pool.spin_step, exp(log(old) + (step < 0 ? step / 2 : step / 8)),
                          memory_order_relaxed);
}

/* Spins (without the lock) until a job is posted or `seconds` pass. */
static void spin_for_post(unsigned seen, double seconds) {
    if (seconds <= 0) return;
    const double until = now_seconds() + seconds;
    unsigned steps = 0;
    double previous = 0;
    while (atomic_load_explicit(&pool.posted, memory_order_relaxed) == seen) {
        const double t = now_seconds();
        atomic_store_explicit(&pool.heartbeat, t, memory_order_relaxed);
        if (previous > 0 && steps > VS_POOL_SPIN_EAGER_STEPS) step_observe(t - previous);
        previous = t;
        if (t >= until) break;
        spin_step(&steps);
    }
}

/*
 * 1 when a worker is spinning on a CPU now: counted as spinning, and its
 * latest spin step is more recent than VS_POOL_FRESH_STEPS of its measured
 * steps. A spinner that yielded its CPU to other threads (a busy machine)
 * shows a stale heartbeat, and comes no sooner than a sleeping worker.
 */
static int spinner_on_cpu(void) {
    const int forced = atomic_load_explicit(&test_fresh, memory_order_relaxed);
    if (forced >= 0) return forced;
    if (atomic_load_explicit(&pool.spinning, memory_order_relaxed) <= 0) return 0;
    const double step = atomic_load_explicit(&pool.spin_step, memory_order_relaxed);
    const double age = now_seconds() - atomic_load_explicit(&pool.heartbeat, memory_order_relaxed);
    return age < VS_POOL_FRESH_STEPS * step;
}

static void *worker_main(void *unused) {
    (void)unused;
    pthread_mutex_lock(&pool.lock);
    while (!pool.stop) {
        pool_job *job = job_pick();
        if (job != NULL) {
            int slot = job->slots++;
            job->refs++;
            if (job->first_join == 0) job->first_join = now_seconds();
            pthread_mutex_unlock(&pool.lock);
            test_maybe_park(VS_POOL_PARK_BEFORE_CLAIM);
            run_units(job, slot);
            pthread_mutex_lock(&pool.lock);
            job_unref(job);
            continue;
        }
        unsigned seen = atomic_load_explicit(&pool.posted, memory_order_relaxed);
        double spin = pool.spin_seconds;
        atomic_fetch_add_explicit(&pool.spinning, 1, memory_order_relaxed);
        pthread_mutex_unlock(&pool.lock);
        spin_for_post(seen, spin);
        pthread_mutex_lock(&pool.lock);
        atomic_fetch_sub_explicit(&pool.spinning, 1, memory_order_relaxed);
        if (atomic_load_explicit(&pool.posted, memory_order_relaxed) != seen) continue;
        pool.sleeping++;
        while (!pool.stop && atomic_load_explicit(&pool.posted, memory_order_relaxed) == seen)
            pthread_cond_wait(&pool.work, &pool.lock);
        pool.sleeping--;
    }
    pthread_mutex_unlock(&pool.lock);
    return NULL;
}

/*
 * Posts a job (pool.lock held) and wakes up to `helpers` workers (spinning
 * ones first). NULL if no job object could be made.
 */
static pool_job *job_post(vs__pool_fn fn, void *arg, size_t units, int participants,
                          size_t helpers) {
    pool_job *job = pool.free_jobs;
    const int max_slots = participants < pool.workers + 1 ? participants : pool.workers + 1;
    if (job != NULL) {
        pool.free_jobs = job->next_job;
    } else {
        job = calloc(1, sizeof(*job));
        if (job == NULL) return NULL;
        if (pthread_cond_init(&job->finished, NULL) != 0) {
            free(job);
            return NULL;
        }
    }
    if (job->home_capacity < max_slots) {
        pool_range *grown = aligned_alloc(64, (size_t)max_slots * sizeof(*grown));
        if (grown == NULL) {
            job->next_job = pool.free_jobs;
            pool.free_jobs = job;
            return NULL;
        }
        free(job->home);
        job->home = grown;
        job->home_capacity = max_slots;
    }
    job->fn = fn;
    job->arg = arg;
    job->units = units;
    job->max_slots = max_slots;
    for (int s = 0; s < max_slots; s++) {
        const uint64_t front = (uint64_t)units * (uint64_t)s / (uint64_t)max_slots;
        const uint64_t back = (uint64_t)units * (uint64_t)(s + 1) / (uint64_t)max_slots;
        atomic_store_explicit(&job->home[s].span, (back << 32) | front, memory_order_relaxed);
    }
    atomic_store_explicit(&job->done, 0, memory_order_relaxed);
    atomic_store_explicit(&job->joined, 0, memory_order_relaxed);
    job->slots = 1;
    job->refs = 1;
    job->listed = 1;
    job->caller_waiting = 0;
    job->first_join = 0;
    job->posted_at = now_seconds();
    job->next_job = NULL;
    pool_job **tail = &pool.active;
    while (*tail != NULL)
        tail = &(*tail)->next_job;
    *tail = job;
    atomic_fetch_add_explicit(&pool.posted, 1, memory_order_relaxed);
    if (helpers > (size_t)job->max_slots - 1) helpers = (size_t)job->max_slots - 1;
    const int spinning = atomic_load_explicit(&pool.spinning, memory_order_relaxed);
    job->spinner = spinner_on_cpu();
    int wake = (int)helpers - spinning;
    if (wake >= pool.sleeping)
        pthread_cond_broadcast(&pool.work);
    else
        for (int i = 0; i < wake; i++)
            pthread_cond_signal(&pool.work);
    return job;
}

/* Waits (pool.lock held) until every unit of the job has finished. */
static void job_wait(pool_job *job, double spin) {
    if (atomic_load_explicit(&job->done, memory_order_acquire) == job->units) return;
    /* A short spin first: the last unit is usually about to finish. */
    pthread_mutex_unlock(&pool.lock);
    const double until = now_seconds() + spin;
    unsigned steps = 0;
    while (atomic_load_explicit(&job->done, memory_order_acquire) < job->units &&
           now_seconds() < until)
        spin_step(&steps);
    pthread_mutex_lock(&pool.lock);
    while (atomic_load_explicit(&job->done, memory_order_acquire) < job->units) {
        job->caller_waiting = 1;
        pthread_cond_wait(&job->finished, &pool.lock);
    }
    job->caller_waiting = 0;
}

/*
 * Folds one observation of the join time into the estimate (pool.lock held):
 * a moving average of logarithms, so that one call that no helper reached
 * (observed as "at least as long as the call", which can be seconds) moves
 * the estimate by a factor, not to the call's length, and quick joins bring
 * it back down as fast.
 */
static void observe_join(_Atomic double *estimate_at, double seconds, int seen) {
    if (!(seconds > 1e-9)) seconds = 1e-9;
    double fastest = atomic_load_explicit(&pool.join_fastest, memory_order_relaxed);
    if (seen && (fastest == 0 || seconds < fastest))
        atomic_store_explicit(&pool.join_fastest, seconds, memory_order_relaxed);
    double estimate = atomic_load_explicit(estimate_at, memory_order_relaxed);
    if (!(estimate > 1e-9)) estimate = seconds;
    /* Probes back off while helpers are slow (a busy machine), and come back when one is quick. */
    unsigned interval = atomic_load_explicit(&pool.probe_interval, memory_order_relaxed);
    if (seconds > estimate)
        interval = interval < VS_POOL_PROBE_MAX / 2 ? 2 * interval : VS_POOL_PROBE_MAX;
    else
        interval = VS_POOL_PROBE_MIN;
    atomic_store_explicit(&pool.probe_interval, interval, memory_order_relaxed);
    estimate = exp(log(estimate) + (log(seconds) - log(estimate)) / 4);
    atomic_store_explicit(estimate_at, estimate, memory_order_relaxed);
}

/*
 * Workers spin after a job for as long as a sleeping one is estimated to
 * take to join (capped): spinning longer than waking costs is never worth
 * it, and spinning less makes a stream of calls pay the wake-up every time.
 * On a virtual machine an idle CPU can take a hundred microseconds to wake,
 * which the estimate learns from the calls themselves (pool.lock held).
 */
static void update_spin(void) {
    double sleeping = atomic_load_explicit(&pool.join_sleeping, memory_order_relaxed);
    pool.spin_seconds = sleeping < VS_POOL_SPIN_MAX_SECONDS ? sleeping : VS_POOL_SPIN_MAX_SECONDS;
}

/*
 * Whether a split paid: it took less than halfway between the time the
 * caller alone would have taken (`alone`: its own units' mean time x all
 * units) and the time of a perfect split among the `participants` that ran
 * units. A helper that came late, or stalled in a unit, makes it fail.
 */
static int split_paid(double alone, double took, int participants) {
    if (participants < 2 || !(alone > 0)) return 0;
    return took < alone * (1.0 + 1.0 / participants) / 2;
}

static void run_alone(vs__pool_fn fn, void *arg, size_t units, vs__pool_run_info *info) {
    double start = now_seconds();
    for (size_t unit = 0; unit < units; unit++)
        fn(arg, unit, 0);
    info->joined = 1;
    info->caller_units = units;
    info->caller_seconds = now_seconds() - start;
}

void vs__pool_run(vs__pool_fn fn, void *arg, size_t units, int participants,
                  vs__pool_run_info *info) {
    vs__pool_run_info local;
    if (info == NULL) info = &local;
    memset(info, 0, sizeof(*info));
    if (units == 0) return;
    pthread_mutex_lock(&pool.lock);
    pool_job *job = NULL;
    /* Home ranges hold unit numbers in 32 bits: a larger job (never planned) runs alone. */
    if (units > 1 && units <= UINT32_MAX && participants > 1 && pool.workers > 0 && !pool.stop)
        job = job_post(fn, arg, units, participants, units - 1); /* the caller takes one */
    pthread_mutex_unlock(&pool.lock);
    if (job == NULL) {
        run_alone(fn, arg, units, info);
        return;
    }
    int expected = 1;
    if (atomic_load_explicit(&test.wait_for_helper, memory_order_relaxed) &&
        atomic_compare_exchange_strong(&test.wait_for_helper, &expected, 0)) {
        /* Testing: let a helper attach and park first, so that it is part of the job. */
        const double until = now_seconds() + VS_POOL_TEST_WAIT_SECONDS;
        while (!vs__pool_test_parked() && now_seconds() < until)
            sleep_seconds(50e-6);
    }
    double start = now_seconds();
    info->caller_units = run_units(job, 0);
    const double caller_done = now_seconds();
    info->caller_seconds = caller_done - start;
    pthread_mutex_lock(&pool.lock);
    job_unlist(job); /* every unit is claimed: no one else may attach */
    const int seen = job->first_join > 0;
    /* No helper came: it costs at least this long. */
    const double join = (seen ? job->first_join : now_seconds()) - job->posted_at;
    job_wait(job, pool.spin_seconds);
    /*
     * What a helper cost this call: the time until it came, plus how much
     * longer than one of the caller's own units the caller then waited for
     * the helpers' last units (a helper descheduled in the middle of a unit).
     */
    const double unit = info->caller_units ? info->caller_seconds / (double)info->caller_units : 0;
    double late = now_seconds() - caller_done - unit;
    observe_join(job->spinner ? &pool.join_spinning : &pool.join_sleeping,
                 join + (late > 0 ? late : 0), seen);
    update_spin();
    const int joined = atomic_load_explicit(&job->joined, memory_order_relaxed);
    atomic_store_explicit(&pool.paid,
                          split_paid(unit * (double)job->units, now_seconds() - start, 1 + joined),
                          memory_order_relaxed);
    info->joined = 1 + joined;
    job_unref(job);
    pthread_mutex_unlock(&pool.lock);
}

/* ---- starting, calibrating, stopping -------------------------------------------------- */

static void noop_unit(void *arg, size_t unit, int slot) {
    (void)arg;
    (void)unit;
    (void)slot;
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Posts a one-unit job that only a helper may run and returns how long it took to join. */
static double time_one_join(void) {
    pool_job *job = job_post(noop_unit, NULL, 1, 2, 1);
    if (job == NULL) return -1;
    job_wait(job, 0); /* the caller claims nothing, and sleeps: its CPU may go idle too */
    double seconds = job->first_join - job->posted_at;
    job_unlist(job);
    job_unref(job);
    return seconds;
}

static double median_of(double *samples, int count) {
    qsort(samples, (size_t)count, sizeof(double), compare_double);
    return samples[count / 2];
}

/*
 * Measures how long a worker takes to join a posted job when it sleeps (as
 * after an idle spell) and when it is still spinning (right after a job): a
 * few rounds of each (pool.lock held on entry and exit; released while
 * waiting). Workers spin, from then on, for as long as a sleeping one takes
 * to wake: spinning longer is never worth it.
 */
static void calibrate(void) {
    double asleep[VS_POOL_CALIBRATION_ROUNDS], spinning[VS_POOL_CALIBRATION_ROUNDS];
    int count = 0;
    pool.spin_seconds = VS_POOL_CALIBRATION_SPIN; /* for the spinning rounds */
    for (int round = 0; round < VS_POOL_CALIBRATION_ROUNDS; round++) {
        /* Wait (briefly) for every worker to be asleep. */
        const double until = now_seconds() + 0.02;
        while (pool.sleeping < pool.workers && now_seconds() < until) {
            pthread_mutex_unlock(&pool.lock);
            sleep_seconds(20e-6);
            pthread_mutex_lock(&pool.lock);
        }
        double slept = time_one_join();
        double spun = time_one_join(); /* the worker that ran the first one is spinning */
        if (slept < 0 || spun < 0) break;
        asleep[count] = slept;
        spinning[count] = spun;
        count++;
    }
    double sleep_join = 50e-6, spin_join = 5e-6; /* only if no job could be allocated */
    if (count > 0) {
        sleep_join = median_of(asleep, count);
        spin_join = median_of(spinning, count);
    }
    atomic_store_explicit(&pool.join_sleeping, sleep_join, memory_order_relaxed);
    atomic_store_explicit(&pool.join_spinning, spin_join, memory_order_relaxed);
    atomic_store_explicit(&pool.join_fastest, spin_join < sleep_join ? spin_join : sleep_join,
                          memory_order_relaxed);
    update_spin();
    pool.calibrated = 1;
}

/* The join estimate for a job posted now: a spinning worker comes sooner than a sleeping one. */
static double join_estimate(void) {
    const double forced = atomic_load_explicit(&test_join, memory_order_relaxed);
    if (forced > 0) return forced;
    return spinner_on_cpu() ? atomic_load_explicit(&pool.join_spinning, memory_order_relaxed)
                            : atomic_load_explicit(&pool.join_sleeping, memory_order_relaxed);
}

double vs__pool_join_seconds(int helpers) {
    if (helpers <= 0) return INFINITY;
    const int forced = atomic_load_explicit(&test_force_split, memory_order_relaxed);
    /* The common case, without the lock or a system call. */
    if (atomic_load_explicit(&pool.ready, memory_order_acquire) >= helpers)
        return forced ? 0.0 : join_estimate();
    int max_workers = vs__pool_cpu_count() - 1;
    if (helpers > max_workers) helpers = max_workers;
    if (helpers <= 0) return INFINITY;
    pthread_mutex_lock(&pool.lock);
    if (pool.workers >= helpers && pool.calibrated) {
        pthread_mutex_unlock(&pool.lock);
        return forced ? 0.0 : join_estimate();
    }
    if (pool.starting || pool.stop || pool.refs == 0) {
        /* Another caller is starting workers: this batch runs alone. */
        pthread_mutex_unlock(&pool.lock);
        return INFINITY;
    }
    pool.starting = 1;
    if (pool.capacity < helpers) {
        pthread_t *grown = realloc(pool.threads, (size_t)helpers * sizeof(pthread_t));
        if (grown != NULL) {
            pool.threads = grown;
            pool.capacity = helpers;
        }
    }
    /* Workers start with every signal blocked: signals stay with the application's threads. */
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    while (pool.workers < helpers && pool.workers < pool.capacity) {
        if (pthread_create(&pool.threads[pool.workers], NULL, worker_main, NULL) != 0) break;
        pool.workers++;
    }
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    if (!pool.calibrated && pool.workers > 0) calibrate();
    if (pool.calibrated) atomic_store_explicit(&pool.ready, pool.workers, memory_order_release);
    pool.starting = 0;
    double estimate = pool.workers > 0 && pool.calibrated ? join_estimate() : INFINITY;
    if (forced && isfinite(estimate)) estimate = 0.0;
    pthread_mutex_unlock(&pool.lock);
    return estimate;
}

double vs__pool_join_fastest(void) {
    if (atomic_load_explicit(&test_force_split, memory_order_relaxed)) return 0;
    if (atomic_load_explicit(&test_join, memory_order_relaxed) > 0)
        return atomic_load_explicit(&test_join_fastest, memory_order_relaxed);
    return atomic_load_explicit(&pool.join_fastest, memory_order_relaxed);
}

/*
 * Wakes a sleeping worker without a job when none spins, so that it spins
 * (for pool.spin_seconds) in case the next call comes soon: a call declined
 * only because every worker slept then finds one on a CPU. Without it, a
 * stream of small calls that split well while a worker spun stays on the
 * caller for good once the worker has gone to sleep (after one stall),
 * waiting for a rare probe. Only while calls come close together: when the
 * previous declined call came longer ago than a woken worker would take to
 * wake and then spin (both measured), a worker woken now would be asleep
 * again by the next call, and the wake-up would be wasted. Costs the
 * declined call one wake-up, and only while no worker spins (a spinner off
 * its CPU on a busy machine counts as spinning: no wake-ups then).
 */
static void nudge_sleeper(void) {
    const double t = now_seconds();
    const double gap = t - atomic_exchange_explicit(&pool.last_declined, t, memory_order_relaxed);
    if (atomic_load_explicit(&pool.spinning, memory_order_relaxed) > 0) return;
    pthread_mutex_lock(&pool.lock);
    const double window =
        atomic_load_explicit(&pool.join_sleeping, memory_order_relaxed) + pool.spin_seconds;
    if (gap < window && pool.sleeping > 0 && !pool.stop && !pool.starting &&
        atomic_load_explicit(&pool.spinning, memory_order_relaxed) == 0) {
        atomic_fetch_add_explicit(&pool.posted, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&pool.nudges, 1, memory_order_relaxed);
        pthread_cond_signal(&pool.work);
    }
    pthread_mutex_unlock(&pool.lock);
}

int vs__pool_probe(double seconds) {
    double fastest = atomic_load_explicit(&pool.join_fastest, memory_order_relaxed);
    if (atomic_load_explicit(&test_join, memory_order_relaxed) > 0)
        fastest = atomic_load_explicit(&test_join_fastest, memory_order_relaxed);
    if (!(seconds > 2 * fastest)) return 0;
    const int on_cpu = spinner_on_cpu();
    /* The last split paid and a worker is on a CPU now: split (see pool.paid). */
    if (on_cpu && atomic_load_explicit(&pool.paid, memory_order_relaxed)) return 1;
    /* (testing: the fastest join stands for the spinning estimate too) */
    const double spinning = atomic_load_explicit(&test_join, memory_order_relaxed) > 0
                                ? fastest
                                : atomic_load_explicit(&pool.join_spinning, memory_order_relaxed);
    if (seconds > 2 * spinning) nudge_sleeper();
    unsigned interval = atomic_load_explicit(&pool.probe_interval, memory_order_relaxed);
    if (interval < VS_POOL_PROBE_MIN) interval = VS_POOL_PROBE_MIN;
    /*
     * A worker spins only for a short while after a job, so declined calls
     * that see one are few and far between (right after a probe, mostly).
     * With one count, the next probe came after the spin had ended, tested
     * the asleep estimate, and an inflated spinning estimate (one stalled
     * call) never came back down in a stream of small calls.
     */
    atomic_uint *count = &pool.probes[on_cpu];
    if (atomic_fetch_add_explicit(count, 1, memory_order_relaxed) + 1 < interval) return 0;
    atomic_store_explicit(count, 0, memory_order_relaxed);
    return 1;
}

/* In a forked child only the forking thread exists: forget the workers. */
static void after_fork_child(void) {
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.work, NULL);
    pthread_mutex_init(&lifecycle, NULL);
    pool.workers = 0;
    atomic_store(&pool.ready, 0);
    pool.sleeping = 0;
    atomic_store(&pool.spinning, 0);
    pool.starting = 0;
    pool.active = NULL;
    pool.calibrated = 0;
}

static void register_fork_handler(void) {
    pthread_atfork(NULL, NULL, after_fork_child);
}

int vs__pool_retain(void) {
    pthread_once(&fork_once, register_fork_handler);
    pthread_mutex_lock(&lifecycle);
    pthread_mutex_lock(&pool.lock);
    pool.refs++;
    pthread_mutex_unlock(&pool.lock);
    pthread_mutex_unlock(&lifecycle);
    return VS_OK;
}

void vs__pool_release(void) {
    pthread_mutex_lock(&lifecycle);
    pthread_mutex_lock(&pool.lock);
    if (pool.refs <= 0 || --pool.refs > 0) {
        pthread_mutex_unlock(&pool.lock);
        pthread_mutex_unlock(&lifecycle);
        return;
    }
    /* The last context is gone: stop and join every worker, free the jobs. */
    pool.stop = 1;
    atomic_store(&pool.ready, 0);
    pthread_cond_broadcast(&pool.work);
    int workers = pool.workers;
    pthread_mutex_unlock(&pool.lock);
    for (int i = 0; i < workers; i++)
        pthread_join(pool.threads[i], NULL);
    pthread_mutex_lock(&pool.lock);
    while (pool.free_jobs != NULL) {
        pool_job *job = pool.free_jobs;
        pool.free_jobs = job->next_job;
        pthread_cond_destroy(&job->finished);
        free(job->home);
        free(job);
    }
    free(pool.threads);
    pool.threads = NULL;
    pool.capacity = 0;
    pool.workers = 0;
    pool.calibrated = 0;
    pool.spin_seconds = 0;
    atomic_store(&pool.join_fastest, 0.0);
    pool.stop = 0;
    pthread_mutex_unlock(&pool.lock);
    pthread_mutex_unlock(&lifecycle);
}
