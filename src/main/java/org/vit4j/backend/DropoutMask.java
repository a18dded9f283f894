package org.vit4j.backend;

/**
 * The dropout mask as a pure function of (seed, element index): a SplitMix64 hash, the same
 * 64-bit integer arithmetic in Java and in {@code kernels/elementwise.cu}, so backward
 * regenerates the mask instead of storing it and every backend draws the same one.
 */
public final class DropoutMask {
    private DropoutMask() {
    }

    /** Uniform in [0, 1) with 24 random bits. */
    public static float uniform(long seed, long index) {
        long z = seed + (index + 1) * 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z ^= z >>> 31;
        return (z >>> 40) * 0x1.0p-24f;
    }

    /** Whether element {@code index} survives dropout with probability {@code p} of being dropped. */
    public static boolean keep(long seed, long index, float p) {
        return uniform(seed, index) >= p;
    }
}
