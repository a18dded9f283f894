package org.vit4j.backend.cpu;

/**
 * Float transcendental functions written as straight-line arithmetic, so the JIT can inline and
 * vectorise the loops that call them ({@link Math#exp} is a call into a double-precision stub).
 * Accurate to a couple of float ulps: the reference backend stays a float32 reference.
 */
final class FastMath {
    static final float LOG2E = 1.44269504088896341f;
    // ln 2 split in two so n * LN2_HI is exact for the n that occur (Cody-Waite reduction).
    static final float LN2_HI = 0.693359375f;
    static final float LN2_LO = -2.12194440e-4f;
    /** Largest x whose 2^n scale factor is a normal float in one step (n <= 127). */
    static final float EXP_FAST_MAX = 88.0f;
    static final float EXP_MIN = -87.3365447504019f;

    /**
     * Whether the {@code jdk.incubator.vector} module was given ({@code --add-modules}); without it
     * {@link VectorMath} cannot link and the scalar loops run instead.
     */
    static final boolean VECTOR_API = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent()
            && !"false".equals(System.getProperty("vit4j.vectorApi"));

    private FastMath() {
    }

    /** e^x for float x, relative error below 1e-7 (Cephes {@code expf}'s minimax polynomial). */
    static float exp(float x) {
        if (!(x >= EXP_MIN && x <= EXP_FAST_MAX)) {
            // Rare: underflow to 0, the top of the range where 2^n needs two steps, overflow, NaN.
            return x < EXP_MIN ? 0f : (float) Math.exp(x);
        }
        // n = round(x / ln 2), by truncation of a positive number (x >= EXP_MIN keeps it positive).
        int ni = (int) (x * LOG2E + 128.5f) - 128;
        float n = ni;
        float r = x - n * LN2_HI - n * LN2_LO;
        float p = 1.9875691500e-4f;
        p = p * r + 1.3981999507e-3f;
        p = p * r + 8.3334519073e-3f;
        p = p * r + 4.1665795894e-2f;
        p = p * r + 1.6666665459e-1f;
        p = p * r + 5.0000001201e-1f;
        float y = p * r * r + r + 1f;
        return y * Float.intBitsToFloat((ni + 127) << 23);
    }
}
