package org.vit4j.nativetests;

import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.JCudaDriver;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.vit4j.backend.cuda.CudaBackend;
import org.vit4j.backend.cuda.CudaTensor;
import org.vit4j.backend.cuda.NativeAddress;
import org.vit4j.tensor.DType;
import org.vit4j.tensor.Shape;
import org.vit4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The kernels of {@code kernels/*.cu} that no backend op launches (yet): {@code bias_gelu_forward_f32},
 * {@code bias_grad_f32}, {@code sum_partials_f64} and {@code adamw_multi_step_f32}, each launched as
 * its source's {@code launch:} line says, against the ops that use their twins or a double
 * reference. They are compiled and loaded with every other kernel, so they are tested too (and
 * the emulated tier's launch coverage counts every kernel of {@code kernels/}).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CudaSpareKernelsTest {
    private CudaBackend backend;

    @BeforeAll
    void open() {
        backend = Gpu.open();
    }

    @AfterAll
    void close() {
        if (backend != null) {
            backend.close();
        }
    }

    /** A launch on the backend's stream; arguments: tensors, Integer, Long, Float, in the kernel's order. */
    private void launch(String kernel, int grid, int blockX, int blockY, Object... args) {
        Pointer[] params = new Pointer[args.length];
        for (int i = 0; i < args.length; i++) {
            Object a = args[i];
            if (a instanceof Tensor t) {
                params[i] = Pointer.to(((CudaTensor) t).pointer());
            } else if (a instanceof Integer v) {
                params[i] = Pointer.to(new int[] {v});
            } else if (a instanceof Long v) {
                params[i] = Pointer.to(new long[] {v});
            } else if (a instanceof Float v) {
                params[i] = Pointer.to(new float[] {v});
            } else {
                throw new IllegalArgumentException("kernel argument " + a);
            }
        }
        backend.device().makeCurrent();
        int result = JCudaDriver.cuLaunchKernel(backend.kernels().function(kernel), grid, 1, 1, blockX, blockY, 1, 0,
                backend.device().stream(), Pointer.to(params), null);
        assertEquals(0, result, "cuLaunchKernel(" + kernel + ")");
        backend.synchronize();
    }

    private static float[] normal(SplittableRandom r, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    private static int elementwiseGrid(long n) {
        return (int) Math.max(1, Math.min((n + 255) / 256, 65535));
    }

    /** h += bias per column in place, y = gelu(h): as bias_add then gelu_forward_f32, also on a grid of 2 blocks. */
    @ParameterizedTest(name = "rows {0}, cols {1}, grid {2}")
    @CsvSource({"1,1,0", "3,17,0", "37,300,0", "37,300,2", "5,1000,3"})
    void biasGeluForwardIsBiasThenGelu(int rows, int cols, int grid) {
        SplittableRandom r = new SplittableRandom(rows * 1000L + cols);
        float[] h = normal(r, rows * cols), bias = normal(r, cols);
        float[] biased = new float[h.length];
        for (int i = 0; i < h.length; i++) {
            biased[i] = h[i] + bias[i % cols];
        }
        try (Tensor th = backend.allocate(rows, cols); Tensor tb = backend.allocate(cols);
             Tensor ty = backend.allocate(rows, cols); Tensor ref = backend.allocate(rows, cols);
             Tensor refY = backend.allocate(rows, cols)) {
            backend.upload(h, th);
            backend.upload(bias, tb);
            backend.fill(ty, Float.NaN);
            launch("bias_gelu_forward_f32", grid > 0 ? grid : elementwiseGrid((long) rows * cols), 256, 1,
                    th, tb, ty, rows, cols);
            backend.upload(biased, ref);
            backend.geluForward(ref, refY);
            assertArrayEquals(biased, backend.toArray(th), "h + bias, in place");
            assertClose("y", backend.toArray(refY), backend.toArray(ty), 1e-6);
        }
    }

    /** dbias += column sums of dy, one block per 32 columns, block 256 or (32, 8). */
    @ParameterizedTest(name = "rows {0}, cols {1}, block {2}x{3}")
    @CsvSource({"1,1,256,1", "8,33,256,1", "100,64,32,8", "257,191,256,1", "1000,10,32,8"})
    void biasGradAddsColumnSums(int rows, int cols, int blockX, int blockY) {
        SplittableRandom r = new SplittableRandom(rows * 7L + cols);
        float[] dy = normal(r, rows * cols), start = normal(r, cols);
        float[] want = new float[cols];
        for (int c = 0; c < cols; c++) {
            double s = start[c];
            for (int row = 0; row < rows; row++) {
                s += dy[row * cols + c];
            }
            want[c] = (float) s;
        }
        try (Tensor tdy = backend.allocate(rows, cols); Tensor db = backend.allocate(cols)) {
            backend.upload(dy, tdy);
            backend.upload(start, db);
            launch("bias_grad_f32", (cols + 31) / 32, blockX, blockY, tdy, db, rows, cols);
            assertClose("dbias", want, backend.toArray(db), 1e-5);
        }
    }

    /** out[0] = the sum of the partial doubles (stage 2 of the gradient norm). */
    @ParameterizedTest(name = "parts {0}")
    @CsvSource({"1", "256", "300", "1000"})
    void sumPartialsAddsThePartials(int parts) {
        SplittableRandom r = new SplittableRandom(parts);
        double[] partial = new double[parts];
        double want = 0;
        for (int i = 0; i < parts; i++) {
            partial[i] = r.nextDouble() * 1e3;
            want += partial[i];
        }
        try (Tensor tp = backend.allocate(DType.F32, Shape.of(2 * parts)); Tensor out = backend.allocate(2)) {
            backend.fill(out, Float.NaN);
            copyIn(tp, Pointer.to(partial), 8L * parts);
            launch("sum_partials_f64", 1, 256, 1, tp, parts, out);
            double[] got = new double[1];
            check(JCudaDriver.cuMemcpyDtoH(Pointer.to(got), ((CudaTensor) out).pointer(), 8), "cuMemcpyDtoH");
            assertEquals(want, got[0], Math.abs(want) * 1e-14, "sum of " + parts + " partials");
        }
    }

    /**
     * One adamw_multi_step_f32 launch over several tensors (empty ones included, per-tensor weight
     * decay) updates params and moments bit for bit as one adamw_step_f32 per tensor, over 3 steps,
     * on the launch line's grid and on a grid of 3 blocks (every thread crosses tensors).
     */
    @Test
    void adamwMultiStepMatchesOneStepPerTensor() {
        int[] sizes = {300, 0, 1, 17, 3 * 256 + 5, 0, 1000};
        float[] decays = {0.05f, 0.05f, 0f, 0.1f, 0.05f, 0f, 0f};
        for (int grid : new int[] {0, 3}) {
            SplittableRandom r = new SplittableRandom(grid);
            List<Tensor> owned = new ArrayList<>();
            try {
                int t = sizes.length;
                Tensor[][] single = new Tensor[t][4], multi = new Tensor[t][4];   // param, grad, m, v
                long[] offsets = new long[t + 1];
                for (int i = 0; i < t; i++) {
                    float[] p = normal(r, sizes[i]);
                    for (int k = 0; k < 4; k++) {
                        single[i][k] = own(owned, backend.allocate(DType.F32, Shape.of(sizes[i])));
                        multi[i][k] = own(owned, backend.allocate(DType.F32, Shape.of(sizes[i])));
                    }
                    backend.upload(p, single[i][0]);
                    backend.upload(p, multi[i][0]);
                    offsets[i + 1] = offsets[i] + sizes[i];
                }
                long total = offsets[t];
                Tensor[] addresses = new Tensor[4];
                for (int k = 0; k < 4; k++) {
                    long[] a = new long[t];
                    for (int i = 0; i < t; i++) {
                        a[i] = NativeAddress.of(((CudaTensor) multi[i][k]).pointer());
                    }
                    addresses[k] = own(owned, backend.allocate(DType.F32, Shape.of(2 * t)));
                    copyIn(addresses[k], Pointer.to(a), 8L * t);
                }
                Tensor tOffsets = own(owned, backend.allocate(DType.F32, Shape.of(2 * (t + 1))));
                copyIn(tOffsets, Pointer.to(offsets), 8L * (t + 1));
                Tensor tDecays = own(owned, backend.allocate(t));
                backend.upload(decays, tDecays);
                float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
                for (int step = 1; step <= 3; step++) {
                    for (int i = 0; i < t; i++) {
                        float[] g = normal(r, sizes[i]);
                        backend.upload(g, single[i][1]);
                        backend.upload(g, multi[i][1]);
                        backend.adamwStep(single[i][0], single[i][1], single[i][2], single[i][3], lr, beta1, beta2,
                                eps, decays[i], step);
                    }
                    float bc1 = (float) (1 - Math.pow(beta1, step));
                    float sqrtBc2 = (float) Math.sqrt(1 - Math.pow(beta2, step));
                    launch("adamw_multi_step_f32", grid > 0 ? grid : elementwiseGrid(total), 256, 1,
                            addresses[0], addresses[1], addresses[2], addresses[3], tOffsets, tDecays, t, total,
                            lr, beta1, beta2, eps, bc1, sqrtBc2);
                    for (int i = 0; i < t; i++) {
                        for (int k = 0; k < 4; k++) {
                            assertArrayEquals(backend.toArray(single[i][k]), backend.toArray(multi[i][k]),
                                    "grid " + grid + ", step " + step + ", tensor " + i + ", "
                                            + List.of("param", "grad", "m", "v").get(k));
                        }
                    }
                }
            } finally {
                owned.forEach(Tensor::close);
            }
        }
    }

    private static Tensor own(List<Tensor> owned, Tensor t) {
        owned.add(t);
        return t;
    }

    /** Host bytes into a device buffer, after the work queued before (as the backend's uploads). */
    private void copyIn(Tensor dst, Pointer host, long bytes) {
        backend.synchronize();
        CUdeviceptr p = ((CudaTensor) dst).pointer();
        check(JCudaDriver.cuMemcpyHtoD(p, host, bytes), "cuMemcpyHtoD");
    }

    private static void check(int result, String call) {
        assertEquals(0, result, call);
    }

    /** Max |got - want| over max |want|, every element finite. */
    private static void assertClose(String what, float[] want, float[] got, double tolerance) {
        assertEquals(want.length, got.length, what + " size");
        double maxDiff = 0, maxAbs = 0;
        for (int i = 0; i < want.length; i++) {
            assertTrue(Float.isFinite(got[i]), what + "[" + i + "] = " + got[i]);
            maxDiff = Math.max(maxDiff, Math.abs((double) want[i] - got[i]));
            maxAbs = Math.max(maxAbs, Math.abs(want[i]));
        }
        double rel = maxDiff / Math.max(maxAbs, 1e-30);
        assertTrue(rel <= tolerance, what + ": relative error " + rel + " > " + tolerance);
    }
}
