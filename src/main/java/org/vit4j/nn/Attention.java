package org.vit4j.nn;

import org.vit4j.backend.Backend;
import org.vit4j.tensor.Tensor;

/**
 * Multi-head self-attention: {@code proj(softmax(scale * Q K^T) V)} with Q, K, V from one packed
 * {@code qkv} Linear (timm's layout), each {@code heads * dimHead} wide. The fused backend op
 * never materialises the N x N matrix; it saves the log-sum-exp per query for backward. With
 * attention dropout (vit-pytorch's) the op drops the softmax weights itself, with the seed of the
 * {@code attn_drop} layer.
 */
public final class Attention extends Module {
    private final int heads;
    private final float scale;
    private final Linear qkv;
    private final Linear proj;
    private final Dropout drop;
    private final Dropout attnDrop;
    private float dropNow;
    private long seedNow;
    private Tensor packed;
    private Tensor out;
    private Tensor lse;

    /** timm's: heads of {@code dim / heads}, scale {@code (dim/heads)^-0.5}, qkv bias, projection. */
    public Attention(Backend backend, int dim, int heads, float dropout, DropoutSeeds seeds) {
        this(backend, dim, heads, headWidth(dim, heads), (float) (1.0 / Math.sqrt(dim / heads)), true, true, 0f,
                dropout, seeds);
    }

    /**
     * @param dimHead    width of each head; the attention is {@code heads * dimHead} wide
     * @param scale      the factor of the scores
     * @param qkvBias    whether the qkv Linear has a bias
     * @param projection whether an output projection (and its dropout) follows; without one the
     *                   attention must be {@code dim} wide
     * @param attnDropout dropout on the attention weights (0: none)
     * @param dropout    dropout after the output projection
     */
    public Attention(Backend backend, int dim, int heads, int dimHead, float scale, boolean qkvBias, boolean projection,
                     float attnDropout, float dropout, DropoutSeeds seeds) {
        super(backend);
        int inner = heads * dimHead;
        if (!projection && inner != dim) {
            throw new IllegalArgumentException("attention without an output projection must be dim " + dim
                    + " wide, got heads " + heads + " x dimHead " + dimHead);
        }
        this.heads = heads;
        this.scale = scale;
        this.qkv = child("qkv", new Linear(backend, dim, 3 * inner, qkvBias));
        this.attnDrop = attnDropout > 0 ? child("attn_drop", new Dropout(backend, attnDropout, seeds)) : null;
        this.proj = projection ? child("proj", new Linear(backend, inner, dim, true)) : null;
        this.drop = projection ? child("drop", new Dropout(backend, dropout, seeds)) : null;
    }

    private static int headWidth(int dim, int heads) {
        if (heads < 1 || dim % heads != 0) {
            throw new IllegalArgumentException("dim " + dim + " is not divisible by heads " + heads);
        }
        return dim / heads;
    }

    /** x: [B, N, dim] -> [B, N, dim]. */
    public Tensor forward(Tensor x) {
        int b = x.shape().dim(0), n = x.shape().dim(1);
        packed = qkv.forward(x);                       // [B, N, 3*inner]: Q | K | V, each heads x dimHead
        int inner = packed.shape().dim(2) / 3;
        out = acts.get("out", b, n, inner);            // heads concatenated
        lse = acts.get("lse", b, heads, n);
        dropNow = attnDrop != null && attnDrop.isTraining() ? attnDrop.p() : 0f;
        seedNow = dropNow > 0 ? attnDrop.stepSeed() : 0L;
        backend.attentionForward(packed, heads, scale, dropNow, seedNow, out, lse);
        return proj == null ? out : drop.forward(proj.forward(out));
    }

    public Tensor backward(Tensor dy) {
        Tensor dout = proj == null ? dy : proj.backward(drop.backward(dy), true);
        Tensor dqkv = acts.get("dqkv", packed.shape());
        backend.attentionBackward(dout, packed, out, lse, heads, scale, dropNow, seedNow, dqkv);
        return qkv.backward(dqkv, true);
    }
}
