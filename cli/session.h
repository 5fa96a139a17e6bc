/*
 * session.h — the search session that `topk` and `score` share: their
 * command line, the inputs (QUERIES and BASE through the streaming reader),
 * the context, the outputs (temporary files committed as a set), the
 * report, and the failure messages of the library.
 *
 * A subcommand runs as: cli_search_parse, cli_session_open (formats,
 * inputs, sizes), cli_session_context, then its own loop over the batches,
 * writing through the session's outputs, and cli_session_commit; then
 * cli_session_close whatever happened.
 */
#ifndef VS_CLI_SESSION_H
#define VS_CLI_SESSION_H

#include "cli.h"

#define CLI_DEFAULT_BATCH 1024
#define CLI_DEFAULT_CHUNK_BYTES ((uint64_t)256 << 20)
#define CLI_SCORE_BATCH_BYTES ((uint64_t)256 << 20)

/* The command line of topk and score (cli_options_parse, CLI_CMD_SEARCH). */
typedef struct cli_search {
    const char *cmd; /* "topk" or "score" */
    int is_topk;
    const char *queries;
    const char *base;
    const char *output;
    const char *scores; /* topk's --scores, or NULL */
    const char *device; /* NULL: auto */
    vs_metric metric;
    uint64_t k;
    uint64_t batch; /* 0 = default */
    uint64_t chunk; /* 0 = default */
    int threads;
    int report;
    int quiet;
    int reject_nonfinite;
    vs_corpus_options storage; /* --storage, --approx */
} cli_search;

/* Returns -1 to continue, or an exit code (help printed counts as 0). */
int cli_search_parse(int argc, char **argv, int is_topk, void (*help)(FILE *), cli_search *a);

/*
 * The shard hook: how a driver of several processes (vecscore-mpi, mpi/)
 * runs the same session on its part of BASE. Without one (NULL) the
 * session is one process over all of BASE. With one:
 *   - the leader alone opens QUERIES, writes the outputs, prints the report
 *     and the progress bar; every process opens BASE and reads only the rows
 *     that rows() gives it;
 *   - after every step that can fail, every process calls agree() with its
 *     outcome, at the same points, so a failure anywhere stops every
 *     process before the next collective step and before the commit;
 *   - share() copies the leader's bytes to every process (the QUERIES
 *     header and rows, read once);
 *   - topk: reduce_topk() combines every process's top-k into the
 *     leader's with vs_topk_merge; score: gather_scores() puts every
 *     process's columns of a batch into the leader's rows.
 * Every hook returns -1 (fine) or an exit code, as the session's steps do.
 */
typedef struct cli_shard {
    void *user;
    int leader; /* this process reads QUERIES and writes the outputs */
    /* The rows [*begin, *end) of BASE's rows that this process scores. */
    void (*rows)(void *user, uint64_t rows, uint64_t *begin, uint64_t *end);
    /* code: this process's outcome; returns the run's (the failure of the
     * lowest failing process, whose message is printed once; -1 if none). */
    int (*agree)(void *user, int code);
    int (*share)(void *user, void *data, size_t bytes);
    int (*reduce_topk)(void *user, vs_metric metric, uint64_t nq, uint64_t k, float *scores,
                       int64_t *ids);
    /* block: this process's qn x (end - begin) scores (row-major); rows:
     * the leader's qn x nb matrix to fill (NULL elsewhere). */
    int (*gather_scores)(void *user, uint64_t qn, uint64_t nb, uint64_t begin, uint64_t end,
                         const float *block, float *rows);
    /* The device selector this process uses, from --device (NULL: auto). */
    const char *(*device)(void *user, const char *given);
    /* --report: lines of the driver's own, after the session's. */
    void (*report)(void *user, FILE *out);
} cli_shard;

/* topk and score under a shard hook (NULL: one process, as `vecscore`). */
int cli_topk_run(int argc, char **argv, const cli_shard *shard);
int cli_score_run(int argc, char **argv, const cli_shard *shard);

/* Where a result goes: a vector file, a text file (.tsv, .json) or stdout. */
enum cli_out_kind { CLI_OUT_VECTORS, CLI_OUT_TSV, CLI_OUT_JSON, CLI_OUT_STDOUT };

typedef struct cli_output {
    enum cli_out_kind kind;
    vs_writer *writer; /* CLI_OUT_VECTORS, until finished */
    vs_outfile *file;  /* CLI_OUT_TSV, CLI_OUT_JSON; CLI_OUT_VECTORS once finished */
    FILE *stream;      /* text stream (the file's, or stdout) */
    const char *path;
} cli_output;

/* The whole run's figures, for --report. */
typedef struct cli_totals {
    uint64_t chunks;
    uint64_t batches;
    double kernel_seconds;
    uint64_t arena_high_water;
} cli_totals;

typedef struct cli_session {
    const cli_search *args;
    const char *cmd;
    const cli_shard *shard; /* NULL: one process */
    int leader;             /* reads QUERIES, writes the outputs (always, without a shard) */
    uint64_t begin, end;    /* the rows of BASE this process scores */
    vs_reader *queries, *base;
    unsigned char *queries_owned, *base_owned; /* standard input, read whole */
    uint64_t nq, nb, dim;
    uint64_t batch, chunk; /* resolved: within 1 .. nq and 1 .. nb */
    enum cli_out_kind kind;
    vs_file_format format;        /* of -o, when CLI_OUT_VECTORS */
    vs_file_format scores_format; /* of --scores */
    cli_output out, scores_out;
    cli_log log;
    vs_context *ctx;
    cli_totals totals;
    double started;
    /* BASE is float16 and --storage f16: its rows are read as float16 bits
     * (vs_reader_read_f16) into chunk buffers of base_row_bytes per row and
     * given to vs_corpus_create_from_half, with no float32 copy. */
    int half_base;
    uint64_t base_row_bytes;    /* dim x 2 (half_base) or dim x 4 */
    uint64_t base_buffer_bytes; /* the BASE chunk buffer, for --report */
} cli_session;

/* The output's kind from its path ("-": stdout; .tsv, .json; a vector
 * format; a FIFO or device without an extension: TSV). 0, or -1 when the
 * path names no format. */
int cli_output_kind(const char *path, enum cli_out_kind *kind, vs_file_format *format);

/* Refuses (EXIT_USAGE) an output that is an input or the other output, before
 * any work; -1 if they are distinct. */
int cli_check_distinct(const cli_search *a);

/* A corpus of rows of BASE in the storage of --storage / --approx; -1 or an exit code. */
int cli_corpus_create(cli_session *s, const void *rows, uint64_t n, vs_corpus **out);

/* Rows [start, start + count) of BASE into buf (float32, or float16 bits when
 * half_base); 0, or the reader's error printed and EXIT_INPUT returned. */
int cli_read_base(cli_session *s, uint64_t start, uint64_t count, void *buf);

/* Opens QUERIES and BASE and checks their dimensions; fills nq, nb, dim and
 * this process's rows [begin, end). With a shard hook, only the leader
 * opens QUERIES (its header is shared), every process checks that its BASE
 * has the leader's rows, and BASE cannot be standard input. -1, or the exit
 * code (printed). */
int cli_session_open_inputs(cli_session *s, const cli_search *a);

/* Starts a session for a parsed command line. */
void cli_session_init(cli_session *s, const cli_search *a, const cli_shard *shard);

/* With a shard hook: the run's outcome agreed by every process (see
 * cli_shard); without one: code. */
int cli_session_agree(cli_session *s, int code);

/* With a shard hook: the leader's bytes to every process; else -1. */
int cli_session_share(cli_session *s, void *data, size_t bytes);

/* Creates the context (--device, --threads); -1 or the exit code. */
int cli_session_context(cli_session *s);

/* Opens -o (and --scores) per s->kind and s->format; -1 or EXIT_OUTPUT. */
int cli_session_open_text(cli_session *s, cli_output *o, const char *path);
int cli_session_open_vectors(cli_session *s, cli_output *o, const char *path, vs_file_format format,
                             vs_dtype dtype, uint64_t dim, uint64_t rows);

/* Finishes and commits the outputs of the run as a set, -o last; -1 or
 * EXIT_OUTPUT. */
int cli_session_commit(cli_session *s);

/* A failed write to o: the exit code (printed). */
int cli_output_write_error(const char *cmd, cli_output *o);

/* A library call that failed: EXIT_DEVICE, with the library's last error. */
int cli_library_fail(const cli_session *s, const char *what, int rc);

/* Adds the context's last batch report to the run's totals. */
void cli_session_count_batch(cli_session *s);

/* With --report: the last batch's report and the run's totals on stderr. */
void cli_session_report(const cli_session *s);

/* Releases everything the session holds; outputs not committed are removed. */
void cli_session_close(cli_session *s);

/* Default rows of BASE per chunk for a dimension (256 MiB of float32). */
uint64_t cli_default_chunk(uint64_t dim);

/* A score in text: %.9g round-trips float32; JSON has no inf/NaN: null. */
void cli_text_score(FILE *f, float score, int json);

#endif /* VS_CLI_SESSION_H */
