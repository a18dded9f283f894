package org.vit4j.nn;

import org.junit.jupiter.api.Test;
import org.vit4j.io.SafeTensors;

import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Position-embedding resampling against timm's (PyTorch's antialiased bicubic interpolation,
 * computed in float64 by {@code src/test/python/golden_pos_embed.py}).
 */
class PositionEmbeddingsTest {
    /**
     * Both sides accumulate at most 8 x 8 taps in double from the same float32 input; the only
     * differences are the final rounding to float32 on each side (2^-24 relative each). 1e-6 is
     * ~10x that, and far below the error of a wrong kernel (a = -0.75, no antialiasing, wrong
     * pixel centres: 1e-2 and more).
     */
    private static final double TOLERANCE = 1e-6;

    @Test
    void matchesTimmsResampling() throws Exception {
        Map<String, SafeTensors.Entry> t = SafeTensors.read(
                Path.of("src/test/resources/golden/pos-embed-resample.safetensors")).tensors();
        float[] pos = t.get("input.pos").floats();
        int checked = 0;
        for (Map.Entry<String, SafeTensors.Entry> e : t.entrySet()) {
            if (!e.getKey().startsWith("out.")) {
                continue;
            }
            String[] hw = e.getKey().substring(4).split("x");
            int h = Integer.parseInt(hw[0]), w = Integer.parseInt(hw[1]);
            float[] expected = e.getValue().floats();
            float[] got = PositionEmbeddings.resample(pos, 1, 4, 5, h, w, 8);
            assertEquals(expected.length, got.length, e.getKey());
            double maxErr = 0, maxRef = 0;
            for (int i = 0; i < expected.length; i++) {
                maxErr = Math.max(maxErr, Math.abs(expected[i] - got[i]));
                maxRef = Math.max(maxRef, Math.abs(expected[i]));
            }
            double rel = maxErr / maxRef;
            assertTrue(rel <= TOLERANCE, e.getKey() + ": relative error " + rel);
            checked++;
        }
        assertEquals(6, checked, "target grids in the fixture");
    }

    @Test
    void theSameGridIsTheIdentityAndTheClassTokenIsKept() {
        float[] pos = new float[(1 + 6) * 2];
        for (int i = 0; i < pos.length; i++) {
            pos[i] = (float) Math.sin(i);
        }
        assertArrayEquals(pos, PositionEmbeddings.resample(pos, 1, 2, 3, 2, 3, 2), 1e-7f);
        float[] bigger = PositionEmbeddings.resample(pos, 1, 2, 3, 4, 6, 2);
        assertEquals((1 + 24) * 2, bigger.length);
        assertEquals(pos[0], bigger[0]);
        assertEquals(pos[1], bigger[1]);
    }

    @Test
    void aWrongSizeIsAnError() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> PositionEmbeddings.resample(new float[10], 1, 2, 3, 4, 4, 2));
        assertTrue(e.getMessage().contains("[1 + 2x3, 2]"), e.getMessage());
    }
}
