package org.vit4j.nativetests;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.vit4j.backend.cuda.CudaBackend;
import org.vit4j.backend.cuda.RowSoftmax;
import org.vit4j.tensor.Tensor;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code kernels/softmax.cu} (the kernel benchmark's softmax, and the middle of its unfused
 * attention baseline) against a double-precision CPU reference: every register path (K = 1 .. 32
 * values per lane) and the streaming path for rows over 1024, odd sizes, outputs poisoned with
 * NaN, scale 1 and an attention-like 1/sqrt(64).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CudaSoftmaxTest {
    private CudaBackend backend;
    private RowSoftmax softmax;

    @BeforeAll
    void open() {
        backend = Gpu.open();
        softmax = new RowSoftmax(backend);
    }

    @AfterAll
    void close() {
        if (backend != null) {
            backend.close();
        }
    }

    /** y = softmax(scale x) and dx = scale y (dy - <y, dy>) per row, in double. */
    static double[][] reference(float[] x, float[] dy, int rows, int cols, float scale) {
        double[] y = new double[x.length], dx = new double[x.length];
        for (int r = 0; r < rows; r++) {
            double m = Double.NEGATIVE_INFINITY, s = 0, dot = 0;
            for (int j = 0; j < cols; j++) {
                m = Math.max(m, (double) scale * x[r * cols + j]);
            }
            for (int j = 0; j < cols; j++) {
                s += Math.exp((double) scale * x[r * cols + j] - m);
            }
            for (int j = 0; j < cols; j++) {
                y[r * cols + j] = Math.exp((double) scale * x[r * cols + j] - m) / s;
                dot += y[r * cols + j] * dy[r * cols + j];
            }
            for (int j = 0; j < cols; j++) {
                dx[r * cols + j] = scale * y[r * cols + j] * (dy[r * cols + j] - dot);
            }
        }
        return new double[][] {y, dx};
    }

    @ParameterizedTest(name = "rows {0}, cols {1}, scale {2}")
    @CsvSource({"1,1,1", "3,17,1", "9,31,0.125", "100,32,1", "7,33,1", "5,65,0.125", "11,197,0.125", "4,256,1",
            "6,257,1", "3,577,0.125", "9,1000,1", "2,1024,1", "3,1025,1", "2,4099,0.5", "1000,17,0.35355339"})
    void matchesTheDoubleReference(int rows, int cols, float scale) {
        SplittableRandom r = new SplittableRandom(rows * 31L + cols);
        float[] x = new float[rows * cols], dy = new float[rows * cols];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (r.nextGaussian() * 3);
            dy[i] = (float) r.nextGaussian();
        }
        float[] nan = new float[x.length];
        Arrays.fill(nan, Float.NaN);
        try (Tensor tx = backend.allocate(rows, cols); Tensor ty = backend.allocate(rows, cols);
             Tensor tdy = backend.allocate(rows, cols); Tensor tdx = backend.allocate(rows, cols)) {
            backend.upload(x, tx);
            backend.upload(dy, tdy);
            backend.upload(nan, ty);
            backend.upload(nan, tdx);
            softmax.forward(tx, ty, scale);
            softmax.backward(ty, tdy, tdx, scale);
            float[] y = backend.toArray(ty), dx = backend.toArray(tdx);
            double[][] ref = reference(x, dy, rows, cols, scale);
            assertClose("y", ref[0], y, 1e-6);
            assertClose("dx", ref[1], dx, 1e-5);
        }
    }

    /** Max |got - want| over max |want| (and no NaN: every element was written). */
    private static void assertClose(String what, double[] want, float[] got, double tolerance) {
        double maxDiff = 0, maxAbs = 0;
        for (int i = 0; i < want.length; i++) {
            assertTrue(Float.isFinite(got[i]), what + "[" + i + "] = " + got[i]);
            maxDiff = Math.max(maxDiff, Math.abs(want[i] - got[i]));
            maxAbs = Math.max(maxAbs, Math.abs(want[i]));
        }
        double rel = maxDiff / Math.max(maxAbs, 1e-30);
        System.out.printf("softmax %s: max |diff| / max |value| = %.2e%n", what, rel);
        assertTrue(rel <= tolerance, what + ": relative error " + rel + " > " + tolerance);
    }
}
