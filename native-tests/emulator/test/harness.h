// The kernel test harness: an ordinary CUDA driver-API + NVRTC program (it includes only
// vit4j_cuda_api.h and the standard library, so it runs on a real GPU as well as on the emulator).
//
// kernel_test.cpp   main: arguments, the case list, the run loop, the coverage check, the summary
// harness.h/.cpp    this file: CUDA setup and module loading, device buffers, the launch builder,
//                   one test case's runs (aligned, repeated, misaligned) and its checks
// test_<file>.cpp   one per kernels/<file>.cu: the double-precision references and the cases,
//                   each at the geometry the Java launcher (src/main/java/org/vit4j/backend/cuda)
//                   uses for that kernel
//
// A case = one (kernel, shape). Its body computes the references on the host, then hands a
// "run" function to Case::run, which executes it with fresh device buffers (inputs uploaded,
// outputs poisoned with NaN, accumulated outputs pre-filled), once, then again (deterministic
// kernels must repeat bitwise), and for kernels whose header promises float alignment only,
// once more with every device pointer 4 bytes past a 256-aligned allocation (bitwise equal to
// the aligned run). The checks compare the first run with the references.
#pragma once

#include "vit4j_cuda_api.h"

#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace kt {

// Unit roundoff of float32 (round to nearest): every float +, *, /, sqrt errs by at most u
// relative. Tolerances below are written as multiples of it where a bound is known.
constexpr double kU = 1.0 / 16777216.0;   // 2^-24

// Tolerance for a float reduction checked with Tol::Scaled against m_i = sum of |terms|: when
// every term passes through at most k roundings (the longest chain of additions, products
// included), |computed - exact| <= gamma_k * sum|terms|, gamma_k = k u / (1 - k u) (Higham,
// Accuracy and Stability of Numerical Algorithms, 4.2). The summation order does not matter for
// the bound, only k, so this is a tolerance that cannot fail a correct kernel yet catches a
// missing or doubled term (which errs by that term's whole size). 10% covers gamma's denominator.
inline double chain_tol(long long k) { return 1.1 * static_cast<double>(k) * kU; }

// printf into a std::string.
std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// ============================================================================ errors

// A failed CUDA / NVRTC call: what() names the call and the error (cuGetErrorName and
// cuGetErrorString, or nvrtcGetErrorString).
struct CudaError : std::runtime_error {
    using std::runtime_error::runtime_error;
};
// A check of the harness itself that failed (bad arguments to a helper): the case FAILs.
struct HarnessError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

void check(CUresult result, const std::string& call);
void check_nvrtc(nvrtcResult result, const std::string& call);
// "CUDA_ERROR_ILLEGAL_ADDRESS (an illegal memory access was encountered)"
std::string describe(CUresult result);

// ============================================================================ random inputs

// SplitMix64 stream: portable (std::normal_distribution differs between standard libraries),
// so a failing case reproduces the same inputs everywhere.
class Rng {
public:
    explicit Rng(uint64_t seed) : state_(seed) {}
    uint64_t next();
    double uniform();                          // [0, 1), 53 bits
    double uniform(double lo, double hi);
    double normal();                           // Box-Muller
    int below(int n);                          // [0, n)
    std::vector<float> normal(size_t n, double sigma = 1.0, double mean = 0.0);
    std::vector<float> uniform(size_t n, double lo, double hi);

private:
    uint64_t state_;
    bool haveSpare_ = false;
    double spare_ = 0.0;
};

// A seed from the kernel name and the shape, so every case has its own inputs and two cases
// never share them by accident.
uint64_t seed_of(const std::string& kernel, std::initializer_list<long long> shape);

// ============================================================================ launch geometry
// The Java launchers' formulas (CudaBackend.grid / rowGrid, KernelLaunch.BLOCK).

constexpr unsigned kBlock = 256;
inline long long cdiv(long long a, long long b) { return (a + b - 1) / b; }
// Elementwise / grid-stride kernels: grid = max(1, min(ceil(n / 256), 65535)).
unsigned ew_grid(long long n);
// Row kernels, one warp per row, 8 rows per 256-thread block: grid = max(1, ceil(rows / 8)).
unsigned row_grid(long long rows);

// ============================================================================ device and modules

// The device, context, stream and the compiled kernels; one per process.
class Device {
public:
    // cuInit, cuDeviceGet(0), cuDevicePrimaryCtxRetain, cuCtxSetCurrent, cuStreamCreate.
    void open();
    // Reads dir/file, compiles it with NVRTC (printing the log on failure), loads the CUBIN and
    // looks up every extern "C" __global__ entry point. Returns false (after printing why) when
    // the file does not compile or load; the kernels of that file are then unavailable.
    bool load(const std::string& dir, const std::string& file);
    // The NVRTC options, as KernelLibrary passes them (the architecture is the device's).
    const std::vector<std::string>& options() const { return options_; }
    // Entry points found in the sources that were read (loaded or not), in file order.
    const std::vector<std::string>& entry_points() const { return entryPoints_; }
    // The kernel, or CudaError naming why it is missing.
    CUfunction function(const std::string& kernel) const;
    // Static shared memory of a kernel (cuFuncGetAttribute), cached.
    int static_shared(const std::string& kernel);
    CUstream stream() const { return stream_; }
    // Whether the context still works after an error: cuCtxSynchronize and a 4-byte round trip.
    // After a fault (illegal address, trap) a GPU context is dead and so is the emulator's.
    bool usable(std::string* why);
    // cuModuleUnload, cuStreamDestroy, cuDevicePrimaryCtxRelease; false (printed) on an error.
    bool close();
    std::string name() const { return name_; }

private:
    CUdevice device_ = 0;
    CUcontext context_ = nullptr;
    CUstream stream_ = nullptr;
    bool open_ = false;
    std::string name_;
    std::vector<std::string> options_;
    std::vector<std::string> entryPoints_;
    std::map<std::string, std::string> failedFiles_;   // file -> why
    std::map<std::string, std::string> kernelFile_;    // kernel -> file
    std::vector<CUmodule> modules_;
    std::map<std::string, CUfunction> functions_;
    std::map<std::string, int> staticShared_;
};

Device& device();

// The entry points of a source: extern "C" __global__ [__launch_bounds__(...)] void NAME(
// (the regex KernelLibrary.entryPoints uses).
std::vector<std::string> entry_points_of(const std::string& source);

// ============================================================================ buffers

enum class Elem { F32, F64, I32, I64, U64 };
template <class T> struct ElemOf;
template <> struct ElemOf<float> { static constexpr Elem value = Elem::F32; };
template <> struct ElemOf<double> { static constexpr Elem value = Elem::F64; };
template <> struct ElemOf<int> { static constexpr Elem value = Elem::I32; };
template <> struct ElemOf<long long> { static constexpr Elem value = Elem::I64; };
template <> struct ElemOf<unsigned long long> { static constexpr Elem value = Elem::U64; };
size_t elem_size(Elem e);

// One device allocation of `count` elements starting `misalign` bytes past a cuMemAlloc'd
// (256-aligned) base; the allocation is exactly misalign + count * size bytes, so the element
// after the last one is already outside it (the emulator's bounds checks stay tight).
class DeviceBuffer {
public:
    DeviceBuffer(Elem elem, size_t count, size_t misalign);
    ~DeviceBuffer();                 // cuMemFree_v2; an error there is reported by free()
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    void upload(const void* host);   // cuMemcpyHtoD_v2 of all count elements
    void download(void* host) const; // cuMemcpyDtoH_v2
    void free();                     // cuMemFree_v2, checked
    CUdeviceptr ptr() const { return base_ + misalign_; }
    size_t count() const { return count_; }
    size_t bytes() const { return count_ * elem_size(elem_); }
    Elem elem() const { return elem_; }

private:
    Elem elem_;
    size_t count_, misalign_;
    CUdeviceptr base_ = 0;
};

// A kernel launch on the device's stream, built argument by argument (like KernelLaunch.java),
// then go(): cuLaunchKernel and cuStreamSynchronize, so a fault is attributed to this launch.
// Dynamic shared memory above 48 KiB (with the static) is opted into as KernelLaunch does.
class Launch {
public:
    explicit Launch(const std::string& kernel);
    Launch& grid(unsigned x, unsigned y = 1, unsigned z = 1);
    Launch& block(unsigned x, unsigned y = 1, unsigned z = 1);
    Launch& shared(unsigned bytes);
    Launch& ptr(const DeviceBuffer& b) { return arg(b.ptr()); }
    Launch& ptr(CUdeviceptr p) { return arg(p); }
    Launch& i32(int v) { return arg(v); }
    Launch& i64(long long v) { return arg(v); }
    Launch& u64(unsigned long long v) { return arg(v); }
    Launch& f32(float v) { return arg(v); }
    void go();
    std::string describe() const;   // "name, grid 3x1x1, block 256x1x1, shared 0 B"

private:
    template <class T>
    Launch& arg(T v) {
        static_assert(sizeof(T) <= sizeof(uint64_t), "kernel arguments are at most 8 bytes here");
        uint64_t slot = 0;
        std::memcpy(&slot, &v, sizeof v);   // little-endian: the value's bytes come first
        args_.push_back(slot);
        return *this;
    }
    std::string kernel_;
    unsigned grid_[3] = {1, 1, 1}, block_[3] = {kBlock, 1, 1}, shared_ = 0;
    std::vector<uint64_t> args_;
};

// ============================================================================ one run of a case

// Downloaded output, as doubles for the checks and as raw bytes for the bitwise comparisons.
struct Result {
    Elem elem = Elem::F32;
    std::vector<double> values;
    std::vector<unsigned char> raw;
};

// Columns [col0, col0 + ncols) of each of `rows` rows of `stride` elements: a part of an output
// checked on its own (dQ, dK, dV of attention's dqkv).
struct Slice {
    size_t rows, stride, col0, ncols;
};

// The device buffers of one execution of a case's run function, freed when it ends.
class Run {
public:
    explicit Run(size_t misalign) : misalign_(misalign) {}
    ~Run();
    size_t misalign() const { return misalign_; }

    // An input, uploaded.
    template <class T> DeviceBuffer& in(const std::vector<T>& host) { return upload(ElemOf<T>::value, host.size(), host.data()); }
    // An output the kernel WRITES: uploaded as all NaN (float / double), so an element the kernel
    // fails to write cannot pass.
    template <class T> DeviceBuffer& out(size_t count);
    // An output the kernel ADDS into or updates in place: uploaded with these start values.
    template <class T> DeviceBuffer& inout(const std::vector<T>& host) { return in(host); }
    // Downloads b (or a slice of it) under `name`.
    void result(const std::string& name, const DeviceBuffer& b);
    void result(const std::string& name, const DeviceBuffer& b, const Slice& s);
    // Results the run function downloaded itself (e.g. many buffers concatenated).
    void result(const std::string& name, const std::vector<float>& downloaded);
    // Frees the buffers (checked), called by Case::run after the run function returns.
    void release();
    std::map<std::string, Result>& results() { return results_; }

private:
    DeviceBuffer& upload(Elem e, size_t count, const void* host);
    size_t misalign_;
    std::vector<std::unique_ptr<DeviceBuffer>> buffers_;
    std::map<std::string, Result> results_;
};

template <class T>
DeviceBuffer& Run::out(size_t count) {
    static_assert(std::is_floating_point<T>::value, "outputs poisoned with NaN are float or double");
    std::vector<T> nan(count, std::numeric_limits<T>::quiet_NaN());
    return upload(ElemOf<T>::value, count, nan.data());
}

// ============================================================================ checks

// How an output is compared with its reference (`err` is what the report prints; the check
// passes when err <= tol). A reference NaN means "this element must be NaN"; any other
// non-finite output element makes err infinite.
struct Tol {
    enum Kind {
        Exact,    // the reference is the contract's float (or double) arithmetic in its order:
                  // every element must be bitwise equal; err = max |a - r| / max |r| (for the report)
        Norm,     // err = max_i |a_i - r_i| / max_i |r_i|: relative to the output's scale, the
                  // natural metric for dense float outputs of O(1) spread; with a magnitude given,
                  // / max_i m_i instead (the scale of the terms, for outputs that cancel to ~0)
        Rel,      // err = max_i |a_i - r_i| / max(|r_i|, floor): per-element relative, for results
                  // whose contract promises relative accuracy everywhere (GELU's tail)
        Scaled,   // err = max_i |a_i - r_i| / m_i with m_i > 0 given (e.g. the sum of |terms| of a
                  // reduction, for which float summation error is bounded by (chain length) * u * m_i)
    };
    Kind kind = Norm;
    double tol = 0;
    double floor = 0;
    std::vector<double> magnitude;
};
inline Tol exact() { return Tol{Tol::Exact, 0, 0, {}}; }
inline Tol norm(double tol) { return Tol{Tol::Norm, tol, 0, {}}; }
inline Tol norm(double tol, std::vector<double> magnitude) { return Tol{Tol::Norm, tol, 0, std::move(magnitude)}; }
inline Tol rel(double tol, double floor) { return Tol{Tol::Rel, tol, floor, {}}; }
inline Tol scaled(double tol, std::vector<double> magnitude) { return Tol{Tol::Scaled, tol, 0, std::move(magnitude)}; }

struct RunOptions {
    bool repeat = true;       // run twice, outputs must be bitwise identical (deterministic kernel)
    bool misaligned = false;  // also run with every pointer at +4 bytes, bitwise equal to aligned
};

// One (kernel, shape): runs and checks, collected for its report line.
class Case {
public:
    // Executes fn (which allocates, launches and downloads through the Run it is given) per
    // RunOptions; the first execution's results are what check() compares.
    void run(const std::function<void(Run&)>& fn, RunOptions options = RunOptions());
    // Compares output `name` of the first run with ref.
    void check(const std::string& name, const std::vector<double>& ref, const Tol& tol);
    // A failure found by the case body itself.
    void fail(const std::string& what);

    bool failed() const { return failed_; }
    // "out 3.1e-07 (tol 2e-05); lse exact; repeat bitwise; +4 B misaligned bitwise"
    std::string report() const;

private:
    bool failed_ = false;
    std::vector<std::string> checks_;   // per output, and failures
    std::vector<std::string> runs_;     // the repeat / misaligned comparisons
    std::map<std::string, Result> first_;
    bool ran_ = false;
};

// ============================================================================ registry

struct CaseSpec {
    std::string file;     // kernels/<file>
    std::string kernel;   // entry point
    std::string shape;    // e.g. "B=1 N=197 heads=2 hd=64"
    bool quick;           // part of --quick
    std::function<void(Case&)> body;
};

class Suite {
public:
    void add(const std::string& file, const std::string& kernel, const std::string& shape, bool quick,
             std::function<void(Case&)> body) {
        cases_.push_back(CaseSpec{file, kernel, shape, quick, std::move(body)});
    }
    const std::vector<CaseSpec>& cases() const { return cases_; }

private:
    std::vector<CaseSpec> cases_;
};

// One per test_<file>.cpp.
void add_adamw_cases(Suite& s);
void add_attention_cases(Suite& s);
void add_elementwise_cases(Suite& s);
void add_gelu_cases(Suite& s);
void add_layernorm_cases(Suite& s);
void add_patch_embed_cases(Suite& s);
void add_softmax_cases(Suite& s);
void add_softmax_cross_entropy_cases(Suite& s);

// ============================================================================ small host helpers

std::vector<double> to_double(const std::vector<float>& v);
// The float rounding of each element (a double reference turned into a kernel input).
std::vector<float> to_float(const std::vector<double>& v);
std::vector<double> abs_of(const std::vector<double>& v);

}  // namespace kt
