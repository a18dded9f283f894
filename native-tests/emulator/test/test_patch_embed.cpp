// kernels/patch_embed.cu: patchify, class/distillation token + position embedding, class-token
// and mean pooling, forward and backward.
//
// Launchers: CudaBackend.patchify* / tokens* / token* / meanPool* (EW grid over each kernel's
// `total`, which the header's launch lines define and the Java code computes as the numel of the
// output it iterates: images for patchify both ways, out for tokens_forward, dPatchTokens for
// tokens_backward, dPos for tokens_param_grad, out / dx for token and mean pool).
//
// The header promises every kernel here is bit-identical to CpuBackend: copies, and float sums in
// the CPU's order. So the references are that float arithmetic and every check is bitwise.
#include "harness.h"

namespace kt {
namespace {

const char* const kFile = "patch_embed.cu";

// ============================================================================ patchify

struct PatchShape {
    int B, C, H, W, p;
    bool quick;
};

// Index of images[b, c, y, x] in patches [B, P, F] (CpuBackend.PatchGrid.forEachPixel's map).
size_t patch_index(const PatchShape& s, int b, int c, int y, int x) {
    const int gw = s.W / s.p, gh = s.H / s.p, feat = s.C * s.p * s.p;
    const int patch = (y / s.p) * gw + x / s.p;
    return (static_cast<size_t>(b) * gh * gw + patch) * feat + static_cast<size_t>(c) * s.p * s.p +
           (y % s.p) * s.p + x % s.p;
}

void patchify_cases(Suite& s, const PatchShape& sh) {
    const std::string shape = format("B=%d C=%d H=%d W=%d p=%d", sh.B, sh.C, sh.H, sh.W, sh.p);
    const long long total = static_cast<long long>(sh.B) * sh.C * sh.H * sh.W;   // = B * P * F too
    // Every pixel once: images -> patches and back.
    auto for_each_pixel = [sh](const std::function<void(size_t image, size_t patch)>& f) {
        size_t i = 0;
        for (int b = 0; b < sh.B; ++b)
            for (int c = 0; c < sh.C; ++c)
                for (int y = 0; y < sh.H; ++y)
                    for (int x = 0; x < sh.W; ++x) {
                        f(i++, patch_index(sh, b, c, y, x));
                    }
    };
    s.add(kFile, "patchify_forward_f32", shape, sh.quick, [=](Case& c) {
        Rng rng(seed_of("patchify_forward_f32", {sh.B, sh.C, sh.H, sh.W, sh.p}));
        const std::vector<float> images = rng.normal(total);
        std::vector<double> ref(total);
        for_each_pixel([&](size_t image, size_t patch) { ref[patch] = images[image]; });
        c.run([&](Run& r) {
            DeviceBuffer& im = r.in(images);
            DeviceBuffer& patches = r.out<float>(total);
            Launch("patchify_forward_f32").grid(ew_grid(total)).ptr(im).ptr(patches)
                .i32(sh.B).i32(sh.C).i32(sh.H).i32(sh.W).i32(sh.p).go();
            r.result("patches", patches);
        });
        c.check("patches", ref, exact());
    });
    s.add(kFile, "patchify_backward_f32", shape, sh.quick, [=](Case& c) {
        Rng rng(seed_of("patchify_backward_f32", {sh.B, sh.C, sh.H, sh.W, sh.p}));
        const std::vector<float> dpatches = rng.normal(total);
        std::vector<double> ref(total);
        for_each_pixel([&](size_t image, size_t patch) { ref[image] = dpatches[patch]; });
        c.run([&](Run& r) {
            DeviceBuffer& dp = r.in(dpatches);
            DeviceBuffer& dimages = r.out<float>(total);   // every pixel WRITTEN exactly once
            Launch("patchify_backward_f32").grid(ew_grid(total)).ptr(dp).ptr(dimages)
                .i32(sh.B).i32(sh.C).i32(sh.H).i32(sh.W).i32(sh.p).go();
            r.result("dimages", dimages);
        });
        c.check("dimages", ref, exact());
    });
}

// ============================================================================ prefix tokens + pos

struct TokenShape {
    int B, P, D, T;   // T prefix tokens: 1 (class) or 2 (class + distillation)
    bool quick;
};

void tokens_cases(Suite& s, const TokenShape& sh) {
    const std::string shape = format("B=%d P=%d D=%d T=%d", sh.B, sh.P, sh.D, sh.T);
    const int B = sh.B, P = sh.P, D = sh.D, T = sh.T, N = P + T;
    s.add(kFile, "tokens_forward_f32", shape, sh.quick, [=](Case& c) {
        Rng rng(seed_of("tokens_forward_f32", {B, P, D, T}));
        const std::vector<float> pt = rng.normal(static_cast<size_t>(B) * P * D), cls = rng.normal(D),
                                 dist = rng.normal(D), pos = rng.normal(static_cast<size_t>(N) * D);
        std::vector<double> ref(static_cast<size_t>(B) * N * D);
        for (int b = 0; b < B; ++b)
            for (int t = 0; t < N; ++t)
                for (int d = 0; d < D; ++d) {
                    const float v = t == 0 ? cls[d] : t < T ? dist[d] : pt[(static_cast<size_t>(b) * P + t - T) * D + d];
                    ref[(static_cast<size_t>(b) * N + t) * D + d] = v + pos[static_cast<size_t>(t) * D + d];
                }
        c.run([&](Run& r) {
            DeviceBuffer& dpt = r.in(pt);
            DeviceBuffer& dcls = r.in(cls);
            // With one prefix token the launcher passes cls for the unused dist pointer.
            DeviceBuffer& ddist = T == 2 ? r.in(dist) : dcls;
            DeviceBuffer& dpos = r.in(pos);
            DeviceBuffer& out = r.out<float>(ref.size());
            Launch("tokens_forward_f32").grid(ew_grid(static_cast<long long>(ref.size())))
                .ptr(dpt).ptr(dcls).ptr(ddist).ptr(dpos).ptr(out).i32(B).i32(P).i32(D).i32(T).go();
            r.result("out", out);
        });
        c.check("out", ref, exact());
    });
    s.add(kFile, "tokens_backward_f32", shape, sh.quick, [=](Case& c) {
        Rng rng(seed_of("tokens_backward_f32", {B, P, D, T}));
        const std::vector<float> dout = rng.normal(static_cast<size_t>(B) * N * D);
        std::vector<double> ref(static_cast<size_t>(B) * P * D);
        for (int b = 0; b < B; ++b)
            for (int i = 0; i < P; ++i)
                for (int d = 0; d < D; ++d) {
                    ref[(static_cast<size_t>(b) * P + i) * D + d] = dout[(static_cast<size_t>(b) * N + T + i) * D + d];
                }
        c.run([&](Run& r) {
            DeviceBuffer& dd = r.in(dout);
            DeviceBuffer& dpt = r.out<float>(ref.size());
            Launch("tokens_backward_f32").grid(ew_grid(static_cast<long long>(ref.size())))
                .ptr(dd).ptr(dpt).i32(B).i32(P).i32(D).i32(T).go();
            r.result("dpatch_tokens", dpt);
        });
        c.check("dpatch_tokens", ref, exact());
    });
    s.add(kFile, "tokens_param_grad_f32", shape, sh.quick, [=](Case& c) {
        Rng rng(seed_of("tokens_param_grad_f32", {B, P, D, T}));
        const std::vector<float> dout = rng.normal(static_cast<size_t>(B) * N * D);
        // ADDS into the parameter gradients: start from non-zero values.
        const std::vector<float> cls0 = rng.normal(D), dist0 = rng.normal(D), pos0 = rng.normal(static_cast<size_t>(N) * D);
        // CpuBackend.tokensBackward's order: each gradient element starts from its current value
        // and adds dout[b, t, d] for b = 0, 1, ... in float.
        std::vector<float> cls = cls0, dist = dist0, pos = pos0;
        for (int b = 0; b < B; ++b)
            for (int t = 0; t < N; ++t)
                for (int d = 0; d < D; ++d) {
                    const float g = dout[(static_cast<size_t>(b) * N + t) * D + d];
                    pos[static_cast<size_t>(t) * D + d] += g;
                    if (t == 0) cls[d] += g;
                    if (t == 1 && T == 2) dist[d] += g;
                }
        c.run([&](Run& r) {
            DeviceBuffer& dd = r.in(dout);
            DeviceBuffer& dcls = r.inout(cls0);
            DeviceBuffer& ddist = T == 2 ? r.inout(dist0) : dcls;   // as the launcher: never touched for T = 1
            DeviceBuffer& dpos = r.inout(pos0);
            Launch("tokens_param_grad_f32").grid(ew_grid(static_cast<long long>(N) * D))
                .ptr(dd).ptr(dcls).ptr(ddist).ptr(dpos).i32(B).i32(P).i32(D).i32(T).go();
            r.result("dcls", dcls);
            if (T == 2) {
                r.result("ddist", ddist);
            }
            r.result("dpos", dpos);
        });
        c.check("dcls", to_double(cls), exact());
        if (T == 2) {
            c.check("ddist", to_double(dist), exact());
        }
        c.check("dpos", to_double(pos), exact());
    });
}

// ============================================================================ pooling

struct PoolShape {
    int B, N, D, first;   // token index (class token pooling) or first pooled token (mean pooling)
    bool quick;
};

void token_cases(Suite& s, const PoolShape& sh) {
    const int B = sh.B, N = sh.N, D = sh.D, token = sh.first;
    const std::string shape = format("B=%d N=%d D=%d token=%d", B, N, D, token);
    s.add(kFile, "token_forward_f32", shape, sh.quick, [=](Case& c) {
        Rng rng(seed_of("token_forward_f32", {B, N, D, token}));
        const std::vector<float> x = rng.normal(static_cast<size_t>(B) * N * D);
        std::vector<double> ref(static_cast<size_t>(B) * D);
        for (int b = 0; b < B; ++b)
            for (int d = 0; d < D; ++d) {
                ref[static_cast<size_t>(b) * D + d] = x[(static_cast<size_t>(b) * N + token) * D + d];
            }
        c.run([&](Run& r) {
            DeviceBuffer& dx = r.in(x);
            DeviceBuffer& out = r.out<float>(ref.size());
            Launch("token_forward_f32").grid(ew_grid(static_cast<long long>(ref.size())))
                .ptr(dx).ptr(out).i32(B).i32(N).i32(D).i32(token).go();
            r.result("out", out);
        });
        c.check("out", ref, exact());
    });
    s.add(kFile, "token_backward_f32", shape, sh.quick, [=](Case& c) {
        Rng rng(seed_of("token_backward_f32", {B, N, D, token}));
        const std::vector<float> dout = rng.normal(static_cast<size_t>(B) * D);
        std::vector<double> ref(static_cast<size_t>(B) * N * D, 0.0);   // WRITES zeros elsewhere
        for (int b = 0; b < B; ++b)
            for (int d = 0; d < D; ++d) {
                ref[(static_cast<size_t>(b) * N + token) * D + d] = dout[static_cast<size_t>(b) * D + d];
            }
        c.run([&](Run& r) {
            DeviceBuffer& dd = r.in(dout);
            DeviceBuffer& dx = r.out<float>(ref.size());
            Launch("token_backward_f32").grid(ew_grid(static_cast<long long>(ref.size())))
                .ptr(dd).ptr(dx).i32(B).i32(N).i32(D).i32(token).go();
            r.result("dx", dx);
        });
        c.check("dx", ref, exact());
    });
}

void mean_pool_cases(Suite& s, const PoolShape& sh) {
    const int B = sh.B, N = sh.N, D = sh.D, first = sh.first;
    const std::string shape = format("B=%d N=%d D=%d first=%d", B, N, D, first);
    const float inv = 1.0f / static_cast<float>(N - first);   // Java's 1f / (n - first)
    s.add(kFile, "mean_pool_forward_f32", shape, sh.quick, [=](Case& c) {
        Rng rng(seed_of("mean_pool_forward_f32", {B, N, D, first}));
        const std::vector<float> x = rng.normal(static_cast<size_t>(B) * N * D);
        std::vector<double> ref(static_cast<size_t>(B) * D);
        for (int b = 0; b < B; ++b)
            for (int d = 0; d < D; ++d) {
                float sum = 0;   // in float, in token order: CpuBackend.meanPoolForward
                for (int t = first; t < N; ++t) {
                    sum += x[(static_cast<size_t>(b) * N + t) * D + d];
                }
                ref[static_cast<size_t>(b) * D + d] = sum * inv;
            }
        c.run([&](Run& r) {
            DeviceBuffer& dx = r.in(x);
            DeviceBuffer& out = r.out<float>(ref.size());
            Launch("mean_pool_forward_f32").grid(ew_grid(static_cast<long long>(ref.size())))
                .ptr(dx).ptr(out).i32(B).i32(N).i32(D).i32(first).go();
            r.result("out", out);
        });
        c.check("out", ref, exact());
    });
    s.add(kFile, "mean_pool_backward_f32", shape, sh.quick, [=](Case& c) {
        Rng rng(seed_of("mean_pool_backward_f32", {B, N, D, first}));
        const std::vector<float> dout = rng.normal(static_cast<size_t>(B) * D);
        std::vector<double> ref(static_cast<size_t>(B) * N * D);
        for (int b = 0; b < B; ++b)
            for (int t = 0; t < N; ++t)
                for (int d = 0; d < D; ++d) {
                    ref[(static_cast<size_t>(b) * N + t) * D + d] = t < first ? 0.0f : dout[static_cast<size_t>(b) * D + d] * inv;
                }
        c.run([&](Run& r) {
            DeviceBuffer& dd = r.in(dout);
            DeviceBuffer& dx = r.out<float>(ref.size());
            Launch("mean_pool_backward_f32").grid(ew_grid(static_cast<long long>(ref.size())))
                .ptr(dd).ptr(dx).i32(B).i32(N).i32(D).i32(first).go();
            r.result("dx", dx);
        });
        c.check("dx", ref, exact());
    });
}

}  // namespace

void add_patch_embed_cases(Suite& s) {
    // MNIST 28x28 / 7, CIFAR 32x32 / 4, non-square, p = 1, a single patch, ViT's 16 on 64x48.
    const PatchShape patches[] = {{1, 1, 28, 28, 7, true}, {3, 3, 32, 32, 4, false}, {1, 3, 12, 8, 4, false},
                                  {3, 2, 5, 5, 1, false},  {1, 1, 7, 7, 7, false},   {1, 3, 64, 48, 16, false}};
    for (const auto& p : patches) {
        patchify_cases(s, p);
    }
    // ViT (T = 1) and DeiT (T = 2); one patch of width 1; mnist-tutorial's 16 patches.
    const TokenShape tokens[] = {{1, 16, 64, 1, true}, {3, 49, 33, 2, true}, {3, 1, 1, 1, false}, {2, 64, 192, 2, false}};
    for (const auto& t : tokens) {
        tokens_cases(s, t);
    }
    // Class token 0, the distillation token 1, the last token; mean pooling from 0, 1 (ViT gap)
    // and 2 (DeiT), also of a single token.
    const PoolShape tok[] = {{1, 1, 1, 0, false}, {3, 17, 64, 0, true}, {3, 17, 33, 1, false}, {2, 65, 192, 64, false}};
    for (const auto& t : tok) {
        token_cases(s, t);
    }
    const PoolShape pool[] = {{1, 1, 1, 0, false}, {3, 17, 64, 1, true}, {3, 65, 33, 0, false}, {2, 197, 192, 2, false},
                              {3, 5, 7, 4, false}};
    for (const auto& p : pool) {
        mean_pool_cases(s, p);
    }
}

}  // namespace kt
