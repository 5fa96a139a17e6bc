/*
 * bruteforce.c — ground truth for the CLI recall tests: exact top-k in
 * float64, independent of the library's kernels: it uses the io readers and
 * writers and the float64 reference (base/reference.c), the one the tests
 * and the verify mode use.
 *
 *   bruteforce dot|cosine|l2 K QUERIES BASE OUT.ivecs
 *
 * Order: better score first, equal scores by lower id.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/reference.h"
#include "vecscore_io.h"

static int usage(void) {
    fprintf(stderr, "usage: bruteforce dot|cosine|l2 K QUERIES BASE OUT.ivecs\n");
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 6) return usage();
    int metric = strcmp(argv[1], "dot") == 0      ? (int)VS_METRIC_DOT
                 : strcmp(argv[1], "cosine") == 0 ? (int)VS_METRIC_COSINE
                 : strcmp(argv[1], "l2") == 0     ? (int)VS_METRIC_L2SQ
                                                  : -1;
    long k = strtol(argv[2], NULL, 10);
    if (metric < 0 || k < 1) return usage();
    char err[VS_IO_ERROR_SIZE];
    vs_reader *qr = NULL, *br = NULL;
    if (vs_reader_open(argv[3], VS_FORMAT_UNKNOWN, 0, &qr, err, sizeof(err)) != 0 ||
        vs_reader_open(argv[4], VS_FORMAT_UNKNOWN, 0, &br, err, sizeof(err)) != 0) {
        fprintf(stderr, "bruteforce: %s\n", err);
        return 2;
    }
    size_t nq = vs_reader_get_info(qr)->rows, nb = vs_reader_get_info(br)->rows;
    size_t dim = vs_reader_get_info(qr)->dim;
    if (vs_reader_get_info(br)->dim != dim || (size_t)k > nb) return usage();
    float *q = malloc(nq * dim * sizeof(float)), *b = malloc(nb * dim * sizeof(float));
    double *best = malloc((size_t)k * sizeof(double));
    int64_t *ids = malloc(nq * (size_t)k * sizeof(int64_t));
    if (!q || !b || !best || !ids || vs_reader_read_f32(qr, 0, nq, q) != 0 ||
        vs_reader_read_f32(br, 0, nb, b) != 0)
        return 2;
    for (size_t i = 0; i < nq; i++) {
        int64_t *row = ids + i * (size_t)k;
        long filled = 0;
        for (size_t j = 0; j < nb; j++) {
            /* The library's float64 reference (base/reference.c), higher is better throughout. */
            double s =
                vs__reference_score((vs_metric)metric, q + i * dim, b + j * dim, dim, NULL, NULL);
            if (metric == VS_METRIC_L2SQ) s = -s;
            /* insertion into the sorted list; a later id never beats an equal score */
            long at = filled < k ? filled : k;
            while (at > 0 && s > best[at - 1])
                at--;
            if (at >= k) continue;
            long last = filled < k ? filled : k - 1;
            for (long m = last; m > at; m--) {
                best[m] = best[m - 1];
                row[m] = row[m - 1];
            }
            best[at] = s;
            row[at] = (int64_t)j;
            if (filled < k) filled++;
        }
    }
    vs_writer *w = NULL;
    if (vs_writer_open(argv[5], VS_FORMAT_IVECS, VS_DTYPE_I32, (uint64_t)k, &w, err, sizeof(err)) !=
        0) {
        fprintf(stderr, "bruteforce: %s\n", err);
        return 4;
    }
    if (vs_writer_write_i64(w, ids, nq) != 0) {
        fprintf(stderr, "bruteforce: %s\n", vs_writer_error(w));
        vs_writer_abort(w);
        return 4;
    }
    if (vs_writer_commit(w, err, sizeof(err)) != 0) {
        fprintf(stderr, "bruteforce: %s\n", err);
        return 4;
    }
    vs_reader_close(qr);
    vs_reader_close(br);
    free(q);
    free(b);
    free(best);
    free(ids);
    return 0;
}
