/*
 * program.c — builds the kernel program once per context, with an on-disk
 * cache of device binaries.
 *
 * Cache entry: <dir>/vecscore-<key>.clbin, where key is a 64-bit FNV-1a hash
 * of platform name and version, device name, driver version, the source, the
 * build options and the library version. The file is
 *
 *   "VSCLBIN1" | key (u64) | payload bytes (u64) | payload hash (u64) | payload
 *
 * Writes go to a temporary file in the same directory and are renamed into
 * place, so readers see a whole entry or none. An entry whose header, hash or
 * binary does not check out is deleted and the program rebuilt from source.
 * The cache is best effort: when the directory cannot be made or written, the
 * program is still built (and a warning logged).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cl_internal.h"

#define VS_CACHE_MAGIC "VSCLBIN1"
#define VS_CACHE_MAX_BYTES ((uint64_t)256 << 20)

static int make_dirs(const char *path) {
    char buffer[4096];
    if (snprintf(buffer, sizeof(buffer), "%s", path) >= (int)sizeof(buffer)) return -1;
    for (char *p = buffer + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buffer, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(buffer, 0755) != 0 && errno != EEXIST) return -1;
    return 0;
}

static void log_build_failure(const vs_context *ctx, cl_program program, cl_device_id device) {
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
        vs__log(ctx, VS_LOG_ERROR, "opencl: program build log:\n%s", text);
    }
    free(text);
}

/* Reads a whole cache entry's payload; NULL if missing or invalid (then deleted). */
static unsigned char *cache_load(const vs_context *ctx, const char *path, uint64_t key,
                                 size_t *size) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    char magic[8];
    uint64_t header[3];
    unsigned char *payload = NULL;
    int valid = fread(magic, 1, 8, f) == 8 && memcmp(magic, VS_CACHE_MAGIC, 8) == 0 &&
                fread(header, sizeof(uint64_t), 3, f) == 3 && header[0] == key && header[1] > 0 &&
                header[1] <= VS_CACHE_MAX_BYTES;
    if (valid) {
        payload = malloc((size_t)header[1]);
        valid = payload != NULL && fread(payload, 1, (size_t)header[1], f) == header[1] &&
                fgetc(f) == EOF && vs__fnv1a(VS_FNV1A_SEED, payload, header[1]) == header[2];
    }
    fclose(f);
    if (!valid) {
        vs__log(ctx, VS_LOG_WARN,
                "opencl: program cache entry %s is corrupt or foreign; rebuilding", path);
        free(payload);
        unlink(path);
        return NULL;
    }
    *size = (size_t)header[1];
    return payload;
}

static void cache_store(const vs_context *ctx, const char *dir, const char *path, uint64_t key,
                        cl_program program) {
    size_t size = 0;
    if (vs__cl.GetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, sizeof(size), &size, NULL) !=
            CL_SUCCESS ||
        size == 0 || size > VS_CACHE_MAX_BYTES)
        return;
    unsigned char *binary = malloc(size);
    if (binary == NULL) return;
    unsigned char *binaries[1] = {binary};
    if (vs__cl.GetProgramInfo(program, CL_PROGRAM_BINARIES, sizeof(binaries), binaries, NULL) !=
        CL_SUCCESS) {
        free(binary);
        return;
    }
    if (make_dirs(dir) != 0) {
        vs__log(ctx, VS_LOG_WARN, "opencl: cannot create cache directory %s: %s", dir,
                strerror(errno));
        free(binary);
        return;
    }
    char temp[4200];
    snprintf(temp, sizeof(temp), "%s.tmp.XXXXXX", path); /* unique per writer */
    int fd = mkstemp(temp);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (fd >= 0 && f == NULL) close(fd);
    int ok = f != NULL;
    if (ok) {
        uint64_t header[3] = {key, size, vs__fnv1a(VS_FNV1A_SEED, binary, size)};
        ok = fwrite(VS_CACHE_MAGIC, 1, 8, f) == 8 && fwrite(header, sizeof(uint64_t), 3, f) == 3 &&
             fwrite(binary, 1, size, f) == size;
        ok = (fclose(f) == 0) && ok;
    }
    if (ok) ok = rename(temp, path) == 0;
    if (!ok) {
        vs__log(ctx, VS_LOG_WARN, "opencl: cannot write program cache %s: %s", path,
                strerror(errno));
        unlink(temp);
    }
    free(binary);
}

static void default_cache_dir(char *out, size_t size) {
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (xdg != NULL && xdg[0] == '/')
        snprintf(out, size, "%s/vecscore", xdg);
    else if (home != NULL && home[0] != '\0')
        snprintf(out, size, "%s/.cache/vecscore", home);
    else
        out[0] = '\0';
}

int vs__cl_program_get(const vs_context *ctx, cl_context context, const vs__cl_entry *entry,
                       const char *cache_dir, const char *source, size_t source_length,
                       const char *options, vs__cl_program_result *out) {
    int status = VS_OK;
    double start = vs__now();
    memset(out, 0, sizeof(*out));
    cl_program program = NULL;
    cl_device_id device = entry->device;

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

    char dir[4096], path[4200];
    if (cache_dir != NULL && cache_dir[0] != '\0')
        snprintf(dir, sizeof(dir), "%s", cache_dir);
    else
        default_cache_dir(dir, sizeof(dir));
    path[0] = '\0';
    if (dir[0] != '\0')
        snprintf(path, sizeof(path), "%s/vecscore-%016llx.clbin", dir, (unsigned long long)key);

    size_t size = 0;
    unsigned char *binary = path[0] ? cache_load(ctx, path, key, &size) : NULL;
    if (binary != NULL) {
        cl_int err = CL_SUCCESS, binary_status = CL_SUCCESS;
        const unsigned char *binaries[1] = {binary};
        program = vs__cl.CreateProgramWithBinary(context, 1, &device, &size, binaries,
                                                 &binary_status, &err);
        free(binary);
        if (err == CL_SUCCESS && binary_status == CL_SUCCESS)
            err = vs__cl.BuildProgram(program, 1, &device, options, NULL, NULL);
        if (err == CL_SUCCESS && binary_status == CL_SUCCESS) {
            out->from_cache = 1;
        } else {
            vs__log(ctx, VS_LOG_WARN,
                    "opencl: cached program %s was refused by the driver (%s); rebuilding", path,
                    vs__cl_error_name(err != CL_SUCCESS ? err : binary_status));
            if (program != NULL) vs__cl.ReleaseProgram(program);
            program = NULL;
            unlink(path);
        }
    }
    if (program == NULL) {
        cl_int err = CL_SUCCESS;
        program = vs__cl.CreateProgramWithSource(context, 1, &source, &source_length, &err);
        VS_CL_CHECK(ctx, err, "clCreateProgramWithSource");
        err = vs__cl.BuildProgram(program, 1, &device, options, NULL, NULL);
        if (err == CL_BUILD_PROGRAM_FAILURE) log_build_failure(ctx, program, device);
        VS_CL_CHECK(ctx, err, "clBuildProgram");
        if (path[0] != '\0') cache_store(ctx, dir, path, key, program);
    }
    out->program = program;
    program = NULL;
    out->seconds = vs__now() - start;
cleanup:
    if (program != NULL) vs__cl.ReleaseProgram(program);
    return status;
}
