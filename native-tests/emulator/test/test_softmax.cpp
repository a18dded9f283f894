// kernels/softmax.cu: the row softmax of the unfused attention baseline, forward and backward.
//
// Launcher: RowSoftmax.java (grid ceil(rows / 8), block 256). Shapes: CudaSoftmaxTest's, which
// reach every register path (K = 1, 2, 4, 8, 16, 32 values per lane) and the streaming path
// (cols > 1024), with scale 1 and attention-like ones; the backward's y is the double forward's
// rounded to float (a real probability row, as the forward leaves it).
//
// Tolerances (CudaSoftmaxTest's, relative to the output's largest element): each y is
// expf(v - m) (2 ulp, and the rounding of v - m matters only for elements e^-|v-m| too small to
// set the max) times a reciprocal of a sum of ceil(cols/32) + 5 terms in a chain: a few u
// relative to the row's largest probability, 1e-6 ~ 17u. The backward's dot product sum y dy
// cancels against dy, ~(cols/32 + 5) u relative to max |dx|, < 2e-6 at cols = 4099: 1e-5.
#include "harness.h"

#include <cmath>

namespace kt {
namespace {

const char* const kFile = "softmax.cu";

// y = softmax(scale x) per row, in double.
std::vector<double> softmax_ref(const std::vector<float>& x, int rows, int cols, float scale) {
    std::vector<double> y(x.size());
    for (int r = 0; r < rows; ++r) {
        const size_t o = static_cast<size_t>(r) * cols;
        double m = -INFINITY, s = 0;
        for (int j = 0; j < cols; ++j) {
            m = std::max(m, static_cast<double>(scale) * x[o + j]);
        }
        for (int j = 0; j < cols; ++j) {
            s += std::exp(static_cast<double>(scale) * x[o + j] - m);
        }
        for (int j = 0; j < cols; ++j) {
            y[o + j] = std::exp(static_cast<double>(scale) * x[o + j] - m) / s;
        }
    }
    return y;
}

// dx = scale y (dy - sum_k y_k dy_k) per row, from the float y the kernel reads.
std::vector<double> softmax_backward_ref(const std::vector<float>& y, const std::vector<float>& dy, int rows, int cols,
                                         float scale) {
    std::vector<double> dx(y.size());
    for (int r = 0; r < rows; ++r) {
        const size_t o = static_cast<size_t>(r) * cols;
        double dot = 0;
        for (int j = 0; j < cols; ++j) {
            dot += static_cast<double>(y[o + j]) * dy[o + j];
        }
        for (int j = 0; j < cols; ++j) {
            dx[o + j] = static_cast<double>(scale) * y[o + j] * (dy[o + j] - dot);
        }
    }
    return dx;
}

void softmax_cases(Suite& s, int rows, int cols, float scale, bool quick) {
    const std::string shape = format("rows=%d cols=%d scale=%g", rows, cols, scale);
    s.add(kFile, "softmax_forward_f32", shape, quick, [=](Case& c) {
        Rng rng(seed_of("softmax_forward_f32", {rows, cols}));
        const std::vector<float> x = rng.normal(static_cast<size_t>(rows) * cols, 3.0);
        const std::vector<double> ref = softmax_ref(x, rows, cols, scale);
        c.run([&](Run& r) {
            DeviceBuffer& dx = r.in(x);
            DeviceBuffer& y = r.out<float>(x.size());
            Launch("softmax_forward_f32").grid(row_grid(rows)).ptr(dx).ptr(y).i32(rows).i32(cols).f32(scale).go();
            r.result("y", y);
        });
        c.check("y", ref, norm(1e-6));
    });
    s.add(kFile, "softmax_backward_f32", shape, quick, [=](Case& c) {
        Rng rng(seed_of("softmax_backward_f32", {rows, cols}));
        const std::vector<float> x = rng.normal(static_cast<size_t>(rows) * cols, 3.0);
        const std::vector<float> y = to_float(softmax_ref(x, rows, cols, scale));
        const std::vector<float> dy = rng.normal(x.size());
        const std::vector<double> ref = softmax_backward_ref(y, dy, rows, cols, scale);
        c.run([&](Run& r) {
            DeviceBuffer& dyv = r.in(y);
            DeviceBuffer& ddy = r.in(dy);
            DeviceBuffer& dx = r.out<float>(x.size());
            Launch("softmax_backward_f32").grid(row_grid(rows)).ptr(dyv).ptr(ddy).ptr(dx).i32(rows).i32(cols)
                .f32(scale).go();
            r.result("dx", dx);
        });
        c.check("dx", ref, norm(1e-5));
    });
}

}  // namespace

void add_softmax_cases(Suite& s) {
    struct Shape {
        int rows, cols;
        float scale;
        bool quick;
    };
    // CudaSoftmaxTest's list: K = 1 (<= 32), 2, 4, 8, 16, 32 per lane, the streaming path above 1024.
    const Shape shapes[] = {{1, 1, 1.0f, false},       {3, 17, 1.0f, false},     {9, 31, 0.125f, false},
                            {100, 32, 1.0f, false},    {7, 33, 1.0f, true},      {5, 65, 0.125f, false},
                            {11, 197, 0.125f, false},  {4, 256, 1.0f, false},    {6, 257, 1.0f, false},
                            {3, 577, 0.125f, false},   {9, 1000, 1.0f, false},   {2, 1024, 1.0f, false},
                            {3, 1025, 1.0f, true},     {2, 4099, 0.5f, false},   {1000, 17, 0.35355339f, false}};
    for (const auto& sh : shapes) {
        softmax_cases(s, sh.rows, sh.cols, sh.scale, sh.quick);
    }
}

}  // namespace kt
