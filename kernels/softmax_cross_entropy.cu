// Softmax cross-entropy with PyTorch's label smoothing: per-example loss and dlogits.
//
// GPU twin of CpuBackend.crossEntropyForward / crossEntropyBackward. Includes warp.cuh
// (warp_sum, warp_max). logits and dlogits are dense row-major float32 [B, C] (C >= 1 classes; row b
// starts at (long long)b * C), labels is int32 [B], losses is float32 [B]. Nothing is saved:
// the backward recomputes max and sum from the logits.
//
// With s = smoothing, the target of row b is t_c = s/C + (1 - s)[c == y_b], and
//   loss_b    = lse - (1 - s) z_y - (s/C) sum_c z_c,      lse = log sum_c exp(z_c)
//   dlogits_bc = scale * (softmax(z)_c - t_c)             (scale = 1/B for a mean loss)
// The loss is evaluated as log(S) + (1 - s)(m - z_y) - (s/C) sum_c (z_c - m), with m = max_c z_c
// and S = sum_c exp(z_c - m): the same value, but every term is >= 0, so nothing cancels in
// float even when the loss is tiny next to |z|. softmax_c = exp(z_c - m) / S.
//
// Labels: the launcher rejects a label outside [0, C) before the launch, as the CPU backend does
// (CudaBackend.checkLabels); should one get through, that row's loss is NaN (forward) / that row
// of dlogits all NaN (backward), never an out-of-bounds read.
//
// ---------------------------------------------------------------------------------------------
// cross_entropy_forward_f32(const float* logits, const int* labels, float* losses, int B, int C,
//                           float smoothing)
//   One warp per row: lanes stride the row by 32; pass 1 max, pass 2 sum of exp(z - m) and of
//   (z - m); warp totals by an xor-butterfly of __shfl_xor_sync (identical in every lane); lane 0
//   writes losses[b].
//   launch: grid = ceil(B / 8), block = 256, shared = 0
//
// cross_entropy_backward_f32(const float* logits, const int* labels, float* dlogits, int B,
//                            int C, float smoothing, float scale)
//   One warp per row: max and sum as above, pass 3 WRITES dlogits[b, c]. dlogits may alias
//   logits (each element is read, then written, by the same lane after the reductions).
//   launch: grid = ceil(B / 8), block = 256, shared = 0
//
// Any block that is a multiple of 32 threads works for both (row = blockIdx.x * warpsPerBlock
// + warp); the launcher uses 256. Results agree with the CPU's double evaluation to a few float
// ulps (expf / logf are CUDA's device functions, <= 2 / 1 ulp), not bit for bit.

#include "warp.cuh"

__device__ __forceinline__ float ce_nan()
{
    return __int_as_float(0x7fc00000);
}

__device__ __forceinline__ float ce_row_max(const float* z, int C, int lane)
{
    float m = __int_as_float(0xff800000); // -inf
    for (int j = lane; j < C; j += 32) {
        m = fmaxf(m, z[j]);
    }
    return warp_max(m);
}

extern "C" __global__ void cross_entropy_forward_f32(const float* logits, const int* labels,
                                                     float* losses, int B, int C, float smoothing)
{
    const int lane = threadIdx.x & 31;
    const int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= B) {
        return; // whole warp
    }
    const int y = labels[row];
    if (y < 0 || y >= C) {
        if (lane == 0) {
            losses[row] = ce_nan();
        }
        return; // whole warp (every lane read the same label)
    }
    const float* z = logits + (long long)row * C;
    const float m = ce_row_max(z, C, lane);
    float sum_exp = 0.0f, sum_dev = 0.0f;
    for (int j = lane; j < C; j += 32) {
        const float d = z[j] - m;
        sum_exp += expf(d);
        sum_dev += d;
    }
    sum_exp = warp_sum(sum_exp);
    sum_dev = warp_sum(sum_dev);
    if (lane == 0) {
        const float loss = logf(sum_exp) + (1.0f - smoothing) * (m - z[y])
                           - smoothing * sum_dev / (float)C;
        losses[row] = loss;
    }
}

extern "C" __global__ void cross_entropy_backward_f32(const float* logits, const int* labels,
                                                      float* dlogits, int B, int C,
                                                      float smoothing, float scale)
{
    const int lane = threadIdx.x & 31;
    const int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= B) {
        return; // whole warp
    }
    const int y = labels[row];
    float* dz = dlogits + (long long)row * C;
    if (y < 0 || y >= C) {
        const float nan = ce_nan();
        for (int j = lane; j < C; j += 32) {
            dz[j] = nan;
        }
        return; // whole warp
    }
    const float* z = logits + (long long)row * C;
    const float m = ce_row_max(z, C, lane);
    float sum_exp = 0.0f;
    for (int j = lane; j < C; j += 32) {
        sum_exp += expf(z[j] - m);
    }
    sum_exp = warp_sum(sum_exp);
    const float off = smoothing / (float)C;         // as the CPU: s / C ...
    const float on = off + (1.0f - smoothing);      // ... + (1 - s) on the label
    for (int j = lane; j < C; j += 32) {
        const float p = expf(z[j] - m) / sum_exp;
        const float t = (j == y) ? on : off;
        dz[j] = scale * (p - t);
    }
}
