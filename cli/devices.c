/*
 * devices.c — `vecscore devices` (what can run, and what auto picks) and
 * `vecscore --version`.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#include "base/json.h"

static void devices_help(FILE *out) {
    cli_help(out,
             "usage: vecscore devices [--json]\n"
             "\n"
             "Lists every device the library can use (the native CPU with its ISA and\n"
             "threads, then each OpenCL device with its selector, memory and driver),\n"
             "why there is no OpenCL device if there is none, and what 'auto' picks\n"
             "(found by running one tiny batch).\n",
             CLI_CMD_DEVICES, 9, "");
}

typedef struct probe {
    int available;
    int status;
    char backend[16];
    char device[128];
    char isa[16];
    int threads;
    char error[512];
} probe;

/* Creates a context for selector and runs one tiny batch to learn what ran it. */
static void probe_device(const char *selector, probe *out) {
    memset(out, 0, sizeof(*out));
    cli_log log = {1, ""};
    vs_options opts;
    vs_options_init(&opts);
    opts.device = selector;
    opts.log = cli_log_callback;
    opts.log_user = &log;
    vs_context *ctx = NULL;
    int rc = vs_context_create(&opts, &ctx);
    if (rc == 0) {
        float query = 1.0f, candidate = 1.0f, score;
        int64_t id;
        rc = vs_topk(ctx, VS_METRIC_DOT, &query, 1, &candidate, 1, 1, 1, &score, &id);
        vs_batch_report report;
        if (rc == 0 && vs_context_last_report(ctx, &report) == 0) {
            snprintf(out->backend, sizeof(out->backend), "%s", report.backend);
            snprintf(out->device, sizeof(out->device), "%s", report.device);
            snprintf(out->isa, sizeof(out->isa), "%s", report.isa);
        }
        out->threads = vs_context_threads(ctx);
        vs_context_free(ctx);
    }
    out->status = rc;
    out->available = rc == 0;
    if (rc != 0)
        snprintf(out->error, sizeof(out->error), "%s", log.last[0] ? log.last : vs_strerror(rc));
}

/*
 * One string of device index, whole (vs_device_string; the vs_device fields
 * cut long strings), malloc'd; NULL when that fails (print the field then).
 */
static char *device_text(int index, vs_device_field field) {
    for (int tries = 0; tries < 4; tries++) {
        int length = vs_device_string(index, field, NULL, 0);
        if (length < 0) return NULL;
        char *text = malloc((size_t)length + 1);
        if (text == NULL) return NULL;
        int again = vs_device_string(index, field, text, (size_t)length + 1);
        if (again >= 0 && again <= length) return text;
        free(text); /* it grew between the two calls: ask again */
    }
    return NULL;
}

/* The five strings of a device, whole where they can be had. */
typedef struct device_texts {
    char *owned[5];
    const char *text[5]; /* owned[i], or the vs_device field */
} device_texts;

static void device_texts_get(int index, const vs_device *d, device_texts *t) {
    const char *fields[5] = {d->name, d->vendor, d->platform, d->driver_version, d->device_version};
    for (int i = 0; i < 5; i++) {
        t->owned[i] = device_text(index, (vs_device_field)i);
        t->text[i] = t->owned[i] != NULL ? t->owned[i] : fields[i];
    }
}

static void device_texts_free(device_texts *t) {
    for (int i = 0; i < 5; i++)
        free(t->owned[i]);
}

/* The whole name of the device a probe ran on: the report's name is cut like
 * the vs_device one, so the device whose cut name matches is the one. */
static char *probe_device_name(const probe *p) {
    int count = vs_device_count();
    for (int i = 0; i < count; i++) {
        vs_device d;
        if (vs_device_info(i, &d) == 0 && strcmp(d.name, p->device) == 0)
            return device_text(i, VS_DEVICE_FIELD_NAME);
    }
    return NULL;
}

/* The one JSON string writer (base/json.h, header-only), shared with the benchmark's report. */
static void json_string(FILE *out, const char *text) {
    vs__json_string(out, text);
}

static void json_probe(FILE *out, const char *selector, const probe *p) {
    fprintf(out, "{\"selector\": ");
    json_string(out, selector);
    fprintf(out, ", \"available\": %s", p->available ? "true" : "false");
    if (p->available) {
        fprintf(out, ", \"backend\": ");
        json_string(out, p->backend);
        fprintf(out, ", \"device\": ");
        char *name = probe_device_name(p);
        json_string(out, name != NULL ? name : p->device);
        free(name);
        fprintf(out, ", \"isa\": ");
        json_string(out, p->isa);
        fprintf(out, ", \"threads\": %d}", p->threads);
    } else {
        fprintf(out, ", \"status\": ");
        json_string(out, vs_status_name(p->status));
        fprintf(out, ", \"error\": ");
        json_string(out, p->error);
        fprintf(out, "}");
    }
}

static const char *kind_name(vs_device_kind kind) {
    switch (kind) {
    case VS_DEVICE_NATIVE_CPU: return "native-cpu";
    case VS_DEVICE_OPENCL_GPU: return "opencl-gpu";
    case VS_DEVICE_OPENCL_CPU: return "opencl-cpu";
    case VS_DEVICE_OPENCL_ACCELERATOR: return "opencl-accelerator";
    case VS_DEVICE_OPENCL_OTHER: break;
    }
    return "opencl-other";
}

static void json_device(FILE *out, int index, const vs_device *d) {
    device_texts t;
    device_texts_get(index, d, &t);
    fprintf(out, "{\"index\": %d, \"selector\": ", index);
    json_string(out, d->selector);
    fprintf(out, ", \"kind\": \"%s\", \"name\": ", kind_name(d->kind));
    json_string(out, t.text[VS_DEVICE_FIELD_NAME]);
    fprintf(out, ", \"vendor\": ");
    json_string(out, t.text[VS_DEVICE_FIELD_VENDOR]);
    fprintf(out, ", \"platform\": ");
    json_string(out, t.text[VS_DEVICE_FIELD_PLATFORM]);
    fprintf(out, ", \"driver_version\": ");
    json_string(out, t.text[VS_DEVICE_FIELD_DRIVER_VERSION]);
    fprintf(out, ", \"device_version\": ");
    json_string(out, t.text[VS_DEVICE_FIELD_DEVICE_VERSION]);
    device_texts_free(&t);
    fprintf(out,
            ", \"compute_units\": %u, \"global_mem_bytes\": %llu, \"max_alloc_bytes\": %llu, "
            "\"unified_memory\": %s, \"zero_copy_expected\": %s, \"auto_eligible\": %s}",
            d->compute_units, (unsigned long long)d->global_mem_bytes,
            (unsigned long long)d->max_alloc_bytes, d->unified_memory ? "true" : "false",
            d->zero_copy_expected ? "true" : "false", d->auto_eligible ? "true" : "false");
}

static void format_bytes(uint64_t bytes, char *out, size_t size) {
    if (bytes == 0)
        snprintf(out, size, "-");
    else if (bytes >= ((uint64_t)1 << 30))
        snprintf(out, size, "%.1f GiB", (double)bytes / (double)((uint64_t)1 << 30));
    else
        snprintf(out, size, "%.0f MiB", (double)bytes / (double)((uint64_t)1 << 20));
}

/* Every device the library reports (vs_device_count/vs_device_info), and
 * what "auto" picks, learned by running one tiny batch under "auto". */
int cli_devices(int argc, char **argv) {
    cli_values opts;
    int code = cli_options_parse(CLI_CMD_DEVICES, "devices", argc, argv, devices_help, &opts);
    if (code >= 0) return code;
    int json = opts.given[CLI_OPT_JSON];
    int count = vs_device_count();
    probe automatic;
    probe_device("auto", &automatic);
    const char *opencl_status = vs_opencl_status();
    if (json) {
        printf("{\"version\": \"%s\", \"cpu_best_isa\": \"%s\", \"opencl_status\": ", vs_version(),
               vs_cpu_best_isa());
        json_string(stdout, opencl_status);
        printf(", \"devices\": [");
        for (int i = 0; i < count; i++) {
            vs_device d;
            if (vs_device_info(i, &d) != 0) continue;
            if (i) printf(", ");
            json_device(stdout, i, &d);
        }
        printf("], \"auto\": ");
        json_probe(stdout, "auto", &automatic);
        printf("}\n");
    } else {
        printf("%-12s %-12s %-4s %5s %9s %-9s %s\n", "SELECTOR", "KIND", "AUTO", "UNITS", "MEMORY",
               "ZERO-COPY", "NAME");
        for (int i = 0; i < count; i++) {
            vs_device d;
            if (vs_device_info(i, &d) != 0) continue;
            char memory[32];
            format_bytes(d.global_mem_bytes, memory, sizeof(memory));
            device_texts t;
            device_texts_get(i, &d, &t);
            printf("%-12s %-12s %-4s %5u %9s %-9s %s", d.selector, kind_name(d.kind),
                   d.auto_eligible ? "yes" : "no", d.compute_units, memory,
                   d.zero_copy_expected ? "yes" : "no", t.text[VS_DEVICE_FIELD_NAME]);
            if (d.platform[0])
                printf(" [%s, %s]", t.text[VS_DEVICE_FIELD_PLATFORM],
                       t.text[VS_DEVICE_FIELD_DRIVER_VERSION]);
            printf("\n");
            device_texts_free(&t);
        }
        if (opencl_status[0]) printf("opencl: %s\n", opencl_status);
        if (automatic.available) {
            char *name = probe_device_name(&automatic);
            printf("auto picks: %s (isa %s), device %s\n", automatic.backend, automatic.isa,
                   name != NULL ? name : automatic.device);
            free(name);
        } else
            printf("auto picks nothing: %s\n", automatic.error);
    }
    if (fflush(stdout) != 0) return cli_stdout_failed("devices");
    return automatic.available ? EXIT_OK : EXIT_DEVICE;
}

int cli_version(void) {
    printf("vecscore %s\n", vs_version());
    printf("isa: %s (supported:", vs_cpu_best_isa());
    for (int i = 0; vs_cpu_isa_name(i) != NULL; i++)
        if (vs_cpu_isa_supported(vs_cpu_isa_name(i))) printf(" %s", vs_cpu_isa_name(i));
    printf(")\ndevices:");
    int count = vs_device_count();
    for (int i = 0; i < count; i++) {
        vs_device d;
        if (vs_device_info(i, &d) != 0) continue;
        char *name = device_text(i, VS_DEVICE_FIELD_NAME);
        printf(" %s (%s)", d.selector, name != NULL ? name : d.name);
        free(name);
    }
    if (vs_opencl_status()[0]) printf("; opencl: %s", vs_opencl_status());
    printf("\n");
    return fflush(stdout) == 0 ? EXIT_OK : cli_stdout_failed("--version");
}
