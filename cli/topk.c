/*
 * topk.c — `vecscore topk`.
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
 * The inputs, context, outputs and report are the search session's
 * (session.c).
 */
#include "session.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void cli_topk_help(FILE *out) {
    cli_help(out,
             "usage: vecscore topk -q QUERIES -b BASE -k K [--metric dot|cosine|l2]\n"
             "                     [--device SEL] -o RESULT [--scores SCORES]\n"
             "                     [--batch N] [--chunk N] [--threads N] [--report]\n"
             "                     [--quiet] [--reject-nonfinite]\n"
             "                     [--storage f32|f16|bf16|i8] [--approx]\n"
             "\n"
             "The best K rows of BASE for every row of QUERIES, best first. Ids are\n"
             "0-based row numbers of BASE; equal scores order by lower id, NaN last;\n"
             "when K exceeds BASE's rows the tail is id -1 with score -inf (dot,\n"
             "cosine) or +inf (l2).\n",
             CLI_CMD_TOPK, 21,
             "\n"
             "Memory: about (chunk + batch) x dim x 4 bytes for vectors, twice the chunk\n"
             "for the library's copy, (queries + batch) x K x 12 bytes for results, plus\n"
             "the library's arenas (see docs/cli.md).\n");
}

/* The buffers of one run. */
typedef struct topk_buffers {
    float *best_scores; /* nq x k, the running result */
    int64_t *best_ids;
    float *qbuf; /* batch x dim */
    float *cbuf; /* chunk rows of BASE, base_row_bytes each (float32 or float16 bits) */
    float *batch_scores;
    int64_t *batch_ids; /* batch x k */
} topk_buffers;

static void buffers_free(topk_buffers *b) {
    free(b->best_scores);
    free(b->best_ids);
    free(b->qbuf);
    free(b->cbuf);
    free(b->batch_scores);
    free(b->batch_ids);
}

/* Output formats first: a bad name is a usage error before any work. */
static int topk_formats(cli_session *s, const cli_search *a) {
    if (cli_output_kind(a->output, &s->kind, &s->format) != 0 ||
        (s->kind == CLI_OUT_VECTORS && s->format != VS_FORMAT_IVECS &&
         s->format != VS_FORMAT_IBIN && s->format != VS_FORMAT_NPY))
        return cli_fail(EXIT_USAGE, s->cmd,
                        "%s: results are written as .ivecs, .ibin, .npy, .tsv, .json or - "
                        "(TSV on stdout)",
                        a->output);
    if (a->scores != NULL) {
        if (s->kind != CLI_OUT_VECTORS)
            return cli_fail(EXIT_USAGE, s->cmd,
                            "--scores goes with .ivecs/.ibin/.npy results; .tsv, .json and - "
                            "already hold the scores");
        s->scores_format = vs_file_format_from_path(a->scores);
        if (s->scores_format == VS_FORMAT_UNKNOWN && vs_outfile_writes_through(a->scores))
            s->scores_format = VS_FORMAT_FVECS; /* /dev/null, a FIFO: .fvecs */
        if (s->scores_format != VS_FORMAT_FVECS && s->scores_format != VS_FORMAT_FBIN &&
            s->scores_format != VS_FORMAT_NPY)
            return cli_fail(EXIT_USAGE, s->cmd, "--scores %s: expected .fvecs, .fbin or .npy",
                            a->scores);
    }
    return cli_check_distinct(a);
}

/* Batch and chunk sizes, and every product checked before allocating. */
static int topk_sizes(cli_session *s, const cli_search *a) {
    uint64_t k = a->k, nq = s->nq, nb = s->nb, dim = s->dim;
    if (nb > (uint64_t)INT32_MAX && (s->format == VS_FORMAT_IVECS || s->format == VS_FORMAT_IBIN))
        return cli_fail(EXIT_USAGE, s->cmd,
                        "%s has %llu rows: ids do not fit .%s (int32); use .npy", a->base,
                        (unsigned long long)nb, vs_file_format_name(s->format));
    s->batch = a->batch ? a->batch : CLI_DEFAULT_BATCH;
    if (s->batch > nq) s->batch = nq;
    s->chunk = a->chunk ? a->chunk : cli_default_chunk(dim);
    uint64_t rows = s->end - s->begin; /* this process's share */
    if (s->chunk > rows) s->chunk = rows > 0 ? rows : 1;
    uint64_t results, qbytes, cbytes, bbytes, all;
    if (!cli_mul(nq, k, &results) || !cli_mul(results, 12, &results) ||
        !cli_mul(nq, dim * 4, &all) || all > SIZE_MAX || !cli_mul(s->batch, dim * 4, &qbytes) ||
        !cli_mul(s->chunk, dim * 4, &cbytes) || !cli_mul(s->batch, k * 12, &bbytes) ||
        results > SIZE_MAX || qbytes > SIZE_MAX || cbytes > SIZE_MAX || bbytes > SIZE_MAX)
        return cli_fail(EXIT_USAGE, s->cmd,
                        "%llu queries x k %llu (or the batch/chunk) overflow "
                        "this machine's sizes",
                        (unsigned long long)nq, (unsigned long long)k);
    return -1;
}

/* -o, then --scores (if that fails, -o is removed again). */
static int topk_open_outputs(cli_session *s, const cli_search *a) {
    if (s->kind != CLI_OUT_VECTORS) return cli_session_open_text(s, &s->out, a->output);
    vs_dtype dtype = s->format == VS_FORMAT_NPY ? VS_DTYPE_I64 : VS_DTYPE_I32;
    int code = cli_session_open_vectors(s, &s->out, a->output, s->format, dtype, a->k, s->nq);
    if (code < 0 && a->scores != NULL)
        code = cli_session_open_vectors(s, &s->scores_out, a->scores, s->scores_format,
                                        VS_DTYPE_F32, a->k, s->nq);
    return code;
}

/* The buffers; with resident queries qbuf holds them all. */
static int topk_alloc(cli_session *s, uint64_t k, int resident, topk_buffers *b) {
    uint64_t nq = s->nq, dim = s->dim;
    b->best_scores = malloc(nq * k * sizeof(float));
    b->best_ids = malloc(nq * k * sizeof(int64_t));
    b->qbuf = malloc((resident ? nq : s->batch) * dim * sizeof(float));
    s->base_buffer_bytes = s->chunk * s->base_row_bytes;
    b->cbuf = malloc(s->base_buffer_bytes);
    b->batch_scores = malloc(s->batch * k * sizeof(float));
    b->batch_ids = malloc(s->batch * k * sizeof(int64_t));
    if (!b->best_scores || !b->best_ids || !b->qbuf || !b->cbuf || !b->batch_scores ||
        !b->batch_ids)
        return cli_fail(EXIT_DEVICE, s->cmd, "out of memory for %llu queries x k %llu",
                        (unsigned long long)nq, (unsigned long long)k);
    int distance = s->args->metric == VS_METRIC_L2SQ;
    for (uint64_t i = 0; i < nq * k; i++) {
        b->best_scores[i] = distance ? INFINITY : -INFINITY;
        b->best_ids[i] = -1;
    }
    return -1;
}

/* One chunk of BASE (rows c0 .. c0 + cn, already in cbuf) against every
 * query batch, merged into the running result. */
static int topk_chunk(cli_session *s, topk_buffers *b, uint64_t c0, uint64_t cn,
                      int queries_resident, cli_progress *progress, uint64_t *work_done) {
    const cli_search *a = s->args;
    uint64_t k = a->k, nq = s->nq, batch = s->batch, dim = s->dim;
    vs_corpus *corpus = NULL;
    int rc, code = cli_corpus_create(s, b->cbuf, cn, &corpus);
    if (code >= 0) return code;
    s->totals.chunks++;
    for (uint64_t q0 = 0; q0 < nq && code < 0; q0 += batch) {
        uint64_t qn = nq - q0 < batch ? nq - q0 : batch;
        if (!queries_resident && vs_reader_read_f32(s->queries, q0, qn, b->qbuf) != 0) {
            code = cli_fail(EXIT_INPUT, s->cmd, "%s", vs_reader_error(s->queries));
            break;
        }
        const float *queries = queries_resident ? b->qbuf + q0 * dim : b->qbuf;
        rc = vs_corpus_topk(corpus, a->metric, queries, qn, k, b->batch_scores, b->batch_ids);
        if (rc != 0) {
            code = cli_library_fail(s, "vs_corpus_topk", rc);
            break;
        }
        cli_session_count_batch(s);
        rc = vs_topk_merge(a->metric, qn, k, b->best_scores + q0 * k, b->best_ids + q0 * k,
                           b->batch_scores, b->batch_ids, (int64_t)c0);
        if (rc != 0) {
            code = cli_library_fail(s, "vs_topk_merge", rc);
            break;
        }
        *work_done += qn * cn;
        cli_progress_update(progress, *work_done, nq * s->nb);
    }
    vs_corpus_free(corpus);
    return code;
}

/* Every chunk of the rows [begin, end) of BASE, in id order. */
static int topk_scan(cli_session *s, topk_buffers *b, uint64_t begin, uint64_t end,
                     int queries_resident) {
    int code = -1;
    uint64_t work_done = 0;
    cli_progress progress;
    cli_progress_start(&progress, s->args->quiet || !s->leader, "scores");
    for (uint64_t c0 = begin; c0 < end && code < 0; c0 += s->chunk) {
        uint64_t cn = end - c0 < s->chunk ? end - c0 : s->chunk;
        if (cli_read_base(s, c0, cn, b->cbuf) != 0) {
            code = EXIT_INPUT;
            break;
        }
        cli_test_chunk_read();
        code = topk_chunk(s, b, c0, cn, queries_resident, &progress, &work_done);
    }
    cli_progress_finish(&progress);
    return code;
}

/* The result as TSV or JSON text. */
static int topk_write_text(cli_session *s, const topk_buffers *b) {
    FILE *f = s->out.stream;
    uint64_t k = s->args->k, nq = s->nq;
    int json = s->kind == CLI_OUT_JSON;
    if (json)
        fprintf(f, "{\"metric\": \"%s\", \"k\": %llu, \"results\": [\n",
                vs_metric_name(s->args->metric), (unsigned long long)k);
    else
        fprintf(f, "query\trank\tid\tscore\n");
    for (uint64_t q = 0; q < nq; q++) {
        if (ferror(f)) return cli_output_write_error(s->cmd, &s->out); /* stop at the first */
        if (json) {
            fprintf(f, "  {\"query\": %llu, \"ids\": [", (unsigned long long)q);
            for (uint64_t r = 0; r < k; r++)
                fprintf(f, "%s%lld", r ? ", " : "", (long long)b->best_ids[q * k + r]);
            fprintf(f, "], \"scores\": [");
            for (uint64_t r = 0; r < k; r++) {
                if (r) fputs(", ", f);
                cli_text_score(f, b->best_scores[q * k + r], 1);
            }
            fprintf(f, "]}%s\n", q + 1 < nq ? "," : "");
        } else {
            for (uint64_t r = 0; r < k; r++) {
                fprintf(f, "%llu\t%llu\t%lld\t", (unsigned long long)q, (unsigned long long)r,
                        (long long)b->best_ids[q * k + r]);
                cli_text_score(f, b->best_scores[q * k + r], 0);
                fputc('\n', f);
            }
        }
    }
    if (json) fprintf(f, "]}\n");
    if (ferror(f)) return cli_output_write_error(s->cmd, &s->out);
    return -1;
}

static int topk_write(cli_session *s, const topk_buffers *b) {
    if (s->kind != CLI_OUT_VECTORS) return topk_write_text(s, b);
    if (vs_writer_write_i64(s->out.writer, b->best_ids, s->nq) != 0)
        return cli_output_write_error(s->cmd, &s->out);
    if (s->scores_out.writer && vs_writer_write_f32(s->scores_out.writer, b->best_scores, s->nq))
        return cli_output_write_error(s->cmd, &s->scores_out);
    return -1;
}

/* Under a shard hook every process runs the same steps; each step's
 * outcome is agreed before the next, so all stop at the same step. */
#define STEP(expr)                                                                                 \
    do {                                                                                           \
        if ((code = cli_session_agree(&s, (expr))) >= 0) goto done;                                \
    } while (0)

/* With a shard hook: the leader reads every query once, and every process
 * gets them; alone: only when one batch holds them (else per batch). */
static int topk_queries(cli_session *s, topk_buffers *b) {
    int code = -1;
    if (s->leader && vs_reader_read_f32(s->queries, 0, s->nq, b->qbuf) != 0)
        code = cli_fail(EXIT_INPUT, s->cmd, "%s", vs_reader_error(s->queries));
    if ((code = cli_session_agree(s, code)) >= 0) return code;
    return cli_session_share(s, b->qbuf, s->nq * s->dim * sizeof(float));
}

int cli_topk_run(int argc, char **argv, const cli_shard *shard) {
    cli_search a;
    int code = cli_search_parse(argc, argv, 1, cli_topk_help, &a);
    if (code >= 0) return code; /* the same on every process */
    cli_session s;
    cli_session_init(&s, &a, shard);
    topk_buffers b = {0};
    STEP(topk_formats(&s, &a));
    STEP(cli_session_open_inputs(&s, &a));
    STEP(topk_sizes(&s, &a));
    int queries_resident = shard != NULL || s.batch == s.nq; /* read the queries once */
    STEP(s.leader ? topk_open_outputs(&s, &a) : -1);
    code = topk_alloc(&s, a.k, queries_resident, &b);
    s.started = cli_now();
    STEP(code >= 0 ? code : cli_session_context(&s));
    if (queries_resident && (code = topk_queries(&s, &b)) >= 0) goto done;
    STEP(topk_scan(&s, &b, s.begin, s.end, queries_resident));
    if (shard != NULL)
        STEP(shard->reduce_topk(shard->user, a.metric, s.nq, a.k, b.best_scores, b.best_ids));
    code = -1; /* the leader's outcome; a driver of several processes agrees on it */
    if (s.leader && (code = topk_write(&s, &b)) < 0 && (code = cli_session_commit(&s)) < 0 &&
        a.report)
        cli_session_report(&s);
    if (code < 0) code = EXIT_OK;
done:
    cli_session_close(&s);
    buffers_free(&b);
    return code;
}

int cli_topk(int argc, char **argv) {
    return cli_topk_run(argc, argv, NULL);
}
