// CUDA's device-side built-ins as plain C++17, for compiling the unchanged kernels/*.cu with g++.
//
// The emulator's NVRTC stand-in force-includes this header ahead of a kernel source that its
// transform (src/transform.cpp) has rewritten in two ways only: __shared__ declarations become
// calls into the runtime (so shared memory is a bounds-checked, NaN-filled block arena), and a
// registration table of the extern "C" __global__ functions is appended. Everything else is the
// source as NVRTC would see it, with __CUDA_ARCH__ left undefined (the kernels' inline-PTX paths
// have host fallbacks for exactly this).
//
// Threads of a block run as fibers on one OS thread; these built-ins read the running fiber's
// state (emu_current) and yield to the scheduler at barriers and shuffles (src/runtime.cpp).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

// The emulator's own sources include this header for the types below, without the macros.
#ifndef EMU_RUNTIME
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
#define __constant__ static_assert(false, "vit4j emulator: __constant__ memory is not emulated");
// Any __shared__ the transform did not rewrite is a compile error naming the declaration.
#define __shared__ vit4j_emulator_unsupported_shared_declaration
#endif

struct uint3 { unsigned x, y, z; };
struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
extern "C" void emu_misaligned(const void* p, size_t alignment, int write);

// float2 and float4 move as one 8- or 16-byte access on a GPU, which faults when misaligned;
// g++ splits them into 4-byte accesses, so every copy checks the alignment a GPU needs.
template <class Self, size_t Align>
struct emu_vector_access {
    static void check(const void* p, int write) {
        if (reinterpret_cast<uintptr_t>(p) & (Align - 1)) emu_misaligned(p, Align, write);
    }
};
struct alignas(8) float2 : emu_vector_access<float2, 8> {
    float x, y;
    float2() = default;
    constexpr float2(float x_, float y_) : x(x_), y(y_) {}
    float2(const float2& o) : x((check(&o, 0), o.x)), y(o.y) {}
    float2& operator=(const float2& o) {
        check(&o, 0);
        check(this, 1);
        x = o.x;
        y = o.y;
        return *this;
    }
};
struct alignas(16) float4 : emu_vector_access<float4, 16> {
    float x, y, z, w;
    float4() = default;
    constexpr float4(float x_, float y_, float z_, float w_) : x(x_), y(y_), z(z_), w(w_) {}
    float4(const float4& o) : x((check(&o, 0), o.x)), y(o.y), z(o.z), w(o.w) {}
    float4& operator=(const float4& o) {
        check(&o, 0);
        check(this, 1);
        x = o.x;
        y = o.y;
        z = o.z;
        w = o.w;
        return *this;
    }
};
struct alignas(8) int2 { int x, y; };
struct alignas(16) int4 { int x, y, z, w; };
struct alignas(16) uint4 { unsigned x, y, z, w; };
inline float2 make_float2(float x, float y) { return float2(x, y); }
inline float4 make_float4(float x, float y, float z, float w) { return float4(x, y, z, w); }
inline int2 make_int2(int x, int y) { return {x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }

constexpr int warpSize = 32;

// For kernels that read %dynamic_smem_size through inline PTX on a GPU: the launch's dynamic
// shared bytes here (see attention.cu's attn_dynamic_smem_bytes).
#define VIT4J_EMULATOR 1

// The state a kernel thread sees; owned by the runtime.
struct emu_thread_view {
    uint3 threadIdx;
    uint3 blockIdx;
    dim3 blockDim;
    dim3 gridDim;
};
// Constant within a thread (each fiber has its own view), so the compiler may keep it in a register.
extern "C" emu_thread_view* emu_current_view() __attribute__((const));
#ifndef EMU_RUNTIME
#define threadIdx (emu_current_view()->threadIdx)
#define blockIdx (emu_current_view()->blockIdx)
#define blockDim (emu_current_view()->blockDim)
#define gridDim (emu_current_view()->gridDim)
#endif

extern "C" {
// A call site is (file, line): two barriers on one line count as one.
void emu_syncthreads(const char* file, int line);
unsigned long long emu_shfl(int kind, unsigned mask, unsigned long long value, int arg, int width,
                            const char* file, int line);
[[noreturn]] void emu_trap(const char* file, int line);
void* emu_dynamic_shared(void);
unsigned emu_dynamic_shared_bytes(void);
void* emu_static_shared(const void* key, size_t bytes, size_t align, const char* name);
}

inline void __syncthreads(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
    emu_syncthreads(file, line);
}
[[noreturn]] inline void __trap(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
    emu_trap(file, line);
}

// Warp shuffles: every lane named in mask must reach the same call; the runtime checks it.
namespace emu_detail {
enum { SHFL_IDX = 0, SHFL_UP = 1, SHFL_DOWN = 2, SHFL_XOR = 3 };
template <class T>
inline T shfl(int kind, unsigned mask, T v, int arg, int width, const char* file, int line) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle of a type over 8 bytes");
    unsigned long long bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    bits = emu_shfl(kind, mask, bits, arg, width, file, line);
    T out;
    std::memcpy(&out, &bits, sizeof(T));
    return out;
}
}  // namespace emu_detail

template <class T>
inline T __shfl_sync(unsigned mask, T v, int src, int width = 32, const char* file = __builtin_FILE(),
                   int line = __builtin_LINE()) {
    return emu_detail::shfl(emu_detail::SHFL_IDX, mask, v, src, width, file, line);
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32, const char* file = __builtin_FILE(),
                   int line = __builtin_LINE()) {
    return emu_detail::shfl(emu_detail::SHFL_UP, mask, v, (int) delta, width, file, line);
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32, const char* file = __builtin_FILE(),
                   int line = __builtin_LINE()) {
    return emu_detail::shfl(emu_detail::SHFL_DOWN, mask, v, (int) delta, width, file, line);
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T v, int laneMask, int width = 32, const char* file = __builtin_FILE(),
                   int line = __builtin_LINE()) {
    return emu_detail::shfl(emu_detail::SHFL_XOR, mask, v, laneMask, width, file, line);
}

// Round-to-nearest arithmetic intrinsics: the host's IEEE float ops (compiled without FMA
// contraction, so each is one rounding, as on the GPU).
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __frcp_rn(float a) { return 1.0f / a; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline float __expf(float a) { return std::exp(a); }
inline float __logf(float a) { return std::log(a); }
inline float rsqrtf(float a) { return 1.0f / std::sqrt(a); }
inline float __saturatef(float a) { return a < 0.0f ? 0.0f : (a > 1.0f ? 1.0f : a); }
inline float __int_as_float(int v) { float f; std::memcpy(&f, &v, 4); return f; }
inline int __float_as_int(float f) { int v; std::memcpy(&v, &f, 4); return v; }
inline unsigned __float_as_uint(float f) { unsigned v; std::memcpy(&v, &f, 4); return v; }
inline float __uint_as_float(unsigned v) { float f; std::memcpy(&f, &v, 4); return f; }
inline long long __double_as_longlong(double d) { long long v; std::memcpy(&v, &d, 8); return v; }
inline double __longlong_as_double(long long v) { double d; std::memcpy(&d, &v, 8); return d; }
template <class T> inline T __ldg(const T* p) { return *p; }

// CUDA's overloaded min/max for integers and floats.
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }

// ----------------------------------------------------------------------------------------
// Registration of the extern "C" __global__ functions, used by the table the transform appends.
namespace emu_detail {
// 'p' pointer, 'i' 32-bit integer, 'l' 64-bit integer, 'f' float, 'd' double, 'o' other
template <class T> constexpr char kind_of() {
    using U = std::remove_cv_t<T>;
    return std::is_pointer<U>::value ? 'p'
         : std::is_same<U, float>::value ? 'f'
         : std::is_same<U, double>::value ? 'd'
         : (std::is_integral<U>::value && sizeof(U) == 8) ? 'l'
         : (std::is_integral<U>::value && sizeof(U) <= 4) ? 'i' : 'o';
}
}  // namespace emu_detail

struct emu_kernel_desc {
    const char* name;
    void (*invoke)(void* const* args);    // calls the kernel with args[i] pointing at parameter i
    int num_params;
    const size_t* param_sizes;
    const size_t* param_aligns;
    const char* param_kinds;
    const char* param_decls;                // the parameter list as written, for messages
    int max_threads;                        // __launch_bounds__ maximum, 0 when none
    size_t static_shared_bytes;             // sum of the __shared__ arrays it (transitively) declares
};

namespace emu_detail {
template <auto F> struct KernelOf;
template <class... A, void (*F)(A...)> struct KernelOf<F> {
    static constexpr int n = sizeof...(A);
    static constexpr size_t sizes[n + 1] = {sizeof(A)..., 0};
    static constexpr size_t aligns[n + 1] = {alignof(A)..., 0};
    static constexpr char kinds[n + 1] = {kind_of<A>()..., 0};
    template <size_t... I>
    static void call(void* const* args, std::index_sequence<I...>) {
        F(*static_cast<std::remove_reference_t<A>*>(args[I])...);
    }
    static void invoke(void* const* args) { call(args, std::index_sequence_for<A...>{}); }
};
template <auto F>
constexpr emu_kernel_desc describe(const char* name, const char* decls, int max_threads, size_t static_shared) {
    using K = KernelOf<F>;
    return {name, &K::invoke, K::n, K::sizes, K::aligns, K::kinds, decls, max_threads, static_shared};
}
constexpr size_t shared_round(size_t offset, size_t align) { return (offset + align - 1) / align * align; }
}  // namespace emu_detail
