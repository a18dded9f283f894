package org.vit4j.bench;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HostRandomTest {

    @Test
    void normalIsSeededAndStandard() {
        int n = (1 << 21) + 17;   // crosses chunk boundaries
        float[] a = HostRandom.normal(n, 7);
        assertArrayEquals(a, HostRandom.normal(n, 7));
        assertFalse(java.util.Arrays.equals(a, HostRandom.normal(n, 8)));
        double sum = 0, sq = 0;
        for (float v : a) {
            sum += v;
            sq += v * v;
        }
        assertEquals(0, sum / n, 0.01);
        assertEquals(1, sq / n, 0.01);
        // the first chunk does not depend on the length
        float[] shorter = HostRandom.normal(1000, 7);
        for (int i = 0; i < shorter.length; i++) {
            assertEquals(a[i], shorter[i]);
        }
    }

    @Test
    void labelsAreInRange() {
        int[] y = HostRandom.labels(10_000, 10, 3);
        int[] counts = new int[10];
        for (int v : y) {
            assertTrue(v >= 0 && v < 10);
            counts[v]++;
        }
        for (int c : counts) {
            assertTrue(c > 800, "every class drawn: " + java.util.Arrays.toString(counts));
        }
    }
}
