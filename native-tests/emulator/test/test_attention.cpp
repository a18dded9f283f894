// kernels/attention.cu: fused multi-head softmax attention, forward and backward.
//
// Launcher: CudaBackend.attentionForward / attentionBackward through AttentionLaunch.java, whose
// integer formulas attention_geometry() repeats (they are also the header's; the kernels
// re-derive them and __trap() on any mismatch, so a wrong geometry here fails loudly).
// scale = (float)(1 / sqrt(hd)), as the launcher passes it.
//
// Every case also runs with each pointer 4 bytes past a 256-aligned allocation: the header says
// the buffers need only float alignment and that the float4 path (hd % 4 == 0, 16-byte aligned
// pointers) and the scalar path give bitwise the same results.
//
// Inputs: qkv ~ N(0, 1.2^2), so the scaled scores q.k / sqrt(hd) spread like N(0, 2): softmax rows
// neither flat nor one-hot. The backward gets the double forward's out and lse rounded to float
// (what the forward leaves) and dout ~ N(0, 1).
//
// Tolerances (Tol::Norm; out, dQ, dK, dV checked separately, as their scales differ):
//   out, relative to max |out|: each score is an hd-term fma chain (~hd/G + log2 G roundings, a
//     few u absolute on O(1) scores), exponentiated (expf, 2 ulp) and accumulated over N <= 300
//     keys with online rescaling: ~1e-6 observed at N = 300, and below 2e-5 even if the rounding
//     errors of the N terms added up linearly (300 u = 1.8e-5).
//   lse, relative to max |lse|: m + log(l), l a sum of N terms: 1e-5 by the same count.
//   dQ, dK, dV, relative to the largest sum of |terms| (P (|dP| + |rowDot|) scale |k| for dQ,
//     ... |q| for dK, P |dO| for dV): dP - rowDot cancels (to exactly 0 at N = 1), so the result
//     itself is no scale for the error; against the terms it is the same N-term count: 2e-5.
#include "harness.h"

#include <cmath>

namespace kt {
namespace {

const char* const kFile = "attention.cu";

struct Geometry {
    unsigned gridX, nt, block, shared;
};

// AttentionLaunch.of (and the header's formulas), in int arithmetic.
Geometry attention_geometry(int B, int N, int heads, int hd) {
    const int hdp = hd <= 8 ? 8 : hd <= 16 ? 16 : hd <= 32 ? 32 : hd <= 64 ? 64 : 128;
    const int g = hdp <= 16 ? 1 : hdp / 16;
    const int rowF = 2 * hdp + 2;
    const int slots = 256 / g;
    const int pairs = std::max(1, std::min(slots / N, 8192 / (((N + 1) / 2 * 2) * rowF + 4)));
    const int nt = static_cast<int>(cdiv(N, slots));
    const int ot = static_cast<int>(cdiv(N, nt));
    const int block = static_cast<int>(cdiv(pairs * ot * g, 32) * 32);
    const int stMax = ((8192 / pairs - 4) / rowF) / 2 * 2;
    const int st = static_cast<int>(cdiv(N, cdiv(N, stMax)));
    const int sta = (st + 1) / 2 * 2;
    const int shared = 4 * pairs * (sta * rowF + 4);
    const int gridX = static_cast<int>(cdiv(static_cast<long long>(B) * heads, pairs));
    return Geometry{static_cast<unsigned>(gridX), static_cast<unsigned>(nt), static_cast<unsigned>(block),
                    static_cast<unsigned>(shared)};
}

struct AttnShape {
    int B, N, heads, hd;
    bool quick;
};

// qkv[b, i, part*D + h*hd + d], part 0 = Q, 1 = K, 2 = V.
struct Qkv {
    const std::vector<float>& data;
    int N, D;
    double at(int b, int i, int part, int h, int hd, int d) const {
        return data[(static_cast<size_t>(b) * N + i) * 3 * D + static_cast<size_t>(part) * D + h * hd + d];
    }
};

// Attention-weight dropout (attention_dropout_*_f32): weight (b, h, i, j) kept when
// DropoutMask's SplitMix64 of (seed, ((b*heads + h)*N + i)*N + j) is >= p, then scaled by
// keep = 1/(1-p) rounded to float; p = 0 is no dropout (the plain kernels).
struct Drop {
    float p = 0.f;
    unsigned long long seed = 0;
    double factor(const AttnShape& a, int b, int h, int i, int j) const {
        if (p == 0.f) return 1.0;
        const unsigned long long index = ((static_cast<unsigned long long>(b) * a.heads + h) * a.N + i) * a.N + j;
        unsigned long long z = seed + (index + 1ULL) * 0x9E3779B97F4A7C15ULL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        z ^= z >> 31;
        const float u = static_cast<float>(static_cast<unsigned int>(z >> 40)) * 5.9604644775390625e-8f;
        return u >= p ? static_cast<double>(1.0f / (1.0f - p)) : 0.0;
    }
};

struct Forward {
    std::vector<double> out, lse;
};

// softmax(Q K^T * scale) V per (b, h), lse = m + log(sum exp(s - m)) of the scaled scores.
Forward forward_ref(const std::vector<float>& qkv, const AttnShape& a, float scale, const Drop& drop = Drop{}) {
    const int N = a.N, hd = a.hd, D = a.heads * hd;
    const Qkv in{qkv, N, D};
    Forward f;
    f.out.assign(static_cast<size_t>(a.B) * N * D, 0.0);
    f.lse.assign(static_cast<size_t>(a.B) * a.heads * N, 0.0);
    std::vector<double> s(N);
    for (int b = 0; b < a.B; ++b)
        for (int h = 0; h < a.heads; ++h)
            for (int i = 0; i < N; ++i) {
                double m = -INFINITY;
                for (int j = 0; j < N; ++j) {
                    double dot = 0;
                    for (int d = 0; d < hd; ++d) {
                        dot += in.at(b, i, 0, h, hd, d) * in.at(b, j, 1, h, hd, d);
                    }
                    s[j] = dot * scale;
                    m = std::max(m, s[j]);
                }
                double l = 0;
                for (int j = 0; j < N; ++j) {
                    l += std::exp(s[j] - m);
                }
                const double lse = m + std::log(l);
                double* o = &f.out[(static_cast<size_t>(b) * N + i) * D + h * hd];
                for (int j = 0; j < N; ++j) {
                    const double p = std::exp(s[j] - lse) * drop.factor(a, b, h, i, j);
                    for (int d = 0; d < hd; ++d) {
                        o[d] += p * in.at(b, j, 2, h, hd, d);
                    }
                }
                f.lse[(static_cast<size_t>(b) * a.heads + h) * N + i] = lse;
            }
    return f;
}

// dqkv from the inputs the kernel gets (dout, qkv, float out and lse):
//   P = exp(q.k * scale - lse_i), dP = dO_i . v_j, rowDot_i = dO_i . O_i,
//   dS = P (dP - rowDot) scale, dq_i = sum_j dS k_j, dk_j = sum_i dS q_i, dv_j = sum_i P dO_i,
// and the size of the terms that make up each element (dS taken as P (|dP| + |rowDot|) scale):
// dQ and dK cancel to exactly 0 when N = 1 (P = 1, dP = rowDot), so their error can only be
// judged against the terms, not against the result.
struct Backward {
    std::vector<double> dqkv, magnitude;
};

Backward backward_ref(const std::vector<float>& dout, const std::vector<float>& qkv, const std::vector<float>& out,
                      const std::vector<float>& lse, const AttnShape& a, float scale, const Drop& drop = Drop{}) {
    const int N = a.N, hd = a.hd, D = a.heads * hd;
    const Qkv in{qkv, N, D};
    Backward r;
    r.dqkv.assign(qkv.size(), 0.0);
    r.magnitude.assign(qkv.size(), 0.0);
    auto at = [&](std::vector<double>& t, int b, int i, int part, int h) {
        return &t[(static_cast<size_t>(b) * N + i) * 3 * D + static_cast<size_t>(part) * D + h * hd];
    };
    auto row = [&](const std::vector<float>& t, int b, int i, int h) {
        return &t[(static_cast<size_t>(b) * N + i) * D + h * hd];
    };
    for (int b = 0; b < a.B; ++b)
        for (int h = 0; h < a.heads; ++h)
            for (int i = 0; i < N; ++i) {
                const float* g = row(dout, b, i, h);
                const float* o = row(out, b, i, h);
                double rowDot = 0;
                for (int d = 0; d < hd; ++d) {
                    rowDot += static_cast<double>(g[d]) * o[d];
                }
                const double lseI = lse[(static_cast<size_t>(b) * a.heads + h) * N + i];
                for (int j = 0; j < N; ++j) {
                    double s = 0, dp = 0;
                    for (int d = 0; d < hd; ++d) {
                        s += in.at(b, i, 0, h, hd, d) * in.at(b, j, 1, h, hd, d);
                        dp += g[d] * in.at(b, j, 2, h, hd, d);
                    }
                    const double p = std::exp(s * scale - lseI);
                    const double m = drop.factor(a, b, h, i, j);   // dP_ij = (dO_i . v_j) M_ij
                    const double ds = p * (dp * m - rowDot) * scale;
                    const double dsMag = p * (std::fabs(dp * m) + std::fabs(rowDot)) * scale;
                    double* dq = at(r.dqkv, b, i, 0, h);
                    double* dk = at(r.dqkv, b, j, 1, h);
                    double* dv = at(r.dqkv, b, j, 2, h);
                    double* mq = at(r.magnitude, b, i, 0, h);
                    double* mk = at(r.magnitude, b, j, 1, h);
                    double* mv = at(r.magnitude, b, j, 2, h);
                    for (int d = 0; d < hd; ++d) {
                        const double k = in.at(b, j, 1, h, hd, d), q = in.at(b, i, 0, h, hd, d);
                        dq[d] += ds * k;
                        dk[d] += ds * q;
                        dv[d] += p * m * g[d];
                        mq[d] += dsMag * std::fabs(k);
                        mk[d] += dsMag * std::fabs(q);
                        mv[d] += p * m * std::fabs(g[d]);
                    }
                }
            }
    return r;
}

// Columns [part*D, part*D + D) of the reference dqkv: dQ, dK or dV.
std::vector<double> part_of(const std::vector<double>& dqkv, size_t tokens, int D, int part) {
    std::vector<double> r;
    r.reserve(tokens * D);
    for (size_t t = 0; t < tokens; ++t) {
        const double* p = &dqkv[t * 3 * D + static_cast<size_t>(part) * D];
        r.insert(r.end(), p, p + D);
    }
    return r;
}

std::string shape_text(const AttnShape& a) {
    const Geometry g = attention_geometry(a.B, a.N, a.heads, a.hd);
    return format("B=%d N=%d heads=%d hd=%d (grid %ux%u, block %u, shared %u B)", a.B, a.N, a.heads, a.hd, g.gridX,
                  g.nt, g.block, g.shared);
}

// The plain kernels (drop.p == 0) or the attention-weight dropout ones.
void attention_cases(Suite& s, const AttnShape& a, const Drop& drop) {
    const bool dropping = drop.p > 0.f;
    const std::string fwdName = dropping ? "attention_dropout_forward_f32" : "attention_forward_f32";
    const std::string bwdName = dropping ? "attention_dropout_backward_f32" : "attention_backward_f32";
    const std::string text = shape_text(a) + (dropping ? format(" p=%g", drop.p) : "");
    const int D = a.heads * a.hd;
    const size_t tokens = static_cast<size_t>(a.B) * a.N;
    const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(a.hd)));
    const Geometry g = attention_geometry(a.B, a.N, a.heads, a.hd);
    RunOptions options;
    options.misaligned = true;

    s.add(kFile, fwdName, text, a.quick, [=](Case& c) {
        Rng rng(seed_of(fwdName.c_str(), {a.B, a.N, a.heads, a.hd}));
        const std::vector<float> qkv = rng.normal(tokens * 3 * D, 1.2);
        const Forward ref = forward_ref(qkv, a, scale, drop);
        c.run(
            [&](Run& r) {
                DeviceBuffer& dqkv = r.in(qkv);
                DeviceBuffer& out = r.out<float>(tokens * D);
                DeviceBuffer& lse = r.out<float>(static_cast<size_t>(a.B) * a.heads * a.N);
                Launch l(fwdName);
                l.grid(g.gridX, g.nt, 1).block(g.block).shared(g.shared)
                    .ptr(dqkv).ptr(out).ptr(lse).i32(a.B).i32(a.N).i32(a.heads).i32(a.hd).f32(scale);
                if (dropping) l.f32(drop.p).u64(drop.seed);
                l.go();
                r.result("out", out);
                r.result("lse", lse);
            },
            options);
        c.check("out", ref.out, norm(2e-5));
        c.check("lse", ref.lse, norm(1e-5));
    });

    s.add(kFile, bwdName, text, a.quick, [=](Case& c) {
        Rng rng(seed_of(bwdName.c_str(), {a.B, a.N, a.heads, a.hd}));
        const std::vector<float> qkv = rng.normal(tokens * 3 * D, 1.2);
        const Forward fwd = forward_ref(qkv, a, scale, drop);
        const std::vector<float> out = to_float(fwd.out), lse = to_float(fwd.lse);
        const std::vector<float> dout = rng.normal(tokens * D);
        const Backward ref = backward_ref(dout, qkv, out, lse, a, scale, drop);
        c.run(
            [&](Run& r) {
                DeviceBuffer& ddout = r.in(dout);
                DeviceBuffer& dqkvIn = r.in(qkv);
                DeviceBuffer& dout_ = r.in(out);
                DeviceBuffer& dlse = r.in(lse);
                DeviceBuffer& dqkv = r.out<float>(qkv.size());   // every element WRITTEN
                Launch l(bwdName);
                l.grid(g.gridX, g.nt, 2).block(g.block).shared(g.shared)
                    .ptr(ddout).ptr(dqkvIn).ptr(dout_).ptr(dlse).ptr(dqkv)
                    .i32(a.B).i32(a.N).i32(a.heads).i32(a.hd).f32(scale);
                if (dropping) l.f32(drop.p).u64(drop.seed);
                l.go();
                const size_t stride = 3 * static_cast<size_t>(D);
                r.result("dQ", dqkv, Slice{tokens, stride, 0, static_cast<size_t>(D)});
                r.result("dK", dqkv, Slice{tokens, stride, static_cast<size_t>(D), static_cast<size_t>(D)});
                r.result("dV", dqkv, Slice{tokens, stride, 2 * static_cast<size_t>(D), static_cast<size_t>(D)});
            },
            options);
        const char* names[3] = {"dQ", "dK", "dV"};
        for (int part = 0; part < 3; ++part) {
            c.check(names[part], part_of(ref.dqkv, tokens, D, part), norm(2e-5, part_of(ref.magnitude, tokens, D, part)));
        }
    });
}

}  // namespace

void add_attention_cases(Suite& s) {
    // Sequence lengths 1, 17 (mnist-tutorial), 65 (cifar10-vit), 197 (ViT-224/16), 300; head dims
    // over every hdp class and across its edges (1, 3, 8 | 9, 16 | 17, 31, 32 | 33, 64 | 65, 100,
    // 128), hd % 4 == 0 (float4 path) and not. Pair packing: N = 1 packs 204 pairs per block (210
    // pairs: a full and a partial block), N = 17 hd = 8 packs 15 (18 pairs: 2 blocks); long
    // sequences split into nt row tiles and stream several shared-memory tiles. B*heads stays <= 6
    // for N >= 65, the emulator being slow.
    const AttnShape shapes[] = {
        {1, 1, 1, 1, true},     {3, 1, 70, 1, false},   {3, 1, 2, 64, false},  {3, 17, 2, 8, true},
        {3, 17, 6, 8, false},   {1, 17, 3, 16, false},  {3, 17, 1, 3, false},  {1, 17, 2, 9, true},
        {3, 65, 1, 16, false},  {1, 65, 2, 17, false},  {1, 65, 3, 32, false}, {1, 65, 1, 31, false},
        {1, 65, 2, 33, false},  {1, 65, 1, 64, true},   {1, 197, 2, 64, false}, {1, 197, 1, 65, false},
        {1, 197, 1, 100, false}, {1, 197, 1, 128, false}, {1, 300, 1, 1, false}, {2, 300, 1, 8, false},
        {1, 300, 1, 100, false}, {3, 300, 1, 17, false},
        // The presets' own shapes (Presets.java, VitShape.java) at small batches: mnist-tutorial
        // (N = 17, 8 heads of 8: 16 pairs over 2 blocks), cifar10-vit (N = 65, 12 heads of 32),
        // ViT-tiny/16 at 224 (N = 197, 3 heads of 64).
        {2, 17, 8, 8, false},   {1, 65, 12, 32, false}, {1, 197, 3, 64, false},
    };
    for (const auto& a : shapes) {
        attention_cases(s, a, Drop{});
        // Attention-weight dropout on the shorter sequences (every head-width class), seed with
        // its high bit set; p = 0.1 as vit-pytorch's presets use it, 0.5 for many zeros.
        if (a.N <= 65) {
            attention_cases(s, a, Drop{a.hd % 2 ? 0.5f : 0.1f, 0x8000000000000123ULL + static_cast<unsigned>(a.hd)});
        }
    }
}

}  // namespace kt
