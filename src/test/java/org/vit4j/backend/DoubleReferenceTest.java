package org.vit4j.backend;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Sanity checks of the test-side double references themselves (no backend involved). */
class DoubleReferenceTest {

    @Test
    void erfMatchesKnownValues() {
        // Values from Abramowitz & Stegun / high-precision tables.
        double[][] table = {
                {0.0, 0.0},
                {0.1, 0.1124629160182849},
                {0.5, 0.5204998778130465},
                {1.0, 0.8427007929497149},
                {1.5, 0.9661051464753108},
                {2.0, 0.9953222650189527},
                {3.0, 0.9999779095030014},
                {4.0, 0.9999999845827421},
                {5.9, 0.9999999999999999},
        };
        for (double[] row : table) {
            assertEquals(row[1], DoubleReference.erf(row[0]), 4e-16, "erf(" + row[0] + ")");
            assertEquals(-row[1], DoubleReference.erf(-row[0]), 4e-16, "erf(-" + row[0] + ")");
        }
        assertEquals(1.0, DoubleReference.erf(7.0));
        assertEquals(-1.0, DoubleReference.erf(-30.0));
        // erfc(3) = 2.209049699858544e-05: 1 - erf keeps ~11 significant digits there.
        assertEquals(2.209049699858544e-05, 1 - DoubleReference.erf(3.0), 1e-15);
    }

    @Test
    void geluKnownValues() {
        assertEquals(0.0, DoubleReference.gelu(0.0));
        assertEquals(0.8413447460685429, DoubleReference.gelu(1.0), 1e-15); // Phi(1)
        assertEquals(-0.15865525393145707, DoubleReference.gelu(-1.0), 1e-15);
        assertEquals(1.9544997361036416, DoubleReference.gelu(2.0), 1e-15);
    }

    @Test
    void layerNormNormalizes() {
        Random rnd = new Random(1);
        int rows = 3, c = 8;
        double[] x = new double[rows * c];
        for (int i = 0; i < x.length; i++) {
            x[i] = 5 + 2 * rnd.nextGaussian();
        }
        double[] ones = new double[c];
        java.util.Arrays.fill(ones, 1);
        DoubleReference.LayerNorm ln = DoubleReference.layerNorm(x, ones, new double[c], 0, rows, c);
        for (int r = 0; r < rows; r++) {
            double s = 0, s2 = 0;
            for (int j = 0; j < c; j++) {
                s += ln.y()[r * c + j];
                s2 += ln.y()[r * c + j] * ln.y()[r * c + j];
            }
            assertEquals(0, s / c, 1e-14);
            assertEquals(1, s2 / c, 1e-12);
        }
    }

    @Test
    void attentionWithOneTokenReturnsValues() {
        // N = 1: softmax is 1, so out = V and lse = the single score.
        double[] qkv = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}; // B=1, N=1, D=4, heads=2
        DoubleReference.Attention a = DoubleReference.attention(qkv, 1, 1, 4, 2);
        assertEquals(9, a.out()[0], 0);
        assertEquals(12, a.out()[3], 0);
        assertEquals((1 * 5 + 2 * 6) / Math.sqrt(2), a.lse()[0], 1e-12);
        assertEquals((3 * 7 + 4 * 8) / Math.sqrt(2), a.lse()[1], 1e-12);
    }

    @Test
    void crossEntropySmoothing() {
        double[] z = {1, 2, 3};
        double lse = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3));
        assertEquals(lse - 2, DoubleReference.crossEntropy(z, new int[]{1}, 0, 1, 3)[0], 1e-14);
        // smoothing 0.3: 0.7 * (lse - z_y) + 0.1 * sum_c (lse - z_c)
        double expected = 0.7 * (lse - 2) + 0.1 * (3 * lse - 6);
        assertEquals(expected, DoubleReference.crossEntropy(z, new int[]{1}, 0.3, 1, 3)[0], 1e-14);
    }

    @Test
    void patchifyLayout() {
        // 1 image, 2 channels, 2x4 pixels, patch 2: two patches side by side.
        double[] img = new double[16];
        for (int i = 0; i < 16; i++) {
            img[i] = i; // index = (c*2 + y)*4 + x
        }
        double[] p = DoubleReference.patchify(img, 1, 2, 2, 4, 2);
        double[] expected = {
                0, 1, 4, 5, 8, 9, 12, 13,   // patch (0,0): c0 rows 0-1 cols 0-1, then c1
                2, 3, 6, 7, 10, 11, 14, 15}; // patch (0,1)
        for (int i = 0; i < 16; i++) {
            assertEquals(expected[i], p[i], 0, "patch feature " + i);
        }
    }

    @Test
    void finiteDifferenceIsAccurate() {
        double[][] in = {{0.3, -1.7, 2.2}};
        GradCheck.Objective f = v -> Math.sin(v[0][0]) * v[0][1] + Math.exp(v[0][2]);
        double[] g = GradCheck.finiteDifference(f, in, 0, new int[]{0, 1, 2});
        assertEquals(Math.cos(0.3) * -1.7, g[0], 1e-9);
        assertEquals(Math.sin(0.3), g[1], 1e-9);
        assertEquals(Math.exp(2.2), g[2], 1e-8);
        assertTrue(GradCheck.relErr(new double[]{1, Double.NaN}, new double[]{1, 2}) == Double.POSITIVE_INFINITY);
    }
}
