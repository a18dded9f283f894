// Kernel test harness: every extern "C" __global__ entry point of kernels/*.cu, compiled from the
// real sources by NVRTC and launched through the CUDA driver API at the geometry the Java
// launchers use, against double-precision references (see harness.h for the structure).
//
//   kernel_test --kernels DIR [--quick] [--filter TEXT]...
//
//   --kernels DIR   the kernels folder (every *.cu in it is compiled and its entry points must
//                   each have a case; a kernel without one is a failure)
//   --quick         a small subset (every kernel at least once, small shapes): for slow builds
//                   such as the emulator under ThreadSanitizer
//   --filter TEXT   only the cases whose "file kernel shape" contains TEXT (repeatable; any
//                   matches); the coverage check is then skipped
//
// Output: one line per (kernel, shape), PASS or FAIL with each output's error and tolerance,
// then exactly "N passed, M failed" as the last line. Exit status 0 iff M == 0. A CUDA error
// fails its case; if the context is unusable afterwards (a fault is sticky, on a GPU as in the
// emulator) the run stops there with exit status 1.
#include "harness.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>

namespace {

struct Args {
    std::string kernels;
    bool quick = false;
    std::vector<std::string> filters;
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr, "kernel_test: %s\nusage: kernel_test --kernels DIR [--quick] [--filter TEXT]...\n", why);
    std::exit(2);
}

Args parse(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--kernels" && i + 1 < argc) {
            a.kernels = argv[++i];
        } else if (arg == "--quick") {
            a.quick = true;
        } else if (arg == "--filter" && i + 1 < argc) {
            a.filters.push_back(argv[++i]);
        } else if (arg == "--help" || arg == "-h") {
            usage("help");
        } else {
            usage(("unknown or incomplete argument " + arg).c_str());
        }
    }
    if (a.kernels.empty()) {
        usage("--kernels DIR is required");
    }
    return a;
}

bool selected(const kt::CaseSpec& c, const Args& a) {
    if (a.quick && !c.quick) {
        return false;
    }
    if (a.filters.empty()) {
        return true;
    }
    const std::string key = c.file + " " + c.kernel + " " + c.shape;
    return std::any_of(a.filters.begin(), a.filters.end(),
                       [&key](const std::string& f) { return key.find(f) != std::string::npos; });
}

// The *.cu files of the folder, sorted (the file order of the report).
std::vector<std::string> sources(const std::string& dir) {
    std::vector<std::string> files;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
        if (e.path().extension() == ".cu") {
            files.push_back(e.path().filename().string());
        }
    }
    if (ec) {
        std::printf("# cannot list %s: %s\n", dir.c_str(), ec.message().c_str());
    }
    std::sort(files.begin(), files.end());
    return files;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
    const Args args = parse(argc, argv);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);   // line by line, also into a pipe or a log file

    kt::Suite suite;
    kt::add_adamw_cases(suite);
    kt::add_attention_cases(suite);
    kt::add_elementwise_cases(suite);
    kt::add_gelu_cases(suite);
    kt::add_layernorm_cases(suite);
    kt::add_patch_embed_cases(suite);
    kt::add_softmax_cases(suite);
    kt::add_softmax_cross_entropy_cases(suite);

    std::vector<const kt::CaseSpec*> todo;
    std::set<std::string> neededFiles;
    for (const auto& c : suite.cases()) {
        if (selected(c, args)) {
            todo.push_back(&c);
            neededFiles.insert(c.file);
        }
    }

    int passed = 0, failed = 0;
    kt::Device& dev = kt::device();
    try {
        dev.open();
    } catch (const std::exception& e) {
        std::printf("FAIL setup: %s\n0 passed, 1 failed\n", e.what());
        return 1;
    }
    std::printf("# device %s; NVRTC options:", dev.name().c_str());
    for (const auto& o : dev.options()) {
        std::printf(" %s", o.c_str());
    }
    std::printf("\n");

    // Compile what the selected cases need; without a filter, every file (for the coverage check).
    const std::vector<std::string> files = sources(args.kernels);
    for (const auto& f : files) {
        if (!args.filters.empty() && neededFiles.count(f) == 0) {
            continue;
        }
        const auto t0 = std::chrono::steady_clock::now();
        if (dev.load(args.kernels, f)) {
            std::printf("# compiled %s in %.1f s\n", f.c_str(), seconds_since(t0));
        }
    }

    // Coverage: every entry point of the sources has a selected case, and nothing is tested
    // that the sources do not define (that case fails by itself when it runs).
    if (args.filters.empty()) {
        std::set<std::string> tested;
        for (const auto* c : todo) {
            tested.insert(c->kernel);
        }
        for (const auto& k : dev.entry_points()) {
            if (tested.count(k) == 0) {
                std::printf("FAIL %s: no test case%s\n", k.c_str(), args.quick ? " in --quick" : "");
                ++failed;
            }
        }
        if (files.empty()) {
            std::printf("FAIL no *.cu files in %s\n", args.kernels.c_str());
            ++failed;
        }
    }

    const auto start = std::chrono::steady_clock::now();
    size_t ran = 0;
    bool aborted = false;
    for (const auto* spec : todo) {
        const auto t0 = std::chrono::steady_clock::now();
        kt::Case c;
        bool cudaError = false;
        try {
            spec->body(c);
        } catch (const kt::CudaError& e) {
            c.fail(e.what());
            cudaError = true;
        } catch (const std::exception& e) {
            c.fail(std::string("harness error: ") + e.what());
        }
        ++ran;
        std::printf("%s %s %s: %s [%.2f s]\n", c.failed() ? "FAIL" : "PASS", spec->kernel.c_str(), spec->shape.c_str(),
                    c.report().c_str(), seconds_since(t0));
        (c.failed() ? failed : passed)++;
        std::string why;
        if (cudaError && !dev.usable(&why)) {
            std::printf("# context unusable after that error (%s): %zu cases not run, stopping\n", why.c_str(),
                        todo.size() - ran);
            aborted = true;
            break;
        }
    }
    std::printf("# %zu cases in %.1f s\n", ran, seconds_since(start));
    if (!aborted && !dev.close()) {
        std::printf("FAIL teardown: see the calls above\n");   // part of the API under test too
        ++failed;
    }
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 && !aborted ? 0 : 1;
}
