package org.vit4j.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link VectorMath} must give every element the bits of the scalar code: GELU results may not
 * depend on whether an element fell in a SIMD block or a chunk's scalar tail (so on the thread count).
 */
class VectorMathTest {
    /** Normal-ish values, the exp range edges of erfc and the pdf, and the special values, in blocks and tails. */
    private static float[] inputs() {
        Random rnd = new Random(13);
        float[] x = new float[20_011];
        for (int i = 0; i < x.length; i++) {
            x[i] = switch (i % 5) {
                case 0 -> (float) rnd.nextGaussian();
                case 1 -> (float) (rnd.nextGaussian() * 6);
                case 2 -> (rnd.nextFloat() - 0.5f) * 40f;
                case 3 -> (float) rnd.nextGaussian() * 1e-3f;
                default -> (float) (rnd.nextGaussian() * 3);
            };
        }
        float[] special = {0f, -0f, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.MIN_VALUE,
                12.3f, -12.3f, 13.2f, -13.2f, 13.3f, -13.3f, 1e30f, -1e30f};
        for (int i = 0; i < special.length; i++) {
            x[1000 + 37 * i] = special[i];
        }
        return x;
    }

    @Test
    void geluForwardGivesTheScalarBits() {
        assertTrue(FastMath.VECTOR_API, "the test JVM runs with --add-modules jdk.incubator.vector");
        float[] x = inputs();
        for (int from : new int[] {0, 3}) {
            float[] y = new float[x.length];
            VectorMath.geluForward(x, y, from, x.length - 5);
            for (int i = from; i < x.length - 5; i++) {
                assertEquals(Float.floatToIntBits(CpuBackend.geluScalar(x[i])), Float.floatToIntBits(y[i]),
                        "element " + i);
            }
        }
    }

    @Test
    void geluBackwardGivesTheScalarBits() {
        float[] x = inputs();
        float[] dy = new float[x.length];
        Random rnd = new Random(7);
        for (int i = 0; i < dy.length; i++) {
            dy[i] = (float) rnd.nextGaussian();
        }
        for (int from : new int[] {0, 5}) {
            float[] dx = new float[x.length];
            VectorMath.geluBackward(dy, x, dx, from, x.length - 2);
            for (int i = from; i < x.length - 2; i++) {
                float expected = dy[i] * CpuBackend.geluDerivativeScalar(x[i]);
                int at = i;
                assertEquals(Float.floatToIntBits(expected), Float.floatToIntBits(dx[i]), () -> "x = " + x[at]);
            }
        }
    }

    @Test
    void expGivesTheScalarBitsInItsFastRange() {
        float[] x = new float[4096];
        for (int i = 0; i < x.length; i++) {
            x[i] = FastMath.EXP_MIN + (FastMath.EXP_FAST_MAX - FastMath.EXP_MIN) * i / (x.length - 1);
        }
        var species = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED;
        float[] y = new float[x.length];
        for (int i = 0; i < species.loopBound(x.length); i += species.length()) {
            var v = jdk.incubator.vector.FloatVector.fromArray(species, x, i);
            assertTrue(VectorMath.inExpFastRange(v));
            VectorMath.exp(v).intoArray(y, i);
        }
        for (int i = 0; i < species.loopBound(x.length); i++) {
            assertEquals(Float.floatToIntBits(FastMath.exp(x[i])), Float.floatToIntBits(y[i]), "x = " + x[i]);
        }
    }

    @Test
    void softmaxExpGivesTheScalarBitsAndSums() {
        int width = 4 * VectorMath.lanes();
        Random rnd = new Random(3);
        float[] row = new float[width], shift = new float[width];
        for (int l = 0; l < width; l++) {
            row[l] = (float) rnd.nextGaussian() * 10f;
            shift[l] = (float) rnd.nextGaussian() * 10f;
        }
        // underflow to 0 on the vector path (first vector), and a NaN and an overflow that send their vectors to the scalar code
        row[1] = -200f;
        row[VectorMath.lanes() + 2] = Float.NaN;
        shift[2 * VectorMath.lanes()] = Float.NEGATIVE_INFINITY;
        row[3 * VectorMath.lanes() + 1] = 95f;
        shift[3 * VectorMath.lanes() + 1] = 0f;
        float[] sum = new float[width], expectedSum = new float[width], expected = new float[width];
        for (int l = 0; l < width; l++) {
            sum[l] = l * 0.25f;
            expected[l] = FastMath.exp(row[l] - shift[l]);
            expectedSum[l] = sum[l] + expected[l];
        }
        float[] noSum = row.clone();
        VectorMath.expShifted(row, shift, sum, width);
        VectorMath.expShifted(noSum, shift, null, width);
        for (int l = 0; l < width; l++) {
            assertEquals(Float.floatToIntBits(expected[l]), Float.floatToIntBits(row[l]), "lane " + l);
            assertEquals(Float.floatToIntBits(expected[l]), Float.floatToIntBits(noSum[l]), "lane " + l);
            assertEquals(Float.floatToIntBits(expectedSum[l]), Float.floatToIntBits(sum[l]), "lane " + l);
        }
        assertEquals(0f, row[1]);
    }

    /** Rows of the GEMM attention path: N = 65 (four vectors and a tail at 16 lanes), 17, 5 and offsets. */
    @Test
    void softmaxRowsGiveTheScalarExpBitsAndAFixedOrderSum() {
        Random rnd = new Random(21);
        for (int n : new int[] {65, 17, 5, 1}) {
            float[] a = new float[3 + n];
            for (int j = 0; j < a.length; j++) {
                a[j] = (float) rnd.nextGaussian() * 4f;
            }
            a[3 + n / 2] = -200f;                                    // underflows to 0
            float max = VectorMath.max(a, 3, n);
            float scalarMax = Float.NEGATIVE_INFINITY;
            double exactSum = 0;
            float[] expected = new float[n];
            for (int j = 0; j < n; j++) {
                scalarMax = Math.max(scalarMax, a[3 + j]);
            }
            assertEquals(scalarMax, max, "max at n = " + n);
            for (int j = 0; j < n; j++) {
                expected[j] = FastMath.exp(a[3 + j] - max);
                exactSum += expected[j];
            }
            float sum = VectorMath.expShiftedSum(a, 3, n, max);
            for (int j = 0; j < n; j++) {
                assertEquals(Float.floatToIntBits(expected[j]), Float.floatToIntBits(a[3 + j]), "exp at n = " + n + ", j = " + j);
            }
            assertEquals(exactSum, sum, 1e-6 * exactSum, "sum at n = " + n);
        }
        float[] nan = {1f, Float.NaN, 2f};
        assertTrue(Float.isNaN(VectorMath.max(nan, 0, 3)));
    }

    @Test
    void softmaxGradientAndScaleGiveTheScalarBits() {
        Random rnd = new Random(22);
        int n = 65, off = 2;
        float[] p = new float[off + n], ds = new float[off + n], expected = new float[off + n];
        for (int j = 0; j < off + n; j++) {
            p[j] = rnd.nextFloat();
            ds[j] = (float) rnd.nextGaussian();
        }
        float rowDot = 0.37f, scale = 0.17677669f;
        for (int j = off; j < off + n; j++) {
            expected[j] = p[j] * (ds[j] - rowDot) * scale;
        }
        VectorMath.softmaxGradient(p, ds, off, n, rowDot, scale);
        for (int j = off; j < off + n; j++) {
            assertEquals(Float.floatToIntBits(expected[j]), Float.floatToIntBits(ds[j]), "dS at " + j);
        }
        for (int j = off; j < off + n; j++) {
            expected[j] = ds[j] * 0.3f;
        }
        VectorMath.scale(ds, off, n, 0.3f);
        for (int j = off; j < off + n; j++) {
            assertEquals(Float.floatToIntBits(expected[j]), Float.floatToIntBits(ds[j]), "scaled at " + j);
        }
    }

    /** The bias gradient: row counts not a multiple of 4, column ranges not a multiple of the lanes, the scalar loop's bits. */
    @Test
    void columnSumsGiveTheScalarLoopsBits() {
        Random rnd = new Random(23);
        for (int[] c : new int[][] {{1539, 1536, 0, 1536}, {1539, 1536, 7, 770}, {6, 50, 3, 47}, {3, 40, 0, 40}}) {
            int stride = c[1], rows = c[0], from = c[2], to = c[3];
            float[] y = new float[rows * stride];
            for (int i = 0; i < y.length; i++) {
                y[i] = (float) rnd.nextGaussian() * (1 + i % 7);
            }
            float[] sum = new float[stride], expected = new float[stride];
            for (int j = 0; j < stride; j++) {
                sum[j] = expected[j] = rnd.nextFloat();
            }
            for (int r = 0; r < rows; r++) {
                for (int j = from; j < to; j++) {
                    expected[j] += y[r * stride + j];
                }
            }
            VectorMath.columnSums(y, stride, rows, sum, from, to);
            for (int j = 0; j < stride; j++) {
                assertEquals(Float.floatToIntBits(expected[j]), Float.floatToIntBits(sum[j]),
                        "column " + j + " of " + rows + " x " + stride + " [" + from + ", " + to + ")");
            }
        }
    }
}
