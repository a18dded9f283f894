// LayerNorm over the last dimension: forward, backward and the parameter-gradient reduction.
//
// GPU twin of CpuBackend.layerNormForward / layerNormBackward. Includes warp.cuh (warp_sum).
// All tensors are dense, row-major float32: x, y, dy, dx are [rows, C] (rows =
// x.shape().rows(), C = x.shape().dim(-1) >= 1); gamma, beta, dgamma, dbeta are [C]; mean and
// rstd are [rows]. Row r starts at element (long long)r * C.
//
// Saved for backward (written by the forward): mean[r] = mu_r and rstd[r] = 1 / sqrt(var_r + eps)
// with the biased variance var_r = (1/C) sum_j (x[r,j] - mu_r)^2 (two passes: the mean first,
// then the variance of x - mean, as the CPU does).
//
// ---------------------------------------------------------------------------------------------
// layernorm_forward_f32(const float* x, const float* gamma, const float* beta, float* y,
//                       float* mean, float* rstd, int rows, int C, float eps)
//   One warp per row: lanes stride the row by 32 (coalesced), three passes over the row (sum,
//   sum of squared deviations, write), each warp total by an xor-butterfly of __shfl_xor_sync
//   (every lane gets the same bits). y = ((x - mu) * rstd) * gamma + beta.
//   Any C >= 1 and any block that is a multiple of 32 threads works; the launcher uses
//   launch: grid = ceil(rows / 8), block = 256, shared = 0
//   y may alias x (each element is read, then written, by the same lane after the reductions).
//
// layernorm_backward_f32(const float* dy, const float* x, const float* gamma, const float* mean,
//                        const float* rstd, float* dx, float* dgamma_partial,
//                        float* dbeta_partial, int rows, int C)
//   WRITES dx = rstd * (dxhat - mean_j(dxhat) - xhat * mean_j(dxhat * xhat)), with
//   xhat = (x - mean) * rstd and dxhat = dy * gamma, and WRITES this block's partial sums
//   dgamma_partial[b*C + j] = sum over the block's rows r of dy[r,j] * xhat[r,j] and
//   dbeta_partial[b*C + j]  = sum over the block's rows r of dy[r,j]           (b = blockIdx.x).
//   Block b owns the 32 consecutive rows [32b, min(32b + 32, rows)), taken as (up to) 4 groups
//   of 8 rows. For each group: (A) warp w reduces row (group base + w): sum of dxhat and of
//   dxhat * xhat (shuffle butterfly), and publishes mean, rstd and the two row means in shared
//   memory; __syncthreads; (B) thread t takes columns j = t, t+256, ... and, for each, loads the
//   group's 8 rows (coalesced across the block), writes dx, and adds dy*xhat and dy into its
//   own shared accumulators sdg[j], sdb[j] in row order. Every accumulator has exactly one
//   owner thread and a fixed summation order, so the result is deterministic with no atomics.
//   The per-row statistics are double-buffered, so one __syncthreads per group suffices.
//   Requires blockDim.x == 256 (8 warps) exactly. __launch_bounds__(256, 6) caps it at 40
//   registers: 6 blocks (48 warps) per SM. 32 rows per block keeps the partial-sum traffic
//   small (2 * C floats written per 32 rows of 3 * C floats moved) while giving several waves
//   of short blocks (rows = 50432: 1576 blocks over 132 SMs x 6), so the last wave costs little.
//   parts = ceil(rows / 32); dgamma_partial and dbeta_partial hold parts * C floats each.
//   launch: grid = ceil(rows / 32), block = 256, shared = 2 * C * 4 bytes (dynamic)
//           (+ 256 bytes static; C <= 6112 fits the default 48 KiB limit, larger C needs the
//           CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES opt-in)
//   dx may alias dy (or x): every element of a row is read by phase A and by its column owner
//   in phase B before that owner overwrites it, and no later group reads an earlier row.
//
// layernorm_param_grad_reduce_f32(const float* dgamma_partial, const float* dbeta_partial,
//                                 float* dgamma, float* dbeta, int parts, int C)
//   ADDS sum over p in [0, parts) of dgamma_partial[p*C + j] into dgamma[j] (and the same for
//   beta), p in a fixed order: thread (tx, ty) of a (bx, by) block sums column
//   j = blockIdx.x*bx + tx over p = ty, ty+by, ty+2by, ... in increasing order, then thread
//   ty == 0 adds the by lane sums in increasing ty order and adds the total into dgamma[j].
//   Correct for any block with bx * by <= 1024 (by == 1 is plain one-thread-per-column). The
//   rounding depends on by, so keep the launch fixed; the launcher uses
//   launch: grid = ceil(C / 32), block = (32, 8), shared = 0   (static shared: 8192 bytes)
//   with parts = ceil(rows / 32) from the backward above. The partials were just written, so
//   they are read from L2; 8 row lanes per column give 8x the loads in flight of (256, 1).
//
// Numerics: float accumulation everywhere (per-lane serial sums, then a 5-level butterfly), so
// mean/rstd/dx match the CPU's double/serial sums to a few float ulps, not bit for bit; the
// parameter gradients differ from the CPU's by summation order only.

#include "warp.cuh"

#define LN_BWD_THREADS 256
#define LN_BWD_WARPS 8          // = rows per group
#define LN_BWD_ROWS_PER_BLOCK 32 // = 4 groups of 8 rows

extern "C" __global__ void layernorm_forward_f32(const float* x, const float* gamma,
                                                 const float* beta, float* y, float* mean,
                                                 float* rstd, int rows, int C, float eps)
{
    const int lane = threadIdx.x & 31;
    const int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= rows) {
        return; // whole warp leaves together: the shuffles below stay full-warp
    }
    const float* xr = x + (long long)row * C;
    float* yr = y + (long long)row * C;

    float sum = 0.0f;
    for (int j = lane; j < C; j += 32) {
        sum += xr[j];
    }
    const float mu = warp_sum(sum) / (float)C;

    float sq = 0.0f;
    for (int j = lane; j < C; j += 32) {
        const float d = xr[j] - mu;
        sq += d * d;
    }
    const float var = warp_sum(sq) / (float)C;
    // 1 / sqrt(var + eps) with IEEE sqrt and reciprocal whatever the NVRTC flags.
    const float rs = __frcp_rn(__fsqrt_rn(var + eps));

    for (int j = lane; j < C; j += 32) {
        yr[j] = (xr[j] - mu) * rs * gamma[j] + beta[j];
    }
    if (lane == 0) {
        mean[row] = mu;
        rstd[row] = rs;
    }
}

extern "C" __global__ void __launch_bounds__(LN_BWD_THREADS, 6)
layernorm_backward_f32(const float* dy, const float* x, const float* gamma, const float* mean,
                       const float* rstd, float* dx, float* dgamma_partial,
                       float* dbeta_partial, int rows, int C)
{
    extern __shared__ float ln_acc[];                   // [2][C]: dgamma, then dbeta accumulators
    __shared__ float4 ln_stat[2][LN_BWD_WARPS];         // (mean, rstd, mean(dxhat), mean(dxhat*xhat))
    float* sdg = ln_acc;
    float* sdb = ln_acc + C;

    const int tid = threadIdx.x;
    const int lane = tid & 31;
    const int warp = tid >> 5;

    // Column j is owned by thread j % 256 from here to the end: no barrier needed around sdg/sdb.
    for (int j = tid; j < C; j += LN_BWD_THREADS) {
        sdg[j] = 0.0f;
        sdb[j] = 0.0f;
    }

    const int first = blockIdx.x * LN_BWD_ROWS_PER_BLOCK; // < rows for every launched block
    const int last = rows < first + LN_BWD_ROWS_PER_BLOCK ? rows : first + LN_BWD_ROWS_PER_BLOCK;
    int buf = 0;
    // Block-uniform loop (first, last depend on blockIdx only): the barrier inside is safe.
    for (int base = first; base < last; base += LN_BWD_WARPS, buf ^= 1) {
        // (A) row reductions, one warp per row.
        const int row = base + warp;
        if (row < last) {
            const long long o = (long long)row * C;
            const float mu = mean[row];
            const float rs = rstd[row];
            float s1 = 0.0f, s2 = 0.0f;
            for (int j = lane; j < C; j += 32) {
                const float xhat = (x[o + j] - mu) * rs;
                const float dxhat = dy[o + j] * gamma[j];
                s1 += dxhat;
                s2 += dxhat * xhat;
            }
            s1 = warp_sum(s1);
            s2 = warp_sum(s2);
            if (lane == 0) {
                ln_stat[buf][warp] = make_float4(mu, rs, s1 / (float)C, s2 / (float)C);
            }
        }
        __syncthreads();

        // (B) column pass over the group's rows: dx, and the parameter-gradient accumulators.
        const int nr = last - base < LN_BWD_WARPS ? last - base : LN_BWD_WARPS; // rows in this group
        const float* dyg = dy + (long long)base * C;
        const float* xg = x + (long long)base * C;
        float* dxg = dx + (long long)base * C;
        for (int j = tid; j < C; j += LN_BWD_THREADS) {
            // All loads of the group first (8 independent rows in flight; also makes dx == dy safe).
            float dyv[LN_BWD_WARPS], xv[LN_BWD_WARPS];
#pragma unroll
            for (int w = 0; w < LN_BWD_WARPS; w++) {
                dyv[w] = 0.0f;
                xv[w] = 0.0f;
                if (w < nr) {
                    dyv[w] = dyg[(long long)w * C + j];
                    xv[w] = xg[(long long)w * C + j];
                }
            }
            const float g = gamma[j];
            float ag = sdg[j];
            float ab = sdb[j];
#pragma unroll
            for (int w = 0; w < LN_BWD_WARPS; w++) {
                if (w < nr) {
                    const float4 st = ln_stat[buf][w];
                    const float xhat = (xv[w] - st.x) * st.y;
                    dxg[(long long)w * C + j] = st.y * (dyv[w] * g - st.z - xhat * st.w);
                    ag += dyv[w] * xhat;
                    ab += dyv[w];
                }
            }
            sdg[j] = ag;
            sdb[j] = ab;
        }
        // No second barrier: the next group publishes into the other ln_stat buffer, and the
        // group after that only starts once every thread has passed the next barrier.
    }

    float* pg = dgamma_partial + (long long)blockIdx.x * C;
    float* pb = dbeta_partial + (long long)blockIdx.x * C;
    for (int j = tid; j < C; j += LN_BWD_THREADS) {
        pg[j] = sdg[j];
        pb[j] = sdb[j];
    }
}

extern "C" __global__ void layernorm_param_grad_reduce_f32(const float* dgamma_partial,
                                                           const float* dbeta_partial,
                                                           float* dgamma, float* dbeta,
                                                           int parts, int C)
{
    __shared__ float sg[1024];
    __shared__ float sb[1024];
    const int bx = blockDim.x, by = blockDim.y;
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int j = blockIdx.x * bx + tx;

    float g = 0.0f, b = 0.0f;
    if (j < C) {
        const float* pg = dgamma_partial + (long long)ty * C + j;
        const float* pb = dbeta_partial + (long long)ty * C + j;
        const long long step = (long long)by * C;
#pragma unroll 8
        for (int p = ty; p < parts; p += by) {
            g += *pg;
            b += *pb;
            pg += step;
            pb += step;
        }
    }
    if (by == 1) {
        if (j < C) {
            dgamma[j] = dgamma[j] + g;
            dbeta[j] = dbeta[j] + b;
        }
        return; // block-uniform branch: no thread of this block reaches the barrier below
    }
    sg[ty * bx + tx] = g;
    sb[ty * bx + tx] = b;
    __syncthreads();
    if (ty == 0 && j < C) {
        for (int k = 1; k < by; k++) {
            g += sg[k * bx + tx];
            b += sb[k * bx + tx];
        }
        dgamma[j] = dgamma[j] + g;
        dbeta[j] = dbeta[j] + b;
    }
}
