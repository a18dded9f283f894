package org.vit4j.cli;

import org.vit4j.nn.ViTConfig;

/** Limits that follow from the model's shape, checked before anything is allocated. */
final class Sizes {
    /** Values one buffer (a Java array, or a tensor the CPU backend holds in one) takes at most. */
    static final long MAX_VALUES = Integer.MAX_VALUE - 8;

    private Sizes() {
    }

    /**
     * A batch of {@code batch} images must fit every activation of {@code c} in one buffer: the
     * images, the tokens at their widest (qkv or the MLP), the attention scores and the logits.
     */
    static void requireBatchFits(ViTConfig c, int batch, String option) {
        long tokens = c.tokens();
        long perImage = Math.max(Math.max((long) c.channels() * c.imageSize() * c.imageSize(),
                tokens * Math.max(3L * c.dim(), c.mlpDim())), Math.max(c.heads() * tokens * tokens, c.numClasses()));
        if (perImage > MAX_VALUES / batch) {
            throw new IllegalArgumentException(option + " " + batch + " is too large for this model: one activation"
                    + " would hold " + java.math.BigInteger.valueOf(perImage).multiply(java.math.BigInteger.valueOf(batch))
                    + " values, more than the " + MAX_VALUES + " one buffer holds (at most " + MAX_VALUES / perImage
                    + " images per batch)");
        }
    }
}
