// Row softmax, forward and backward: the softmax of the unfused attention path (S = Q K^T,
// P = softmax(scale * S), O = P V) that the kernel benchmark times as the baseline of the fused
// attention kernel, and an op of its own there (against cuDNN's softmax).
//
// Includes warp.cuh (warp_sum, warp_max). x, y, dy, dx are dense row-major float32 [rows, cols]
// (cols >= 1; row r starts at element (long long)r * cols). Nothing is saved but y itself: the
// backward reads the probabilities the forward wrote (as the unfused attention keeps P).
//
//   forward:  y[r, j]  = exp(scale * x[r, j] - m_r) / sum_k exp(scale * x[r, k] - m_r),
//             m_r = max_k scale * x[r, k]
//   backward: dx[r, j] = scale * y[r, j] * (dy[r, j] - sum_k y[r, k] * dy[r, k])
//
// ---------------------------------------------------------------------------------------------
// softmax_forward_f32(const float* x, float* y, int rows, int cols, float scale)
// softmax_backward_f32(const float* y, const float* dy, float* dx, int rows, int cols, float scale)
//   One warp per row, lanes stride the row by 32 (coalesced). For cols <= 1024 each lane keeps its
//   ceil(cols / 32) values in registers (K = 1, 2, 4, 8, 16 or 32 per lane, the smallest that
//   fits), so every element is read once from global memory and written once: the compulsory
//   traffic, 2 * rows * cols * 4 bytes forward and 3 * rows * cols * 4 backward. Longer rows
//   take a second read: an online max / sum pass (the running sum rescaled when the maximum
//   grows), then the write pass. Warp totals by an xor-butterfly of __shfl_xor_sync, identical
//   in every lane, so the result is deterministic (no atomics).
//   Any block that is a multiple of 32 threads works; the launcher (RowSoftmax.java) uses
//   launch: grid = ceil(rows / 8), block = 256, shared = 0
//   The outputs must not alias the inputs (__restrict__).
//
// Numerics: expf (<= 2 ulp), float accumulation in a fixed order; agrees with a double-precision
// reference to a few float ulps per element.

#include "warp.cuh"

#define SM_MAX_PER_LANE 32

__device__ __forceinline__ float sm_neg_inf()
{
    return __int_as_float(0xff800000);
}

// One row held in registers: K values per lane, element j = lane + 32 k.
template <int K>
__device__ __forceinline__ void sm_forward_row_regs(const float* __restrict__ x, float* __restrict__ y,
                                                    int cols, float scale, int lane)
{
    float v[K];
    float m = sm_neg_inf();
#pragma unroll
    for (int k = 0; k < K; k++) {
        const int j = lane + 32 * k;
        v[k] = j < cols ? scale * x[j] : sm_neg_inf();
        m = fmaxf(m, v[k]);
    }
    m = warp_max(m);
    float s = 0.f;
#pragma unroll
    for (int k = 0; k < K; k++) {
        const int j = lane + 32 * k;
        v[k] = j < cols ? expf(v[k] - m) : 0.f;
        s += v[k];
    }
    const float inv = 1.f / warp_sum(s);
#pragma unroll
    for (int k = 0; k < K; k++) {
        const int j = lane + 32 * k;
        if (j < cols) {
            y[j] = v[k] * inv;
        }
    }
}

// Rows too long for registers: online (max, sum) in one pass, then the write pass reads x again.
__device__ __forceinline__ void sm_forward_row_stream(const float* __restrict__ x, float* __restrict__ y,
                                                      int cols, float scale, int lane)
{
    float m = sm_neg_inf();
    float s = 0.f;
    for (int j = lane; j < cols; j += 32) {
        const float v = scale * x[j];
        if (v > m) {
            s = s * expf(m - v) + 1.f;   // exp(-inf) = 0 on the first element
            m = v;
        } else {
            s += expf(v - m);
        }
    }
    // Combine the lanes' (m, s): rescale each partial sum to the warp maximum.
    const float wm = warp_max(m);
    s = m == sm_neg_inf() ? 0.f : s * expf(m - wm);
    const float inv = 1.f / warp_sum(s);
    for (int j = lane; j < cols; j += 32) {
        y[j] = expf(scale * x[j] - wm) * inv;
    }
}

extern "C" __global__ void softmax_forward_f32(const float* __restrict__ x, float* __restrict__ y,
                                               int rows, int cols, float scale)
{
    const int lane = threadIdx.x & 31;
    const int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= rows) {
        return; // whole warp
    }
    const long long base = (long long)row * cols;
    x += base;
    y += base;
    // The branch is uniform over the launch: every warp takes the same one.
    if (cols <= 32) {
        sm_forward_row_regs<1>(x, y, cols, scale, lane);
    } else if (cols <= 64) {
        sm_forward_row_regs<2>(x, y, cols, scale, lane);
    } else if (cols <= 128) {
        sm_forward_row_regs<4>(x, y, cols, scale, lane);
    } else if (cols <= 256) {
        sm_forward_row_regs<8>(x, y, cols, scale, lane);
    } else if (cols <= 512) {
        sm_forward_row_regs<16>(x, y, cols, scale, lane);
    } else if (cols <= 32 * SM_MAX_PER_LANE) {
        sm_forward_row_regs<SM_MAX_PER_LANE>(x, y, cols, scale, lane);
    } else {
        sm_forward_row_stream(x, y, cols, scale, lane);
    }
}

template <int K>
__device__ __forceinline__ void sm_backward_row_regs(const float* __restrict__ y, const float* __restrict__ dy,
                                                     float* __restrict__ dx, int cols, float scale, int lane)
{
    float p[K];
    float g[K];
    float dot = 0.f;
#pragma unroll
    for (int k = 0; k < K; k++) {
        const int j = lane + 32 * k;
        p[k] = j < cols ? y[j] : 0.f;
        g[k] = j < cols ? dy[j] : 0.f;
        dot += p[k] * g[k];
    }
    dot = warp_sum(dot);
#pragma unroll
    for (int k = 0; k < K; k++) {
        const int j = lane + 32 * k;
        if (j < cols) {
            dx[j] = scale * p[k] * (g[k] - dot);
        }
    }
}

__device__ __forceinline__ void sm_backward_row_stream(const float* __restrict__ y, const float* __restrict__ dy,
                                                       float* __restrict__ dx, int cols, float scale, int lane)
{
    float dot = 0.f;
    for (int j = lane; j < cols; j += 32) {
        dot += y[j] * dy[j];
    }
    dot = warp_sum(dot);
    for (int j = lane; j < cols; j += 32) {
        dx[j] = scale * y[j] * (dy[j] - dot);
    }
}

extern "C" __global__ void softmax_backward_f32(const float* __restrict__ y, const float* __restrict__ dy,
                                                float* __restrict__ dx, int rows, int cols, float scale)
{
    const int lane = threadIdx.x & 31;
    const int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= rows) {
        return; // whole warp
    }
    const long long base = (long long)row * cols;
    y += base;
    dy += base;
    dx += base;
    if (cols <= 32) {
        sm_backward_row_regs<1>(y, dy, dx, cols, scale, lane);
    } else if (cols <= 64) {
        sm_backward_row_regs<2>(y, dy, dx, cols, scale, lane);
    } else if (cols <= 128) {
        sm_backward_row_regs<4>(y, dy, dx, cols, scale, lane);
    } else if (cols <= 256) {
        sm_backward_row_regs<8>(y, dy, dx, cols, scale, lane);
    } else if (cols <= 512) {
        sm_backward_row_regs<16>(y, dy, dx, cols, scale, lane);
    } else if (cols <= 32 * SM_MAX_PER_LANE) {
        sm_backward_row_regs<SM_MAX_PER_LANE>(y, dy, dx, cols, scale, lane);
    } else {
        sm_backward_row_stream(y, dy, dx, cols, scale, lane);
    }
}
