/*
 * program.c — builds the kernel program once per context, with an on-disk
 * cache of device binaries.
 *
 * Cache entry: vecscore-<key>.clbin in the context's cache directory
 * (base/cache.c, which also decides whether that directory can be trusted:
 * a binary is native code the driver loads into this process). The key is a
 * 64-bit FNV-1a hash of platform name and version, device name, driver
 * version, the source, the build options and the library version. The file
 * is
 *
 *   "VSCLBIN1" | key (u64) | payload bytes (u64) | payload hash (u64) | payload
 *
 * Writes go to a temporary file in the same directory and are renamed into
 * place, so readers see a whole entry or none. An entry whose header, hash or
 * binary does not check out is deleted and the program rebuilt from source.
 * The cache is best effort: when the directory cannot be made, trusted or
 * written, the program is still built (and a warning logged).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/topk_order.h"
#include "cl_internal.h"

#define VS_CACHE_MAGIC "VSCLBIN1"
#define VS_CACHE_HEADER_BYTES (8 + 3 * sizeof(uint64_t))
#define VS_CACHE_MAX_BYTES ((uint64_t)256 << 20)
#define VS_CACHE_WHAT "opencl: program cache"

static void log_build_failure(const vs__env *ctx, cl_program program, cl_device_id device) {
    size_t size = 0;
    if (vs__cl.GetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, 0, NULL, &size) !=
            CL_SUCCESS ||
        size == 0)
        return;
    char *text = malloc(size + 1);
    if (text == NULL) return;
    if (vs__cl.GetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, size, text, NULL) ==
        CL_SUCCESS) {
        text[size] = '\0';
        vs__log(&ctx->log, VS_LOG_ERROR, "opencl: program build log:\n%s", text);
    }
    free(text);
}

/*
 * The payload of a cache entry, or NULL: missing or not usable (base/cache.c
 * said why), or damaged (deleted here). *payload_offset is where the binary
 * starts in the returned block (free the block).
 */
static unsigned char *cache_load(const vs__env *ctx, const char *name, uint64_t key,
                                 size_t *payload_offset, size_t *size) {
    unsigned char *entry = NULL;
    size_t length = 0;
    if (!vs__cache_read(ctx->cache, VS_CACHE_WHAT, name, VS_CACHE_HEADER_BYTES + VS_CACHE_MAX_BYTES,
                        &entry, &length))
        return NULL;
    uint64_t header[3] = {0, 0, 0};
    int valid = length > VS_CACHE_HEADER_BYTES && memcmp(entry, VS_CACHE_MAGIC, 8) == 0;
    if (valid) {
        memcpy(header, entry + 8, sizeof(header));
        valid = header[0] == key && header[1] > 0 && header[1] == length - VS_CACHE_HEADER_BYTES &&
                vs__fnv1a(VS_FNV1A_SEED, entry + VS_CACHE_HEADER_BYTES, header[1]) == header[2];
    }
    if (!valid) {
        vs__log(&ctx->log, VS_LOG_WARN,
                "opencl: program cache entry %s is corrupt or foreign; rebuilding", name);
        free(entry);
        vs__cache_drop(ctx->cache, name);
        return NULL;
    }
    *payload_offset = VS_CACHE_HEADER_BYTES;
    *size = (size_t)header[1];
    return entry;
}

static void cache_store(const vs__env *ctx, const char *name, uint64_t key, cl_program program) {
    size_t size = 0;
    if (vs__cl.GetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, sizeof(size), &size, NULL) !=
            CL_SUCCESS ||
        size == 0 || size > VS_CACHE_MAX_BYTES)
        return;
    unsigned char *entry = malloc(VS_CACHE_HEADER_BYTES + size);
    if (entry == NULL) return;
    unsigned char *binaries[1] = {entry + VS_CACHE_HEADER_BYTES};
    if (vs__cl.GetProgramInfo(program, CL_PROGRAM_BINARIES, sizeof(binaries), binaries, NULL) ==
        CL_SUCCESS) {
        uint64_t header[3] = {key, size, vs__fnv1a(VS_FNV1A_SEED, binaries[0], size)};
        memcpy(entry, VS_CACHE_MAGIC, 8);
        memcpy(entry + 8, header, sizeof(header));
        vs__cache_write(ctx->cache, VS_CACHE_WHAT, name, entry, VS_CACHE_HEADER_BYTES + size);
    }
    free(entry);
}

int vs__cl_program_get(const vs__env *ctx, cl_context context, const vs__cl_entry *entry,
                       const char *source, size_t source_length, const char *options,
                       vs__cl_program_result *out) {
    int status = VS_OK;
    double start = vs__now();
    memset(out, 0, sizeof(*out));
    cl_program program = NULL;
    cl_device_id device = entry->device;
    /* Every program gets the library's top-k order (base/topk_order.h) as defines. */
    char all_options[1024];
    if (snprintf(all_options, sizeof(all_options), "%s %s", options, VS_TOPK_ORDER_CL_OPTIONS) >=
        (int)sizeof(all_options)) {
        vs__log(&ctx->log, VS_LOG_ERROR, "opencl: build options too long: %s", options);
        return VS_ERR_INVALID_ARGUMENT;
    }
    options = all_options;

    char platform_version[256];
    vs__cl_info_string(entry->platform, NULL, CL_PLATFORM_VERSION, platform_version,
                       sizeof(platform_version));
    uint64_t key = VS_FNV1A_SEED;
    key = vs__fnv1a_field(key, entry->info.platform);
    key = vs__fnv1a_field(key, platform_version);
    key = vs__fnv1a_field(key, entry->info.name);
    key = vs__fnv1a_field(key, entry->info.driver_version);
    key = vs__fnv1a(key, source, source_length);
    key = vs__fnv1a_field(key, options);
    key = vs__fnv1a_field(key, vs_version());

    char name[64];
    snprintf(name, sizeof(name), "vecscore-%016llx.clbin", (unsigned long long)key);

    size_t size = 0, offset = 0;
    unsigned char *entry_bytes = cache_load(ctx, name, key, &offset, &size);
    if (entry_bytes != NULL) {
        cl_int err = CL_SUCCESS, binary_status = CL_SUCCESS;
        const unsigned char *binaries[1] = {entry_bytes + offset};
        program = vs__cl.CreateProgramWithBinary(context, 1, &device, &size, binaries,
                                                 &binary_status, &err);
        free(entry_bytes);
        if (err == CL_SUCCESS && binary_status == CL_SUCCESS)
            err = vs__cl.BuildProgram(program, 1, &device, options, NULL, NULL);
        if (err == CL_SUCCESS && binary_status == CL_SUCCESS) {
            out->from_cache = 1;
        } else {
            vs__log(&ctx->log, VS_LOG_WARN,
                    "opencl: cached program %s was refused by the driver (%s); rebuilding", name,
                    vs__cl_error_name(err != CL_SUCCESS ? err : binary_status));
            if (program != NULL) vs__cl.ReleaseProgram(program);
            program = NULL;
            vs__cache_drop(ctx->cache, name);
        }
    }
    if (program == NULL) {
        cl_int err = CL_SUCCESS;
        program = vs__cl.CreateProgramWithSource(context, 1, &source, &source_length, &err);
        if (err != CL_SUCCESS) {
            status = vs__cl_failed(ctx, "clCreateProgramWithSource", err);
            goto cleanup;
        }
        err = vs__cl.BuildProgram(program, 1, &device, options, NULL, NULL);
        if (err == CL_BUILD_PROGRAM_FAILURE) log_build_failure(ctx, program, device);
        if (err != CL_SUCCESS) {
            status = vs__cl_failed(ctx, "clBuildProgram", err);
            goto cleanup;
        }
        cache_store(ctx, name, key, program);
    }
    out->program = program;
    program = NULL;
    out->seconds = vs__now() - start;
cleanup:
    if (program != NULL) vs__cl.ReleaseProgram(program);
    return status;
}
