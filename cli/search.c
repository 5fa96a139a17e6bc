/*
 * search.c — `vecscore topk` and `vecscore score`.
 *
 * topk streams BASE in chunks through the corpus API:
 *
 *   for each chunk of BASE rows [c0, c0 + C):          read C rows, vs_corpus_create
 *       for each batch of queries [q0, q0 + B):        read B rows
 *           vs_corpus_topk -> B x k (chunk-local ids)
 *           merge into the running top-k of those queries (ids + c0)
 *       vs_corpus_free
 *
 * so only one chunk, one query batch and the running results (queries x k)
 * are in memory; the full score matrix never exists. The merge keeps the
 * library's order: better score first, equal scores by lower global id, NaN
 * after every number, padding (id -1) last. Chunks are visited in id order.
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void cli_topk_help(FILE *out);
void cli_score_help(FILE *out);

#define DEFAULT_BATCH 1024
#define DEFAULT_CHUNK_BYTES ((uint64_t)256 << 20)
#define SCORE_BATCH_BYTES ((uint64_t)256 << 20)

typedef struct search_args {
    const char *cmd;
    const char *queries;
    const char *base;
    const char *output;
    const char *scores;
    const char *device;
    vs_metric metric;
    uint64_t k;
    uint64_t batch; /* 0 = default */
    uint64_t chunk; /* 0 = default */
    int threads;
    int report;
    int quiet;
    int reject_nonfinite;
    vs_corpus_options storage; /* --storage, --approx */
} search_args;

static int parse_metric(const char *text, vs_metric *out) {
    if (strcmp(text, "dot") == 0) {
        *out = VS_METRIC_DOT;
    } else if (strcmp(text, "cosine") == 0) {
        *out = VS_METRIC_COSINE;
    } else if (strcmp(text, "l2") == 0 || strcmp(text, "l2sq") == 0) {
        *out = VS_METRIC_L2SQ;
    } else {
        return -1;
    }
    return 0;
}

/* Single-valued options, for the "given more than once" check. */
enum {
    SEEN_QUERIES = 1 << 0,
    SEEN_BASE = 1 << 1,
    SEEN_OUTPUT = 1 << 2,
    SEEN_SCORES = 1 << 3,
    SEEN_DEVICE = 1 << 4,
    SEEN_METRIC = 1 << 5,
    SEEN_K = 1 << 6,
    SEEN_BATCH = 1 << 7,
    SEEN_CHUNK = 1 << 8,
    SEEN_THREADS = 1 << 9,
    SEEN_STORAGE = 1 << 10
};

/* Returns -1 to continue, or an exit code (help printed counts as 0). */
static int parse_search_args(int argc, char **argv, int is_topk, search_args *a) {
    memset(a, 0, sizeof(*a));
    a->cmd = is_topk ? "topk" : "score";
    a->metric = VS_METRIC_COSINE;
    vs_corpus_options_init(&a->storage);
    unsigned seen = 0;
#define ONCE(bit, names)                                                                           \
    do {                                                                                           \
        if (seen & (bit)) return cli_repeated(a->cmd, names);                                      \
        seen |= (bit);                                                                             \
    } while (0)
    for (int i = 0; i < argc; i++) {
        int missing = 0;
        const char *value;
        uint64_t number;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            if (is_topk)
                cli_topk_help(stdout);
            else
                cli_score_help(stdout);
            return EXIT_OK;
        } else if ((value = cli_option(argc, argv, &i, "--queries", "-q", &missing)) != NULL) {
            ONCE(SEEN_QUERIES, "-q/--queries");
            a->queries = value;
        } else if (!missing && (value = cli_option(argc, argv, &i, "--base", "-b", &missing))) {
            ONCE(SEEN_BASE, "-b/--base");
            a->base = value;
        } else if (!missing && (value = cli_option(argc, argv, &i, "--output", "-o", &missing))) {
            ONCE(SEEN_OUTPUT, "-o/--output");
            a->output = value;
        } else if (!missing && is_topk &&
                   (value = cli_option(argc, argv, &i, "--scores", NULL, &missing))) {
            ONCE(SEEN_SCORES, "--scores");
            a->scores = value;
        } else if (!missing && (value = cli_option(argc, argv, &i, "--device", NULL, &missing))) {
            ONCE(SEEN_DEVICE, "--device");
            a->device = value;
        } else if (!missing && (value = cli_option(argc, argv, &i, "--metric", "-m", &missing))) {
            ONCE(SEEN_METRIC, "-m/--metric");
            if (parse_metric(value, &a->metric) != 0)
                return cli_fail(EXIT_USAGE, a->cmd, "--metric '%s': expected dot, cosine or l2",
                                value);
        } else if (!missing && is_topk &&
                   (value = cli_option(argc, argv, &i, "-k", "--k", &missing))) {
            ONCE(SEEN_K, "-k");
            if (cli_parse_u64(value, 1, VS_IO_MAX_DIM, &a->k) != 0)
                return cli_fail(EXIT_USAGE, a->cmd, "-k '%s': expected 1 .. %u", value,
                                VS_IO_MAX_DIM);
        } else if (!missing && (value = cli_option(argc, argv, &i, "--batch", NULL, &missing))) {
            ONCE(SEEN_BATCH, "--batch");
            if (cli_parse_u64(value, 1, UINT32_MAX, &a->batch) != 0)
                return cli_fail(EXIT_USAGE, a->cmd, "--batch '%s': expected 1 .. 4294967295",
                                value);
        } else if (!missing && (value = cli_option(argc, argv, &i, "--chunk", NULL, &missing))) {
            ONCE(SEEN_CHUNK, "--chunk");
            if (cli_parse_u64(value, 1, UINT32_MAX, &a->chunk) != 0)
                return cli_fail(EXIT_USAGE, a->cmd, "--chunk '%s': expected 1 .. 4294967295",
                                value);
        } else if (!missing && (value = cli_option(argc, argv, &i, "--threads", "-t", &missing))) {
            ONCE(SEEN_THREADS, "-t/--threads");
            if (cli_parse_u64(value, 0, 4096, &number) != 0)
                return cli_fail(EXIT_USAGE, a->cmd, "--threads '%s': expected 0 .. 4096", value);
            a->threads = (int)number;
        } else if (!missing && strcmp(argv[i], "--report") == 0) {
            a->report = 1;
        } else if (!missing && strcmp(argv[i], "--quiet") == 0) {
            a->quiet = 1;
        } else if (!missing && strcmp(argv[i], "--reject-nonfinite") == 0) {
            a->reject_nonfinite = 1;
        } else if (!missing &&
                   (value = cli_option(argc, argv, &i, "--storage", NULL, &missing)) != NULL) {
            ONCE(SEEN_STORAGE, "--storage");
            if (vs_storage_parse(value, &a->storage.storage) != 0)
                return cli_fail(EXIT_USAGE, a->cmd, "--storage '%s': expected f32, f16, bf16 or i8",
                                value);
        } else if (!missing && strcmp(argv[i], "--approx") == 0) {
            a->storage.exact = 0;
        } else if (missing) {
            return cli_fail(EXIT_USAGE, a->cmd, "%s needs a value", argv[i]);
        } else {
            return cli_fail(EXIT_USAGE, a->cmd, "unknown argument '%s'; see 'vecscore %s --help'",
                            argv[i], a->cmd);
        }
    }
#undef ONCE
    static const char *const topk_required[] = {"-q", "-b", "-k", "-o"};
    static const char *const score_required[] = {"-q", "-b", "-o"};
    int present[4] = {a->queries != NULL, a->base != NULL, is_topk ? a->k != 0 : a->output != NULL,
                      a->output != NULL};
    int code =
        cli_require(a->cmd, is_topk ? 4 : 3, is_topk ? topk_required : score_required, present);
    if (code >= 0) return code;
    if (strcmp(a->queries, "-") == 0 && strcmp(a->base, "-") == 0)
        return cli_fail(EXIT_USAGE, a->cmd,
                        "-q and -b cannot both be - (there is one standard input)");
    return -1;
}

/* A corpus of the storage the options ask for (--storage, --approx). */
static int corpus_create(vs_context *ctx, const search_args *a, const float *rows, uint64_t n,
                         size_t dim, vs_corpus **out) {
    return vs_corpus_create_with(ctx, rows, n, dim, &a->storage, out);
}

/* ---- inputs -------------------------------------------------------------------------- */

typedef struct inputs {
    vs_reader *queries;
    vs_reader *base;
    unsigned char *queries_owned, *base_owned; /* standard input, read whole */
    uint64_t nq, nb, dim;
} inputs;

static void close_inputs(inputs *in) {
    cli_close_input(in->queries, in->queries_owned);
    cli_close_input(in->base, in->base_owned);
    memset(in, 0, sizeof(*in));
}

static int open_inputs(const search_args *a, inputs *in) {
    memset(in, 0, sizeof(*in));
    unsigned flags = a->reject_nonfinite ? VS_READ_REJECT_NONFINITE : 0;
    int code = cli_open_input(a->cmd, a->queries, flags, 0, &in->queries, &in->queries_owned);
    if (code == EXIT_OK)
        code = cli_open_input(a->cmd, a->base, flags, 0, &in->base, &in->base_owned);
    if (code != EXIT_OK) {
        close_inputs(in);
        return code;
    }
    const vs_reader_info *qi = vs_reader_get_info(in->queries);
    const vs_reader_info *bi = vs_reader_get_info(in->base);
    if (qi->dim != bi->dim) {
        cli_fail(
            EXIT_INPUT, a->cmd, "%s has dimension %llu but %s has dimension %llu; they must match",
            strcmp(a->queries, "-") == 0 ? CLI_STDIN_NAME : a->queries, (unsigned long long)qi->dim,
            strcmp(a->base, "-") == 0 ? CLI_STDIN_NAME : a->base, (unsigned long long)bi->dim);
        close_inputs(in);
        return EXIT_INPUT;
    }
    in->nq = qi->rows;
    in->nb = bi->rows;
    in->dim = qi->dim;
    return -1;
}

/* ---- outputs --------------------------------------------------------------------------- */

enum out_kind { OUT_VECTORS, OUT_TSV, OUT_JSON, OUT_STDOUT };

typedef struct output {
    enum out_kind kind;
    vs_writer *writer; /* OUT_VECTORS, until finished */
    vs_outfile *file;  /* OUT_TSV, OUT_JSON; OUT_VECTORS once finished */
    FILE *stream;      /* text stream (the file's, or stdout) */
    const char *path;
} output;

static int output_kind(const char *path, enum out_kind *kind, vs_file_format *format) {
    if (strcmp(path, "-") == 0) {
        *kind = OUT_STDOUT;
        return 0;
    }
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (dot != NULL && (slash == NULL || dot > slash)) {
        if (strcmp(dot, ".tsv") == 0) {
            *kind = OUT_TSV;
            return 0;
        }
        if (strcmp(dot, ".json") == 0) {
            *kind = OUT_JSON;
            return 0;
        }
    }
    *kind = OUT_VECTORS;
    *format = vs_file_format_from_path(path);
    if (*format != VS_FORMAT_UNKNOWN) return 0;
    /* /dev/null, /dev/stdout, a FIFO without an extension: TSV, as for - */
    if (vs_outfile_writes_through(path)) *kind = OUT_TSV;
    return *kind == OUT_TSV ? 0 : -1;
}

/* An output that names an input or the other output (also through a link,
 * or ./x for x) is refused before any work: writing it would destroy that
 * file. Compared by device and inode (vs_path_same_file). */
static int check_distinct(const search_args *a) {
    const char *sources[2] = {a->queries, a->base}, *input_opts[2] = {"-q", "-b"};
    const char *outputs[2] = {a->output, a->scores}, *output_opts[2] = {"-o", "--scores"};
    for (int o = 0; o < 2; o++) {
        if (outputs[o] == NULL || strcmp(outputs[o], "-") == 0) continue;
        for (int i = 0; i < 2; i++) {
            const char *input = strcmp(sources[i], "-") == 0 ? "/dev/stdin" : sources[i];
            if (vs_path_same_file(outputs[o], input))
                return cli_fail(EXIT_USAGE, a->cmd,
                                "%s %s is the same file as %s %s; refusing to overwrite an input",
                                output_opts[o], outputs[o], input_opts[i], sources[i]);
        }
    }
    if (a->scores != NULL && vs_path_same_file(a->output, a->scores))
        return cli_fail(EXIT_USAGE, a->cmd,
                        "-o %s and --scores %s are the same file; one would overwrite the other",
                        a->output, a->scores);
    return -1;
}

static int output_open_text(const char *cmd, const char *path, enum out_kind kind, output *o) {
    memset(o, 0, sizeof(*o));
    o->kind = kind;
    o->path = path;
    if (kind == OUT_STDOUT) {
        o->stream = stdout;
        return -1;
    }
    if (cli_output_open(cmd, path, &o->file) != EXIT_OK) return EXIT_OUTPUT;
    o->stream = vs_outfile_stream(o->file);
    return -1;
}

static int output_open_vectors(const char *cmd, const char *path, vs_file_format format,
                               vs_dtype dtype, uint64_t dim, uint64_t rows, output *o) {
    memset(o, 0, sizeof(*o));
    o->kind = OUT_VECTORS;
    o->path = path;
    return cli_writer_open(cmd, path, format, dtype, dim, rows, &o->writer) == EXIT_OK
               ? -1
               : EXIT_OUTPUT;
}

static void output_abort(output *o) {
    cli_writer_abort(o->writer);
    cli_output_abort(o->file);
    memset(o, 0, sizeof(*o));
}

/* Commits the outputs of one run as a set (cli_commit): each is finished
 * (flushed and synced) first, and only then are they renamed, in the order
 * given; the main output goes last, so a new -o means the whole set is in
 * place. Unused entries (all zero) are skipped. */
static int outputs_commit(const char *cmd, output *const *outs, size_t count) {
    vs_outfile *files[2] = {NULL, NULL};
    int code = count <= 2 ? EXIT_OK : EXIT_OUTPUT;
    for (size_t i = 0; i < count && code == EXIT_OK; i++) {
        output *o = outs[i];
        if (o->kind == OUT_STDOUT) {
            errno = 0;
            if (fflush(stdout) != 0 || ferror(stdout)) code = cli_stdout_failed(cmd);
        } else if (o->writer != NULL) {
            code = cli_writer_finish(cmd, o->writer, &o->file);
            o->writer = NULL;
        }
    }
    if (code != EXIT_OK) return code; /* the caller aborts what is left */
    for (size_t i = 0; i < count; i++) {
        files[i] = outs[i]->file;
        outs[i]->file = NULL;
    }
    return cli_commit(cmd, files, count) == EXIT_OK ? -1 : EXIT_OUTPUT;
}

/* A failed write: stops the run at once (exit 4). */
static int output_write_error(const char *cmd, output *o) {
    int saved = errno;
    if (o->writer) return cli_fail(EXIT_OUTPUT, cmd, "%s", vs_writer_error(o->writer));
    if (o->kind == OUT_STDOUT) return cli_stdout_failed(cmd);
    return cli_fail(EXIT_OUTPUT, cmd, "%s: write failed: %s", o->path,
                    saved ? strerror(saved) : "stream error");
}

/* Scores in text: %.9g round-trips float32; JSON has no inf/NaN, so null. */
static void text_score(FILE *f, float score, int json) {
    if (json && !isfinite(score))
        fputs("null", f);
    else if (isnan(score))
        fputs("nan", f);
    else if (isinf(score))
        fputs(score > 0 ? "inf" : "-inf", f);
    else
        fprintf(f, "%.9g", (double)score);
}

/* ---- report --------------------------------------------------------------------------- */

typedef struct totals {
    uint64_t chunks;
    uint64_t batches;
    double kernel_seconds;
    double total_seconds;
    uint64_t arena_high_water;
} totals;

static void totals_add(vs_context *ctx, totals *t) {
    vs_batch_report r;
    if (vs_context_last_report(ctx, &r) != 0) return;
    t->batches++;
    t->kernel_seconds += r.kernel_seconds;
    if (r.arena_high_water_bytes > t->arena_high_water)
        t->arena_high_water = r.arena_high_water_bytes;
}

static void print_report(vs_context *ctx, const totals *t, double seconds) {
    vs_batch_report r;
    if (vs_context_last_report(ctx, &r) != 0) return;
    size_t need = vs_batch_report_format(&r, NULL, 0);
    char *text = malloc(need + 1);
    if (text != NULL) {
        vs_batch_report_format(&r, text, need + 1);
        fprintf(stderr, "# last batch\n%s", text);
        free(text);
    }
    fprintf(stderr,
            "# whole run\nchunks=%llu\nbatches=%llu\nkernel_seconds_sum=%.6f\n"
            "arena_high_water_bytes_max=%llu\nwall_seconds=%.6f\npeak_rss_bytes=%llu\n",
            (unsigned long long)t->chunks, (unsigned long long)t->batches, t->kernel_seconds,
            (unsigned long long)t->arena_high_water, seconds,
            (unsigned long long)cli_peak_rss_bytes());
}

static int library_fail(const char *cmd, const cli_log *log, const char *what, int rc) {
    return cli_fail(EXIT_DEVICE, cmd, "%s failed: %s (%s)", what,
                    log->last[0] ? log->last : vs_strerror(rc), vs_status_name(rc));
}

/* ---- topk ------------------------------------------------------------------------------ */

static uint64_t default_chunk(uint64_t dim) {
    uint64_t rows = DEFAULT_CHUNK_BYTES / (dim * sizeof(float));
    return rows > 0 ? rows : 1;
}

int cli_topk(int argc, char **argv) {
    search_args a;
    int code = parse_search_args(argc, argv, 1, &a);
    if (code >= 0) return code;
    const char *cmd = a.cmd;

    /* Output formats first: a bad name is a usage error before any work. */
    enum out_kind kind;
    vs_file_format format = VS_FORMAT_UNKNOWN, scores_format = VS_FORMAT_UNKNOWN;
    if (output_kind(a.output, &kind, &format) != 0 ||
        (kind == OUT_VECTORS && format != VS_FORMAT_IVECS && format != VS_FORMAT_IBIN &&
         format != VS_FORMAT_NPY))
        return cli_fail(EXIT_USAGE, cmd,
                        "%s: results are written as .ivecs, .ibin, .npy, .tsv, .json or - "
                        "(TSV on stdout)",
                        a.output);
    if (a.scores != NULL) {
        if (kind != OUT_VECTORS)
            return cli_fail(EXIT_USAGE, cmd,
                            "--scores goes with .ivecs/.ibin/.npy results; .tsv, .json and - "
                            "already hold the scores");
        scores_format = vs_file_format_from_path(a.scores);
        if (scores_format == VS_FORMAT_UNKNOWN && vs_outfile_writes_through(a.scores))
            scores_format = VS_FORMAT_FVECS; /* /dev/null, a FIFO: .fvecs */
        if (scores_format != VS_FORMAT_FVECS && scores_format != VS_FORMAT_FBIN &&
            scores_format != VS_FORMAT_NPY)
            return cli_fail(EXIT_USAGE, cmd, "--scores %s: expected .fvecs, .fbin or .npy",
                            a.scores);
    }
    if ((code = check_distinct(&a)) >= 0) return code;

    inputs in;
    if ((code = open_inputs(&a, &in)) >= 0) return code;
    uint64_t k = a.k, nq = in.nq, nb = in.nb, dim = in.dim;
    if (nb > (uint64_t)INT32_MAX && (format == VS_FORMAT_IVECS || format == VS_FORMAT_IBIN)) {
        close_inputs(&in);
        return cli_fail(EXIT_USAGE, cmd, "%s has %llu rows: ids do not fit .%s (int32); use .npy",
                        a.base, (unsigned long long)nb, vs_file_format_name(format));
    }
    uint64_t batch = a.batch ? a.batch : DEFAULT_BATCH;
    if (batch > nq) batch = nq;
    uint64_t chunk = a.chunk ? a.chunk : default_chunk(dim);
    if (chunk > nb) chunk = nb;

    /* Sizes: every product checked before allocating. */
    uint64_t results, qbytes, cbytes, bbytes;
    if (!cli_mul(nq, k, &results) || !cli_mul(results, 12, &results) ||
        !cli_mul(batch, dim * 4, &qbytes) || !cli_mul(chunk, dim * 4, &cbytes) ||
        !cli_mul(batch, k * 12, &bbytes) || results > SIZE_MAX || qbytes > SIZE_MAX ||
        cbytes > SIZE_MAX || bbytes > SIZE_MAX) {
        close_inputs(&in);
        return cli_fail(EXIT_USAGE, cmd,
                        "%llu queries x k %llu (or the batch/chunk) overflow "
                        "this machine's sizes",
                        (unsigned long long)nq, (unsigned long long)k);
    }

    output ids_out = {0}, scores_out = {0};
    if (kind == OUT_VECTORS) {
        code = output_open_vectors(cmd, a.output, format,
                                   format == VS_FORMAT_NPY ? VS_DTYPE_I64 : VS_DTYPE_I32, k, nq,
                                   &ids_out);
        if (code < 0 && a.scores != NULL) {
            code =
                output_open_vectors(cmd, a.scores, scores_format, VS_DTYPE_F32, k, nq, &scores_out);
            if (code >= 0) output_abort(&ids_out);
        }
    } else {
        code = output_open_text(cmd, a.output, kind, &ids_out);
    }
    if (code >= 0) {
        close_inputs(&in);
        return code;
    }

    cli_log log = {a.quiet, ""};
    vs_context *ctx = NULL;
    float *best_scores = malloc(nq * k * sizeof(float));
    int64_t *best_ids = malloc(nq * k * sizeof(int64_t));
    float *qbuf = malloc(batch * dim * sizeof(float));
    float *cbuf = malloc(chunk * dim * sizeof(float));
    float *batch_scores = malloc(batch * k * sizeof(float));
    int64_t *batch_ids = malloc(batch * k * sizeof(int64_t));
    totals t = {0};
    double started = cli_now();
    if (!best_scores || !best_ids || !qbuf || !cbuf || !batch_scores || !batch_ids) {
        code = cli_fail(EXIT_DEVICE, cmd, "out of memory for %llu queries x k %llu",
                        (unsigned long long)nq, (unsigned long long)k);
        goto done;
    }
    if ((code = cli_context(cmd, a.device, a.threads, &log, &ctx)) != EXIT_OK) goto done;
    code = -1;

    int distance = a.metric == VS_METRIC_L2SQ;
    for (uint64_t i = 0; i < nq * k; i++) {
        best_scores[i] = distance ? INFINITY : -INFINITY;
        best_ids[i] = -1;
    }
    int queries_resident = batch == nq; /* one batch: read the queries once */
    if (queries_resident && vs_reader_read_f32(in.queries, 0, nq, qbuf) != 0) {
        code = cli_fail(EXIT_INPUT, cmd, "%s", vs_reader_error(in.queries));
        goto done;
    }
    cli_progress progress;
    cli_progress_start(&progress, a.quiet, "scores");
    uint64_t work_total = nq * nb, work_done = 0;
    for (uint64_t c0 = 0; c0 < nb && code < 0; c0 += chunk) {
        uint64_t cn = nb - c0 < chunk ? nb - c0 : chunk;
        if (vs_reader_read_f32(in.base, c0, cn, cbuf) != 0) {
            code = cli_fail(EXIT_INPUT, cmd, "%s", vs_reader_error(in.base));
            break;
        }
        cli_test_chunk_read();
        vs_corpus *corpus = NULL;
        int rc = corpus_create(ctx, &a, cbuf, cn, dim, &corpus);
        if (rc != 0) {
            code = library_fail(cmd, &log, "vs_corpus_create_with", rc);
            break;
        }
        t.chunks++;
        for (uint64_t q0 = 0; q0 < nq; q0 += batch) {
            uint64_t qn = nq - q0 < batch ? nq - q0 : batch;
            if (!queries_resident && vs_reader_read_f32(in.queries, q0, qn, qbuf) != 0) {
                code = cli_fail(EXIT_INPUT, cmd, "%s", vs_reader_error(in.queries));
                break;
            }
            rc = vs_corpus_topk(corpus, a.metric, qbuf, qn, k, batch_scores, batch_ids);
            if (rc != 0) {
                code = library_fail(cmd, &log, "vs_corpus_topk", rc);
                break;
            }
            totals_add(ctx, &t);
            rc = vs_topk_merge(a.metric, qn, k, best_scores + q0 * k, best_ids + q0 * k,
                               batch_scores, batch_ids, (int64_t)c0);
            if (rc != 0) {
                code = library_fail(cmd, &log, "vs_topk_merge", rc);
                break;
            }
            work_done += qn * cn;
            cli_progress_update(&progress, work_done, work_total);
        }
        vs_corpus_free(corpus);
    }
    cli_progress_finish(&progress);
    if (code >= 0) goto done;

    /* Results. */
    if (kind == OUT_VECTORS) {
        if (vs_writer_write_i64(ids_out.writer, best_ids, nq) != 0) {
            code = output_write_error(cmd, &ids_out);
            goto done;
        }
        if (scores_out.writer && vs_writer_write_f32(scores_out.writer, best_scores, nq) != 0) {
            code = output_write_error(cmd, &scores_out);
            goto done;
        }
    } else {
        FILE *f = ids_out.stream;
        int json = kind == OUT_JSON;
        if (json)
            fprintf(f, "{\"metric\": \"%s\", \"k\": %llu, \"results\": [\n",
                    vs_metric_name(a.metric), (unsigned long long)k);
        else
            fprintf(f, "query\trank\tid\tscore\n");
        for (uint64_t q = 0; q < nq; q++) {
            if (ferror(f)) { /* stop at the first failed write */
                code = output_write_error(cmd, &ids_out);
                goto done;
            }
            if (json) {
                fprintf(f, "  {\"query\": %llu, \"ids\": [", (unsigned long long)q);
                for (uint64_t r = 0; r < k; r++)
                    fprintf(f, "%s%lld", r ? ", " : "", (long long)best_ids[q * k + r]);
                fprintf(f, "], \"scores\": [");
                for (uint64_t r = 0; r < k; r++) {
                    if (r) fputs(", ", f);
                    text_score(f, best_scores[q * k + r], 1);
                }
                fprintf(f, "]}%s\n", q + 1 < nq ? "," : "");
            } else {
                for (uint64_t r = 0; r < k; r++) {
                    fprintf(f, "%llu\t%llu\t%lld\t", (unsigned long long)q, (unsigned long long)r,
                            (long long)best_ids[q * k + r]);
                    text_score(f, best_scores[q * k + r], 0);
                    fputc('\n', f);
                }
            }
        }
        if (json) fprintf(f, "]}\n");
        if (ferror(f)) {
            code = output_write_error(cmd, &ids_out);
            goto done;
        }
    }
    output *set[2] = {&scores_out, &ids_out}; /* -o last */
    if ((code = outputs_commit(cmd, set, 2)) >= 0) goto done;
    code = EXIT_OK;
    if (a.report) print_report(ctx, &t, cli_now() - started);

done:
    output_abort(&ids_out);
    output_abort(&scores_out);
    vs_context_free(ctx);
    close_inputs(&in);
    free(best_scores);
    free(best_ids);
    free(qbuf);
    free(cbuf);
    free(batch_scores);
    free(batch_ids);
    return code;
}

/* ---- score ----------------------------------------------------------------------------- */

int cli_score(int argc, char **argv) {
    search_args a;
    int code = parse_search_args(argc, argv, 0, &a);
    if (code >= 0) return code;
    const char *cmd = a.cmd;

    enum out_kind kind;
    vs_file_format format = VS_FORMAT_UNKNOWN;
    if (output_kind(a.output, &kind, &format) != 0 ||
        (kind == OUT_VECTORS && format != VS_FORMAT_FVECS && format != VS_FORMAT_FBIN &&
         format != VS_FORMAT_NPY))
        return cli_fail(EXIT_USAGE, cmd,
                        "%s: scores are written as .fvecs, .fbin, .npy, .tsv, .json or - (TSV "
                        "on stdout)",
                        a.output);
    if ((code = check_distinct(&a)) >= 0) return code;
    inputs in;
    if ((code = open_inputs(&a, &in)) >= 0) return code;
    uint64_t nq = in.nq, nb = in.nb, dim = in.dim;
    if (kind == OUT_VECTORS && nb > VS_IO_MAX_DIM) {
        close_inputs(&in);
        return cli_fail(EXIT_USAGE, cmd,
                        "%s has %llu rows: a score row that wide exceeds the %u-element limit of "
                        "vector files; use .tsv or topk",
                        a.base, (unsigned long long)nb, VS_IO_MAX_DIM);
    }
    uint64_t batch = a.batch ? a.batch : SCORE_BATCH_BYTES / (nb * sizeof(float));
    if (batch == 0) batch = 1;
    if (batch > nq) batch = nq;
    uint64_t chunk = a.chunk ? a.chunk : default_chunk(dim);
    if (chunk > nb) chunk = nb;
    uint64_t sbytes, qbytes, cbytes;
    if (!cli_mul(batch, nb * 4, &sbytes) || !cli_mul(batch, dim * 4, &qbytes) ||
        !cli_mul(chunk, dim * 4, &cbytes) || sbytes > SIZE_MAX || qbytes > SIZE_MAX ||
        cbytes > SIZE_MAX) {
        close_inputs(&in);
        return cli_fail(EXIT_USAGE, cmd,
                        "batch %llu x %llu base rows overflows this machine's "
                        "sizes",
                        (unsigned long long)batch, (unsigned long long)nb);
    }

    output out = {0};
    code = kind == OUT_VECTORS
               ? output_open_vectors(cmd, a.output, format, VS_DTYPE_F32, nb, nq, &out)
               : output_open_text(cmd, a.output, kind, &out);
    if (code >= 0) {
        close_inputs(&in);
        return code;
    }

    cli_log log = {a.quiet, ""};
    vs_context *ctx = NULL;
    vs_corpus *corpus = NULL;
    float *scores = malloc(batch * nb * sizeof(float));
    float *qbuf = malloc(batch * dim * sizeof(float));
    float *cbuf = malloc(chunk * dim * sizeof(float));
    float *part = chunk < nb ? malloc(batch * chunk * sizeof(float)) : NULL;
    totals t = {0};
    double started = cli_now();
    if (!scores || !qbuf || !cbuf || (chunk < nb && !part)) {
        code = cli_fail(EXIT_DEVICE, cmd, "out of memory for a batch of %llu x %llu scores",
                        (unsigned long long)batch, (unsigned long long)nb);
        goto done;
    }
    if ((code = cli_context(cmd, a.device, a.threads, &log, &ctx)) != EXIT_OK) goto done;
    code = -1;
    int rc;
    if (chunk == nb) { /* the whole base fits one chunk: one corpus for every batch */
        if (vs_reader_read_f32(in.base, 0, nb, cbuf) != 0) {
            code = cli_fail(EXIT_INPUT, cmd, "%s", vs_reader_error(in.base));
            goto done;
        }
        cli_test_chunk_read();
        if ((rc = corpus_create(ctx, &a, cbuf, nb, dim, &corpus)) != 0) {
            code = library_fail(cmd, &log, "vs_corpus_create_with", rc);
            goto done;
        }
        t.chunks = 1;
    }
    int json = kind == OUT_JSON;
    if (json) fprintf(out.stream, "{\"metric\": \"%s\", \"scores\": [\n", vs_metric_name(a.metric));
    if (kind == OUT_TSV || kind == OUT_STDOUT) fprintf(out.stream, "query\tid\tscore\n");
    cli_progress progress;
    cli_progress_start(&progress, a.quiet, "scores");
    for (uint64_t q0 = 0; q0 < nq && code < 0; q0 += batch) {
        uint64_t qn = nq - q0 < batch ? nq - q0 : batch;
        if (vs_reader_read_f32(in.queries, q0, qn, qbuf) != 0) {
            code = cli_fail(EXIT_INPUT, cmd, "%s", vs_reader_error(in.queries));
            break;
        }
        if (corpus != NULL) {
            if ((rc = vs_corpus_score(corpus, a.metric, qbuf, qn, scores)) != 0) {
                code = library_fail(cmd, &log, "vs_corpus_score", rc);
                break;
            }
            totals_add(ctx, &t);
        } else {
            for (uint64_t c0 = 0; c0 < nb; c0 += chunk) {
                uint64_t cn = nb - c0 < chunk ? nb - c0 : chunk;
                if (vs_reader_read_f32(in.base, c0, cn, cbuf) != 0) {
                    code = cli_fail(EXIT_INPUT, cmd, "%s", vs_reader_error(in.base));
                    break;
                }
                cli_test_chunk_read();
                /* The corpus path, as for a single chunk, so that chunked and
                 * one-piece runs give bit-identical scores. */
                vs_corpus *piece = NULL;
                if ((rc = corpus_create(ctx, &a, cbuf, cn, dim, &piece)) != 0) {
                    code = library_fail(cmd, &log, "vs_corpus_create_with", rc);
                    break;
                }
                rc = vs_corpus_score(piece, a.metric, qbuf, qn, part);
                vs_corpus_free(piece);
                if (rc != 0) {
                    code = library_fail(cmd, &log, "vs_corpus_score", rc);
                    break;
                }
                totals_add(ctx, &t);
                t.chunks++;
                for (uint64_t i = 0; i < qn; i++)
                    memcpy(scores + i * nb + c0, part + i * cn, cn * sizeof(float));
            }
            if (code >= 0) break;
        }
        if (kind == OUT_VECTORS) {
            if (vs_writer_write_f32(out.writer, scores, qn) != 0) {
                code = output_write_error(cmd, &out);
                break;
            }
        } else {
            for (uint64_t i = 0; i < qn; i++) {
                uint64_t q = q0 + i;
                if (json) fputs("  [", out.stream);
                for (uint64_t j = 0; j < nb; j++) {
                    if (json) {
                        if (j) fputs(", ", out.stream);
                    } else {
                        fprintf(out.stream, "%llu\t%llu\t", (unsigned long long)q,
                                (unsigned long long)j);
                    }
                    text_score(out.stream, scores[i * nb + j], json);
                    if (!json) fputc('\n', out.stream);
                }
                if (json) fprintf(out.stream, "]%s\n", q + 1 < nq ? "," : "");
                if (ferror(out.stream)) { /* stop at the first failed write */
                    code = output_write_error(cmd, &out);
                    break;
                }
            }
            if (code >= 0) break;
        }
        cli_progress_update(&progress, (q0 + qn) * nb, nq * nb);
    }
    cli_progress_finish(&progress);
    if (code >= 0) goto done;
    if (json) fprintf(out.stream, "]}\n");
    if (kind != OUT_VECTORS && ferror(out.stream)) {
        code = output_write_error(cmd, &out);
        goto done;
    }
    output *set[1] = {&out};
    if ((code = outputs_commit(cmd, set, 1)) >= 0) goto done;
    code = EXIT_OK;
    if (a.report) print_report(ctx, &t, cli_now() - started);

done:
    output_abort(&out);
    vs_corpus_free(corpus);
    vs_context_free(ctx);
    close_inputs(&in);
    free(scores);
    free(qbuf);
    free(cbuf);
    free(part);
    return code;
}
