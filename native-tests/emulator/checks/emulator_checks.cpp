// The emulator's own checks, each shown to catch a bug planted on purpose: a small CUDA kernel
// (or API call) with the bug, and the error the emulator must give for it, code and message.
// A check that has never caught its planted bug is not trusted (and this program fails).
//
//   emulator_checks            the checked build: every case below
//   emulator_checks --sanitizer   an ASan or TSan build: only what that sanitizer must catch,
//                                 each planted bug run in a child process that must die of it
//
// Ends with "N passed, M failed"; exit code 0 iff M == 0.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "vit4j_cuda_api.h"

extern char** environ;

namespace {

int passed = 0, failed = 0;

void report(bool ok, const std::string& name, const std::string& detail) {
    printf("%s %s%s%s\n", ok ? "PASS" : "FAIL", name.c_str(), detail.empty() ? "" : ": ", detail.c_str());
    (ok ? passed : failed)++;
}

std::string errorText(CUresult r) {
    const char* s = nullptr;
    cuGetErrorString(r, &s);
    return s ? s : "?";
}

CUcontext g_ctx;
struct Program;
// The planted kernels; reloaded after every context reset (a destroyed context takes its modules).
Program* g_program = nullptr;
void reloadProgram();

void openContext() {
    CUdevice d;
    if (cuInit(0) || cuDeviceGet(&d, 0) || cuDevicePrimaryCtxRetain(&g_ctx, d) || cuCtxSetCurrent(g_ctx)) {
        fprintf(stderr, "cannot open the emulated device (is VIT4J_EMULATOR=1 set?)\n");
        exit(2);
    }
}

// Destroying the primary context clears a sticky error, as on a GPU.
void resetContext() {
    cuDevicePrimaryCtxRelease_v2(0);
    CUdevice d;
    cuDeviceGet(&d, 0);
    cuDevicePrimaryCtxRetain(&g_ctx, d);
    cuCtxSetCurrent(g_ctx);
    reloadProgram();
}

struct Program {
    CUmodule module = nullptr;
    nvrtcResult result = NVRTC_SUCCESS;
    std::string log;
    std::vector<char> image;
};


void reloadProgram() {
    if (g_program && cuModuleLoadData(&g_program->module, g_program->image.data()) != CUDA_SUCCESS) {
        fprintf(stderr, "cannot reload the planted kernels\n");
        exit(2);
    }
}

Program compile(const std::string& source, const std::vector<const char*>& extra = {}) {
    Program p;
    nvrtcProgram prog;
    nvrtcCreateProgram(&prog, source.c_str(), "planted.cu", 0, nullptr, nullptr);
    std::vector<const char*> options = {"--std=c++17", "--gpu-architecture=sm_90"};
    options.insert(options.end(), extra.begin(), extra.end());
    p.result = nvrtcCompileProgram(prog, (int) options.size(), options.data());
    size_t n = 0;
    nvrtcGetProgramLogSize(prog, &n);
    p.log.resize(n);
    nvrtcGetProgramLog(prog, p.log.data());
    if (p.result == NVRTC_SUCCESS) {
        size_t size = 0;
        nvrtcGetCUBINSize(prog, &size);
        p.image.resize(size);
        nvrtcGetCUBIN(prog, p.image.data());
        if (cuModuleLoadData(&p.module, p.image.data()) != CUDA_SUCCESS) p.module = nullptr;
    }
    nvrtcDestroyProgram(&prog);
    return p;
}

CUfunction function(const Program& p, const char* name) {
    CUfunction f = nullptr;
    if (!p.module || cuModuleGetFunction(&f, p.module, name) != CUDA_SUCCESS) {
        fprintf(stderr, "planted kernel %s did not load\n%s\n", name, p.log.c_str());
        exit(2);
    }
    return f;
}

// What f writes to stderr (the emulator's notes).
std::string captureStderr(const std::function<void()>& f) {
    fflush(stderr);
    char path[] = "/tmp/emulator-checks-stderr-XXXXXX";
    int fd = mkstemp(path);
    int saved = dup(2);
    dup2(fd, 2);
    f();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    std::string text;
    char buf[4096];
    lseek(fd, 0, SEEK_SET);
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) text.append(buf, (size_t) n);
    close(fd);
    unlink(path);
    return text;
}

CUdeviceptr upload(const std::vector<float>& v) {
    CUdeviceptr p = 0;
    cuMemAlloc_v2(&p, v.size() * 4);
    cuMemcpyHtoD_v2(p, v.data(), v.size() * 4);
    return p;
}

std::vector<float> download(CUdeviceptr p, size_t n) {
    std::vector<float> v(n);
    cuMemcpyDtoH_v2(v.data(), p, n * 4);
    return v;
}

// Launches, synchronises and returns the first error (a fault is sticky and shows at the sync).
CUresult run(CUfunction f, unsigned grid, unsigned block, unsigned shared, std::vector<void*> args) {
    CUresult r = cuLaunchKernel(f, grid, 1, 1, block, 1, 1, shared, nullptr, args.data(), nullptr);
    if (r != CUDA_SUCCESS) return r;
    return cuCtxSynchronize();
}

// The case passes when the launch gives `code` and the emulator's message contains `words`.
void expectFault(const std::string& name, CUfunction f, unsigned grid, unsigned block, unsigned shared,
                 std::vector<void*> args, CUresult code, const std::string& words) {
    CUresult r = run(f, grid, block, shared, args);
    std::string text = errorText(r);
    bool ok = r == code && text.find(words) != std::string::npos;
    report(ok, name, ok ? text : "got " + std::to_string(r) + " " + text + "; wanted " + std::to_string(code) + " with '" + words + "'");
    resetContext();
}

const char* kKernels = R"(
extern "C" __global__ void read_past_end(const float* x, float* y, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i <= n) y[i < n ? i : 0] = x[i];           // planted: <= reads x[n]
}
extern "C" __global__ void write_before_start(float* y, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i - 1] = 1.0f;                     // planted: i - 1 writes y[-1]
}
extern "C" __global__ void copy(const float* x, float* y, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = x[i];
}
extern "C" __global__ void dynamic_shared(const float* x, float* y) {
    extern __shared__ float s[];
    s[threadIdx.x + 1] = x[threadIdx.x];           // planted: +1 needs one float more than given
    __syncthreads();
    y[threadIdx.x] = s[threadIdx.x];
}
extern "C" __global__ void static_shared(const float* x, float* y) {
    __shared__ float tile[32];
    tile[threadIdx.x] = x[threadIdx.x];            // planted: 64 threads, 32 floats
    __syncthreads();
    y[threadIdx.x] = tile[threadIdx.x % 32];
}
extern "C" __global__ void shared_reduce(const float* x, float* y, int barrier) {
    __shared__ float s[256];
    s[threadIdx.x] = x[threadIdx.x];
    __syncthreads();
    for (int half = 128; half > 0; half >>= 1) {
        if (threadIdx.x < half) s[threadIdx.x] += s[threadIdx.x + half];
        if (barrier) __syncthreads();               // planted when barrier == 0: no barrier
    }
    if (threadIdx.x == 0) y[0] = s[0];
}
extern "C" __global__ void uninitialised_shared(float* y) {
    __shared__ float s[64];
    if (threadIdx.x < 32) s[threadIdx.x] = 1.0f;   // planted: the upper half is never written
    __syncthreads();
    y[threadIdx.x] = s[threadIdx.x];
}
extern "C" __global__ void divergent_barrier(float* y) {
    if (threadIdx.x < 16) {
        __syncthreads();                            // planted: two barriers
    } else {
        __syncthreads();
    }
    y[threadIdx.x] = 1.0f;
}
extern "C" __global__ void barrier_deadlock(float* y) {
    if (threadIdx.x < 16) {
        __syncthreads();                            // planted: lanes 16-31 wait at a shuffle for these
    } else {
        y[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
    }
}
extern "C" __global__ void shuffle_exited(float* y) {
    if (threadIdx.x >= 16) return;                  // planted: half the warp has left
    y[threadIdx.x] = __shfl_xor_sync(0xffffffffu, (float) threadIdx.x, 1);
}
extern "C" __global__ void shuffle_absent(float* y) {
    y[threadIdx.x] = __shfl_xor_sync(0xffffffffu, (float) threadIdx.x, 1);   // planted: 48 threads
}
extern "C" __global__ void shuffle_divergent(float* y) {
    float v = (float) threadIdx.x;
    if (threadIdx.x & 1) {
        v = __shfl_xor_sync(0xffffffffu, v, 2);    // planted: two call sites
    } else {
        v = __shfl_xor_sync(0xffffffffu, v, 2);
    }
    y[threadIdx.x] = v;
}
extern "C" __global__ void shuffle_outside_mask(float* y) {
    if (threadIdx.x < 16) y[threadIdx.x] = __shfl_xor_sync(0x0000ffffu, 1.0f, 16);   // planted: reads lane 16+
}
extern "C" __global__ void warp_sum(const float* x, float* y) {
    float v = x[threadIdx.x];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    y[threadIdx.x] = v;
}
extern "C" __global__ void traps(float* y) {
    if (threadIdx.x == 7) __trap();                 // planted
    y[threadIdx.x] = 1.0f;
}
extern "C" __global__ void misaligned(const float* x, float* y) {
    const float4* p = reinterpret_cast<const float4*>(x + 1);   // planted: 4 bytes off 16
    float4 v = p[threadIdx.x];
    y[threadIdx.x] = v.x;
}
extern "C" __global__ void __launch_bounds__(128) bounded(float* y) { y[threadIdx.x] = 1.0f; }
extern "C" __global__ void big_shared(float* y) {
    extern __shared__ float s[];
    s[threadIdx.x] = 2.0f;
    __syncthreads();
    y[threadIdx.x] = s[threadIdx.x];
}
)";

void checkedBuildCases() {
    static Program p = compile(kKernels);
    if (!p.module) {
        report(false, "planted kernels compile", p.log);
        return;
    }
    g_program = &p;
    int n = 1000;
    std::vector<float> host(1024);
    for (size_t i = 0; i < host.size(); i++) host[i] = (float) i * 0.5f + 1.0f;

    // ---- device memory bounds
    {
        CUdeviceptr x = upload(std::vector<float>(host.begin(), host.begin() + n)), y = upload(std::vector<float>(n));
        expectFault("read one float past the end of an allocation", function(p, "read_past_end"), 4, 256, 0,
                    {&x, &y, &n}, CUDA_ERROR_ILLEGAL_ADDRESS, "past the end of allocation");
    }
    {
        CUdeviceptr y = upload(std::vector<float>(n));
        expectFault("write one float before the start of an allocation", function(p, "write_before_start"), 4, 256, 0,
                    {&y, &n}, CUDA_ERROR_ILLEGAL_ADDRESS, "before allocation");
    }
    {
        CUdeviceptr x = upload(std::vector<float>(n)), y = upload(std::vector<float>(n));
        cuMemFree_v2(x);
        expectFault("read freed device memory", function(p, "copy"), 4, 256, 0, {&x, &y, &n},
                    CUDA_ERROR_ILLEGAL_ADDRESS, "freed allocation");
    }
    {
        std::vector<float> hostBuffer(n);
        CUdeviceptr x = (CUdeviceptr) (uintptr_t) hostBuffer.data(), y = upload(std::vector<float>(n));
        expectFault("a host pointer as a kernel argument", function(p, "copy"), 4, 256, 0, {&x, &y, &n},
                    CUDA_ERROR_ILLEGAL_ADDRESS, "is not a device pointer");
    }
    // ---- shared memory bounds
    {
        CUdeviceptr x = upload(host), y = upload(std::vector<float>(256));
        expectFault("dynamic shared memory one float short", function(p, "dynamic_shared"), 1, 256, 256 * 4,
                    {&x, &y}, CUDA_ERROR_ILLEGAL_ADDRESS, "past the end of the block's 1024 bytes of dynamic shared memory");
    }
    {
        CUdeviceptr x = upload(host), y = upload(std::vector<float>(64));
        expectFault("static __shared__ array overrun", function(p, "static_shared"), 1, 64, 0, {&x, &y},
                    CUDA_ERROR_ILLEGAL_ADDRESS, "past the end of __shared__ tile");
    }
    {
        CUdeviceptr y = upload(std::vector<float>(64, 0.0f));
        CUresult r = run(function(p, "uninitialised_shared"), 1, 64, 0, {&y});
        std::vector<float> out = download(y, 64);
        bool ok = r == CUDA_SUCCESS && out[0] == 1.0f && std::isnan(out[40]);
        report(ok, "shared memory is NaN until written", ok ? "" : "upper half " + std::to_string(out[40]));
    }
    {
        CUdeviceptr y = 0;
        cuMemAlloc_v2(&y, 16);
        std::vector<float> out = download(y, 4);
        report(std::isnan(out[0]) && std::isnan(out[3]), "new device memory is NaN", "");
        cuMemFree_v2(y);
    }
    // ---- barriers: a missing one shows as a result that depends on the schedule
    {
        CUfunction f = function(p, "shared_reduce");
        std::vector<float> ones(256, 1.0f);
        CUdeviceptr x = upload(ones), y = upload(std::vector<float>(1));
        auto sum = [&](const char* schedule, int barrier) {
            setenv("VIT4J_EMU_SCHEDULE", schedule, 1);
            run(f, 1, 256, 0, {&x, &y, &barrier});
            return download(y, 1)[0];
        };
        bool correct = sum("forward", 1) == 256.0f && sum("reverse", 1) == 256.0f && sum("random:3", 1) == 256.0f;
        float fwd = sum("forward", 0), rev = sum("reverse", 0), rnd = sum("random:3", 0);
        unsetenv("VIT4J_EMU_SCHEDULE");
        bool caught = fwd != 256.0f || rev != 256.0f || rnd != 256.0f;
        report(correct && caught, "a removed barrier changes the result in some schedule",
               "with barriers 256 in all three; without: forward " + std::to_string(fwd) + ", reverse " +
                   std::to_string(rev) + ", random " + std::to_string(rnd));
    }
    {
        CUdeviceptr y = upload(std::vector<float>(64));
        expectFault("threads at two different barriers", function(p, "divergent_barrier"), 1, 64, 0, {&y},
                    CUDA_ERROR_LAUNCH_FAILED, "divergent __syncthreads");
        y = upload(std::vector<float>(64));
        expectFault("a barrier some threads never reach", function(p, "barrier_deadlock"), 1, 32, 0, {&y},
                    CUDA_ERROR_LAUNCH_FAILED, "deadlock");
    }
    // ---- warps
    {
        CUdeviceptr y = upload(std::vector<float>(64));
        expectFault("shuffle naming exited lanes", function(p, "shuffle_exited"), 1, 32, 0, {&y},
                    CUDA_ERROR_LAUNCH_FAILED, "exited");
        y = upload(std::vector<float>(64));
        expectFault("shuffle naming lanes a partial warp lacks", function(p, "shuffle_absent"), 1, 48, 0, {&y},
                    CUDA_ERROR_LAUNCH_FAILED, "absent from this warp");
        y = upload(std::vector<float>(64));
        expectFault("lanes at two different shuffles", function(p, "shuffle_divergent"), 1, 32, 0, {&y},
                    CUDA_ERROR_LAUNCH_FAILED, "divergent warp");
        y = upload(std::vector<float>(64));
        expectFault("shuffle reading a lane outside its mask", function(p, "shuffle_outside_mask"), 1, 32, 0, {&y},
                    CUDA_ERROR_LAUNCH_FAILED, "leaves out");
        CUdeviceptr x = upload(host);
        y = upload(std::vector<float>(64));
        CUresult r = run(function(p, "warp_sum"), 1, 64, 0, {&x, &y});
        std::vector<float> out = download(y, 64);
        double want0 = 0, want1 = 0;
        for (int i = 0; i < 32; i++) { want0 += host[i]; want1 += host[32 + i]; }
        bool ok = r == CUDA_SUCCESS && out[5] == (float) want0 && out[40] == (float) want1;
        report(ok, "a correct warp reduction gives every lane the warp's sum", "");
    }
    // ---- traps and alignment
    {
        CUdeviceptr y = upload(std::vector<float>(64));
        expectFault("__trap()", function(p, "traps"), 1, 32, 0, {&y}, CUDA_ERROR_LAUNCH_FAILED, "__trap() at planted.cu");
        CUdeviceptr x = upload(host);
        y = upload(std::vector<float>(64));
        expectFault("a float4 load 4 bytes off its alignment", function(p, "misaligned"), 1, 32, 0, {&x, &y},
                    CUDA_ERROR_MISALIGNED_ADDRESS, "16-byte vector");
    }
    // ---- launch validation, as the driver does it
    {
        CUdeviceptr y = upload(std::vector<float>(2048));
        std::vector<void*> args = {&y};
        auto launch = [&](const char* k, unsigned gx, unsigned gy, unsigned bx, unsigned by, unsigned shared) {
            CUresult r = cuLaunchKernel(function(p, k), gx, gy, 1, bx, by, 1, shared, nullptr, args.data(), nullptr);
            cuCtxSynchronize();
            return r;
        };
        report(launch("bounded", 1, 1, 256, 1, 0) == CUDA_ERROR_INVALID_VALUE, "a block over __launch_bounds__ is rejected", "");
        report(launch("bounded", 1, 1, 128, 1, 0) == CUDA_SUCCESS, "a block within __launch_bounds__ runs", "");
        report(launch("big_shared", 1, 1, 1025, 1, 0) == CUDA_ERROR_INVALID_VALUE, "1025 threads are rejected", "");
        report(launch("big_shared", 1, 1, 64, 32, 0) == CUDA_ERROR_INVALID_VALUE, "a 64 x 32 block is rejected", "");
        report(launch("big_shared", 1, 65536, 32, 1, 0) == CUDA_ERROR_INVALID_VALUE, "grid y of 65536 is rejected", "");
        report(launch("big_shared", 0, 1, 32, 1, 0) == CUDA_ERROR_INVALID_VALUE, "an empty grid is rejected", "");
        report(launch("big_shared", 1, 1, 32, 1, 49 * 1024) == CUDA_ERROR_INVALID_VALUE,
               "49 KiB of dynamic shared memory without the opt-in is rejected", "");
        CUfunction big = function(p, "big_shared");
        report(cuFuncSetAttribute(big, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, 228 * 1024) == CUDA_ERROR_INVALID_VALUE,
               "an opt-in over 227 KiB is rejected", "");
        report(cuFuncSetAttribute(big, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, 100 * 1024) == CUDA_SUCCESS
                   && launch("big_shared", 1, 1, 32, 1, 100 * 1024) == CUDA_SUCCESS,
               "100 KiB runs after the opt-in", "");
        CUresult r = cuLaunchKernel(function(p, "copy"), 1, 1, 1, 32, 1, 1, 0, nullptr, nullptr, nullptr);
        report(r == CUDA_ERROR_INVALID_VALUE, "kernelParams NULL for a kernel with parameters is rejected", "");
        int staticBytes = -1;
        cuFuncGetAttribute(&staticBytes, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, function(p, "static_shared"));
        report(staticBytes == 128, "static shared size of a kernel", std::to_string(staticBytes) + " bytes, 128 declared");
    }
    // ---- the API: copies, contexts, sticky errors
    {
        CUdeviceptr y = upload(std::vector<float>(16));
        std::vector<float> big(17);
        report(cuMemcpyHtoD_v2(y, big.data(), 17 * 4) == CUDA_ERROR_INVALID_VALUE, "a copy past an allocation is rejected", "");
        report(cuMemFree_v2(y + 4) == CUDA_ERROR_INVALID_VALUE, "freeing an interior pointer is rejected", "");
        report(cuMemFree_v2(y) == CUDA_SUCCESS && cuMemFree_v2(y) == CUDA_ERROR_INVALID_VALUE, "a double free is rejected", "");
        CUresult other = CUDA_SUCCESS;
        std::thread t([&] { CUdeviceptr q; other = cuMemAlloc_v2(&q, 16); });
        t.join();
        report(other == CUDA_ERROR_INVALID_CONTEXT, "a thread without a current context is refused", "");
        CUdeviceptr x = upload(std::vector<float>(n)), z = upload(std::vector<float>(n));
        int big1 = n + 1;
        cuLaunchKernel(function(p, "copy"), 4, 1, 1, 256, 1, 1, 0, nullptr, std::vector<void*>{&x, &z, &big1}.data(), nullptr);
        CUdeviceptr q = 0;
        CUresult after = cuMemAlloc_v2(&q, 16);
        report(after == CUDA_ERROR_ILLEGAL_ADDRESS, "a fault is sticky: the next call fails", errorText(after));
        resetContext();
        report(cuMemAlloc_v2(&q, 16) == CUDA_SUCCESS, "a new context works again", "");
        // Releasing the context with q still allocated names it on stderr.
        std::string notes = captureStderr(resetContext);
        report(notes.find("1 device allocation (16 bytes) still live when the primary context was released") != std::string::npos,
               "allocations left at context destroy are reported", notes.substr(0, notes.find('\n')));
    }
    // ---- NVRTC
    {
        Program bad = compile("extern \"C\" __global__ void k(float* y) { y[0] = undeclared; }");
        report(bad.result == NVRTC_ERROR_COMPILATION && bad.log.find("undeclared") != std::string::npos,
               "a compile error comes back in the program log", bad.result == NVRTC_ERROR_COMPILATION ? "" : bad.log);
        Program opt = compile(kKernels, {"--no-such-option"});
        report(opt.result == NVRTC_ERROR_INVALID_OPTION, "an unknown NVRTC option is rejected", opt.log);
        int major = -1, minor = -1;
        nvrtcVersion(&major, &minor);
        report(major == 0, "NVRTC reports the emulator's own version (0.x)", std::to_string(major) + "." + std::to_string(minor));
    }
}

// ---------------------------------------------------------------------------------- cuBLAS

void cublasCases() {
    cublasHandle_t h;
    cublasCreate_v2(&h);
    const int m = 5, n = 3, k = 4, lda = 7, ldb = 6, ldc = 9, batch = 2;
    const long long sA = 7 * 5 + 3, sB = 6 * 4 + 1, sC = 9 * 3 + 2;
    std::vector<float> A(sA * batch), B(sB * batch), C0(sC * batch);
    for (size_t i = 0; i < A.size(); i++) A[i] = (float) std::sin(0.7 * i + 0.1);
    for (size_t i = 0; i < B.size(); i++) B[i] = (float) std::cos(0.3 * i + 0.2);
    for (size_t i = 0; i < C0.size(); i++) C0[i] = (float) (0.01 * i);
    CUdeviceptr dA = upload(A), dB = upload(B);
    double worst = 0;
    bool nanSafe = true;
    for (int ta = 0; ta < 2; ta++) {
        for (int tb = 0; tb < 2; tb++) {
            for (float beta : {0.0f, 1.0f}) {
                std::vector<float> C = C0;
                if (beta == 0.0f) C[0] = NAN;   // beta == 0: C is not read, as cuBLAS documents
                CUdeviceptr dC = upload(C);
                float alpha = 0.5f;
                cublasSgemmStridedBatched(h, ta, tb, m, n, k, &alpha, (const float*) dA, ta ? lda : lda, sA,
                                          (const float*) dB, ldb, sB, &beta, (float*) dC, ldc, sC, batch);
                std::vector<float> got = download(dC, C.size());
                for (int b = 0; b < batch; b++) {
                    for (int i = 0; i < m; i++) {
                        for (int j = 0; j < n; j++) {
                            double s = 0, size = 0;
                            for (int l = 0; l < k; l++) {
                                double a = ta ? A[b * sA + l + i * lda] : A[b * sA + i + l * lda];
                                double bb = tb ? B[b * sB + j + l * ldb] : B[b * sB + l + j * ldb];
                                s += a * bb;
                                size += std::fabs(a * bb);
                            }
                            double c = beta == 0.0f ? 0.0 : C0[b * sC + i + j * ldc];
                            double want = 0.5 * s + c;
                            double g = got[b * sC + i + j * ldc];
                            if (std::isnan(g)) nanSafe = false;
                            // relative to the size of the terms: float sums err by about k roundings of it
                            worst = std::max(worst, std::fabs(g - want) / (0.5 * size + std::fabs(c)));
                        }
                    }
                }
                // Padding between columns (rows m..ldc-1) and between batches is untouched.
                for (int b = 0; b < batch; b++)
                    for (int j = 0; j < n; j++)
                        for (int i = m; i < ldc && b * sC + i + j * ldc < (long long) got.size(); i++)
                            if (got[b * sC + i + j * ldc] != C[b * sC + i + j * ldc]) worst = 1;
                cuMemFree_v2(dC);
            }
        }
    }
    report(worst < 1e-6, "cublasSgemmStridedBatched: all transposes, ld > rows, strides, alpha, beta", "worst relative error " + std::to_string(worst));
    report(nanSafe, "beta = 0 ignores NaN in C", "");
    // TF32: 1 + 2^-12 is 1 in TF32, so the product changes.
    std::vector<float> one = {1.0f + 1.0f / 4096}, two = {1.0f};
    CUdeviceptr a1 = upload(one), b1 = upload(two), c1 = upload({0.0f});
    float alpha = 1, beta = 0;
    cublasSetMathMode(h, CUBLAS_TF32_TENSOR_OP_MATH);
    cublasSgemm_v2(h, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &alpha, (const float*) a1, 1, (const float*) b1, 1, &beta, (float*) c1, 1);
    float tf = download(c1, 1)[0];
    cublasSetMathMode(h, CUBLAS_DEFAULT_MATH);
    cublasSgemm_v2(h, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &alpha, (const float*) a1, 1, (const float*) b1, 1, &beta, (float*) c1, 1);
    float fp = download(c1, 1)[0];
    report(tf == 1.0f && fp == one[0], "TF32 math rounds the inputs to 10 mantissa bits", std::to_string(tf) + " vs " + std::to_string(fp));
    report(cublasSgemm_v2(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 1, 1, &alpha, (const float*) a1, 1, (const float*) b1, 1, &beta,
                          (float*) c1, 2) == CUBLAS_STATUS_INVALID_VALUE, "lda smaller than the rows is rejected", "");
    cublasSgemm_v2(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 1, 1, &alpha, (const float*) a1, 2, (const float*) b1, 1, &beta, (float*) c1, 2);
    CUdeviceptr q;
    CUresult r = cuMemAlloc_v2(&q, 16);
    report(r == CUDA_ERROR_ILLEGAL_ADDRESS, "a GEMM operand past its allocation faults the context", errorText(r));
    resetContext();
    cublasDestroy_v2(h);
}

// ---------------------------------------------------------------------------------- sanitizers

// Runs this program with --plant NAME in a child; true when the child dies of a sanitizer report.
bool childDies(const char* self, const char* plant, std::string* how) {
    std::string log = std::string("/tmp/emulator-checks-") + plant + "-" + std::to_string(getpid()) + ".log";
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    char* argv[] = {(char*) self, (char*) "--plant", (char*) plant, nullptr};
    pid_t pid;
    int status = 0;
    if (posix_spawn(&pid, "/proc/self/exe", &fa, nullptr, argv, environ) != 0) return false;
    waitpid(pid, &status, 0);
    posix_spawn_file_actions_destroy(&fa);
    FILE* f = fopen(log.c_str(), "r");
    std::string text;
    char buf[4096];
    size_t got;
    while (f && (got = fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, got);
    if (f) fclose(f);
    unlink(log.c_str());
    size_t at = text.find("SUMMARY: ");
    *how = at == std::string::npos ? "exit status " + std::to_string(status) : text.substr(at, text.find('\n', at) - at);
    return !(WIFEXITED(status) && WEXITSTATUS(status) == 0) && at != std::string::npos;
}

int plant(const char* which) {
    openContext();
    Program p = compile(kKernels);
    std::vector<float> host(1000, 1.0f);
    CUdeviceptr x = upload(host), y = upload(std::vector<float>(1024));
    int n = 1000, noBarrier = 0;
    if (!strcmp(which, "race")) run(function(p, "shared_reduce"), 1, 256, 0, {&x, &y, &noBarrier});
    else if (!strcmp(which, "global")) run(function(p, "read_past_end"), 4, 256, 0, {&x, &y, &n});
    else if (!strcmp(which, "dynamic")) run(function(p, "dynamic_shared"), 1, 256, 256 * 4, {&x, &y});
    else if (!strcmp(which, "static")) run(function(p, "static_shared"), 1, 64, 0, {&x, &y});
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    setvbuf(stdout, nullptr, _IOLBF, 0);   // our lines between the emulator's stderr notes
    if (argc == 3 && !strcmp(argv[1], "--plant")) return plant(argv[2]);
    bool sanitizer = argc == 2 && !strcmp(argv[1], "--sanitizer");
    if (!sanitizer) {
        openContext();
        checkedBuildCases();
        cublasCases();
    } else {
        char name[256] = {};
        openContext();
        cuDeviceGetName(name, sizeof name, 0);
        std::vector<const char*> plants;
        if (strstr(name, "tsan")) plants = {"race"};
        else if (strstr(name, "asan")) plants = {"global", "dynamic", "static"};
        for (const char* which : plants) {
            std::string how;
            bool died = childDies(argv[0], which, &how);
            report(died, std::string("the sanitizer catches the planted bug '") + which + "'", how);
        }
        if (plants.empty()) report(false, "--sanitizer on a build without one", name);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
