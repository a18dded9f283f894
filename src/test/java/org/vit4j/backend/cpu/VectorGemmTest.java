package org.vit4j.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** {@link VectorGemm} against a double-precision reference: every transposition, edge sizes, offsets, alpha, beta. */
class VectorGemmTest {
    private static final int[] SIZES = {1, 3, 17, 33, 65, 100, 129};

    @BeforeAll
    static void vectorApi() {
        assumeTrue(FastMath.VECTOR_API, "needs --add-modules jdk.incubator.vector");
    }

    /** Checks one call; returns nothing, fails with the case in the message. */
    private static void check(boolean ta, boolean tb, int m, int n, int k, float alpha, float beta,
                              int pad, long seed) {
        Random r = new Random(seed);
        // Leading dimensions larger than the width, and non-zero offsets.
        int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
        int aOff = 3 * pad + 1, bOff = 5 * pad + 2, cOff = 7 * pad + 3;
        int aRows = ta ? k : m, bRows = tb ? n : k;
        float[] a = new float[aOff + aRows * lda + pad];
        float[] b = new float[bOff + bRows * ldb + pad];
        float[] c = new float[cOff + m * ldc + pad];
        fill(r, a);
        fill(r, b);
        if (beta == 0f) {
            java.util.Arrays.fill(c, Float.NaN);
        } else {
            fill(r, c);
        }
        float[] c0 = c.clone();
        VectorGemm.sgemm(ta, tb, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
        double maxErr = 0, maxRef = 0;
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double sum = 0, abs = 0;
                for (int p = 0; p < k; p++) {
                    double x = ta ? a[aOff + p * lda + i] : a[aOff + i * lda + p];
                    double y = tb ? b[bOff + j * ldb + p] : b[bOff + p * ldb + j];
                    sum += x * y;
                    abs += Math.abs(x * y);
                }
                double ref = alpha * sum + (beta == 0f ? 0 : beta * (double) c0[cOff + i * ldc + j]);
                double scale = Math.abs(alpha) * abs + (beta == 0f ? 0 : Math.abs(beta * (double) c0[cOff + i * ldc + j]));
                double got = c[cOff + i * ldc + j];
                maxErr = Math.max(maxErr, Math.abs(got - ref) / Math.max(scale, 1e-30));
                maxRef = Math.max(maxRef, Math.abs(ref));
            }
        }
        String what = String.format("ta=%b tb=%b m=%d n=%d k=%d alpha=%s beta=%s pad=%d", ta, tb, m, n, k, alpha, beta, pad);
        assertTrue(maxErr <= 1e-6 * Math.sqrt(Math.max(k, 1)) + 1e-6, what + ": relative error " + maxErr);
        // Everything outside C's m x n window is untouched.
        for (int idx = 0; idx < c.length; idx++) {
            int rel = idx - cOff;
            boolean inside = rel >= 0 && rel / ldc < m && rel % ldc < n;
            if (!inside) {
                assertEquals(Float.floatToRawIntBits(c0[idx]), Float.floatToRawIntBits(c[idx]), what + ": wrote outside C at " + idx);
            }
        }
    }

    private static void fill(Random r, float[] x) {
        for (int i = 0; i < x.length; i++) {
            float v = r.nextFloat() * 2f - 1f;
            x[i] = v + (v >= 0 ? 0.01f : -0.01f);    // non-zero
        }
    }

    @Test
    void allTranspositionsAndEdgeSizes() {
        long seed = 1;
        for (boolean ta : new boolean[] {false, true}) {
            for (boolean tb : new boolean[] {false, true}) {
                for (int m : SIZES) {
                    for (int n : SIZES) {
                        for (int k : SIZES) {
                            check(ta, tb, m, n, k, 1f, 0f, 0, seed++);
                        }
                    }
                }
            }
        }
    }

    @Test
    void alphaBetaOffsetsLeadingDimensions() {
        long seed = 100;
        float[][] ab = {{1f, 1f}, {0.75f, 0f}, {-1.5f, 1f}, {2f, 0.5f}};
        for (boolean ta : new boolean[] {false, true}) {
            for (boolean tb : new boolean[] {false, true}) {
                for (float[] x : ab) {
                    for (int[] s : new int[][] {{1, 1, 1}, {17, 33, 65}, {65, 65, 32}, {65, 32, 65}, {100, 129, 3}, {7, 40, 300}}) {
                        check(ta, tb, s[0], s[1], s[2], x[0], x[1], 5, seed++);
                        check(ta, tb, s[0], s[1], s[2], x[0], x[1], 19, seed++);
                    }
                }
            }
        }
    }

    @Test
    void blockBoundaries() {
        // Several KC blocks (odd last block), several MC and NC blocks, the attention and linear cases.
        long seed = 1000;
        int kc = VectorGemm.KC, mc = VectorGemm.MC, nc = VectorGemm.NC;
        check(false, true, mc + 5, 3 * 16 + 1, 2 * kc + 1, 1f, 0f, 0, seed++);
        check(false, false, 2 * mc + 1, 70, kc + 3, 1f, 1f, 3, seed++);
        check(true, false, 40, 50, 3 * kc - 1, 1f, 1f, 0, seed++);
        check(true, false, 13, nc + 17, 300, 1f, 0f, 2, seed++);
        check(false, true, 65, 65, 32, 0.17677669f, 0f, 0, seed++);
        check(false, false, 65, 32, 65, 1f, 0f, 0, seed++);
        check(true, false, 65, 32, 65, 1f, 0f, 0, seed++);
        check(false, true, 17, 17, 8, 0.35355339f, 0f, 0, seed++);
        check(true, false, 17, 8, 17, 1f, 0f, 0, seed++);
    }

    @Test
    void zeroDepthScalesC() {
        float[] c = {1f, 2f, 3f, 4f};
        VectorGemm.sgemm(false, false, 2, 2, 0, 1f, new float[0], 0, 1, new float[0], 0, 2, 0.5f, c, 0, 2);
        assertEquals(1.5f, c[2]);
        float[] d = {Float.NaN, Float.NaN};
        VectorGemm.sgemm(false, false, 1, 2, 0, 1f, new float[0], 0, 1, new float[0], 0, 2, 0f, d, 0, 2);
        assertEquals(0f, d[0]);
        assertEquals(0f, d[1]);
    }

    @Test
    void deterministic() {
        Random r = new Random(7);
        int m = 129, n = 100, k = 700;
        float[] a = new float[m * k], b = new float[k * n];
        fill(r, a);
        fill(r, b);
        float[] c1 = new float[m * n], c2 = new float[m * n];
        VectorGemm.sgemm(false, false, m, n, k, 1f, a, 0, k, b, 0, n, 0f, c1, 0, n);
        VectorGemm.sgemm(false, false, m, n, k, 1f, a, 0, k, b, 0, n, 0f, c2, 0, n);
        assertTrue(java.util.Arrays.equals(c1, c2));
    }

    @Test
    void choiceOfGemm() {
        assertTrue(CpuBackend.useJavaGemm("VectorBLAS", null));
        assertTrue(CpuBackend.useJavaGemm("JavaBLAS", null));
        assertFalse(CpuBackend.useJavaGemm("JNIBLAS", null));
        assertTrue(CpuBackend.useJavaGemm("JNIBLAS", "true"));
        assertFalse(CpuBackend.useJavaGemm("VectorBLAS", "false"));
    }
}
