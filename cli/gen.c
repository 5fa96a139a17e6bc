/*
 * gen.c — `vecscore gen`: random vectors into a file, the same on every
 * machine for a seed.
 */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void gen_help(FILE *out) {
    cli_help(out,
             "usage: vecscore gen --count N --dim D [--seed S]\n"
             "                    [--distribution gaussian|uniform|clustered] [--normalize]\n"
             "                    -o FILE\n"
             "\n"
             "Writes N random D-dimensional vectors. The format comes from FILE's\n"
             "extension: .fvecs .fbin .npy (float32) or .bvecs .u8bin (bytes).\n",
             CLI_CMD_GEN, 19, "");
}

typedef struct rng {
    uint64_t s[4];
} rng;

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(rng *r) { /* xoshiro256** */
    uint64_t result = rotl(r->s[1] * 5, 7) * 9, t = r->s[1] << 17;
    r->s[2] ^= r->s[0];
    r->s[3] ^= r->s[1];
    r->s[1] ^= r->s[2];
    r->s[0] ^= r->s[3];
    r->s[2] ^= t;
    r->s[3] = rotl(r->s[3], 45);
    return result;
}

static double rng_uniform(rng *r) { /* [0, 1) */
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

static double rng_gaussian(rng *r) {
    double u = 1.0 - rng_uniform(r), v = rng_uniform(r);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

enum { DIST_GAUSSIAN, DIST_UNIFORM, DIST_CLUSTERED };
#define GEN_CENTERS 16

/* One row: dim values of the distribution (around center when clustered),
 * mapped to 0..255 for a byte format, then scaled to unit norm if asked. */
static void gen_row(rng *r, int dist, vs_dtype dtype, int normalize, const float *center,
                    float *row, size_t dim) {
    double norm = 0;
    for (size_t j = 0; j < dim; j++) {
        double v = dist == DIST_UNIFORM ? 2.0 * rng_uniform(r) - 1.0 : rng_gaussian(r);
        if (center) v = center[j] + 0.1 * v;
        if (dtype == VS_DTYPE_U8) {
            v = dist == DIST_UNIFORM ? floor((v + 1.0) * 128.0) : floor(128.0 + 40.0 * v + 0.5);
            v = v < 0 ? 0 : v > 255 ? 255 : v;
        }
        row[j] = (float)v;
        norm += (double)row[j] * row[j];
    }
    if (normalize && norm > 0) {
        double scale = 1.0 / sqrt(norm);
        for (size_t j = 0; j < dim; j++)
            row[j] = (float)(row[j] * scale);
    }
}

int cli_gen(int argc, char **argv) {
    const char *cmd = "gen";
    cli_values opts;
    int code = cli_options_parse(CLI_CMD_GEN, cmd, argc, argv, gen_help, &opts);
    if (code >= 0) return code;
    static const char *const required[] = {"--count", "--dim", "-o"};
    int present[3] = {opts.given[CLI_OPT_COUNT], opts.given[CLI_OPT_DIM],
                      opts.given[CLI_OPT_OUTPUT]};
    code = cli_require(cmd, 3, required, present);
    if (code >= 0) return code;
    const char *output = opts.text[CLI_OPT_OUTPUT];
    const char *dist_name =
        opts.given[CLI_OPT_DISTRIBUTION] ? opts.text[CLI_OPT_DISTRIBUTION] : "gaussian";
    uint64_t count = opts.number[CLI_OPT_COUNT], dim = opts.number[CLI_OPT_DIM];
    uint64_t seed = opts.given[CLI_OPT_SEED] ? opts.number[CLI_OPT_SEED] : 42;
    int normalize = opts.given[CLI_OPT_NORMALIZE];
    int dist;
    if (strcmp(dist_name, "gaussian") == 0)
        dist = DIST_GAUSSIAN;
    else if (strcmp(dist_name, "uniform") == 0)
        dist = DIST_UNIFORM;
    else if (strcmp(dist_name, "clustered") == 0)
        dist = DIST_CLUSTERED;
    else
        return cli_fail(EXIT_USAGE, cmd,
                        "--distribution '%s': expected gaussian, uniform or clustered", dist_name);
    vs_file_format format = vs_file_format_from_path(output);
    /* A FIFO or device with no extension (/dev/null, /dev/stdout) gets .fvecs. */
    if (format == VS_FORMAT_UNKNOWN && vs_outfile_writes_through(output)) format = VS_FORMAT_FVECS;
    vs_dtype dtype = VS_DTYPE_F32;
    if (format == VS_FORMAT_BVECS || format == VS_FORMAT_U8BIN) {
        dtype = VS_DTYPE_U8;
        if (normalize)
            return cli_fail(EXIT_USAGE, cmd, "--normalize needs a float format, not .%s",
                            vs_file_format_name(format));
    } else if (format != VS_FORMAT_FVECS && format != VS_FORMAT_FBIN && format != VS_FORMAT_NPY) {
        return cli_fail(EXIT_USAGE, cmd,
                        "%s: cannot tell the format; use .fvecs .fbin .npy .bvecs or .u8bin",
                        output);
    }

    vs_writer *writer = NULL;
    int rc = cli_writer_open(cmd, output, format, dtype, dim, count, &writer);
    if (rc != EXIT_OK) return rc;

    rng r;
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r.s[i] = splitmix64(&x);
    size_t rows_per_block = (size_t)(1 + (1u << 20) / dim);
    float *block = malloc(rows_per_block * dim * sizeof(float));
    float *centers = dist == DIST_CLUSTERED ? malloc(GEN_CENTERS * dim * sizeof(float)) : NULL;
    if (block == NULL || (dist == DIST_CLUSTERED && centers == NULL)) {
        cli_writer_abort(writer);
        free(block);
        free(centers);
        return cli_fail(EXIT_OUTPUT, cmd, "out of memory");
    }
    for (size_t i = 0; centers != NULL && i < GEN_CENTERS * dim; i++)
        centers[i] = (float)rng_gaussian(&r);
    cli_progress progress;
    cli_progress_start(&progress, 0, "vec");
    for (uint64_t done = 0; done < count && rc == 0;) {
        size_t rows = count - done < rows_per_block ? (size_t)(count - done) : rows_per_block;
        for (size_t i = 0; i < rows; i++) {
            const float *center = centers ? centers + (rng_next(&r) % GEN_CENTERS) * dim : NULL;
            gen_row(&r, dist, dtype, normalize, center, block + i * dim, dim);
        }
        rc = vs_writer_write_f32(writer, block, rows);
        done += rows;
        cli_progress_update(&progress, done, count);
    }
    cli_progress_finish(&progress);
    free(block);
    free(centers);
    if (rc != 0) {
        cli_fail(EXIT_OUTPUT, cmd, "%s", vs_writer_error(writer));
        cli_writer_abort(writer);
        return EXIT_OUTPUT;
    }
    vs_outfile *file = NULL;
    if ((rc = cli_writer_finish(cmd, writer, &file)) != EXIT_OK) return rc;
    return cli_commit(cmd, &file, 1);
}
