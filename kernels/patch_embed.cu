// ViT embedding and pooling: patchify, class token + position embedding, class-token and mean
// pooling.
//
// GPU twin of CpuBackend's patchifyForward/Backward, tokensForward/Backward,
// tokenForward/Backward and meanPoolForward/Backward. Self-contained for NVRTC (no
// #include). All tensors dense, row-major float32. Nothing is saved for backward (these ops
// are linear; backward needs only the shapes). The caller validates shapes (H % p == 0,
// W % p == 0, 0 <= first < N).
//
// Every kernel is a grid-stride loop with one output element per iteration, so any grid is
// correct; the launcher uses, for a kernel over `total` work items (formula per kernel below),
//   grid = min(ceil(total / 256), 65535), block = 256, dynamic shared memory = 0.
// Index arithmetic runs in 32-bit unsigned when every index fits (total + grid*block and the
// largest index read stay below 2^32: the common case, where divisions by the runtime sizes
// are much cheaper) and in 64-bit otherwise; the results are the same.
// Shapes: gh = H/p, gw = W/p, P = gh*gw patches, F = C*p*p features per patch.
// Every kernel here is bit-identical to CpuBackend (copies, and float sums in the CPU's order).
//
// ---------------------------------------------------------------------------------------------
// patchify_forward_f32(const float* images, float* patches, int B, int C, int H, int W, int p)
//   images [B, C, H, W] -> patches [B, P, F]:
//   patches[b, gy*gw + gx, c*p*p + py*p + px] = images[b, c, gy*p + py, gx*p + px]
//   (patches in row-major grid order, features in Conv2d weight order). One thread per
//   patches element (coalesced writes, reads in runs of p contiguous pixels).
//   launch: total = B*C*H*W; grid = min(ceil(total / 256), 65535), block = 256, shared = 0
//
// patchify_backward_f32(const float* dpatches, float* dimages, int B, int C, int H, int W, int p)
//   The inverse scatter, done as a gather: one thread per image pixel,
//   dimages[b, c, y, x] = dpatches[b, (y/p)*gw + x/p, c*p*p + (y%p)*p + x%p]. Patches tile the
//   image without overlap, so every pixel is WRITTEN exactly once.
//   launch: total = B*C*H*W; grid = min(ceil(total / 256), 65535), block = 256, shared = 0
//
// tokens_forward_f32(const float* patch_tokens, const float* cls, const float* dist,
//                    const float* pos, float* out, int B, int P, int D, int T)
//   T prefix tokens: 0 (no class token, as vit-pytorch's mean-pooling ViT; cls and dist unused,
//   may be null), 1 (the class token; dist unused, may be null) or 2 (class and DeiT's
//   distillation token). patch_tokens [B, P, D], cls [D], dist [D], pos [P+T, D] ->
//   out [B, P+T, D]: out[b, 0, d] = cls[d] + pos[0, d] when T >= 1; out[b, 1, d] = dist[d] +
//   pos[1, d] when T == 2; out[b, T+i, d] = patch_tokens[b, i, d] + pos[T+i, d]. One thread per
//   out element.
//   launch: total = B*(P+T)*D; grid = min(ceil(total / 256), 65535), block = 256, shared = 0
//
// tokens_backward_f32(const float* dout, float* dpatch_tokens, int B, int P, int D, int T)
// tokens_param_grad_f32(const float* dout, float* dcls, float* ddist, float* dpos,
//                       int B, int P, int D, int T)
//   tokensBackward is these two kernels (launch both, in either order; dout must not alias
//   an output). dout [B, P+T, D].
//   tokens_backward_f32 WRITES the activation gradient dpatch_tokens [B, P, D]:
//     dpatch_tokens[b, i, d] = dout[b, T+i, d]; one thread per dpatch_tokens element.
//   launch: total = B*P*D; grid = min(ceil(total / 256), 65535), block = 256, shared = 0
//   tokens_param_grad_f32 ADDS into the parameter gradients dpos [P+T, D], dcls [D] when T >= 1
//   and ddist [D] when T == 2 (else unused, may be null):
//     dpos[t, d] += sum over b of dout[b, t, d];  dcls[d] += sum over b of dout[b, 0, d];
//     ddist[d] += sum over b of dout[b, 1, d].
//     One thread per dpos element (t, d) adds in b = 0..B-1 order starting from the current
//     dpos / dcls / ddist value (the t < T threads update two): CpuBackend's order exactly, so
//     the result is bit-identical to it. No atomics.
//   launch: total = (P+T)*D; grid = min(ceil(total / 256), 65535), block = 256, shared = 0
//
// token_forward_f32(const float* x, float* out, int B, int N, int D, int token)
//   x [B, N, D] -> out [B, D], out[b, d] = x[b, token, d] (token 0: the class token).
//   launch: total = B*D; grid = min(ceil(total / 256), 65535), block = 256, shared = 0
//
// token_backward_f32(const float* dout, float* dx, int B, int N, int D, int token)
//   dout [B, D] -> dx [B, N, D] (WRITES all of it): dx[b, token, d] = dout[b, d], 0 elsewhere.
//   launch: total = B*N*D; grid = min(ceil(total / 256), 65535), block = 256, shared = 0
//
// mean_pool_forward_f32(const float* x, float* out, int B, int N, int D, int first)
//   x [B, N, D] -> out [B, D], out[b, d] = (sum over t = first..N-1 of x[b, t, d]) * (1f/(N-first)),
//   summed in float in t order by one thread per (b, d): bit-identical to CpuBackend.
//   launch: total = B*D; grid = min(ceil(total / 256), 65535), block = 256, shared = 0
//
// mean_pool_backward_f32(const float* dout, float* dx, int B, int N, int D, int first)
//   dout [B, D] -> dx [B, N, D] (WRITES all of it):
//   dx[b, t, d] = t < first ? 0 : dout[b, d] * (1f/(N-first)).
//   launch: total = B*N*D; grid = min(ceil(total / 256), 65535), block = 256, shared = 0

// Runs the statement(s) in __VA_ARGS__ for i = start, start + stride, ... < total, with i of
// index type I: 32-bit unsigned when neither i + stride nor any index the body computes can
// pass 2^32 - 1, else 64-bit unsigned. `bound` is the size of the largest tensor the body
// indexes when that exceeds total (0LL when total bounds every index already).
#define PE_FOR_EACH(total, bound, I, ...)                                                      \
    do {                                                                                       \
        const long long pe_total = (total);                                                    \
        const long long pe_start = (long long)blockIdx.x * blockDim.x + threadIdx.x;           \
        const long long pe_stride = (long long)gridDim.x * blockDim.x;                         \
        if (pe_total + pe_stride <= 0xFFFFFFFFLL && (bound) <= 0xFFFFFFFFLL) {                 \
            typedef unsigned int I;                                                            \
            for (I i = (I)pe_start; i < (I)pe_total; i += (I)pe_stride) {                      \
                __VA_ARGS__;                                                                   \
            }                                                                                  \
        } else {                                                                               \
            typedef unsigned long long I;                                                      \
            for (I i = (I)pe_start; i < (I)pe_total; i += (I)pe_stride) {                      \
                __VA_ARGS__;                                                                   \
            }                                                                                  \
        }                                                                                      \
    } while (0)

template <typename I>
__device__ __forceinline__ void patchify_forward_at(const float* __restrict__ images,
                                                    float* __restrict__ patches, I i,
                                                    int C, int H, int W, int p)
{
    const I gw = (I)(W / p), gh = (I)(H / p), pp = (I)p * (I)p, feat = (I)C * pp;
    const I f = i % feat, bp = i / feat;   // feature, (batch, patch)
    const I gx = bp % gw, byy = bp / gw;   // byy = b*gh + gy
    const I gy = byy % gh, b = byy / gh;
    const I c = f / pp, r = f % pp;
    const I py = r / (I)p, px = r % (I)p;
    const I src = ((b * (I)C + c) * (I)H + gy * (I)p + py) * (I)W + gx * (I)p + px;
    patches[i] = images[src];
}

extern "C" __global__ void patchify_forward_f32(const float* __restrict__ images,
                                                float* __restrict__ patches,
                                                int B, int C, int H, int W, int p)
{
    PE_FOR_EACH((long long)B * C * H * W, 0LL, I, patchify_forward_at<I>(images, patches, i, C, H, W, p));
}

template <typename I>
__device__ __forceinline__ void patchify_backward_at(const float* __restrict__ dpatches,
                                                     float* __restrict__ dimages, I i,
                                                     int C, int H, int W, int p)
{
    const I gw = (I)(W / p), gh = (I)(H / p), pp = (I)p * (I)p, feat = (I)C * pp;
    const I x = i % (I)W, row = i / (I)W;  // row = (b*C + c)*H + y
    const I y = row % (I)H, bc = row / (I)H;
    const I c = bc % (I)C, b = bc / (I)C;
    const I gx = x / (I)p, px = x % (I)p;
    const I gy = y / (I)p, py = y % (I)p;
    const I dst = ((b * gh + gy) * gw + gx) * feat + c * pp + py * (I)p + px;
    dimages[i] = dpatches[dst];
}

extern "C" __global__ void patchify_backward_f32(const float* __restrict__ dpatches,
                                                 float* __restrict__ dimages,
                                                 int B, int C, int H, int W, int p)
{
    PE_FOR_EACH((long long)B * C * H * W, 0LL, I, patchify_backward_at<I>(dpatches, dimages, i, C, H, W, p));
}

template <typename I>
__device__ __forceinline__ void tokens_forward_at(const float* __restrict__ patch_tokens,
                                                  const float* __restrict__ cls,
                                                  const float* __restrict__ dist,
                                                  const float* __restrict__ pos,
                                                  float* __restrict__ out, I i, int P, int D, int T)
{
    const I d = i % (I)D, bt = i / (I)D;
    const I t = bt % (I)(P + T), b = bt / (I)(P + T);
    const float v = t >= (I)T ? patch_tokens[(b * (I)P + (t - (I)T)) * (I)D + d]
                  : t == 0 ? cls[d]
                  : dist[d];
    out[i] = v + pos[t * (I)D + d];
}

extern "C" __global__ void tokens_forward_f32(const float* __restrict__ patch_tokens,
                                              const float* __restrict__ cls,
                                              const float* __restrict__ dist,
                                              const float* __restrict__ pos,
                                              float* __restrict__ out, int B, int P, int D, int T)
{
    PE_FOR_EACH((long long)B * (P + T) * D, 0LL, I,
                tokens_forward_at<I>(patch_tokens, cls, dist, pos, out, i, P, D, T));
}

extern "C" __global__ void tokens_backward_f32(const float* __restrict__ dout,
                                               float* __restrict__ dpatch_tokens,
                                               int B, int P, int D, int T)
{
    // dpatch_tokens[b, i, d] = dout[b, T+i, d]; j = (b*P + i)*D + d.
    PE_FOR_EACH((long long)B * P * D, (long long)B * (P + T) * D, I, {
        const I pd = (I)P * (I)D, td = (I)T * (I)D;
        const I b = i / pd, r = i % pd;
        dpatch_tokens[i] = dout[b * (pd + td) + td + r];
    });
}

template <typename I>
__device__ __forceinline__ void tokens_param_grad_at(const float* __restrict__ dout,
                                                     float* __restrict__ dcls,
                                                     float* __restrict__ ddist,
                                                     float* __restrict__ dpos,
                                                     I k, int B, int P, int D, int T)
{
    // k = t*D + d indexes dpos [P+T, D]; dout[b, t, d] = dout[b*(P+T)*D + k].
    const I step = (I)(P + T) * (I)D;
    float acc_pos = dpos[k];
    if (k < (I)T * (I)D) {                         // a prefix token: its own gradient too
        float* dtok = k < (I)D ? dcls + k : ddist + (k - (I)D);
        float acc_tok = *dtok;
        for (int b = 0; b < B; b++) {
            const float g = dout[(I)b * step + k];
            acc_tok += g;
            acc_pos += g;
        }
        *dtok = acc_tok;
    } else {
        for (int b = 0; b < B; b++) {
            acc_pos += dout[(I)b * step + k];
        }
    }
    dpos[k] = acc_pos;
}

extern "C" __global__ void tokens_param_grad_f32(const float* __restrict__ dout,
                                                 float* __restrict__ dcls,
                                                 float* __restrict__ ddist,
                                                 float* __restrict__ dpos, int B, int P, int D, int T)
{
    PE_FOR_EACH((long long)(P + T) * D, (long long)B * (P + T) * D, I,
                tokens_param_grad_at<I>(dout, dcls, ddist, dpos, i, B, P, D, T));
}

extern "C" __global__ void token_forward_f32(const float* __restrict__ x,
                                             float* __restrict__ out, int B, int N, int D, int token)
{
    PE_FOR_EACH((long long)B * D, (long long)B * N * D, I, {
        const I b = i / (I)D, d = i % (I)D;
        out[i] = x[(b * (I)N + (I)token) * (I)D + d];
    });
}

extern "C" __global__ void token_backward_f32(const float* __restrict__ dout,
                                              float* __restrict__ dx, int B, int N, int D, int token)
{
    PE_FOR_EACH((long long)B * N * D, 0LL, I, {
        const I d = i % (I)D, bt = i / (I)D;
        const I t = bt % (I)N, b = bt / (I)N;
        dx[i] = t == (I)token ? dout[b * (I)D + d] : 0.0f;
    });
}

extern "C" __global__ void mean_pool_forward_f32(const float* __restrict__ x,
                                                 float* __restrict__ out,
                                                 int B, int N, int D, int first)
{
    // 1f / (n - first) as in Java, correctly rounded whatever the NVRTC flags.
    const float inv = __fdiv_rn(1.0f, (float)(N - first));
    PE_FOR_EACH((long long)B * D, (long long)B * N * D, I, {
        const I b = i / (I)D, d = i % (I)D;
        const float* src = x + (b * (I)N + (I)first) * (I)D + d;
        float sum = 0.0f;
        for (int t = first; t < N; t++) {
            sum = __fadd_rn(sum, *src);
            src += D;
        }
        out[i] = __fmul_rn(sum, inv);
    });
}

extern "C" __global__ void mean_pool_backward_f32(const float* __restrict__ dout,
                                                  float* __restrict__ dx,
                                                  int B, int N, int D, int first)
{
    const float inv = __fdiv_rn(1.0f, (float)(N - first));
    PE_FOR_EACH((long long)B * N * D, 0LL, I, {
        const I d = i % (I)D, bt = i / (I)D;
        const I t = bt % (I)N, b = bt / (I)N;
        dx[i] = t < (I)first ? 0.0f : __fmul_rn(dout[b * (I)D + d], inv);
    });
}
