package org.vit4j.bench;

import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * Seeded random host data for benchmark inputs, generated in parallel in fixed chunks (each chunk
 * its own stream split from the seed by its index), so the values depend only on the seed and
 * the length, not on the thread count.
 */
public final class HostRandom {
    private static final int CHUNK = 1 << 20;

    private HostRandom() {
    }

    /** {@code n} standard-normal floats. */
    public static float[] normal(int n, long seed) {
        float[] out = new float[n];
        int chunks = (n + CHUNK - 1) / CHUNK;
        IntStream.range(0, chunks).parallel().forEach(c -> {
            SplittableRandom r = new SplittableRandom(mix(seed, c));
            int end = Math.min(n, (c + 1) * CHUNK);
            for (int i = c * CHUNK; i < end; i++) {
                out[i] = (float) r.nextGaussian();
            }
        });
        return out;
    }

    /** {@code n} integers uniform in {@code [0, bound)}. */
    public static int[] labels(int n, int bound, long seed) {
        SplittableRandom r = new SplittableRandom(mix(seed, -1));
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = r.nextInt(bound);
        }
        return out;
    }

    private static long mix(long seed, long index) {
        long z = seed * 0x9E3779B97F4A7C15L + index;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
