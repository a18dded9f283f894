// The source transform of the emulator's NVRTC: a kernel source in, a C++ translation unit out.
#pragma once
#include <string>
#include <vector>

namespace emu {

struct KernelSignature {
    std::string name;
    std::string params;         // the parameter list as written, whitespace collapsed
    std::string maxThreads;     // first argument of __launch_bounds__, or "0"
    std::string staticShared;   // C++ expression: bytes of the __shared__ arrays it can reach
    int line = 0;
};

struct Transformed {
    std::string error;          // empty on success; else "file:line: message"
    std::string source;         // rewritten source + registration table, ready for g++
    std::vector<KernelSignature> kernels;
};

// Rewrites every __shared__ declaration into a runtime call (same line numbers, with #line where
// a directive had to be inserted) and appends the table of extern "C" __global__ functions.
Transformed transformKernelSource(const std::string& source, const std::string& fileName);

}  // namespace emu
