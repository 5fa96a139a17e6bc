/*
 * recall.c — `vecscore recall`: a top-k result against ground truth.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static void recall_help(FILE *out) {
    cli_help(out,
             "usage: vecscore recall --result IDS --truth IDS [-k K]\n"
             "\n"
             "Compares a top-k result with ground truth (both integer id files:\n"
             ".ivecs .ibin or an integer .npy, one row per query, best first; big-ann\n"
             "ground-truth .ibin files, ids then distances, are read as their ids;\n"
             "- reads standard input) and prints\n"
             "recall@1, recall@10, recall@100 (those within both files' widths) and\n"
             "recall@K, one per line as 'recall@N<TAB>VALUE'. recall@N is the mean over\n"
             "queries of |result[:N] & truth[:N]| / N (ids of -1 are padding and never\n"
             "count; a truth row with fewer than N real ids divides by that count).\n",
             CLI_CMD_RECALL, 15, "");
}

static int open_ids(const char *cmd, const char *path, vs_reader **out, unsigned char **owned) {
    int code = cli_open_input(cmd, path, 0, 1, out, owned);
    if (code != EXIT_OK) return code;
    vs_dtype dtype = vs_reader_get_info(*out)->dtype;
    if (dtype == VS_DTYPE_F32 || dtype == VS_DTYPE_F16 || dtype == VS_DTYPE_F64) {
        cli_fail(EXIT_INPUT, cmd,
                 "%s: holds %s values; expected integer ids (.ivecs, .ibin or an integer .npy)",
                 strcmp(path, "-") == 0 ? CLI_STDIN_NAME : path, vs_dtype_name(dtype));
        cli_close_input(*out, *owned);
        *out = NULL;
        *owned = NULL;
        return EXIT_INPUT;
    }
    return EXIT_OK;
}

int cli_recall(int argc, char **argv) {
    const char *cmd = "recall";
    cli_values opts;
    int code = cli_options_parse(CLI_CMD_RECALL, cmd, argc, argv, recall_help, &opts);
    if (code >= 0) return code;
    const char *result_path = opts.text[CLI_OPT_RESULT], *truth_path = opts.text[CLI_OPT_TRUTH];
    uint64_t k = opts.given[CLI_OPT_K] ? opts.number[CLI_OPT_K] : 0;
    static const char *const required[] = {"--result", "--truth"};
    int present[2] = {result_path != NULL, truth_path != NULL};
    code = cli_require(cmd, 2, required, present);
    if (code >= 0) return code;
    if (strcmp(result_path, "-") == 0 && strcmp(truth_path, "-") == 0)
        return cli_fail(EXIT_USAGE, cmd,
                        "--result and --truth cannot both be - (there is one standard input)");

    vs_reader *result = NULL, *truth = NULL;
    unsigned char *result_owned = NULL, *truth_owned = NULL;
    code = open_ids(cmd, result_path, &result, &result_owned);
    if (code == EXIT_OK) code = open_ids(cmd, truth_path, &truth, &truth_owned);
    if (code != EXIT_OK) {
        cli_close_input(result, result_owned);
        return code;
    }
    if (strcmp(result_path, "-") == 0) result_path = CLI_STDIN_NAME;
    if (strcmp(truth_path, "-") == 0) truth_path = CLI_STDIN_NAME;
    const vs_reader_info *ri = vs_reader_get_info(result), *ti = vs_reader_get_info(truth);
    uint64_t width = ri->dim < ti->dim ? ri->dim : ti->dim;
    if (ri->rows != ti->rows) {
        code = cli_fail(
            EXIT_INPUT, cmd, "%s has %llu rows but %s has %llu; expected one row per query in both",
            result_path, (unsigned long long)ri->rows, truth_path, (unsigned long long)ti->rows);
    } else if (k > width) {
        code = cli_fail(EXIT_INPUT, cmd, "-k %llu exceeds the ids per query (%s: %llu, %s: %llu)",
                        (unsigned long long)k, result_path, (unsigned long long)ri->dim, truth_path,
                        (unsigned long long)ti->dim);
    }
    if (code != EXIT_OK) {
        cli_close_input(result, result_owned);
        cli_close_input(truth, truth_owned);
        return code;
    }
    if (k == 0) k = width;
    uint64_t levels[4] = {1, 10, 100, k};
    double sums[4] = {0};
    int64_t *rrow = malloc(ri->dim * sizeof(int64_t)), *trow = malloc(ti->dim * sizeof(int64_t));
    if (rrow == NULL || trow == NULL) code = cli_fail(EXIT_DEVICE, cmd, "out of memory");
    for (uint64_t q = 0; code == EXIT_OK && q < ri->rows; q++) {
        if (vs_reader_read_i64(result, q, 1, rrow) != 0) {
            code = cli_fail(EXIT_INPUT, cmd, "%s", vs_reader_error(result));
        } else if (vs_reader_read_i64(truth, q, 1, trow) != 0) {
            code = cli_fail(EXIT_INPUT, cmd, "%s", vs_reader_error(truth));
        }
        for (int l = 0; code == EXIT_OK && l < 4; l++) {
            uint64_t n = levels[l];
            if (n > width) continue;
            uint64_t real = 0, hits = 0;
            for (uint64_t t = 0; t < n; t++) {
                if (trow[t] < 0) continue;
                real++;
                for (uint64_t j = 0; j < n; j++) {
                    if (rrow[j] == trow[t]) {
                        hits++;
                        break;
                    }
                }
            }
            sums[l] += real ? (double)hits / (double)real : 1.0;
        }
    }
    if (code == EXIT_OK) {
        for (int l = 0; l < 4; l++) {
            if (levels[l] > width || (l == 3 && (k == 1 || k == 10 || k == 100))) continue;
            printf("recall@%llu\t%.6f\n", (unsigned long long)levels[l],
                   sums[l] / (double)ri->rows);
        }
        if (fflush(stdout) != 0) code = cli_stdout_failed(cmd);
    }
    free(rrow);
    free(trow);
    cli_close_input(result, result_owned);
    cli_close_input(truth, truth_owned);
    return code;
}
