// kernels/adamw.cu: the AdamW step, on one tensor and on many tensors per launch.
//
// Launchers: CudaBackend.adamwStep (EW grid over n; bc1 = (float)(1 - beta1^step) and
// sqrtBc2 = (float)sqrt(1 - beta2^step) from double). adamw_multi_step_f32 has no Java launcher
// yet; it runs at its header's launch line (EW grid over total), and with a grid of 1 and 2 blocks
// as well, which the grid-stride loop must handle (the binary search then runs forward from the
// thread's current tensor many times; at the launch line each thread sees one element unless
// total > 16.7M).
//
// The header: every operation is an IEEE round-to-nearest intrinsic in CpuBackend's order, so the
// update is bit-identical to the same float arithmetic (with step_size = lr / (float)bc1 as the
// kernel computes it; CpuBackend rounds lr / bc1 from double, one ulp of the step size apart).
// The reference is that float arithmetic; the check is bitwise, grad must come back all zeros.
#include "harness.h"

#include <cmath>

namespace kt {
namespace {

const char* const kFile = "adamw.cu";

struct Hyper {
    float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
    int step = 1;
    float bc1() const { return static_cast<float>(1.0 - std::pow(static_cast<double>(beta1), step)); }
    float sqrt_bc2() const { return static_cast<float>(std::sqrt(1.0 - std::pow(static_cast<double>(beta2), step))); }
};

struct AdamState {
    std::vector<float> param, grad, m, v;
};

// Moments as after some steps (v >= 0), gradients of varied size.
AdamState adam_state(Rng& rng, size_t n) {
    AdamState s;
    s.param = rng.normal(n);
    s.grad = rng.normal(n, 0.1);
    s.m = rng.normal(n, 0.05);
    s.v = rng.uniform(n, 0.0, 0.02);
    return s;
}

// adamw_update's float arithmetic, in its order (one rounding per operation: -std=c++17 keeps
// g++ from contracting a*b+c into an FMA, and x86-64 evaluates float in float).
void adam_reference(AdamState& s, const Hyper& h, float wd) {
    const float omb1 = 1.0f - h.beta1, omb2 = 1.0f - h.beta2;
    const float decay = 1.0f - h.lr * wd;
    const float stepSize = h.lr / h.bc1();
    const float sqrtBc2 = h.sqrt_bc2();
    for (size_t i = 0; i < s.param.size(); ++i) {
        const float g = s.grad[i];
        const float mi = h.beta1 * s.m[i] + omb1 * g;
        const float vi = h.beta2 * s.v[i] + (omb2 * g) * g;
        s.m[i] = mi;
        s.v[i] = vi;
        const float denom = std::sqrt(vi) / sqrtBc2 + h.eps;
        s.param[i] = s.param[i] * decay - (stepSize * mi) / denom;
        s.grad[i] = 0.0f;
    }
}

void check_state(Case& c, const AdamState& ref) {
    c.check("param", to_double(ref.param), exact());
    c.check("grad", to_double(ref.grad), exact());
    c.check("m", to_double(ref.m), exact());
    c.check("v", to_double(ref.v), exact());
}

// ============================================================================ one tensor

void step_case(Suite& s, long long n, int step, float wd, bool quick) {
    s.add(kFile, "adamw_step_f32", format("n=%lld step=%d wd=%g", n, step, wd), quick, [=](Case& c) {
        Rng rng(seed_of("adamw_step_f32", {n, step}));
        const AdamState start = adam_state(rng, n);
        Hyper h;
        h.step = step;
        AdamState ref = start;
        adam_reference(ref, h, wd);
        c.run([&](Run& r) {
            DeviceBuffer& p = r.inout(start.param);
            DeviceBuffer& g = r.inout(start.grad);
            DeviceBuffer& m = r.inout(start.m);
            DeviceBuffer& v = r.inout(start.v);
            Launch("adamw_step_f32").grid(ew_grid(n)).ptr(p).ptr(g).ptr(m).ptr(v).i64(n)
                .f32(h.lr).f32(h.beta1).f32(h.beta2).f32(h.eps).f32(wd).f32(h.bc1()).f32(h.sqrt_bc2()).go();
            r.result("param", p);
            r.result("grad", g);
            r.result("m", m);
            r.result("v", v);
        });
        check_state(c, ref);
    });
}

// ============================================================================ many tensors

// Concatenation of the tensors' states (the shape of the results the multi-tensor case downloads).
AdamState concat(const std::vector<AdamState>& parts) {
    AdamState all;
    for (const auto& p : parts) {
        all.param.insert(all.param.end(), p.param.begin(), p.param.end());
        all.grad.insert(all.grad.end(), p.grad.begin(), p.grad.end());
        all.m.insert(all.m.end(), p.m.begin(), p.m.end());
        all.v.insert(all.v.end(), p.v.begin(), p.v.end());
    }
    return all;
}

void multi_case(Suite& s, const std::vector<int>& sizes, const std::vector<float>& wds, unsigned grid, bool quick) {
    std::string list;
    for (int n : sizes) {
        list += (list.empty() ? "" : ",") + std::to_string(n);
    }
    s.add(kFile, "adamw_multi_step_f32", format("sizes=[%s]%s", list.c_str(), grid ? format(" grid=%u", grid).c_str() : ""),
          quick, [=](Case& c) {
              const int T = static_cast<int>(sizes.size());
              Rng rng(seed_of("adamw_multi_step_f32", {T, sizes.back(), grid}));
              Hyper h;
              h.step = 3;
              std::vector<AdamState> start(T), ref(T);
              std::vector<long long> offsets(T + 1, 0);
              for (int t = 0; t < T; ++t) {
                  start[t] = adam_state(rng, sizes[t]);
                  ref[t] = start[t];
                  adam_reference(ref[t], h, wds[t]);   // "identical to T separate adamw_step_f32 launches"
                  offsets[t + 1] = offsets[t] + sizes[t];
              }
              const long long total = offsets[T];
              c.run([&](Run& r) {
                  // One allocation per tensor and state (bounds checks per tensor); an empty
                  // tensor gets the null address, which the kernel must never touch.
                  std::vector<DeviceBuffer*> p(T), g(T), m(T), v(T);
                  std::vector<unsigned long long> ap(T, 0), ag(T, 0), am(T, 0), av(T, 0);
                  for (int t = 0; t < T; ++t) {
                      if (sizes[t] == 0) {
                          continue;
                      }
                      p[t] = &r.inout(start[t].param);
                      g[t] = &r.inout(start[t].grad);
                      m[t] = &r.inout(start[t].m);
                      v[t] = &r.inout(start[t].v);
                      ap[t] = p[t]->ptr();
                      ag[t] = g[t]->ptr();
                      am[t] = m[t]->ptr();
                      av[t] = v[t]->ptr();
                  }
                  DeviceBuffer& dp = r.in(ap);
                  DeviceBuffer& dg = r.in(ag);
                  DeviceBuffer& dm = r.in(am);
                  DeviceBuffer& dv = r.in(av);
                  DeviceBuffer& doff = r.in(offsets);
                  DeviceBuffer& dwd = r.in(wds);
                  Launch("adamw_multi_step_f32").grid(grid ? grid : ew_grid(total))
                      .ptr(dp).ptr(dg).ptr(dm).ptr(dv).ptr(doff).ptr(dwd).i32(T).i64(total)
                      .f32(h.lr).f32(h.beta1).f32(h.beta2).f32(h.eps).f32(h.bc1()).f32(h.sqrt_bc2()).go();
                  // Download every tensor, concatenated per state.
                  std::vector<float> all[4];
                  for (int t = 0; t < T; ++t) {
                      if (sizes[t] == 0) {
                          continue;
                      }
                      DeviceBuffer* bufs[4] = {p[t], g[t], m[t], v[t]};
                      for (int k = 0; k < 4; ++k) {
                          std::vector<float> host(sizes[t]);
                          bufs[k]->download(host.data());
                          all[k].insert(all[k].end(), host.begin(), host.end());
                      }
                  }
                  const char* names[4] = {"param", "grad", "m", "v"};
                  for (int k = 0; k < 4; ++k) {
                      r.result(names[k], all[k]);
                  }
              });
              check_state(c, concat(ref));
          });
}

}  // namespace

void add_adamw_cases(Suite& s) {
    for (long long n : {1LL, 255LL, 4099LL, 65537LL}) {
        step_case(s, n, 1, 0.05f, n == 255);
    }
    step_case(s, 4099, 10, 0.0f, false);    // plain Adam, later step
    step_case(s, 1000, 1000, 0.1f, false);  // bias corrections near 1

    // Leading, inner and trailing empty tensors; sizes around the block; a biases-and-LayerNorm
    // style mix of decays (0 for those) and weights.
    const std::vector<int> mixed = {0, 1, 300, 0, 257, 4096, 7, 0};
    const std::vector<float> mixedWd = {0.05f, 0.0f, 0.05f, 0.0f, 0.1f, 0.05f, 0.0f, 0.05f};
    multi_case(s, mixed, mixedWd, 0, true);
    multi_case(s, mixed, mixedWd, 2, false);   // each thread loops over ~9 elements, across tensors
    // Many one-element tensors: a thread's stride jumps over several tensors at a time.
    const std::vector<int> ones(40, 1);
    std::vector<float> onesWd(40);
    for (int t = 0; t < 40; ++t) {
        onesWd[t] = t % 3 == 0 ? 0.0f : 0.01f * t;
    }
    multi_case(s, ones, onesWd, 0, false);
    multi_case(s, {5, 3, 1}, {0.1f, 0.0f, 0.2f}, 0, false);
    // grid 1: the 256 threads each walk all tensors of a ViT-like mix.
    multi_case(s, {192, 192, 36864, 192, 1, 0, 3072}, {0.0f, 0.0f, 0.05f, 0.0f, 0.0f, 0.0f, 0.05f}, 1, false);
}

}  // namespace kt
