/*
 * load.c — a bounded competing load for the contention scenario: busy loops
 * in child processes, as an application's other work (an embedding model, a
 * compile) would keep the cores busy.
 *
 *   bench process ── fork ──► load leader (its own process group; waits)
 *                                ├── busy loop 1 ┐ each spins until the
 *                                ├── ...         │ deadline, then exits
 *                                └── busy loop N ┘ (it stops by itself)
 *
 * Every process of the load is named "vsload-PID" (PID: the benchmark's).
 * It never outlives the benchmark: bench_load_stop sends the leader SIGTERM,
 * on which it kills its loops, reaps them and exits (so the stop is over
 * when the leader has exited); an atexit handler and SIGINT/SIGTERM/SIGHUP
 * handlers kill the whole group (SIGKILL); and every process of the group
 * has PR_SET_PDEATHSIG, so it is killed when its parent dies (even by
 * SIGKILL). Between fork and _exit the
 * children call only async-signal-safe functions (the parent has threads).
 */
#define _GNU_SOURCE /* prctl's PR_SET_PDEATHSIG and PR_SET_NAME */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* The running load's group, for the exit and signal handlers (0: none). */
static volatile sig_atomic_t running_group = 0;
static int handlers_installed = 0;
static struct sigaction previous[3];
static const int caught[3] = {SIGINT, SIGTERM, SIGHUP};

int bench_online_cpus(void) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus > 0 ? (int)cpus : 1;
}

static void kill_group(void) {
    pid_t group = (pid_t)running_group;
    if (group > 0) kill(-group, SIGKILL);
}

static void on_exit_kill(void) {
    kill_group();
}

/* Kills the load, then lets the signal do what it did before. */
static void on_signal(int sig) {
    kill_group();
    for (int i = 0; i < 3; i++)
        if (caught[i] == sig) sigaction(sig, &previous[i], NULL);
    raise(sig);
}

static void install_handlers(void) {
    if (handlers_installed) return;
    handlers_installed = 1;
    atexit(on_exit_kill);
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    for (int i = 0; i < 3; i++)
        sigaction(caught[i], &action, &previous[i]);
}

static double monotonic_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* async-signal-safe */
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Dies with the parent; _exit at once if the parent is already gone. */
static void die_with_parent(pid_t parent) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(0);
}

/* "vsload-PID" with the benchmark's pid, so that a script can find (and a
 * reader of ps can tell) whose load it is; no snprintf after fork. */
static void set_name(pid_t bench) {
    char name[16] = "vsload-", digits[12];
    int count = 0;
    unsigned long value = (unsigned long)bench;
    do
        digits[count++] = (char)('0' + value % 10);
    while ((value /= 10) && count < 8);
    for (int i = 0; i < count; i++)
        name[7 + i] = digits[count - 1 - i];
    name[7 + count] = '\0';
    prctl(PR_SET_NAME, name);
}

static void busy_loop(double deadline) {
    volatile unsigned long long spin = 0;
    while (monotonic_seconds() < deadline)
        for (int i = 0; i < 1 << 20; i++)
            spin = spin * 6364136223846793005ull + 1;
    _exit(0);
}

/* The leader's busy loops, for its SIGTERM handler. */
#define MAX_LOOPS 1024
static pid_t loop_pids[MAX_LOOPS];
static volatile sig_atomic_t loop_count = 0;

/* In the leader: SIGTERM (bench_load_stop) kills every loop; the leader then
 * reaps them and exits, so that the stop is over when the leader is. */
static void on_stop(int sig) {
    (void)sig;
    for (int i = 0; i < loop_count; i++)
        kill(loop_pids[i], SIGKILL);
}

/* The leader: starts the loops in its group, waits for them, exits. SIGTERM
 * is blocked on entry (bench_load_start) until its handler is in place. */
static void leader(int loops, double deadline, pid_t parent, const sigset_t *unblocked) {
    setpgid(0, 0);
    die_with_parent(parent);
    set_name(parent);
    struct sigaction stop;
    memset(&stop, 0, sizeof(stop));
    stop.sa_handler = on_stop;
    sigemptyset(&stop.sa_mask);
    sigaction(SIGTERM, &stop, NULL);
    pid_t self = getpid();
    for (int i = 0; i < loops && i < MAX_LOOPS; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            signal(SIGTERM, SIG_DFL);
            sigprocmask(SIG_SETMASK, unblocked, NULL);
            die_with_parent(self);
            busy_loop(deadline);
        }
        if (pid > 0) loop_pids[loop_count++] = pid;
    }
    sigprocmask(SIG_SETMASK, unblocked, NULL); /* a pending SIGTERM runs on_stop now */
    while (wait(NULL) > 0 || errno == EINTR)
        ;
    _exit(0);
}

int bench_load_start(bench_load *load, int loops, double seconds) {
    memset(load, 0, sizeof(*load));
    if (loops <= 0) loops = 2 * bench_online_cpus();
    if (loops > MAX_LOOPS) loops = MAX_LOOPS;
    install_handlers();
    fflush(NULL); /* the children exit with _exit, but nothing buffered must be copied twice */
    double deadline = monotonic_seconds() + seconds;
    pid_t parent = getpid();
    sigset_t term, previous_mask;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &term, &previous_mask);
    pid_t pid = fork();
    if (pid == 0) leader(loops, deadline, parent, &previous_mask);
    pthread_sigmask(SIG_SETMASK, &previous_mask, NULL);
    if (pid < 0) return -1;
    setpgid(pid, pid); /* also here: the group exists before either side goes on */
    running_group = pid;
    load->pid = pid;
    load->loops = loops;
    return 0;
}

/* Synchronous: when it returns, every process of the load has exited and
 * been reaped (by the leader, or here). */
void bench_load_stop(bench_load *load) {
    if (load->pid <= 0) return;
    kill(load->pid, SIGTERM);
    while (waitpid(load->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    running_group = 0;
    load->pid = 0;
}

int bench_load_running(bench_load *load) {
    if (load->pid <= 0) return 0;
    if (waitpid(load->pid, NULL, WNOHANG) == 0) return 1;
    running_group = 0; /* it stopped by itself (deadline) and is reaped */
    load->pid = 0;
    return 0;
}
