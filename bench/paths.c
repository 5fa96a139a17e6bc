/*
 * paths.c — the vecscore paths and the list of every path a run times.
 *
 * A vecscore path is a context with a device selector (and an ISA for the
 * CPU ones), timed through vs_corpus_score / vs_corpus_topk on a corpus made
 * once per shape (untimed), or through vs_score / vs_topk with the
 * candidates passed every call (vs-auto-oneshot). vs-auto-after-blas makes
 * an untimed OpenBLAS call of the same shape before each timed call.
 *
 * The list (build_paths): vs-<isa> for each ISA the CPU has, vs-<selector>
 * for each OpenCL device, vs-auto, vs-auto-oneshot, then each of the first
 * three on every compact storage (vs-avx2-f16, ..., vs-auto-i8-approx; fewer
 * in --quick, see add_storage_paths), then
 * the peers that this build has (OpenBLAS and vs-auto-after-blas, FAISS,
 * CLBlast on each OpenCL device) and the blog baselines; --paths selects
 * among them.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "harness.h"

typedef struct vs_state {
    vs_context *ctx;
    vs_corpus *corpus;
    unsigned shape_id;
    char selector[64];
    char isa[16];
    char driver[64];
    int interfere; /* run an OpenBLAS call (untimed) before each call */
    int oneshot;   /* vs_score / vs_topk with the candidates passed every call */
    float *interfere_scratch;
    size_t interfere_floats;
    vs_batch_report report;
    int reports;
    double transfer_sum, kernel_sum;
    vs_corpus_options storage; /* compact storage paths (vs-avx2-f16, ...): storage, exact */
    double rescored_sum;       /* fraction of the Q x N candidates rescored, summed over calls */
    size_t storage_q; /* compact storage in --quick: rows only where Q is this (0: every shape) */
} vs_state;

static int vs_supports(const bench_path *path, vs_metric metric, int topk, size_t q) {
    (void)metric;
    const vs_state *s = path->state;
    if (s->storage.storage == VS_STORAGE_F32) return 1;
    if (s->storage_q != 0 && q != s->storage_q) return 0; /* --quick: one shape */
    /* compact storage: top-k rows only (exact mode's score matrix is the float32 corpus's) */
    return topk;
}

static int vs_prepare(bench_path *path, const bench_problem *p) {
    vs_state *s = path->state;
    if (s->oneshot || (s->corpus && s->shape_id == p->shape_id)) return 0;
    vs_corpus_free(s->corpus);
    s->corpus = NULL;
    int status =
        vs_corpus_create_with(s->ctx, p->base, p->base_count, p->dim, &s->storage, &s->corpus);
    if (status != VS_OK) {
        snprintf(path->error, sizeof(path->error), "vs_corpus_create_with: %s",
                 vs_status_name(status));
        return -1;
    }
    s->shape_id = p->shape_id;
    if (s->interfere) {
        size_t need = p->queries_count * p->base_count;
        if (need > s->interfere_floats) {
            free(s->interfere_scratch);
            s->interfere_scratch = malloc(need * sizeof(float));
            s->interfere_floats = s->interfere_scratch ? need : 0;
            if (s->interfere_scratch == NULL) return -1;
        }
    }
    return 0;
}

static void vs_before_run(bench_path *path, const bench_problem *p) {
    vs_state *s = path->state;
    if (s->interfere) bench_blas_interfere(p, s->interfere_scratch);
}

static int vs_run(bench_path *path, const bench_problem *p) {
    vs_state *s = path->state;
    int status;
    if (s->oneshot)
        status = p->topk ? vs_topk(s->ctx, p->metric, p->queries, p->queries_count, p->base,
                                   p->base_count, p->dim, p->k, p->scores, p->ids)
                         : vs_score(s->ctx, p->metric, p->queries, p->queries_count, p->base,
                                    p->base_count, p->dim, p->scores);
    else
        status = p->topk ? vs_corpus_topk(s->corpus, p->metric, p->queries, p->queries_count, p->k,
                                          p->scores, p->ids)
                         : vs_corpus_score(s->corpus, p->metric, p->queries, p->queries_count,
                                           p->scores);
    if (status != VS_OK) {
        snprintf(path->error, sizeof(path->error), "%s: %s",
                 s->oneshot ? (p->topk ? "vs_topk" : "vs_score")
                            : (p->topk ? "vs_corpus_topk" : "vs_corpus_score"),
                 vs_status_name(status));
        return -1;
    }
    vs_context_last_report(s->ctx, &s->report);
    s->transfer_sum += s->report.transfer_seconds;
    s->kernel_sum += s->report.kernel_seconds;
    const double pairs = (double)p->queries_count * (double)p->base_count;
    s->rescored_sum += pairs > 0 ? (double)s->report.rescored / pairs : 0;
    s->reports++;
    return 0;
}

static void vs_info(bench_path *path, bench_path_info *out) {
    vs_state *s = path->state;
    const vs_batch_report *r = &s->report;
    snprintf(out->backend, sizeof(out->backend), "%s", r->backend);
    snprintf(out->isa, sizeof(out->isa), "%s", r->isa);
    snprintf(out->device, sizeof(out->device), "%s", r->device);
    snprintf(out->driver, sizeof(out->driver), "%s", s->driver);
    snprintf(out->fallback, sizeof(out->fallback), "%s", r->fallback);
    double reports = s->reports ? (double)s->reports : 1;
    char storage[96] = "";
    if (s->storage.storage != VS_STORAGE_F32)
        snprintf(storage, sizeof(storage), "; storage=%s %s, rescored fraction %.2g, bound %.3g",
                 vs_storage_name(s->storage.storage), s->storage.exact ? "exact" : "approximate",
                 s->rescored_sum / reports, r->max_error_bound);
    snprintf(out->settings, sizeof(out->settings), "%s; device=%s isa=%s threads=%d%s%s",
             s->oneshot ? "vs_score/vs_topk, candidates passed every call"
                        : "vs_corpus_* (corpus uploaded once, untimed)",
             s->selector, s->isa[0] ? s->isa : "(best)", r->threads,
             s->interfere ? "; an OpenBLAS call (untimed) before every timed call" : "", storage);
    out->threads = r->threads;
    out->has_report = 1;
    out->transfer_seconds = s->transfer_sum / reports;
    out->kernel_seconds = s->kernel_sum / reports;
    out->compile_seconds = r->compile_seconds;
    out->bytes_mapped = r->bytes_mapped;
    out->bytes_copied = r->bytes_copied;
    out->arena_high_water = r->arena_high_water_bytes;
    out->scratch_high_water = r->scratch_high_water_bytes;
    s->transfer_sum = s->kernel_sum = s->rescored_sum = 0;
    s->reports = 0;
}

static void vs_finish(bench_path *path) {
    (void)path; /* the corpus is kept while the shape lasts (see vs_prepare) */
}

static void vs_end_shape(bench_path *path) {
    vs_state *s = path->state;
    vs_corpus_free(s->corpus);
    s->corpus = NULL;
}

static void vs_destroy(bench_path *path) {
    vs_state *s = path->state;
    if (s) {
        vs_corpus_free(s->corpus);
        vs_context_free(s->ctx);
        free(s->interfere_scratch);
    }
    free(s);
    path->state = NULL;
}

static int vs_path(bench_path *path, const char *name, const char *device, const char *isa,
                   int interfere, int opencl_device, const char *driver) {
    vs_state *s = calloc(1, sizeof(*s));
    if (s == NULL) return 0;
    vs_corpus_options_init(&s->storage); /* float32, exact */
    vs_options opts;
    vs_options_init(&opts);
    opts.device = device;
    opts.isa = isa;
    opts.log_level = VS_LOG_ERROR;
    int status = vs_context_create(&opts, &s->ctx);
    if (status != VS_OK) {
        fprintf(stderr, "bench: path %s unavailable: vs_context_create: %s\n", name,
                vs_strerror(status));
        free(s);
        return 0;
    }
    snprintf(s->selector, sizeof(s->selector), "%s", device);
    snprintf(s->isa, sizeof(s->isa), "%s", isa ? isa : "");
    snprintf(s->driver, sizeof(s->driver), "%s", driver ? driver : "");
    s->interfere = interfere;
    memset(path, 0, sizeof(*path));
    snprintf(path->name, sizeof(path->name), "%s", name);
    path->kind = "vecscore";
    path->state = s;
    path->supports = vs_supports;
    path->prepare = vs_prepare;
    path->run = vs_run;
    path->before_run = interfere ? vs_before_run : NULL;
    path->info = vs_info;
    path->finish = vs_finish;
    path->end_shape = vs_end_shape;
    path->destroy = vs_destroy;
    path->opencl_device = opencl_device;
    return 1;
}

/* ---- the list of paths -------------------------------------------------------------------- */

/* Appends a vecscore path when --paths selects it and its context can be made. */
static bench_path *append_vs(run_state *st, const char *name, const char *device, const char *isa,
                             int interfere, int opencl_device, const char *driver) {
    if (st->npaths >= MAX_PATHS || !bench_path_selected(&st->opt, name)) return NULL;
    bench_path *path = &st->paths[st->npaths];
    if (!vs_path(path, name, device, isa, interfere, opencl_device, driver)) return NULL;
    st->npaths++;
    return path;
}

/* Keeps a peer's path when --paths selects it (and there is room), else releases it. */
static void append_peer(run_state *st, bench_path *peer) {
    if (st->npaths < MAX_PATHS && bench_path_selected(&st->opt, peer->name))
        st->paths[st->npaths++] = *peer;
    else
        peer->destroy(peer);
}

/*
 * The corpus paths, one per context kind: vs-<isa> for each ISA the CPU has
 * (auxiliary below the best one), vs-<selector> for each OpenCL device, and
 * vs-auto. add_corpus_paths times them on float32 corpora and
 * add_storage_paths on compact ones, so both lists come from here.
 */
typedef struct corpus_spec {
    char name[48];     /* the float32 path's name: vs-avx2, vs-opencl:0:0, vs-auto */
    char device[32];   /* selector */
    const char *isa;   /* NULL: the best */
    int opencl_device; /* vs_device index, -1 for none */
    char driver[64];   /* OpenCL driver version */
    int auxiliary;     /* 1: informative only (an ISA below the best) */
    int opencl_cpu;    /* 1: an OpenCL CPU device (PoCL) */
} corpus_spec;

#define MAX_SPECS 24

static int corpus_specs(corpus_spec *specs) {
    int count = 0;
    for (int i = 0; vs_cpu_isa_name(i) != NULL && count < MAX_SPECS; i++) {
        const char *isa = vs_cpu_isa_name(i); /* every ISA the library knows */
        if (!vs_cpu_isa_supported(isa)) continue;
        corpus_spec *c = &specs[count++];
        *c = (corpus_spec){.isa = isa, .opencl_device = -1};
        snprintf(c->name, sizeof(c->name), "vs-%s", isa);
        snprintf(c->device, sizeof(c->device), "cpu");
        c->auxiliary = strcmp(isa, vs_cpu_best_isa()) != 0;
    }
    const int devices = vs_device_count();
    for (int i = 1; i < devices && count < MAX_SPECS - 1; i++) { /* device 0 is the native CPU */
        vs_device dev;
        if (vs_device_info(i, &dev) != VS_OK) continue;
        corpus_spec *c = &specs[count++];
        *c = (corpus_spec){.opencl_device = i, .opencl_cpu = dev.kind == VS_DEVICE_OPENCL_CPU};
        snprintf(c->name, sizeof(c->name), "vs-%s", dev.selector);
        snprintf(c->device, sizeof(c->device), "%s", dev.selector);
        snprintf(c->driver, sizeof(c->driver), "%s", dev.driver_version);
    }
    corpus_spec *c = &specs[count++];
    *c = (corpus_spec){.opencl_device = -1};
    snprintf(c->name, sizeof(c->name), "vs-auto");
    snprintf(c->device, sizeof(c->device), "auto");
    return count;
}

/* The float32 corpus paths, then vs-auto-oneshot. */
static void add_corpus_paths(run_state *st) {
    corpus_spec specs[MAX_SPECS];
    const int count = corpus_specs(specs);
    for (int i = 0; i < count; i++) {
        const corpus_spec *c = &specs[i];
        bench_path *path = append_vs(st, c->name, c->device, c->isa, 0, c->opencl_device,
                                     c->driver[0] ? c->driver : NULL);
        if (path) path->auxiliary = c->auxiliary;
    }
    bench_path *oneshot = append_vs(st, "vs-auto-oneshot", "auto", NULL, 0, -1, NULL);
    if (oneshot) {
        ((vs_state *)oneshot->state)->oneshot = 1;
        oneshot->auxiliary = 1;
    }
}

/*
 * The query count of the one shape at which --quick times the storage rows:
 * the first shape with 8 or more queries (the many-query blocked compact
 * kernels run from 8 on AVX2), else the first shape. 16 for the default
 * quick shapes (16x20000x768).
 */
static size_t quick_storage_q(const options *o) {
    for (int i = 0; i < o->shapes.count; i++)
        if (o->shapes.items[i].q >= 8) return o->shapes.items[i].q;
    return o->shapes.count ? o->shapes.items[0].q : 0;
}

/*
 * Every corpus path on each compact storage: <path>-f16, -bf16, -i8 (e.g.
 * vs-avx2-f16, vs-opencl:0:0-i8, vs-auto-bf16) in exact mode (its answer is
 * the float32 corpus's, so the reference check applies unchanged; the
 * settings column gives the rescored fraction), then the same with -approx:
 * approximate mode, top-k only, judged by recall (path->approximate). A
 * storage path is auxiliary where its float32 path is, and on an OpenCL CPU
 * device (PoCL: a device for tests, whose compact rows are informative).
 *
 * --quick (a smoke run: CI's) without --paths keeps the storage rows of the
 * best ISA, the first OpenCL device and auto, at one shape (quick_storage_q):
 * they check the bench's storage plumbing against float64 on each backend;
 * every compact kernel on every ISA and OpenCL family is checked against
 * float64 by the compact and compact_cl suites (docs/benchmarks.md).
 */
static void add_storage_paths(run_state *st) {
    static const vs_storage storages[] = {VS_STORAGE_F16, VS_STORAGE_BF16, VS_STORAGE_I8};
    corpus_spec specs[MAX_SPECS];
    const int count = corpus_specs(specs);
    const int trim = st->opt.quick && st->opt.paths[0] == '\0';
    for (int exact = 1; exact >= 0; exact--)
        for (size_t s = 0; s < sizeof(storages) / sizeof(storages[0]); s++)
            for (int i = 0, opencl_seen = 0; i < count; i++) {
                const corpus_spec *c = &specs[i];
                /* --quick: no ISA below the best, no OpenCL device after the first */
                if (trim && (c->auxiliary || (c->opencl_device >= 0 && opencl_seen++ > 0)))
                    continue;
                char name[64];
                snprintf(name, sizeof(name), "%s-%s%s", c->name, vs_storage_name(storages[s]),
                         exact ? "" : "-approx");
                bench_path *path = append_vs(st, name, c->device, c->isa, 0, c->opencl_device,
                                             c->driver[0] ? c->driver : NULL);
                if (path == NULL) continue;
                ((vs_state *)path->state)->storage.storage = storages[s];
                ((vs_state *)path->state)->storage.exact = exact;
                ((vs_state *)path->state)->storage_q = trim ? quick_storage_q(&st->opt) : 0;
                path->approximate = !exact;
                path->auxiliary = c->auxiliary || c->opencl_cpu;
            }
}

static void add_blas_paths(run_state *st) {
    bench_path peer;
    if (!bench_blas_paths(&peer, 1)) return;
    append_peer(st, &peer);
    append_vs(st, "vs-auto-after-blas", "auto", NULL, 1, -1, NULL);
}

static void add_faiss_paths(run_state *st) {
    bench_path peers[3];
    int count = bench_faiss_paths(peers, 3);
    for (int i = 0; i < count; i++)
        append_peer(st, &peers[i]);
}

static void add_clblast_paths(run_state *st) {
    int devices = vs_device_count();
    for (int i = 1; i < devices; i++) {
        vs_device dev;
        bench_path peer;
        if (vs_device_info(i, &dev) == VS_OK &&
            bench_clblast_paths(&peer, 1, dev.platform_index, dev.device_index, dev.name))
            append_peer(st, &peer);
    }
}

static void add_blog_paths(run_state *st) {
    bench_path peers[2];
    int count = bench_blog_paths(peers, 2);
    for (int i = 0; i < count; i++)
        append_peer(st, &peers[i]);
}

/* In this order: the CSV rows, the stdout table and the plot styles follow it. */
static void (*const path_groups[])(run_state *st) = {add_corpus_paths,  add_storage_paths,
                                                     add_blas_paths,    add_faiss_paths,
                                                     add_clblast_paths, add_blog_paths};

int bench_paths_build(run_state *st) {
    st->npaths = 0;
    for (size_t i = 0; i < sizeof(path_groups) / sizeof(path_groups[0]); i++)
        path_groups[i](st);
    return st->npaths;
}

void bench_paths_destroy(run_state *st) {
    for (int i = 0; i < st->npaths; i++)
        st->paths[i].destroy(&st->paths[i]);
    st->npaths = 0;
}
