/*
 * score.c — `vecscore score`: the full QUERIES x BASE matrix, one batch of
 * query rows at a time. When BASE fits one chunk it is one corpus for every
 * batch; else each batch goes through BASE chunk by chunk, each chunk
 * scored through the corpus path too, so that chunked and one-piece runs
 * give bit-identical scores. Inputs, context, outputs and report are the
 * search session's (session.c).
 */
#include "session.h"

#include <stdlib.h>
#include <string.h>

static void cli_score_help(FILE *out) {
    cli_help(out,
             "usage: vecscore score -q QUERIES -b BASE [--metric dot|cosine|l2]\n"
             "                      [--device SEL] -o SCORES [--batch N] [--chunk N]\n"
             "                      [--threads N] [--report] [--quiet]\n"
             "                      [--reject-nonfinite] [--storage S] [--approx]\n"
             "\n"
             "Every query scored against every base row: a QUERIES x BASE matrix.\n",
             CLI_CMD_SCORE, 21,
             "  other options as for 'vecscore topk' (--batch defaults to as many\n"
             "  queries as fit 256 MiB of scores)\n");
}

typedef struct score_buffers {
    float *scores;     /* batch x nb: the rows written (the leader's) */
    float *block;      /* batch x (end - begin): this process's columns; = scores alone */
    float *qbuf;       /* batch x dim */
    float *cbuf;       /* chunk rows of BASE, base_row_bytes each */
    float *part;       /* batch x chunk, when the rows take several chunks */
    vs_corpus *corpus; /* the rows as one corpus, when they fit one chunk */
} score_buffers;

static void buffers_free(score_buffers *b) {
    vs_corpus_free(b->corpus);
    if (b->block != b->scores) free(b->block);
    free(b->scores);
    free(b->qbuf);
    free(b->cbuf);
    free(b->part);
}

static int score_formats(cli_session *s, const cli_search *a) {
    if (cli_output_kind(a->output, &s->kind, &s->format) != 0 ||
        (s->kind == CLI_OUT_VECTORS && s->format != VS_FORMAT_FVECS &&
         s->format != VS_FORMAT_FBIN && s->format != VS_FORMAT_NPY))
        return cli_fail(EXIT_USAGE, s->cmd,
                        "%s: scores are written as .fvecs, .fbin, .npy, .tsv, .json or - (TSV "
                        "on stdout)",
                        a->output);
    return cli_check_distinct(a);
}

static int score_sizes(cli_session *s, const cli_search *a) {
    uint64_t nq = s->nq, nb = s->nb, dim = s->dim;
    if (s->kind == CLI_OUT_VECTORS && nb > VS_IO_MAX_DIM)
        return cli_fail(EXIT_USAGE, s->cmd,
                        "%s has %llu rows: a score row that wide exceeds the %u-element limit of "
                        "vector files; use .tsv or topk",
                        a->base, (unsigned long long)nb, VS_IO_MAX_DIM);
    s->batch = a->batch ? a->batch : CLI_SCORE_BATCH_BYTES / (nb * sizeof(float));
    if (s->batch == 0) s->batch = 1;
    if (s->batch > nq) s->batch = nq;
    s->chunk = a->chunk ? a->chunk : cli_default_chunk(dim);
    uint64_t rows = s->end - s->begin; /* this process's share */
    if (s->chunk > rows) s->chunk = rows > 0 ? rows : 1;
    uint64_t sbytes, qbytes, cbytes;
    if (!cli_mul(s->batch, nb * 4, &sbytes) || !cli_mul(s->batch, dim * 4, &qbytes) ||
        !cli_mul(s->chunk, dim * 4, &cbytes) || sbytes > SIZE_MAX || qbytes > SIZE_MAX ||
        cbytes > SIZE_MAX)
        return cli_fail(EXIT_USAGE, s->cmd,
                        "batch %llu x %llu base rows overflows this machine's "
                        "sizes",
                        (unsigned long long)s->batch, (unsigned long long)nb);
    return -1;
}

static int score_alloc(cli_session *s, score_buffers *b) {
    uint64_t nb = s->nb, width = s->end - s->begin;
    b->scores = s->leader ? malloc(s->batch * nb * sizeof(float)) : NULL;
    b->block = s->shard == NULL ? b->scores : malloc((s->batch * width + 1) * sizeof(float));
    b->qbuf = malloc(s->batch * s->dim * sizeof(float));
    s->base_buffer_bytes = s->chunk * s->base_row_bytes;
    b->cbuf = malloc(s->base_buffer_bytes);
    b->part = s->chunk < width ? malloc(s->batch * s->chunk * sizeof(float)) : NULL;
    if ((s->leader && !b->scores) || !b->block || !b->qbuf || !b->cbuf ||
        (s->chunk < width && !b->part))
        return cli_fail(EXIT_DEVICE, s->cmd, "out of memory for a batch of %llu x %llu scores",
                        (unsigned long long)s->batch, (unsigned long long)nb);
    return -1;
}

/* This process's rows of BASE fit one chunk: one corpus for every batch. */
static int score_whole_corpus(cli_session *s, score_buffers *b) {
    uint64_t width = s->end - s->begin;
    if (cli_read_base(s, s->begin, width, b->cbuf) != 0) return EXIT_INPUT;
    cli_test_chunk_read();
    int code = cli_corpus_create(s, b->cbuf, width, &b->corpus);
    if (code >= 0) return code;
    s->totals.chunks = 1;
    return -1;
}

/* The qn x (end - begin) scores of one batch (queries in qbuf) into b->block. */
static int score_batch(cli_session *s, score_buffers *b, uint64_t qn) {
    uint64_t width = s->end - s->begin, chunk = s->chunk;
    vs_metric metric = s->args->metric;
    int rc;
    if (b->corpus != NULL) {
        if ((rc = vs_corpus_score(b->corpus, metric, b->qbuf, qn, b->block)) != 0)
            return cli_library_fail(s, "vs_corpus_score", rc);
        cli_session_count_batch(s);
        return -1;
    }
    for (uint64_t c0 = 0; c0 < width; c0 += chunk) {
        uint64_t cn = width - c0 < chunk ? width - c0 : chunk;
        if (cli_read_base(s, s->begin + c0, cn, b->cbuf) != 0) return EXIT_INPUT;
        cli_test_chunk_read();
        /* The corpus path, as for a single chunk, so that chunked and
         * one-piece runs give bit-identical scores. */
        vs_corpus *piece = NULL;
        int code = cli_corpus_create(s, b->cbuf, cn, &piece);
        if (code >= 0) return code;
        rc = vs_corpus_score(piece, metric, b->qbuf, qn, b->part);
        vs_corpus_free(piece);
        if (rc != 0) return cli_library_fail(s, "vs_corpus_score", rc);
        cli_session_count_batch(s);
        s->totals.chunks++;
        for (uint64_t i = 0; i < qn; i++)
            memcpy(b->block + i * width + c0, b->part + i * cn, cn * sizeof(float));
    }
    return -1;
}

/* The text header and footer of the matrix. */
static void score_text_header(cli_session *s) {
    if (s->kind == CLI_OUT_JSON)
        fprintf(s->out.stream, "{\"metric\": \"%s\", \"scores\": [\n",
                vs_metric_name(s->args->metric));
    if (s->kind == CLI_OUT_TSV || s->kind == CLI_OUT_STDOUT)
        fprintf(s->out.stream, "query\tid\tscore\n");
}

/* Rows q0 .. q0 + qn of the matrix (in scores) to the output. */
static int score_write_rows(cli_session *s, const float *scores, uint64_t q0, uint64_t qn) {
    if (s->kind == CLI_OUT_VECTORS)
        return vs_writer_write_f32(s->out.writer, scores, qn) != 0
                   ? cli_output_write_error(s->cmd, &s->out)
                   : -1;
    FILE *f = s->out.stream;
    int json = s->kind == CLI_OUT_JSON;
    uint64_t nb = s->nb;
    for (uint64_t i = 0; i < qn; i++) {
        uint64_t q = q0 + i;
        if (json) fputs("  [", f);
        for (uint64_t j = 0; j < nb; j++) {
            if (json) {
                if (j) fputs(", ", f);
            } else {
                fprintf(f, "%llu\t%llu\t", (unsigned long long)q, (unsigned long long)j);
            }
            cli_text_score(f, scores[i * nb + j], json);
            if (!json) fputc('\n', f);
        }
        if (json) fprintf(f, "]%s\n", q + 1 < s->nq ? "," : "");
        if (ferror(f)) return cli_output_write_error(s->cmd, &s->out); /* stop at the first */
    }
    return -1;
}

/* One batch: the leader reads its queries and shares them, every process
 * scores its columns, the leader gathers the rows and writes them; each
 * step agreed (see cli_shard). */
static int score_one(cli_session *s, score_buffers *b, uint64_t q0, uint64_t qn) {
    int code = -1;
    if (s->leader && vs_reader_read_f32(s->queries, q0, qn, b->qbuf) != 0)
        code = cli_fail(EXIT_INPUT, s->cmd, "%s", vs_reader_error(s->queries));
    if ((code = cli_session_agree(s, code)) >= 0) return code;
    if ((code = cli_session_share(s, b->qbuf, qn * s->dim * sizeof(float))) >= 0) return code;
    code = s->end > s->begin ? score_batch(s, b, qn) : -1;
    if ((code = cli_session_agree(s, code)) >= 0) return code;
    const cli_shard *shard = s->shard;
    if (shard != NULL) {
        code = shard->gather_scores(shard->user, qn, s->nb, s->begin, s->end, b->block, b->scores);
        if ((code = cli_session_agree(s, code)) >= 0) return code;
    }
    return cli_session_agree(s, s->leader ? score_write_rows(s, b->scores, q0, qn) : -1);
}

/* Every batch of queries: read, score, write. */
static int score_batches(cli_session *s, score_buffers *b) {
    int code = -1;
    uint64_t nq = s->nq, batch = s->batch;
    if (s->leader) score_text_header(s);
    cli_progress progress;
    cli_progress_start(&progress, s->args->quiet || !s->leader, "scores");
    for (uint64_t q0 = 0; q0 < nq && code < 0; q0 += batch) {
        uint64_t qn = nq - q0 < batch ? nq - q0 : batch;
        code = score_one(s, b, q0, qn);
        cli_progress_update(&progress, (q0 + qn) * s->nb, nq * s->nb);
    }
    cli_progress_finish(&progress);
    if (code >= 0 || !s->leader) return code;
    if (s->kind == CLI_OUT_JSON) fprintf(s->out.stream, "]}\n");
    if (s->kind != CLI_OUT_VECTORS && ferror(s->out.stream))
        return cli_output_write_error(s->cmd, &s->out);
    return -1;
}

/* -o, by its kind. */
static int score_open_output(cli_session *s, const cli_search *a) {
    return s->kind == CLI_OUT_VECTORS ? cli_session_open_vectors(s, &s->out, a->output, s->format,
                                                                 VS_DTYPE_F32, s->nb, s->nq)
                                      : cli_session_open_text(s, &s->out, a->output);
}

#define STEP(expr)                                                                                 \
    do {                                                                                           \
        if ((code = cli_session_agree(&s, (expr))) >= 0) goto done;                                \
    } while (0)

int cli_score_run(int argc, char **argv, const cli_shard *shard) {
    cli_search a;
    int code = cli_search_parse(argc, argv, 0, cli_score_help, &a);
    if (code >= 0) return code; /* the same on every process */
    cli_session s;
    cli_session_init(&s, &a, shard);
    score_buffers b = {0};
    STEP(score_formats(&s, &a));
    STEP(cli_session_open_inputs(&s, &a));
    STEP(score_sizes(&s, &a));
    STEP(s.leader ? score_open_output(&s, &a) : -1);
    code = score_alloc(&s, &b);
    s.started = cli_now();
    STEP(code >= 0 ? code : cli_session_context(&s));
    int whole = s.end > s.begin && s.chunk == s.end - s.begin;
    STEP(whole ? score_whole_corpus(&s, &b) : -1);
    if ((code = score_batches(&s, &b)) >= 0) goto done; /* agreed per batch */
    code = -1; /* the leader's outcome; a driver of several processes agrees on it */
    if (s.leader && (code = cli_session_commit(&s)) < 0 && a.report) cli_session_report(&s);
    if (code < 0) code = EXIT_OK;
done:
    buffers_free(&b);
    cli_session_close(&s);
    return code;
}

int cli_score(int argc, char **argv) {
    return cli_score_run(argc, argv, NULL);
}
