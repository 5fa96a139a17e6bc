/*
 * options.c — the command line of every subcommand, from one table.
 *
 * A row: the option's id (where its value goes), its name and short form,
 * the kind of value, its range, the subcommands that accept it, those whose
 * --help lists it, and the help text (label and description; a description
 * of several lines is joined with '\n'). Parsing and --help read the same
 * rows. Messages name an option by "SHORT/NAME" when it has a one-dash short
 * form ("-q/--queries"), else by its name ("--device", "-k").
 */
#include "cli.h"

#include <string.h>

typedef enum cli_arg {
    CLI_ARG_FLAG,   /* no value; may be repeated */
    CLI_ARG_TEXT,   /* any text */
    CLI_ARG_U64,    /* a decimal integer within [min, max] */
    CLI_ARG_METRIC, /* dot, cosine, l2 (l2sq) */
} cli_arg;

typedef struct cli_option_row {
    cli_option_id id;
    const char *name;       /* "--queries"; "-k" for an option with no long name */
    const char *short_form; /* "-q", or NULL; "--k" is also accepted for -k */
    cli_arg arg;
    uint64_t min, max;    /* CLI_ARG_U64 */
    const char *expected; /* what a bad value's message expects; NULL: "MIN .. MAX" */
    unsigned commands;    /* CLI_CMD_* that accept it */
    unsigned listed;      /* CLI_CMD_* whose --help lists it */
    const char *label;    /* left column of the help line */
    const char *help;     /* the description */
} cli_option_row;

#define SEARCH CLI_CMD_SEARCH
#define TOPK CLI_CMD_TOPK
#define SCORE CLI_CMD_SCORE
#define GEN CLI_CMD_GEN
#define RECALL CLI_CMD_RECALL
#define DEVICES CLI_CMD_DEVICES

/* In each subcommand's help order. */
static const cli_option_row rows[] = {
    {CLI_OPT_QUERIES, "--queries", "-q", CLI_ARG_TEXT, 0, 0, NULL, SEARCH, TOPK,
     "-q, --queries FILE",
     "query vectors (any vector format; - reads standard\n"
     "input whole, the content decides the format)"},
    {CLI_OPT_BASE, "--base", "-b", CLI_ARG_TEXT, 0, 0, NULL, SEARCH, TOPK, "-b, --base FILE",
     "base vectors; streamed in chunks, so it may be\n"
     "larger than memory (- reads standard input)"},
    {CLI_OPT_K, "-k", "--k", CLI_ARG_U64, 1, VS_IO_MAX_DIM, NULL, TOPK, TOPK, "-k K",
     "results per query (1 .. 1048576)"},
    {CLI_OPT_METRIC, "--metric", "-m", CLI_ARG_METRIC, 0, 0, "dot, cosine or l2", SEARCH, TOPK,
     "--metric M", "dot, cosine (default) or l2 (squared L2)"},
    {CLI_OPT_DEVICE, "--device", NULL, CLI_ARG_TEXT, 0, 0, NULL, SEARCH, TOPK, "--device SEL",
     "auto (default), cpu, opencl, opencl:P:D,\n"
     "opencl:name=TEXT"},
    {CLI_OPT_OUTPUT, "--output", "-o", CLI_ARG_TEXT, 0, 0, NULL, TOPK, TOPK, "-o, --output RESULT",
     ".ivecs (int32 ids), .npy (int64 ids), .tsv (query,\n"
     "rank, id, score), .json, or - for TSV on stdout"},
    {CLI_OPT_OUTPUT, "--output", "-o", CLI_ARG_TEXT, 0, 0, NULL, SCORE, SCORE,
     "-o, --output SCORES",
     ".fvecs (one row per query, width = BASE rows),\n"
     ".fbin or .npy (float32 matrix), .tsv (query, id,\n"
     "score), .json, or - for TSV on stdout"},
    {CLI_OPT_SCORES, "--scores", NULL, CLI_ARG_TEXT, 0, 0, NULL, TOPK, TOPK, "--scores SCORES",
     "scores next to .ivecs/.ibin/.npy ids: .fvecs,\n"
     ".fbin or .npy (float32)"},
    {CLI_OPT_BATCH, "--batch", NULL, CLI_ARG_U64, 1, UINT32_MAX, NULL, SEARCH, TOPK, "--batch N",
     "queries per batch (default 1024)"},
    {CLI_OPT_CHUNK, "--chunk", NULL, CLI_ARG_U64, 1, UINT32_MAX, NULL, SEARCH, TOPK, "--chunk N",
     "base rows per chunk (default: 256 MiB of float32)"},
    {CLI_OPT_THREADS, "--threads", "-t", CLI_ARG_U64, 0, 4096, NULL, SEARCH, TOPK, "--threads N",
     "worker threads (default: all cores)"},
    {CLI_OPT_REPORT, "--report", NULL, CLI_ARG_FLAG, 0, 0, NULL, SEARCH, TOPK, "--report",
     "print the last batch's report, totals and peak\n"
     "resident memory to stderr at the end"},
    {CLI_OPT_QUIET, "--quiet", NULL, CLI_ARG_FLAG, 0, 0, NULL, SEARCH, TOPK, "--quiet",
     "no progress bar and no warnings"},
    {CLI_OPT_REJECT_NONFINITE, "--reject-nonfinite", NULL, CLI_ARG_FLAG, 0, 0, NULL, SEARCH, TOPK,
     "--reject-nonfinite",
     "a NaN or infinite input value is an error naming\n"
     "the row (default: scored per IEEE arithmetic)"},
    {CLI_OPT_STORAGE, "--storage", NULL, CLI_ARG_TEXT, 0, 0, NULL, SEARCH, TOPK, "--storage S",
     "the library keeps BASE as f32 (default), f16, bf16\n"
     "or i8 and scans that copy; results stay exactly\n"
     "those of f32 (candidates rescored in float32)"},
    {CLI_OPT_APPROX, "--approx", NULL, CLI_ARG_FLAG, 0, 0, NULL, SEARCH, TOPK, "--approx",
     "with --storage: scores from the compact copy only\n"
     "(no float32 copy kept; not exact)"},

    {CLI_OPT_COUNT, "--count", "-n", CLI_ARG_U64, 1, UINT32_MAX, NULL, GEN, GEN, "--count N",
     "rows (1 .. 4294967295)"},
    {CLI_OPT_DIM, "--dim", "-d", CLI_ARG_U64, 1, VS_IO_MAX_DIM, NULL, GEN, GEN, "--dim D",
     "dimension (1 .. 1048576)"},
    {CLI_OPT_SEED, "--seed", NULL, CLI_ARG_U64, 0, UINT64_MAX, "a non-negative integer", GEN, GEN,
     "--seed S",
     "random seed (default 42); the same seed gives the\n"
     "same file on every machine"},
    {CLI_OPT_DISTRIBUTION, "--distribution", NULL, CLI_ARG_TEXT, 0, 0, NULL, GEN, GEN,
     "--distribution",
     "gaussian (default; N(0,1) per element), uniform\n"
     "([-1,1) per element), clustered (16 gaussian centers\n"
     "plus N(0, 0.1^2) noise). Byte formats map values to\n"
     "0..255 (128 + 40 x, clamped; uniform: 0..255)"},
    {CLI_OPT_NORMALIZE, "--normalize", NULL, CLI_ARG_FLAG, 0, 0, NULL, GEN, GEN, "--normalize",
     "scale every vector to unit L2 norm (float formats)"},
    {CLI_OPT_OUTPUT, "--output", "-o", CLI_ARG_TEXT, 0, 0, NULL, GEN, GEN, "-o, --output FILE",
     "where to write (temporary file + rename)"},

    {CLI_OPT_RESULT, "--result", "-r", CLI_ARG_TEXT, 0, 0, NULL, RECALL, RECALL, "--result IDS",
     "the result to check"},
    {CLI_OPT_TRUTH, "--truth", "-t", CLI_ARG_TEXT, 0, 0, NULL, RECALL, RECALL, "--truth IDS",
     "the ground truth"},
    {CLI_OPT_K, "-k", NULL, CLI_ARG_U64, 1, VS_IO_MAX_DIM, NULL, RECALL, RECALL, "-k K",
     "also print recall@K (default: the smaller width)"},

    {CLI_OPT_JSON, "--json", NULL, CLI_ARG_FLAG, 0, 0, NULL, DEVICES, DEVICES, "--json",
     "one JSON object on stdout"},
};

#define ROW_COUNT (sizeof(rows) / sizeof(rows[0]))

/* The value of "NAME VALUE" / "NAME=VALUE" / "SHORT VALUE" at argv[*i]
 * (advancing *i), or NULL if argv[*i] is not that option; *missing is set
 * when it is there without a value. */
static const char *option_value(int argc, char **argv, int *i, const cli_option_row *row,
                                int *missing) {
    const char *arg = argv[*i];
    size_t n = strlen(row->name);
    if (strncmp(arg, row->name, n) == 0 && arg[n] == '=') return arg + n + 1;
    if (strcmp(arg, row->name) == 0 ||
        (row->short_form != NULL && strcmp(arg, row->short_form) == 0)) {
        if (*i + 1 >= argc) {
            *missing = 1;
            return NULL;
        }
        *i += 1;
        return argv[*i];
    }
    return NULL;
}

static int parse_metric(const char *text, uint64_t *out) {
    if (strcmp(text, "dot") == 0)
        *out = VS_METRIC_DOT;
    else if (strcmp(text, "cosine") == 0)
        *out = VS_METRIC_COSINE;
    else if (strcmp(text, "l2") == 0 || strcmp(text, "l2sq") == 0)
        *out = VS_METRIC_L2SQ;
    else
        return -1;
    return 0;
}

/* Stores one option's value; EXIT_USAGE (printed) for a bad or repeated one. */
static int store(const cli_option_row *row, const char *cmd, const char *value,
                 cli_values *values) {
    if (row->arg == CLI_ARG_FLAG) {
        values->given[row->id] = 1;
        return -1;
    }
    if (values->given[row->id]) {
        if (row->short_form != NULL && row->short_form[1] != '-')
            return cli_fail(EXIT_USAGE, cmd, "%s/%s is given more than once; give it once",
                            row->short_form, row->name);
        return cli_fail(EXIT_USAGE, cmd, "%s is given more than once; give it once", row->name);
    }
    values->given[row->id] = 1;
    values->text[row->id] = value;
    int bad = 0;
    if (row->arg == CLI_ARG_U64)
        bad = cli_parse_u64(value, row->min, row->max, &values->number[row->id]) != 0;
    else if (row->arg == CLI_ARG_METRIC)
        bad = parse_metric(value, &values->number[row->id]) != 0;
    if (!bad) return -1;
    if (row->expected != NULL)
        return cli_fail(EXIT_USAGE, cmd, "%s '%s': expected %s", row->name, value, row->expected);
    return cli_fail(EXIT_USAGE, cmd, "%s '%s': expected %llu .. %llu", row->name, value,
                    (unsigned long long)row->min, (unsigned long long)row->max);
}

int cli_options_parse(unsigned command, const char *cmd, int argc, char **argv,
                      void (*help)(FILE *), cli_values *values) {
    memset(values, 0, sizeof(*values));
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            help(stdout);
            return EXIT_OK;
        }
        const cli_option_row *row = NULL;
        const char *value = NULL;
        int missing = 0;
        for (size_t r = 0; r < ROW_COUNT && row == NULL && !missing; r++) {
            if (!(rows[r].commands & command)) continue;
            if (rows[r].arg == CLI_ARG_FLAG) {
                if (strcmp(argv[i], rows[r].name) == 0) row = &rows[r];
            } else if ((value = option_value(argc, argv, &i, &rows[r], &missing)) != NULL) {
                row = &rows[r];
            }
        }
        if (missing) return cli_fail(EXIT_USAGE, cmd, "%s needs a value", argv[i]);
        if (row == NULL)
            return cli_fail(EXIT_USAGE, cmd, "unknown argument '%s'; see 'vecscore %s --help'",
                            argv[i], cmd);
        int code = store(row, cmd, value, values);
        if (code >= 0) return code;
    }
    return -1;
}

void cli_help(FILE *out, const char *usage, unsigned command, int width, const char *after) {
    fputs(usage, out);
    cli_options_help(out, command, width);
    fprintf(out, "%s\n%s", after, cli_exit_codes_help);
}

void cli_options_help(FILE *out, unsigned command, int width) {
    for (size_t r = 0; r < ROW_COUNT; r++) {
        if (!(rows[r].listed & command)) continue;
        fprintf(out, "  %-*s", width, rows[r].label);
        for (const char *p = rows[r].help; *p; p++) {
            fputc(*p, out);
            if (*p == '\n') fprintf(out, "%*s", width + 2, "");
        }
        fputc('\n', out);
    }
}
