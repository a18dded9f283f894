// kernels/softmax_cross_entropy.cu: per-example softmax cross-entropy with label smoothing, and
// dlogits.
//
// Launcher: CudaBackend.crossEntropyForward / crossEntropyBackward (grid ceil(B / 8), block 256).
// Logits are N(0, 3^2), one row shifted by +80 (exp without the max subtraction would overflow);
// scale = 1/B as for a mean loss. A separate case gives labels out of [0, C): the header promises
// NaN there (the CPU backend throws instead); its outputs are pre-filled with a finite sentinel so
// that the NaN must come from the kernel.
//
// Tolerances, as error bounds over a natural scale per element (Tol::Scaled):
//   loss = log(S) + (1 - s)(m - z_y) - (s/C) sum (z_c - m): every term >= 0. S sums ceil(C/32) + 5
//     terms in a chain, log adds a few ulp, the other terms ~chain * u of their size; so
//     |error| <= ~(C/32 + 10) u * (1 + (1-s)|m - z_y| + (s/C) sum|z_c - m|) < 3e-6 of that scale
//     for C <= 1000: 1e-5.
//   dlogits = scale (p - t): p = expf(z - m) / S errs by ~(C/32 + 8) u relative, t by u: the same
//     1e-5 of |scale| (p + t).
#include "harness.h"

#include <cmath>

namespace kt {
namespace {

const char* const kFile = "softmax_cross_entropy.cu";

struct CeInputs {
    std::vector<float> logits;
    std::vector<int> labels;
};

CeInputs ce_inputs(Rng& rng, int B, int C, bool badLabels) {
    CeInputs in;
    in.logits = rng.normal(static_cast<size_t>(B) * C, 3.0);
    if (B > 1) {
        for (int j = 0; j < C; ++j) {
            in.logits[static_cast<size_t>(1) * C + j] += 80.0f;
        }
    }
    in.labels.resize(B);
    for (int b = 0; b < B; ++b) {
        in.labels[b] = rng.below(C);
    }
    if (badLabels) {
        in.labels[0] = -1;
        in.labels[B - 1] = C;   // B >= 3: rows in between stay valid
    }
    return in;
}

bool valid(int label, int C) { return label >= 0 && label < C; }

void forward_case(Suite& s, int B, int C, float smoothing, bool badLabels, bool quick) {
    s.add(kFile, "cross_entropy_forward_f32",
          format("B=%d C=%d smoothing=%g%s", B, C, smoothing, badLabels ? " labels -1 and C (NaN rows)" : ""), quick,
          [=](Case& c) {
              Rng rng(seed_of("cross_entropy_forward_f32", {B, C, badLabels}));
              const CeInputs in = ce_inputs(rng, B, C, badLabels);
              std::vector<double> ref(B), mag(B);
              for (int b = 0; b < B; ++b) {
                  const float* z = &in.logits[static_cast<size_t>(b) * C];
                  const int y = in.labels[b];
                  if (!valid(y, C)) {
                      ref[b] = NAN;
                      mag[b] = 1;
                      continue;
                  }
                  double m = -INFINITY;
                  for (int j = 0; j < C; ++j) {
                      m = std::max(m, static_cast<double>(z[j]));
                  }
                  double S = 0, dev = 0;
                  for (int j = 0; j < C; ++j) {
                      S += std::exp(z[j] - m);
                      dev += m - z[j];
                  }
                  const double sm = smoothing;
                  ref[b] = std::log(S) + (1 - sm) * (m - z[y]) + sm * dev / C;
                  mag[b] = 1 + (1 - sm) * (m - z[y]) + sm * dev / C;
              }
              c.run([&](Run& r) {
                  DeviceBuffer& logits = r.in(in.logits);
                  DeviceBuffer& labels = r.in(in.labels);
                  DeviceBuffer& losses = badLabels ? r.inout(std::vector<float>(B, -7.25f)) : r.out<float>(B);
                  Launch("cross_entropy_forward_f32").grid(row_grid(B)).ptr(logits).ptr(labels).ptr(losses)
                      .i32(B).i32(C).f32(smoothing).go();
                  r.result("loss", losses);
              });
              c.check("loss", ref, scaled(1e-5, mag));
          });
}

void backward_case(Suite& s, int B, int C, float smoothing, bool badLabels, bool inPlace, bool quick) {
    s.add(kFile, "cross_entropy_backward_f32",
          format("B=%d C=%d smoothing=%g%s%s", B, C, smoothing, badLabels ? " labels -1 and C (NaN rows)" : "",
                 inPlace ? " dlogits=logits" : ""),
          quick, [=](Case& c) {
              Rng rng(seed_of("cross_entropy_backward_f32", {B, C, badLabels, inPlace}));
              const CeInputs in = ce_inputs(rng, B, C, badLabels);
              const float scale = 1.0f / static_cast<float>(B);
              std::vector<double> ref(in.logits.size()), mag(in.logits.size());
              for (int b = 0; b < B; ++b) {
                  const size_t o = static_cast<size_t>(b) * C;
                  const int y = in.labels[b];
                  double m = -INFINITY, S = 0;
                  for (int j = 0; j < C; ++j) {
                      m = std::max(m, static_cast<double>(in.logits[o + j]));
                  }
                  for (int j = 0; j < C; ++j) {
                      S += std::exp(in.logits[o + j] - m);
                  }
                  for (int j = 0; j < C; ++j) {
                      const double p = std::exp(in.logits[o + j] - m) / S;
                      const double t = smoothing / C + (j == y ? 1.0 - smoothing : 0.0);
                      ref[o + j] = valid(y, C) ? scale * (p - t) : NAN;
                      mag[o + j] = std::fabs(scale) * (p + t);
                  }
              }
              c.run([&](Run& r) {
                  DeviceBuffer& logits = r.in(in.logits);
                  DeviceBuffer& labels = r.in(in.labels);
                  DeviceBuffer& dlogits = inPlace     ? logits
                                          : badLabels ? r.inout(std::vector<float>(in.logits.size(), -7.25f))
                                                      : r.out<float>(in.logits.size());
                  Launch("cross_entropy_backward_f32").grid(row_grid(B)).ptr(logits).ptr(labels).ptr(dlogits)
                      .i32(B).i32(C).f32(smoothing).f32(scale).go();
                  r.result("dlogits", dlogits);
              });
              c.check("dlogits", ref, scaled(1e-5, mag));
          });
}

}  // namespace

void add_softmax_cross_entropy_cases(Suite& s) {
    struct Shape {
        int B, C;
        float smoothing;
        bool quick;
    };
    // C = 1 (loss = 0), MNIST / CIFAR-10's 10 classes, under / over a warp, ImageNet's 1000; B = 1, 3,
    // 17 (a partial block of 8 rows), 33.
    const Shape shapes[] = {{1, 1, 0.0f, false}, {3, 10, 0.1f, true},  {17, 33, 0.0f, false},
                            {8, 100, 0.1f, false}, {3, 1000, 0.1f, false}, {33, 37, 0.2f, false}};
    for (const auto& sh : shapes) {
        forward_case(s, sh.B, sh.C, sh.smoothing, false, sh.quick);
        backward_case(s, sh.B, sh.C, sh.smoothing, false, false, sh.quick);
    }
    forward_case(s, 5, 10, 0.1f, true, false);
    backward_case(s, 5, 10, 0.1f, true, false, false);
    backward_case(s, 17, 33, 0.1f, false, true, false);
}

}  // namespace kt
