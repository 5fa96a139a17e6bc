/*
 * main.c — `vecscore-mpi`: `vecscore topk` and `vecscore score` over MPI
 * ranks, byte-identical to one process.
 *
 * It is the CLI's search session (cli/session.c) with a shard hook
 * (cli_shard): every option topk and score accept works here unchanged.
 * What the hook does:
 *
 *   rows            rank r of R scores BASE rows [r*N/R, (r+1)*N/R): balanced
 *                   contiguous ranges, read through the streaming reader
 *                   chunk by chunk, so no rank reads more than its share
 *   share           rank 0 reads QUERIES (header and rows) once; MPI_Bcast
 *   device          --device picks per node-local rank (see device_for)
 *   reduce_topk     a binomial tree of pairwise exchanges: at step s = 1, 2,
 *                   4, ... rank r with r % 2s == s sends its nq x k best to
 *                   r - s, which merges them with vs_topk_merge (exact, ties
 *                   by lower global id); rank 0 ends with the top-k of all
 *                   of BASE. A rank sends once, nq x k x 12 bytes; rank 0
 *                   receives ceil(log2 R) times: O(k nq log R), independent
 *                   of N
 *   gather_scores   each rank's qn x width block of a score batch goes to
 *                   rank 0, straight into its columns of the rows (an MPI
 *                   vector type), and rank 0 writes the rows
 *   agree           after every step that can fail: the lowest failing
 *                   rank's exit code and message go to every rank
 *                   (MPI_Allreduce, MPI_Bcast); rank 0 prints the message
 *                   once and every rank exits with that code. No rank
 *                   enters a collective step that another has left.
 *
 * Rank 0 alone writes the outputs, through the session's temporary files
 * and rename, after every rank agreed that its part succeeded. A rank
 * killed during the run makes mpirun end the others; rank 0's signal
 * handler then removes its temporary files, so OUT is never partial.
 */
#include "session.h"

#include <limits.h>
#include <mpi.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>

typedef struct mpi_shard {
    MPI_Comm comm;
    int rank, ranks;
    int local_rank, local_ranks; /* within the node (MPI_COMM_TYPE_SHARED) */
    int agreed;                  /* the agreed failure's exit code, once there is one; else -1 */
    char device[512];            /* the selector shard_device chose */
    uint64_t reduce_sent, reduce_received; /* bytes in reduce_topk */
    uint64_t sent_max, received_max, sent_total;
} mpi_shard;

/* Messages this long are kept whole (cli_fail_captured keeps 1 KiB). */
#define MESSAGE_BYTES 1024
/* Point-to-point and broadcast pieces: MPI counts are int. */
#define PIECE_BYTES ((size_t)1 << 30)

static void shard_rows(void *user, uint64_t rows, uint64_t *begin, uint64_t *end) {
    const mpi_shard *m = user;
    /* rows / R each, the first rows % R ranks one more: sizes differ by at most 1 */
    uint64_t r = (uint64_t)m->rank, share = rows / (uint64_t)m->ranks,
             extra = rows % (uint64_t)m->ranks;
    *begin = r * share + (r < extra ? r : extra);
    *end = *begin + share + (r < extra ? 1 : 0);
}

/* Once a failure is agreed, every rank knows it at the same call, and later
 * calls return it without communicating: a rank that left early (its own
 * failure after the last agreement) meets the others at their next
 * agreement, and nobody waits for another after that. */
static int shard_agree(void *user, int code) {
    mpi_shard *m = user;
    if (m->agreed >= 0) return m->agreed;
    int failed = code >= 0 ? m->rank : INT_MAX, first = INT_MAX;
    MPI_Allreduce(&failed, &first, 1, MPI_INT, MPI_MIN, m->comm);
    if (first == INT_MAX) return -1;
    int agreed = code;
    char message[MESSAGE_BYTES];
    snprintf(message, sizeof(message), "%s", cli_fail_captured());
    MPI_Bcast(&agreed, 1, MPI_INT, first, m->comm);
    MPI_Bcast(message, (int)sizeof(message), MPI_CHAR, first, m->comm);
    message[sizeof(message) - 1] = '\0';
    if (m->rank == 0 && message[0] != '\0') {
        if (m->ranks > 1)
            fprintf(stderr, "%s (rank %d of %d)\n", message, first, m->ranks);
        else
            fprintf(stderr, "%s\n", message);
    }
    m->agreed = agreed;
    return agreed;
}

static int shard_share(void *user, void *data, size_t bytes) {
    mpi_shard *m = user;
    for (size_t done = 0; done < bytes; done += PIECE_BYTES) {
        size_t piece = bytes - done < PIECE_BYTES ? bytes - done : PIECE_BYTES;
        MPI_Bcast((char *)data + done, (int)piece, MPI_BYTE, 0, m->comm);
    }
    return -1;
}

static void send_bytes(mpi_shard *m, const void *data, size_t bytes, int to) {
    for (size_t done = 0; done < bytes; done += PIECE_BYTES) {
        size_t piece = bytes - done < PIECE_BYTES ? bytes - done : PIECE_BYTES;
        MPI_Send((const char *)data + done, (int)piece, MPI_BYTE, to, 1, m->comm);
    }
    m->reduce_sent += bytes;
}

static void recv_bytes(mpi_shard *m, void *data, size_t bytes, int from) {
    for (size_t done = 0; done < bytes; done += PIECE_BYTES) {
        size_t piece = bytes - done < PIECE_BYTES ? bytes - done : PIECE_BYTES;
        MPI_Recv((char *)data + done, (int)piece, MPI_BYTE, from, 1, m->comm, MPI_STATUS_IGNORE);
    }
    m->reduce_received += bytes;
}

static int shard_reduce_topk(void *user, vs_metric metric, uint64_t nq, uint64_t k, float *scores,
                             int64_t *ids) {
    mpi_shard *m = user;
    size_t entries = (size_t)(nq * k); /* the session checked nq x k x 12 against SIZE_MAX */
    float *more_scores = NULL;
    int64_t *more_ids = NULL;
    int code = -1;
    /* Receivers (even ranks with a partner) allocate first, and every rank
     * agrees on it: a sender never waits on a rank that cannot receive. */
    if (m->rank % 2 == 0 && m->rank + 1 < m->ranks) {
        more_scores = malloc(entries * sizeof(float));
        more_ids = malloc(entries * sizeof(int64_t));
        if (more_scores == NULL || more_ids == NULL)
            code = cli_fail(EXIT_DEVICE, "topk", "out of memory for the reduction (%llu x k %llu)",
                            (unsigned long long)nq, (unsigned long long)k);
    }
    if ((code = shard_agree(m, code)) >= 0) {
        free(more_scores);
        free(more_ids);
        return code;
    }
    for (int step = 1; step < m->ranks; step *= 2) {
        if (m->rank % (2 * step) == step) { /* this rank's turn to hand its result down */
            send_bytes(m, scores, entries * sizeof(float), m->rank - step);
            send_bytes(m, ids, entries * sizeof(int64_t), m->rank - step);
            break;
        }
        if (m->rank % (2 * step) != 0 || m->rank + step >= m->ranks) continue;
        recv_bytes(m, more_scores, entries * sizeof(float), m->rank + step);
        recv_bytes(m, more_ids, entries * sizeof(int64_t), m->rank + step);
        /* A failed merge (it cannot fail for these arguments but for memory)
         * is kept and the exchange goes on, so no partner waits. */
        int rc =
            vs_topk_merge(metric, (size_t)nq, (size_t)k, scores, ids, more_scores, more_ids, 0);
        if (rc != 0 && code < 0)
            code = cli_fail(EXIT_DEVICE, "topk", "vs_topk_merge failed: %s (%s)", vs_strerror(rc),
                            vs_status_name(rc));
    }
    free(more_scores);
    free(more_ids);
    uint64_t mine[2] = {m->reduce_sent, m->reduce_received}, most[2] = {0, 0};
    MPI_Allreduce(mine, most, 2, MPI_UINT64_T, MPI_MAX, m->comm);
    MPI_Allreduce(&m->reduce_sent, &m->sent_total, 1, MPI_UINT64_T, MPI_SUM, m->comm);
    m->sent_max = most[0];
    m->received_max = most[1];
    return code;
}

/* Rank 0 receives each other rank's qn x width block into its columns of
 * the rows (a strided MPI type: no copy); the others send theirs. */
static int shard_gather_scores(void *user, uint64_t qn, uint64_t nb, uint64_t begin, uint64_t end,
                               const float *block, float *rows) {
    mpi_shard *m = user;
    if (qn > INT_MAX || nb > INT_MAX) /* the same on every rank: nobody waits */
        return cli_fail(EXIT_USAGE, "score",
                        "a batch of %llu x %llu scores is too large for one MPI message; give a "
                        "smaller --batch",
                        (unsigned long long)qn, (unsigned long long)nb);
    if (m->rank != 0) {
        if (end > begin) {
            MPI_Datatype row;
            MPI_Type_contiguous((int)(end - begin), MPI_FLOAT, &row);
            MPI_Type_commit(&row);
            MPI_Send(block, (int)qn, row, 0, 2, m->comm);
            MPI_Type_free(&row);
        }
        return -1;
    }
    for (uint64_t i = 0; i < qn; i++) /* rank 0's own columns */
        memcpy(rows + i * nb + begin, block + i * (end - begin), (end - begin) * sizeof(float));
    for (int r = 1; r < m->ranks; r++) {
        uint64_t from, to;
        mpi_shard other = *m;
        other.rank = r;
        shard_rows(&other, nb, &from, &to);
        if (to == from) continue;
        MPI_Datatype columns;
        MPI_Type_vector((int)qn, (int)(to - from), (int)nb, MPI_FLOAT, &columns);
        MPI_Type_commit(&columns);
        MPI_Recv(rows + from, 1, columns, r, 2, m->comm, MPI_STATUS_IGNORE);
        MPI_Type_free(&columns);
    }
    return -1;
}

/*
 * The selector of this rank, from --device: a comma-separated list picks
 * entry L mod n for node-local rank L ("opencl:0:0,opencl:0:1": two GPUs
 * per node, alternating), and "{local}" in it becomes L ("opencl:0:{local}":
 * node-local rank L takes device L of platform 0). No --device: auto.
 */
static const char *shard_device(void *user, const char *given) {
    mpi_shard *m = user;
    if (given == NULL) return NULL;
    int entries = 1;
    for (const char *p = given; *p; p++)
        entries += *p == ',';
    int pick = m->local_rank % entries;
    const char *start = given;
    for (int i = 0; i < pick; i++)
        start = strchr(start, ',') + 1;
    const char *stop = strchr(start, ',');
    size_t length = stop ? (size_t)(stop - start) : strlen(start);
    size_t used = 0;
    for (size_t i = 0; i < length && used + 12 < sizeof(m->device); i++) {
        if (strncmp(start + i, "{local}", 7) == 0 && i + 7 <= length) {
            used +=
                (size_t)snprintf(m->device + used, sizeof(m->device) - used, "%d", m->local_rank);
            i += 6;
        } else {
            m->device[used++] = start[i];
        }
    }
    m->device[used] = '\0';
    return m->device;
}

static void shard_report(void *user, FILE *out) {
    const mpi_shard *m = user;
    fprintf(out,
            "# mpi\nranks=%d\nreduce_bytes_sent_max=%llu\nreduce_bytes_received_max=%llu\n"
            "reduce_bytes_sent_total=%llu\n",
            m->ranks, (unsigned long long)m->sent_max, (unsigned long long)m->received_max,
            (unsigned long long)m->sent_total);
}

static void usage(FILE *out) {
    fprintf(out,
            "usage: mpirun -n R vecscore-mpi topk|score [options]\n"
            "\n"
            "vecscore topk and vecscore score over R MPI ranks, with the same options\n"
            "and byte-identical results (see 'vecscore topk --help', docs/cli.md).\n"
            "Each rank scores a contiguous 1/R of BASE's rows, read from BASE by\n"
            "name; rank 0 reads QUERIES, combines the results and writes them.\n"
            "  --device LIST   as for vecscore, or a comma-separated list: node-local\n"
            "                  rank L takes entry L mod n; {local} in a selector\n"
            "                  becomes L (opencl:0:{local}: one GPU per rank)\n"
            "\n%s",
            cli_exit_codes_help);
}

static int run(int argc, char **argv, const cli_shard *shard) {
    if (argc < 2) {
        if (shard->leader) usage(stderr);
        return EXIT_USAGE;
    }
    const char *command = argv[1];
    if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0 ||
        strcmp(command, "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(command, "--version") == 0 || strcmp(command, "-V") == 0) return cli_version();
    if (strcmp(command, "topk") == 0) return cli_topk_run(argc - 2, argv + 2, shard);
    if (strcmp(command, "score") == 0) return cli_score_run(argc - 2, argv + 2, shard);
    if (shard->leader)
        fprintf(stderr,
                "vecscore-mpi: unknown command '%s'; it runs topk and score (the others are "
                "vecscore's)\n",
                command);
    return EXIT_USAGE;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    mpi_shard m;
    memset(&m, 0, sizeof(m));
    m.agreed = -1;
    MPI_Comm_dup(MPI_COMM_WORLD, &m.comm);
    MPI_Comm_rank(m.comm, &m.rank);
    MPI_Comm_size(m.comm, &m.ranks);
    MPI_Comm node;
    MPI_Comm_split_type(m.comm, MPI_COMM_TYPE_SHARED, m.rank, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &m.local_rank);
    MPI_Comm_size(node, &m.local_ranks);
    MPI_Comm_free(&node);
    /* One stdout: rank 0's (help, -o -). Messages: see shard_agree. */
    if (m.rank != 0 && freopen("/dev/null", "w", stdout) == NULL) return EXIT_OUTPUT;
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, 1 << 20); /* as vecscore: chunks go back to the system */
#endif
    cli_signals_install();
    cli_fail_capture(1);
    cli_shard shard = {.user = &m,
                       .leader = m.rank == 0,
                       .rows = shard_rows,
                       .agree = shard_agree,
                       .share = shard_share,
                       .reduce_topk = shard_reduce_topk,
                       .gather_scores = shard_gather_scores,
                       .device = shard_device,
                       .report = shard_report};
    int code = run(argc, argv, &shard);
    /* The last agreement: rank 0's write and commit, or a failure that the
     * steps before did not reach (a bad command line, the same everywhere). */
    code = shard_agree(&m, code == EXIT_OK ? -1 : code);
    code = cli_finish_stdout(code < 0 ? EXIT_OK : code);
    MPI_Comm_free(&m.comm);
    MPI_Finalize();
    return code;
}
