// AdamW (torch.optim.AdamW; plain Adam when weight_decay == 0): one tensor, or many per launch.
//
// GPU twin of CpuBackend.adamwStep. Self-contained for NVRTC (no #include). param, grad, m, v
// are dense float32 tensors of n elements (long long); m and v are the first and second
// moments (zero before step 1). Per element, with g = grad[i]:
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g * g
//   p = p * (1 - lr * wd) - (lr / bc1) * m / (sqrt(v) / sqrt_bc2 + eps)
//   grad[i] = 0
// where bc1 = 1 - beta1^step and sqrt_bc2 = sqrt(1 - beta2^step) are computed by the host in
// double and passed as float (step counts from 1). Every operation is written with the IEEE
// round-to-nearest intrinsics (__fmul_rn, __fadd_rn, __fdiv_rn, __fsqrt_rn, ...), which the
// compiler never fuses into FMAs, in the CPU's order, so the update is bit-identical to
// CpuBackend.adamwStep whatever the NVRTC flags -- except that the CPU rounds the step size
// (float)(lr / bc1) from a double division while here it is lr / (float)bc1 in float, which can
// differ by one ulp of the step size.
//
// ---------------------------------------------------------------------------------------------
// adamw_step_f32(float* param, float* grad, float* m, float* v, long long n, float lr,
//                float beta1, float beta2, float eps, float weight_decay,
//                float bias_correction1, float sqrt_bias_correction2)
//   Grid-stride loop over i in [0, n); updates param, m, v in place and zeroes grad.
//   launch: grid = min(ceil(n / 256), 65535), block = 256, shared = 0
//
// adamw_multi_step_f32(const unsigned long long* params, const unsigned long long* grads,
//                      const unsigned long long* ms, const unsigned long long* vs,
//                      const long long* offsets, const float* weight_decays, int num_tensors,
//                      long long total, float lr, float beta1, float beta2, float eps,
//                      float bias_correction1, float sqrt_bias_correction2)
//   The same update over T = num_tensors tensors in one launch. All six arrays live in DEVICE
//   memory (upload them once; they change only if the parameter set does):
//     params[t], grads[t], ms[t], vs[t]  raw device addresses (CUdeviceptr as unsigned 64-bit,
//                                        i.e. Java longs) of tensor t's param/grad/m/v, [T] each
//     offsets[t]                         int64 prefix sums of the sizes, [T + 1]:
//                                        offsets[0] = 0, offsets[t+1] = offsets[t] + numel(t)
//                                        (empty tensors allowed)
//     weight_decays[t]                   float, [T]: per-tensor decay (e.g. 0 for biases,
//                                        LayerNorm, cls/pos embeddings)
//     total                              = offsets[T] (> 0)
//   The flat index i in [0, total) maps to tensor t with offsets[t] <= i < offsets[t+1] and
//   element i - offsets[t]; each thread keeps its current tensor and binary-searches forward
//   only when its grid-stride index leaves it. Results are identical to T separate
//   adamw_step_f32 launches with the same scalars.
//   launch: grid = min(ceil(total / 256), 65535), block = 256, shared = 0

#define ADAMW_INDEX_START ((long long)blockIdx.x * blockDim.x + threadIdx.x)
#define ADAMW_INDEX_STRIDE ((long long)gridDim.x * blockDim.x)

// One element, in CpuBackend.adamwStep's order of operations. decay = 1 - lr*wd and
// step_size = lr / bc1 are passed in (computed once per thread).
__device__ __forceinline__ void adamw_update(float* param, float* grad, float* m, float* v,
                                             long long i, float beta1, float one_minus_beta1,
                                             float beta2, float one_minus_beta2, float eps,
                                             float decay, float step_size, float sqrt_bc2)
{
    const float g = grad[i];
    const float mi = __fadd_rn(__fmul_rn(beta1, m[i]), __fmul_rn(one_minus_beta1, g));
    const float vi = __fadd_rn(__fmul_rn(beta2, v[i]), __fmul_rn(__fmul_rn(one_minus_beta2, g), g));
    m[i] = mi;
    v[i] = vi;
    const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), sqrt_bc2), eps);
    param[i] = __fsub_rn(__fmul_rn(param[i], decay), __fdiv_rn(__fmul_rn(step_size, mi), denom));
    grad[i] = 0.0f;
}

extern "C" __global__ void adamw_step_f32(float* param, float* grad, float* m, float* v,
                                          long long n, float lr, float beta1, float beta2,
                                          float eps, float weight_decay, float bias_correction1,
                                          float sqrt_bias_correction2)
{
    const float one_minus_beta1 = __fsub_rn(1.0f, beta1);
    const float one_minus_beta2 = __fsub_rn(1.0f, beta2);
    const float decay = __fsub_rn(1.0f, __fmul_rn(lr, weight_decay));
    const float step_size = __fdiv_rn(lr, bias_correction1);
    for (long long i = ADAMW_INDEX_START; i < n; i += ADAMW_INDEX_STRIDE) {
        adamw_update(param, grad, m, v, i, beta1, one_minus_beta1, beta2, one_minus_beta2, eps,
                     decay, step_size, sqrt_bias_correction2);
    }
}

extern "C" __global__ void adamw_multi_step_f32(const unsigned long long* params,
                                                const unsigned long long* grads,
                                                const unsigned long long* ms,
                                                const unsigned long long* vs,
                                                const long long* offsets,
                                                const float* weight_decays, int num_tensors,
                                                long long total, float lr, float beta1,
                                                float beta2, float eps, float bias_correction1,
                                                float sqrt_bias_correction2)
{
    const float one_minus_beta1 = __fsub_rn(1.0f, beta1);
    const float one_minus_beta2 = __fsub_rn(1.0f, beta2);
    const float step_size = __fdiv_rn(lr, bias_correction1);

    int t = 0;                // current tensor: offsets[t] <= i
    long long begin = 0;      // offsets[t]
    long long end = -1;       // offsets[t + 1]; -1 forces the first search
    float* p = 0;
    float* g = 0;
    float* mm = 0;
    float* vv = 0;
    float decay = 1.0f;
    for (long long i = ADAMW_INDEX_START; i < total; i += ADAMW_INDEX_STRIDE) {
        if (i >= end) {
            // Largest t' in [t, T) with offsets[t'] <= i (skips empty tensors); i only grows.
            int lo = t, hi = num_tensors - 1;
            while (lo < hi) {
                const int mid = (lo + hi + 1) >> 1;
                if (offsets[mid] <= i) {
                    lo = mid;
                } else {
                    hi = mid - 1;
                }
            }
            t = lo;
            begin = offsets[t];
            end = offsets[t + 1];
            p = (float*)params[t];
            g = (float*)grads[t];
            mm = (float*)ms[t];
            vv = (float*)vs[t];
            decay = __fsub_rn(1.0f, __fmul_rn(lr, weight_decays[t]));
        }
        adamw_update(p, g, mm, vv, i - begin, beta1, one_minus_beta1, beta2, one_minus_beta2,
                     eps, decay, step_size, sqrt_bias_correction2);
    }
}
