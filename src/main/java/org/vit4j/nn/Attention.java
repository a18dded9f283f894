package org.vit4j.nn;

import org.vit4j.backend.Backend;
import org.vit4j.tensor.Tensor;

/**
 * Multi-head self-attention: {@code proj(softmax(Q K^T / sqrt(dim/heads)) V)} with Q, K, V
 * from one packed {@code qkv} Linear (timm's layout). The fused backend op never materialises
 * the N x N matrix; it saves the log-sum-exp per query for backward.
 */
public final class Attention extends Module {
    private final int heads;
    private final Linear qkv;
    private final Linear proj;
    private final Dropout drop;
    private Tensor packed;
    private Tensor out;
    private Tensor lse;

    public Attention(Backend backend, int dim, int heads, float dropout, DropoutSeeds seeds) {
        super(backend);
        if (dim % heads != 0) {
            throw new IllegalArgumentException("dim " + dim + " is not divisible by heads " + heads);
        }
        this.heads = heads;
        this.qkv = child("qkv", new Linear(backend, dim, 3 * dim, true));
        this.proj = child("proj", new Linear(backend, dim, dim, true));
        this.drop = child("drop", new Dropout(backend, dropout, seeds));
    }

    /** x: [B, N, dim] -> [B, N, dim]. */
    public Tensor forward(Tensor x) {
        int b = x.shape().dim(0), n = x.shape().dim(1), dim = x.shape().dim(2);
        packed = qkv.forward(x);                       // [B, N, 3*dim]: Q | K | V, each heads x (dim/heads)
        out = acts.get("out", b, n, dim);              // heads concatenated
        lse = acts.get("lse", b, heads, n);
        backend.attentionForward(packed, heads, out, lse);
        return drop.forward(proj.forward(out));
    }

    public Tensor backward(Tensor dy) {
        Tensor dout = proj.backward(drop.backward(dy), true);
        Tensor dqkv = acts.get("dqkv", packed.shape());
        backend.attentionBackward(dout, packed, out, lse, heads, dqkv);
        return qkv.backward(dqkv, true);
    }
}
