/*
 * compact.c — corpora stored as float16, bfloat16 or int8 (include/vecscore.h
 * section 5a), backend-agnostic: encoding with per-vector scales and error
 * norms, the compact scan with its per-candidate bounds, and exact mode
 * (candidates that can reach the top k are rescored by the context's float32
 * corpus path, so the answer is the float32 corpus's, bit for bit).
 * The bounds are derived in docs/numerics.md, "Compact storage".
 *
 * On a context with an OpenCL device the codes (and, exact, the float32 rows)
 * are also placed on the device when the corpus is made; a batch the device
 * takes scans there (backend ops compact_scan, cl/compact.c) and rescores
 * through the device's float32 path, so its answer is the device float32
 * corpus's; anything the device cannot take runs on the CPU, and the report
 * says which ran and why.
 */
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../arena/pinned.h"
#include "../cpu/compact.h"
#include "../cpu/kernels.h"
#include "../cpu/pool.h"
#include "../cpu/topk.h"
#include "internal.h"

#define VS_U32 5.9604644775390625e-08 /* 2^-24, float32 unit roundoff */
#define VS_T32 1.4012984643248171e-45 /* 2^-149, float32 subnormal spacing */
#define VS_FTZ_BF16                                                                                \
    0x1p-123          /* per dim, vdpbf16ps's flushes: 2^-125 + 2 x 2^-126 + 2^-149 < 2^-123 */
#define BLOCK_ROWS 64 /* stored rows per kernel call */
#define SAFETY (1 + 0x1p-20) /* covers the float64 arithmetic of the bounds */
#define VS_COMPACT_MAX_DIM ((size_t)1 << 22)
#define DEVICE_CHUNK_BYTES ((size_t)64 << 20) /* host buffer of one device scan's raw sums */
#define DEVICE_CHUNK_QUERIES 256              /* queries per device scan, at most */

/* Per stored vector; norm is NaN for a vector with a NaN or infinite component. */
typedef struct compact_meta {
    double scale; /* stored value x scale = decoded component */
    double norm;  /* |c|, float64 */
    double err;   /* |c - decoded c|, rounded up */
    double cnorm; /* |decoded c| */
} compact_meta;

/*
 * Per BLOCK_ROWS stored rows: the largest scale, error and compact norm and
 * the range of the norms (exact mode's block filter, block_exact); plain is 0
 * when a vector of the block has a NaN or infinite component or a zero norm.
 */
typedef struct compact_block {
    double scale, err, cnorm, norm_max, norm_min;
    double rel_scale, rel_err, rel_cnorm; /* largest s / |c|, e / |c|, |c~| / |c| (rounded up) */
    int plain;
} compact_block;

struct vs__compact {
    vs_storage storage;
    int exact;
    size_t n, dim;
    void *codes; /* n x dim uint16_t (F16, BF16) or int8_t (I8) */
    compact_meta *meta;
    compact_block *blocks; /* ceil(n / BLOCK_ROWS) */
    double max_norm;       /* largest finite |c| */
    /* The device's copy of the codes (NULL: none, dev_why says why); its backend. */
    void *dev;
    const vs__backend_ops *dev_ops;
    void *dev_state;
    char dev_why[160];
};

static size_t element_bytes(vs_storage storage) {
    return storage == VS_STORAGE_I8 ? 1 : 2;
}

static void compact_free(vs__compact *cc);

/* ---- encoding --------------------------------------------------------------- */

/* Round-to-nearest-even float16 bits of v, |v| < 2^16 (v already scaled). */
static uint16_t encode_f16(double v) {
    const uint16_t sign = signbit(v) ? 0x8000 : 0;
    const double a = fabs(v);
    if (a == 0) return sign;
    int e = ilogb(a);
    if (e < -14) e = -14;
    double m = nearbyint(a / ldexp(1, e - 10));
    if (m >= 2048) {
        m /= 2;
        e++;
    }
    if (m < 1024) return (uint16_t)(sign | (uint16_t)m); /* subnormal (or 0) */
    return (uint16_t)(sign | (uint16_t)((e + 15) << 10) | (uint16_t)(m - 1024));
}

/* Round-to-nearest-even bfloat16 bits of v (v already scaled, |v| <= 2). */
static uint16_t encode_bf16(double v) {
    int e = v == 0 ? -126 : ilogb(v);
    if (e < -126) e = -126;
    const double ulp = ldexp(1, e - 7);
    union {
        float f;
        uint32_t u;
    } bits = {.f = (float)(nearbyint(v / ulp) * ulp)}; /* exact: a bfloat16 value */
    return (uint16_t)(bits.u >> 16);
}

static float decode_half(vs_storage type, uint16_t bits) {
    return type == VS_STORAGE_F16 ? vs__compact_f16_to_f32(bits) : vs__compact_bf16_to_f32(bits);
}

/*
 * Encodes one row (float32 values in x) into codes + meta. When `same` is not
 * NULL the row is given as half bits of the storage type itself and copied.
 */
static void encode_row(const vs__compact *cc, const float *x, const uint16_t *same, void *codes,
                       compact_meta *meta) {
    const size_t dim = cc->dim;
    double max = 0, norm_sq = 0;
    int finite = 1;
    for (size_t i = 0; i < dim; i++) {
        const double v = x[i];
        if (!isfinite(v)) finite = 0;
        if (fabs(v) > max) max = fabs(v);
        norm_sq += v * v;
    }
    memset(meta, 0, sizeof(*meta));
    meta->scale = 1;
    if (!finite) {
        memset(codes, 0, dim * element_bytes(cc->storage));
        meta->norm = NAN;
        return;
    }
    meta->norm = sqrt(norm_sq);
    if (same != NULL) {
        memcpy(codes, same, dim * sizeof(uint16_t));
        meta->cnorm = meta->norm;
        return;
    }
    if (max == 0) {
        memset(codes, 0, dim * element_bytes(cc->storage));
        return;
    }
    double scale;
    switch (cc->storage) {
    case VS_STORAGE_F16: scale = ldexp(1, ilogb(max) - 14); break;
    case VS_STORAGE_BF16: scale = ldexp(1, ilogb(max)); break;
    default: scale = max / 127; break;
    }
    meta->scale = scale;
    double err_sq = 0, cnorm_sq = 0;
    for (size_t i = 0; i < dim; i++) {
        const double v = x[i] / scale;
        double decoded;
        if (cc->storage == VS_STORAGE_I8) {
            double code = nearbyint(v);
            if (code > 127) code = 127;
            if (code < -127) code = -127;
            ((int8_t *)codes)[i] = (int8_t)code;
            decoded = code * scale;
        } else {
            const uint16_t bits = cc->storage == VS_STORAGE_F16 ? encode_f16(v) : encode_bf16(v);
            ((uint16_t *)codes)[i] = bits;
            decoded = (double)decode_half(cc->storage, bits) * scale;
        }
        err_sq += (x[i] - decoded) * (x[i] - decoded);
        cnorm_sq += decoded * decoded;
    }
    meta->cnorm = sqrt(cnorm_sq);
    /* float64 rounding of the sums, and (int8) of code x scale: far below these margins */
    meta->err = sqrt(err_sq) * (1 + 0x1p-30) + 0x1p-40 * meta->cnorm;
}

/* The per-block maxima of block_exact's filter. */
static void blocks_summarise(vs__compact *cc) {
    for (size_t b0 = 0; b0 < cc->n; b0 += BLOCK_ROWS) {
        compact_block *blk = &cc->blocks[b0 / BLOCK_ROWS];
        *blk = (compact_block){.norm_min = INFINITY, .plain = 1};
        const size_t b1 = cc->n - b0 < BLOCK_ROWS ? cc->n : b0 + BLOCK_ROWS;
        for (size_t j = b0; j < b1; j++) {
            const compact_meta *m = &cc->meta[j];
            if (!(m->norm > 0)) blk->plain = 0; /* NaN or zero */
            blk->scale = fmax(blk->scale, m->scale);
            blk->err = fmax(blk->err, m->err);
            blk->cnorm = fmax(blk->cnorm, m->cnorm);
            blk->norm_max = fmax(blk->norm_max, m->norm);
            blk->norm_min = fmin(blk->norm_min, m->norm);
            if (m->norm > 0) {
                blk->rel_scale = fmax(blk->rel_scale, m->scale / m->norm * (1 + 0x1p-50));
                blk->rel_err = fmax(blk->rel_err, m->err / m->norm * (1 + 0x1p-50));
                blk->rel_cnorm = fmax(blk->rel_cnorm, m->cnorm / m->norm * (1 + 0x1p-50));
            }
        }
    }
}

/*
 * On a context with an OpenCL device: the codes and (exact mode) the float32
 * rows f32 go to the device as well. Whatever fails leaves the corpus on the
 * CPU only, with the reason in cc->dev_why for the batch reports.
 */
static void device_place(vs_context *ctx, vs__compact *cc, const float *f32, vs_corpus *corpus) {
    const vs__backend_ops *ops = ctx->backend;
    if (ops == ctx->cpu) return;
    if (ops->compact_prepare == NULL) {
        snprintf(cc->dev_why, sizeof(cc->dev_why), "the %s backend has no compact kernels",
                 ops->name);
        return;
    }
    int status = ops->compact_prepare(ctx->backend_state, &ctx->env, (int)cc->storage, cc->codes,
                                      cc->n, cc->dim, &cc->dev, cc->dev_why, sizeof(cc->dev_why));
    if (status == VS_OK) {
        cc->dev_ops = ops;
        cc->dev_state = ctx->backend_state;
    }
    if (status == VS_OK && cc->exact) {
        void *data = NULL;
        status = ops->corpus_prepare(ctx->backend_state, &ctx->env, f32, cc->n, cc->dim, &data);
        if (status == VS_OK) corpus->data = data;
    }
    if (status == VS_OK) return;
    if (cc->dev != NULL) ops->compact_release(ctx->backend_state, cc->dev);
    cc->dev = NULL;
    if (cc->dev_why[0] == '\0')
        snprintf(cc->dev_why, sizeof(cc->dev_why),
                 "the corpus could not be placed on the device (%s)", vs_status_name(status));
    vs__log(vs__sink(ctx), VS_LOG_INFO, "compact corpus: %s; it runs on the CPU", cc->dev_why);
}

static int compact_create(vs_context *ctx, const float *vectors, const uint16_t *half,
                          vs_storage input, size_t n, size_t dim, const vs_corpus_options *opts,
                          vs_corpus *corpus) {
    if (dim >= VS_COMPACT_MAX_DIM) {
        vs__log(vs__sink(ctx), VS_LOG_ERROR,
                "vs_corpus_create_with: dim %zu is too large for %s storage", dim,
                vs_storage_name(opts->storage));
        return VS_ERR_INVALID_ARGUMENT;
    }
    vs__compact *cc = calloc(1, sizeof(*cc));
    float *row = malloc(dim * sizeof(float));
    float *widened = NULL;
    int status = VS_ERR_OUT_OF_MEMORY;
    if (cc == NULL || row == NULL) goto fail;
    cc->storage = opts->storage;
    cc->exact = opts->exact;
    cc->n = n;
    cc->dim = dim;
    if (n > 0) {
        /* 64-byte aligned (no SIMD load of a step splits a cache line); large ones on huge
         * pages, which the one-query scan streams once (docs/isa.md, "One-query kernels") */
        cc->codes = vs__alloc_large(n * dim * element_bytes(cc->storage), NULL);
        cc->meta = malloc(n * sizeof(compact_meta));
        cc->blocks = malloc((n + BLOCK_ROWS - 1) / BLOCK_ROWS * sizeof(compact_block));
        if (cc->codes == NULL || cc->meta == NULL || cc->blocks == NULL) goto fail;
    }
    const int copy_bits = half != NULL && input == cc->storage;
    for (size_t j = 0; j < n; j++) {
        const float *x = vectors != NULL ? vectors + j * dim : row;
        if (vectors == NULL)
            for (size_t i = 0; i < dim; i++)
                row[i] = decode_half(input, half[j * dim + i]);
        encode_row(cc, x, copy_bits ? half + j * dim : NULL,
                   (char *)cc->codes + j * dim * element_bytes(cc->storage), &cc->meta[j]);
        if (cc->meta[j].norm > cc->max_norm) cc->max_norm = cc->meta[j].norm;
    }
    blocks_summarise(cc);
    if (cc->exact) {
        /* The float32 rows for rescoring, on the CPU backend. */
        const float *f32 = vectors;
        if (f32 == NULL && n > 0) {
            widened = malloc(n * dim * sizeof(float));
            if (widened == NULL) goto fail;
            for (size_t e = 0; e < n * dim; e++)
                widened[e] = decode_half(input, half[e]);
            f32 = widened;
        }
        status =
            ctx->cpu->corpus_prepare(ctx->cpu_state, &ctx->env, f32, n, dim, &corpus->cpu_data);
        if (status != VS_OK) goto fail;
    }
    corpus->compact = cc;
    corpus->data = corpus->cpu_data;
    device_place(ctx, cc, vectors != NULL ? vectors : widened, corpus);
    free(widened);
    free(row);
    return VS_OK;
fail:
    if (status == VS_ERR_OUT_OF_MEMORY)
        vs__log(vs__sink(ctx), VS_LOG_ERROR,
                "vs_corpus_create_with: cannot allocate %zu x %zu %s vectors", n, dim,
                vs_storage_name(opts->storage));
    free(widened);
    free(row);
    compact_free(cc);
    return status;
}

static void compact_free(vs__compact *cc) {
    if (cc == NULL) return;
    if (cc->dev != NULL) cc->dev_ops->compact_release(cc->dev_state, cc->dev);
    free(cc->codes);
    free(cc->meta);
    free(cc->blocks);
    free(cc);
}

/* ---- queries and bounds -------------------------------------------------------- */

/* One query as the compact kernels see it, with the terms of its bounds. */
typedef struct prepared_query {
    int finite;
    double norm;     /* |q| */
    double hat_norm; /* Qh = 2^eq |q^|: the kernel's query, in the caller's units */
    double hat_err;  /* Qe = 2^eq |q 2^-eq - q^| */
    double unscale;  /* raw kernel sum x unscale x scale_j = compact dot */
    double under;    /* float kernels: 2^eq d t (products that underflow) */
} prepared_query;

/*
 * Where dim i of the kernels' float query goes for a dot_bf16 with
 * bf16_pairs = P (cpu/compact.h): each whole block of 2P dims holds its even
 * then its odd dims. The sum is over the same products, so the bounds do not
 * change.
 */
static size_t pair_index(size_t i, size_t dim, size_t pairs) {
    const size_t width = 2 * pairs, b = pairs > 0 ? i / width * width : 0;
    if (pairs == 0 || b + width > dim) return i;
    const size_t e = i - b;
    return b + (e % 2 ? pairs + e / 2 : e / 2);
}

/*
 * float32 to the nearest bfloat16, ties to even, with values below 2^-126 in
 * magnitude (subnormal) flushed to zero: the query a vdpbf16ps kernel sees
 * (bf16_round in cpu/compact.h). f is finite and far below the overflow.
 */
static float bf16_round_flush(float f) {
    if (fabsf(f) < 0x1p-126f) return 0.0f;
    uint32_t bits;
    memcpy(&bits, &f, sizeof(bits));
    bits += 0x7fffu + ((bits >> 16) & 1u);
    bits &= 0xffff0000u;
    memcpy(&f, &bits, sizeof(f));
    return f;
}

/*
 * kern: the CPU kernels that will scan (their bf16_pairs and bf16_round), or
 * NULL for the natural order and float32 queries (the device's kernels).
 */
static void prepare_query(const vs__compact *cc, const vs__compact_kernels *kern, const float *q,
                          float *qf, int16_t *q16, prepared_query *pq) {
    const size_t dim = cc->dim;
    const vs_storage storage = cc->storage;
    const size_t pairs = kern != NULL ? kern->bf16_pairs : 0;
    const int round_bf16 = kern != NULL && kern->bf16_round && storage == VS_STORAGE_BF16;
    double max = 0, norm_sq = 0;
    pq->finite = 1;
    for (size_t i = 0; i < dim; i++) {
        if (!isfinite(q[i])) pq->finite = 0;
        if (fabs((double)q[i]) > max) max = fabs((double)q[i]);
        norm_sq += (double)q[i] * q[i];
    }
    pq->norm = sqrt(norm_sq);
    const int eq = pq->finite && max > 0 ? ilogb(max) : 0;
    double hat_sq = 0, err_sq = 0;
    for (size_t i = 0; i < dim; i++) {
        const double scaled = pq->finite ? ldexp((double)q[i], -eq) : 0; /* exact in float64 */
        double hat;
        if (storage == VS_STORAGE_I8) {
            double level = nearbyint(scaled * 16384);
            if (level > 32767) level = 32767;
            if (level < -32767) level = -32767;
            q16[i] = (int16_t)level;
            hat = level / 16384;
        } else {
            float f = (float)scaled; /* exact unless it is subnormal */
            if (round_bf16) f = bf16_round_flush(f);
            qf[pair_index(i, dim, storage == VS_STORAGE_BF16 ? pairs : 0)] = f;
            hat = f;
        }
        hat_sq += hat * hat;
        err_sq += (scaled - hat) * (scaled - hat);
    }
    pq->hat_norm = ldexp(sqrt(hat_sq), eq) * (1 + 0x1p-40);
    pq->hat_err = ldexp(sqrt(err_sq), eq) * (1 + 0x1p-40);
    pq->unscale = cc->storage == VS_STORAGE_I8 ? ldexp(1, eq - 14) : ldexp(1, eq);
    /* per dim: a product that underflows; with vdpbf16ps (bf16_round) also its flush to zero of
     * subnormal stored values (< 2 x 2^-126 of product), products and sums (< 2^-126 each) */
    pq->under = cc->storage == VS_STORAGE_I8
                    ? 0
                    : ldexp((double)dim * (round_bf16 ? VS_FTZ_BF16 : VS_T32), eq);
}

/*
 * The compact score of a candidate with meta m (finite, and for COSINE both
 * norms nonzero) from its raw kernel sum, as "goodness" (higher is better:
 * L2SQ negated); *approx receives it as the metric states it and *dot the
 * compact dot product. candidate_score, block_exact and block_approx all
 * score through this one expression.
 */
static inline double score_of(vs_metric metric, const prepared_query *pq, const compact_meta *m,
                              double raw, double *dot, double *approx) {
    *dot = raw * pq->unscale * m->scale;
    double g;
    switch (metric) {
    case VS_METRIC_DOT: g = *approx = *dot; break;
    case VS_METRIC_COSINE:
        g = *dot / (pq->norm * m->norm);
        g = *approx = g > 1 ? 1 : (g < -1 ? -1 : g);
        break;
    default: {
        double l2 = pq->norm * pq->norm + m->norm * m->norm - 2 * *dot;
        if (l2 < 0) l2 = 0;
        *approx = l2;
        g = -l2;
        break;
    }
    }
    return g;
}

/* B_dot (docs/numerics.md): |exact - compact dot| for a vector's e, |c~|, s and |compact dot|. */
static double dot_bound_of(const vs__compact *cc, const prepared_query *pq, double err,
                           double cnorm, double scale, double abs_dot) {
    const double d = (double)cc->dim, u = VS_U32;
    const double gamma = cc->storage == VS_STORAGE_I8 ? 0 : d * u / (1 - d * u);
    return (pq->norm * err + (pq->hat_err + gamma * pq->hat_norm) * cnorm + pq->under * scale) *
               (1 + 0x1p-40) +
           0x1p-50 * abs_dot;
}

/*
 * Compact score of candidate j from the raw kernel sum, as "goodness" (higher
 * is better: L2SQ negated), with *bound bounding |exact - compact| and, when
 * exact is set, also the float32 corpus's error (so |float32 - compact| <=
 * *bound). *approx receives the score as the metric states it.
 */
static double candidate_score(const vs__compact *cc, vs_metric metric, const prepared_query *pq,
                              const compact_meta *m, double raw, int exact, double *bound,
                              double *approx) {
    const double d = (double)cc->dim, u = VS_U32;
    if (metric == VS_METRIC_COSINE && (m->norm == 0 || pq->norm == 0)) {
        *bound = *approx = 0;
        return 0;
    }
    double dot;
    const double g = score_of(metric, pq, m, raw, &dot, approx);
    const double dot_bound = dot_bound_of(cc, pq, m->err, m->cnorm, m->scale, fabs(dot));
    double b;
    switch (metric) {
    case VS_METRIC_DOT:
        b = dot_bound + (exact ? 2 * ((d + 2) * u * pq->norm * m->norm + d * VS_T32) : 0);
        break;
    case VS_METRIC_COSINE:
        b = dot_bound / (pq->norm * m->norm) * (1 + 0x1p-40) + 0x1p-50 +
            (exact ? 2 * (2 * d + 10) * u : 0);
        break;
    default: {
        const double norms = pq->norm * pq->norm + m->norm * m->norm;
        b = 2 * dot_bound + 0x1p-50 * norms +
            (exact ? 2 * ((2 * d + 8) * u * norms + 2 * d * VS_T32) : 0);
        break;
    }
    }
    *bound = b * SAFETY;
    return g;
}

/* Raw sums of queries [0, rows) of a group against stored rows [c0, c0 + count). */
static void scan_block(const vs__compact *cc, const vs__compact_kernels *kern,
                       const float *const *qf, const int16_t *const *q16, size_t rows, size_t c0,
                       size_t count, double *raw) {
    const size_t dim = cc->dim;
    if (cc->storage == VS_STORAGE_I8) {
        int64_t sums[VS_COMPACT_QUERIES * BLOCK_ROWS];
        kern->dot_i8(q16, rows, (const int8_t *)cc->codes + c0 * dim, count, dim, sums, BLOCK_ROWS);
        for (size_t r = 0; r < rows; r++)
            for (size_t j = 0; j < count; j++)
                raw[r * BLOCK_ROWS + j] = (double)sums[r * BLOCK_ROWS + j];
        return;
    }
    float sums[VS_COMPACT_QUERIES * BLOCK_ROWS];
    const uint16_t *stored = (const uint16_t *)cc->codes + c0 * dim;
    if (cc->storage == VS_STORAGE_F16)
        kern->dot_f16(qf, rows, stored, count, dim, sums, BLOCK_ROWS);
    else
        kern->dot_bf16(qf, rows, stored, count, dim, sums, BLOCK_ROWS);
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < count; j++)
            raw[r * BLOCK_ROWS + j] = (double)sums[r * BLOCK_ROWS + j];
}

/* ---- exact-mode candidate selection ------------------------------------------- */

/* Per query: the k largest lower bounds (a min-heap) and the candidate list. */
typedef struct selection {
    double *lows; /* min-heap of lower bounds, `filled` of `k` */
    size_t k, filled;
    size_t *ids;
    double *highs;
    size_t count, cap;
    int overflow; /* more than cap candidates: the query falls back */
    /*
     * seeded: the floor is at least seed, a k-th largest lower bound of other
     * stored rows (the seed units of a blocked job, scan_batch), so never above
     * the whole scan's final floor.
     */
    int seeded;
    double seed;
} selection;

static double selection_floor(const selection *s) {
    const double own = s->filled == s->k ? s->lows[0] : -INFINITY;
    return s->seeded && s->seed > own ? s->seed : own;
}

static void lows_push(selection *s, double low) {
    double *h = s->lows;
    size_t at;
    if (s->filled < s->k) {
        at = s->filled++;
        while (at > 0 && h[(at - 1) / 2] > low) {
            h[at] = h[(at - 1) / 2];
            at = (at - 1) / 2;
        }
        h[at] = low;
        return;
    }
    if (!(low > h[0])) return;
    at = 0;
    for (;;) {
        size_t child = 2 * at + 1;
        if (child >= s->k) break;
        if (child + 1 < s->k && h[child + 1] < h[child]) child++;
        if (!(h[child] < low)) break;
        h[at] = h[child];
        at = child;
    }
    h[at] = low;
}

/* Drops the candidates that can no longer reach the top k (order kept). */
static void selection_prune(selection *s) {
    const double floor = selection_floor(s);
    size_t kept = 0;
    for (size_t e = 0; e < s->count; e++)
        if (s->highs[e] >= floor) {
            s->ids[kept] = s->ids[e];
            s->highs[kept] = s->highs[e];
            kept++;
        }
    s->count = kept;
}

static void selection_add(selection *s, size_t id, double high) {
    if (s->overflow) return;
    if (s->count == s->cap) {
        selection_prune(s);
        if (s->count == s->cap) {
            s->overflow = 1;
            return;
        }
    }
    s->ids[s->count] = id;
    s->highs[s->count] = high;
    s->count++;
}

/* ---- batches on the float32 corpus ---------------------------------------------- */

static void report_begin(vs_batch_report *report, const vs_corpus *c, vs_metric metric, size_t nq,
                         size_t k) {
    memset(report, 0, sizeof(*report));
    report->struct_size = sizeof(*report);
    report->version = VS_REPORT_VERSION;
    report->metric = (int)metric;
    report->queries = nq;
    report->candidates = c->n;
    report->dim = c->dim;
    report->k = k;
    report->storage = (int)c->storage;
    report->threads = 1;
    report->threads_joined = 1;
    report->threads_requested = c->ctx->cfg.threads_requested;
}

/* Top-k of nq queries against a float32 corpus `data` of nc rows of backend ops. */
static int f32_topk(vs_context *ctx, const vs__backend_ops *ops, void *state, const void *data,
                    size_t nc, size_t dim, vs_metric metric, const float *queries, size_t nq,
                    size_t k, float *scores, int64_t *ids, vs_batch_report *sub) {
    memset(sub, 0, sizeof(*sub));
    vs__batch b = {.metric = metric,
                   .queries = queries,
                   .nq = nq,
                   .dim = dim,
                   .corpus = data,
                   .nc = nc,
                   .k = k,
                   .scores = scores,
                   .ids = ids,
                   .report = sub,
                   .ctx = &ctx->env};
    return vs__run_on(ctx, ops, state, &b, NULL);
}

/*
 * Rescores candidates ids[0..m) (ascending) of one query with the float32
 * corpus path of backend ops (the CPU's, or the device's when the device
 * scanned): their rows gathered (in ascending order, so ties keep the
 * library's order) into a small corpus, top-k there, ids mapped back.
 */
static int rescore(vs_corpus *c, const vs__backend_ops *ops, void *state, vs_metric metric,
                   const float *query, const size_t *cand, size_t m, size_t k, float *scores,
                   int64_t *ids, vs_batch_report *sub) {
    vs_context *ctx = c->ctx;
    const size_t dim = c->dim, kk = k < m ? k : m;
    const float padding = metric == VS_METRIC_L2SQ ? INFINITY : -INFINITY;
    for (size_t e = 0; e < k; e++) {
        scores[e] = padding;
        ids[e] = -1;
    }
    if (m == 0) return VS_OK;
    float *rows = malloc(m * dim * sizeof(float));
    if (rows == NULL) return VS_ERR_OUT_OF_MEMORY;
    for (size_t e = 0; e < m; e++)
        ctx->cpu->corpus_row(ctx->cpu_state, c->cpu_data, cand[e], rows + e * dim);
    void *small = NULL;
    int status = ops->corpus_prepare(state, &ctx->env, rows, m, dim, &small);
    free(rows);
    if (status != VS_OK) return status;
    status = f32_topk(ctx, ops, state, small, m, dim, metric, query, 1, kk, scores, ids, sub);
    ops->corpus_release(state, small);
    for (size_t e = 0; e < kk && status == VS_OK; e++)
        if (ids[e] >= 0) ids[e] = (int64_t)cand[ids[e]];
    return status;
}

/* ---- the batch --------------------------------------------------------------------- */

typedef struct scan_buffers {
    float *qf;      /* VS_COMPACT_QUERIES x dim */
    int16_t *q16;   /* VS_COMPACT_QUERIES x dim */
    double *raw;    /* VS_COMPACT_QUERIES x BLOCK_ROWS */
    selection *sel; /* VS_COMPACT_QUERIES */
    double *lows;
    size_t *ids;
    double *highs;
} scan_buffers;

static void buffers_free(scan_buffers *sb) {
    free(sb->qf);
    free(sb->q16);
    free(sb->raw);
    free(sb->sel);
    free(sb->lows);
    free(sb->ids);
    free(sb->highs);
}

/* Every buffer of a batch; the caller calls buffers_free whatever this returns. */
static int buffers_alloc(scan_buffers *sb, size_t dim, size_t k, size_t cap) {
    memset(sb, 0, sizeof(*sb));
    const size_t g = VS_COMPACT_QUERIES;
    sb->qf = malloc(g * dim * sizeof(float));
    sb->q16 = malloc(g * dim * sizeof(int16_t));
    sb->raw = malloc(g * BLOCK_ROWS * sizeof(double));
    sb->sel = calloc(g, sizeof(selection));
    if (k > 0) {
        sb->lows = malloc(g * k * sizeof(double));
        sb->ids = malloc(g * cap * sizeof(size_t));
        sb->highs = malloc(g * cap * sizeof(double));
    }
    if (sb->qf == NULL || sb->q16 == NULL || sb->raw == NULL || sb->sel == NULL ||
        (k > 0 && (sb->lows == NULL || sb->ids == NULL || sb->highs == NULL)))
        return VS_ERR_OUT_OF_MEMORY; /* the caller's buffers_free releases what was made */
    return VS_OK;
}

/* 1 when the float32 corpus's bound cannot be certified for this query (it may overflow). */
static int needs_fallback(const vs__compact *cc, vs_metric metric, const prepared_query *pq) {
    if (!pq->finite || pq->norm == 0) return 1;
    if (metric == VS_METRIC_DOT) return pq->norm * cc->max_norm >= 0x1p120;
    if (metric == VS_METRIC_L2SQ)
        return (pq->norm + cc->max_norm) * (pq->norm + cc->max_norm) >= 0x1p120;
    return 0;
}

/*
 * Device exact mode: the queries of a device chunk whose candidates wait for
 * their float32 rescoring batch (rescore_pending), and the union of one
 * rescoring batch's candidates.
 */
typedef struct rescore_queue {
    size_t *queries; /* count: the pending queries */
    size_t *starts;  /* count + 1: query p's candidates are ids[starts[p] .. starts[p + 1]) */
    size_t *ids;     /* ascending per query */
    size_t count, queries_cap, starts_cap, ids_cap;
    size_t *rows; /* one batch's union of candidates */
    size_t rows_cap;
    uint32_t *stamp; /* n: the batch (epoch) that last took stored row j into rows */
    uint32_t epoch;
    uint64_t batches, whole; /* rescoring batches launched; those on the whole float32 corpus */
} rescore_queue;

/* One batch on a compact corpus: what its steps share. */
typedef struct run_state {
    vs_corpus *c;
    const vs__compact *cc;
    const vs__compact_kernels *kern;
    vs_metric metric;
    const float *queries;
    size_t k, kk, cap; /* k; min(k, n); the candidate list's capacity */
    int exact;
    float *scores; /* the caller's score matrix (k == 0) */
    float *out_scores;
    int64_t *out_ids; /* nq x k, copied to the caller's buffers at the end */
    size_t *fallback, fallbacks;
    scan_buffers sb;
    vs_batch_report report, sub;
    double max_bound;
    /* The device scan (dev_on): raw sums of queries [dev_q0, dev_q0 + dev_rows) x every row. */
    int dev_on;
    const vs__backend_ops *f32_ops; /* the float32 path that rescores: the CPU's or the device's */
    void *f32_state;
    size_t dev_q0, dev_rows, dev_cap;
    float *dev_qf, *dev_f;
    int16_t *dev_q16;
    int64_t *dev_i;
    rescore_queue pending; /* exact mode on the device: rescoring, one batch per chunk */
    /* The CPU scan (scan_batch): one job's state, reused by every job of the batch. */
    size_t chunk, units;      /* queries per job; units per job */
    size_t unit_kk, unit_cap; /* per (unit, query): lows kept, candidates kept */
    size_t q0, rows;          /* the current job's queries */
    float *qf;                /* chunk x dim */
    int16_t *q16;             /* chunk x dim */
    const float **qf_rows;
    const int16_t **q16_rows;
    prepared_query *pq; /* chunk */
    int *active;        /* chunk: 0 for a query that goes to the float32 corpus */
    selection *sel;     /* units x chunk (exact) */
    double *sel_lows;
    size_t *sel_ids;
    double *sel_highs;
    vs__heap *heaps; /* units x chunk (approximate top-k) */
    float *heap_keys;
    int64_t *heap_ids;
    double *unit_bound; /* units: the largest bound each unit saw (approximate mode) */
    selection merged;   /* one query's candidates over every unit */
    /*
     * The blocked kernels (cpu/compact.h): `blocked` for the current job; its
     * queries packed once (qpack_f: slivers of f32->mr; qpack_i: of i8_mr);
     * per pool slot, the block's panels and raw sums (slot_bytes each).
     */
    int blocked, can_block;
    float *qpack_f;
    int32_t *qpack_i;
    unsigned char *slot_scratch;
    size_t slots, slot_bytes, panel_bytes;
    size_t unit_base; /* the pool's unit u is scan unit unit_base + u */
} run_state;

/* One group's queries: prepared, with their selections or heaps. */
typedef struct group {
    size_t q0, rows;
    prepared_query pq[VS_COMPACT_QUERIES];
    const float *qf[VS_COMPACT_QUERIES];
    const int16_t *q16[VS_COMPACT_QUERIES];
    int active[VS_COMPACT_QUERIES];
    vs__heap heaps[VS_COMPACT_QUERIES];
} group;

static void group_prepare(run_state *rs, group *g) {
    const size_t dim = rs->cc->dim;
    for (size_t r = 0; r < g->rows; r++) {
        const size_t q = g->q0 + r;
        prepare_query(rs->cc, rs->dev_on ? NULL : rs->kern, rs->queries + q * dim,
                      rs->sb.qf + r * dim, rs->sb.q16 + r * dim, &g->pq[r]);
        /* A device may flush subnormal inputs, products and sums to zero (docs/numerics.md). */
        if (rs->dev_on && rs->cc->storage != VS_STORAGE_I8)
            g->pq[r].under = (double)dim * 0x1p-109 * g->pq[r].unscale;
        g->qf[r] = rs->sb.qf + r * dim;
        g->q16[r] = rs->sb.q16 + r * dim;
        g->active[r] = 1;
        if (rs->exact) {
            selection *s = &rs->sb.sel[r];
            *s = (selection){.lows = rs->sb.lows + r * rs->kk,
                             .k = rs->kk,
                             .ids = rs->sb.ids + r * rs->cap,
                             .highs = rs->sb.highs + r * rs->cap,
                             .cap = rs->cap};
            if (needs_fallback(rs->cc, rs->metric, &g->pq[r]) || rs->kk == 0) {
                g->active[r] = 0;
                rs->fallback[rs->fallbacks++] = q;
            }
        } else if (rs->k > 0) {
            vs__heap_init(&g->heaps[r], rs->out_scores + q * rs->k, rs->out_ids + q * rs->k,
                          rs->kk);
        }
    }
}

static void unit_candidate(const run_state *rs, const prepared_query *pq, selection *s,
                           vs__heap *heap, double *max_bound, size_t q, size_t j, double raw);

/* Candidate j of query row r of the group (the device path), with its raw kernel sum. */
static void take_candidate(run_state *rs, group *g, size_t r, size_t j, double raw) {
    unit_candidate(rs, &g->pq[r], &rs->sb.sel[r], &g->heaps[r], &rs->max_bound, g->q0 + r, j, raw);
}

/*
 * The CPU scan (docs/design.md, "Compact storage"): a batch runs in jobs of
 * up to CHUNK_QUERIES queries; a job is cut into units of UNIT_ROWS stored
 * rows that the library's pool hands out (the caller works too, units are
 * claimed dynamically). A unit walks its rows in blocks of BLOCK_ROWS and,
 * for each block (kept in cache), runs the kernel for every tile of
 * VS_COMPACT_QUERIES queries of the job, so the compact bytes are read once
 * per job. Each (unit, query) keeps its own candidates (exact mode) or heap
 * (approximate top-k), merged afterwards in unit order; the unit boundaries
 * depend on n only and a pair's kernel sum on nothing but the pair, so the
 * answer, the candidates rescored and the report do not depend on the
 * thread count or on timing.
 */
#define UNIT_ROWS ((size_t)64 * BLOCK_ROWS) /* stored rows per pool unit */
#define CHUNK_QUERIES 64                    /* queries per job, at most */
#define CHUNK_ENTRIES ((size_t)1 << 22)     /* per-unit entries (lows, candidates) of a job */

/*
 * Candidate j (raw kernel sum) for one query, into its selection (exact) or
 * heap / row; *max_bound (approximate mode) takes the largest bound seen.
 */
static void unit_candidate(const run_state *rs, const prepared_query *pq, selection *s,
                           vs__heap *heap, double *max_bound, size_t q, size_t j, double raw) {
    const compact_meta *m = &rs->cc->meta[j];
    double bound, approx, goodness;
    if (!isnan(m->norm) && pq->finite) {
        goodness = candidate_score(rs->cc, rs->metric, pq, m, raw, rs->exact, &bound, &approx);
    } else if (rs->metric == VS_METRIC_COSINE && (m->norm == 0 || pq->norm == 0)) {
        goodness = approx = bound = 0; /* a zero vector's cosine is 0 */
    } else {
        goodness = approx = bound = NAN;
    }
    if (rs->exact) {
        if (!isfinite(goodness) || !isfinite(bound)) {
            selection_add(s, j, INFINITY); /* always rescored */
            return;
        }
        const double high = goodness + bound;
        if (high < selection_floor(s)) return;
        selection_add(s, j, high);
        lows_push(s, goodness - bound);
        return;
    }
    if (bound > *max_bound) *max_bound = bound;
    if (rs->k == 0) {
        rs->scores[q * rs->cc->n + j] = (float)approx;
    } else {
        const float key = rs->metric == VS_METRIC_L2SQ ? -(float)approx : (float)approx;
        vs__heap_push(heap, key, (int64_t)j);
    }
}

/* The block's made-up vector: its largest scale, error, compact norm and norm (COSINE: smallest).
 */
static compact_meta block_most(const compact_block *blk, vs_metric metric) {
    return (compact_meta){.scale = blk->scale,
                          .norm = metric == VS_METRIC_COSINE ? blk->norm_min : blk->norm_max,
                          .err = blk->err,
                          .cnorm = blk->cnorm};
}

/* Testing hook (vs__compact_test_raw_filter): the threshold off; rows it dropped, when counting. */
static int raw_filter_off, raw_filter_counting;
static size_t raw_filter_dropped;

size_t vs__compact_test_raw_filter(int mode) {
    raw_filter_off = mode == 0;
    raw_filter_counting = mode == 2;
    return __atomic_exchange_n(&raw_filter_dropped, 0, __ATOMIC_RELAXED);
}

/*
 * Exact mode's raw threshold for a block (docs/numerics.md, "Compact
 * storage", raw filter): a row whose raw kernel sum is below it fails
 * block_exact's test g + block_bound + slack < floor, so it is dropped
 * before any float64 work. T = floor - block_bound, less a 2^-40 margin of
 * the magnitudes for the float64 arithmetic here and there; g is at most
 * c x raw x unscale x blk->scale - shift for every row of the block
 * (DOT: c = 1, shift = 0; COSINE: divided by Q min |c|; L2SQ: c = 2 + 2^-48,
 * shift = (Q^2 + min |c|^2)(1 - 2^-40)), so raw < (T + shift) / (c unscale
 * blk->scale) / (1 + 2^-30) implies the test for raw >= 0, and a raw <= 0
 * gives g + slack <= -shift < T when T + shift > 0. -INFINITY when the
 * threshold does not apply (T + shift <= 0, or anything not finite).
 */
static double raw_threshold(vs_metric metric, const prepared_query *pq, const compact_block *blk,
                            double floor, double block_bound) {
    if (raw_filter_off) return -INFINITY;
    double t = floor - block_bound - 0x1p-40 * (fabs(floor) + block_bound), c = 1, shift = 0;
    if (metric == VS_METRIC_COSINE) {
        t *= pq->norm * blk->norm_min * (1 - 0x1p-40);
        c = 1 + 0x1p-47;
    } else if (metric == VS_METRIC_L2SQ) {
        shift = (pq->norm * pq->norm + blk->norm_min * blk->norm_min) * (1 - 0x1p-40);
        c = 2 + 0x1p-47;
    } else {
        c = 1 + 0x1p-47;
    }
    const double lifted = t + shift, per_raw = c * pq->unscale * blk->scale;
    if (!(lifted > 0) || !isfinite(lifted) || !(per_raw > 0) || !isfinite(per_raw))
        return -INFINITY;
    return lifted / per_raw / (1 + 0x1p-30);
}

/* B_blk: exact mode's candidate bound of the block's made-up vector (block_most), rounded up. */
static double block_bound_of(const run_state *rs, const prepared_query *pq,
                             const compact_block *blk) {
    const compact_meta most = block_most(blk, rs->metric);
    double block_bound, ignored;
    candidate_score(rs->cc, rs->metric, pq, &most, 0, 1, &block_bound, &ignored);
    return block_bound * (1 + 0x1p-40);
}

/* The block filter of one query and block (block_exact): on once the selection has a floor. */
typedef struct block_filter {
    int on;
    double bound;     /* B_blk, the bound of the block's made-up vector (block_most) */
    double floor;     /* the selection's floor when the filter was made */
    double threshold; /* raw_threshold at that floor; -INFINITY when off */
} block_filter;

static block_filter block_filter_of(const run_state *rs, const prepared_query *pq,
                                    const selection *s, size_t b0) {
    const compact_block *blk = &rs->cc->blocks[b0 / BLOCK_ROWS];
    block_filter f = {.threshold = -INFINITY};
    if (!blk->plain || !(selection_floor(s) > -INFINITY)) return f;
    f.bound = block_bound_of(rs, pq, blk);
    f.on = 1;
    f.floor = selection_floor(s);
    f.threshold = raw_threshold(rs->metric, pq, blk, f.floor, f.bound);
    return f;
}

/*
 * Exact mode, one query against the block of stored rows [b0, b0 + count),
 * with the block filter f made for it (block_filter_of) and keep the rows the
 * kernel kept (bit j: row b0 + j; the fused kernels drop the rows below
 * f->threshold, others keep every row): once the selection has a floor, a
 * candidate is dropped at the cost of one score when even the block's
 * largest bound cannot lift it to the floor. The block bound is the
 * candidate bound of a made-up vector with the block's largest scale, error
 * and compact norm (and its smallest norm for cosine, its largest
 * otherwise): every term of the bound grows with these, and the 2^-50 |dot|
 * term is added per candidate (with a margin for the float64 arithmetic).
 * Before that, rows whose raw sum is below the block's raw threshold
 * (raw_threshold) are dropped with one comparison, in the kernel or here
 * (the threshold only rises with the floor, so a row the kernel dropped is
 * one this loop would drop). Candidates neither can drop take the full
 * bound. raw[j] is read only for the rows kept.
 */
static void block_exact(const run_state *rs, const prepared_query *pq, selection *s, size_t b0,
                        size_t count, const double *raw, uint64_t keep, const block_filter *f) {
    const vs__compact *cc = rs->cc;
    const compact_block *blk = &cc->blocks[b0 / BLOCK_ROWS];
    const uint64_t rows = count < 64 ? ((uint64_t)1 << count) - 1 : ~(uint64_t)0;
    double unused = 0; /* exact mode reports no bound */
    keep &= rows;
    if (f->on) {
        double floor = f->floor, threshold = f->threshold;
        size_t dropped = count - (size_t)__builtin_popcountll(keep);
        for (; keep != 0; keep &= keep - 1) {
            const size_t j = (size_t)__builtin_ctzll(keep);
            if (raw[j] < threshold) {
                dropped++;
                continue;
            }
            const compact_meta *m = &cc->meta[b0 + j];
            double dot, approx;
            const double g = score_of(rs->metric, pq, m, raw[j], &dot, &approx);
            const double slack =
                0x1p-48 *
                (rs->metric == VS_METRIC_COSINE ? fabs(dot / (pq->norm * m->norm)) : fabs(dot));
            if (g + f->bound + slack < floor) continue;
            unit_candidate(rs, pq, s, NULL, &unused, rs->q0, b0 + j, raw[j]);
            if (selection_floor(s) > floor) { /* the floor rose: so does the threshold */
                floor = selection_floor(s);
                threshold = raw_threshold(rs->metric, pq, blk, floor, f->bound);
            }
        }
        if (raw_filter_counting) __atomic_fetch_add(&raw_filter_dropped, dropped, __ATOMIC_RELAXED);
        return;
    }
    for (; keep != 0; keep &= keep - 1) {
        const size_t j = (size_t)__builtin_ctzll(keep);
        unit_candidate(rs, pq, s, NULL, &unused, rs->q0, b0 + j, raw[j]);
    }
}

/*
 * Approximate mode, one query against the block of stored rows [b0, b0 +
 * count): each row's score into the heap or the score matrix, and into
 * *max_bound one bound for the whole block: the candidate bound of the
 * block's made-up vector (block_most) at the block's largest |raw|, which is
 * at least every row's own bound (each term grows with these;
 * docs/numerics.md, "Approximate mode's reported bound"). Blocks with a zero
 * or non-finite vector, and non-finite queries, take the per-row path.
 */
static void block_approx(const run_state *rs, const prepared_query *pq, vs__heap *heap,
                         double *max_bound, size_t q, size_t b0, size_t count, const double *raw) {
    const vs__compact *cc = rs->cc;
    const compact_block *blk = &cc->blocks[b0 / BLOCK_ROWS];
    if (!blk->plain || !pq->finite || pq->norm == 0) {
        for (size_t j = 0; j < count; j++)
            unit_candidate(rs, pq, NULL, heap, max_bound, q, b0 + j, raw[j]);
        return;
    }
    double top = 0, top_cos = 0;
    for (size_t j = 0; j < count; j++) {
        double dot, approx;
        score_of(rs->metric, pq, &cc->meta[b0 + j], raw[j], &dot, &approx);
        top = fmax(top, fabs(raw[j]));
        if (rs->metric == VS_METRIC_COSINE)
            top_cos = fmax(top_cos, fabs(dot / (pq->norm * cc->meta[b0 + j].norm)));
        if (rs->k == 0) {
            rs->scores[q * cc->n + b0 + j] = (float)approx;
        } else {
            const float key = rs->metric == VS_METRIC_L2SQ ? -(float)approx : (float)approx;
            vs__heap_push(heap, key, (int64_t)(b0 + j));
        }
    }
    double bound, ignored;
    if (rs->metric == VS_METRIC_COSINE) {
        /* B_dot / (Q |c|) is B_dot of the vector divided by |c|: the block's relative maxima */
        bound = (dot_bound_of(cc, pq, blk->rel_err, blk->rel_cnorm, blk->rel_scale,
                              pq->norm * top_cos) /
                     pq->norm * (1 + 0x1p-40) +
                 0x1p-50) *
                SAFETY;
    } else {
        const compact_meta most = block_most(blk, rs->metric);
        candidate_score(cc, rs->metric, pq, &most, top, 0, &bound, &ignored);
    }
    bound *= 1 + 0x1p-40;
    if (bound > *max_bound) *max_bound = bound;
}

/* One query's raw sums of a block, through its selection (exact) or heap / row. */
static void block_deliver(const run_state *rs, size_t unit, size_t qi, size_t b0, size_t count,
                          const double *raw, double *max_bound) {
    const size_t at = unit * rs->chunk + qi;
    if (!rs->active[qi]) return;
    if (rs->exact) {
        const block_filter f = block_filter_of(rs, &rs->pq[qi], &rs->sel[at], b0);
        block_exact(rs, &rs->pq[qi], &rs->sel[at], b0, count, raw, ~(uint64_t)0, &f);
        return;
    }
    block_approx(rs, &rs->pq[qi], rs->k > 0 ? &rs->heaps[at] : NULL, max_bound, rs->q0 + qi, b0,
                 count, raw);
}

/*
 * Exact mode's fused threshold for one block of the blocked kernels
 * (docs/numerics.md, "Fused threshold"): per row j a float factor f_j >= its
 * share of the block's largest scale term (DOT, L2SQ: s_j / s_max; COSINE:
 * (s_j / |c_j|) / max s / |c|), and per query a float threshold t such that
 * a row with fl(A_j) f_j < t (the kernels' test, cpu/compact.h) fails
 * block_exact's test g + B_blk + slack < floor, at the floor the selection
 * has now (floors only rise). t is raw_threshold's value for a made-up block
 * whose scale is the largest scale term (COSINE: and whose smallest norm is
 * 1), lowered by 2^-20 for the float32 roundings; -INFINITY (every row
 * passes) where the threshold does not apply. Returns 0 when no query of the
 * block has a threshold (the block goes without the filter).
 */
static int fused_threshold(const run_state *rs, size_t unit, size_t b0, size_t count, float *factor,
                           float *threshold) {
    const vs__compact *cc = rs->cc;
    const compact_block *blk = &cc->blocks[b0 / BLOCK_ROWS];
    if (!blk->plain || !rs->exact) return 0;
    const int cosine = rs->metric == VS_METRIC_COSINE;
    compact_block made_up = *blk;
    if (cosine) {
        made_up.scale = blk->rel_scale;
        made_up.norm_min = 1;
    }
    int any = 0;
    for (size_t qi = 0; qi < rs->rows; qi++) {
        const selection *s = &rs->sel[unit * rs->chunk + qi];
        threshold[qi] = -INFINITY;
        if (!rs->active[qi] || selection_floor(s) == -INFINITY) continue;
        const prepared_query *pq = &rs->pq[qi];
        const double t = raw_threshold(rs->metric, pq, &made_up, selection_floor(s),
                                       block_bound_of(rs, pq, blk)) *
                         (1 - 0x1p-20);
        if (!(t >= 0x1p-100)) continue; /* -INFINITY, or too small for the float32 margins */
        threshold[qi] = t < FLT_MAX ? (float)t : FLT_MAX;
        any = 1;
    }
    if (!any) return 0;
    for (size_t j = 0; j < count; j++) {
        const compact_meta *m = &cc->meta[b0 + j];
        const double share =
            (cosine ? m->scale / m->norm / blk->rel_scale : m->scale / blk->scale) * (1 + 0x1p-40);
        float f = share > 0x1p-100 ? (float)share : 0x1p-100f;
        if ((double)f < share) f = nextafterf(f, INFINITY); /* rounded up */
        factor[j] = f;
    }
    return 1;
}

/* Testing hook (vs__compact_test_fused_filter): the fused threshold off; rows it dropped. */
static int fused_filter_off, fused_filter_counting;
static size_t fused_filter_dropped;

size_t vs__compact_test_fused_filter(int mode) {
    fused_filter_off = mode == 0;
    fused_filter_counting = mode == 2;
    return __atomic_exchange_n(&fused_filter_dropped, 0, __ATOMIC_RELAXED);
}

/*
 * One query's sums of a block from the blocked kernels: fsum (float) or isum
 * (int64) row by row. With a fused threshold (filtered), a query none of whose
 * rows passed in the kernel is done; otherwise only the rows that pass (the
 * kernels' own test, repeated) go to block_exact, each alone.
 */
static void blocked_deliver(const run_state *rs, size_t unit, size_t qi, size_t b0, size_t count,
                            const float *fsum, const int64_t *isum, int filtered,
                            const float *factor, float threshold, uint32_t hits,
                            double *max_bound) {
    if (!rs->active[qi] || (fsum == NULL && isum == NULL)) return;
    double raw[BLOCK_ROWS];
    if (!filtered || threshold == -INFINITY) {
        for (size_t j = 0; j < count; j++)
            raw[j] = fsum != NULL ? (double)fsum[j] : (double)isum[j];
        block_deliver(rs, unit, qi, b0, count, raw, max_bound);
        return;
    }
    size_t dropped = count;
    if (hits > 0)
        for (size_t j = 0; j < count; j++) {
            const float sum = fsum != NULL ? fsum[j] : (float)isum[j];
            if (sum * factor[j] < threshold) continue;
            const double one = fsum != NULL ? (double)fsum[j] : (double)isum[j];
            selection *sel = &rs->sel[unit * rs->chunk + qi];
            const block_filter f = block_filter_of(rs, &rs->pq[qi], sel, b0 + j);
            block_exact(rs, &rs->pq[qi], sel, b0 + j, 1, &one, ~(uint64_t)0, &f);
            dropped--;
        }
    if (fused_filter_counting) __atomic_fetch_add(&fused_filter_dropped, dropped, __ATOMIC_RELAXED);
}

/*
 * The blocked form of one block (rs->blocked): the stored rows [b0, b0 +
 * count) decoded once into the slot's panels, every query of the job against
 * them (cpu/compact.h), exact mode's fused threshold tested in the kernels'
 * epilogue (fused_threshold), then each query's sums delivered
 * (blocked_deliver). A pair's sum depends only on the pair (one chain in dim
 * order for the float kinds, exact for int8), so the answer still does not
 * depend on the split.
 */
static void scan_block_blocked(const run_state *rs, size_t unit, int slot, size_t b0, size_t count,
                               double *max_bound) {
    const vs__compact *cc = rs->cc;
    const vs__compact_kernels *kern = rs->kern;
    const size_t dim = cc->dim;
    unsigned char *scratch = rs->slot_scratch + (size_t)slot * rs->slot_bytes;
    float factor[BLOCK_ROWS], threshold[CHUNK_QUERIES];
    uint32_t hits[CHUNK_QUERIES];
    const int filtered =
        !fused_filter_off && fused_threshold(rs, unit, b0, count, factor, threshold);
    const vs__compact_filter filter = {.threshold = threshold, .factor = factor, .hits = hits};
    if (filtered) memset(hits, 0, rs->rows * sizeof(uint32_t));
    if (cc->storage == VS_STORAGE_I8) {
        int16_t *panels = (int16_t *)(void *)scratch;
        int64_t *sums = (int64_t *)(void *)(scratch + rs->panel_bytes);
        kern->pack_i8((const int8_t *)cc->codes + b0 * dim, count, dim, panels);
        kern->dot_i8_blocked(rs->qpack_i, rs->rows, panels, count, dim, filtered ? &filter : NULL,
                             sums, BLOCK_ROWS);
        for (size_t qi = 0; qi < rs->rows; qi++)
            blocked_deliver(rs, unit, qi, b0, count, NULL, sums + qi * BLOCK_ROWS, filtered, factor,
                            filtered ? threshold[qi] : -INFINITY, filtered ? hits[qi] : 0,
                            max_bound);
        return;
    }
    float *panels = (float *)(void *)scratch;
    float *sums = (float *)(void *)(scratch + rs->panel_bytes);
    const vs__cpu_kernels *f32 = kern->f32;
    kern->pack_half((const uint16_t *)cc->codes + b0 * dim, count, dim,
                    cc->storage == VS_STORAGE_BF16, f32->nr, panels);
    const vs__epilogue epi = {.metric = VS_METRIC_DOT,
                              .scores = sums,
                              .ld = BLOCK_ROWS,
                              .pass_threshold = threshold,
                              .pass_factor = factor,
                              .pass_hits = filtered ? hits : NULL};
    f32->block_packed(&epi, rs->qpack_f, f32->mr * dim, 0, rs->rows, panels, 0, count, dim);
    for (size_t qi = 0; qi < rs->rows; qi++)
        blocked_deliver(rs, unit, qi, b0, count, sums + qi * BLOCK_ROWS, NULL, filtered, factor,
                        filtered ? threshold[qi] : -INFINITY, filtered ? hits[qi] : 0, max_bound);
}

/* The float32 (int64) threshold t' with s < t' exactly when s < t, for every float (integer) s. */
static float threshold_f32(double t) {
    float f = (float)t;
    if ((double)f < t) f = nextafterf(f, INFINITY);
    return f;
}

static int64_t threshold_i64(double t) {
    if (!(t > -0x1p62)) return INT64_MIN; /* every sum is above: |sum| < d 2^22 < 2^44 */
    if (t > 0x1p62) return (int64_t)1 << 62;
    return (int64_t)ceil(t);
}

_Static_assert(BLOCK_ROWS <= VS_COMPACT_SCAN1_ROWS && BLOCK_ROWS <= 64,
               "a block is one scan1 call and one 64-bit mask");

/*
 * A tile of one query against the block [b0, b0 + count): the fused
 * one-query kernels (cpu/compact.h scan1_*) take the block's raw threshold
 * (exact mode, once the query's selection has a floor; -INFINITY otherwise)
 * and return the rows at or above it, and only those go on to block_exact's
 * float64 path. Approximate mode gets every row (threshold -INFINITY).
 */
static void scan_block_one(const run_state *rs, size_t unit, size_t qi, size_t b0, size_t count,
                           double *max_bound) {
    if (!rs->active[qi]) return;
    const vs__compact *cc = rs->cc;
    const vs__compact_kernels *kern = rs->kern;
    const size_t dim = cc->dim, at = unit * rs->chunk + qi;
    block_filter f = {.threshold = -INFINITY};
    if (rs->exact) f = block_filter_of(rs, &rs->pq[qi], &rs->sel[at], b0);
    double raw[BLOCK_ROWS];
    uint64_t keep;
    if (cc->storage == VS_STORAGE_I8) {
        int64_t sums[BLOCK_ROWS];
        keep = kern->scan1_i8(rs->q16_rows[qi], (const int8_t *)cc->codes + b0 * dim, count, dim,
                              threshold_i64(f.threshold), sums);
        for (size_t j = 0; j < count; j++)
            if (!rs->exact || (keep >> j & 1)) raw[j] = (double)sums[j];
    } else {
        float sums[BLOCK_ROWS];
        const uint16_t *stored = (const uint16_t *)cc->codes + b0 * dim;
        const float threshold = threshold_f32(f.threshold);
        keep = cc->storage == VS_STORAGE_F16
                   ? kern->scan1_f16(rs->qf_rows[qi], stored, count, dim, threshold, sums)
                   : kern->scan1_bf16(rs->qf_rows[qi], stored, count, dim, threshold, sums);
        for (size_t j = 0; j < count; j++)
            if (!rs->exact || (keep >> j & 1)) raw[j] = (double)sums[j];
    }
    /* exact mode reads only the kept rows; approximate mode (threshold -INFINITY) reads all */
    if (rs->exact) {
        block_exact(rs, &rs->pq[qi], &rs->sel[at], b0, count, raw, keep, &f);
        return;
    }
    block_approx(rs, &rs->pq[qi], rs->k > 0 ? &rs->heaps[at] : NULL, max_bound, rs->q0 + qi, b0,
                 count, raw);
}

/* Pool unit: stored rows [unit x UNIT_ROWS, ...) against every query of the job. */
static void scan_unit(void *arg, size_t pool_unit, int slot) {
    const run_state *rs = arg;
    const size_t unit = rs->unit_base + pool_unit;
    const size_t n = rs->cc->n, c0 = unit * UNIT_ROWS;
    const size_t c1 = n - c0 < UNIT_ROWS ? n : c0 + UNIT_ROWS;
    double raw[VS_COMPACT_QUERIES * BLOCK_ROWS];
    double max_bound = 0;
    for (size_t b0 = c0; b0 < c1; b0 += BLOCK_ROWS) {
        const size_t count = c1 - b0 < BLOCK_ROWS ? c1 - b0 : BLOCK_ROWS;
        if (rs->blocked) {
            scan_block_blocked(rs, unit, slot, b0, count, &max_bound);
            continue;
        }
        for (size_t t0 = 0; t0 < rs->rows; t0 += VS_COMPACT_QUERIES) {
            const size_t tile =
                rs->rows - t0 < VS_COMPACT_QUERIES ? rs->rows - t0 : VS_COMPACT_QUERIES;
            if (tile == 1) {
                scan_block_one(rs, unit, t0, b0, count, &max_bound);
                continue;
            }
            scan_block(rs->cc, rs->kern, rs->qf_rows + t0, rs->q16_rows + t0, tile, b0, count, raw);
            for (size_t r = 0; r < tile; r++)
                block_deliver(rs, unit, t0 + r, b0, count, raw + r * BLOCK_ROWS, &max_bound);
        }
    }
    rs->unit_bound[unit] = max_bound;
}

/* Prepares the job's queries and the per-unit selections or heaps. */
static void job_prepare(run_state *rs) {
    const size_t dim = rs->cc->dim;
    /* the blocked kernels for a job of enough queries: a choice made from the job's size alone */
    rs->blocked = rs->can_block && rs->rows >= rs->kern->block_queries;
    for (size_t r = 0; r < rs->rows; r++) {
        const size_t q = rs->q0 + r;
        /* blocked: natural dim order, float32 queries (no bf16_pairs, no bf16_round) */
        prepare_query(rs->cc, rs->blocked ? NULL : rs->kern, rs->queries + q * dim,
                      rs->qf + r * dim, rs->q16 + r * dim, &rs->pq[r]);
        rs->active[r] = 1;
        if (rs->exact && (needs_fallback(rs->cc, rs->metric, &rs->pq[r]) || rs->kk == 0)) {
            rs->active[r] = 0;
            rs->fallback[rs->fallbacks++] = q;
        }
    }
    if (rs->blocked && rs->cc->storage == VS_STORAGE_I8) {
        vs__compact_i8_pack_queries(rs->q16_rows, rs->rows, dim, rs->kern->i8_mr, rs->qpack_i);
    } else if (rs->blocked) {
        const size_t mr = rs->kern->f32->mr;
        for (size_t s = 0; s * mr < rs->rows; s++) {
            const size_t m = rs->rows - s * mr < mr ? rs->rows - s * mr : mr;
            vs__pack_rows(rs->qf + s * mr * dim, m, dim, m, rs->qpack_f + s * mr * dim);
        }
    }
    for (size_t u = 0; u < rs->units; u++)
        for (size_t r = 0; r < rs->rows; r++) {
            const size_t at = u * rs->chunk + r;
            if (rs->exact) {
                rs->sel[at] = (selection){.lows = rs->sel_lows + at * rs->unit_kk,
                                          .k = rs->unit_kk,
                                          .ids = rs->sel_ids + at * rs->unit_cap,
                                          .highs = rs->sel_highs + at * rs->unit_cap,
                                          .cap = rs->unit_cap};
            } else if (rs->k > 0) {
                vs__heap_init(&rs->heaps[at], rs->heap_keys + at * rs->unit_kk,
                              rs->heap_ids + at * rs->unit_kk, rs->unit_kk);
            }
        }
}

/* Exact mode: query r's candidates over every unit, in id order, against the merged floor. */
static void merge_selection(run_state *rs, size_t r) {
    selection *s = &rs->merged;
    s->filled = s->count = 0;
    s->overflow = 0;
    for (size_t u = 0; u < rs->units; u++) {
        const selection *from = &rs->sel[u * rs->chunk + r];
        for (size_t e = 0; e < from->filled; e++)
            lows_push(s, from->lows[e]);
        if (from->overflow) s->overflow = 1;
    }
    const double floor = selection_floor(s);
    for (size_t u = 0; u < rs->units && !s->overflow; u++) {
        const selection *from = &rs->sel[u * rs->chunk + r];
        for (size_t e = 0; e < from->count && !s->overflow; e++)
            if (from->highs[e] >= floor) {
                if (s->count == s->cap) {
                    s->overflow = 1;
                    break;
                }
                s->ids[s->count] = from->ids[e];
                s->highs[s->count] = from->highs[e];
                s->count++;
            }
    }
}

/* After the job's scan: each query's answer (merged heaps, or rescored candidates). */
static int job_finish(run_state *rs) {
    int status = VS_OK;
    for (size_t u = 0; u < rs->units; u++)
        if (rs->unit_bound[u] > rs->max_bound) rs->max_bound = rs->unit_bound[u];
    for (size_t r = 0; r < rs->rows && status == VS_OK; r++) {
        const size_t q = rs->q0 + r;
        if (!rs->exact) {
            if (rs->k == 0) continue;
            vs__heap merged;
            vs__heap_init(&merged, rs->out_scores + q * rs->k, rs->out_ids + q * rs->k, rs->kk);
            for (size_t u = 0; u < rs->units; u++)
                vs__heap_merge(&merged, &rs->heaps[u * rs->chunk + r]);
            vs__heap_finish(&merged, rs->metric == VS_METRIC_L2SQ,
                            rs->metric == VS_METRIC_L2SQ ? INFINITY : -INFINITY,
                            rs->out_scores + q * rs->k, rs->out_ids + q * rs->k, rs->k);
            continue;
        }
        if (!rs->active[r]) continue;
        merge_selection(rs, r);
        if (rs->merged.overflow) {
            rs->fallback[rs->fallbacks++] = q;
            continue;
        }
        status = rescore(rs->c, rs->f32_ops, rs->f32_state, rs->metric,
                         rs->queries + q * rs->cc->dim, rs->merged.ids, rs->merged.count, rs->k,
                         rs->out_scores + q * rs->k, rs->out_ids + q * rs->k, &rs->sub);
        rs->report.rescored += rs->merged.count;
        rs->report.kernel_seconds += rs->sub.kernel_seconds;
    }
    return status;
}

/*
 * Participants for a job of `rows` queries: the context's threads when the
 * job, estimated on the caller alone, is well above what a helper costs to
 * join (as cpu/backend.c decides for float32), else the caller alone.
 */
static int job_participants(const run_state *rs) {
    const int threads = rs->c->ctx->env.threads;
    if (threads <= 1 || rs->units <= 1) return 1;
    const double bytes =
        (double)rs->cc->n * (double)rs->cc->dim * (double)element_bytes(rs->cc->storage);
    const double seconds = bytes / 8e9 + 2 * bytes * (double)rs->rows / 4e10;
    const double join = vs__pool_join_seconds(threads - 1);
    if (!isfinite(join)) return 1;
    if (!(seconds > 2 * join) && !vs__pool_probe(seconds)) return 1;
    return threads;
}

/*
 * Seed units of a blocked exact job (docs/numerics.md, "Seeded floors"): units
 * [0, SEED_UNITS) run first; each query's k-th largest lower bound over them
 * is a floor every later unit starts from, so its thresholds bite from its
 * first block. A fixed number of units, so the answer and the report do not
 * depend on the thread count.
 */
#define SEED_UNITS 2

/* Query r's seed: the k-th largest lower bound of the seed units' heaps (rs->merged's heap). */
static void seed_floors(run_state *rs) {
    selection *s = &rs->merged;
    for (size_t r = 0; r < rs->rows; r++) {
        s->filled = 0;
        for (size_t u = 0; u < SEED_UNITS; u++) {
            const selection *from = &rs->sel[u * rs->chunk + r];
            for (size_t e = 0; e < from->filled; e++)
                lows_push(s, from->lows[e]);
        }
        const double seed = selection_floor(s);
        for (size_t u = SEED_UNITS; u < rs->units && seed > -INFINITY; u++) {
            rs->sel[u * rs->chunk + r].seeded = 1;
            rs->sel[u * rs->chunk + r].seed = seed;
        }
    }
}

/* Scans the batch's queries job by job. */
static int scan_batch(run_state *rs, size_t nq) {
    int status = VS_OK;
    for (rs->q0 = 0; rs->q0 < nq && status == VS_OK; rs->q0 += rs->chunk) {
        rs->rows = nq - rs->q0 < rs->chunk ? nq - rs->q0 : rs->chunk;
        job_prepare(rs);
        const int participants = job_participants(rs);
        vs__pool_run_info info = {.joined = 1};
        rs->unit_base = 0;
        if (rs->blocked && rs->exact && rs->units > 2 * SEED_UNITS) {
            vs__pool_run(scan_unit, rs, SEED_UNITS, participants, &info);
            seed_floors(rs);
            rs->unit_base = SEED_UNITS;
        }
        const int seed_joined = info.joined;
        vs__pool_run(scan_unit, rs, rs->units - rs->unit_base, participants, &info);
        if (seed_joined > info.joined) info.joined = seed_joined;
        rs->unit_base = 0;
        if (participants > rs->report.threads) rs->report.threads = participants;
        if (info.joined > rs->report.threads_joined) rs->report.threads_joined = info.joined;
        status = job_finish(rs);
    }
    return status;
}

/* The CPU scan's job buffers. */
static void job_buffers_free(run_state *rs) {
    void *blocks[] = {rs->qf,           rs->q16,        rs->qf_rows,     rs->q16_rows,
                      rs->pq,           rs->active,     rs->sel,         rs->sel_lows,
                      rs->sel_ids,      rs->sel_highs,  rs->heaps,       rs->heap_keys,
                      rs->heap_ids,     rs->unit_bound, rs->merged.lows, rs->merged.ids,
                      rs->merged.highs, rs->qpack_f,    rs->qpack_i,     rs->slot_scratch};
    for (size_t b = 0; b < sizeof(blocks) / sizeof(blocks[0]); b++)
        free(blocks[b]);
}

/*
 * The blocked kernels' buffers, when a job of this batch can be big enough
 * for them: the packed queries of a job, and per pool slot one block's panels
 * and its raw sums.
 */
static int blocked_alloc(run_state *rs) {
    const vs__compact_kernels *kern = rs->kern;
    const size_t dim = rs->cc->dim;
    rs->can_block = kern->block_queries > 0 && rs->chunk >= kern->block_queries &&
                    dim <= VS_COMPACT_BLOCKED_MAX_DIM && rs->cc->n > 0;
    if (!rs->can_block) return VS_OK;
    const int threads = rs->c->ctx->env.threads;
    rs->slots = threads > 1 ? (size_t)threads : 1;
    size_t sums;
    if (rs->cc->storage == VS_STORAGE_I8) {
        const size_t mr = kern->i8_mr, nr = kern->i8_nr, pairs = (dim + 1) / 2;
        rs->qpack_i = malloc((rs->chunk + mr - 1) / mr * mr * pairs * sizeof(int32_t));
        rs->panel_bytes = (BLOCK_ROWS + nr - 1) / nr * nr * 2 * pairs * sizeof(int16_t);
        sums = rs->chunk * BLOCK_ROWS * sizeof(int64_t);
        if (rs->qpack_i == NULL) return VS_ERR_OUT_OF_MEMORY;
    } else {
        const size_t mr = kern->f32->mr, nr = kern->f32->nr;
        rs->qpack_f = malloc((rs->chunk + mr - 1) / mr * mr * dim * sizeof(float));
        rs->panel_bytes = (BLOCK_ROWS + nr - 1) / nr * nr * dim * sizeof(float);
        sums = rs->chunk * BLOCK_ROWS * sizeof(float);
        if (rs->qpack_f == NULL) return VS_ERR_OUT_OF_MEMORY;
    }
    rs->panel_bytes = (rs->panel_bytes + 63) / 64 * 64;
    rs->slot_bytes = (rs->panel_bytes + sums + 63) / 64 * 64;
    rs->slot_scratch = aligned_alloc(64, rs->slots * rs->slot_bytes);
    return rs->slot_scratch == NULL ? VS_ERR_OUT_OF_MEMORY : VS_OK;
}

/* The CPU scan's job sizes and buffers (rs->exact, kk, cap set); VS_OK or VS_ERR_OUT_OF_MEMORY. */
static int job_alloc(run_state *rs) {
    const size_t n = rs->cc->n, dim = rs->cc->dim;
    rs->units = n == 0 ? 1 : (n + UNIT_ROWS - 1) / UNIT_ROWS;
    rs->unit_kk = rs->kk < UNIT_ROWS ? rs->kk : UNIT_ROWS;
    rs->unit_cap = UNIT_ROWS / 8 > 2 * rs->unit_kk ? UNIT_ROWS / 8 : 2 * rs->unit_kk;
    if (rs->unit_cap > UNIT_ROWS) rs->unit_cap = UNIT_ROWS;
    const size_t per_query = rs->units * (rs->unit_kk + (rs->exact ? rs->unit_cap : 0));
    rs->chunk = per_query > 0 ? CHUNK_ENTRIES / per_query : CHUNK_QUERIES;
    if (rs->chunk > CHUNK_QUERIES) rs->chunk = CHUNK_QUERIES;
    if (rs->chunk < 1) rs->chunk = 1;
    const size_t at = rs->units * rs->chunk;
    int failed = (rs->qf = malloc(rs->chunk * dim * sizeof(float))) == NULL;
    failed |= (rs->q16 = malloc(rs->chunk * dim * sizeof(int16_t))) == NULL;
    failed |= (rs->qf_rows = malloc(rs->chunk * sizeof(*rs->qf_rows))) == NULL;
    failed |= (rs->q16_rows = malloc(rs->chunk * sizeof(*rs->q16_rows))) == NULL;
    failed |= (rs->pq = malloc(rs->chunk * sizeof(prepared_query))) == NULL;
    failed |= (rs->active = malloc(rs->chunk * sizeof(int))) == NULL;
    failed |= (rs->unit_bound = malloc(rs->units * sizeof(double))) == NULL;
    if (rs->exact) {
        failed |= (rs->sel = malloc(at * sizeof(selection))) == NULL;
        failed |= (rs->sel_lows = malloc(at * rs->unit_kk * sizeof(double))) == NULL;
        failed |= (rs->sel_ids = malloc(at * rs->unit_cap * sizeof(size_t))) == NULL;
        failed |= (rs->sel_highs = malloc(at * rs->unit_cap * sizeof(double))) == NULL;
        rs->merged = (selection){.k = rs->kk, .cap = rs->cap};
        failed |= (rs->merged.lows = malloc((rs->kk + 1) * sizeof(double))) == NULL;
        failed |= (rs->merged.ids = malloc(rs->cap * sizeof(size_t))) == NULL;
        failed |= (rs->merged.highs = malloc(rs->cap * sizeof(double))) == NULL;
    } else if (rs->k > 0) {
        failed |= (rs->heaps = malloc(at * sizeof(vs__heap))) == NULL;
        failed |= (rs->heap_keys = malloc(at * rs->unit_kk * sizeof(float) + 1)) == NULL;
        failed |= (rs->heap_ids = malloc(at * rs->unit_kk * sizeof(int64_t) + 1)) == NULL;
    }
    if (!failed) failed = blocked_alloc(rs) != VS_OK;
    if (failed) return VS_ERR_OUT_OF_MEMORY;
    for (size_t r = 0; r < rs->chunk; r++) {
        rs->qf_rows[r] = rs->qf + r * dim;
        rs->q16_rows[r] = rs->q16 + r * dim;
    }
    return VS_OK;
}

/* The scan buffers and the device scan's buffers of a run. */
static void run_buffers_free(run_state *rs) {
    buffers_free(&rs->sb);
    job_buffers_free(rs);
    free(rs->dev_qf);
    free(rs->dev_q16);
    free(rs->dev_f);
    free(rs->dev_i);
}

/*
 * The device scan of queries [q0, q0 + rows): prepared as the CPU kernels see
 * them (host/compact.c prepare_query), padded with zero queries to a multiple
 * of VS_COMPACT_QUERIES, raw sums into rs->dev_f / dev_i (rows x n).
 */
static int device_chunk(run_state *rs, size_t q0, size_t nq) {
    const vs__compact *cc = rs->cc;
    const size_t dim = cc->dim, n = cc->n;
    if (rs->dev_cap == 0) {
        size_t cap =
            DEVICE_CHUNK_BYTES / (n * sizeof(int64_t)) / VS_COMPACT_QUERIES * VS_COMPACT_QUERIES;
        if (cap < VS_COMPACT_QUERIES) cap = VS_COMPACT_QUERIES;
        if (cap > DEVICE_CHUNK_QUERIES) cap = DEVICE_CHUNK_QUERIES;
        const size_t need = (nq + VS_COMPACT_QUERIES - 1) / VS_COMPACT_QUERIES * VS_COMPACT_QUERIES;
        rs->dev_cap = cap < need ? cap : need;
        rs->dev_qf = calloc(rs->dev_cap * dim, sizeof(float));
        rs->dev_q16 = calloc(rs->dev_cap * dim, sizeof(int16_t));
        if (cc->storage == VS_STORAGE_I8)
            rs->dev_i = malloc(rs->dev_cap * n * sizeof(int64_t));
        else
            rs->dev_f = malloc(rs->dev_cap * n * sizeof(float));
        if (rs->dev_qf == NULL || rs->dev_q16 == NULL || (rs->dev_i == NULL && rs->dev_f == NULL))
            return VS_ERR_OUT_OF_MEMORY;
    }
    const size_t rows = nq - q0 < rs->dev_cap ? nq - q0 : rs->dev_cap;
    const size_t padded = (rows + VS_COMPACT_QUERIES - 1) / VS_COMPACT_QUERIES * VS_COMPACT_QUERIES;
    memset(rs->dev_qf, 0, padded * dim * sizeof(float));
    memset(rs->dev_q16, 0, padded * dim * sizeof(int16_t));
    for (size_t r = 0; r < rows; r++) {
        prepared_query pq;
        prepare_query(cc, NULL, rs->queries + (q0 + r) * dim, rs->dev_qf + r * dim,
                      rs->dev_q16 + r * dim, &pq);
    }
    const void *queries =
        cc->storage == VS_STORAGE_I8 ? (const void *)rs->dev_q16 : (const void *)rs->dev_qf;
    char why[VS__BATCH_WHY_BYTES] = "";
    rs->dev_rows = 0;
    const int status =
        cc->dev_ops->compact_scan(cc->dev_state, &rs->c->ctx->env, cc->dev, queries, rows,
                                  rs->dev_f, rs->dev_i, &rs->report, why, sizeof(why));
    if (status != VS_OK) {
        snprintf(rs->report.fallback, sizeof(rs->report.fallback),
                 "device scan failed (%s%s%.120s)", vs_status_name(status), why[0] ? ": " : "",
                 why);
        return status;
    }
    rs->dev_q0 = q0;
    rs->dev_rows = rows;
    return VS_OK;
}

/* Raw sums of the group's queries x stored rows [c0, c0 + count) into rs->sb.raw. */
static int group_sums(run_state *rs, group *g, size_t c0, size_t count) {
    if (!rs->dev_on) {
        scan_block(rs->cc, rs->kern, g->qf, g->q16, g->rows, c0, count, rs->sb.raw);
        return VS_OK;
    }
    if (g->q0 < rs->dev_q0 || g->q0 >= rs->dev_q0 + rs->dev_rows) {
        const int status = device_chunk(rs, g->q0, rs->report.queries);
        if (status != VS_OK) return status;
    }
    const size_t n = rs->cc->n;
    for (size_t r = 0; r < g->rows; r++) {
        const size_t at = (g->q0 - rs->dev_q0 + r) * n + c0;
        for (size_t j = 0; j < count; j++)
            rs->sb.raw[r * BLOCK_ROWS + j] =
                rs->dev_i != NULL ? (double)rs->dev_i[at + j] : (double)rs->dev_f[at + j];
    }
    return VS_OK;
}

/* ---- exact mode on the device: rescoring a chunk's candidates in one batch ------------- */

/*
 * Bounds of one rescoring batch: its union of candidates is at most
 * RESCORE_BYTES of float32 rows (one query's candidates may pass it alone),
 * and the queue holds at most PENDING_IDS candidates before it is rescored.
 */
#define RESCORE_BYTES ((size_t)64 << 20)
#define PENDING_IDS ((size_t)1 << 22)

static size_t rescore_rows_forced; /* testing hook: the union's bound in rows (0: RESCORE_BYTES) */

void vs__compact_test_rescore_rows(size_t rows) {
    rescore_rows_forced = rows;
}

/* The last compact batch on this thread: its rescoring batches (vs__compact_rescore_batches). */
static _Thread_local uint64_t last_batches[2];

void vs__compact_rescore_batches(uint64_t *batches, uint64_t *whole) {
    *batches = last_batches[0];
    *whole = last_batches[1];
}

static void pending_free(rescore_queue *pq) {
    free(pq->queries);
    free(pq->starts);
    free(pq->ids);
    free(pq->rows);
    free(pq->stamp);
    memset(pq, 0, sizeof(*pq));
}

/* Grows *buffer (of *cap elements of `size` bytes) to hold `need`; 0 or VS_ERR_OUT_OF_MEMORY. */
static int grow(void **buffer, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return VS_OK;
    size_t want = *cap > 0 ? *cap : 64;
    while (want < need)
        want *= 2;
    void *more = realloc(*buffer, want * size);
    if (more == NULL) return VS_ERR_OUT_OF_MEMORY;
    *buffer = more;
    *cap = want;
    return VS_OK;
}

static int rescore_pending(run_state *rs);

/* Query q's candidates ids[0..m) (ascending) join the queue (rescored when it is full). */
static int pending_add(run_state *rs, size_t q, const size_t *ids, size_t m) {
    rescore_queue *pq = &rs->pending;
    if (pq->count > 0 && pq->starts[pq->count] + m > PENDING_IDS) {
        const int status = rescore_pending(rs);
        if (status != VS_OK) return status;
    }
    if (grow((void **)&pq->queries, &pq->queries_cap, pq->count + 1, sizeof(size_t)) != VS_OK ||
        grow((void **)&pq->starts, &pq->starts_cap, pq->count + 2, sizeof(size_t)) != VS_OK)
        return VS_ERR_OUT_OF_MEMORY;
    if (pq->count == 0) pq->starts[0] = 0;
    const size_t used = pq->starts[pq->count];
    if (grow((void **)&pq->ids, &pq->ids_cap, used + m, sizeof(size_t)) != VS_OK)
        return VS_ERR_OUT_OF_MEMORY;
    if (m > 0) memcpy(pq->ids + used, ids, m * sizeof(size_t));
    pq->queries[pq->count] = q;
    pq->starts[pq->count + 1] = used + m;
    pq->count++;
    return VS_OK;
}

static int compare_size(const void *a, const void *b) {
    const size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

/*
 * One rescoring batch: pending queries [p0, p1), whose candidates' union is
 * pq->rows[0..rows). The union's float32 rows, in ascending id order (ties
 * keep the library's order), form a small corpus on the float32 path that
 * rescores (the device's); or, when the union is half the corpus or more,
 * the whole float32 corpus serves, with no gather. Either way every query's
 * top k there is its top k over its own candidates: a row of the union that
 * is not one of the query's candidates has a float32 score below the k
 * candidates with the largest lower bounds (its upper bound is under their
 * floor), and a pair's float32 score depends only on the pair.
 */
static int rescore_batch(run_state *rs, size_t p0, size_t p1, size_t rows) {
    vs_context *ctx = rs->c->ctx;
    rescore_queue *pq = &rs->pending;
    const size_t dim = rs->cc->dim, n = rs->cc->n, k = rs->k, count = p1 - p0;
    const int whole = 2 * rows >= n;
    const size_t nc = whole ? n : rows, kk = k < nc ? k : nc;
    float *fq = malloc(count * dim * sizeof(float));
    float *fs = malloc(count * (kk > 0 ? kk : 1) * sizeof(float));
    int64_t *fi = malloc(count * (kk > 0 ? kk : 1) * sizeof(int64_t));
    float *gathered = whole ? NULL : malloc((rows > 0 ? rows : 1) * dim * sizeof(float));
    int status = VS_ERR_OUT_OF_MEMORY;
    void *small = NULL;
    if (fq == NULL || fs == NULL || fi == NULL || (!whole && gathered == NULL)) goto done;
    status = VS_OK;
    for (size_t p = p0; p < p1; p++)
        memcpy(fq + (p - p0) * dim, rs->queries + pq->queries[p] * dim, dim * sizeof(float));
    if (!whole) {
        qsort(pq->rows, rows, sizeof(size_t), compare_size);
        for (size_t e = 0; e < rows; e++)
            ctx->cpu->corpus_row(ctx->cpu_state, rs->c->cpu_data, pq->rows[e], gathered + e * dim);
        status = rs->f32_ops->corpus_prepare(rs->f32_state, &ctx->env, gathered, rows, dim, &small);
        free(gathered);
        gathered = NULL;
        if (status != VS_OK) goto done;
    }
    if (kk > 0) { /* always: every pending query has min(k, n) candidates or more */
        status = f32_topk(ctx, rs->f32_ops, rs->f32_state,
                          whole ? (rs->dev_on ? rs->c->data : rs->c->cpu_data) : small, nc, dim,
                          rs->metric, fq, count, kk, fs, fi, &rs->sub);
        rs->report.kernel_seconds += rs->sub.kernel_seconds;
        pq->batches++;
        pq->whole += whole;
    }
    const float padding = rs->metric == VS_METRIC_L2SQ ? INFINITY : -INFINITY;
    for (size_t p = p0; p < p1 && status == VS_OK; p++) {
        float *scores = rs->out_scores + pq->queries[p] * k;
        int64_t *ids = rs->out_ids + pq->queries[p] * k;
        for (size_t e = 0; e < k; e++) {
            const int got = e < kk;
            const int64_t id = got ? fi[(p - p0) * kk + e] : -1;
            scores[e] = got ? fs[(p - p0) * kk + e] : padding;
            ids[e] = id >= 0 && !whole ? (int64_t)pq->rows[id] : id;
        }
    }
done:
    if (small != NULL) rs->f32_ops->corpus_release(rs->f32_state, small);
    free(gathered);
    free(fq);
    free(fs);
    free(fi);
    return status;
}

/*
 * Rescores every pending query, in as few batches as the union bound allows
 * (queries in order, a batch closed when the next query's new candidates
 * would take its union past the bound); the queue is then empty.
 */
static int rescore_pending(run_state *rs) {
    rescore_queue *pq = &rs->pending;
    const size_t n = rs->cc->n, dim = rs->cc->dim;
    const size_t limit = rescore_rows_forced > 0 ? rescore_rows_forced
                         : RESCORE_BYTES / (dim * sizeof(float)) > 0
                             ? RESCORE_BYTES / (dim * sizeof(float))
                             : 1;
    int status = VS_OK;
    if (pq->count > 0 && pq->stamp == NULL && (pq->stamp = calloc(n, sizeof(uint32_t))) == NULL)
        status = VS_ERR_OUT_OF_MEMORY;
    for (size_t p0 = 0, p1; p0 < pq->count && status == VS_OK; p0 = p1) {
        if (++pq->epoch == 0) { /* wrapped: no stamp may look current */
            memset(pq->stamp, 0, n * sizeof(uint32_t));
            pq->epoch = 1;
        }
        size_t rows = 0;
        for (p1 = p0; p1 < pq->count && status == VS_OK; p1++) {
            const size_t *ids = pq->ids + pq->starts[p1], m = pq->starts[p1 + 1] - pq->starts[p1];
            size_t fresh = 0;
            for (size_t e = 0; e < m; e++)
                fresh += pq->stamp[ids[e]] != pq->epoch;
            if (p1 > p0 && rows + fresh > limit) break;
            status = grow((void **)&pq->rows, &pq->rows_cap, rows + fresh, sizeof(size_t));
            for (size_t e = 0; e < m && status == VS_OK; e++)
                if (pq->stamp[ids[e]] != pq->epoch) {
                    pq->stamp[ids[e]] = pq->epoch;
                    pq->rows[rows++] = ids[e];
                }
        }
        if (status == VS_OK) status = rescore_batch(rs, p0, p1, rows);
    }
    pq->count = 0;
    return status;
}

/* Scans every stored row for the group, then finishes each query. */
static int group_run(run_state *rs, group *g) {
    const size_t n = rs->cc->n;
    group_prepare(rs, g);
    for (size_t c0 = 0; c0 < n; c0 += BLOCK_ROWS) {
        const size_t count = n - c0 < BLOCK_ROWS ? n - c0 : BLOCK_ROWS;
        const int sums = group_sums(rs, g, c0, count);
        if (sums != VS_OK) return sums;
        for (size_t r = 0; r < g->rows; r++)
            if (g->active[r])
                for (size_t j = 0; j < count; j++)
                    take_candidate(rs, g, r, c0 + j, rs->sb.raw[r * BLOCK_ROWS + j]);
    }
    int status = VS_OK;
    for (size_t r = 0; r < g->rows && status == VS_OK; r++) {
        const size_t q = g->q0 + r;
        if (!rs->exact) {
            if (rs->k > 0)
                vs__heap_finish(&g->heaps[r], rs->metric == VS_METRIC_L2SQ,
                                rs->metric == VS_METRIC_L2SQ ? INFINITY : -INFINITY,
                                rs->out_scores + q * rs->k, rs->out_ids + q * rs->k, rs->k);
            continue;
        }
        if (!g->active[r]) continue;
        selection *s = &rs->sb.sel[r];
        if (!s->overflow) selection_prune(s);
        if (s->overflow) {
            rs->fallback[rs->fallbacks++] = q;
            continue;
        }
        status = pending_add(rs, q, s->ids, s->count);
        rs->report.rescored += s->count;
    }
    return status;
}

/* Queries no bound certifies: the float32 corpus scores them, together. */
static int run_fallbacks(run_state *rs) {
    const size_t dim = rs->cc->dim, k = rs->k, count = rs->fallbacks;
    float *fq = malloc(count * dim * sizeof(float));
    float *fs = malloc(count * k * sizeof(float));
    int64_t *fi = malloc(count * k * sizeof(int64_t));
    int status = VS_ERR_OUT_OF_MEMORY;
    if (fq != NULL && fs != NULL && fi != NULL) {
        for (size_t e = 0; e < count; e++)
            memcpy(fq + e * dim, rs->queries + rs->fallback[e] * dim, dim * sizeof(float));
        status = f32_topk(rs->c->ctx, rs->f32_ops, rs->f32_state,
                          rs->dev_on ? rs->c->data : rs->c->cpu_data, rs->cc->n, dim, rs->metric,
                          fq, count, k, fs, fi, &rs->sub);
        rs->report.kernel_seconds += rs->sub.kernel_seconds;
        for (size_t e = 0; e < count && status == VS_OK; e++) {
            memcpy(rs->out_scores + rs->fallback[e] * k, fs + e * k, k * sizeof(float));
            memcpy(rs->out_ids + rs->fallback[e] * k, fi + e * k, k * sizeof(int64_t));
        }
    }
    free(fq);
    free(fs);
    free(fi);
    rs->report.rescored += (uint64_t)count * rs->cc->n;
    rs->report.fallback_queries = count;
    return status;
}

/* The kernels, the buffers and the batch's outputs; VS_OK or a vs_status (logged). */
static int run_begin(run_state *rs, size_t nq) {
    vs_context *ctx = rs->c->ctx;
    const size_t n = rs->cc->n, k = rs->k;
    const char *forced = ctx->cfg.compact_isa;
    rs->kern = vs__compact_kernels_for(ctx->isa, forced);
    if (rs->kern == NULL) {
        vs__log(vs__sink(ctx), VS_LOG_ERROR,
                "compact corpus: VECSCORE_COMPACT_ISA='%s' is unknown, or above the ISA '%s' "
                "(or not supported by this CPU)",
                forced ? forced : "", ctx->isa);
        return VS_ERR_UNSUPPORTED;
    }
    rs->exact = rs->cc->exact && k > 0;
    rs->kk = k < n ? k : n;
    rs->cap = n / 8 > 2 * rs->kk ? n / 8 : 2 * rs->kk;
    if (rs->cap > n) rs->cap = n;
    if (rs->cap == 0) rs->cap = 1;
    if (buffers_alloc(&rs->sb, rs->cc->dim, rs->exact ? rs->kk : 0, rs->cap) != VS_OK ||
        job_alloc(rs) != VS_OK)
        return VS_ERR_OUT_OF_MEMORY;
    if (nq > 0 && k > 0) {
        rs->out_scores = malloc(nq * k * sizeof(float));
        rs->out_ids = malloc(nq * k * sizeof(int64_t));
        rs->fallback = malloc(nq * sizeof(size_t));
        if (rs->out_scores == NULL || rs->out_ids == NULL || rs->fallback == NULL)
            return VS_ERR_OUT_OF_MEMORY;
    }
    return VS_OK;
}

/*
 * Whether the batch scans on the device: the corpus is there, the context is
 * not demoted, and "auto" asks its cost model (the float32 batch's estimates:
 * both sides read the same compact bytes instead). Otherwise the report says
 * why the CPU runs it.
 */
static int device_chosen(run_state *rs, size_t nq) {
    vs_context *ctx = rs->c->ctx;
    const vs__compact *cc = rs->cc;
    char *why = rs->report.fallback;
    const size_t size = sizeof(rs->report.fallback);
    if (ctx->backend == ctx->cpu) return 0;
    if (cc->dev == NULL) {
        snprintf(why, size, "%.150s; compact storage runs on the CPU", cc->dev_why);
        return 0;
    }
    pthread_mutex_lock(&ctx->lock);
    const int demoted = ctx->demoted, failures = ctx->device_failures;
    pthread_mutex_unlock(&ctx->lock);
    if (demoted) {
        snprintf(why, size, "the device failed %d batches; this context uses the CPU", failures);
        return 0;
    }
    if (!ctx->is_auto) return 1;
    const vs__batch b =
        vs__batch_make(rs->metric, rs->queries, nq, cc->dim, NULL, NULL, cc->n, rs->k, NULL, NULL);
    return vs__device_preferred(ctx, &b, why, size);
}

/* Every group, then the fallback queries, on the device (dev) or the CPU; outputs in rs. */
static int run_all(run_state *rs, size_t nq, int dev) {
    vs_context *ctx = rs->c->ctx;
    vs_batch_report *report = &rs->report;
    rs->dev_on = dev;
    rs->f32_ops = dev ? ctx->backend : ctx->cpu;
    rs->f32_state = dev ? ctx->backend_state : ctx->cpu_state;
    rs->fallbacks = 0;
    rs->max_bound = 0;
    rs->dev_q0 = rs->dev_rows = 0;
    report->rescored = 0;
    report->fallback_queries = 0;
    report->kernel_seconds = 0;
    memset(report->kernel_family, 0, sizeof(report->kernel_family));
    memset(report->kernels, 0, sizeof(report->kernels));
    snprintf(report->backend, sizeof(report->backend), "%s", dev ? ctx->backend->name : "cpu");
    snprintf(report->device, sizeof(report->device), "%s",
             dev ? ctx->backend->describe(ctx->backend_state) : ctx->cpu->describe(ctx->cpu_state));
    snprintf(report->isa, sizeof(report->isa), "%s", dev ? "" : rs->kern->isa);
    int status = VS_OK;
    if (!dev) status = scan_batch(rs, nq); /* the CPU: threaded, tiled (scan_batch) */
    for (size_t q0 = 0; dev && q0 < nq && status == VS_OK; q0 += VS_COMPACT_QUERIES) {
        group g = {.q0 = q0, .rows = nq - q0 < VS_COMPACT_QUERIES ? nq - q0 : VS_COMPACT_QUERIES};
        status = group_run(rs, &g);
        /* the device chunk's last group (or the batch's): its candidates rescored together */
        if (status == VS_OK && (q0 + g.rows >= nq || q0 + g.rows >= rs->dev_q0 + rs->dev_rows))
            status = rescore_pending(rs);
    }
    last_batches[0] = rs->pending.batches;
    last_batches[1] = rs->pending.whole;
    pending_free(&rs->pending);
    if (status == VS_OK && rs->fallbacks > 0) status = run_fallbacks(rs);
    if (dev && rs->sub.kernels[0] != '\0') {
        /* the float32 kernels that rescored (or ran the fallback queries) after the scan's */
        const size_t used = strlen(report->kernels);
        snprintf(report->kernels + used, sizeof(report->kernels) - used, "%s%s", used ? " " : "",
                 rs->sub.kernels);
    }
    return status;
}

/*
 * The device failed the batch (or could not take it): the CPU runs all of it
 * again (every output is rewritten); a device failure counts toward demotion.
 */
static int device_failed(run_state *rs, size_t nq, int status) {
    vs_context *ctx = rs->c->ctx;
    const int failure = status == VS_ERR_DEVICE;
    const int failures = vs__device_failure_count(ctx, status);
    char detail[sizeof(rs->report.fallback)];
    if (rs->report.fallback[0] != '\0')
        snprintf(detail, sizeof(detail), "%s", rs->report.fallback);
    else
        snprintf(detail, sizeof(detail), "device failed (%s)", vs_status_name(status));
    snprintf(rs->report.fallback, sizeof(rs->report.fallback), "%.150s; re-ran on the CPU%s",
             detail, failures >= VS_DEMOTE_AFTER ? "; device demoted" : "");
    vs__log(vs__sink(ctx), failure ? VS_LOG_WARN : VS_LOG_INFO, "compact corpus: %s",
            rs->report.fallback);
    char keep[sizeof(rs->report.fallback)];
    memcpy(keep, rs->report.fallback, sizeof(keep));
    vs__error_clear();
    status = run_all(rs, nq, 0);
    memcpy(rs->report.fallback, keep, sizeof(keep));
    return status;
}

/*
 * Top-k (k > 0) or the score matrix (k == 0, approximate mode only) of a
 * compact corpus. Arguments were checked by host/api.c. Top-k outputs are
 * written only when the whole batch succeeded.
 */
static int compact_run(vs_corpus *c, vs_metric metric, const float *queries, size_t nq, size_t k,
                       float *scores, int64_t *ids) {
    vs_context *ctx = c->ctx;
    const double start = vs__now();
    run_state rs;
    memset(&rs, 0, sizeof(rs));
    rs.c = c;
    rs.cc = c->compact;
    rs.metric = metric;
    rs.queries = queries;
    rs.k = k;
    rs.scores = scores;
    report_begin(&rs.report, c, metric, nq, k);
    int status = run_begin(&rs, nq);
    if (status == VS_OK) status = run_all(&rs, nq, device_chosen(&rs, nq));
    if (status != VS_OK && status != VS_ERR_INVALID_ARGUMENT && rs.dev_on)
        status = device_failed(&rs, nq, status);
    if (status == VS_OK && k > 0 && nq > 0) {
        memcpy(scores, rs.out_scores, nq * k * sizeof(float));
        memcpy(ids, rs.out_ids, nq * k * sizeof(int64_t));
    }
    if (!rs.cc->exact) rs.report.max_error_bound = rs.max_bound;
    run_buffers_free(&rs);
    free(rs.out_scores);
    free(rs.out_ids);
    free(rs.fallback);
    if (status == VS_ERR_OUT_OF_MEMORY)
        vs__log(vs__sink(ctx), VS_LOG_ERROR, "compact corpus: cannot allocate the batch's buffers");
    rs.report.status = status;
    rs.report.total_seconds = vs__now() - start;
    vs__report_store(ctx, &rs.report);
    if (status == VS_OK)
        vs__error_clear();
    else if (!vs__error_is_set())
        vs__error_set("batch failed: %s", vs_strerror(status));
    return status;
}

static const vs__compact_ops compact_ops = {.run = compact_run, .release = compact_free};

#define VS_FAIL_IF(ctx, cond, ...)                                                                 \
    do {                                                                                           \
        if (cond) return vs__fail(vs__sink(ctx), VS_ERR_INVALID_ARGUMENT, __VA_ARGS__);            \
    } while (0)

/* ---- the public entry points ------------------------------------------------------- */

void vs_corpus_options_init(vs_corpus_options *opts) {
    if (opts == NULL) return;
    memset(opts, 0, sizeof(*opts));
    opts->storage = VS_STORAGE_F32;
    opts->exact = 1;
}

static const char *const storage_names[][2] = {
    {"f32", "float32"}, {"f16", "float16"}, {"bf16", "bfloat16"}, {"i8", "int8"}};

const char *vs_storage_name(vs_storage storage) {
    return (unsigned)storage < 4 ? storage_names[storage][0] : NULL;
}

int vs_storage_parse(const char *name, vs_storage *out) {
    for (int s = 0; name != NULL && out != NULL && s < 4; s++)
        if (strcmp(name, storage_names[s][0]) == 0 || strcmp(name, storage_names[s][1]) == 0) {
            *out = (vs_storage)s;
            return VS_OK;
        }
    return VS_ERR_INVALID_ARGUMENT;
}

vs_storage vs_corpus_storage(const vs_corpus *c) {
    return c != NULL ? c->storage : VS_STORAGE_F32;
}

static int corpus_create_any(const char *fn, vs_context *ctx, const float *vectors,
                             const uint16_t *half, vs_storage input, size_t n, size_t dim,
                             const vs_corpus_options *opts, vs_corpus **out) {
    vs__error_clear();
    if (out == NULL) {
        vs__error_set("%s: out is NULL", fn);
        return VS_ERR_INVALID_ARGUMENT;
    }
    *out = NULL;
    vs_corpus_options defaults;
    vs_corpus_options_init(&defaults);
    if (opts == NULL) opts = &defaults;
    if (ctx == NULL) {
        vs__error_set("%s: ctx is NULL", fn);
        return VS_ERR_INVALID_ARGUMENT;
    }
    VS_FAIL_IF(ctx, vs_storage_name(opts->storage) == NULL,
               "%s: unknown storage %d (expected VS_STORAGE_F32, _F16, _BF16 or _I8)", fn,
               (int)opts->storage);
    VS_FAIL_IF(ctx, opts->exact != 0 && opts->exact != 1, "%s: exact is %d (expected 0 or 1)", fn,
               opts->exact);
    VS_FAIL_IF(ctx, half != NULL && input != VS_STORAGE_F16 && input != VS_STORAGE_BF16,
               "%s: input type %d is not VS_STORAGE_F16 or VS_STORAGE_BF16", fn, (int)input);
    size_t bytes;
    VS_FAIL_IF(ctx, dim == 0, "%s: dim is 0", fn);
    VS_FAIL_IF(ctx, n > 0 && vectors == NULL && half == NULL, "%s: vectors is NULL with n = %zu",
               fn, n);
    VS_FAIL_IF(ctx,
               __builtin_mul_overflow(n, dim, &bytes) ||
                   __builtin_mul_overflow(bytes, sizeof(float), &bytes) || n > (size_t)INT64_MAX,
               "%s: n x dim x 4 bytes overflows (n = %zu, dim = %zu)", fn, n, dim);
    int status = VS_OK;
    if (status != VS_OK) return status;
    if (opts->storage == VS_STORAGE_F32 && half == NULL)
        return vs_corpus_create(ctx, vectors, n, dim, out);
    vs_corpus *corpus = calloc(1, sizeof(*corpus));
    if (corpus == NULL) {
        vs__error_set("%s: cannot allocate the corpus", fn);
        return VS_ERR_OUT_OF_MEMORY;
    }
    corpus->ctx = ctx;
    corpus->n = n;
    corpus->dim = dim;
    corpus->storage = opts->storage;
    if (opts->storage == VS_STORAGE_F32) {
        /* Half input stored as float32: widen (exactly) and take the float32 path. */
        float *wide = n > 0 ? malloc(n * dim * sizeof(float)) : NULL;
        free(corpus);
        if (n > 0 && wide == NULL) {
            vs__error_set("%s: cannot allocate %zu x %zu floats", fn, n, dim);
            return VS_ERR_OUT_OF_MEMORY;
        }
        for (size_t e = 0; e < n * dim; e++)
            wide[e] = input == VS_STORAGE_F16 ? vs__compact_f16_to_f32(half[e])
                                              : vs__compact_bf16_to_f32(half[e]);
        status = vs_corpus_create(ctx, wide, n, dim, out);
        free(wide);
        return status;
    }
    status = compact_create(ctx, half != NULL ? NULL : vectors, half, input, n, dim, opts, corpus);
    if (status != VS_OK) {
        free(corpus);
        if (!vs__error_is_set()) vs__error_set("%s: %s", fn, vs_strerror(status));
        return status;
    }
    corpus->compact_ops = &compact_ops;
    *out = corpus;
    return VS_OK;
}

int vs_corpus_create_with(vs_context *ctx, const float *vectors, size_t n, size_t dim,
                          const vs_corpus_options *opts, vs_corpus **out) {
    return corpus_create_any("vs_corpus_create_with", ctx, vectors, NULL, VS_STORAGE_F32, n, dim,
                             opts, out);
}

int vs_corpus_create_from_half(vs_context *ctx, const uint16_t *vectors, vs_storage input, size_t n,
                               size_t dim, const vs_corpus_options *opts, vs_corpus **out) {
    if (vectors == NULL && n > 0) {
        vs__error_set("vs_corpus_create_from_half: vectors is NULL with n = %zu", n);
        if (out != NULL) *out = NULL;
        return VS_ERR_INVALID_ARGUMENT;
    }
    static const uint16_t none[1] = {0};
    return corpus_create_any("vs_corpus_create_from_half", ctx, NULL,
                             vectors != NULL ? vectors : none, input, n, dim, opts, out);
}

/* Testing hook (tests/test_compact.c, test_compact_cl.c): every candidate's compact score against
 * one query and its bound against the exact score, as approximate mode computes them (on the
 * device when the corpus is there and the context has one, as a batch would:
 * vs__compact_on_device says). */
int vs__compact_pair_bounds(const vs_corpus *c, vs_metric metric, const float *query,
                            double *approx, double *bounds) {
    const vs__compact *cc = c->compact;
    const vs__compact_kernels *kern = vs__compact_kernels_for(c->ctx->isa, c->ctx->cfg.compact_isa);
    if (cc == NULL || kern == NULL) return VS_ERR_INVALID_ARGUMENT;
    run_state rs;
    memset(&rs, 0, sizeof(rs));
    rs.c = (vs_corpus *)c;
    rs.cc = cc;
    rs.queries = query;
    rs.dev_on = cc->dev != NULL && c->ctx->backend != c->ctx->cpu;
    int status = buffers_alloc(&rs.sb, cc->dim, 0, 1);
    if (status == VS_OK && rs.dev_on && cc->n > 0) status = device_chunk(&rs, 0, 1);
    if (status != VS_OK) {
        run_buffers_free(&rs);
        return status;
    }
    prepared_query pq;
    prepare_query(cc, rs.dev_on ? NULL : kern, query, rs.sb.qf, rs.sb.q16, &pq);
    if (rs.dev_on && cc->storage != VS_STORAGE_I8)
        pq.under = (double)cc->dim * 0x1p-109 * pq.unscale; /* as group_prepare */
    const float *qf[1] = {rs.sb.qf};
    const int16_t *q16[1] = {rs.sb.q16};
    for (size_t c0 = 0; c0 < cc->n; c0 += BLOCK_ROWS) {
        const size_t count = cc->n - c0 < BLOCK_ROWS ? cc->n - c0 : BLOCK_ROWS;
        if (rs.dev_on)
            for (size_t j = 0; j < count; j++)
                rs.sb.raw[j] =
                    rs.dev_i != NULL ? (double)rs.dev_i[c0 + j] : (double)rs.dev_f[c0 + j];
        else
            scan_block(cc, kern, qf, q16, 1, c0, count, rs.sb.raw);
        for (size_t j = 0; j < count; j++)
            candidate_score(cc, metric, &pq, &cc->meta[c0 + j], rs.sb.raw[j], 0, &bounds[c0 + j],
                            &approx[c0 + j]);
    }
    run_buffers_free(&rs);
    return VS_OK;
}

int vs__compact_on_device(const vs_corpus *c) {
    return c != NULL && c->compact != NULL && c->compact->dev != NULL &&
           c->ctx->backend != c->ctx->cpu;
}
