/*
 * first_call.c — the first call of an OpenCL path in a fresh process, twice:
 * cold, with empty VECSCORE_CACHE_DIR and POCL_CACHE_DIR (the program is
 * compiled), and warm, with the same directories again (both caches hit).
 * The harness runs itself (/proc/self/exe) in child mode:
 *
 *   vecscore-bench --first-call SELECTOR Q N D K
 *
 * which makes a context and a corpus (timed: the setup), then times two
 * vs_corpus_topk calls and prints one line of numbers.
 */
#define _POSIX_C_SOURCE 200809L
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

extern char **environ;

/* Child mode: --first-call SELECTOR Q N D K. Prints one line of numbers. */
int bench_first_call_child(int argc, char **argv) {
    size_t q, n, d, k;
    if (argc < 6 || bench_parse_size(argv[2], &q) || bench_parse_size(argv[3], &n) ||
        bench_parse_size(argv[4], &d) || bench_parse_size(argv[5], &k)) {
        fprintf(stderr, "--first-call: expected SELECTOR Q N D K (positive integers)\n");
        return 1;
    }
    shape sh = {q, n, d};
    shape_data data;
    if (bench_shape_data_alloc(&data, &sh, k) != 0) {
        fprintf(stderr, "--first-call: out of memory for %zux%zux%zu\n", q, n, d);
        return 3;
    }
    vs_options opts;
    vs_options_init(&opts);
    opts.device = argv[1];
    opts.log_level = VS_LOG_ERROR;
    vs_context *ctx = NULL;
    vs_corpus *corpus = NULL;
    vs_batch_report first;
    double t[5];
    int status = 3;
    t[0] = bench_now();
    if (vs_context_create(&opts, &ctx) != VS_OK) goto done;
    t[1] = bench_now();
    if (vs_corpus_create(ctx, data.base, n, d, &corpus) != VS_OK) goto done;
    t[2] = bench_now();
    if (vs_corpus_topk(corpus, VS_METRIC_DOT, data.queries, q, k, data.scores, data.ids) != VS_OK)
        goto done;
    t[3] = bench_now();
    vs_context_last_report(ctx, &first);
    if (vs_corpus_topk(corpus, VS_METRIC_DOT, data.queries, q, k, data.scores, data.ids) != VS_OK)
        goto done;
    t[4] = bench_now();
    printf("first_call %.6f %.6f %.6f %.6f %.6f %d %s\n", t[1] - t[0], t[2] - t[1], t[3] - t[2],
           t[4] - t[3], first.compile_seconds, first.program_cache, first.backend);
    status = 0;
done:
    if (status != 0) fprintf(stderr, "--first-call: the %s run failed\n", argv[1]);
    vs_corpus_free(corpus);
    vs_context_free(ctx);
    bench_shape_data_free(&data);
    return status;
}

typedef struct first_call_result {
    double create, corpus, first, second, compile;
    int cache;
    int ok;
} first_call_result;

/* The environment of this process with VECSCORE_CACHE_DIR and POCL_CACHE_DIR
 * replaced; envp has room for count + 3 pointers. */
static void child_environment(char **envp, size_t count, char *cache, char *pocl) {
    size_t used = 0;
    for (size_t i = 0; i < count; i++)
        if (strncmp(environ[i], "VECSCORE_CACHE_DIR=", 19) != 0 &&
            strncmp(environ[i], "POCL_CACHE_DIR=", 15) != 0)
            envp[used++] = environ[i];
    envp[used++] = cache;
    envp[used++] = pocl;
    envp[used] = NULL;
}

/* Runs the child (posix_spawn, no shell) and reads its line of numbers. */
static first_call_result first_call_spawn(const run_state *st, const char *selector,
                                          const shape *sh, const char *cache_dir,
                                          const char *pocl_dir) {
    first_call_result result;
    memset(&result, 0, sizeof(result));
    char numbers[4][32], cache[1100], pocl[1100];
    snprintf(numbers[0], sizeof(numbers[0]), "%zu", sh->q);
    snprintf(numbers[1], sizeof(numbers[1]), "%zu", sh->n);
    snprintf(numbers[2], sizeof(numbers[2]), "%zu", sh->d);
    snprintf(numbers[3], sizeof(numbers[3]), "%zu", st->opt.k);
    snprintf(cache, sizeof(cache), "VECSCORE_CACHE_DIR=%s", cache_dir);
    snprintf(pocl, sizeof(pocl), "POCL_CACHE_DIR=%s", pocl_dir);
    char *argv[] = {(char *)st->self_exe, "--first-call", (char *)selector, numbers[0],
                    numbers[1],           numbers[2],     numbers[3],       NULL};
    size_t count = 0;
    while (environ[count])
        count++;
    char **envp = malloc((count + 3) * sizeof(char *));
    int fds[2];
    if (envp == NULL || pipe(fds) != 0) {
        free(envp);
        return result;
    }
    child_environment(envp, count, cache, pocl);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    pid_t pid;
    int spawned = posix_spawn(&pid, st->self_exe, &actions, NULL, argv, envp) == 0;
    posix_spawn_file_actions_destroy(&actions);
    free(envp);
    close(fds[1]);
    FILE *child = fdopen(fds[0], "r");
    char line[512];
    while (child && fgets(line, sizeof(line), child)) {
        char backend[32] = "";
        if (sscanf(line, "first_call %lf %lf %lf %lf %lf %d %31s", &result.create, &result.corpus,
                   &result.first, &result.second, &result.compile, &result.cache, backend) >= 6)
            result.ok = 1;
    }
    if (child)
        fclose(child);
    else
        close(fds[0]);
    int wstatus = 0;
    if (!spawned || waitpid(pid, &wstatus, 0) != pid || !WIFEXITED(wstatus) ||
        WEXITSTATUS(wstatus) != 0)
        result.ok = 0;
    return result;
}

static void remove_tree(const char *dir) {
    char command[1100];
    snprintf(command, sizeof(command), "rm -rf '%s'", dir);
    if (system(command) != 0) fprintf(stderr, "bench: could not remove %s\n", dir);
}

/* Cold: fresh program caches; warm: the same caches again. Both in new processes. */
void bench_first_call_measure(const run_state *st, const bench_path *path, const shape *sh,
                              row *r) {
    vs_device dev;
    if (st->self_exe[0] == '\0' || vs_device_info(path->opencl_device, &dev) != VS_OK) return;
    char cache_dir[] = "/tmp/vecscore-bench-cache-XXXXXX";
    char pocl_dir[] = "/tmp/vecscore-bench-pocl-XXXXXX";
    if (mkdtemp(cache_dir) == NULL) return;
    if (mkdtemp(pocl_dir) == NULL) {
        remove_tree(cache_dir);
        return;
    }
    first_call_result cold = first_call_spawn(st, dev.selector, sh, cache_dir, pocl_dir);
    first_call_result warm = first_call_spawn(st, dev.selector, sh, cache_dir, pocl_dir);
    remove_tree(cache_dir);
    remove_tree(pocl_dir);
    if (!cold.ok || !warm.ok) {
        snprintf(r->note + strlen(r->note), sizeof(r->note) - strlen(r->note),
                 "; first-call child failed");
        return;
    }
    r->has_first = 1;
    r->first_cold = cold.first;
    r->first_warm = warm.first;
    r->compile_cold = cold.compile;
    r->compile_warm = warm.compile;
    r->cache_cold = cold.cache;
    r->cache_warm = warm.cache;
    r->setup_cold = cold.create + cold.corpus;
    r->setup_warm = warm.create + warm.corpus;
}
