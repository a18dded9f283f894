package org.vit4j.nn;

import org.vit4j.backend.Backend;
import org.vit4j.tensor.Tensor;

/**
 * Non-overlapping {@code patch x patch} squares, each flattened (channel, row, column) and
 * projected to {@code dim}: a strided Conv2d written as patchify + Linear. vit-pytorch's ViT
 * normalises on both sides of the projection: {@code pre_norm} over each patch's pixels,
 * {@code post_norm} over the token.
 */
public final class PatchEmbedding extends Module {
    private final int patchSize;
    private final LayerNorm preNorm;
    private final Linear proj;
    private final LayerNorm postNorm;

    /** patchify + Linear (timm's, and the 2020 tutorial's). */
    public PatchEmbedding(Backend backend, int channels, int patchSize, int dim) {
        this(backend, channels, patchSize, dim, false, LayerNorm.EPS);
    }

    /** With {@code norms}, LayerNorm(C*p*p), Linear, LayerNorm(dim), as vit-pytorch's {@code to_patch_embedding}. */
    public PatchEmbedding(Backend backend, int channels, int patchSize, int dim, boolean norms, float eps) {
        super(backend);
        this.patchSize = patchSize;
        int features = channels * patchSize * patchSize;
        this.preNorm = norms ? child("pre_norm", new LayerNorm(backend, features, eps)) : null;
        this.proj = child("proj", new Linear(backend, features, dim, true));
        this.postNorm = norms ? child("post_norm", new LayerNorm(backend, dim, eps)) : null;
    }

    /** images [B, C, H, W] -> patches [B, (H/p)*(W/p), C*p*p] -> tokens [B, (H/p)*(W/p), dim]. */
    public Tensor forward(Tensor images) {
        int b = images.shape().dim(0), c = images.shape().dim(1);
        int h = images.shape().dim(2), w = images.shape().dim(3);
        Tensor patches = acts.get("patches", b, (h / patchSize) * (w / patchSize), c * patchSize * patchSize);
        backend.patchifyForward(images, patchSize, patches);
        if (preNorm != null) {
            patches = preNorm.forward(patches);
        }
        Tensor tokens = proj.forward(patches);
        return postNorm != null ? postNorm.forward(tokens) : tokens;
    }

    /** Accumulates the parameters' gradients; the images need none. */
    public void backward(Tensor dTokens) {
        if (postNorm != null) {
            dTokens = postNorm.backward(dTokens);
        }
        Tensor dPatches = proj.backward(dTokens, preNorm != null);
        if (preNorm != null) {
            preNorm.backward(dPatches);
        }
    }
}
