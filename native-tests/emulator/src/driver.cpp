// libcuda.so.1 stand-in: the driver calls vit4j (through JCuda) and the C++ harness make, over
// the emulated device of runtime.cpp. One device, its primary context, streams and events.
// All work runs synchronously inside the call that queues it, so streams only need to exist and
// events record the time of their call. Errors are the codes a GPU gives: argument and launch
// checks at the call, faults inside kernels sticky on the context until it is released.
#include <sys/utsname.h>
#include <time.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <set>

#include "emu.h"
#include "vit4j_cuda_api.h"

using namespace emu;

struct CUctx_st { int unused; };
struct CUstream_st { int unused; };
struct CUevent_st {
    bool recorded = false;
    double ms = 0;
};

namespace {

std::atomic<bool> g_initialised{false};
std::mutex g_mutex;
CUctx_st g_primary;
int g_primaryRefs = 0;
std::set<CUstream> g_streams;
std::set<CUevent> g_events;
std::set<Module*> g_modules;
thread_local CUcontext t_current = nullptr;
thread_local int t_lastCode = 0;
thread_local std::string t_lastDetail;

// An argument error: the code, with the reason kept for cuGetErrorString and printed once.
CUresult fail(CUresult code, const std::string& why) {
    t_lastCode = code;
    t_lastDetail = why;
    note("%s", why.c_str());
    return code;
}

// Common preconditions of calls that need the context; 0 when the call may go on.
CUresult ready() {
    if (!g_initialised) return CUDA_ERROR_NOT_INITIALIZED;
    if (t_current == nullptr) return CUDA_ERROR_INVALID_CONTEXT;
    if (int s = sticky()) return s;
    return CUDA_SUCCESS;
}

bool validStream(CUstream s) {
    std::lock_guard<std::mutex> lock(g_mutex);
    return s == nullptr || g_streams.count(s) != 0;
}

double nowMs() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

CUresult checkRange(const char* call, CUdeviceptr p, size_t bytes) {
    std::string why;
    if (bytes == 0) return CUDA_SUCCESS;
    if (!deviceRange((uintptr_t) p, bytes, &why)) return fail(CUDA_ERROR_INVALID_VALUE, format("%s: %s", call, why.c_str()));
    return CUDA_SUCCESS;
}

const char* errorName(CUresult e) {
    switch (e) {
        case CUDA_SUCCESS: return "CUDA_SUCCESS";
        case CUDA_ERROR_INVALID_VALUE: return "CUDA_ERROR_INVALID_VALUE";
        case CUDA_ERROR_OUT_OF_MEMORY: return "CUDA_ERROR_OUT_OF_MEMORY";
        case CUDA_ERROR_NOT_INITIALIZED: return "CUDA_ERROR_NOT_INITIALIZED";
        case CUDA_ERROR_DEINITIALIZED: return "CUDA_ERROR_DEINITIALIZED";
        case CUDA_ERROR_NO_DEVICE: return "CUDA_ERROR_NO_DEVICE";
        case CUDA_ERROR_INVALID_DEVICE: return "CUDA_ERROR_INVALID_DEVICE";
        case CUDA_ERROR_INVALID_IMAGE: return "CUDA_ERROR_INVALID_IMAGE";
        case CUDA_ERROR_INVALID_CONTEXT: return "CUDA_ERROR_INVALID_CONTEXT";
        case CUDA_ERROR_INVALID_HANDLE: return "CUDA_ERROR_INVALID_HANDLE";
        case CUDA_ERROR_NOT_FOUND: return "CUDA_ERROR_NOT_FOUND";
        case CUDA_ERROR_NOT_READY: return "CUDA_ERROR_NOT_READY";
        case CUDA_ERROR_ILLEGAL_ADDRESS: return "CUDA_ERROR_ILLEGAL_ADDRESS";
        case CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES: return "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES";
        case CUDA_ERROR_ASSERT: return "CUDA_ERROR_ASSERT";
        case CUDA_ERROR_ILLEGAL_INSTRUCTION: return "CUDA_ERROR_ILLEGAL_INSTRUCTION";
        case CUDA_ERROR_MISALIGNED_ADDRESS: return "CUDA_ERROR_MISALIGNED_ADDRESS";
        case CUDA_ERROR_LAUNCH_FAILED: return "CUDA_ERROR_LAUNCH_FAILED";
        default: return nullptr;
    }
}

const char* errorText(CUresult e) {
    switch (e) {
        case CUDA_SUCCESS: return "no error";
        case CUDA_ERROR_INVALID_VALUE: return "invalid argument";
        case CUDA_ERROR_OUT_OF_MEMORY: return "out of memory";
        case CUDA_ERROR_NOT_INITIALIZED: return "initialization error";
        case CUDA_ERROR_NO_DEVICE: return "no CUDA-capable device is detected";
        case CUDA_ERROR_INVALID_DEVICE: return "invalid device ordinal";
        case CUDA_ERROR_INVALID_IMAGE: return "device kernel image is invalid";
        case CUDA_ERROR_INVALID_CONTEXT: return "invalid device context";
        case CUDA_ERROR_INVALID_HANDLE: return "invalid resource handle";
        case CUDA_ERROR_NOT_FOUND: return "named symbol not found";
        case CUDA_ERROR_NOT_READY: return "device not ready";
        case CUDA_ERROR_ILLEGAL_ADDRESS: return "an illegal memory access was encountered";
        case CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES: return "too many resources requested for launch";
        case CUDA_ERROR_MISALIGNED_ADDRESS: return "misaligned address";
        case CUDA_ERROR_LAUNCH_FAILED: return "unspecified launch failure";
        default: return nullptr;
    }
}

}  // namespace

extern "C" {

CUresult cuInit(unsigned flags) {
    if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
    if (!enabled()) {
        static std::once_flag once;
        std::call_once(once, [] {
            note("this libcuda.so.1 is vit4j's CPU emulator, not NVIDIA's driver; set VIT4J_EMULATOR=1 to use it. Reporting no device.");
        });
        return CUDA_ERROR_NO_DEVICE;
    }
    g_initialised = true;
    return CUDA_SUCCESS;
}

CUresult cuDriverGetVersion(int* version) {
    if (!version) return CUDA_ERROR_INVALID_VALUE;
    *version = 12060;   // the API level the stand-in implements (JCuda 12.6)
    return CUDA_SUCCESS;
}

CUresult cuDeviceGetCount(int* count) {
    if (!g_initialised) return CUDA_ERROR_NOT_INITIALIZED;
    if (!count) return CUDA_ERROR_INVALID_VALUE;
    *count = 1;
    return CUDA_SUCCESS;
}

CUresult cuDeviceGet(CUdevice* device, int ordinal) {
    if (!g_initialised) return CUDA_ERROR_NOT_INITIALIZED;
    if (!device) return CUDA_ERROR_INVALID_VALUE;
    if (ordinal != 0) return CUDA_ERROR_INVALID_DEVICE;
    *device = 0;
    return CUDA_SUCCESS;
}

CUresult cuDeviceGetName(char* name, int len, CUdevice device) {
    if (!g_initialised) return CUDA_ERROR_NOT_INITIALIZED;
    if (device != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (!name || len <= 0) return CUDA_ERROR_INVALID_VALUE;
    std::string n = format("vit4j emulated GPU (CPU, %d workers, %s)", workers(), EMU_FLAVOUR);
    snprintf(name, (size_t) len, "%s", n.c_str());
    return CUDA_SUCCESS;
}

CUresult cuDeviceGetAttribute(int* value, int attribute, CUdevice device) {
    if (!g_initialised) return CUDA_ERROR_NOT_INITIALIZED;
    if (device != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (!value) return CUDA_ERROR_INVALID_VALUE;
    switch (attribute) {
        case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *value = kMaxThreadsPerBlock; break;
        case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X: *value = 1024; break;
        case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y: *value = 1024; break;
        case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z: *value = 64; break;
        case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X: *value = 0x7fffffff; break;
        case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y: *value = 65535; break;
        case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z: *value = 65535; break;
        case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK: *value = kDefaultSharedLimit; break;
        case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: *value = kMaxSharedOptIn; break;
        case CU_DEVICE_ATTRIBUTE_WARP_SIZE: *value = 32; break;
        case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *value = workers(); break;
        case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *value = 9; break;
        case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *value = 0; break;
        // Nominal figures of a device that has none; the benchmarks label emulator results.
        case CU_DEVICE_ATTRIBUTE_CLOCK_RATE: *value = 1000000; break;
        case CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE: *value = 1000000; break;
        case CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH: *value = 64; break;
        case CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE: *value = 4 << 20; break;
        default:
            return fail(CUDA_ERROR_INVALID_VALUE, format("cuDeviceGetAttribute: attribute %d is not emulated", attribute));
    }
    return CUDA_SUCCESS;
}

CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice device) {
    if (!g_initialised) return CUDA_ERROR_NOT_INITIALIZED;
    if (device != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (!bytes) return CUDA_ERROR_INVALID_VALUE;
    *bytes = deviceMemoryLimit();
    return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRetain(CUcontext* ctx, CUdevice device) {
    if (!g_initialised) return CUDA_ERROR_NOT_INITIALIZED;
    if (device != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (!ctx) return CUDA_ERROR_INVALID_VALUE;
    std::lock_guard<std::mutex> lock(g_mutex);
    g_primaryRefs++;
    *ctx = &g_primary;
    return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRelease_v2(CUdevice device) {
    if (!g_initialised) return CUDA_ERROR_NOT_INITIALIZED;
    if (device != 0) return CUDA_ERROR_INVALID_DEVICE;
    bool destroy;
    {
        std::lock_guard<std::mutex> lock(g_mutex);
        if (g_primaryRefs == 0) return CUDA_ERROR_INVALID_CONTEXT;
        destroy = --g_primaryRefs == 0;
    }
    if (destroy) {
        // The context goes: its memory, modules, streams and events, and its sticky error.
        releaseAll("when the primary context was released");
        std::lock_guard<std::mutex> lock(g_mutex);
        if (!g_modules.empty()) note("%zu modules still loaded when the primary context was released", g_modules.size());
        for (Module* m : g_modules) unloadModule(m);
        g_modules.clear();
        g_streams.clear();
        for (CUevent e : g_events) delete e;
        g_events.clear();
        clearSticky();
        flushCoverage();
    }
    return CUDA_SUCCESS;
}

CUresult cuCtxSetCurrent(CUcontext ctx) {
    if (!g_initialised) return CUDA_ERROR_NOT_INITIALIZED;
    if (ctx != nullptr && ctx != &g_primary) return CUDA_ERROR_INVALID_CONTEXT;
    if (ctx != nullptr) {
        std::lock_guard<std::mutex> lock(g_mutex);
        if (g_primaryRefs == 0) return CUDA_ERROR_INVALID_CONTEXT;
    }
    t_current = ctx;
    return CUDA_SUCCESS;
}

CUresult cuCtxGetCurrent(CUcontext* ctx) {
    if (!g_initialised) return CUDA_ERROR_NOT_INITIALIZED;
    if (!ctx) return CUDA_ERROR_INVALID_VALUE;
    *ctx = t_current;
    return CUDA_SUCCESS;
}

CUresult cuCtxGetDevice(CUdevice* device) {
    if (CUresult r = ready()) return r;
    if (!device) return CUDA_ERROR_INVALID_VALUE;
    *device = 0;
    return CUDA_SUCCESS;
}

CUresult cuCtxSynchronize(void) { return ready(); }

CUresult cuGetErrorName(CUresult error, const char** name) {
    if (!name) return CUDA_ERROR_INVALID_VALUE;
    *name = errorName(error);
    return *name ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

// The standard text, with the emulator's finding for the context's sticky fault or this
// thread's last argument error of that code.
CUresult cuGetErrorString(CUresult error, const char** text) {
    if (!text) return CUDA_ERROR_INVALID_VALUE;
    static thread_local std::string detail;
    const char* base = errorText(error);
    if (!base) {
        *text = nullptr;
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (error != 0 && sticky() == error) detail = stickyMessage();
    else if (error != 0 && t_lastCode == error) detail = std::string(base) + " [emulator: " + t_lastDetail + "]";
    else detail = base;
    *text = detail.c_str();
    return CUDA_SUCCESS;
}

// ---------------------------------------------------------------------------- memory

CUresult cuMemAlloc_v2(CUdeviceptr* ptr, size_t bytes) {
    if (CUresult r = ready()) return r;
    if (!ptr) return CUDA_ERROR_INVALID_VALUE;
    uintptr_t p = 0;
    int r = deviceAlloc(bytes, &p);
    if (r == CUDA_ERROR_OUT_OF_MEMORY) {
        size_t live = 0;
        liveAllocations(&live);
        return fail(r, format("cuMemAlloc(%zu bytes): %zu bytes live of the emulated device's %zu", bytes, live, deviceMemoryLimit()));
    }
    if (r != CUDA_SUCCESS) return fail(r, format("cuMemAlloc(%zu bytes)", bytes));
    *ptr = p;
    return CUDA_SUCCESS;
}

CUresult cuMemFree_v2(CUdeviceptr ptr) {
    if (CUresult r = ready()) return r;
    if (ptr == 0) return CUDA_SUCCESS;
    if (deviceFree((uintptr_t) ptr) != CUDA_SUCCESS)
        return fail(CUDA_ERROR_INVALID_VALUE, format("cuMemFree(0x%llx): %s", ptr, describeAddress((uintptr_t) ptr, 1).c_str()));
    return CUDA_SUCCESS;
}

CUresult cuMemGetInfo_v2(size_t* free, size_t* total) {
    if (CUresult r = ready()) return r;
    size_t live = 0;
    liveAllocations(&live);
    if (free) *free = deviceMemoryLimit() - live;
    if (total) *total = deviceMemoryLimit();
    return CUDA_SUCCESS;
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t bytes) {
    if (CUresult r = ready()) return r;
    if (CUresult r = checkRange("cuMemcpyHtoD destination", dst, bytes)) return r;
    if (bytes && !src) return CUDA_ERROR_INVALID_VALUE;
    memcpy((void*) dst, src, bytes);
    return CUDA_SUCCESS;
}

CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t bytes) {
    if (CUresult r = ready()) return r;
    if (CUresult r = checkRange("cuMemcpyDtoH source", src, bytes)) return r;
    if (bytes && !dst) return CUDA_ERROR_INVALID_VALUE;
    memcpy(dst, (const void*) src, bytes);
    return CUDA_SUCCESS;
}

CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t bytes) {
    if (CUresult r = ready()) return r;
    if (CUresult r = checkRange("cuMemcpyDtoD source", src, bytes)) return r;
    if (CUresult r = checkRange("cuMemcpyDtoD destination", dst, bytes)) return r;
    memmove((void*) dst, (const void*) src, bytes);
    return CUDA_SUCCESS;
}

CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t bytes, CUstream stream) {
    if (!validStream(stream)) return CUDA_ERROR_INVALID_HANDLE;
    return cuMemcpyHtoD_v2(dst, src, bytes);
}

CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t bytes, CUstream stream) {
    if (!validStream(stream)) return CUDA_ERROR_INVALID_HANDLE;
    return cuMemcpyDtoH_v2(dst, src, bytes);
}

CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream stream) {
    if (!validStream(stream)) return CUDA_ERROR_INVALID_HANDLE;
    return cuMemcpyDtoD_v2(dst, src, bytes);
}

CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char value, size_t n) {
    if (CUresult r = ready()) return r;
    if (CUresult r = checkRange("cuMemsetD8", dst, n)) return r;
    memset((void*) dst, value, n);
    return CUDA_SUCCESS;
}

CUresult cuMemsetD32_v2(CUdeviceptr dst, unsigned value, size_t n) {
    if (CUresult r = ready()) return r;
    if (dst % 4 != 0) return fail(CUDA_ERROR_INVALID_VALUE, format("cuMemsetD32: 0x%llx is not 4-byte aligned", dst));
    if (n > SIZE_MAX / 4) return CUDA_ERROR_INVALID_VALUE;
    if (CUresult r = checkRange("cuMemsetD32", dst, 4 * n)) return r;
    unsigned* p = (unsigned*) dst;
    for (size_t i = 0; i < n; i++) p[i] = value;
    return CUDA_SUCCESS;
}

CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char value, size_t n, CUstream stream) {
    if (!validStream(stream)) return CUDA_ERROR_INVALID_HANDLE;
    return cuMemsetD8_v2(dst, value, n);
}

CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned value, size_t n, CUstream stream) {
    if (!validStream(stream)) return CUDA_ERROR_INVALID_HANDLE;
    return cuMemsetD32_v2(dst, value, n);
}

// ---------------------------------------------------------------------------- modules and launch

CUresult cuModuleLoadData(CUmodule* module, const void* image) {
    if (CUresult r = ready()) return r;
    if (!module || !image) return CUDA_ERROR_INVALID_VALUE;
    Module* m = nullptr;
    std::string error;
    int r = loadModule(image, &m, &error);
    if (r != CUDA_SUCCESS) return fail(r, "cuModuleLoadData: " + error);
    std::lock_guard<std::mutex> lock(g_mutex);
    g_modules.insert(m);
    *module = (CUmodule) m;
    return CUDA_SUCCESS;
}

CUresult cuModuleUnload(CUmodule module) {
    if (!g_initialised) return CUDA_ERROR_NOT_INITIALIZED;
    Module* m = (Module*) module;
    {
        std::lock_guard<std::mutex> lock(g_mutex);
        if (!g_modules.erase(m)) return CUDA_ERROR_INVALID_HANDLE;
    }
    unloadModule(m);
    return CUDA_SUCCESS;
}

static Kernel* kernelOf(CUfunction f) {
    std::lock_guard<std::mutex> lock(g_mutex);
    for (Module* m : g_modules)
        for (Kernel* k : m->kernels)
            if ((CUfunction) k == f) return k;
    return nullptr;
}

CUresult cuModuleGetFunction(CUfunction* function, CUmodule module, const char* name) {
    if (CUresult r = ready()) return r;
    if (!function || !name) return CUDA_ERROR_INVALID_VALUE;
    std::lock_guard<std::mutex> lock(g_mutex);
    Module* m = (Module*) module;
    if (!g_modules.count(m)) return CUDA_ERROR_INVALID_HANDLE;
    for (Kernel* k : m->kernels) {
        if (strcmp(k->desc->name, name) == 0) {
            *function = (CUfunction) k;
            return CUDA_SUCCESS;
        }
    }
    return CUDA_ERROR_NOT_FOUND;
}

CUresult cuFuncGetAttribute(int* value, int attribute, CUfunction function) {
    if (CUresult r = ready()) return r;
    Kernel* k = kernelOf(function);
    if (!k) return CUDA_ERROR_INVALID_HANDLE;
    if (!value) return CUDA_ERROR_INVALID_VALUE;
    switch (attribute) {
        case CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *value = k->desc->max_threads > 0 ? k->desc->max_threads : kMaxThreadsPerBlock; break;
        case CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES: *value = (int) k->desc->static_shared_bytes; break;
        case CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES: *value = k->maxDynamicShared; break;
        // Not modelled (no registers, constant or local memory on a CPU): reported as 0.
        case CU_FUNC_ATTRIBUTE_CONST_SIZE_BYTES:
        case CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES:
        case CU_FUNC_ATTRIBUTE_NUM_REGS: *value = 0; break;
        case CU_FUNC_ATTRIBUTE_PTX_VERSION:
        case CU_FUNC_ATTRIBUTE_BINARY_VERSION: *value = 90; break;
        default: return fail(CUDA_ERROR_INVALID_VALUE, format("cuFuncGetAttribute: attribute %d is not emulated", attribute));
    }
    return CUDA_SUCCESS;
}

CUresult cuFuncSetAttribute(CUfunction function, int attribute, int value) {
    if (CUresult r = ready()) return r;
    Kernel* k = kernelOf(function);
    if (!k) return CUDA_ERROR_INVALID_HANDLE;
    if (attribute != CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES)
        return fail(CUDA_ERROR_INVALID_VALUE, format("cuFuncSetAttribute: attribute %d is not emulated", attribute));
    if (value < 0 || (size_t) value + k->desc->static_shared_bytes > (size_t) kMaxSharedOptIn)
        return fail(CUDA_ERROR_INVALID_VALUE, format("cuFuncSetAttribute(%s, max dynamic shared %d B): with %zu static bytes it exceeds %d",
                                                     k->desc->name, value, k->desc->static_shared_bytes, kMaxSharedOptIn));
    k->maxDynamicShared = value;
    return CUDA_SUCCESS;
}

CUresult cuLaunchKernel(CUfunction f, unsigned gridX, unsigned gridY, unsigned gridZ, unsigned blockX, unsigned blockY,
                        unsigned blockZ, unsigned sharedBytes, CUstream stream, void** kernelParams, void** extra) {
    if (CUresult r = ready()) return r;
    Kernel* k = kernelOf(f);
    if (!k) return CUDA_ERROR_INVALID_HANDLE;
    if (!validStream(stream)) return CUDA_ERROR_INVALID_HANDLE;
    if (extra != nullptr) return fail(CUDA_ERROR_INVALID_VALUE, "cuLaunchKernel: the extra argument is not emulated");
    LaunchShape s{{gridX, gridY, gridZ}, {blockX, blockY, blockZ}, sharedBytes};
    std::string why;
    int r = launch(k, s, kernelParams, &why);
    if (r != CUDA_SUCCESS) return fail(r, "cuLaunchKernel: " + why);
    return CUDA_SUCCESS;
}

// ---------------------------------------------------------------------------- streams and events

CUresult cuStreamCreate(CUstream* stream, unsigned flags) {
    if (CUresult r = ready()) return r;
    if (!stream || flags > 1) return CUDA_ERROR_INVALID_VALUE;
    std::lock_guard<std::mutex> lock(g_mutex);
    CUstream s = new CUstream_st();
    g_streams.insert(s);
    *stream = s;
    return CUDA_SUCCESS;
}

CUresult cuStreamDestroy_v2(CUstream stream) {
    if (!g_initialised) return CUDA_ERROR_NOT_INITIALIZED;
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!g_streams.erase(stream)) return CUDA_ERROR_INVALID_HANDLE;
    delete stream;
    return CUDA_SUCCESS;
}

CUresult cuStreamSynchronize(CUstream stream) {
    if (CUresult r = ready()) return r;
    return validStream(stream) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

CUresult cuStreamQuery(CUstream stream) { return cuStreamSynchronize(stream); }

CUresult cuEventCreate(CUevent* event, unsigned flags) {
    if (CUresult r = ready()) return r;
    if (!event || flags > 0xF) return CUDA_ERROR_INVALID_VALUE;
    std::lock_guard<std::mutex> lock(g_mutex);
    CUevent e = new CUevent_st();
    g_events.insert(e);
    *event = e;
    return CUDA_SUCCESS;
}

CUresult cuEventDestroy_v2(CUevent event) {
    if (!g_initialised) return CUDA_ERROR_NOT_INITIALIZED;
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!g_events.erase(event)) return CUDA_ERROR_INVALID_HANDLE;
    delete event;
    return CUDA_SUCCESS;
}

CUresult cuEventRecord(CUevent event, CUstream stream) {
    if (CUresult r = ready()) return r;
    if (!validStream(stream)) return CUDA_ERROR_INVALID_HANDLE;
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!g_events.count(event)) return CUDA_ERROR_INVALID_HANDLE;
    event->recorded = true;
    event->ms = nowMs();   // the work queued before it has already run
    return CUDA_SUCCESS;
}

CUresult cuEventSynchronize(CUevent event) {
    if (CUresult r = ready()) return r;
    std::lock_guard<std::mutex> lock(g_mutex);
    return g_events.count(event) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

CUresult cuEventQuery(CUevent event) { return cuEventSynchronize(event); }

CUresult cuEventElapsedTime(float* ms, CUevent start, CUevent end) {
    if (CUresult r = ready()) return r;
    if (!ms) return CUDA_ERROR_INVALID_VALUE;
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!g_events.count(start) || !g_events.count(end)) return CUDA_ERROR_INVALID_HANDLE;
    if (!start->recorded || !end->recorded) return CUDA_ERROR_INVALID_HANDLE;
    *ms = (float) (end->ms - start->ms);
    return CUDA_SUCCESS;
}

}  // extern "C"
