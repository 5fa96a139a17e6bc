/*
 * session.c — what topk and score share (session.h): the command line,
 * inputs, context, outputs and report of one search run.
 */
#include "session.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int cli_search_parse(int argc, char **argv, int is_topk, void (*help)(FILE *), cli_search *a) {
    memset(a, 0, sizeof(*a));
    a->cmd = is_topk ? "topk" : "score";
    a->is_topk = is_topk;
    cli_values v;
    int code =
        cli_options_parse(is_topk ? CLI_CMD_TOPK : CLI_CMD_SCORE, a->cmd, argc, argv, help, &v);
    if (code >= 0) return code;
    a->queries = v.text[CLI_OPT_QUERIES];
    a->base = v.text[CLI_OPT_BASE];
    a->output = v.text[CLI_OPT_OUTPUT];
    a->scores = v.text[CLI_OPT_SCORES];
    a->device = v.text[CLI_OPT_DEVICE];
    a->metric = v.given[CLI_OPT_METRIC] ? (vs_metric)v.number[CLI_OPT_METRIC] : VS_METRIC_COSINE;
    a->k = v.number[CLI_OPT_K];
    a->batch = v.number[CLI_OPT_BATCH];
    a->chunk = v.number[CLI_OPT_CHUNK];
    a->threads = (int)v.number[CLI_OPT_THREADS];
    a->report = v.given[CLI_OPT_REPORT];
    a->quiet = v.given[CLI_OPT_QUIET];
    a->reject_nonfinite = v.given[CLI_OPT_REJECT_NONFINITE];
    vs_corpus_options_init(&a->storage);
    if (v.given[CLI_OPT_STORAGE] && vs_storage_parse(v.text[CLI_OPT_STORAGE], &a->storage.storage))
        return cli_fail(EXIT_USAGE, a->cmd, "--storage '%s': expected f32, f16, bf16 or i8",
                        v.text[CLI_OPT_STORAGE]);
    a->storage.exact = !v.given[CLI_OPT_APPROX];
    static const char *const topk_required[] = {"-q", "-b", "-k", "-o"};
    static const char *const score_required[] = {"-q", "-b", "-o"};
    int present[4] = {a->queries != NULL, a->base != NULL, is_topk ? a->k != 0 : a->output != NULL,
                      a->output != NULL};
    code = cli_require(a->cmd, is_topk ? 4 : 3, is_topk ? topk_required : score_required, present);
    if (code >= 0) return code;
    if (strcmp(a->queries, "-") == 0 && strcmp(a->base, "-") == 0)
        return cli_fail(EXIT_USAGE, a->cmd,
                        "-q and -b cannot both be - (there is one standard input)");
    return -1;
}

int cli_corpus_create(cli_session *s, const void *rows, uint64_t n, vs_corpus **out) {
    if (s->half_base) {
        int rc = vs_corpus_create_from_half(s->ctx, rows, VS_STORAGE_F16, n, s->dim,
                                            &s->args->storage, out);
        return rc != 0 ? cli_library_fail(s, "vs_corpus_create_from_half", rc) : -1;
    }
    int rc = vs_corpus_create_with(s->ctx, rows, n, s->dim, &s->args->storage, out);
    return rc != 0 ? cli_library_fail(s, "vs_corpus_create_with", rc) : -1;
}

int cli_read_base(cli_session *s, uint64_t start, uint64_t count, void *buf) {
    int rc = s->half_base ? vs_reader_read_f16(s->base, start, count, buf)
                          : vs_reader_read_f32(s->base, start, count, buf);
    return rc != 0 ? cli_fail(EXIT_INPUT, s->cmd, "%s", vs_reader_error(s->base)) : 0;
}

uint64_t cli_default_chunk(uint64_t dim) {
    uint64_t rows = CLI_DEFAULT_CHUNK_BYTES / (dim * sizeof(float));
    return rows > 0 ? rows : 1;
}

/* ---- inputs -------------------------------------------------------------------------- */

static void close_inputs(cli_session *s) {
    cli_close_input(s->queries, s->queries_owned);
    cli_close_input(s->base, s->base_owned);
    s->queries = s->base = NULL;
    s->queries_owned = s->base_owned = NULL;
}

void cli_session_init(cli_session *s, const cli_search *a, const cli_shard *shard) {
    memset(s, 0, sizeof(*s));
    s->args = a;
    s->cmd = a->cmd;
    s->shard = shard;
    s->leader = shard == NULL || shard->leader;
}

int cli_session_agree(cli_session *s, int code) {
    return s->shard != NULL ? s->shard->agree(s->shard->user, code) : code;
}

int cli_session_share(cli_session *s, void *data, size_t bytes) {
    return s->shard != NULL ? s->shard->share(s->shard->user, data, bytes) : -1;
}

static const char *input_name(const char *path) {
    return strcmp(path, "-") == 0 ? CLI_STDIN_NAME : path;
}

/* QUERIES (the leader's) and BASE (every process's); -1 or the exit code. */
static int open_readers(cli_session *s, const cli_search *a) {
    unsigned flags = a->reject_nonfinite ? VS_READ_REJECT_NONFINITE : 0;
    if (s->shard != NULL && strcmp(a->base, "-") == 0)
        return cli_fail(EXIT_USAGE, a->cmd,
                        "-b -: every process reads its own rows of BASE, so it must be a file "
                        "(standard input goes to one process)");
    int code = EXIT_OK;
    if (s->leader)
        code = cli_open_input(a->cmd, a->queries, flags, 0, &s->queries, &s->queries_owned);
    if (code == EXIT_OK) code = cli_open_input(a->cmd, a->base, flags, 0, &s->base, &s->base_owned);
    return code == EXIT_OK ? -1 : code;
}

int cli_session_open_inputs(cli_session *s, const cli_search *a) {
    int code = cli_session_agree(s, open_readers(s, a));
    if (code >= 0) {
        close_inputs(s);
        return code;
    }
    const vs_reader_info *bi = vs_reader_get_info(s->base);
    uint64_t header[3] = {0, 0, bi->rows}; /* QUERIES rows and dim, BASE rows: the leader's */
    if (s->leader) {
        header[0] = vs_reader_get_info(s->queries)->rows;
        header[1] = vs_reader_get_info(s->queries)->dim;
    }
    if ((code = cli_session_share(s, header, sizeof(header))) >= 0) {
        close_inputs(s);
        return code;
    }
    if (header[1] != bi->dim) {
        cli_fail(EXIT_INPUT, a->cmd,
                 "%s has dimension %llu but %s has dimension %llu; they must match",
                 input_name(a->queries), (unsigned long long)header[1], input_name(a->base),
                 (unsigned long long)bi->dim);
        close_inputs(s);
        return EXIT_INPUT;
    }
    if (header[2] != bi->rows) { /* a per-node copy of BASE that is not the same file */
        cli_fail(EXIT_INPUT, a->cmd, "%s has %llu rows here but %llu where QUERIES is read",
                 a->base, (unsigned long long)bi->rows, (unsigned long long)header[2]);
        close_inputs(s);
        return EXIT_INPUT;
    }
    s->nq = header[0];
    s->nb = bi->rows;
    s->dim = bi->dim;
    s->half_base = a->storage.storage == VS_STORAGE_F16 && bi->dtype == VS_DTYPE_F16;
    s->base_row_bytes = s->dim * (s->half_base ? sizeof(uint16_t) : sizeof(float));
    s->begin = 0;
    s->end = s->nb;
    if (s->shard != NULL) s->shard->rows(s->shard->user, s->nb, &s->begin, &s->end);
    return -1;
}

int cli_session_context(cli_session *s) {
    s->log.quiet = s->args->quiet;
    s->log.last[0] = '\0';
    const char *device = s->args->device;
    if (s->shard != NULL && s->shard->device != NULL)
        device = s->shard->device(s->shard->user, device);
    int code = cli_context(s->cmd, device, s->args->threads, &s->log, &s->ctx);
    return code == EXIT_OK ? -1 : code;
}

/* ---- outputs --------------------------------------------------------------------------- */

int cli_output_kind(const char *path, enum cli_out_kind *kind, vs_file_format *format) {
    if (strcmp(path, "-") == 0) {
        *kind = CLI_OUT_STDOUT;
        return 0;
    }
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (dot != NULL && (slash == NULL || dot > slash)) {
        if (strcmp(dot, ".tsv") == 0) {
            *kind = CLI_OUT_TSV;
            return 0;
        }
        if (strcmp(dot, ".json") == 0) {
            *kind = CLI_OUT_JSON;
            return 0;
        }
    }
    *kind = CLI_OUT_VECTORS;
    *format = vs_file_format_from_path(path);
    if (*format != VS_FORMAT_UNKNOWN) return 0;
    /* /dev/null, /dev/stdout, a FIFO without an extension: TSV, as for - */
    if (vs_outfile_writes_through(path)) *kind = CLI_OUT_TSV;
    return *kind == CLI_OUT_TSV ? 0 : -1;
}

/* An output that names an input or the other output (also through a link,
 * or ./x for x) is refused before any work: writing it would destroy that
 * file. Compared by device and inode (vs_path_same_file). */
int cli_check_distinct(const cli_search *a) {
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

int cli_session_open_text(cli_session *s, cli_output *o, const char *path) {
    memset(o, 0, sizeof(*o));
    o->kind = s->kind;
    o->path = path;
    if (s->kind == CLI_OUT_STDOUT) {
        o->stream = stdout;
        return -1;
    }
    if (cli_output_open(s->cmd, path, &o->file) != EXIT_OK) return EXIT_OUTPUT;
    o->stream = vs_outfile_stream(o->file);
    return -1;
}

int cli_session_open_vectors(cli_session *s, cli_output *o, const char *path, vs_file_format format,
                             vs_dtype dtype, uint64_t dim, uint64_t rows) {
    memset(o, 0, sizeof(*o));
    o->kind = CLI_OUT_VECTORS;
    o->path = path;
    return cli_writer_open(s->cmd, path, format, dtype, dim, rows, &o->writer) == EXIT_OK
               ? -1
               : EXIT_OUTPUT;
}

static void output_abort(cli_output *o) {
    cli_writer_abort(o->writer);
    cli_output_abort(o->file);
    memset(o, 0, sizeof(*o));
}

/* Commits the outputs of one run as a set (cli_commit): each is finished
 * (flushed and synced) first, and only then are they renamed, in the order
 * given; the main output goes last, so a new -o means the whole set is in
 * place. Unused entries (all zero) are skipped. */
int cli_session_commit(cli_session *s) {
    cli_output *outs[2] = {&s->scores_out, &s->out}; /* -o last */
    vs_outfile *files[2] = {NULL, NULL};
    int code = EXIT_OK;
    for (size_t i = 0; i < 2 && code == EXIT_OK; i++) {
        cli_output *o = outs[i];
        if (o->kind == CLI_OUT_STDOUT) {
            errno = 0;
            if (fflush(stdout) != 0 || ferror(stdout)) code = cli_stdout_failed(s->cmd);
        } else if (o->writer != NULL) {
            code = cli_writer_finish(s->cmd, o->writer, &o->file);
            o->writer = NULL;
        }
    }
    if (code != EXIT_OK) return code; /* cli_session_close aborts what is left */
    for (size_t i = 0; i < 2; i++) {
        files[i] = outs[i]->file;
        outs[i]->file = NULL;
    }
    return cli_commit(s->cmd, files, 2) == EXIT_OK ? -1 : EXIT_OUTPUT;
}

/* A failed write: stops the run at once (exit 4). */
int cli_output_write_error(const char *cmd, cli_output *o) {
    int saved = errno;
    if (o->writer) return cli_fail(EXIT_OUTPUT, cmd, "%s", vs_writer_error(o->writer));
    if (o->kind == CLI_OUT_STDOUT) return cli_stdout_failed(cmd);
    return cli_fail(EXIT_OUTPUT, cmd, "%s: write failed: %s", o->path,
                    saved ? strerror(saved) : "stream error");
}

void cli_text_score(FILE *f, float score, int json) {
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

void cli_session_count_batch(cli_session *s) {
    vs_batch_report r;
    if (vs_context_last_report(s->ctx, &r) != 0) return;
    s->totals.batches++;
    s->totals.kernel_seconds += r.kernel_seconds;
    if (r.arena_high_water_bytes > s->totals.arena_high_water)
        s->totals.arena_high_water = r.arena_high_water_bytes;
}

void cli_session_report(const cli_session *s) {
    vs_batch_report r;
    if (vs_context_last_report(s->ctx, &r) != 0) return;
    size_t need = vs_batch_report_format(&r, NULL, 0);
    char *text = malloc(need + 1);
    if (text != NULL) {
        vs_batch_report_format(&r, text, need + 1);
        fprintf(stderr, "# last batch\n%s", text);
        free(text);
    }
    const cli_totals *t = &s->totals;
    fprintf(stderr,
            "# whole run\nchunks=%llu\nbatches=%llu\nkernel_seconds_sum=%.6f\n"
            "arena_high_water_bytes_max=%llu\nwall_seconds=%.6f\npeak_rss_bytes=%llu\n"
            "base_read=%s\nbase_buffer_bytes=%llu\n",
            (unsigned long long)t->chunks, (unsigned long long)t->batches, t->kernel_seconds,
            (unsigned long long)t->arena_high_water, cli_now() - s->started,
            (unsigned long long)cli_peak_rss_bytes(), s->half_base ? "f16" : "f32",
            (unsigned long long)s->base_buffer_bytes);
    if (s->shard != NULL && s->shard->report != NULL) s->shard->report(s->shard->user, stderr);
}

int cli_library_fail(const cli_session *s, const char *what, int rc) {
    return cli_fail(EXIT_DEVICE, s->cmd, "%s failed: %s (%s)", what,
                    s->log.last[0] ? s->log.last : vs_strerror(rc), vs_status_name(rc));
}

void cli_session_close(cli_session *s) {
    output_abort(&s->out);
    output_abort(&s->scores_out);
    vs_context_free(s->ctx);
    s->ctx = NULL;
    close_inputs(s);
}
