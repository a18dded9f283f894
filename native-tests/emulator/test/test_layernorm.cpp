// kernels/layernorm.cu: LayerNorm forward, backward (dx and per-block parameter-gradient partials)
// and the reduction of the partials into dgamma / dbeta.
//
// Launchers: CudaBackend.layerNormForward (grid ceil(rows / 8), block 256) and layerNormBackward
// (layernorm_backward_f32: grid ceil(rows / 32), block 256, 2*C*4 bytes of dynamic shared memory,
// opted in above 48 KiB; layernorm_param_grad_reduce_f32: grid ceil(C / 32), block (32, 8)).
//
// Inputs look like ViT activations: a per-row offset in [-3, 3] on N(0, 2^2) values, gamma near 1,
// beta near 0. The backward's mean / rstd are the double forward's, rounded to float (what the
// forward leaves), so xhat has the true zero mean and unit variance the formulas rely on.
#include "harness.h"

#include <cmath>

namespace kt {
namespace {

const char* const kFile = "layernorm.cu";

struct LnInputs {
    std::vector<float> x, gamma, beta;
};

LnInputs ln_inputs(Rng& rng, int rows, int C) {
    LnInputs in;
    in.x = rng.normal(static_cast<size_t>(rows) * C, 2.0);
    for (int r = 0; r < rows; ++r) {
        const float offset = static_cast<float>(rng.uniform(-3.0, 3.0));
        for (int j = 0; j < C; ++j) {
            in.x[static_cast<size_t>(r) * C + j] += offset;
        }
    }
    in.gamma = rng.normal(C, 0.1, 1.0);
    in.beta = rng.normal(C, 0.1);
    return in;
}

// The forward in double: two passes, biased variance, as CpuBackend (which rounds mu to float
// before the variance pass; the double reference does not, the difference is second order).
struct LnForward {
    std::vector<double> y, mean, rstd, meanAbs;   // meanAbs: (1/C) sum |x|, the scale of mean's error
};

LnForward ln_forward(const LnInputs& in, int rows, int C, float eps) {
    LnForward f;
    f.y.resize(in.x.size());
    f.mean.resize(rows);
    f.rstd.resize(rows);
    f.meanAbs.resize(rows);
    for (int r = 0; r < rows; ++r) {
        const float* x = &in.x[static_cast<size_t>(r) * C];
        double sum = 0, sumAbs = 0;
        for (int j = 0; j < C; ++j) {
            sum += x[j];
            sumAbs += std::fabs(x[j]);
        }
        const double mu = sum / C;
        double var = 0;
        for (int j = 0; j < C; ++j) {
            var += (x[j] - mu) * (x[j] - mu);
        }
        var /= C;
        const double rs = 1.0 / std::sqrt(var + static_cast<double>(eps));
        for (int j = 0; j < C; ++j) {
            f.y[static_cast<size_t>(r) * C + j] = (x[j] - mu) * rs * in.gamma[j] + in.beta[j];
        }
        f.mean[r] = mu;
        f.rstd[r] = rs;
        f.meanAbs[r] = sumAbs / C;
    }
    return f;
}

// ============================================================================ forward

void forward_case(Suite& s, int rows, int C, float eps, bool inPlace, bool quick) {
    s.add(kFile, "layernorm_forward_f32", format("rows=%d C=%d eps=%g%s", rows, C, eps, inPlace ? " y=x" : ""), quick,
          [=](Case& c) {
              Rng rng(seed_of("layernorm_forward_f32", {rows, C, inPlace}));
              const LnInputs in = ln_inputs(rng, rows, C);
              const LnForward ref = ln_forward(in, rows, C, eps);
              c.run([&](Run& r) {
                  DeviceBuffer& x = r.in(in.x);
                  DeviceBuffer& g = r.in(in.gamma);
                  DeviceBuffer& b = r.in(in.beta);
                  DeviceBuffer& y = inPlace ? x : r.out<float>(in.x.size());
                  DeviceBuffer& mean = r.out<float>(rows);
                  DeviceBuffer& rstd = r.out<float>(rows);
                  Launch("layernorm_forward_f32").grid(row_grid(rows)).ptr(x).ptr(g).ptr(b).ptr(y).ptr(mean).ptr(rstd)
                      .i32(rows).i32(C).f32(eps).go();
                  r.result("y", y);
                  r.result("mean", mean);
                  r.result("rstd", rstd);
              });
              // Each lane adds ceil(C/32) values, a 5-level butterfly and the division follow:
              // |error of mu| <= chain * u * (1/C) sum|x|.
              const long long chain = cdiv(C, 32) + 6;
              c.check("mean", ref.mean, scaled(chain_tol(chain), ref.meanAbs));
              // var sums positive terms (x - mu)^2 (each ~3u) along the same chain; mu's own error
              // enters only squared (sum (x - mu) = 0). rstd halves var's relative error, + 3u for
              // eps, sqrt, reciprocal: ~(chain / 2 + 5) u < 2e-6 for C <= 1000, 1e-5 is 5x that.
              c.check("rstd", ref.rstd, rel(1e-5, 0.0));
              // y = xhat * gamma + beta: xhat errs by ~(|x - mu| u + |mu error|) * rstd, up to
              // ~chain * u * 2 (offset / spread <= 3/2) = ~1e-5 relative to xhat at C = 1000 in the
              // worst case, ~1e-6 typically; against the output's scale (max |y| ~ 3) 1e-5 is safe.
              c.check("y", ref.y, norm(1e-5));
          });
}

// ============================================================================ backward

struct LnBackward {
    std::vector<double> dx, dgammaPart, dbetaPart, dgammaMag, dbetaMag;
};

// dx and the 32-row-block partials from the float mean / rstd the kernel is given.
LnBackward ln_backward(const std::vector<float>& dy, const LnInputs& in, const std::vector<float>& mean,
                       const std::vector<float>& rstd, int rows, int C) {
    const int parts = static_cast<int>(std::max(1LL, cdiv(rows, 32)));
    LnBackward b;
    b.dx.resize(dy.size());
    b.dgammaPart.assign(static_cast<size_t>(parts) * C, 0.0);
    b.dbetaPart.assign(b.dgammaPart.size(), 0.0);
    b.dgammaMag.assign(b.dgammaPart.size(), 0.0);
    b.dbetaMag.assign(b.dgammaPart.size(), 0.0);
    std::vector<double> xhat(C), dxhat(C);
    for (int r = 0; r < rows; ++r) {
        const size_t o = static_cast<size_t>(r) * C;
        double s1 = 0, s2 = 0;
        for (int j = 0; j < C; ++j) {
            xhat[j] = (static_cast<double>(in.x[o + j]) - mean[r]) * rstd[r];
            dxhat[j] = static_cast<double>(dy[o + j]) * in.gamma[j];
            s1 += dxhat[j];
            s2 += dxhat[j] * xhat[j];
        }
        const double m1 = s1 / C, m2 = s2 / C;
        const size_t p = static_cast<size_t>(r / 32) * C;
        for (int j = 0; j < C; ++j) {
            b.dx[o + j] = rstd[r] * (dxhat[j] - m1 - xhat[j] * m2);
            b.dgammaPart[p + j] += dy[o + j] * xhat[j];
            b.dgammaMag[p + j] += std::fabs(dy[o + j] * xhat[j]);
            b.dbetaPart[p + j] += dy[o + j];
            b.dbetaMag[p + j] += std::fabs(dy[o + j]);
        }
    }
    return b;
}

void backward_case(Suite& s, int rows, int C, bool inPlace, bool quick) {
    s.add(kFile, "layernorm_backward_f32", format("rows=%d C=%d%s", rows, C, inPlace ? " dx=dy" : ""), quick,
          [=](Case& c) {
              Rng rng(seed_of("layernorm_backward_f32", {rows, C, inPlace}));
              const LnInputs in = ln_inputs(rng, rows, C);
              const LnForward fwd = ln_forward(in, rows, C, 1e-6f);
              const std::vector<float> mean = to_float(fwd.mean), rstd = to_float(fwd.rstd);
              const std::vector<float> dy = rng.normal(in.x.size());
              const LnBackward ref = ln_backward(dy, in, mean, rstd, rows, C);
              const int parts = static_cast<int>(std::max(1LL, cdiv(rows, 32)));   // CudaBackend.layerNormParts
              c.run([&](Run& r) {
                  DeviceBuffer& ddy = r.in(dy);
                  DeviceBuffer& x = r.in(in.x);
                  DeviceBuffer& g = r.in(in.gamma);
                  DeviceBuffer& dm = r.in(mean);
                  DeviceBuffer& dr = r.in(rstd);
                  DeviceBuffer& dx = inPlace ? ddy : r.out<float>(dy.size());
                  DeviceBuffer& pg = r.out<float>(static_cast<size_t>(parts) * C);
                  DeviceBuffer& pb = r.out<float>(static_cast<size_t>(parts) * C);
                  Launch("layernorm_backward_f32").grid(parts).shared(static_cast<unsigned>(2 * C * 4))
                      .ptr(ddy).ptr(x).ptr(g).ptr(dm).ptr(dr).ptr(dx).ptr(pg).ptr(pb).i32(rows).i32(C).go();
                  r.result("dx", dx);
                  r.result("dgamma_partial", pg);
                  r.result("dbeta_partial", pb);
              });
              // dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)): row sums along
              // ceil(C/32) + 5 additions, then three terms of O(|dxhat|): a few times chain * u
              // relative to the output's scale, < 5e-6 for C <= 6200; 2e-5 leaves 4x.
              c.check("dx", ref.dx, norm(2e-5));
              // Partials: up to 32 rows added in order from 0; xhat = (x - mu) * rstd and
              // dy * xhat add 3 roundings to each term.
              const long long rowsPerBlock = std::min(rows, 32);
              c.check("dgamma_partial", ref.dgammaPart, scaled(chain_tol(rowsPerBlock + 3), ref.dgammaMag));
              c.check("dbeta_partial", ref.dbetaPart, scaled(chain_tol(rowsPerBlock), ref.dbetaMag));
          });
}

// ============================================================================ partials -> dgamma, dbeta

void reduce_case(Suite& s, int parts, int C, bool quick) {
    s.add(kFile, "layernorm_param_grad_reduce_f32", format("parts=%d C=%d", parts, C), quick, [=](Case& c) {
        Rng rng(seed_of("layernorm_param_grad_reduce_f32", {parts, C}));
        // Partials of 32-row blocks: sums of ~32 O(1) products.
        const std::vector<float> pg = rng.normal(static_cast<size_t>(parts) * C, 5.0);
        const std::vector<float> pb = rng.normal(static_cast<size_t>(parts) * C, 5.0);
        const std::vector<float> g0 = rng.normal(C), b0 = rng.normal(C);   // ADDS into: start non-zero
        std::vector<double> refG(g0.begin(), g0.end()), refB(b0.begin(), b0.end());
        std::vector<double> magG = abs_of(refG), magB = abs_of(refB);
        for (int p = 0; p < parts; ++p) {
            for (int j = 0; j < C; ++j) {
                const size_t k = static_cast<size_t>(p) * C + j;
                refG[j] += pg[k];
                magG[j] += std::fabs(pg[k]);
                refB[j] += pb[k];
                magB[j] += std::fabs(pb[k]);
            }
        }
        c.run([&](Run& r) {
            DeviceBuffer& dpg = r.in(pg);
            DeviceBuffer& dpb = r.in(pb);
            DeviceBuffer& dg = r.inout(g0);
            DeviceBuffer& db = r.inout(b0);
            Launch("layernorm_param_grad_reduce_f32").grid(static_cast<unsigned>(cdiv(C, 32))).block(32, 8)
                .ptr(dpg).ptr(dpb).ptr(dg).ptr(db).i32(parts).i32(C).go();
            r.result("dgamma", dg);
            r.result("dbeta", db);
        });
        // Lane ty adds ceil(parts / 8) partials, lane 0 adds the 7 others in turn, then the add
        // into dgamma.
        const long long chain = cdiv(parts, 8) + 8;
        c.check("dgamma", refG, scaled(chain_tol(chain), magG));
        c.check("dbeta", refB, scaled(chain_tol(chain), magB));
    });
}

}  // namespace

void add_layernorm_cases(Suite& s) {
    // C = 1 (var = 0: y = beta exactly), under / at / over a warp, ViT widths 192 and 768, odd ones.
    const int fwdShapes[][2] = {{1, 1}, {3, 17}, {17, 31}, {8, 32}, {9, 33}, {65, 192}, {197, 100}, {5, 768}, {3, 1000}};
    for (const auto& rc : fwdShapes) {
        forward_case(s, rc[0], rc[1], 1e-6f, false, rc[0] == 9);
    }
    forward_case(s, 17, 64, 1e-5f, true, false);
    forward_case(s, 34, 64, 1e-6f, false, false);    // mnist-tutorial, B = 2
    forward_case(s, 130, 384, 1e-6f, false, false);  // cifar10-vit, B = 2

    // Blocks of 32 rows in groups of 8: 1 row, a partial group, 32 + 1 rows (a second block with
    // one row), 100 rows; C = 6200 needs 49600 B of dynamic shared memory, beyond the 48 KiB default.
    const int bwdShapes[][2] = {{1, 1}, {3, 17}, {8, 32}, {9, 33}, {33, 64}, {65, 192}, {100, 100}, {7, 768}, {40, 257}, {3, 6200}};
    for (const auto& rc : bwdShapes) {
        backward_case(s, rc[0], rc[1], false, rc[0] == 33);
    }
    backward_case(s, 40, 65, true, true);
    backward_case(s, 130, 384, false, false);   // cifar10-vit, B = 2: 5 blocks, the last with 2 rows

    // parts = ceil(rows / 32): 1 (rows <= 32), 2, 7 (ViT-tiny B=1 N=197), 50, 313 (B=50 N=197).
    const int reduceShapes[][2] = {{1, 1}, {2, 17}, {7, 33}, {7, 192}, {50, 100}, {313, 65}};
    for (const auto& pc : reduceShapes) {
        reduce_case(s, pc[0], pc[1], pc[0] == 7 && pc[1] == 33);
    }
}

}  // namespace kt
