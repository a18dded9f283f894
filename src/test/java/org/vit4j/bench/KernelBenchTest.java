package org.vit4j.bench;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What the kernel runner does on the host: layouts for the unfused baseline, the comparison, settings. */
class KernelBenchTest {

    @Test
    void headMajorPicksEachHeadsColumns() {
        // B=1, N=2, H=2, hd=2, packed width 3D = 12: token t holds q (4), k (4), v (4)
        int b = 1, n = 2, h = 2, hd = 2, width = 12;
        float[] qkv = new float[b * n * width];
        for (int i = 0; i < qkv.length; i++) {
            qkv[i] = i;
        }
        // K (offset D = 4): token 0 -> 4 5 | 6 7, token 1 -> 16 17 | 18 19; head-major [h][t][e]
        assertArrayEquals(new float[] {4, 5, 16, 17, 6, 7, 18, 19}, KernelBench.headMajor(qkv, b, n, h, hd, width, 4));
        float[] q = KernelBench.headMajor(qkv, b, n, h, hd, width, 0);
        assertArrayEquals(new float[] {0, 1, 12, 13, 2, 3, 14, 15}, q);
        // and back to [B, N, H*hd]
        assertArrayEquals(new float[] {0, 1, 2, 3, 12, 13, 14, 15}, KernelBench.fromHeadMajor(q, b, n, h, hd));
    }

    @Test
    void headMajorRoundTripsForSeveralImages() {
        int b = 3, n = 5, h = 4, hd = 3, d = h * hd;
        float[] x = HostRandom.normal(b * n * d, 1);
        float[] back = KernelBench.fromHeadMajor(KernelBench.headMajor(x, b, n, h, hd, d, 0), b, n, h, hd);
        assertArrayEquals(x, back);
        float[] packed = new float[b * n * 3 * d];
        KernelBench.scatterHeadMajor(KernelBench.headMajor(x, b, n, h, hd, d, 0), packed, b, n, h, hd, 3 * d, 2 * d);
        for (int r = 0; r < b * n; r++) {
            for (int j = 0; j < d; j++) {
                assertEquals(x[r * d + j], packed[r * 3 * d + 2 * d + j]);
                assertEquals(0f, packed[r * 3 * d + j]);
            }
        }
    }

    @Test
    void compareReportsAgreementOrDifference() {
        float[] a = {1, -2, 4};
        assertTrue(KernelBench.compare("out", a, new float[] {1, -2, 4.00001f}, false).contains("matches"));
        String differs = KernelBench.compare("out", a, new float[] {1, -2, 5}, false);
        assertTrue(differs.contains("DIFFERS") && differs.contains("2.5e-01"), differs);
        // TF32 GEMMs round to 10-bit mantissas: a looser tolerance
        assertTrue(KernelBench.compare("out", a, new float[] {1, -2, 4.02f}, true).contains("matches"));
    }

    @Test
    void settingsCheckTheirValues() {
        KernelBench.Settings d = KernelBench.Settings.defaults();
        assertEquals(50, d.runs());
        assertEquals(1L << 30, d.copyBytes());
        assertEquals(8192, d.gemmSize());
        assertEquals(List.of("mnist-tutorial", "cifar10-vit", "cifar10-vit-tiny", "vit-tiny-224", "vit-base-224",
                KernelBench.LARGE), d.shapes());
        Pattern all = Pattern.compile("");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new KernelBench.Settings(1, 1, 0, false, List.of("vit-huge"), all, true, 1, 1));
        assertTrue(e.getMessage().contains("unknown shape 'vit-huge'") && e.getMessage().contains("vit-tiny-224"));
        assertThrows(IllegalArgumentException.class,
                () -> new KernelBench.Settings(1, 0, 0, false, List.of(), all, true, 1, 1));
    }

    @Test
    void largeShapesAre64MElements() {
        assertEquals(1L << 26, (long) KernelBench.LARGE_ROWS * KernelBench.LARGE_COLS);
    }
}
