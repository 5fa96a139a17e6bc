/*
 * fake_icd.c — a minimal OpenCL ICD (loaded by the ocl-icd loader through
 * OCL_ICD_VENDORS) with one platform and one CPU-type device whose string
 * properties are longer than any fixed field of vs_device. The devices
 * golden test (tests/cli/cases/devices_strings.sh) checks that `vecscore
 * devices` prints every one of them whole.
 *
 * Only discovery is implemented (platform and device queries). The device is
 * of type CPU, so "auto" never opens it; every other entry of the dispatch
 * table is left NULL and must not be reached.
 */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <CL/cl_ext.h>
#include <CL/cl_icd.h>
#include <string.h>

struct _cl_platform_id {
    const cl_icd_dispatch *dispatch;
};
struct _cl_device_id {
    const cl_icd_dispatch *dispatch;
};

/* Each string is over 127 characters (the largest vs_device field) and
 * ends in a marker the test looks for. */
#define LONG_TAIL                                                                                  \
    " long long long long long long long long long long long long long long long long long long "  \
    "long long long long long long long long long long"
static const char platform_name[] = "vecscore fake platform" LONG_TAIL " END-PLATFORM";
static const char device_name[] = "vecscore fake device" LONG_TAIL " END-NAME";
static const char device_vendor[] = "vecscore fake vendor" LONG_TAIL " END-VENDOR";
static const char driver_version[] = "1.0 fake driver" LONG_TAIL " END-DRIVER";
static const char device_version[] = "OpenCL 1.2 fake device version" LONG_TAIL " END-VERSION";

static cl_icd_dispatch dispatch;
static struct _cl_platform_id the_platform = {&dispatch};
static struct _cl_device_id the_device = {&dispatch};

static cl_int answer(const void *value, size_t size, size_t value_size, void *out,
                     size_t *size_ret) {
    if (size_ret != NULL) *size_ret = size;
    if (out == NULL) return CL_SUCCESS;
    if (value_size < size) return CL_INVALID_VALUE; /* drivers refuse, they do not truncate */
    memcpy(out, value, size);
    return CL_SUCCESS;
}

static cl_int CL_API_CALL fake_platform_info(cl_platform_id platform, cl_platform_info what,
                                             size_t value_size, void *out, size_t *size_ret) {
    if (platform != &the_platform) return CL_INVALID_PLATFORM;
    switch (what) {
    case CL_PLATFORM_NAME:
        return answer(platform_name, sizeof(platform_name), value_size, out, size_ret);
    case CL_PLATFORM_VENDOR:
        return answer("vecscore", sizeof("vecscore"), value_size, out, size_ret);
    case CL_PLATFORM_VERSION:
        return answer("OpenCL 1.2 fake", sizeof("OpenCL 1.2 fake"), value_size, out, size_ret);
    case CL_PLATFORM_PROFILE:
        return answer("FULL_PROFILE", sizeof("FULL_PROFILE"), value_size, out, size_ret);
    case CL_PLATFORM_EXTENSIONS:
        return answer("cl_khr_icd", sizeof("cl_khr_icd"), value_size, out, size_ret);
    case CL_PLATFORM_ICD_SUFFIX_KHR:
        return answer("FAKE", sizeof("FAKE"), value_size, out, size_ret);
    default: return CL_INVALID_VALUE;
    }
}

static cl_int CL_API_CALL fake_device_ids(cl_platform_id platform, cl_device_type type,
                                          cl_uint entries, cl_device_id *devices, cl_uint *count) {
    if (platform != &the_platform) return CL_INVALID_PLATFORM;
    if ((type & CL_DEVICE_TYPE_CPU) == 0 && type != CL_DEVICE_TYPE_DEFAULT)
        return CL_DEVICE_NOT_FOUND;
    if (count != NULL) *count = 1;
    if (devices != NULL && entries > 0) devices[0] = &the_device;
    return CL_SUCCESS;
}

static cl_int CL_API_CALL fake_device_info(cl_device_id device, cl_device_info what,
                                           size_t value_size, void *out, size_t *size_ret) {
    if (device != &the_device) return CL_INVALID_DEVICE;
    cl_device_type type = CL_DEVICE_TYPE_CPU;
    cl_uint units = 1, align_bits = 1024;
    cl_ulong memory = (cl_ulong)1 << 30;
    cl_bool yes = CL_TRUE;
    cl_platform_id platform = &the_platform;
    switch (what) {
    case CL_DEVICE_TYPE: return answer(&type, sizeof(type), value_size, out, size_ret);
    case CL_DEVICE_MAX_COMPUTE_UNITS:
        return answer(&units, sizeof(units), value_size, out, size_ret);
    case CL_DEVICE_GLOBAL_MEM_SIZE:
    case CL_DEVICE_MAX_MEM_ALLOC_SIZE:
        return answer(&memory, sizeof(memory), value_size, out, size_ret);
    case CL_DEVICE_MEM_BASE_ADDR_ALIGN:
        return answer(&align_bits, sizeof(align_bits), value_size, out, size_ret);
    case CL_DEVICE_HOST_UNIFIED_MEMORY:
    case CL_DEVICE_AVAILABLE:
    case CL_DEVICE_COMPILER_AVAILABLE: return answer(&yes, sizeof(yes), value_size, out, size_ret);
    case CL_DEVICE_PLATFORM: return answer(&platform, sizeof(platform), value_size, out, size_ret);
    case CL_DEVICE_NAME: return answer(device_name, sizeof(device_name), value_size, out, size_ret);
    case CL_DEVICE_VENDOR:
        return answer(device_vendor, sizeof(device_vendor), value_size, out, size_ret);
    case CL_DRIVER_VERSION:
        return answer(driver_version, sizeof(driver_version), value_size, out, size_ret);
    case CL_DEVICE_VERSION:
        return answer(device_version, sizeof(device_version), value_size, out, size_ret);
    default: return CL_INVALID_VALUE;
    }
}

static cl_int CL_API_CALL fake_platform_ids(cl_uint entries, cl_platform_id *platforms,
                                            cl_uint *count) {
    dispatch.clGetPlatformInfo = fake_platform_info;
    dispatch.clGetDeviceIDs = fake_device_ids;
    dispatch.clGetDeviceInfo = fake_device_info;
    if (count != NULL) *count = 1;
    if (platforms != NULL && entries > 0) platforms[0] = &the_platform;
    return CL_SUCCESS;
}

/* The entry points the ICD loader looks up with dlsym (it checks the
 * platform through clGetPlatformInfo before it uses the dispatch table). */
__attribute__((visibility("default"))) cl_int CL_API_CALL clGetPlatformInfo(cl_platform_id platform,
                                                                            cl_platform_info what,
                                                                            size_t value_size,
                                                                            void *out,
                                                                            size_t *size_ret) {
    return fake_platform_info(platform, what, value_size, out, size_ret);
}

__attribute__((visibility("default"))) void *CL_API_CALL
clGetExtensionFunctionAddress(const char *name) {
    if (strcmp(name, "clIcdGetPlatformIDsKHR") == 0) return (void *)fake_platform_ids;
    return NULL;
}

__attribute__((visibility("default"))) cl_int CL_API_CALL
clIcdGetPlatformIDsKHR(cl_uint entries, cl_platform_id *platforms, cl_uint *count) {
    return fake_platform_ids(entries, platforms, count);
}
