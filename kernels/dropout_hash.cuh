// The dropout mask's hash, shared by elementwise.cu (dropout_*_f32) and attention.cu (the
// attention-weight dropout kernels): the GPU twin of DropoutMask.uniform in Java, so a mask is the
// same pure function of (seed, index) on both backends. Given to NVRTC as a header source.
#pragma once

// DropoutMask.uniform: SplitMix64 of (seed, index), wrapping mod 2^64, logical shifts.
__device__ __forceinline__ float dropout_uniform(unsigned long long seed, unsigned long long index)
{
    unsigned long long z = seed + (index + 1ULL) * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    // z >> 40 < 2^24: exact as float; times 2^-24 is exact too.
    return (float)(unsigned int)(z >> 40) * 5.9604644775390625e-8f;
}
