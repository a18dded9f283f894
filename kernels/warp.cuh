// Warp-wide reductions the row kernels share (layernorm.cu, softmax.cu, softmax_cross_entropy.cu).
//
// Passed to NVRTC as a header source by KernelLibrary (every kernels/*.cuh), and found beside
// the .cu files by nvcc. Each is an xor butterfly of __shfl_xor_sync over the full warp: all 32
// lanes must call it together, and every lane gets the same bits (the operands meet in the same
// order in each lane), so a value reduced this way may steer control flow uniformly.
#pragma once

#define WARP_FULL_MASK 0xffffffffu

__device__ __forceinline__ float warp_sum(float v)
{
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        v += __shfl_xor_sync(WARP_FULL_MASK, v, offset);
    }
    return v;
}

__device__ __forceinline__ float warp_max(float v)
{
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        v = fmaxf(v, __shfl_xor_sync(WARP_FULL_MASK, v, offset));
    }
    return v;
}
