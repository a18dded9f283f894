package org.vit4j.backend.cpu;

import org.vit4j.backend.DropoutMask;

/**
 * Dropout on the attention weights (vit-pytorch's {@code attn = self.dropout(attn)}): the weight
 * {@code P[b, h, i, j]} survives with probability {@code 1 - p} and is scaled by {@code 1/(1 - p)};
 * the mask is {@link DropoutMask} of {@code (seed, ((b * heads + h) * N + i) * N + j)}, so the
 * backward pass regenerates it and every backend draws the same one.
 */
final class AttentionDropout {
    private final float p;
    private final long seed;
    private final float keepScale;
    private final int heads;
    private final int n;

    AttentionDropout(float p, long seed, int heads, int tokens) {
        this.p = p;
        this.seed = seed;
        this.keepScale = 1f / (1f - p);
        this.heads = heads;
        this.n = tokens;
    }

    /** Null when {@code p} is 0: no dropout, and no mask to draw. */
    static AttentionDropout of(float p, long seed, int heads, int tokens) {
        return p == 0f ? null : new AttentionDropout(p, seed, heads, tokens);
    }

    /** {@code 1/(1-p)} where weight (b, h, i, j) is kept, else 0. */
    float factor(int b, int h, int i, int j) {
        long index = (((long) b * heads + h) * n + i) * n + j;
        return DropoutMask.keep(seed, index, p) ? keepScale : 0f;
    }
}
