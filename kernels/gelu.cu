// Exact (erf) GELU: forward, backward, and the fused bias + GELU of the MLP's fc1.
//
// GPU twin of CpuBackend.geluForward / geluBackward. Self-contained for NVRTC (no #include).
// All tensors are dense float32; n = number of elements (long long). Nothing extra is saved:
// backward reads the forward's input x (for bias_gelu_forward_f32, the biased pre-activation
// it leaves in h).
//
//   gelu(x)  = x * Phi(x),        Phi(x) = 0.5 * erfc(-x / sqrt 2)  (= 0.5 (1 + erf(x / sqrt 2)),
//                                 written with erfcf so the x << 0 tail keeps relative accuracy,
//                                 as CpuBackend.normalCdf does)
//   gelu'(x) = Phi(x) + x * phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
// erfcf / expf are CUDA's device functions (max 4 / 2 ulp), so results agree with the CPU's
// float evaluation to a few ulps, not bit for bit.
//
// ---------------------------------------------------------------------------------------------
// gelu_forward_f32(const float* x, float* y, long long n)
//   y[i] = gelu(x[i]), i in [0, n). y may alias x. Grid-stride loop.
//   launch: grid = min(ceil(n / 256), 65535), block = 256, shared = 0
//
// gelu_backward_f32(const float* dy, const float* x, float* dx, long long n)
//   dx[i] = dy[i] * gelu'(x[i]) (WRITES dx). dx may alias dy or x. Grid-stride loop.
//   launch: grid = min(ceil(n / 256), 65535), block = 256, shared = 0
//
// bias_gelu_forward_f32(float* h, const float* bias, float* y, int rows, int cols)
//   h is [rows, cols] (the fc1 GEMM output, no bias), bias is [cols]:
//   h[r, c] += bias[c] IN PLACE (h keeps the pre-activation for gelu_backward_f32), then
//   y[r, c] = gelu(h[r, c]). y must NOT alias h. Grid-stride over n = rows * cols (64-bit),
//   the column tracked incrementally (no 64-bit modulo per element).
//   launch: grid = min(ceil(rows*cols / 256), 65535), block = 256, shared = 0
//           (rows*cols computed in 64 bits)
//   Backward of the pair: gelu_backward_f32(dy, h, dh, rows*cols), then the bias gradient as
//   for any Linear (column sums of dh).

#define GELU_INV_SQRT2 0.70710678118654752f
#define GELU_INV_SQRT_2PI 0.39894228040143268f
#define GELU_INDEX_START ((long long)blockIdx.x * blockDim.x + threadIdx.x)
#define GELU_INDEX_STRIDE ((long long)gridDim.x * blockDim.x)

__device__ __forceinline__ float gelu_normal_cdf(float v)
{
    return 0.5f * erfcf(-v * GELU_INV_SQRT2);
}

__device__ __forceinline__ float gelu_value(float v)
{
    return v * gelu_normal_cdf(v);
}

__device__ __forceinline__ float gelu_derivative(float v)
{
    const float pdf = GELU_INV_SQRT_2PI * expf(-0.5f * v * v);
    return gelu_normal_cdf(v) + v * pdf;
}

extern "C" __global__ void gelu_forward_f32(const float* x, float* y, long long n)
{
    for (long long i = GELU_INDEX_START; i < n; i += GELU_INDEX_STRIDE) {
        y[i] = gelu_value(x[i]);
    }
}

extern "C" __global__ void gelu_backward_f32(const float* dy, const float* x, float* dx, long long n)
{
    for (long long i = GELU_INDEX_START; i < n; i += GELU_INDEX_STRIDE) {
        dx[i] = dy[i] * gelu_derivative(x[i]);
    }
}

extern "C" __global__ void bias_gelu_forward_f32(float* h, const float* bias, float* y,
                                                 int rows, int cols)
{
    const long long n = (long long)rows * cols;
    const long long stride = GELU_INDEX_STRIDE;
    long long i = GELU_INDEX_START;
    if (i >= n) {
        return;
    }
    const int step = (int)(stride % cols);
    int c = (int)(i % cols);
    for (; i < n; i += stride) {
        const float v = h[i] + bias[c];
        h[i] = v;
        y[i] = gelu_value(v);
        c += step; // c, step < cols: one subtraction wraps it
        if (c >= cols) {
            c -= cols;
        }
    }
}
