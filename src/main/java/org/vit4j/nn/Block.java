package org.vit4j.nn;

import org.vit4j.backend.Backend;
import org.vit4j.tensor.Tensor;

/** A pre-norm transformer block: {@code x + attn(norm1(x))}, then {@code x + mlp(norm2(x))}. */
public final class Block extends Module {
    private final LayerNorm norm1;
    private final Attention attn;
    private final LayerNorm norm2;
    private final Mlp mlp;

    /** The block of a model of config {@code c} (its architecture decides the attention's details). */
    public Block(Backend backend, ViTConfig c, DropoutSeeds seeds) {
        super(backend);
        this.norm1 = child("norm1", new LayerNorm(backend, c.dim(), c.layerNormEps()));
        this.attn = child("attn", new Attention(backend, c.dim(), c.heads(), c.headDim(), c.attentionScale(),
                c.qkvBias(), c.attentionProjection(), c.attnDropout(), c.dropout(), seeds));
        this.norm2 = child("norm2", new LayerNorm(backend, c.dim(), c.layerNormEps()));
        this.mlp = child("mlp", new Mlp(backend, c.dim(), c.mlpDim(), c.dim(), c.dropout(), seeds));
    }

    /** x: [B, N, dim] -> [B, N, dim]. */
    public Tensor forward(Tensor x) {
        Tensor x1 = acts.get("x1", x.shape());
        backend.add(x, attn.forward(norm1.forward(x)), x1);
        Tensor x2 = acts.get("x2", x.shape());
        backend.add(x1, mlp.forward(norm2.forward(x1)), x2);
        return x2;
    }

    public Tensor backward(Tensor dx2) {
        // The residual passes dx2 straight through; the branch adds its own gradient to it.
        Tensor dx1 = norm2.backward(mlp.backward(dx2));
        backend.addInPlace(dx1, dx2);
        Tensor dx = norm1.backward(attn.backward(dx1));
        backend.addInPlace(dx, dx1);
        return dx;
    }
}
