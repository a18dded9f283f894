package org.vit4j.backend.cuda;

import org.junit.jupiter.api.Test;
import org.vit4j.backend.OpChecks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The attention launch geometry stays within what the kernel and the hardware accept, for every shape. */
class AttentionLaunchTest {

    @Test
    void geometryIsValidForEveryShape() {
        for (int n : new int[] {1, 2, 5, 17, 64, 65, 197, 257, 1000}) {
            for (int hd = 1; hd <= 128; hd++) {
                for (int heads : new int[] {1, 3, 8}) {
                    for (int b : new int[] {1, 3, 128}) {
                        OpChecks.AttentionDims d = new OpChecks.AttentionDims(b, n, hd * heads, hd);
                        AttentionLaunch f = AttentionLaunch.forward(d, heads);
                        AttentionLaunch g = AttentionLaunch.backward(d, heads);
                        String at = "B=" + b + " N=" + n + " heads=" + heads + " hd=" + hd + ": " + f;
                        assertTrue(f.blockX() >= 32 && f.blockX() <= 256 && f.blockX() % 32 == 0, at);
                        assertTrue(f.sharedBytes() > 0 && f.sharedBytes() <= 32 * 1024, at);
                        assertTrue(f.gridX() >= 1 && f.gridY() >= 1 && f.gridZ() == 1, at);
                        // a block holds at most 256 rows, so the grid must hold every row of every pair
                        assertTrue((long) f.gridX() * f.gridY() * 256 >= (long) b * heads * n, at);
                        assertEquals(f.gridX(), g.gridX(), at);
                        assertEquals(f.gridY(), g.gridY(), at);
                        assertEquals(2, g.gridZ(), at);
                        assertEquals(f.blockX(), g.blockX(), at);
                        assertEquals(f.sharedBytes(), g.sharedBytes(), at);
                    }
                }
            }
        }
    }

    @Test
    void theMnistShapePacksFifteenPairsPerBlock() {
        // N = 17 tokens, head dim 8: 15 (image, head) pairs of 17 rows fill 255 of 256 threads.
        AttentionLaunch f = AttentionLaunch.forward(new OpChecks.AttentionDims(100, 17, 64, 8), 8);
        assertEquals(256, f.blockX());
        assertEquals((100 * 8 + 14) / 15, f.gridX());
        assertEquals(1, f.gridY());
    }
}
