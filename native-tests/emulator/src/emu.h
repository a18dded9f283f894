// What the emulator's pieces (runtime, driver, cuBLAS) share. Not seen by kernels.
#pragma once

#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#define EMU_RUNTIME
#include "cuda_emu.h"

// Build flavours: EMU_ASAN (AddressSanitizer poisons the arenas), EMU_TSAN (ThreadSanitizer fibers,
// __syncthreads the only happens-before edge), neither (the emulator's own shadow checks, called
// by kernels compiled with gcc's outline -fsanitize=kernel-address instrumentation).
#if defined(EMU_ASAN)
#define EMU_FLAVOUR "asan"
#elif defined(EMU_TSAN)
#define EMU_FLAVOUR "tsan"
#else
#define EMU_FLAVOUR "checked"
#endif

namespace emu {

// One line on stderr, prefixed "vit4j-emulator: ".
void note(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Set on purpose (VIT4J_EMULATOR=1): otherwise the stand-in reports no device.
bool enabled();
// Number of worker threads that run blocks (VIT4J_EMU_WORKERS, default: the CPUs).
int workers();
// The folder of libcuda.so.1, where the build put include/ and the kernel flags.
const std::string& installDir();
// The emulator's own compile cache (VIT4J_EMU_CACHE, default ~/.cache/vit4j-emulator), per flavour;
// never the user's kernel cache.
std::string cacheDir();
// Appends this process's launch counts to VIT4J_EMU_COVERAGE (also done at exit).
void flushCoverage();

// ------------------------------------------------------------------------------ errors
// A fault inside a kernel or an illegal copy makes the context unusable, as on a GPU: every later
// call returns the code. The message is what cuGetErrorString gives back.
void setSticky(int code, const std::string& message);
int sticky();
std::string stickyMessage();
void clearSticky();   // the context was destroyed

// ------------------------------------------------------------------------------ device memory
// Allocations live in one reserved arena, 256-byte aligned, never reused (a freed range stays
// poisoned), each followed by a poisoned redzone; new memory is NaN-filled.
int deviceAlloc(size_t bytes, uintptr_t* out);
int deviceFree(uintptr_t base);
// True when [p, p + bytes) lies inside one live allocation; else why not, in words.
bool deviceRange(uintptr_t p, size_t bytes, std::string* why);
bool inArena(uintptr_t p);
std::string describeAddress(uintptr_t p, size_t bytes);
size_t liveAllocations(size_t* bytes);
// Lists what is still allocated, then frees it (context destroy).
void releaseAll(const char* when);
size_t deviceMemoryLimit();

// ------------------------------------------------------------------------------ kernels
struct Module;
struct Kernel {
    const emu_kernel_desc* desc;
    Module* module;
    int maxDynamicShared;           // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
};
struct Module {
    void* handle = nullptr;
    std::string path;
    std::vector<Kernel*> kernels;
};

constexpr int kMaxThreadsPerBlock = 1024;
constexpr int kDefaultSharedLimit = 48 * 1024;
constexpr int kMaxSharedOptIn = 227 * 1024;

int loadModule(const void* image, Module** out, std::string* error);
void unloadModule(Module* m);

struct LaunchShape {
    unsigned grid[3], block[3], shared;
};
// Validates like the driver, runs every block, returns a CUresult (errors detailed in *why).
int launch(Kernel* k, const LaunchShape& s, void** params, std::string* why);

// Work for the block workers outside kernels (cuBLAS): f(i) for i in [0, n), split into chunks.
void parallelFor(size_t n, const std::function<void(size_t begin, size_t end)>& f);

}  // namespace emu
