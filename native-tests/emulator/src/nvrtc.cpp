// libnvrtc.so.12 stand-in: "compiles" a CUDA program by transforming it (transform.cpp) and
// running g++ on the result, producing a shared object that the libcuda stand-in loads. The
// "CUBIN" is that shared object's bytes; the "PTX" a one-line text naming its file. Results are
// cached in the emulator's own folder (cacheDir()), keyed by a hash of everything that goes
// into the compile. nvrtcVersion reports 0.x, the emulator's own numbering, so nothing can take
// it for NVIDIA's NVRTC (vit4j's kernel cache keys on that version too).
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "emu.h"
#include "transform.h"
#include "vit4j_cuda_api.h"

extern char** environ;

#ifndef EMU_REVISION
#define EMU_REVISION 1
#endif

using namespace emu;

struct _nvrtcProgram {
    std::string source, name;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string log;
    std::vector<char> image;
    std::string ptx;
    bool compiled = false;
};

namespace {

const int kArchs[] = {75, 80, 86, 89, 90};

// Two FNV-1a 64 hashes with different offsets: a 128-bit cache key.
struct Hash {
    uint64_t a = 1469598103934665603ull, b = 0x84222325cbf29ce4ull;
    void add(const std::string& s) {
        for (unsigned char c : s) {
            a = (a ^ c) * 1099511628211ull;
            b = (b ^ c) * 0x100000001b3ull + 7;
        }
        a = (a ^ 0xff) * 1099511628211ull;
        b = (b ^ 0xff) * 0x100000001b3ull + 7;
    }
    std::string hex() const { return format("%016llx%016llx", (unsigned long long) a, (unsigned long long) b); }
};

std::vector<std::string> flavourFlags() {
#if defined(EMU_ASAN)
    return {"-fsanitize=address", "-fno-omit-frame-pointer"};
#elif defined(EMU_TSAN)
    return {"-fsanitize=thread"};
#else
    // Every load and store of kernel code calls the runtime's bounds check.
    return {"-fsanitize=kernel-address", "--param", "asan-instrumentation-with-call-threshold=0", "--param",
            "asan-stack=0", "--param", "asan-globals=0"};
#endif
}

bool mkdirs(const std::string& dir) {
    for (size_t i = 1; i <= dir.size(); i++) {
        if (i == dir.size() || dir[i] == '/') {
            std::string part = dir.substr(0, i);
            if (mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) return false;
        }
    }
    return true;
}

bool writeFile(const std::string& path, const std::string& text) {
    std::string tmp = path + format(".%d.tmp", (int) getpid());
    std::ofstream out(tmp, std::ios::binary);
    out << text;
    out.close();
    return out && rename(tmp.c_str(), path.c_str()) == 0;
}

bool readFile(const std::string& path, std::vector<char>* out) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return false;
    out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return true;
}

// Runs argv with stdout and stderr into `output`; the exit status, or -1.
int run(const std::vector<std::string>& argv, const std::string& logPath, std::string* output) {
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, logPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    // The JVM's environment may carry LD_PRELOAD or the emulator's library path: g++ needs neither.
    std::vector<std::string> envs;
    for (char** e = environ; *e; e++) {
        if (strncmp(*e, "LD_PRELOAD=", 11) == 0 || strncmp(*e, "LD_LIBRARY_PATH=", 16) == 0) continue;
        envs.push_back(*e);
    }
    std::vector<char*> envp;
    for (std::string& e : envs) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    pid_t pid;
    int r = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    if (r != 0) {
        *output = format("cannot run %s: %s", args[0], strerror(r));
        return -1;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    std::vector<char> text;
    readFile(logPath, &text);
    output->assign(text.begin(), text.end());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

extern "C" {

const char* nvrtcGetErrorString(nvrtcResult result) {
    switch (result) {
        case NVRTC_SUCCESS: return "NVRTC_SUCCESS";
        case NVRTC_ERROR_OUT_OF_MEMORY: return "NVRTC_ERROR_OUT_OF_MEMORY";
        case NVRTC_ERROR_PROGRAM_CREATION_FAILURE: return "NVRTC_ERROR_PROGRAM_CREATION_FAILURE";
        case NVRTC_ERROR_INVALID_INPUT: return "NVRTC_ERROR_INVALID_INPUT";
        case NVRTC_ERROR_INVALID_PROGRAM: return "NVRTC_ERROR_INVALID_PROGRAM";
        case NVRTC_ERROR_INVALID_OPTION: return "NVRTC_ERROR_INVALID_OPTION";
        case NVRTC_ERROR_COMPILATION: return "NVRTC_ERROR_COMPILATION";
        case NVRTC_ERROR_BUILTIN_OPERATION_FAILURE: return "NVRTC_ERROR_BUILTIN_OPERATION_FAILURE";
        case NVRTC_ERROR_INTERNAL_ERROR: return "NVRTC_ERROR_INTERNAL_ERROR";
        default: return "NVRTC_ERROR unknown";
    }
}

nvrtcResult nvrtcVersion(int* major, int* minor) {
    if (!major || !minor) return NVRTC_ERROR_INVALID_INPUT;
    *major = 0;
    *minor = EMU_REVISION;
    return NVRTC_SUCCESS;
}

nvrtcResult nvrtcGetNumSupportedArchs(int* count) {
    if (!count) return NVRTC_ERROR_INVALID_INPUT;
    *count = (int) (sizeof kArchs / sizeof kArchs[0]);
    return NVRTC_SUCCESS;
}

nvrtcResult nvrtcGetSupportedArchs(int* archs) {
    if (!archs) return NVRTC_ERROR_INVALID_INPUT;
    memcpy(archs, kArchs, sizeof kArchs);
    return NVRTC_SUCCESS;
}

nvrtcResult nvrtcCreateProgram(nvrtcProgram* prog, const char* src, const char* name, int numHeaders,
                               const char* const* headers, const char* const* includeNames) {
    if (!prog || !src || numHeaders < 0 || (numHeaders > 0 && (!headers || !includeNames))) return NVRTC_ERROR_INVALID_INPUT;
    _nvrtcProgram* p = new _nvrtcProgram();
    p->source = src;
    p->name = name && *name ? name : "default_program";
    for (int i = 0; i < numHeaders; i++) {
        if (!headers[i] || !includeNames[i]) {
            delete p;
            return NVRTC_ERROR_INVALID_INPUT;
        }
        p->headers.emplace_back(includeNames[i], headers[i]);
    }
    *prog = p;
    return NVRTC_SUCCESS;
}

nvrtcResult nvrtcDestroyProgram(nvrtcProgram* prog) {
    if (!prog || !*prog) return NVRTC_ERROR_INVALID_PROGRAM;
    delete *prog;
    *prog = nullptr;
    return NVRTC_SUCCESS;
}

nvrtcResult nvrtcCompileProgram(nvrtcProgram p, int numOptions, const char* const* options) {
    if (!p) return NVRTC_ERROR_INVALID_PROGRAM;
    if (numOptions < 0 || (numOptions > 0 && !options)) return NVRTC_ERROR_INVALID_INPUT;
    p->log.clear();
    std::vector<std::string> userFlags;
    std::string arch;
    for (int i = 0; i < numOptions; i++) {
        std::string o = options[i] ? options[i] : "";
        auto value = [&](const char* prefix) -> const char* {
            size_t n = strlen(prefix);
            return o.compare(0, n, prefix) == 0 ? o.c_str() + n : nullptr;
        };
        if (const char* v = value("--gpu-architecture=")) arch = v;
        else if (const char* v2 = value("-arch=")) arch = v2;
        else if (value("--std=") || value("-std=")) {
            const char* s = value("--std=") ? value("--std=") : value("-std=");
            if (strcmp(s, "c++17") != 0 && strcmp(s, "c++14") != 0 && strcmp(s, "c++20") != 0) {
                p->log = "nvrtc (vit4j emulator): unsupported language standard " + o + "\n";
                return NVRTC_ERROR_INVALID_OPTION;
            }
            userFlags.push_back(std::string("-std=") + s);
        } else if (const char* d = value("-D")) userFlags.push_back(std::string("-D") + d);
        else if (const char* d2 = value("--define-macro=")) userFlags.push_back(std::string("-D") + d2);
        else if (const char* inc = value("-I")) userFlags.push_back(std::string("-I") + inc);
        else if (const char* inc2 = value("--include-path=")) userFlags.push_back(std::string("-I") + inc2);
        // Accepted and not modelled: the emulator never fuses multiply-adds and has no fast-math
        // variants, no debug or line-info modes (its objects always carry line info).
        else if (value("--fmad=") || value("-fmad=") || o == "-default-device" || o == "--device-as-default-execution-space"
                 || o == "-lineinfo" || o == "--generate-line-info" || o == "-G" || o == "--device-debug"
                 || o == "--use_fast_math" || o == "-use_fast_math" || value("-ftz=") || value("--ftz=")
                 || value("-prec-div=") || value("--prec-div=") || value("-prec-sqrt=") || value("--prec-sqrt=")
                 || o == "--extra-device-vectorization" || value("-maxrregcount=") || value("--maxrregcount=")) {
        } else {
            p->log = "nvrtc (vit4j emulator): unrecognized option " + o + "\n";
            return NVRTC_ERROR_INVALID_OPTION;
        }
    }
    if (!arch.empty()) {
        bool known = false;
        for (int a : kArchs)
            if (arch == format("sm_%d", a) || arch == format("compute_%d", a)) known = true;
        if (!known) {
            p->log = "nvrtc (vit4j emulator): unsupported architecture " + arch + "\n";
            return NVRTC_ERROR_INVALID_OPTION;
        }
    }
    Transformed t = transformKernelSource(p->source, p->name);
    if (!t.error.empty()) {
        p->log = t.error + "\n";
        return NVRTC_ERROR_COMPILATION;
    }

    std::vector<std::string> cmd = {getenv("VIT4J_EMU_CXX") && *getenv("VIT4J_EMU_CXX") ? getenv("VIT4J_EMU_CXX") : "g++",
                                    "-std=c++17", "-O2", "-g", "-fPIC", "-shared", "-w", "-ffp-contract=off",
                                    "-fno-math-errno", "-fvisibility=hidden", "-include",
                                    installDir() + "/include/cuda_emu.h"};
    for (const std::string& f : flavourFlags()) cmd.push_back(f);
    for (const std::string& f : userFlags) cmd.push_back(f);
    Hash h;
    h.add(EMU_FLAVOUR);
    h.add(format("rev %d", EMU_REVISION));
    for (const std::string& c : cmd) h.add(c);
    h.add(t.source);
    std::vector<char> header;
    readFile(installDir() + "/include/cuda_emu.h", &header);
    h.add(std::string(header.begin(), header.end()));
    for (auto& [n, text] : p->headers) {
        h.add(n);
        h.add(text);
    }
    const std::string dir = cacheDir();
    const std::string key = h.hex();
    const std::string so = dir + "/" + key + ".so";
    if (!readFile(so, &p->image)) {
        const std::string work = dir + "/work-" + key + format("-%d", (int) getpid());
        if (!mkdirs(work)) {
            p->log = "nvrtc (vit4j emulator): cannot create " + work + "\n";
            return NVRTC_ERROR_INTERNAL_ERROR;
        }
        for (auto& [n, text] : p->headers) {
            std::string path = work + "/include/" + n;
            mkdirs(path.substr(0, path.rfind('/')));
            writeFile(path, text);
        }
        std::string cpp = work + "/" + p->name + ".cpp";
        writeFile(cpp, t.source);
        cmd.push_back("-I" + work + "/include");
        cmd.push_back("-o");
        cmd.push_back(work + "/module.so");
        cmd.push_back(cpp);
        cmd.push_back("-L" + installDir());
        cmd.push_back("-l:libcuda.so.1");
        cmd.push_back("-Wl,-rpath," + installDir());
        std::string output;
        int status = run(cmd, work + "/g++.log", &output);
        if (status != 0) {
            p->log = output.empty() ? "g++ failed with status " + std::to_string(status) + "\n" : output;
            return NVRTC_ERROR_COMPILATION;
        }
        if (rename((work + "/module.so").c_str(), so.c_str()) != 0 || !readFile(so, &p->image)) {
            p->log = "nvrtc (vit4j emulator): cannot store " + so + "\n";
            return NVRTC_ERROR_INTERNAL_ERROR;
        }
        std::string rm = "rm -rf '" + work + "'";
        if (system(rm.c_str()) != 0) note("cannot remove %s", work.c_str());
    }
    p->ptx = "// vit4j emulator module: " + so + "\n";
    p->compiled = true;
    return NVRTC_SUCCESS;
}

nvrtcResult nvrtcGetProgramLogSize(nvrtcProgram p, size_t* size) {
    if (!p) return NVRTC_ERROR_INVALID_PROGRAM;
    if (!size) return NVRTC_ERROR_INVALID_INPUT;
    *size = p->log.size() + 1;
    return NVRTC_SUCCESS;
}

nvrtcResult nvrtcGetProgramLog(nvrtcProgram p, char* log) {
    if (!p) return NVRTC_ERROR_INVALID_PROGRAM;
    if (!log) return NVRTC_ERROR_INVALID_INPUT;
    memcpy(log, p->log.c_str(), p->log.size() + 1);
    return NVRTC_SUCCESS;
}

nvrtcResult nvrtcGetPTXSize(nvrtcProgram p, size_t* size) {
    if (!p) return NVRTC_ERROR_INVALID_PROGRAM;
    if (!size) return NVRTC_ERROR_INVALID_INPUT;
    if (!p->compiled) return NVRTC_ERROR_INVALID_PROGRAM;
    *size = p->ptx.size() + 1;
    return NVRTC_SUCCESS;
}

nvrtcResult nvrtcGetPTX(nvrtcProgram p, char* ptx) {
    if (!p) return NVRTC_ERROR_INVALID_PROGRAM;
    if (!ptx) return NVRTC_ERROR_INVALID_INPUT;
    if (!p->compiled) return NVRTC_ERROR_INVALID_PROGRAM;
    memcpy(ptx, p->ptx.c_str(), p->ptx.size() + 1);
    return NVRTC_SUCCESS;
}

nvrtcResult nvrtcGetCUBINSize(nvrtcProgram p, size_t* size) {
    if (!p) return NVRTC_ERROR_INVALID_PROGRAM;
    if (!size) return NVRTC_ERROR_INVALID_INPUT;
    if (!p->compiled) return NVRTC_ERROR_INVALID_PROGRAM;
    *size = p->image.size();
    return NVRTC_SUCCESS;
}

nvrtcResult nvrtcGetCUBIN(nvrtcProgram p, char* cubin) {
    if (!p) return NVRTC_ERROR_INVALID_PROGRAM;
    if (!cubin) return NVRTC_ERROR_INVALID_INPUT;
    if (!p->compiled) return NVRTC_ERROR_INVALID_PROGRAM;
    memcpy(cubin, p->image.data(), p->image.size());
    return NVRTC_SUCCESS;
}

}  // extern "C"
