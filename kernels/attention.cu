// Fused multi-head softmax attention: forward and backward.
//
// GPU twin of CpuBackend.attentionForward / attentionBackward (CpuAttention.java). Includes
// dropout_hash.cuh (dropout_uniform); no host code. Dense row-major float32, timm's packed layout:
//   qkv  [B, N, 3*D]  D = heads*hd; Q at columns [0, D), K at [D, 2D), V at [2D, 3D); head h uses
//                     columns h*hd .. h*hd+hd-1 within each third
//   out  [B, N, D]    heads concatenated: out[b, i, h*hd + d]
//   lse  [B, heads, N] saved for backward: lse = m + log(sum_j exp(s_j - m)), s_j = (q_i . k_j) * scale,
//                     m = max_j s_j (natural log, of the SCALED scores)
//   dout [B, N, D], dqkv [B, N, 3*D] (dQ | dK | dV in the qkv layout; every element WRITTEN)
// scale is passed by the launcher: 1/sqrt(hd) in timm and vit-pytorch, 1/sqrt(model width) in the
// 2020 tutorial ViT (any positive float; the kernels only multiply by it). D is the attention's
// width (vit-pytorch's heads*dim_head), not necessarily the model's. Ranges: B, N, heads >= 1 and
// 1 <= hd <= 128 (any value; hd need not be a power of two); B*heads and N*(2*hdp+2) must fit an
// int. Element offsets are long long. Float accumulation, expf/logf (accurate, no fast-math
// assumed). The N x N score matrix never touches global memory. Buffers need only float
// alignment; when hd % 4 == 0 and all pointers are 16-byte aligned, rows move as float4 (bitwise
// the same results either way).
//
// ---------------------------------------------------------------------------------------------
// Geometry, common to both kernels. Every (b, h) is a "pair" p = b*heads + h (pairs = B*heads).
// A thread block OWNS up to 256/G rows (one row = one token of one pair, held in registers by a
// group of G consecutive lanes, lane `sub` of the group holding the float4 chunks
// d = 4*(sub + G*k) .. +3, k = 0..NC4-1, of a zero-padded head dim hdp = 4*G*NC4) and STREAMS the
// other operand of its pair(s) through shared memory in tiles of ST rows. Dot products are
// per-lane fma chains finished by an xor-butterfly of __shfl_xor_sync inside the group (every
// lane gets the same bits). Short sequences pack P pairs into one block (P*N rows) so that e.g.
// N = 17 fills 255 of 256 threads; long ones split a pair's owned rows into nt tiles.
//
//   hd    1..8   9..16  17..32  33..64  65..128
//   hdp   8      16     32      64      128
//   G     1      1      2       4       8        (lanes per row; NC4 = hdp/(4G) = 2 for hdp 8, else 4)
//
// The launcher computes, in int arithmetic (ceil(a/b) = (a + b - 1) / b):
//   hdp   = hd <= 8 ? 8 : hd <= 16 ? 16 : hd <= 32 ? 32 : hd <= 64 ? 64 : 128
//   G     = hdp <= 16 ? 1 : hdp / 16
//   rowF  = 2*hdp + 2                       (shared floats per streamed row)
//   slots = 256 / G
//   P     = max(1, min(slots / N, 8192 / (((N + 1) / 2 * 2) * rowF + 4)))   (pairs per block)
//   nt    = ceil(N / slots)                 (owned-row tiles per pair; 1 whenever P > 1)
//   OT    = ceil(N / nt)                    (owned rows per pair per block)
//   block = ceil(P*OT*G / 32) * 32          (<= 256)
//   STmax = ((8192 / P - 4) / rowF) / 2 * 2
//   ST    = ceil(N / ceil(N / STmax));  STa = (ST + 1) / 2 * 2
//   shared bytes = 4 * P * (STa*rowF + 4)   (dynamic; always <= 32768, so no opt-in attribute)
//   gridX = ceil(B*heads / P)
// launch: attention_forward_f32:  grid = (gridX, nt, 1), block = (block, 1, 1), shared = 4*P*(STa*rowF + 4) bytes
// launch: attention_backward_f32: grid = (gridX, nt, 2), block = (block, 1, 1), shared = 4*P*(STa*rowF + 4) bytes
// (same block and shared size for both; the backward only adds gridZ = 2.) Examples:
//   N=17,  hd=8:   P=15, nt=1, block=256, shared=19680   (gridX = ceil(B*heads/15))
//   N=17,  hd=16:  P=13, nt=1, block=224, shared=32032
//   N=65,  hd=16:  P=3,  nt=1, block=224, shared=26976;   N=65, hd=32: P=1, nt=1, block=160, shared=17440
//   N=65,  hd=64:  P=1,  nt=2, block=160, shared=17696
//   N=197, hd=64:  P=1,  nt=4, block=224, shared=26016;   N=197, hd=128: P=1, nt=7, block=256, shared=30976
// Both kernels recompute this geometry from (B, N, heads, hd) and __trap() (launch failure) if
// blockDim, gridDim or the dynamic shared size disagree, or if an argument is out of range, so a
// launcher that drifts from this formula fails loudly instead of reading or writing out of bounds.
//
// Shared layout per packed pair (stride STa*rowF + 4 floats; the +4 staggers the pairs' banks):
//   A[STa][hdp] | B[STa][hdp] | C1[STa] | C2[STa] | 4 pad
// Only rows < cnt of a tile are written and read; their dims hd..hdp-1 are written as zeros.
// Resources (nvcc/NVRTC 13.0, sm_90 and sm_80): __launch_bounds__(256, 2) caps every kernel at 128
// registers, no spills (but the dropout forward at sm_90: 12 bytes); no static shared memory. The
// ATTN_JC_* / ATTN_MINB_* knobs below tune unrolling and registers only and do not change the
// launch geometry.
//
// ---------------------------------------------------------------------------------------------
// attention_forward_f32(const float* qkv, float* out, float* lse, int B, int N, int heads, int hd,
//                       float scale)
//   Owned rows: queries (q_i in registers, output accumulator in registers). Streamed: K -> A,
//   V -> B. Online softmax over key chunks of 4 (then single keys for the tail): running max m,
//   running sum l, acc rescaled by expf(m_old - m_new) once per chunk; out = acc * (1/l),
//   lse = m + logf(l). Writes out and lse.
//
// attention_backward_f32(const float* dout, const float* qkv, const float* out, const float* lse,
//                        float* dqkv, int B, int N, int heads, int hd, float scale)
//   FlashAttention-2's backward made deterministic by ownership instead of atomics: the grid's
//   z = 0 half and z = 1 half do two different jobs over the same tiling (one launch):
//   z = 0 (dQ): owned rows are queries i (q_i, dO_i, dq_i in registers, lse_i, and
//     rowDot_i = dO_i . O_i computed by the owning lanes); K -> A, V -> B are streamed over all
//     keys: s = q.k_j*scale, P = expf(s - lse_i), dP = dO_i.v_j, dS = P*(dP - rowDot_i)*scale,
//     dq_i += dS k_j. Writes dQ.
//   z = 1 (dK, dV): owned rows are keys j (k_j, v_j, dk_j, dv_j in registers); Q -> A, dO -> B,
//     lse -> C1, rowDot -> C2 are streamed over all queries (rowDot recomputed per tile by the
//     loader): dv_j += P dO_i, dk_j += dS q_i. Writes dK and dV.
//   Every gradient element has exactly one owning lane that sums in a fixed order (queries or
//   keys ascending), so results are bitwise reproducible; no atomics, no scratch buffer, no
//   preprocessing kernel. Why this and not one block per (b, h) holding all N keys: K, V, Q, dO of
//   N = 197, hd = 64 are 200 KB, far beyond 48 KB; the cost of the split is that S and dP are
//   computed twice (once per job), which buys full parallelism (2 * gridX * nt blocks) and
//   bounded shared memory for any N. rowDot is computed by the same function (fixed order)
//   in both jobs.
// ---------------------------------------------------------------------------------------------

// attention_dropout_forward_f32(qkv, out, lse, B, N, heads, hd, scale, float p,
//                               unsigned long long seed)
// attention_dropout_backward_f32(dout, qkv, out, lse, dqkv, B, N, heads, hd, scale, float p,
//                                unsigned long long seed)
//   The same kernels with dropout on the attention weights, as vit-pytorch applies it
//   (attn = dropout(softmax(scores))): weight P[b, h, i, j] is kept with probability 1 - p and
//   then scaled by 1/(1 - p) (M_ij below), by DropoutMask's SplitMix64 of
//   (seed, ((b*heads + h)*N + i)*N + j), bit for bit the hash of elementwise.cu (both include
//   dropout_hash.cuh). The forward sums the UNdropped
//   weights into l (so lse is unchanged) and the kept ones into the output: out_i = sum_j P_ij
//   M_ij v_j. Backward: dv_j += P_ij M_ij dO_i; dP_ij = (dO_i . v_j) M_ij; dS = P (dP - rowDot)
//   * scale as before, rowDot_i = dO_i . O_i being sum_j P_ij dP_ij still. Same geometry and
//   launch as the kernels without dropout:
// launch: attention_dropout_forward_f32:  grid = (gridX, nt, 1), block = (block, 1, 1), shared = 4*P*(STa*rowF + 4) bytes
// launch: attention_dropout_backward_f32: grid = (gridX, nt, 2), block = (block, 1, 1), shared = 4*P*(STa*rowF + 4) bytes

#define ATTN_THREADS 256        // owned slots * G never exceed this
#define ATTN_SMEM_FLOATS 8192   // 32 KB shared budget per block
#ifndef ATTN_JC_FWD
#define ATTN_JC_FWD 4           // keys per online-softmax step (forward)
#endif
#ifndef ATTN_JC_DQ
#define ATTN_JC_DQ 2            // keys per step (backward, dQ job)
#endif
#ifndef ATTN_JC_DKV
#define ATTN_JC_DKV 1           // queries per step (backward, dK/dV job)
#endif
#ifndef ATTN_MINB_FWD
#define ATTN_MINB_FWD 2
#endif
#ifndef ATTN_MINB_BWD
#define ATTN_MINB_BWD 2
#endif

struct AttnCfg {
    int hdp, G, P, nt, OT, ST, STa, pairStride, block, gridX, smemBytes;
};

__device__ __forceinline__ int attn_cdiv(int a, int b) { return (a + b - 1) / b; }
__device__ __forceinline__ int attn_min(int a, int b) { return a < b ? a : b; }
__device__ __forceinline__ int attn_max(int a, int b) { return a > b ? a : b; }

// Dynamic shared memory of this launch, in bytes.
__device__ __forceinline__ unsigned attn_dynamic_smem_bytes() {
#ifdef __CUDA_ARCH__
    unsigned r;
    asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(r));
    return r;
#elif defined(VIT4J_EMULATOR)
    return emu_dynamic_shared_bytes();   // the emulated GPU (native-tests/emulator) knows it too
#else
    return 0xffffffffu;   // not device code (e.g. a host-side emulation): nothing to check
#endif
}

// The launch geometry of the header, and the launch check.
__device__ __forceinline__ AttnCfg attn_config(int B, int N, int heads, int hd, unsigned gridZ) {
    const unsigned dyn = attn_dynamic_smem_bytes();
    if (B < 1 || N < 1 || heads < 1 || hd < 1 || hd > 128) {
        __trap();
    }
    AttnCfg c;
    c.hdp = hd <= 8 ? 8 : hd <= 16 ? 16 : hd <= 32 ? 32 : hd <= 64 ? 64 : 128;
    c.G = c.hdp <= 16 ? 1 : c.hdp / 16;
    const int rowF = 2 * c.hdp + 2;
    const int slots = ATTN_THREADS / c.G;
    c.P = attn_max(1, attn_min(slots / N, ATTN_SMEM_FLOATS / (((N + 1) / 2 * 2) * rowF + 4)));
    c.nt = attn_cdiv(N, slots);
    c.OT = attn_cdiv(N, c.nt);
    c.block = attn_cdiv(c.P * c.OT * c.G, 32) * 32;
    const int stMax = ((ATTN_SMEM_FLOATS / c.P - 4) / rowF) / 2 * 2;
    c.ST = attn_cdiv(N, attn_cdiv(N, stMax));
    c.STa = (c.ST + 1) / 2 * 2;
    c.pairStride = c.STa * rowF + 4;
    c.smemBytes = 4 * c.P * c.pairStride;
    c.gridX = attn_cdiv(B * heads, c.P);
    if (blockDim.x != (unsigned) c.block || blockDim.y != 1 || blockDim.z != 1
            || gridDim.x != (unsigned) c.gridX || gridDim.y != (unsigned) c.nt || gridDim.z != gridZ
            || dyn < (unsigned) c.smemBytes) {
        __trap();
    }
    return c;
}

extern __shared__ float4 attn_smem[];

#include "dropout_hash.cuh"   // dropout_uniform, the hash DropoutMask uses

// Attention-weight dropout: probability p, survivors scaled by keep = 1/(1 - p).
struct AttnDrop {
    float p, keep;
    unsigned long long seed;
};

// M for weight `index` ((b*heads + h)*N + i)*N + j: keep or 0.
__device__ __forceinline__ float attn_drop_factor(const AttnDrop& dr, long long index) {
    return dropout_uniform(dr.seed, (unsigned long long) index) >= dr.p ? dr.keep : 0.f;
}

__device__ __forceinline__ bool attn_aligned16(const void* p) {
    return (reinterpret_cast<unsigned long long>(p) & 15ULL) == 0;
}

// Four floats p[0..3], those at index >= n read as 0 (n may be <= 0: nothing is read).
__device__ __forceinline__ float4 attn_ld4(const float* __restrict__ p, int n, bool vec) {
    if (vec && n >= 4) {
        return *reinterpret_cast<const float4*>(p);
    }
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
    if (n > 0) v.x = p[0];
    if (n > 1) v.y = p[1];
    if (n > 2) v.z = p[2];
    if (n > 3) v.w = p[3];
    return v;
}

// Stores v to p[0..3], only the first n (n may be <= 0: nothing is written).
__device__ __forceinline__ void attn_st4(float* __restrict__ p, float4 v, int n, bool vec) {
    if (vec && n >= 4) {
        *reinterpret_cast<float4*>(p) = v;
        return;
    }
    if (n > 0) p[0] = v.x;
    if (n > 1) p[1] = v.y;
    if (n > 2) p[2] = v.z;
    if (n > 3) p[3] = v.w;
}

// A fresh shared-memory load the compiler may not merge with an earlier one of the same address:
// the backward reads each streamed row twice (dot products, then updates) and keeping the first
// read alive in registers for a chunk of rows would double the register footprint.
__device__ __forceinline__ float4 attn_lds4_fresh(const float* p) {
#ifdef __CUDA_ARCH__
    float4 v;
    const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(p));
    asm volatile("ld.shared.v4.f32 {%0, %1, %2, %3}, [%4];"
                 : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w) : "r"(a));
    return v;
#else
    return *reinterpret_cast<const float4*>(p);
#endif
}

__device__ __forceinline__ float attn_dot4(float4 a, float4 b, float s) {
    s = fmaf(a.x, b.x, s);
    s = fmaf(a.y, b.y, s);
    s = fmaf(a.z, b.z, s);
    s = fmaf(a.w, b.w, s);
    return s;
}

__device__ __forceinline__ void attn_axpy4(float4& y, float a, float4 x) {
    y.x = fmaf(a, x.x, y.x);
    y.y = fmaf(a, x.y, y.y);
    y.z = fmaf(a, x.z, y.z);
    y.w = fmaf(a, x.w, y.w);
}

// rowDot = sum_{d < hd} g[d] * o[d]: four partial sums (d mod 4, ascending d), then
// (s0 + s1) + (s2 + s3). Both backward jobs use this, so they agree bitwise, and the
// float4 and scalar paths sum in the same order.
__device__ __forceinline__ float attn_rowdot(const float* __restrict__ g, const float* __restrict__ o,
                                             int hd, bool vec) {
    float4 s = make_float4(0.f, 0.f, 0.f, 0.f);
    for (int d = 0; d < hd; d += 4) {
        const float4 a = attn_ld4(g + d, hd - d, vec);
        const float4 b = attn_ld4(o + d, hd - d, vec);
        s.x = fmaf(a.x, b.x, s.x);
        s.y = fmaf(a.y, b.y, s.y);
        s.z = fmaf(a.z, b.z, s.z);
        s.w = fmaf(a.w, b.w, s.w);
    }
    return (s.x + s.y) + (s.z + s.w);
}

// Sum over the G lanes of a group (G a power of two dividing 32); all 32 lanes must call it.
template <int G>
__device__ __forceinline__ float attn_group_sum(float v) {
#pragma unroll
    for (int off = G / 2; off > 0; off >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, off);
    }
    return v;
}

// Per-thread view of the block: which owned row this lane's group holds.
struct AttnThread {
    int pairBase, pairsHere;   // first pair of the block, pairs it really has (<= P)
    int rowsHere;              // valid owned slots: a prefix [0, rowsHere) of the slots
    int row0;                  // first owned row (token) of each pair in this block
    int sub;                   // lane within the group
    int pl;                    // local pair of the slot (clamped to a valid one for idle slots)
    int i;                     // owned token index (meaningful when valid)
    int b, h;                  // pair pl's (b, h)
    bool valid;                // this slot owns a real row
    bool warpActive;           // some slot of this warp owns a real row (warp-uniform)
};

template <int G>
__device__ __forceinline__ AttnThread attn_thread(const AttnCfg& c, int B, int N, int heads) {
    AttnThread t;
    t.pairBase = blockIdx.x * c.P;
    t.pairsHere = attn_min(c.P, B * heads - t.pairBase);
    t.row0 = blockIdx.y * c.OT;
    t.rowsHere = (t.pairsHere - 1) * c.OT + attn_min(c.OT, N - t.row0);
    const int tid = threadIdx.x;
    const int r = tid / G;
    t.sub = tid % G;
    t.valid = r < t.rowsHere;
    t.warpActive = (tid & ~31) / G < t.rowsHere;
    t.pl = attn_min(r / c.OT, t.pairsHere - 1);
    t.i = t.row0 + r % c.OT;
    const int p = t.pairBase + t.pl;
    t.b = p / heads;
    t.h = p - t.b * heads;
    return t;
}

// Loads streamed rows [t0, t0 + cnt) of the block's pairs: A rows from srcA (row stride strideA
// floats, column offset colA + h*hd), B rows likewise; rows zero-padded from hd to HDP. With
// withStats also C1 = lse[p, row] and C2 = rowDot(dout row, out row) (backward dK/dV job).
template <int HDP, bool withStats>
__device__ __forceinline__ void attn_load_tile(float* sm, const AttnCfg& c, const AttnThread& t,
        int N, int heads, int hd, int t0, int cnt, bool vec,
        const float* __restrict__ srcA, long long strideA, int colA,
        const float* __restrict__ srcB, long long strideB, int colB,
        const float* __restrict__ lse, const float* __restrict__ dout, const float* __restrict__ out, int D) {
    constexpr int C = HDP / 4;
    const int items = t.pairsHere * cnt * C;
    for (int idx = threadIdx.x; idx < items; idx += blockDim.x) {
        const int c4 = idx % C;
        const int rest = idx / C;
        const int jr = rest % cnt;
        const int lp = rest / cnt;
        const int p = t.pairBase + lp;
        const int b = p / heads;
        const int h = p - b * heads;
        const long long tok = (long long) b * N + t0 + jr;
        const int d = 4 * c4;
        float* dst = sm + lp * c.pairStride + jr * HDP + d;
        *reinterpret_cast<float4*>(dst) = attn_ld4(srcA + tok * strideA + colA + h * hd + d, hd - d, vec);
        *reinterpret_cast<float4*>(dst + c.STa * HDP) =
                attn_ld4(srcB + tok * strideB + colB + h * hd + d, hd - d, vec);
    }
    if (withStats) {
        const int rows = t.pairsHere * cnt;
        for (int idx = threadIdx.x; idx < rows; idx += blockDim.x) {
            const int jr = idx % cnt;
            const int lp = idx / cnt;
            const int p = t.pairBase + lp;
            const int b = p / heads;
            const int h = p - b * heads;
            const long long tok = (long long) b * N + t0 + jr;
            float* st = sm + lp * c.pairStride + 2 * c.STa * HDP;
            st[jr] = lse[(long long) p * N + t0 + jr];
            st[c.STa + jr] = attn_rowdot(dout + tok * D + h * hd, out + tok * D + h * hd, hd, vec);
        }
    }
}

// ============================================================================= forward

// idx: the dropout index of key j's weight (DROP only).
template <int G, int NC4, int JC, bool DROP>
__device__ __forceinline__ void attn_fwd_chunk(const float* sA, const float* sB, int j,
        const float4 (&q)[NC4], float4 (&acc)[NC4], float& m, float& l, float scale,
        const AttnDrop& dr, long long idx) {
    constexpr int HDP = 4 * G * NC4;
    float s[JC];
#pragma unroll
    for (int jj = 0; jj < JC; ++jj) {
        const float* kr = sA + (j + jj) * HDP;
        float a = 0.f;
#pragma unroll
        for (int k = 0; k < NC4; ++k) {
            a = attn_dot4(q[k], *reinterpret_cast<const float4*>(kr + 4 * G * k), a);
        }
        s[jj] = a;
    }
#pragma unroll
    for (int jj = 0; jj < JC; ++jj) {
        s[jj] = attn_group_sum<G>(s[jj]) * scale;
    }
    float mx = m;
#pragma unroll
    for (int jj = 0; jj < JC; ++jj) {
        mx = fmaxf(mx, s[jj]);
    }
    const float alpha = expf(m - mx);   // 0 on the first chunk (m = -inf)
    l *= alpha;
#pragma unroll
    for (int k = 0; k < NC4; ++k) {
        acc[k].x *= alpha;
        acc[k].y *= alpha;
        acc[k].z *= alpha;
        acc[k].w *= alpha;
    }
#pragma unroll
    for (int jj = 0; jj < JC; ++jj) {
        const float p = expf(s[jj] - mx);
        l += p;
        const float pw = DROP ? p * attn_drop_factor(dr, idx + jj) : p;
        const float* vr = sB + (j + jj) * HDP;
#pragma unroll
        for (int k = 0; k < NC4; ++k) {
            attn_axpy4(acc[k], pw, *reinterpret_cast<const float4*>(vr + 4 * G * k));
        }
    }
    m = mx;
}

template <int G, int NC4, bool DROP>
__device__ __forceinline__ void attn_forward(const float* __restrict__ qkv, float* __restrict__ out,
        float* __restrict__ lse, int B, int N, int heads, int hd, float scale, const AttnCfg& c,
        const AttnDrop& dr) {
    constexpr int HDP = 4 * G * NC4;
    float* sm = reinterpret_cast<float*>(attn_smem);
    const AttnThread t = attn_thread<G>(c, B, N, heads);
    const int D = heads * hd;
    const long long rs = 3LL * D;
    const bool vec = (hd & 3) == 0 && attn_aligned16(qkv) && attn_aligned16(out);

    float4 q[NC4], acc[NC4];
    const float* qrow = qkv + ((long long) t.b * N + t.i) * rs + t.h * hd;
#pragma unroll
    for (int k = 0; k < NC4; ++k) {
        const int d = 4 * (t.sub + G * k);
        q[k] = t.valid ? attn_ld4(qrow + d, hd - d, vec) : make_float4(0.f, 0.f, 0.f, 0.f);
        acc[k] = make_float4(0.f, 0.f, 0.f, 0.f);
    }
    float m = __int_as_float(0xff800000);   // -inf
    float l = 0.f;
    const float* sA = sm + t.pl * c.pairStride + 4 * t.sub;
    const float* sB = sA + c.STa * HDP;
    const long long rowIdx = ((long long) (t.pairBase + t.pl) * N + t.i) * N;   // weight (pair, i, 0)

    for (int t0 = 0; t0 < N; t0 += c.ST) {
        const int cnt = attn_min(c.ST, N - t0);
        __syncthreads();   // the previous tile is consumed
        attn_load_tile<HDP, false>(sm, c, t, N, heads, hd, t0, cnt, vec,
                qkv, rs, D, qkv, rs, 2 * D, nullptr, nullptr, nullptr, D);
        __syncthreads();
        if (t.warpActive) {
            int j = 0;
            for (; j + ATTN_JC_FWD <= cnt; j += ATTN_JC_FWD) {
                attn_fwd_chunk<G, NC4, ATTN_JC_FWD, DROP>(sA, sB, j, q, acc, m, l, scale, dr, rowIdx + t0 + j);
            }
            for (; j < cnt; ++j) {
                attn_fwd_chunk<G, NC4, 1, DROP>(sA, sB, j, q, acc, m, l, scale, dr, rowIdx + t0 + j);
            }
        }
    }
    if (t.valid) {
        const float inv = 1.f / l;
        float* orow = out + ((long long) t.b * N + t.i) * D + t.h * hd;
#pragma unroll
        for (int k = 0; k < NC4; ++k) {
            const int d = 4 * (t.sub + G * k);
            const float4 o = make_float4(acc[k].x * inv, acc[k].y * inv, acc[k].z * inv, acc[k].w * inv);
            attn_st4(orow + d, o, hd - d, vec);
        }
        if (t.sub == 0) {
            lse[((long long) t.b * heads + t.h) * N + t.i] = m + logf(l);
        }
    }
}

template <bool DROP>
__device__ __forceinline__ void attn_forward_any(const float* __restrict__ qkv, float* __restrict__ out,
        float* __restrict__ lse, int B, int N, int heads, int hd, float scale, const AttnDrop& dr) {
    const AttnCfg c = attn_config(B, N, heads, hd, 1u);
    switch (c.hdp) {
        case 8:   attn_forward<1, 2, DROP>(qkv, out, lse, B, N, heads, hd, scale, c, dr); break;
        case 16:  attn_forward<1, 4, DROP>(qkv, out, lse, B, N, heads, hd, scale, c, dr); break;
        case 32:  attn_forward<2, 4, DROP>(qkv, out, lse, B, N, heads, hd, scale, c, dr); break;
        case 64:  attn_forward<4, 4, DROP>(qkv, out, lse, B, N, heads, hd, scale, c, dr); break;
        default:  attn_forward<8, 4, DROP>(qkv, out, lse, B, N, heads, hd, scale, c, dr); break;
    }
}

extern "C" __global__ void __launch_bounds__(ATTN_THREADS, ATTN_MINB_FWD)
attention_forward_f32(const float* __restrict__ qkv, float* __restrict__ out, float* __restrict__ lse,
                      int B, int N, int heads, int hd, float scale) {
    const AttnDrop none = {0.f, 1.f, 0ULL};
    attn_forward_any<false>(qkv, out, lse, B, N, heads, hd, scale, none);
}

extern "C" __global__ void __launch_bounds__(ATTN_THREADS, ATTN_MINB_FWD)
attention_dropout_forward_f32(const float* __restrict__ qkv, float* __restrict__ out, float* __restrict__ lse,
                              int B, int N, int heads, int hd, float scale, float p, unsigned long long seed) {
    if (!(p >= 0.f && p < 1.f)) {
        __trap();
    }
    const AttnDrop dr = {p, __fdiv_rn(1.f, 1.f - p), seed};   // 1/(1-p) correctly rounded, as Java's
    attn_forward_any<true>(qkv, out, lse, B, N, heads, hd, scale, dr);
}

// ============================================================================= backward

// dQ job, JC keys from j: owned q, g = dO_i, dq; A = K, B = V.
// idx: the dropout index of key j's weight (DROP only).
template <int G, int NC4, int JC, bool DROP>
__device__ __forceinline__ void attn_dq_chunk(const float* sA, const float* sB, int j,
        const float4 (&q)[NC4], const float4 (&g)[NC4], float4 (&dq)[NC4],
        float lseI, float dotI, float scale, const AttnDrop& dr, long long idx) {
    constexpr int HDP = 4 * G * NC4;
    float s[JC], dp[JC];
#pragma unroll
    for (int jj = 0; jj < JC; ++jj) {
        const float* kr = sA + (j + jj) * HDP;
        const float* vr = sB + (j + jj) * HDP;
        float a = 0.f, e = 0.f;
#pragma unroll
        for (int k = 0; k < NC4; ++k) {
            a = attn_dot4(q[k], *reinterpret_cast<const float4*>(kr + 4 * G * k), a);
            e = attn_dot4(g[k], *reinterpret_cast<const float4*>(vr + 4 * G * k), e);
        }
        s[jj] = a;
        dp[jj] = e;
    }
#pragma unroll
    for (int jj = 0; jj < JC; ++jj) {
        s[jj] = attn_group_sum<G>(s[jj]);
        dp[jj] = attn_group_sum<G>(dp[jj]);
    }
#pragma unroll
    for (int jj = 0; jj < JC; ++jj) {
        const float p = expf(s[jj] * scale - lseI);
        const float dpm = DROP ? dp[jj] * attn_drop_factor(dr, idx + jj) : dp[jj];
        const float ds = p * (dpm - dotI) * scale;
        const float* kr = sA + (j + jj) * HDP;
#pragma unroll
        for (int k = 0; k < NC4; ++k) {
            attn_axpy4(dq[k], ds, attn_lds4_fresh(kr + 4 * G * k));
        }
    }
}

// dK/dV job, JC queries from i: owned kk, vv, dk, dv; A = Q, B = dO, C1 = lse, C2 = rowDot.
// idx: the dropout index of query i's weight on the owned key; the next query's is idx + N (DROP only).
template <int G, int NC4, int JC, bool DROP>
__device__ __forceinline__ void attn_dkv_chunk(const float* sA, const float* sB, const float* sLse,
        const float* sDot, int i, const float4 (&kk)[NC4], const float4 (&vv)[NC4],
        float4 (&dk)[NC4], float4 (&dv)[NC4], float scale, const AttnDrop& dr, long long idx, int N) {
    constexpr int HDP = 4 * G * NC4;
    float s[JC], dp[JC];
#pragma unroll
    for (int ii = 0; ii < JC; ++ii) {
        const float* qr = sA + (i + ii) * HDP;
        const float* gr = sB + (i + ii) * HDP;
        float a = 0.f, e = 0.f;
#pragma unroll
        for (int k = 0; k < NC4; ++k) {
            a = attn_dot4(*reinterpret_cast<const float4*>(qr + 4 * G * k), kk[k], a);
            e = attn_dot4(*reinterpret_cast<const float4*>(gr + 4 * G * k), vv[k], e);
        }
        s[ii] = a;
        dp[ii] = e;
    }
#pragma unroll
    for (int ii = 0; ii < JC; ++ii) {
        s[ii] = attn_group_sum<G>(s[ii]);
        dp[ii] = attn_group_sum<G>(dp[ii]);
    }
#pragma unroll
    for (int ii = 0; ii < JC; ++ii) {
        const float p = expf(s[ii] * scale - sLse[i + ii]);
        const float f = DROP ? attn_drop_factor(dr, idx + (long long) ii * N) : 1.f;
        const float ds = p * ((DROP ? dp[ii] * f : dp[ii]) - sDot[i + ii]) * scale;
        const float pw = DROP ? p * f : p;
        const float* qr = sA + (i + ii) * HDP;
        const float* gr = sB + (i + ii) * HDP;
#pragma unroll
        for (int k = 0; k < NC4; ++k) {
            attn_axpy4(dv[k], pw, attn_lds4_fresh(gr + 4 * G * k));
            attn_axpy4(dk[k], ds, attn_lds4_fresh(qr + 4 * G * k));
        }
    }
}

template <int G, int NC4, bool DROP>
__device__ __forceinline__ void attn_backward(const float* __restrict__ dout, const float* __restrict__ qkv,
        const float* __restrict__ out, const float* __restrict__ lse, float* __restrict__ dqkv,
        int B, int N, int heads, int hd, float scale, const AttnCfg& c, const AttnDrop& dr) {
    constexpr int HDP = 4 * G * NC4;
    float* sm = reinterpret_cast<float*>(attn_smem);
    const AttnThread t = attn_thread<G>(c, B, N, heads);
    const int D = heads * hd;
    const long long rs = 3LL * D;
    const bool vec = (hd & 3) == 0 && attn_aligned16(qkv) && attn_aligned16(dqkv)
            && attn_aligned16(dout) && attn_aligned16(out);
    const long long tok = (long long) t.b * N + t.i;   // the owned row's token
    const float* sA = sm + t.pl * c.pairStride + 4 * t.sub;
    const float* sB = sA + c.STa * HDP;
    const float* sLse = sm + t.pl * c.pairStride + 2 * c.STa * HDP;
    const float* sDot = sLse + c.STa;
    const float4 zero = make_float4(0.f, 0.f, 0.f, 0.f);
    const long long pairIdx = (long long) (t.pairBase + t.pl) * N * N;   // dropout index of weight (pair, 0, 0)

    if (blockIdx.z == 0) {
        // ---- dQ: owned queries, streamed keys
        float4 q[NC4], g[NC4], dq[NC4];
        const float* qrow = qkv + tok * rs + t.h * hd;
        const float* grow = dout + tok * D + t.h * hd;
#pragma unroll
        for (int k = 0; k < NC4; ++k) {
            const int d = 4 * (t.sub + G * k);
            q[k] = t.valid ? attn_ld4(qrow + d, hd - d, vec) : zero;
            g[k] = t.valid ? attn_ld4(grow + d, hd - d, vec) : zero;
            dq[k] = zero;
        }
        float lseI = 0.f, dotI = 0.f;
        if (t.valid) {
            lseI = lse[((long long) t.b * heads + t.h) * N + t.i];
            dotI = attn_rowdot(grow, out + tok * D + t.h * hd, hd, vec);
        }
        for (int t0 = 0; t0 < N; t0 += c.ST) {
            const int cnt = attn_min(c.ST, N - t0);
            __syncthreads();
            attn_load_tile<HDP, false>(sm, c, t, N, heads, hd, t0, cnt, vec,
                    qkv, rs, D, qkv, rs, 2 * D, nullptr, nullptr, nullptr, D);
            __syncthreads();
            if (t.warpActive) {
                int j = 0;
                const long long idx = pairIdx + (long long) t.i * N + t0;   // weight (pair, i, t0)
                for (; j + ATTN_JC_DQ <= cnt; j += ATTN_JC_DQ) {
                    attn_dq_chunk<G, NC4, ATTN_JC_DQ, DROP>(sA, sB, j, q, g, dq, lseI, dotI, scale, dr, idx + j);
                }
                for (; j < cnt; ++j) {
                    attn_dq_chunk<G, NC4, 1, DROP>(sA, sB, j, q, g, dq, lseI, dotI, scale, dr, idx + j);
                }
            }
        }
        if (t.valid) {
            float* drow = dqkv + tok * rs + t.h * hd;
#pragma unroll
            for (int k = 0; k < NC4; ++k) {
                const int d = 4 * (t.sub + G * k);
                attn_st4(drow + d, dq[k], hd - d, vec);
            }
        }
    } else {
        // ---- dK, dV: owned keys, streamed queries
        float4 kk[NC4], vv[NC4], dk[NC4], dv[NC4];
        const float* krow = qkv + tok * rs + D + t.h * hd;
#pragma unroll
        for (int k = 0; k < NC4; ++k) {
            const int d = 4 * (t.sub + G * k);
            kk[k] = t.valid ? attn_ld4(krow + d, hd - d, vec) : zero;
            vv[k] = t.valid ? attn_ld4(krow + D + d, hd - d, vec) : zero;
            dk[k] = zero;
            dv[k] = zero;
        }
        for (int t0 = 0; t0 < N; t0 += c.ST) {
            const int cnt = attn_min(c.ST, N - t0);
            __syncthreads();
            attn_load_tile<HDP, true>(sm, c, t, N, heads, hd, t0, cnt, vec,
                    qkv, rs, 0, dout, D, 0, lse, dout, out, D);
            __syncthreads();
            if (t.warpActive) {
                int i = 0;
                const long long idx = pairIdx + (long long) t0 * N + t.i;   // weight (pair, query t0, key t.i)
                for (; i + ATTN_JC_DKV <= cnt; i += ATTN_JC_DKV) {
                    attn_dkv_chunk<G, NC4, ATTN_JC_DKV, DROP>(sA, sB, sLse, sDot, i, kk, vv, dk, dv, scale, dr,
                            idx + (long long) i * N, N);
                }
                for (; i < cnt; ++i) {
                    attn_dkv_chunk<G, NC4, 1, DROP>(sA, sB, sLse, sDot, i, kk, vv, dk, dv, scale, dr,
                            idx + (long long) i * N, N);
                }
            }
        }
        if (t.valid) {
            float* drow = dqkv + tok * rs + D + t.h * hd;
#pragma unroll
            for (int k = 0; k < NC4; ++k) {
                const int d = 4 * (t.sub + G * k);
                attn_st4(drow + d, dk[k], hd - d, vec);
                attn_st4(drow + D + d, dv[k], hd - d, vec);
            }
        }
    }
}

template <bool DROP>
__device__ __forceinline__ void attn_backward_any(const float* __restrict__ dout, const float* __restrict__ qkv,
        const float* __restrict__ out, const float* __restrict__ lse, float* __restrict__ dqkv,
        int B, int N, int heads, int hd, float scale, const AttnDrop& dr) {
    const AttnCfg c = attn_config(B, N, heads, hd, 2u);
    switch (c.hdp) {
        case 8:   attn_backward<1, 2, DROP>(dout, qkv, out, lse, dqkv, B, N, heads, hd, scale, c, dr); break;
        case 16:  attn_backward<1, 4, DROP>(dout, qkv, out, lse, dqkv, B, N, heads, hd, scale, c, dr); break;
        case 32:  attn_backward<2, 4, DROP>(dout, qkv, out, lse, dqkv, B, N, heads, hd, scale, c, dr); break;
        case 64:  attn_backward<4, 4, DROP>(dout, qkv, out, lse, dqkv, B, N, heads, hd, scale, c, dr); break;
        default:  attn_backward<8, 4, DROP>(dout, qkv, out, lse, dqkv, B, N, heads, hd, scale, c, dr); break;
    }
}

extern "C" __global__ void __launch_bounds__(ATTN_THREADS, ATTN_MINB_BWD)
attention_backward_f32(const float* __restrict__ dout, const float* __restrict__ qkv,
                       const float* __restrict__ out, const float* __restrict__ lse,
                       float* __restrict__ dqkv, int B, int N, int heads, int hd, float scale) {
    const AttnDrop none = {0.f, 1.f, 0ULL};
    attn_backward_any<false>(dout, qkv, out, lse, dqkv, B, N, heads, hd, scale, none);
}

extern "C" __global__ void __launch_bounds__(ATTN_THREADS, ATTN_MINB_BWD)
attention_dropout_backward_f32(const float* __restrict__ dout, const float* __restrict__ qkv,
                               const float* __restrict__ out, const float* __restrict__ lse,
                               float* __restrict__ dqkv, int B, int N, int heads, int hd, float scale,
                               float p, unsigned long long seed) {
    if (!(p >= 0.f && p < 1.f)) {
        __trap();
    }
    const AttnDrop dr = {p, __fdiv_rn(1.f, 1.f - p), seed};
    attn_backward_any<true>(dout, qkv, out, lse, dqkv, B, N, heads, hd, scale, dr);
}
