// Elementwise ops, dropout, the gradient-norm reduction and the Linear bias.
//
// GPU twin of CpuBackend's add / addInPlace / scale / dropoutForward / dropoutBackward /
// sumOfSquares and of the bias parts of linearForward / linearBackward. Includes dropout_hash.cuh
// (dropout_uniform). All tensors are dense, row-major float32 unless stated. Nothing is saved for
// backward: dropout regenerates its mask from (seed, index).
//
// Notation: n = number of elements (long long), EW = the elementwise launch
//   grid = min(ceil(n / 256), 65535), block = 256, dynamic shared memory = 0 bytes
// (every EW kernel is a grid-stride loop, so any grid is correct; EW is what the launcher uses).
//
// ---------------------------------------------------------------------------------------------
// add_f32(const float* a, const float* b, float* out, long long n)
//   out[i] = a[i] + b[i], i in [0, n). out may alias a or b (addInPlace is add(acc, x, acc)).
//   launch: grid = min(ceil(n / 256), 65535), block = 256, shared = 0
//
// scale_f32(float* x, float factor, long long n)
//   x[i] *= factor (gradient clipping).
//   launch: grid = min(ceil(n / 256), 65535), block = 256, shared = 0
//
// dropout_forward_f32 (const float* in, float* out, float p, unsigned long long seed, long long n)
// dropout_backward_f32(const float* in, float* out, float p, unsigned long long seed, long long n)
//   The same map both ways: out[i] = keep(seed, i, p) ? in[i] * (1f / (1f - p)) : 0, where
//   keep(seed, i, p) = uniform(seed, i) >= p is DropoutMask.keep bit for bit: SplitMix64 of
//   (seed, i) in wrapping unsigned 64-bit arithmetic, uniform = (z >> 40) * 2^-24 as float.
//   seed is Java's long reinterpreted as unsigned (same bits); i is the element index in the
//   tensor (0-based, 64-bit). The caller checks 0 <= p < 1. in may alias out.
//   forward: in = x, out = y; backward: in = dy, out = dx (same seed and p as the forward).
//   launch: grid = min(ceil(n / 256), 65535), block = 256, shared = 0
//
// sum_of_squares_partial_f32(const float* x, long long n, double* partial)
//   Stage 1 of sumOfSquares: block k writes partial[k] = sum of (double) x[i]^2 over its
//   grid-stride share i = k*256 + t + j*(256*256) (t = thread, j = 0, 1, ...), accumulated in
//   double per thread, then a fixed-order shared-memory tree over the 256 threads.
//   The grid is FIXED (the partition, hence the rounding, depends on it): always
//   launch: grid = 256, block = 256, shared = 0   (static shared: 256 doubles = 2048 bytes)
//   partial holds 256 doubles.
// sum_partials_f64(const double* partial, int parts, double* out)
//   Stage 2: out[0] = sum of partial[0..parts) in a fixed order (thread t adds partial[t],
//   partial[t+256], ... in order, then the same fixed tree); parts = 256 after stage 1.
//   The host downloads the single double out[0].
//   launch: grid = 1, block = 256, shared = 0   (static shared: 2048 bytes)
//   (Equivalent alternative: download the 256 partials and add them in index order on the
//   host; the two orders round differently, so pick one and keep it.)
//   Both kernels require blockDim.x == 256.
//
// bias_add_f32(float* y, const float* bias, int rows, int cols)
//   y[r*cols + c] += bias[c] after the cuBLAS GEMM of linearForward; y is [rows, cols].
//   launch: grid = min(ceil(rows*cols / 256), 65535), block = 256, shared = 0
//           (rows*cols computed in 64 bits)
//
// bias_grad_f32(const float* dy, float* dbias, int rows, int cols)
//   dbias[c] += sum over r of dy[r*cols + c], dy [rows, cols], dbias [cols]. One block per
//   32-column tile, 256 threads numbered flat: lane tx = t % 32 sums column tile*32 + tx over
//   rows ty, ty+8, ... (ty = t / 32) in row order, then a fixed tree over the 8 row lanes in
//   shared memory; no atomics. Only ceil(cols/32) blocks, so it is slow for large rows (it
//   reaches a few hundred GB/s at most); it suits small rows (the head, rows = B). For
//   linearBackward's dBias with rows = B*N use the two-stage pair below.
//   launch: grid = ceil(cols / 32), block = 256 (or (32, 8)), shared = 0 (static: 1024 bytes)
//
// bias_grad_partial_f32(const float* dy, float* partial, int rows, int cols)
// bias_grad_reduce_f32(const float* partial, float* dbias, int slices, int cols)
//   Two-stage bias gradient for large rows (rows = B*N up to ~1e5 and beyond).
//   Stage 1: rows are cut into `slices` = gridDim.y contiguous slices of
//   rowsPerSlice = ceil(rows / slices) rows; block (tile, s) sums rows
//   [s*rowsPerSlice, min(rows, (s+1)*rowsPerSlice)) of columns tile*32 .. tile*32+31 exactly as
//   bias_grad_f32 does and WRITES partial[s*cols + c] (a slice with no rows writes 0).
//   Stage 2: one thread per column c adds partial[0*cols + c], partial[1*cols + c], ... in
//   slice order into a float and ADDS the result into dbias[c].
//   colTiles = ceil(cols / 32)
//   slices   = max(1, min(ceil(rows / 64), ceil(1024 / colTiles)))   (a pure function of
//              rows and cols, so the result is deterministic; ~1024 stage-1 blocks)
//   partial buffer: slices * cols floats; slices * cols <= 32768 + 32*colTiles floats, so
//              one scratch buffer of 32768 + maxCols + 32 floats (maxCols = the widest
//              Linear output; < 144 KiB for maxCols <= 3072) serves every Linear of a model
//              (stream-ordered reuse).
//   launch stage 1: grid = (colTiles, slices), block = 256 (or (32, 8)), shared = 0
//                   (static: 1024 bytes)
//   launch stage 2: grid = ceil(cols / 256), block = 256, shared = 0
//
// Results of the reductions are deterministic for a given launch, but not bit-identical to
// the CPU backend (different summation order); everything else is bit-identical to CpuBackend
// as long as the module is NOT compiled with fast-math flags that change IEEE add/mul (the
// divisions in dropout are written with __fdiv_rn so they stay exact even then).

#define EW_INDEX_START ((long long)blockIdx.x * blockDim.x + threadIdx.x)
#define EW_INDEX_STRIDE ((long long)gridDim.x * blockDim.x)

extern "C" __global__ void add_f32(const float* a, const float* b, float* out, long long n)
{
    for (long long i = EW_INDEX_START; i < n; i += EW_INDEX_STRIDE) {
        out[i] = a[i] + b[i];
    }
}

extern "C" __global__ void scale_f32(float* x, float factor, long long n)
{
    for (long long i = EW_INDEX_START; i < n; i += EW_INDEX_STRIDE) {
        x[i] = x[i] * factor;
    }
}

// ------------------------------------------------------------------------------------- dropout

#include "dropout_hash.cuh"   // dropout_uniform, the hash DropoutMask uses

__device__ __forceinline__ void dropout_apply(const float* in, float* out, float p,
                                              unsigned long long seed, long long n)
{
    // 1f / (1f - p), correctly rounded as in Java whatever the NVRTC flags.
    const float keep_scale = __fdiv_rn(1.0f, __fsub_rn(1.0f, p));
    for (long long i = EW_INDEX_START; i < n; i += EW_INDEX_STRIDE) {
        const bool keep = dropout_uniform(seed, (unsigned long long)i) >= p;
        out[i] = keep ? __fmul_rn(in[i], keep_scale) : 0.0f;
    }
}

extern "C" __global__ void dropout_forward_f32(const float* in, float* out, float p,
                                               unsigned long long seed, long long n)
{
    dropout_apply(in, out, p, seed, n);
}

extern "C" __global__ void dropout_backward_f32(const float* in, float* out, float p,
                                                unsigned long long seed, long long n)
{
    dropout_apply(in, out, p, seed, n);
}

// ------------------------------------------------------------------------------ sum of squares

#define SUMSQ_THREADS 256

// Fixed-order tree over the 256 values in s (s[0] gets the total); every thread must call it.
__device__ __forceinline__ double block_sum_256_f64(double* s, double v)
{
    const unsigned int t = threadIdx.x;
    s[t] = v;
    __syncthreads();
    for (unsigned int half = SUMSQ_THREADS / 2; half > 0; half >>= 1) {
        if (t < half) {
            s[t] = s[t] + s[t + half];
        }
        __syncthreads();
    }
    return s[0];
}

extern "C" __global__ void __launch_bounds__(SUMSQ_THREADS)
sum_of_squares_partial_f32(const float* __restrict__ x, long long n, double* __restrict__ partial)
{
    __shared__ double s[SUMSQ_THREADS];
    double acc = 0.0;
    for (long long i = EW_INDEX_START; i < n; i += EW_INDEX_STRIDE) {
        const double v = (double)x[i];
        acc += v * v; // v*v is exact in double, so a fused multiply-add rounds the same
    }
    const double total = block_sum_256_f64(s, acc);
    if (threadIdx.x == 0) {
        partial[blockIdx.x] = total;
    }
}

extern "C" __global__ void __launch_bounds__(SUMSQ_THREADS)
sum_partials_f64(const double* __restrict__ partial, int parts, double* __restrict__ out)
{
    __shared__ double s[SUMSQ_THREADS];
    double acc = 0.0;
    for (int i = threadIdx.x; i < parts; i += SUMSQ_THREADS) {
        acc += partial[i];
    }
    const double total = block_sum_256_f64(s, acc);
    if (threadIdx.x == 0) {
        out[0] = total;
    }
}

// ---------------------------------------------------------------------------------- Linear bias

extern "C" __global__ void bias_add_f32(float* __restrict__ y, const float* __restrict__ bias,
                                        int rows, int cols)
{
    const long long n = (long long)rows * cols;
    const long long stride = EW_INDEX_STRIDE;
    long long i = EW_INDEX_START;
    if (i >= n) {
        return;
    }
    // Track the column incrementally instead of a 64-bit modulo per element.
    const int step = (int)(stride % cols);
    int c = (int)(i % cols);
    for (; i < n; i += stride) {
        y[i] = y[i] + bias[c];
        c += step; // c, step < cols, so one subtraction wraps it
        if (c >= cols) {
            c -= cols;
        }
    }
}

#define BG_TX 32 // columns per block
#define BG_TY 8  // row lanes per block (BG_TX * BG_TY = 256 threads)

// Sum of dy[r, col] over r in [r0, r1) for the block's 32-column tile. The 256 threads are
// numbered flat (a 1-D block of 256 or a (32, 8) block alike): lane tx = flat % 32 owns
// column tile*32 + tx, row lane ty = flat / 32 adds rows r0+ty, r0+ty+8, ... in order, then a
// fixed tree over the 8 row lanes in shared memory. The total is valid where ty == 0.
__device__ __forceinline__ float bias_grad_tile(const float* __restrict__ dy, int cols,
                                                int r0, int r1, int tx, int ty,
                                                float (*s)[BG_TX])
{
    const int col = blockIdx.x * BG_TX + tx;
    float acc = 0.0f;
    if (col < cols) {
        const float* p = dy + (long long)(r0 + ty) * cols + col;
        const long long step = (long long)BG_TY * cols;
#pragma unroll 4
        for (int r = r0 + ty; r < r1; r += BG_TY) {
            acc += *p;
            p += step;
        }
    }
    s[ty][tx] = acc;
    __syncthreads();
#pragma unroll
    for (int half = BG_TY / 2; half > 0; half >>= 1) {
        if (ty < half) {
            s[ty][tx] = s[ty][tx] + s[ty + half][tx];
        }
        __syncthreads();
    }
    return s[0][tx];
}

extern "C" __global__ void __launch_bounds__(BG_TX * BG_TY)
bias_grad_f32(const float* __restrict__ dy, float* __restrict__ dbias, int rows, int cols)
{
    __shared__ float s[BG_TY][BG_TX];
    const int flat = threadIdx.y * blockDim.x + threadIdx.x;
    const int tx = flat % BG_TX, ty = flat / BG_TX;
    const int col = blockIdx.x * BG_TX + tx;
    const float total = bias_grad_tile(dy, cols, 0, rows, tx, ty, s);
    if (ty == 0 && col < cols) {
        dbias[col] = dbias[col] + total;
    }
}

extern "C" __global__ void __launch_bounds__(BG_TX * BG_TY)
bias_grad_partial_f32(const float* __restrict__ dy, float* __restrict__ partial, int rows, int cols)
{
    __shared__ float s[BG_TY][BG_TX];
    const int flat = threadIdx.y * blockDim.x + threadIdx.x;
    const int tx = flat % BG_TX, ty = flat / BG_TX;
    const int col = blockIdx.x * BG_TX + tx;
    const int slices = gridDim.y, slice = blockIdx.y;
    const int per = (int)(((long long)rows + slices - 1) / slices);
    const long long lo = (long long)slice * per;
    const int r0 = (int)(lo < rows ? lo : rows);
    const int r1 = (int)(lo + per < rows ? lo + per : rows);
    const float total = bias_grad_tile(dy, cols, r0, r1, tx, ty, s);
    if (ty == 0 && col < cols) {
        partial[(long long)slice * cols + col] = total;
    }
}

extern "C" __global__ void bias_grad_reduce_f32(const float* __restrict__ partial,
                                                float* __restrict__ dbias, int slices, int cols)
{
    const int col = blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= cols) {
        return;
    }
    float acc = 0.0f;
    for (int s = 0; s < slices; s++) {
        acc += partial[(long long)s * cols + col];
    }
    dbias[col] = dbias[col] + acc;
}
