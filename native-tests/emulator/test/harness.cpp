// The harness's machinery: see harness.h.
#include "harness.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

namespace kt {

std::string format(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    va_list copy;
    va_copy(copy, ap);
    const int n = std::vsnprintf(nullptr, 0, fmt, copy);
    va_end(copy);
    std::string s(n > 0 ? static_cast<size_t>(n) : 0, '\0');
    if (n > 0) {
        std::vsnprintf(&s[0], s.size() + 1, fmt, ap);
    }
    va_end(ap);
    return s;
}

// ============================================================================ errors

std::string describe(CUresult result) {
    const char* name = nullptr;
    const char* text = nullptr;
    // Either lookup may itself fail for an unknown code; say so rather than print nothing.
    const bool haveName = cuGetErrorName(result, &name) == CUDA_SUCCESS && name != nullptr;
    const bool haveText = cuGetErrorString(result, &text) == CUDA_SUCCESS && text != nullptr;
    return format("%s (%s)", haveName ? name : format("CUresult %d", result).c_str(),
                  haveText ? text : "cuGetErrorString knows no text for it");
}

void check(CUresult result, const std::string& call) {
    if (result != CUDA_SUCCESS) {
        throw CudaError(call + " failed: " + describe(result));
    }
}

void check_nvrtc(nvrtcResult result, const std::string& call) {
    if (result != NVRTC_SUCCESS) {
        const char* text = nvrtcGetErrorString(result);
        throw CudaError(format("%s failed: nvrtcResult %d (%s)", call.c_str(), result, text ? text : "?"));
    }
}

// ============================================================================ random inputs

uint64_t Rng::next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

double Rng::uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }

double Rng::uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

double Rng::normal() {
    if (haveSpare_) {
        haveSpare_ = false;
        return spare_;
    }
    double u1 = uniform();
    while (u1 <= 0.0) {
        u1 = uniform();
    }
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double a = 6.283185307179586 * u2;
    spare_ = r * std::sin(a);
    haveSpare_ = true;
    return r * std::cos(a);
}

int Rng::below(int n) { return static_cast<int>(uniform() * n); }

std::vector<float> Rng::normal(size_t n, double sigma, double mean) {
    std::vector<float> v(n);
    for (auto& x : v) {
        x = static_cast<float>(mean + sigma * normal());
    }
    return v;
}

std::vector<float> Rng::uniform(size_t n, double lo, double hi) {
    std::vector<float> v(n);
    for (auto& x : v) {
        x = static_cast<float>(uniform(lo, hi));
    }
    return v;
}

uint64_t seed_of(const std::string& kernel, std::initializer_list<long long> shape) {
    uint64_t h = 0xcbf29ce484222325ULL;   // FNV-1a over the name, then the dims mixed in
    for (unsigned char c : kernel) {
        h = (h ^ c) * 0x100000001b3ULL;
    }
    for (long long d : shape) {
        h = (h ^ static_cast<uint64_t>(d)) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    return h;
}

// ============================================================================ geometry

unsigned ew_grid(long long n) {
    return static_cast<unsigned>(std::max(1LL, std::min(cdiv(n, kBlock), 65535LL)));
}

unsigned row_grid(long long rows) { return static_cast<unsigned>(std::max(1LL, cdiv(rows, kBlock / 32))); }

// ============================================================================ device

Device& device() {
    static Device d;
    return d;
}

std::vector<std::string> entry_points_of(const std::string& source) {
    static const std::regex re(
        "extern\\s+\"C\"\\s+__global__\\s+(?:__launch_bounds__\\s*\\([^)]*\\)\\s+)?void\\s+"
        "(?:__launch_bounds__\\s*\\([^)]*\\)\\s+)?(\\w+)\\s*\\(");
    std::vector<std::string> names;
    for (auto it = std::sregex_iterator(source.begin(), source.end(), re); it != std::sregex_iterator(); ++it) {
        names.push_back((*it)[1].str());
    }
    return names;
}

void Device::open() {
    check(cuInit(0), "cuInit(0)");
    int count = 0;
    check(cuDeviceGetCount(&count), "cuDeviceGetCount");
    if (count < 1) {
        throw CudaError("cuDeviceGetCount reports no device");
    }
    check(cuDeviceGet(&device_, 0), "cuDeviceGet(0)");
    char name[256] = {0};
    check(cuDeviceGetName(name, sizeof name - 1, device_), "cuDeviceGetName");
    int major = 0, minor = 0;
    check(cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device_),
          "cuDeviceGetAttribute(COMPUTE_CAPABILITY_MAJOR)");
    check(cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device_),
          "cuDeviceGetAttribute(COMPUTE_CAPABILITY_MINOR)");
    check(cuDevicePrimaryCtxRetain(&context_, device_), "cuDevicePrimaryCtxRetain(device 0)");
    open_ = true;
    check(cuCtxSetCurrent(context_), "cuCtxSetCurrent(primary context)");
    check(cuStreamCreate(&stream_, 0), "cuStreamCreate");
    name_ = format("%s, sm_%d%d", name, major, minor);
    // KernelLibrary.OPTIONS plus the device's own architecture (CUBIN, as KernelLibrary emits
    // where NVRTC supports the architecture; sm_90 on the H100/H200 and on the emulator).
    options_ = {"--std=c++17", "--fmad=true", "-default-device", format("--gpu-architecture=sm_%d%d", major, minor)};
}

bool Device::load(const std::string& dir, const std::string& file) {
    const std::string path = dir + "/" + file;
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    if (!in || text.str().empty()) {
        failedFiles_[file] = "cannot read " + path;
        std::printf("# cannot read %s\n", path.c_str());
        return false;
    }
    const std::string source = text.str();
    const std::vector<std::string> kernels = entry_points_of(source);
    for (const auto& k : kernels) {
        entryPoints_.push_back(k);
        kernelFile_[k] = file;
    }
    nvrtcProgram program = nullptr;
    try {
        // Every kernels/*.cuh as a header source, as KernelLibrary passes them.
        std::vector<std::string> headerNames, headerTexts;
        for (const auto& entry : std::filesystem::directory_iterator(dir)) {
            if (entry.path().extension() != ".cuh") continue;
            std::ifstream h(entry.path(), std::ios::binary);
            std::stringstream ht;
            ht << h.rdbuf();
            headerNames.push_back(entry.path().filename().string());
            headerTexts.push_back(ht.str());
        }
        std::vector<const char*> names, texts;
        for (size_t i = 0; i < headerNames.size(); i++) {
            names.push_back(headerNames[i].c_str());
            texts.push_back(headerTexts[i].c_str());
        }
        check_nvrtc(nvrtcCreateProgram(&program, source.c_str(), file.c_str(), static_cast<int>(names.size()),
                                       texts.data(), names.data()),
                    "nvrtcCreateProgram(" + file + ")");
        std::vector<const char*> opts;
        for (const auto& o : options_) {
            opts.push_back(o.c_str());
        }
        const nvrtcResult compiled = nvrtcCompileProgram(program, static_cast<int>(opts.size()), opts.data());
        size_t logSize = 0;
        check_nvrtc(nvrtcGetProgramLogSize(program, &logSize), "nvrtcGetProgramLogSize(" + file + ")");
        std::string log(logSize, '\0');
        if (logSize > 0) {
            check_nvrtc(nvrtcGetProgramLog(program, &log[0]), "nvrtcGetProgramLog(" + file + ")");
            log.resize(std::strlen(log.c_str()));
        }
        if (compiled != NVRTC_SUCCESS) {
            std::printf("# NVRTC log of %s:\n%s\n", file.c_str(), log.c_str());
            check_nvrtc(compiled, "nvrtcCompileProgram(" + file + ")");
        } else if (log.find_first_not_of(" \t\r\n") != std::string::npos) {
            std::printf("# NVRTC warnings for %s:\n%s\n", file.c_str(), log.c_str());
        }
        size_t size = 0;
        check_nvrtc(nvrtcGetCUBINSize(program, &size), "nvrtcGetCUBINSize(" + file + ")");
        std::vector<char> cubin(size);
        check_nvrtc(nvrtcGetCUBIN(program, cubin.data()), "nvrtcGetCUBIN(" + file + ")");
        check_nvrtc(nvrtcDestroyProgram(&program), "nvrtcDestroyProgram(" + file + ")");
        program = nullptr;
        CUmodule module = nullptr;
        check(cuModuleLoadData(&module, cubin.data()), "cuModuleLoadData(" + file + ")");
        modules_.push_back(module);
        for (const auto& k : kernels) {
            CUfunction f = nullptr;
            check(cuModuleGetFunction(&f, module, k.c_str()), "cuModuleGetFunction(" + k + ")");
            functions_[k] = f;
        }
        return true;
    } catch (const CudaError& e) {
        if (program != nullptr) {
            nvrtcDestroyProgram(&program);   // best effort: the error that matters is already in e
        }
        failedFiles_[file] = e.what();
        std::printf("# %s unusable: %s\n", file.c_str(), e.what());
        return false;
    }
}

CUfunction Device::function(const std::string& kernel) const {
    auto f = functions_.find(kernel);
    if (f != functions_.end()) {
        return f->second;
    }
    auto file = kernelFile_.find(kernel);
    if (file != kernelFile_.end()) {
        auto why = failedFiles_.find(file->second);
        throw CudaError("kernel " + kernel + " unavailable: " +
                        (why != failedFiles_.end() ? why->second : std::string("its module did not load")));
    }
    throw HarnessError("no kernel source read defines an entry point " + kernel);
}

int Device::static_shared(const std::string& kernel) {
    auto it = staticShared_.find(kernel);
    if (it != staticShared_.end()) {
        return it->second;
    }
    int bytes = 0;
    check(cuFuncGetAttribute(&bytes, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, function(kernel)),
          "cuFuncGetAttribute(" + kernel + ", SHARED_SIZE_BYTES)");
    staticShared_[kernel] = bytes;
    return bytes;
}

bool Device::usable(std::string* why) {
    try {
        check(cuCtxSynchronize(), "cuCtxSynchronize");
        DeviceBuffer probe(Elem::I32, 1, 0);
        const int v = 0x5eed;
        int back = 0;
        probe.upload(&v);
        probe.download(&back);
        probe.free();
        if (back != v) {
            *why = "a 4-byte round trip through device memory came back changed";
            return false;
        }
        return true;
    } catch (const std::exception& e) {
        *why = e.what();
        return false;
    }
}

bool Device::close() {
    bool ok = true;
    auto attempt = [&ok](CUresult r, const std::string& call) {
        if (r != CUDA_SUCCESS) {
            std::printf("# teardown: %s failed: %s\n", call.c_str(), describe(r).c_str());
            ok = false;
        }
    };
    for (CUmodule m : modules_) {
        attempt(cuModuleUnload(m), "cuModuleUnload");
    }
    modules_.clear();
    functions_.clear();
    if (stream_ != nullptr) {
        attempt(cuStreamDestroy_v2(stream_), "cuStreamDestroy_v2");
        stream_ = nullptr;
    }
    if (open_) {
        attempt(cuDevicePrimaryCtxRelease_v2(device_), "cuDevicePrimaryCtxRelease_v2");
        open_ = false;
    }
    return ok;
}

// ============================================================================ buffers

size_t elem_size(Elem e) {
    switch (e) {
        case Elem::F32:
        case Elem::I32:
            return 4;
        default:
            return 8;
    }
}

DeviceBuffer::DeviceBuffer(Elem elem, size_t count, size_t misalign)
    : elem_(elem), count_(count), misalign_(misalign) {
    if (count == 0) {
        throw HarnessError("a device buffer of 0 elements (cuMemAlloc of 0 bytes fails on a GPU)");
    }
    const size_t total = misalign + bytes();
    check(cuMemAlloc_v2(&base_, total), format("cuMemAlloc_v2(%zu bytes)", total));
    if (base_ % 256 != 0) {
        // The misaligned runs rely on it, and so does every float4 kernel on a GPU.
        throw CudaError(format("cuMemAlloc_v2(%zu bytes) returned 0x%llx, not 256-byte aligned", total,
                               static_cast<unsigned long long>(base_)));
    }
}

DeviceBuffer::~DeviceBuffer() {
    if (base_ != 0) {
        cuMemFree_v2(base_);   // unwinding after an error: that error is what gets reported
    }
}

void DeviceBuffer::upload(const void* host) {
    check(cuMemcpyHtoD_v2(ptr(), host, bytes()), format("cuMemcpyHtoD_v2(%zu bytes)", bytes()));
}

void DeviceBuffer::download(void* host) const {
    check(cuMemcpyDtoH_v2(host, ptr(), bytes()), format("cuMemcpyDtoH_v2(%zu bytes)", bytes()));
}

void DeviceBuffer::free() {
    if (base_ != 0) {
        const CUdeviceptr p = base_;
        base_ = 0;
        check(cuMemFree_v2(p), "cuMemFree_v2");
    }
}

// ============================================================================ launch

Launch::Launch(const std::string& kernel) : kernel_(kernel) {}

Launch& Launch::grid(unsigned x, unsigned y, unsigned z) {
    grid_[0] = x;
    grid_[1] = y;
    grid_[2] = z;
    return *this;
}

Launch& Launch::block(unsigned x, unsigned y, unsigned z) {
    block_[0] = x;
    block_[1] = y;
    block_[2] = z;
    return *this;
}

Launch& Launch::shared(unsigned bytes) {
    shared_ = bytes;
    return *this;
}

std::string Launch::describe() const {
    return format("%s, grid %ux%ux%u, block %ux%ux%u, shared %u B", kernel_.c_str(), grid_[0], grid_[1], grid_[2],
                  block_[0], block_[1], block_[2], shared_);
}

void Launch::go() {
    Device& d = device();
    CUfunction f = d.function(kernel_);
    if (shared_ > 0 && shared_ + static_cast<unsigned>(d.static_shared(kernel_)) > 48 * 1024) {
        // As KernelLaunch.run: beyond 48 KiB the kernel must opt in to more dynamic shared memory.
        check(cuFuncSetAttribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, static_cast<int>(shared_)),
              format("cuFuncSetAttribute(%s, MAX_DYNAMIC_SHARED_SIZE_BYTES, %u)", kernel_.c_str(), shared_));
    }
    std::vector<void*> params(args_.size());
    for (size_t i = 0; i < args_.size(); ++i) {
        params[i] = &args_[i];
    }
    check(cuLaunchKernel(f, grid_[0], grid_[1], grid_[2], block_[0], block_[1], block_[2], shared_, d.stream(),
                         params.data(), nullptr),
          "cuLaunchKernel(" + describe() + ")");
    // Synchronise here so that a fault names this launch, not the next copy.
    check(cuStreamSynchronize(d.stream()), "cuStreamSynchronize after " + describe());
}

// ============================================================================ run

Run::~Run() = default;

DeviceBuffer& Run::upload(Elem e, size_t count, const void* host) {
    buffers_.push_back(std::make_unique<DeviceBuffer>(e, count, misalign_));
    buffers_.back()->upload(host);
    return *buffers_.back();
}

namespace {
double element_as_double(Elem e, const unsigned char* p) {
    switch (e) {
        case Elem::F32: {
            float v;
            std::memcpy(&v, p, 4);
            return v;
        }
        case Elem::F64: {
            double v;
            std::memcpy(&v, p, 8);
            return v;
        }
        case Elem::I32: {
            int v;
            std::memcpy(&v, p, 4);
            return v;
        }
        case Elem::I64: {
            long long v;
            std::memcpy(&v, p, 8);
            return static_cast<double>(v);
        }
        case Elem::U64: {
            unsigned long long v;
            std::memcpy(&v, p, 8);
            return static_cast<double>(v);
        }
    }
    return 0;
}
}  // namespace

void Run::result(const std::string& name, const DeviceBuffer& b) {
    result(name, b, Slice{1, b.count(), 0, b.count()});
}

void Run::result(const std::string& name, const DeviceBuffer& b, const Slice& s) {
    if (s.col0 + s.ncols > s.stride || s.rows * s.stride > b.count()) {
        throw HarnessError("result slice " + name + " exceeds its buffer");
    }
    std::vector<unsigned char> all(b.bytes());
    b.download(all.data());
    const size_t es = elem_size(b.elem());
    Result r;
    r.elem = b.elem();
    r.raw.reserve(s.rows * s.ncols * es);
    r.values.reserve(s.rows * s.ncols);
    for (size_t row = 0; row < s.rows; ++row) {
        const unsigned char* p = all.data() + (row * s.stride + s.col0) * es;
        r.raw.insert(r.raw.end(), p, p + s.ncols * es);
        for (size_t c = 0; c < s.ncols; ++c) {
            r.values.push_back(element_as_double(b.elem(), p + c * es));
        }
    }
    results_[name] = std::move(r);
}

void Run::result(const std::string& name, const std::vector<float>& downloaded) {
    Result r;
    r.elem = Elem::F32;
    r.values.assign(downloaded.begin(), downloaded.end());
    r.raw.resize(downloaded.size() * 4);
    if (!downloaded.empty()) {
        std::memcpy(r.raw.data(), downloaded.data(), r.raw.size());
    }
    results_[name] = std::move(r);
}

void Run::release() {
    for (auto& b : buffers_) {
        b->free();
    }
    buffers_.clear();
}

// ============================================================================ case

std::string Case::report() const {
    std::string r;
    for (const auto* list : {&checks_, &runs_}) {
        for (const auto& s : *list) {
            r += (r.empty() ? "" : "; ") + s;
        }
    }
    return r;
}

void Case::fail(const std::string& what) {
    failed_ = true;
    checks_.push_back(what);
}

namespace {
// First difference between two runs' outputs, or "" when every output is bitwise the same.
std::string first_difference(const std::map<std::string, Result>& a, const std::map<std::string, Result>& b) {
    for (const auto& [name, ra] : a) {
        auto it = b.find(name);
        if (it == b.end()) {
            return name + " missing";
        }
        const Result& rb = it->second;
        if (ra.raw == rb.raw) {
            continue;
        }
        const size_t es = elem_size(ra.elem);
        for (size_t i = 0; i < ra.values.size(); ++i) {
            if (std::memcmp(&ra.raw[i * es], &rb.raw[i * es], es) != 0) {
                size_t n = 0;
                for (size_t j = i; j < ra.values.size(); ++j) {
                    n += std::memcmp(&ra.raw[j * es], &rb.raw[j * es], es) != 0;
                }
                return format("%s[%zu] %.9g vs %.9g (%zu of %zu elements differ)", name.c_str(), i, ra.values[i],
                              rb.values[i], n, ra.values.size());
            }
        }
        return name + " differs in size";
    }
    return "";
}
}  // namespace

void Case::run(const std::function<void(Run&)>& fn, RunOptions options) {
    auto execute = [&fn](size_t misalign) {
        Run r(misalign);
        fn(r);
        r.release();
        return std::move(r.results());
    };
    first_ = execute(0);
    ran_ = true;
    if (options.repeat) {
        const std::string diff = first_difference(first_, execute(0));
        if (diff.empty()) {
            runs_.push_back("repeat bitwise");
        } else {
            failed_ = true;
            runs_.push_back("NOT DETERMINISTIC, second run: " + diff);
        }
    }
    if (options.misaligned) {
        const std::string diff = first_difference(first_, execute(4));
        if (diff.empty()) {
            runs_.push_back("+4 B misaligned bitwise");
        } else {
            failed_ = true;
            runs_.push_back("MISALIGNED (+4 B) run differs: " + diff);
        }
    }
}

void Case::check(const std::string& name, const std::vector<double>& ref, const Tol& tol) {
    auto it = first_.find(name);
    if (!ran_ || it == first_.end()) {
        throw HarnessError("check of " + name + ": no such result");
    }
    const Result& got = it->second;
    if (got.values.size() != ref.size() || (tol.kind == Tol::Scaled && tol.magnitude.size() != ref.size()) ||
        (tol.kind == Tol::Norm && !tol.magnitude.empty() && tol.magnitude.size() != ref.size())) {
        throw HarnessError(format("check of %s: %zu results, %zu references", name.c_str(), got.values.size(),
                                  ref.size()));
    }
    double maxRef = 0;
    for (double r : ref) {
        if (std::isfinite(r)) {
            maxRef = std::max(maxRef, std::fabs(r));
        }
    }
    if (tol.kind == Tol::Norm && !tol.magnitude.empty()) {
        maxRef = *std::max_element(tol.magnitude.begin(), tol.magnitude.end());
    }
    const double normDenom = std::max(maxRef, 1e-300);
    // d / denominator, where a zero denominator allows only d == 0.
    auto ratio = [](double d, double denom) { return denom > 0 ? d / denom : (d == 0 ? 0.0 : INFINITY); };
    double err = 0;          // the metric (for Exact: the largest relative difference, for the report)
    size_t worst = 0;        // element that set it (for Exact: the first mismatch)
    size_t mismatches = 0;   // Exact: elements not bitwise equal
    for (size_t i = 0; i < ref.size(); ++i) {
        const double a = got.values[i], r = ref[i];
        double e = 0;
        if (std::isnan(r)) {
            e = std::isnan(a) ? 0 : INFINITY;   // the contract says NaN here
        } else if (!std::isfinite(a)) {
            e = INFINITY;
        } else {
            const double d = std::fabs(a - r);
            switch (tol.kind) {
                case Tol::Exact:
                case Tol::Norm: e = ratio(d, normDenom); break;
                case Tol::Rel: e = ratio(d, std::max(std::fabs(r), tol.floor)); break;
                case Tol::Scaled: e = ratio(d, tol.magnitude[i]); break;
            }
        }
        if (tol.kind == Tol::Exact) {
            bool same;
            if (std::isnan(r)) {
                same = std::isnan(a);
            } else if (got.elem == Elem::F32) {
                const float rf = static_cast<float>(r);
                same = std::memcmp(&got.raw[4 * i], &rf, 4) == 0;   // bits: -0 and +0 differ
            } else {
                same = std::memcmp(&got.raw[8 * i], &r, 8) == 0;
            }
            if (!same && mismatches++ == 0) {
                worst = i;
            }
            err = std::max(err, e);
        } else if (e > err) {
            err = e;
            worst = i;
        }
    }
    if (tol.kind == Tol::Exact) {
        if (mismatches == 0) {
            checks_.push_back(name + " exact");
        } else {
            fail(format("%s NOT EXACT: %zu of %zu elements differ (max rel %.2e), first [%zu] got %.9g want %.9g",
                        name.c_str(), mismatches, ref.size(), err, worst, got.values[worst], ref[worst]));
        }
        return;
    }
    if (err <= tol.tol) {
        checks_.push_back(format("%s %.1e (tol %.1e)", name.c_str(), err, tol.tol));
    } else {
        fail(format("%s %.2e > tol %.1e at [%zu]: got %.9g want %.9g", name.c_str(), err, tol.tol, worst,
                    got.values[worst], ref[worst]));
    }
}

// ============================================================================ host helpers

std::vector<double> to_double(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

std::vector<float> to_float(const std::vector<double>& v) {
    std::vector<float> f(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
        f[i] = static_cast<float>(v[i]);
    }
    return f;
}

std::vector<double> abs_of(const std::vector<double>& v) {
    std::vector<double> a(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
        a[i] = std::fabs(v[i]);
    }
    return a;
}

}  // namespace kt
