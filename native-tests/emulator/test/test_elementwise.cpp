// kernels/elementwise.cu: add, scale, dropout, the sum-of-squares reduction and the Linear bias.
//
// Launchers: CudaBackend.add / scale / dropout (EW grid), sumOfSquares (grid 256; the host adds the
// 256 partials, so sum_partials_f64 runs at its header's launch line), linearForward (bias_add_f32)
// and biasGradient (the two-stage bias_grad_partial_f32 + bias_grad_reduce_f32). bias_grad_f32 has
// no Java launcher; it runs at its header's launch line.
//
// Everything but the reductions is bit-identical to CpuBackend by contract (IEEE add/mul, the
// dropout divisions written with __fdiv_rn), so those references are the same float arithmetic in
// the same order and the check is bitwise. The reductions are checked against double sums with
// the rounding bound of chain_tol.
#include "harness.h"

#include <cmath>

namespace kt {
namespace {

const char* const kFile = "elementwise.cu";

// ============================================================================ add_f32, scale_f32

void add_case(Suite& s, long long n, bool inPlace, bool quick) {
    s.add(kFile, "add_f32", format("n=%lld%s", n, inPlace ? " out=a (addInPlace)" : ""), quick, [=](Case& c) {
        Rng rng(seed_of("add_f32", {n, inPlace}));
        const std::vector<float> a = rng.normal(n), b = rng.normal(n, 3.0);
        std::vector<double> ref(n);
        for (long long i = 0; i < n; ++i) {
            ref[i] = a[i] + b[i];   // float + float, rounded to float: CpuBackend.add
        }
        c.run([&](Run& r) {
            DeviceBuffer& da = r.in(a);
            DeviceBuffer& db = r.in(b);
            DeviceBuffer& out = inPlace ? da : r.out<float>(n);
            Launch("add_f32").grid(ew_grid(n)).ptr(da).ptr(db).ptr(out).i64(n).go();
            r.result("out", out);
        });
        c.check("out", ref, exact());
    });
}

void scale_case(Suite& s, long long n, float factor, bool quick) {
    s.add(kFile, "scale_f32", format("n=%lld factor=%g", n, factor), quick, [=](Case& c) {
        Rng rng(seed_of("scale_f32", {n}));
        const std::vector<float> x = rng.normal(n, 2.0);
        std::vector<double> ref(n);
        for (long long i = 0; i < n; ++i) {
            ref[i] = x[i] * factor;   // one float multiply: CpuBackend.scale
        }
        c.run([&](Run& r) {
            DeviceBuffer& dx = r.inout(x);   // scaled in place
            Launch("scale_f32").grid(ew_grid(n)).ptr(dx).f32(factor).i64(n).go();
            r.result("x", dx);
        });
        c.check("x", ref, exact());
    });
}

// ============================================================================ dropout

// DropoutMask.uniform: SplitMix64 of (seed, index + 1), 24 bits as a float in [0, 1).
float dropout_uniform(unsigned long long seed, unsigned long long index) {
    unsigned long long z = seed + (index + 1ULL) * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return static_cast<float>(static_cast<unsigned>(z >> 40)) * 5.9604644775390625e-8f;   // * 2^-24
}

// Forward and backward are the same map (in -> out); both entry points get the same cases.
void dropout_case(Suite& s, const char* kernel, long long n, float p, unsigned long long seed, bool inPlace,
                  bool quick) {
    s.add(kFile, kernel, format("n=%lld p=%g seed=0x%016llx%s", n, p, seed, inPlace ? " in=out" : ""), quick,
          [=](Case& c) {
              Rng rng(seed_of(kernel, {n, static_cast<long long>(seed), inPlace}));
              const std::vector<float> in = rng.normal(n);
              const float keepScale = 1.0f / (1.0f - p);   // Java's 1f / (1f - p), correctly rounded
              std::vector<double> ref(n);
              for (long long i = 0; i < n; ++i) {
                  ref[i] = dropout_uniform(seed, static_cast<unsigned long long>(i)) >= p ? in[i] * keepScale : 0.0f;
              }
              c.run([&](Run& r) {
                  DeviceBuffer& din = r.in(in);
                  DeviceBuffer& out = inPlace ? din : r.out<float>(n);
                  Launch(kernel).grid(ew_grid(n)).ptr(din).ptr(out).f32(p).u64(seed).i64(n).go();
                  r.result("out", out);
              });
              c.check("out", ref, exact());
          });
}

// ============================================================================ sum of squares

constexpr int kSumParts = 256;   // CudaBackend.SUM_PARTS: the fixed grid of stage 1

void sum_of_squares_case(Suite& s, long long n, bool quick) {
    s.add(kFile, "sum_of_squares_partial_f32", format("n=%lld", n), quick, [=](Case& c) {
        Rng rng(seed_of("sum_of_squares_partial_f32", {n}));
        const std::vector<float> x = rng.normal(n, 2.0);
        // Block k owns i = k*256 + t + j*65536: the elements with (i mod 65536) / 256 == k.
        std::vector<long double> sum(kSumParts, 0.0L);
        for (long long i = 0; i < n; ++i) {
            sum[(i % (kSumParts * kBlock)) / kBlock] += static_cast<long double>(x[i]) * x[i];
        }
        std::vector<double> ref(sum.begin(), sum.end());
        c.run([&](Run& r) {
            DeviceBuffer& dx = r.in(x);
            DeviceBuffer& partial = r.out<double>(kSumParts);
            Launch("sum_of_squares_partial_f32").grid(kSumParts).ptr(dx).i64(n).ptr(partial).go();
            r.result("partial", partial);
        });
        // Double sums of positive terms (each x^2 exact in double): per thread ceil(n / 65536)
        // additions, then the 8-level tree, so the relative error is at most
        // (ceil(n / 65536) + 8) * 2^-53 < 2e-15 for these n. Blocks without elements must give 0.
        c.check("partial", ref, rel(1e-14, 0.0));
    });
}

void sum_partials_case(Suite& s, int parts, bool quick) {
    s.add(kFile, "sum_partials_f64", format("parts=%d", parts), quick, [=](Case& c) {
        Rng rng(seed_of("sum_partials_f64", {parts}));
        // Positive, like sums of squares, spread over six decades.
        std::vector<double> partial(parts);
        long double sum = 0.0L;
        for (auto& p : partial) {
            p = rng.uniform(0.5, 1.0) * std::pow(10.0, rng.uniform(-3.0, 3.0));
            sum += p;
        }
        c.run([&](Run& r) {
            DeviceBuffer& dp = r.in(partial);
            DeviceBuffer& out = r.out<double>(1);
            Launch("sum_partials_f64").grid(1).ptr(dp).i32(parts).ptr(out).go();
            r.result("sum", out);
        });
        // Positive terms, ceil(parts / 256) serial additions and an 8-level tree:
        // relative error <= (ceil(parts / 256) + 8) * 2^-53 < 2e-15.
        c.check("sum", {static_cast<double>(sum)}, rel(1e-14, 0.0));
    });
}

// ============================================================================ Linear bias

// bias_add_f32 at the EW grid; `grid` != 0 overrides it, for the header's "any grid" promise of a
// grid-stride loop (the incremental column tracking only wraps when a thread loops).
void bias_add_case(Suite& s, int rows, int cols, unsigned grid, bool quick) {
    s.add(kFile, "bias_add_f32", format("rows=%d cols=%d%s", rows, cols, grid ? format(" grid=%u", grid).c_str() : ""),
          quick, [=](Case& c) {
              const long long n = static_cast<long long>(rows) * cols;
              Rng rng(seed_of("bias_add_f32", {rows, cols, grid}));
              const std::vector<float> y = rng.normal(n), bias = rng.normal(cols);
              std::vector<double> ref(n);
              for (long long i = 0; i < n; ++i) {
                  ref[i] = y[i] + bias[i % cols];   // one float add
              }
              c.run([&](Run& r) {
                  DeviceBuffer& dy = r.inout(y);
                  DeviceBuffer& db = r.in(bias);
                  Launch("bias_add_f32").grid(grid ? grid : ew_grid(n)).ptr(dy).ptr(db).i32(rows).i32(cols).go();
                  r.result("y", dy);
              });
              c.check("y", ref, exact());
          });
}

// Column sums of dy[rows, cols] over rows [r0, r1), in double, and their sums of |terms|.
void column_sums(const std::vector<float>& dy, int cols, int r0, int r1, double* sum, double* mag) {
    for (int r = r0; r < r1; ++r) {
        for (int j = 0; j < cols; ++j) {
            const double v = dy[static_cast<size_t>(r) * cols + j];
            sum[j] += v;
            mag[j] += std::fabs(v);
        }
    }
}

// bias_grad_f32 ADDS the column sums into dbias: one block per 32 columns, 8 row lanes.
void bias_grad_case(Suite& s, int rows, int cols, bool block2d, bool quick) {
    s.add(kFile, "bias_grad_f32", format("rows=%d cols=%d%s", rows, cols, block2d ? " block=32x8" : ""), quick,
          [=](Case& c) {
              Rng rng(seed_of("bias_grad_f32", {rows, cols, block2d}));
              const std::vector<float> dy = rng.normal(static_cast<size_t>(rows) * cols);
              const std::vector<float> dbias0 = rng.normal(cols);   // ADDS into: start non-zero
              std::vector<double> ref(dbias0.begin(), dbias0.end()), mag = abs_of(ref);
              column_sums(dy, cols, 0, rows, ref.data(), mag.data());
              c.run([&](Run& r) {
                  DeviceBuffer& ddy = r.in(dy);
                  DeviceBuffer& db = r.inout(dbias0);
                  Launch l("bias_grad_f32");
                  l.grid(static_cast<unsigned>(cdiv(cols, 32)));
                  if (block2d) {
                      l.block(32, 8);
                  }
                  l.ptr(ddy).ptr(db).i32(rows).i32(cols).go();
                  r.result("dbias", db);
              });
              // Per lane ceil(rows / 8) additions, 3 tree levels, the add into dbias.
              c.check("dbias", ref, scaled(chain_tol(cdiv(rows, 8) + 4), mag));
          });
}

// CudaBackend.biasGradient's split: colTiles x slices stage-1 blocks, about 1024 of them.
int bias_slices(int rows, int cols) {
    const long long colTiles = cdiv(cols, 32);
    return static_cast<int>(std::max(1LL, std::min(cdiv(rows, 64), cdiv(1024, colTiles))));
}

void bias_grad_partial_case(Suite& s, int rows, int cols, bool quick) {
    const int slices = bias_slices(rows, cols);
    s.add(kFile, "bias_grad_partial_f32", format("rows=%d cols=%d (slices=%d)", rows, cols, slices), quick,
          [=](Case& c) {
              Rng rng(seed_of("bias_grad_partial_f32", {rows, cols}));
              const std::vector<float> dy = rng.normal(static_cast<size_t>(rows) * cols);
              const int per = static_cast<int>(cdiv(rows, slices));
              std::vector<double> ref(static_cast<size_t>(slices) * cols, 0.0), mag(ref.size(), 0.0);
              for (int sl = 0; sl < slices; ++sl) {
                  const int r0 = std::min(rows, sl * per), r1 = std::min(rows, (sl + 1) * per);
                  column_sums(dy, cols, r0, r1, &ref[static_cast<size_t>(sl) * cols],
                              &mag[static_cast<size_t>(sl) * cols]);
              }
              c.run([&](Run& r) {
                  DeviceBuffer& ddy = r.in(dy);
                  DeviceBuffer& partial = r.out<float>(ref.size());   // WRITES every slice's row
                  Launch("bias_grad_partial_f32")
                      .grid(static_cast<unsigned>(cdiv(cols, 32)), static_cast<unsigned>(slices))
                      .ptr(ddy).ptr(partial).i32(rows).i32(cols).go();
                  r.result("partial", partial);
              });
              c.check("partial", ref, scaled(chain_tol(cdiv(per, 8) + 3), mag));
          });
}

void bias_grad_reduce_case(Suite& s, int rows, int cols, bool quick) {
    const int slices = bias_slices(rows, cols);
    s.add(kFile, "bias_grad_reduce_f32", format("slices=%d cols=%d (rows=%d)", slices, cols, rows), quick,
          [=](Case& c) {
              Rng rng(seed_of("bias_grad_reduce_f32", {slices, cols}));
              // Partials as stage 1 leaves them: sums of ~rows/slices unit normals.
              const std::vector<float> partial =
                  rng.normal(static_cast<size_t>(slices) * cols, std::sqrt(static_cast<double>(rows) / slices));
              const std::vector<float> dbias0 = rng.normal(cols);
              std::vector<double> ref(dbias0.begin(), dbias0.end()), mag = abs_of(ref);
              column_sums(partial, cols, 0, slices, ref.data(), mag.data());
              c.run([&](Run& r) {
                  DeviceBuffer& dp = r.in(partial);
                  DeviceBuffer& db = r.inout(dbias0);
                  Launch("bias_grad_reduce_f32").grid(static_cast<unsigned>(cdiv(cols, kBlock)))
                      .ptr(dp).ptr(db).i32(slices).i32(cols).go();
                  r.result("dbias", db);
              });
              // slices serial additions in a float, then the add into dbias.
              c.check("dbias", ref, scaled(chain_tol(slices + 1), mag));
          });
}

}  // namespace

void add_elementwise_cases(Suite& s) {
    // Sizes around the block (255, 256, 257), a tail, and a grid of a few hundred blocks.
    for (long long n : {1LL, 255LL, 257LL, 4099LL, 100003LL}) {
        add_case(s, n, false, n == 257);
    }
    add_case(s, 4099, true, true);
    // Past the grid cap: 65535 blocks of 256 threads, so the launch line's grid-stride loop wraps.
    add_case(s, 65535LL * 256 + 1000, false, false);
    scale_case(s, 1, 0.5f, false);
    scale_case(s, 257, -2.5f, true);
    scale_case(s, 70001, 0.37f, false);

    // p = 0 keeps everything (scaled by exactly 1); seeds with the high bit set are negative Java longs.
    for (const char* k : {"dropout_forward_f32", "dropout_backward_f32"}) {
        const bool fwd = std::string(k).find("forward") != std::string::npos;
        dropout_case(s, k, 1, 0.5f, fwd ? 42ULL : 43ULL, false, false);
        dropout_case(s, k, 1000, 0.1f, fwd ? 0x0123456789ABCDEFULL : 0x1122334455667788ULL, false, true);
        dropout_case(s, k, 4099, 0.0f, fwd ? 7ULL : 8ULL, false, false);
        dropout_case(s, k, 65539, 0.5f, fwd ? 0xFEDCBA9876543210ULL : 0x8000000000000001ULL, false, false);
        dropout_case(s, k, 4099, 0.9f, fwd ? 0xDEADBEEFCAFEF00DULL : 0xC0FFEE0000000000ULL, true, false);
    }

    // One element; under a block; exactly one full pass of 65536 threads and one past it; 4.6 passes.
    for (long long n : {1LL, 300LL, 65536LL, 65537LL, 300001LL}) {
        sum_of_squares_case(s, n, n == 300);
    }
    sum_partials_case(s, kSumParts, true);   // what stage 1 leaves
    sum_partials_case(s, 1, false);
    sum_partials_case(s, 1000, false);       // several per thread

    // Linear outputs: the head (rows = B), a ViT-tiny width (192), odd widths (33, 257).
    const int biasShapes[][2] = {{1, 1}, {3, 10}, {17, 33}, {197, 192}, {65, 257}, {2, 1000}};
    for (const auto& rc : biasShapes) {
        bias_add_case(s, rc[0], rc[1], 0, rc[0] == 17);
    }
    bias_add_case(s, 65, 257, 3, true);   // stride 768 = 257*2 + 254: the column wraps every loop
    bias_add_case(s, 17, 33, 1, false);   // stride 256 = 33*7 + 25

    // bias_grad_f32 suits small rows; 300 rows and 1000 columns still run at its launch line.
    const int gradShapes[][2] = {{1, 1}, {3, 10}, {17, 33}, {8, 100}, {300, 65}, {3, 1000}};
    for (const auto& rc : gradShapes) {
        bias_grad_case(s, rc[0], rc[1], false, rc[0] == 17);
    }
    bias_grad_case(s, 17, 33, true, false);   // the header allows a (32, 8) block too

    // Stage 1 + 2 at linearBackward's shapes: B*N rows of patch tokens (B = 1..3, N = 17..197).
    const int twoStage[][2] = {{1, 1}, {3, 10}, {51, 33}, {197, 192}, {591, 100}, {1000, 65}, {3000, 7}};
    for (const auto& rc : twoStage) {
        bias_grad_partial_case(s, rc[0], rc[1], rc[0] == 51);
        bias_grad_reduce_case(s, rc[0], rc[1], rc[0] == 1000);
    }
}

}  // namespace kt
