/*
 * workspace.c — the context's workspace pool (the memory one batch may use)
 * and running one batch on one backend in a workspace (vs__run_on), which
 * the public calls (host/api.c) and the calibration (host/cost.c) share.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void vs__workspace_destroy(vs__workspace *ws) {
    if (ws == NULL) return;
    vs_arena_destroy(&ws->staging);
    if (ws->scratch != NULL)
        for (int i = 0; i < ws->threads; i++)
            vs_arena_destroy(&ws->scratch[i]);
    free(ws->scratch);
    free(ws);
}

size_t vs__workspace_committed(const vs__workspace *ws) {
    size_t bytes = ws->staging.stats.committed;
    for (int i = 0; i < ws->threads; i++)
        bytes += ws->scratch[i].stats.committed;
    return bytes;
}

size_t vs__context_idle_committed(vs_context *ctx) {
    size_t bytes = 0;
    pthread_mutex_lock(&ctx->lock);
    for (const vs__workspace *ws = ctx->pool; ws != NULL; ws = ws->next)
        bytes += vs__workspace_committed(ws);
    pthread_mutex_unlock(&ctx->lock);
    return bytes;
}

/* Gives an arena's memory back down to keep + a quarter, if it holds half as much again. */
static void arena_shrink(vs_arena *arena, size_t keep) {
    size_t slack = keep / 2 + VS_ARENA_COMMIT_STEP;
    if (keep == 0 || arena->stats.committed > keep + slack)
        vs_arena_trim(arena, keep == 0 ? 0 : keep + keep / 4);
}

/*
 * Shrinks every arena of the workspace towards keep (0: gives everything
 * back). The slack matches the commit steps (which overshoot by at most a
 * quarter), so a steady workload never trims and re-commits the same pages.
 */
static void workspace_trim(vs__workspace *ws, size_t keep) {
    arena_shrink(&ws->staging, keep);
    for (int i = 0; i < ws->threads; i++)
        arena_shrink(&ws->scratch[i], keep);
    ws->trimmed = keep == 0;
}

/*
 * Takes, under ctx->lock, the idle workspaces after the first that have been
 * idle long enough to give their memory back, and those beyond the number of
 * reservations kept; the caller trims or destroys them without the lock.
 */
static vs__workspace *take_stale(vs_context *ctx, double now, vs__workspace **destroy) {
    vs__workspace *stale = NULL;
    *destroy = NULL;
    if (ctx->pool == NULL) return NULL;
    int kept = 0;
    for (vs__workspace **at = &ctx->pool->next; *at != NULL;) {
        vs__workspace *ws = *at;
        const int old = !ws->trimmed && now - ws->idle_since >= VS_WORKSPACE_IDLE_SECONDS;
        if (kept >= VS_WORKSPACE_IDLE_MAX || old) {
            *at = ws->next;
            vs__workspace **list = kept >= VS_WORKSPACE_IDLE_MAX ? destroy : &stale;
            ws->next = *list;
            *list = ws;
            continue;
        }
        kept++;
        at = &ws->next;
    }
    return stale;
}

/* Trims (or destroys) what take_stale took, then gives the trimmed ones back. */
static void put_stale(vs_context *ctx, vs__workspace *stale, vs__workspace *destroy) {
    while (destroy != NULL) {
        vs__workspace *next = destroy->next;
        vs__workspace_destroy(destroy);
        destroy = next;
    }
    if (stale == NULL) return;
    vs__workspace *last = stale;
    for (vs__workspace *ws = stale; ws != NULL; ws = ws->next) {
        workspace_trim(ws, 0);
        last = ws;
    }
    pthread_mutex_lock(&ctx->lock);
    /* Behind the first idle workspace (or first, if none is left). */
    vs__workspace **at = ctx->pool != NULL ? &ctx->pool->next : &ctx->pool;
    last->next = *at;
    *at = stale;
    pthread_mutex_unlock(&ctx->lock);
}

static vs__workspace *workspace_create(vs_context *ctx) {
    vs__workspace *ws = calloc(1, sizeof(*ws));
    if (ws == NULL) return NULL;
    ws->threads = ctx->cfg.threads;
    ws->scratch = calloc((size_t)ws->threads, sizeof(vs_arena));
    int status = ws->scratch != NULL ? VS_OK : VS_ERR_OUT_OF_MEMORY;
    /* Address space only; staging locks what it commits, within the context's budget. */
    if (status == VS_OK)
        status = vs_arena_reserve(&ws->staging, ctx->cfg.arena_bytes, 0, &ctx->lock_budget);
    for (int i = 0; status == VS_OK && i < ws->threads; i++)
        status = vs_arena_reserve(&ws->scratch[i], ctx->cfg.scratch_bytes, 0, NULL);
    if (status != VS_OK) {
        vs__log(vs__sink(ctx), VS_LOG_ERROR,
                "cannot reserve arenas: %zu B staging + %d x %zu B scratch of address space",
                ctx->cfg.arena_bytes, ws->threads, ctx->cfg.scratch_bytes);
        vs__workspace_destroy(ws);
        return NULL;
    }
    return ws;
}

int vs__workspace_acquire(vs_context *ctx, vs__workspace **out) {
    vs__workspace *destroy;
    pthread_mutex_lock(&ctx->lock);
    vs__workspace *ws = ctx->pool;
    if (ws != NULL) ctx->pool = ws->next;
    vs__workspace *stale = take_stale(ctx, vs__now(), &destroy);
    pthread_mutex_unlock(&ctx->lock);
    put_stale(ctx, stale, destroy);
    if (ws == NULL) {
        /* First batch, or more concurrent batches than idle workspaces. */
        ws = workspace_create(ctx);
        if (ws == NULL) return VS_ERR_OUT_OF_MEMORY;
    }
    ws->next = NULL;
    ws->trimmed = 0;
    vs_arena_stats_clear_high_water(&ws->staging);
    for (int i = 0; i < ws->threads; i++)
        vs_arena_stats_clear_high_water(&ws->scratch[i]);
    *out = ws;
    return VS_OK;
}

void vs__workspace_release(vs_context *ctx, vs__workspace *ws) {
    /*
     * Every batch ends with its arenas reset, on success and on error. What
     * stays committed follows recent use: the largest arena high-water mark
     * of this batch, or 7/8 of what was kept before, whichever is more.
     */
    size_t high = ws->staging.stats.high_water;
    for (int i = 0; i < ws->threads; i++)
        if (ws->scratch[i].stats.high_water > high) high = ws->scratch[i].stats.high_water;
    size_t decayed = ws->keep - ws->keep / 8;
    ws->keep = high > decayed ? high : decayed;
    vs_arena_reset(&ws->staging);
    for (int i = 0; i < ws->threads; i++)
        vs_arena_reset(&ws->scratch[i]);
    workspace_trim(ws, ws->keep);
    ws->trimmed = 0;
    vs__workspace *destroy;
    pthread_mutex_lock(&ctx->lock);
    ws->idle_since = vs__now();
    ws->next = ctx->pool;
    ctx->pool = ws;
    vs__workspace *stale = take_stale(ctx, ws->idle_since, &destroy);
    pthread_mutex_unlock(&ctx->lock);
    put_stale(ctx, stale, destroy);
}

/* ---- one batch on one backend ------------------------------------------------ */

/* Runs the batch on one backend, with the corpus data that backend owns. */
int vs__run_on(vs_context *ctx, const vs__backend_ops *ops, void *state, vs__batch *b,
               const vs_corpus *corpus) {
    if (corpus != NULL) b->corpus = ops == ctx->cpu ? corpus->cpu_data : corpus->data;
    if (ops != ctx->cpu) {
        /* An OpenCL backend stages through its own pinned arena. */
        b->ws = NULL;
        return b->k ? ops->topk(state, b) : ops->score(state, b);
    }
    vs__workspace *ws = NULL;
    int status = vs__workspace_acquire(ctx, &ws);
    if (status != VS_OK) return status;
    b->ws = ws;
    status = b->k ? ops->topk(state, b) : ops->score(state, b);
    vs_batch_report *report = b->report;
    report->arena_capacity_bytes = ws->staging.capacity;
    report->arena_high_water_bytes = ws->staging.stats.high_water;
    /* Pinned: the staging memory this batch used is all locked. */
    report->arena_pinned = ws->staging.stats.high_water > 0 &&
                           ws->staging.stats.locked >= ws->staging.stats.high_water;
    for (int i = 0; i < ws->threads; i++)
        if (ws->scratch[i].stats.high_water > report->scratch_high_water_bytes)
            report->scratch_high_water_bytes = ws->scratch[i].stats.high_water;
    report->workspace_bytes = vs__workspace_committed(ws);
    vs__workspace_release(ctx, ws);
    report->locked_bytes = atomic_load(&ctx->lock_budget.used);
    return status;
}
