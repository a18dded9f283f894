package org.vit4j.nn;

import org.vit4j.backend.Backend;
import org.vit4j.tensor.Tensor;

/**
 * Non-overlapping {@code patch x patch} squares, each flattened (channel, row, column) and
 * projected to {@code dim}: a strided Conv2d written as patchify + Linear.
 */
public final class PatchEmbedding extends Module {
    private final int patchSize;
    private final Linear proj;

    public PatchEmbedding(Backend backend, int channels, int patchSize, int dim) {
        super(backend);
        this.patchSize = patchSize;
        this.proj = child("proj", new Linear(backend, channels * patchSize * patchSize, dim, true));
    }

    /** images [B, C, H, W] -> patches [B, (H/p)*(W/p), C*p*p] -> tokens [B, (H/p)*(W/p), dim]. */
    public Tensor forward(Tensor images) {
        int b = images.shape().dim(0), c = images.shape().dim(1);
        int h = images.shape().dim(2), w = images.shape().dim(3);
        Tensor patches = acts.get("patches", b, (h / patchSize) * (w / patchSize), c * patchSize * patchSize);
        backend.patchifyForward(images, patchSize, patches);
        return proj.forward(patches);
    }

    /** Accumulates the projection's gradients; the images need no gradient. */
    public void backward(Tensor dTokens) {
        proj.backward(dTokens, false);
    }
}
