// The emulated device: memory arena and its checks, fibers, the block scheduler with barrier and
// warp checks, the worker pool, and kernel launch.
//
// Execution model. A launch's blocks are shared out to worker threads; a worker runs one block at
// a time, each CUDA thread of the block a fiber (own stack, hand-written context switch). A
// fiber runs until it reaches __syncthreads, a shuffle, or its end, then yields to the worker's
// scheduler, which resumes the ready fibers in the chosen order (VIT4J_EMU_SCHEDULE: forward,
// reverse, random:SEED) until every fiber is waiting at the same barrier (then all are released)
// or has exited. Between two sync points a thread therefore runs alone: results that depend on
// the order of threads between barriers change with the schedule.
//
// Memory. Device allocations and every worker's shared-memory window live in one reserved
// arena with a shadow byte per 8 bytes (as AddressSanitizer's): kernels are compiled with gcc's
// outline kernel-address instrumentation, so every load and store of kernel code calls
// __asan_{load,store}N_noabort here, and any access to the arena outside a live allocation, or
// outside the block's dynamic shared bytes and its static __shared__ arrays, stops the block at
// that instruction. Under real ASan (EMU_ASAN) the same regions are poisoned with ASan's
// interface instead; under TSan (EMU_TSAN) fibers are TSan fibers whose switches do not
// synchronise, and __syncthreads is a release/acquire pair on the block's barrier.
#include "emu.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "vit4j_cuda_api.h"

#if defined(EMU_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(EMU_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

namespace emu {

static std::mutex g_stickyMutex;
static int g_sticky = 0;
static std::string g_stickyMessage;

void setSticky(int code, const std::string& message) {
    std::lock_guard<std::mutex> lock(g_stickyMutex);
    if (g_sticky == 0) {
        g_sticky = code;
        g_stickyMessage = message;
    }
    note("%s", message.c_str());
}

void clearSticky() {
    std::lock_guard<std::mutex> lock(g_stickyMutex);
    g_sticky = 0;
    g_stickyMessage.clear();
}

int sticky() {
    std::lock_guard<std::mutex> lock(g_stickyMutex);
    return g_sticky;
}

std::string stickyMessage() {
    std::lock_guard<std::mutex> lock(g_stickyMutex);
    return g_stickyMessage;
}

// =============================================================================== arena

namespace {

constexpr size_t kArenaBytes = 256ull << 30;
constexpr size_t kChunk = 4u << 20;
constexpr size_t kAllocAlign = 256;
constexpr size_t kRedzone = 256;

constexpr uint8_t kPoisonUnallocated = 0xFA;
constexpr uint8_t kPoisonFreed = 0xFD;
constexpr uint8_t kPoisonShared = 0xF8;

struct Allocation {
    uintptr_t base;
    size_t size;
    uint64_t id;
    bool live;
};

struct Arena {
    uintptr_t base = 0;
    uintptr_t next = 0;
    uintptr_t committed = 0;
    uint8_t* shadow = nullptr;   // checked flavour only
    std::mutex mutex;
    std::map<uintptr_t, Allocation> allocations;
    uint64_t nextId = 1;
    size_t liveBytes = 0;
    size_t liveCount = 0;
};

// The end of the arena's usable part, for the access check (no lock on that path).
std::atomic<uintptr_t> g_committed{0};

Arena& arena() {
    static Arena* a = [] {
        Arena* r = new Arena();
        void* p = mmap(nullptr, kArenaBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) {
            note("cannot reserve %zu GiB of address space for device memory", kArenaBytes >> 30);
            abort();
        }
        r->base = (uintptr_t) p;
        r->next = r->committed = r->base;
#if !defined(EMU_ASAN) && !defined(EMU_TSAN)
        void* s = mmap(nullptr, kArenaBytes / 8, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (s == MAP_FAILED) {
            note("cannot reserve the shadow of device memory");
            abort();
        }
        r->shadow = (uint8_t*) s;
#endif
        return r;
    }();
    return *a;
}

// Shadow encoding (AddressSanitizer's): 0 = all 8 bytes addressable, 1..7 = the first k, >= 0x80 poisoned.
void poison(uintptr_t p, size_t n, uint8_t code) {
    if (n == 0) return;
#if defined(EMU_ASAN)
    (void) code;
    __asan_poison_memory_region((void*) p, n);
#elif defined(EMU_TSAN)
    (void) p; (void) code;
#else
    Arena& a = arena();
    uintptr_t g0 = (p - a.base) >> 3, g1 = (p + n - a.base + 7) >> 3;
    memset(a.shadow + g0, code, g1 - g0);
#endif
}

void unpoison(uintptr_t p, size_t n) {
    if (n == 0) return;
#if defined(EMU_ASAN)
    __asan_unpoison_memory_region((void*) p, n);
#elif defined(EMU_TSAN)
    (void) p;
#else
    Arena& a = arena();
    uintptr_t g0 = (p - a.base) >> 3;
    size_t full = n >> 3;
    memset(a.shadow + g0, 0, full);
    if (n & 7) a.shadow[g0 + full] = (uint8_t) (n & 7);
#endif
}

// Makes the arena usable up to `end` (caller holds the mutex).
bool commit(Arena& a, uintptr_t end) {
    while (a.committed < end) {
        if (a.committed + kChunk > a.base + kArenaBytes) return false;
        if (mprotect((void*) a.committed, kChunk, PROT_READ | PROT_WRITE) != 0) return false;
#if !defined(EMU_ASAN) && !defined(EMU_TSAN)
        uint8_t* s = a.shadow + ((a.committed - a.base) >> 3);
        if (mprotect(s, kChunk / 8, PROT_READ | PROT_WRITE) != 0) return false;
        memset(s, kPoisonUnallocated, kChunk / 8);
#else
        poison(a.committed, kChunk, kPoisonUnallocated);
#endif
        a.committed += kChunk;
        g_committed.store(a.committed, std::memory_order_release);
    }
    return true;
}

// Carves [result, result + bytes) out of the arena, 256-aligned, followed by a redzone.
uintptr_t carve(Arena& a, size_t bytes) {
    uintptr_t start = a.next;
    uintptr_t end = (start + bytes + kAllocAlign - 1) / kAllocAlign * kAllocAlign + kRedzone;
    if (end > a.base + kArenaBytes || !commit(a, end)) return 0;
    a.next = end;
    return start;
}

}  // namespace

bool inArena(uintptr_t p) {
    Arena& a = arena();
    return p - a.base < kArenaBytes;
}

size_t deviceMemoryLimit() {
    static size_t limit = [] {
        long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
        size_t ram = pages > 0 && size > 0 ? (size_t) pages * (size_t) size : (16ull << 30);
        return std::min<size_t>(ram / 2, 16ull << 30);
    }();
    return limit;
}

int deviceAlloc(size_t bytes, uintptr_t* out) {
    if (bytes == 0) return CUDA_ERROR_INVALID_VALUE;
    Arena& a = arena();
    std::lock_guard<std::mutex> lock(a.mutex);
    if (bytes > deviceMemoryLimit() - a.liveBytes) return CUDA_ERROR_OUT_OF_MEMORY;
    uintptr_t p = carve(a, bytes);
    if (p == 0) return CUDA_ERROR_OUT_OF_MEMORY;
    unpoison(p, bytes);
    memset((void*) p, 0xFF, bytes);   // all-ones: NaN as float and as double
    a.allocations[p] = Allocation{p, bytes, a.nextId++, true};
    a.liveBytes += bytes;
    a.liveCount++;
    *out = p;
    return CUDA_SUCCESS;
}

int deviceFree(uintptr_t base) {
    Arena& a = arena();
    std::lock_guard<std::mutex> lock(a.mutex);
    auto it = a.allocations.find(base);
    if (it == a.allocations.end() || !it->second.live) return CUDA_ERROR_INVALID_VALUE;
    Allocation& al = it->second;
    al.live = false;
    a.liveBytes -= al.size;
    a.liveCount--;
    poison(al.base, (al.size + 7) / 8 * 8, kPoisonFreed);
    // Give whole pages back; the address range is never handed out again.
    uintptr_t p0 = (al.base + 4095) / 4096 * 4096, p1 = (al.base + al.size) / 4096 * 4096;
    if (p1 > p0) madvise((void*) p0, p1 - p0, MADV_DONTNEED);
    return CUDA_SUCCESS;
}

static const Allocation* allocationAtOrBefore(Arena& a, uintptr_t p) {
    auto it = a.allocations.upper_bound(p);
    if (it == a.allocations.begin()) return nullptr;
    return &std::prev(it)->second;
}

bool deviceRange(uintptr_t p, size_t bytes, std::string* why) {
    Arena& a = arena();
    {
        std::lock_guard<std::mutex> lock(a.mutex);
        const Allocation* al = allocationAtOrBefore(a, p);
        if (al && al->live && p >= al->base && bytes <= al->size && p - al->base <= al->size - bytes) return true;
    }
    if (why) *why = describeAddress(p, bytes);
    return false;
}

size_t liveAllocations(size_t* bytes) {
    Arena& a = arena();
    std::lock_guard<std::mutex> lock(a.mutex);
    if (bytes) *bytes = a.liveBytes;
    return a.liveCount;
}

void releaseAll(const char* when) {
    std::vector<uintptr_t> live;
    {
        Arena& a = arena();
        std::lock_guard<std::mutex> lock(a.mutex);
        for (auto& [base, al] : a.allocations)
            if (al.live) live.push_back(base);
        if (!live.empty()) {
            std::string list;
            int shown = 0;
            for (uintptr_t b : live) {
                const Allocation& al = a.allocations[b];
                if (shown++ < 8) list += format("%s#%llu (%zu bytes)", list.empty() ? "" : ", ", (unsigned long long) al.id, al.size);
            }
            note("%zu device allocation%s (%zu bytes) still live %s: %s%s", live.size(), live.size() == 1 ? "" : "s",
                 a.liveBytes, when, list.c_str(), live.size() > 8 ? ", ..." : "");
        }
    }
    for (uintptr_t b : live) deviceFree(b);
}

// =============================================================================== fibers

extern "C" void emu_switch_context(void** save, void* to);
struct Thread;
extern "C" __attribute__((visibility("hidden"), noreturn)) void emu_fiber_main(Thread* t);

asm(R"(
    .text
    .globl emu_switch_context
    .hidden emu_switch_context
    .type emu_switch_context, @function
emu_switch_context:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $16, %rsp
    stmxcsr 8(%rsp)
    fnstcw (%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr 8(%rsp)
    fldcw (%rsp)
    addq $16, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size emu_switch_context, .-emu_switch_context

    .globl emu_fiber_trampoline
    .hidden emu_fiber_trampoline
    .type emu_fiber_trampoline, @function
emu_fiber_trampoline:
    movq %rbx, %rdi
    call emu_fiber_main
    ud2
    .size emu_fiber_trampoline, .-emu_fiber_trampoline
)");
extern "C" void emu_fiber_trampoline();

namespace {

#if defined(EMU_ASAN) || defined(EMU_TSAN)
constexpr size_t kFiberStack = 256 * 1024;
#else
constexpr size_t kFiberStack = 64 * 1024;
#endif

enum State { READY, AT_BARRIER, AT_SHUFFLE, EXITED };
enum Order { FORWARD, REVERSE, RANDOM };

struct Launch;
struct Worker;

}  // namespace

struct Thread {
    void* sp = nullptr;
    emu_thread_view view{};
    int linear = 0;
    State state = READY;
    const char* file = nullptr;
    int line = 0;
    Worker* worker = nullptr;
    uintptr_t stackLo = 0, stackHi = 0;
#if defined(EMU_ASAN)
    void* asanFake = nullptr;
#endif
#if defined(EMU_TSAN)
    void* tsanFiber = nullptr;
#endif
};

namespace {

struct Warp {
    unsigned present = 0, exited = 0, arrived = 0, mask = 0;
    int kind = 0, line = 0;
    const char* file = nullptr;
    unsigned long long value[32], result[32];
};

struct StaticShared {
    const void* key;
    uintptr_t at;
    size_t bytes;
    const char* name;
};

struct Fault {
    int code = 0;
    std::string what;
    void* pc = nullptr;
    unsigned block[3]{}, thread[3]{};
};

struct Launch {
    Kernel* kernel;
    LaunchShape shape;
    void* const* args;
    uint64_t blocks;
    std::atomic<uint64_t> next{0};
    std::atomic<bool> stop{false};
    std::mutex faultMutex;
    Fault fault;
    Order order;
    uint64_t seed;
};

constexpr size_t kSharedWindow = 256 * 1024;   // 227 KiB + room for redzones between static arrays
constexpr size_t kSharedRedzone = 64;

struct Worker {
    int index = 0;
    std::vector<Thread> threads;
    std::vector<void*> stacks;
    void* schedulerSp = nullptr;
    uintptr_t shared = 0;
    // the block being run
    Launch* launch = nullptr;
    unsigned block[3]{};
    int n = 0, live = 0, barrierWaiting = 0;
    Warp warps[kMaxThreadsPerBlock / 32];
    std::vector<StaticShared> statics;
    uintptr_t staticNext = 0;
    uintptr_t filledEnd = 0;
    size_t dynamicBytes = 0;
    bool aborted = false;
    uint64_t rng = 0;
    std::vector<int> order;
#if defined(EMU_ASAN)
    void* asanFake = nullptr;
    const void* mainStackBottom = nullptr;
    size_t mainStackSize = 0;
#endif
#if defined(EMU_TSAN)
    void* tsanMain = nullptr;
    char blockStart = 0, blockEnd = 0, barrier = 0;
#endif
};

thread_local Worker* t_worker = nullptr;
thread_local Thread* t_thread = nullptr;

std::atomic<uint64_t> g_launchCount{0};

// VIT4J_EMU_SCHEDULE, read at every launch (a test may change it between launches).
Order readSchedule(uint64_t* seed) {
    const char* e = getenv("VIT4J_EMU_SCHEDULE");
    std::string s = e && *e ? e : "forward";
    *seed = 0;
    if (s == "forward") return FORWARD;
    if (s == "reverse") return REVERSE;
    if (s.rfind("random", 0) == 0) {
        *seed = s.size() > 7 ? strtoull(s.c_str() + 7, nullptr, 10) : 1;
        return RANDOM;
    }
    static std::once_flag once;
    std::call_once(once, [&] { note("VIT4J_EMU_SCHEDULE=%s is not forward, reverse or random:SEED; using forward", s.c_str()); });
    return FORWARD;
}

uint64_t splitmix(uint64_t& x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void* newStack() {
    void* p = mmap(nullptr, kFiberStack + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        note("cannot map a fiber stack");
        abort();
    }
    mprotect(p, 4096, PROT_NONE);   // guard page: a fiber's stack overflow faults
    return p;
}

void prepareFiber(Thread& t, void* stack) {
    t.stackLo = (uintptr_t) stack + 4096;
    t.stackHi = t.stackLo + kFiberStack;
#if defined(EMU_ASAN)
    // Frames of the fiber that last ran on this stack leave their redzones behind.
    __asan_unpoison_memory_region((void*) t.stackLo, kFiberStack);
#endif
    uintptr_t* sp = (uintptr_t*) (t.stackHi - 88);
    uint32_t mxcsr = 0x1F80;
    uint16_t fpucw = 0x037F;
    memset(sp, 0, 88);
    memcpy(&sp[0], &fpucw, 2);
    memcpy(&sp[1], &mxcsr, 4);
    // emu_switch_context pops: fpu control word, mxcsr, r15, r14, r13, r12, rbx, rbp, return address
    sp[6] = (uintptr_t) &t;                       // rbx: the trampoline's argument
    sp[8] = (uintptr_t) &emu_fiber_trampoline;    // return address; then rsp = top - 16
    t.sp = sp;
}

// Scheduler -> fiber.
void resume(Worker& w, Thread& t) {
    t_thread = &t;
#if defined(EMU_ASAN)
    __sanitizer_start_switch_fiber(&w.asanFake, (const void*) t.stackLo, kFiberStack);
#endif
#if defined(EMU_TSAN)
    __tsan_switch_to_fiber(t.tsanFiber, __tsan_switch_to_fiber_no_sync);
#endif
    emu_switch_context(&w.schedulerSp, t.sp);
#if defined(EMU_ASAN)
    __sanitizer_finish_switch_fiber(w.asanFake, nullptr, nullptr);
#endif
    t_thread = nullptr;
}

// Fiber -> scheduler; returns when the scheduler resumes this fiber.
void yieldToScheduler(bool forever = false) {
    Thread& t = *t_thread;
    Worker& w = *t.worker;
#if defined(EMU_ASAN)
    __sanitizer_start_switch_fiber(forever ? nullptr : &t.asanFake, w.mainStackBottom, w.mainStackSize);
#endif
#if defined(EMU_TSAN)
    __tsan_switch_to_fiber(w.tsanMain, __tsan_switch_to_fiber_no_sync);
#endif
    (void) forever;
    emu_switch_context(&t.sp, w.schedulerSp);
#if defined(EMU_ASAN)
    __sanitizer_finish_switch_fiber(t.asanFake, nullptr, nullptr);
#endif
}

// Stops the running block at a fault found by the current thread; never returns.
[[noreturn]] void kernelFault(int code, const std::string& what, void* pc) {
    Thread& t = *t_thread;
    Worker& w = *t.worker;
    Launch& L = *w.launch;
    {
        std::lock_guard<std::mutex> lock(L.faultMutex);
        if (L.fault.code == 0) {
            L.fault.code = code;
            L.fault.what = what;
            L.fault.pc = pc;
            memcpy(L.fault.block, w.block, sizeof w.block);
            L.fault.thread[0] = t.view.threadIdx.x;
            L.fault.thread[1] = t.view.threadIdx.y;
            L.fault.thread[2] = t.view.threadIdx.z;
        }
    }
    L.stop = true;
    w.aborted = true;
    yieldToScheduler(true);
    __builtin_unreachable();
}

// A fault the scheduler finds (no single thread at fault): deadlock, divergent barrier.
void blockFault(Worker& w, int code, const std::string& what) {
    Launch& L = *w.launch;
    std::lock_guard<std::mutex> lock(L.faultMutex);
    if (L.fault.code == 0) {
        L.fault.code = code;
        L.fault.what = what;
        memcpy(L.fault.block, w.block, sizeof w.block);
    }
    L.stop = true;
    w.aborted = true;
}

// "threads 0-31, 64 at attention.cu:393" for the threads of the block in a state.
std::string groupByState(Worker& w) {
    std::map<std::string, std::vector<int>> groups;
    for (int i = 0; i < w.n; i++) {
        Thread& t = w.threads[i];
        std::string where;
        switch (t.state) {
            case READY: where = "running"; break;
            case EXITED: where = "exited"; break;
            case AT_BARRIER: where = format("at __syncthreads %s:%d", t.file, t.line); break;
            case AT_SHUFFLE: where = format("at a warp shuffle %s:%d", t.file, t.line); break;
        }
        groups[where].push_back(i);
    }
    std::string out;
    for (auto& [where, ids] : groups) {
        std::string r;
        for (size_t i = 0; i < ids.size();) {
            size_t j = i;
            while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) j++;
            r += (r.empty() ? "" : ",") + (i == j ? std::to_string(ids[i]) : std::to_string(ids[i]) + "-" + std::to_string(ids[j]));
            i = j + 1;
        }
        out += (out.empty() ? "" : "; ") + std::string("threads ") + r + " " + where;
    }
    return out;
}

void resetShared(Worker& w) {
    // Poison what the previous block used; NaN-fill and open this block's dynamic bytes.
    uintptr_t used = std::max(w.staticNext, w.shared + w.dynamicBytes);
    if (used > w.shared) poison(w.shared, used - w.shared, kPoisonShared);
    w.statics.clear();
    w.dynamicBytes = w.launch->shape.shared;
    w.staticNext = w.shared + (w.dynamicBytes + kSharedRedzone + 15) / 16 * 16;
    unpoison(w.shared, w.dynamicBytes);
    memset((void*) w.shared, 0xFF, w.dynamicBytes);
    // The static arrays are placed as threads reach them; fill where they will go now, before any
    // fiber runs (under TSan a fill by the first thread there would race with the others).
    size_t span = std::min<size_t>(w.shared + kSharedWindow - w.staticNext,
                                   w.launch->kernel->desc->static_shared_bytes + 4096);
    unpoison(w.staticNext, span);
    memset((void*) w.staticNext, 0xFF, span);
    poison(w.staticNext, span, kPoisonShared);
    w.filledEnd = w.staticNext + span;
}

void runBlock(Worker& w, Launch& L, uint64_t linear) {
    const LaunchShape& s = L.shape;
    w.launch = &L;
    w.block[0] = (unsigned) (linear % s.grid[0]);
    w.block[1] = (unsigned) (linear / s.grid[0] % s.grid[1]);
    w.block[2] = (unsigned) (linear / ((uint64_t) s.grid[0] * s.grid[1]));
    const int n = (int) (s.block[0] * s.block[1] * s.block[2]);
    w.n = w.live = n;
    w.barrierWaiting = 0;
    w.aborted = false;
    while ((int) w.stacks.size() < n) w.stacks.push_back(newStack());
    if ((int) w.threads.size() < n) w.threads.resize(kMaxThreadsPerBlock);
    for (int i = 0; i < n; i++) {
        Thread& t = w.threads[i];
        t.worker = &w;
        t.linear = i;
        t.state = READY;
        t.view.threadIdx = {(unsigned) i % s.block[0], (unsigned) i / s.block[0] % s.block[1],
                            (unsigned) i / (s.block[0] * s.block[1])};
        t.view.blockIdx = {w.block[0], w.block[1], w.block[2]};
        t.view.blockDim = dim3(s.block[0], s.block[1], s.block[2]);
        t.view.gridDim = dim3(s.grid[0], s.grid[1], s.grid[2]);
#if defined(EMU_TSAN)
        if (!t.tsanFiber) t.tsanFiber = __tsan_create_fiber(0);
#endif
        prepareFiber(t, w.stacks[i]);
    }
    for (int k = 0; k < (n + 31) / 32; k++) {
        Warp& wp = w.warps[k];
        int lanes = std::min(32, n - 32 * k);
        wp.present = lanes == 32 ? 0xffffffffu : ((1u << lanes) - 1);
        wp.exited = wp.arrived = wp.mask = 0;
    }
    resetShared(w);
#if defined(EMU_TSAN)
    __tsan_release(&w.blockStart);
#endif
    w.order.resize(n);
    for (int i = 0; i < n; i++) w.order[i] = L.order == REVERSE ? n - 1 - i : i;
    w.rng = L.seed ^ (linear * 0xD1B54A32D192ED03ull);
    while (w.live > 0) {
        if (L.order == RANDOM) {
            for (int i = n - 1; i > 0; i--) std::swap(w.order[i], w.order[splitmix(w.rng) % (uint64_t) (i + 1)]);
        }
        bool ran = false;
        for (int i : w.order) {
            Thread& t = w.threads[i];
            if (t.state != READY) continue;
            resume(w, t);
            ran = true;
            if (w.aborted) return;
        }
        if (w.live == 0) break;
        if (w.barrierWaiting == w.live) {
            // Everyone still running waits at a barrier: it must be the same one.
            const char* file = nullptr;
            int line = 0;
            for (int i = 0; i < n; i++) {
                Thread& t = w.threads[i];
                if (t.state != AT_BARRIER) continue;
                if (file == nullptr) { file = t.file; line = t.line; }
                else if (t.line != line || strcmp(t.file, file) != 0) {
                    blockFault(w, CUDA_ERROR_LAUNCH_FAILED,
                               "divergent __syncthreads: the block's threads wait at different barriers (" + groupByState(w) + ")");
                    return;
                }
            }
            for (int i = 0; i < n; i++)
                if (w.threads[i].state == AT_BARRIER) w.threads[i].state = READY;
            w.barrierWaiting = 0;
            continue;
        }
        if (!ran) {
            blockFault(w, CUDA_ERROR_LAUNCH_FAILED, "deadlock: no thread of the block can go on (" + groupByState(w) + ")");
            return;
        }
    }
#if defined(EMU_TSAN)
    __tsan_acquire(&w.blockEnd);
#endif
}

}  // namespace

extern "C" __attribute__((visibility("hidden"), noreturn)) void emu_fiber_main(Thread* t) {
    Worker& w = *t->worker;
#if defined(EMU_ASAN)
    __sanitizer_finish_switch_fiber(nullptr, &w.mainStackBottom, &w.mainStackSize);
#endif
#if defined(EMU_TSAN)
    __tsan_acquire(&w.blockStart);
#endif
    w.launch->kernel->desc->invoke(w.launch->args);
    // Leaving: lanes of this warp may be waiting for it at a shuffle.
    Warp& wp = w.warps[t->linear / 32];
    unsigned bit = 1u << (t->linear % 32);
    wp.exited |= bit;
    t->state = EXITED;
    w.live--;
    if (wp.arrived != 0 && (wp.mask & bit)) {
        kernelFault(CUDA_ERROR_LAUNCH_FAILED,
                    format("thread exited while lanes of its warp wait for it at the shuffle at %s:%d (mask 0x%08x)",
                           wp.file, wp.line, wp.mask), nullptr);
    }
#if defined(EMU_TSAN)
    __tsan_release(&w.blockEnd);
#endif
    yieldToScheduler(true);
    __builtin_unreachable();
}

// =============================================================================== kernel-facing API

extern "C" {

emu_thread_view* emu_current_view() { return &t_thread->view; }

void emu_syncthreads(const char* file, int line) {
    Thread& t = *t_thread;
    Worker& w = *t.worker;
    t.state = AT_BARRIER;
    t.file = file;
    t.line = line;
    w.barrierWaiting++;
#if defined(EMU_TSAN)
    __tsan_release(&w.barrier);
#endif
    yieldToScheduler();
#if defined(EMU_TSAN)
    __tsan_acquire(&w.barrier);
#endif
}

unsigned long long emu_shfl(int kind, unsigned mask, unsigned long long value, int arg, int width,
                            const char* file, int line) {
    Thread& t = *t_thread;
    Worker& w = *t.worker;
    Warp& wp = w.warps[t.linear / 32];
    const int lane = t.linear % 32;
    const unsigned bit = 1u << lane;
    void* pc = __builtin_return_address(0);
    if (width < 1 || width > 32 || (width & (width - 1)) != 0)
        kernelFault(CUDA_ERROR_LAUNCH_FAILED, format("shuffle width %d at %s:%d is not a power of two <= 32", width, file, line), pc);
    if (!(mask & bit))
        kernelFault(CUDA_ERROR_LAUNCH_FAILED, format("lane %d calls the shuffle at %s:%d with a mask 0x%08x that leaves it out", lane, file, line, mask), pc);
    if (mask & ~wp.present)
        kernelFault(CUDA_ERROR_LAUNCH_FAILED, format("shuffle at %s:%d: mask 0x%08x names lanes absent from this warp (present 0x%08x)", file, line, mask, wp.present), pc);
    if (mask & wp.exited)
        kernelFault(CUDA_ERROR_LAUNCH_FAILED, format("shuffle at %s:%d: mask 0x%08x names lanes that have exited (0x%08x)", file, line, mask, wp.exited), pc);
    if (wp.arrived == 0) {
        wp.mask = mask;
        wp.kind = kind;
        wp.file = file;
        wp.line = line;
    } else if (wp.mask != mask || wp.kind != kind || wp.line != line || strcmp(wp.file, file) != 0) {
        kernelFault(CUDA_ERROR_LAUNCH_FAILED,
                    format("divergent warp: lane %d reaches the shuffle at %s:%d (mask 0x%08x) while lanes 0x%08x wait at %s:%d (mask 0x%08x)",
                           lane, file, line, mask, wp.arrived, wp.file, wp.line, wp.mask), pc);
    }
    wp.value[lane] = value;
    wp.arrived |= bit;
    if (wp.arrived != wp.mask) {
        t.state = AT_SHUFFLE;
        t.file = file;
        t.line = line;
        yieldToScheduler();
        return wp.result[lane];
    }
    // The last lane in: every lane's result, then release the others.
    for (int l = 0; l < 32; l++) {
        if (!(mask & (1u << l))) continue;
        const int base = l & ~(width - 1), sub = l & (width - 1);
        int src = l;
        switch (kind) {
            case emu_detail::SHFL_IDX: src = base + (arg & (width - 1)); break;
            case emu_detail::SHFL_UP: src = sub - arg < 0 ? l : l - arg; break;
            case emu_detail::SHFL_DOWN: src = sub + arg >= width ? l : l + arg; break;
            case emu_detail::SHFL_XOR: src = base + ((sub ^ arg) & (width - 1)); if (((sub ^ arg) & ~(width - 1)) != 0) src = l; break;
        }
        if (!(mask & (1u << src)))
            kernelFault(CUDA_ERROR_LAUNCH_FAILED,
                        format("shuffle at %s:%d: lane %d reads lane %d, which the mask 0x%08x leaves out (undefined on a GPU)", file, line, l, src, mask), pc);
        wp.result[l] = wp.value[src];
    }
    wp.arrived = 0;
    for (int l = 0; l < 32; l++) {
        if (l != lane && (mask & (1u << l))) w.threads[(t.linear / 32) * 32 + l].state = READY;
    }
    return wp.result[lane];
}

void emu_misaligned(const void* p, size_t alignment, int write) {
    kernelFault(CUDA_ERROR_MISALIGNED_ADDRESS,
                format("%s of a %zu-byte vector at 0x%llx, not %zu-byte aligned", write ? "write" : "read", alignment,
                       (unsigned long long) (uintptr_t) p, alignment), __builtin_return_address(0));
}

void emu_trap(const char* file, int line) {
    kernelFault(CUDA_ERROR_LAUNCH_FAILED, format("__trap() at %s:%d", file, line), __builtin_return_address(0));
}

void* emu_dynamic_shared(void) { return (void*) t_thread->worker->shared; }

unsigned emu_dynamic_shared_bytes(void) { return (unsigned) t_thread->worker->dynamicBytes; }

void* emu_static_shared(const void* key, size_t bytes, size_t align, const char* name) {
    Worker& w = *t_thread->worker;
    for (const StaticShared& s : w.statics)
        if (s.key == key) return (void*) s.at;
    align = std::max<size_t>(align, 16);
    uintptr_t at = (w.staticNext + align - 1) / align * align;
    if (at + bytes > w.shared + kSharedWindow)
        kernelFault(CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES, format("static __shared__ %s of %zu bytes does not fit the block's shared memory", name, bytes),
                    __builtin_return_address(0));
    w.statics.push_back({key, at, bytes, name});
    w.staticNext = at + bytes + kSharedRedzone;
    unpoison(at, bytes);
    if (at + bytes > w.filledEnd) memset((void*) at, 0xFF, bytes);   // beyond what resetShared filled
    return (void*) at;
}

}  // extern "C"

// =============================================================================== access checks

namespace {

// Where an arena address is, in words: a device allocation, or the block's shared memory.
std::string describeShared(Worker& w, uintptr_t p, size_t n) {
    if (p >= w.shared && p < w.shared + w.dynamicBytes + kSharedRedzone) {
        if (p >= w.shared + w.dynamicBytes)
            return format("%zu bytes past the end of the block's %zu bytes of dynamic shared memory", (size_t) (p - w.shared - w.dynamicBytes), w.dynamicBytes);
        return format("runs past the end of the block's %zu bytes of dynamic shared memory (offset %zu, %zu bytes)", w.dynamicBytes, (size_t) (p - w.shared), n);
    }
    for (const StaticShared& s : w.statics) {
        if (p >= s.at + s.bytes && p < s.at + s.bytes + kSharedRedzone)
            return format("%zu bytes past the end of __shared__ %s (%zu bytes)", (size_t) (p - s.at - s.bytes), s.name, s.bytes);
        if (p < s.at && p + kSharedRedzone >= s.at)
            return format("%zu bytes before __shared__ %s (%zu bytes)", (size_t) (s.at - p), s.name, s.bytes);
        if (p >= s.at && p < s.at + s.bytes)
            return format("runs past the end of __shared__ %s (%zu bytes)", s.name, s.bytes);
    }
    return format("offset %zu of the block's shared memory window, outside its dynamic bytes (%zu) and static arrays", (size_t) (p - w.shared), w.dynamicBytes);
}

}  // namespace

std::string describeAddress(uintptr_t p, size_t n) {
    if (p == 0) return "a null pointer";
    if (!inArena(p)) return format("0x%llx is not device memory (a host pointer or garbage)", (unsigned long long) p);
    if (t_worker && p >= t_worker->shared && p < t_worker->shared + kSharedWindow)
        return format("0x%llx: ", (unsigned long long) p) + describeShared(*t_worker, p, n);
    Arena& a = arena();
    std::lock_guard<std::mutex> lock(a.mutex);
    const Allocation* al = allocationAtOrBefore(a, p);
    auto next = a.allocations.upper_bound(p);
    std::string where = format("0x%llx (%zu bytes): ", (unsigned long long) p, n);
    if (al && p < al->base + al->size) {
        if (!al->live) return where + format("inside freed allocation #%llu (%zu bytes at 0x%llx)", (unsigned long long) al->id, al->size, (unsigned long long) al->base);
        return where + format("runs %zu bytes past the end of allocation #%llu (%zu bytes at 0x%llx)",
                              (size_t) (p + n - al->base - al->size), (unsigned long long) al->id, al->size, (unsigned long long) al->base);
    }
    std::string s;
    if (al) s = format("%zu bytes past the end of %sallocation #%llu (%zu bytes at 0x%llx)", (size_t) (p - al->base - al->size),
                       al->live ? "" : "freed ", (unsigned long long) al->id, al->size, (unsigned long long) al->base);
    if (next != a.allocations.end() && (!al || next->first - p < p - (al->base + al->size)))
        s = format("%zu bytes before %sallocation #%llu (%zu bytes at 0x%llx)", (size_t) (next->first - p),
                   next->second.live ? "" : "freed ", (unsigned long long) next->second.id, next->second.size, (unsigned long long) next->first);
    return where + (s.empty() ? "no allocation there" : s);
}

#if !defined(EMU_ASAN) && !defined(EMU_TSAN)
namespace {
uintptr_t g_base = 0;

__attribute__((noinline)) void badAccess(uintptr_t p, size_t n, bool write, void* pc, int code) {
    std::string what = format("%s of %zu bytes at ", write ? "write" : "read", n);
    if (code == CUDA_ERROR_MISALIGNED_ADDRESS) what += format("0x%llx, not %zu-byte aligned", (unsigned long long) p, n);
    else what += describeAddress(p, n);
    kernelFault(code, what, pc);
}

inline void check(uintptr_t p, size_t n, bool write, void* pc) {
    uintptr_t off = p - g_base;
    if (off >= kArenaBytes) {
        if (p < 65536) badAccess(p, n, write, pc, CUDA_ERROR_ILLEGAL_ADDRESS);
        return;   // the thread's stack, its parameters, the module's constants
    }
    if (p + n > g_committed.load(std::memory_order_acquire)) badAccess(p, n, write, pc, CUDA_ERROR_ILLEGAL_ADDRESS);
    if ((n == 2 || n == 4 || n == 8 || n == 16) && (p & (n - 1)) != 0) badAccess(p, n, write, pc, CUDA_ERROR_MISALIGNED_ADDRESS);
    const uint8_t* sh = arena().shadow;
    for (uintptr_t g = off >> 3; g <= (off + n - 1) >> 3; g++) {
        uint8_t s = sh[g];
        if (s == 0) continue;
        uintptr_t last = std::min<uintptr_t>(off + n - 1, g * 8 + 7) - g * 8;
        if (s >= 0x80 || last >= s) badAccess(p, n, write, pc, CUDA_ERROR_ILLEGAL_ADDRESS);
    }
}
}  // namespace

#define EMU_CHECK(N)                                                                                   \
    extern "C" void __asan_load##N##_noabort(uintptr_t p) { check(p, N, false, __builtin_return_address(0)); } \
    extern "C" void __asan_store##N##_noabort(uintptr_t p) { check(p, N, true, __builtin_return_address(0)); }
EMU_CHECK(1)
EMU_CHECK(2)
EMU_CHECK(4)
EMU_CHECK(8)
EMU_CHECK(16)
extern "C" void __asan_loadN_noabort(uintptr_t p, size_t n) { if (n) check(p, n, false, __builtin_return_address(0)); }
extern "C" void __asan_storeN_noabort(uintptr_t p, size_t n) { if (n) check(p, n, true, __builtin_return_address(0)); }
extern "C" void __asan_handle_no_return() {}
#endif

// =============================================================================== workers

namespace {

struct Pool {
    std::mutex mutex;
    std::condition_variable wake, done;
    std::function<void(Worker&)> job;
    uint64_t generation = 0;
    int busy = 0;
    std::vector<std::unique_ptr<Worker>> workers;
    std::mutex launchMutex;   // one launch (or parallel job) at a time

    Pool() {
        int n = emu::workers();
        Arena& a = arena();
        for (int i = 0; i < n; i++) {
            auto w = std::make_unique<Worker>();
            w->index = i;
            {
                std::lock_guard<std::mutex> lock(a.mutex);
                w->shared = carve(a, kSharedWindow);
            }
            if (w->shared == 0) {
                note("cannot reserve shared memory for worker %d", i);
                abort();
            }
            workers.push_back(std::move(w));
        }
        for (int i = 0; i < n; i++) {
            Worker* w = workers[i].get();
            std::thread([this, w] { loop(*w); }).detach();
        }
    }

    void loop(Worker& w) {
        t_worker = &w;
#if defined(EMU_TSAN)
        w.tsanMain = __tsan_get_current_fiber();
#endif
        uint64_t seen = 0;
        for (;;) {
            std::function<void(Worker&)> j;
            {
                std::unique_lock<std::mutex> lock(mutex);
                wake.wait(lock, [&] { return generation != seen; });
                seen = generation;
                j = job;
            }
            j(w);
            std::lock_guard<std::mutex> lock(mutex);
            if (--busy == 0) done.notify_all();
        }
    }

    void run(std::function<void(Worker&)> f) {
        std::unique_lock<std::mutex> lock(mutex);
        job = std::move(f);
        busy = (int) workers.size();
        generation++;
        wake.notify_all();
        done.wait(lock, [&] { return busy == 0; });
        job = nullptr;
    }
};

Pool& pool() {
    static Pool* p = new Pool();
    return *p;
}

}  // namespace

void parallelFor(size_t n, const std::function<void(size_t, size_t)>& f) {
    if (n == 0) return;
    Pool& p = pool();
    std::lock_guard<std::mutex> one(p.launchMutex);
    const size_t chunk = std::max<size_t>(1, n / (p.workers.size() * 4));
    std::atomic<size_t> next{0};
    p.run([&](Worker&) {
        for (;;) {
            size_t b = next.fetch_add(chunk);
            if (b >= n) return;
            f(b, std::min(n, b + chunk));
        }
    });
}

// =============================================================================== modules

namespace {
std::mutex g_coverageMutex;
std::map<std::string, uint64_t> g_coverage;

void writeCoverage() {
    const char* path = getenv("VIT4J_EMU_COVERAGE");
    std::lock_guard<std::mutex> lock(g_coverageMutex);
    if (!path || !*path || g_coverage.empty()) return;
    std::string text;
    for (auto& [name, count] : g_coverage) text += name + "\t" + std::to_string(count) + "\n";
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) {
        note("cannot write launch coverage to %s: %s", path, strerror(errno));
        return;
    }
    flock(fd, LOCK_EX);
    ssize_t w = write(fd, text.data(), text.size());
    (void) w;
    flock(fd, LOCK_UN);
    close(fd);
    g_coverage.clear();
}

struct CoverageAtExit {
    ~CoverageAtExit() { writeCoverage(); }
} g_coverageAtExit;

}  // namespace

int loadModule(const void* image, Module** out, std::string* error) {
    const unsigned char* b = (const unsigned char*) image;
    std::string path;
    static const char kText[] = "// vit4j emulator module: ";
    if (b[0] == 0x7f && b[1] == 'E' && b[2] == 'L' && b[3] == 'F') {
        // A "CUBIN": the shared object itself. Its size: the end of the section header table.
        const unsigned char* e = b;
        uint64_t shoff;
        uint16_t shentsize, shnum;
        memcpy(&shoff, e + 0x28, 8);
        memcpy(&shentsize, e + 0x3A, 2);
        memcpy(&shnum, e + 0x3C, 2);
        size_t size = shoff + (size_t) shentsize * shnum;
        uint64_t h = 1469598103934665603ull;
        for (size_t i = 0; i < size; i++) h = (h ^ b[i]) * 1099511628211ull;
        std::string dir = cacheDir() + "/loaded";
        std::string mk = "mkdir -p '" + dir + "'";
        if (system(mk.c_str()) != 0) {
            *error = "cannot create " + dir;
            return CUDA_ERROR_INVALID_IMAGE;
        }
        path = dir + format("/module-%016llx.so", (unsigned long long) h);
        struct stat st;
        if (stat(path.c_str(), &st) != 0 || (size_t) st.st_size != size) {
            std::string tmp = path + format(".%d.tmp", (int) getpid());
            FILE* f = fopen(tmp.c_str(), "wb");
            if (!f || fwrite(b, 1, size, f) != size || fclose(f) != 0) {
                *error = "cannot write " + tmp;
                return CUDA_ERROR_INVALID_IMAGE;
            }
            rename(tmp.c_str(), path.c_str());
        }
    } else if (strncmp((const char*) b, kText, sizeof kText - 1) == 0) {
        // The "PTX" form names the compiled object.
        const char* p = (const char*) b + sizeof kText - 1;
        const char* end = strchr(p, '\n');
        path.assign(p, end ? end : p + strlen(p));
    } else {
        *error = "the image is neither an emulator module nor its PTX form (a real CUBIN or PTX cannot run on the emulator)";
        return CUDA_ERROR_INVALID_IMAGE;
    }
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        *error = std::string("dlopen: ") + dlerror();
        return CUDA_ERROR_INVALID_IMAGE;
    }
    using Table = const emu_kernel_desc* (*)(int*);
    Table table = (Table) dlsym(h, "vit4j_emu_module_kernels");
    if (!table) {
        *error = path + " has no kernel table";
        dlclose(h);
        return CUDA_ERROR_INVALID_IMAGE;
    }
#if !defined(EMU_ASAN) && !defined(EMU_TSAN)
    g_base = arena().base;
#endif
    int n = 0;
    const emu_kernel_desc* d = table(&n);
    Module* m = new Module();
    m->handle = h;
    m->path = path;
    for (int i = 0; i < n; i++) {
        int dynLimit = kDefaultSharedLimit - (int) d[i].static_shared_bytes;
        m->kernels.push_back(new Kernel{&d[i], m, std::max(0, dynLimit)});
    }
    *out = m;
    return CUDA_SUCCESS;
}

void unloadModule(Module* m) {
    for (Kernel* k : m->kernels) delete k;
    dlclose(m->handle);
    delete m;
}

// =============================================================================== launch

namespace {

bool readable(const void* p, size_t n) {
    if (p == nullptr) return false;
    char buf[16];
    struct iovec local{buf, std::min(n, sizeof buf)}, remote{(void*) p, std::min(n, sizeof buf)};
    return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t) local.iov_len;
}

std::string paramName(const emu_kernel_desc* d, int i) {
    std::string decls = d->param_decls;
    int at = 0;
    size_t start = 0;
    int level = 0;
    for (size_t j = 0; j <= decls.size(); j++) {
        if (j < decls.size() && (decls[j] == '(' || decls[j] == '<')) level++;
        if (j < decls.size() && (decls[j] == ')' || decls[j] == '>')) level--;
        if (j == decls.size() || (decls[j] == ',' && level == 0)) {
            if (at == i) {
                std::string s = decls.substr(start, j - start);
                while (!s.empty() && s[0] == ' ') s.erase(0, 1);
                return s;
            }
            at++;
            start = j + 1;
        }
    }
    return format("parameter %d", i);
}

std::string symbolize(void* pc) {
    if (!pc) return "";
    Dl_info info{};
    if (!dladdr(pc, &info) || !info.dli_fname) return "";
    uintptr_t off = (uintptr_t) pc - (uintptr_t) info.dli_fbase - 1;
    std::string cmd = format("addr2line -C -f -i -e '%s' 0x%llx 2>/dev/null", info.dli_fname, (unsigned long long) off);
    FILE* f = popen(cmd.c_str(), "r");
    if (!f) return "";
    std::string out, fn;
    char line[1024];
    int i = 0;
    while (fgets(line, sizeof line, f)) {
        std::string s = line;
        if (!s.empty() && s.back() == '\n') s.pop_back();
        if (i++ % 2 == 0) { fn = s; continue; }
        size_t slash = s.rfind('/');
        if (slash != std::string::npos) s = s.substr(slash + 1);
        size_t paren = s.find(" (");
        if (paren != std::string::npos) s = s.substr(0, paren);
        out += (out.empty() ? "" : " <- ") + s + " (" + fn + ")";
    }
    pclose(f);
    return out;
}

}  // namespace

int launch(Kernel* k, const LaunchShape& s, void** params, std::string* why) {
    const emu_kernel_desc* d = k->desc;
    const char* name = d->name;
    for (int i = 0; i < 3; i++) {
        if (s.grid[i] == 0 || s.block[i] == 0) {
            *why = format("%s: grid (%u,%u,%u) and block (%u,%u,%u) need every dimension >= 1", name, s.grid[0], s.grid[1], s.grid[2], s.block[0], s.block[1], s.block[2]);
            return CUDA_ERROR_INVALID_VALUE;
        }
    }
    if (s.grid[1] > 65535 || s.grid[2] > 65535 || s.grid[0] > 0x7fffffffu) {
        *why = format("%s: grid (%u,%u,%u) exceeds (2^31-1, 65535, 65535)", name, s.grid[0], s.grid[1], s.grid[2]);
        return CUDA_ERROR_INVALID_VALUE;
    }
    const uint64_t threads = (uint64_t) s.block[0] * s.block[1] * s.block[2];
    if (s.block[0] > 1024 || s.block[1] > 1024 || s.block[2] > 64 || threads > (uint64_t) kMaxThreadsPerBlock) {
        *why = format("%s: block (%u,%u,%u) exceeds 1024 threads or (1024, 1024, 64)", name, s.block[0], s.block[1], s.block[2]);
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (d->max_threads > 0 && threads > (uint64_t) d->max_threads) {
        *why = format("%s: block of %llu threads exceeds its __launch_bounds__ of %d", name, (unsigned long long) threads, d->max_threads);
        return CUDA_ERROR_INVALID_VALUE;
    }
    if ((int) s.shared > k->maxDynamicShared) {
        *why = format("%s: %u bytes of dynamic shared memory exceed the kernel's limit of %d (48 KiB less %zu static, unless raised "
                      "with CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES)", name, s.shared, k->maxDynamicShared, d->static_shared_bytes);
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (d->num_params > 0 && params == nullptr) {
        *why = format("%s takes %d parameters; kernelParams is NULL", name, d->num_params);
        return CUDA_ERROR_INVALID_VALUE;
    }
    // The parameter values, copied now as the driver does.
    std::vector<unsigned char> buffer(64 + 16 * (size_t) d->num_params);
    std::vector<void*> args(d->num_params);
    size_t offset = 0;
    std::string wild;
    for (int i = 0; i < d->num_params; i++) {
        size_t sz = d->param_sizes[i], al = std::max<size_t>(d->param_aligns[i], 1);
        if (!readable(params[i], sz)) {
            *why = format("%s: kernelParams[%d] (%s) is not a readable host address (%p): fewer arguments than the kernel's %d?",
                          name, i, paramName(d, i).c_str(), params[i], d->num_params);
            return CUDA_ERROR_INVALID_VALUE;
        }
        offset = (offset + al - 1) / al * al;
        if (offset + sz > buffer.size()) buffer.resize(offset + sz + 64);
        memcpy(buffer.data() + offset, params[i], sz);
        args[i] = (void*) offset;
        offset += sz;
        if (d->param_kinds[i] == 'p') {
            uintptr_t v;
            memcpy(&v, params[i], sizeof v);
            if (v != 0 && !inArena(v) && wild.empty())
                wild = format("argument %d (%s) = 0x%llx is not a device pointer", i, paramName(d, i).c_str(), (unsigned long long) v);
        }
    }
    for (int i = 0; i < d->num_params; i++) args[i] = buffer.data() + (size_t) args[i];
    {
        std::lock_guard<std::mutex> lock(g_coverageMutex);
        g_coverage[name]++;
    }
    const std::string shape = format("%s grid (%u,%u,%u) block (%u,%u,%u) shared %u B", name, s.grid[0], s.grid[1], s.grid[2],
                                     s.block[0], s.block[1], s.block[2], s.shared);
    if (!wild.empty()) {
        // A GPU would fault at the first dereference; the emulator may not let the kernel touch host memory.
        setSticky(CUDA_ERROR_ILLEGAL_ADDRESS, "an illegal memory access was encountered [emulator: " + shape + ": " + wild + "]");
        return CUDA_SUCCESS;
    }
    Launch L;
    uint64_t seed = 0;
    L.order = readSchedule(&seed);
    L.kernel = k;
    L.shape = s;
    L.args = args.data();
    L.blocks = (uint64_t) s.grid[0] * s.grid[1] * s.grid[2];
    L.seed = seed + g_launchCount.fetch_add(1);
    Pool& p = pool();
    {
        std::lock_guard<std::mutex> one(p.launchMutex);
        p.run([&L](Worker& w) {
            while (!L.stop) {
                uint64_t b = L.next.fetch_add(1);
                if (b >= L.blocks) break;
                runBlock(w, L, b);
            }
        });
    }
    if (L.fault.code != 0) {
        std::string where = symbolize(L.fault.pc);
        std::string text = L.fault.code == CUDA_ERROR_ILLEGAL_ADDRESS ? "an illegal memory access was encountered"
                         : L.fault.code == CUDA_ERROR_MISALIGNED_ADDRESS ? "misaligned address"
                         : L.fault.code == CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES ? "too many resources requested for launch"
                         : "unspecified launch failure";
        std::string who = L.fault.pc ? format(" thread (%u,%u,%u)", L.fault.thread[0], L.fault.thread[1], L.fault.thread[2]) : "";
        setSticky(L.fault.code, text + " [emulator: " + shape + ", block (" + std::to_string(L.fault.block[0]) + "," +
                                    std::to_string(L.fault.block[1]) + "," + std::to_string(L.fault.block[2]) + ")" + who + ": " +
                                    L.fault.what + (where.empty() ? "" : ", at " + where) + "]");
    }
    return CUDA_SUCCESS;
}

void flushCoverage() { writeCoverage(); }

}  // namespace emu
