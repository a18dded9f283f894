package org.vit4j.backend;

import org.vit4j.tensor.DType;
import org.vit4j.tensor.Shape;
import org.vit4j.tensor.Tensor;

/**
 * The op set a Vision Transformer needs for training, each op a forward/backward pair.
 *
 * <p>Conventions (as in llm.c):
 * <ul>
 *   <li>Every op writes into output tensors the caller allocated; nothing allocates per step.</li>
 *   <li>Activations are row-major; a tensor of shape {@code [..., C]} is read as a matrix of
 *       {@code shape.rows()} rows of {@code C} values.</li>
 *   <li>Backward passes <em>write</em> activation gradients and <em>add</em> into parameter
 *       gradients; {@link #adamwStep} zeroes the gradient it consumed.</li>
 *   <li>Shape mismatches throw {@link IllegalArgumentException} naming the op and the shapes.</li>
 * </ul>
 * Implementations: {@code backend.cpu.CpuBackend} (the reference) and the CUDA backend.
 */
public interface Backend extends AutoCloseable {

    /** Short name for logs and metrics: {@code "cpu"} or {@code "cuda"}. */
    String name();

    /** A human-readable description of the device and its settings. */
    String description();

    // ----------------------------------------------------------------- memory

    /** A new zero-filled tensor that owns its storage. */
    Tensor allocate(DType dtype, Shape shape);

    default Tensor allocate(int... dims) {
        return allocate(DType.F32, Shape.of(dims));
    }

    void upload(float[] src, int srcOffset, Tensor dst);

    default void upload(float[] src, Tensor dst) {
        upload(src, 0, dst);
    }

    void upload(int[] src, int srcOffset, Tensor dst);

    default void upload(int[] src, Tensor dst) {
        upload(src, 0, dst);
    }

    void download(Tensor src, float[] dst, int dstOffset);

    default void download(Tensor src, float[] dst) {
        download(src, dst, 0);
    }

    default float[] toArray(Tensor src) {
        float[] out = new float[Math.toIntExact(src.numel())];
        download(src, out, 0);
        return out;
    }

    void download(Tensor src, int[] dst, int dstOffset);

    void fill(Tensor t, float value);

    void copy(Tensor src, Tensor dst);

    /** Waits until every op issued so far has finished (a no-op on the CPU). */
    void synchronize();

    // ----------------------------------------------------------------- linear layers

    /** {@code y[M,out] = x[M,in] * weight[out,in]^T + bias[out]}; {@code bias} may be null. */
    void linearForward(Tensor x, Tensor weight, Tensor bias, Tensor y);

    /**
     * Writes {@code dx = dy * weight} (skipped when {@code dx} is null), adds
     * {@code dy^T * x} into {@code dWeight} and the column sums of {@code dy} into {@code dBias}
     * (skipped when null).
     */
    void linearBackward(Tensor dy, Tensor x, Tensor weight, Tensor dx, Tensor dWeight, Tensor dBias);

    // ----------------------------------------------------------------- normalisation and activations

    /** LayerNorm over the last dimension; saves {@code mean[M]} and {@code rstd[M]} for backward. */
    void layerNormForward(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor y, Tensor mean, Tensor rstd);

    void layerNormBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd,
                           Tensor dx, Tensor dGamma, Tensor dBeta);

    /** Exact GELU, {@code 0.5 x (1 + erf(x / sqrt 2))}, PyTorch's default form. */
    void geluForward(Tensor x, Tensor y);

    void geluBackward(Tensor dy, Tensor x, Tensor dx);

    // ----------------------------------------------------------------- attention

    /**
     * Multi-head self-attention {@code softmax(scale * Q K^T) V} from the packed projection
     * {@code qkv[B,N,3*D]} (columns: Q, then K, then V, each split into {@code heads} groups of
     * {@code D/heads}, the layout of timm's {@code qkv} Linear). {@code D} is the attention's
     * width, which need not be the model's (vit-pytorch's {@code heads * dim_head}). Writes
     * {@code out[B,N,D]} (heads concatenated) and saves the log-sum-exp of the scaled scores
     * {@code lse[B,heads,N]} for backward. {@code scale} must be positive and finite:
     * {@code 1/sqrt(D/heads)} in timm and vit-pytorch, {@code 1/sqrt(dim)} in the 2020 tutorial ViT.
     *
     * <p>With {@code dropout} > 0 the attention weights are dropped as vit-pytorch does
     * ({@code attn = dropout(softmax(...))}): weight {@code (b, h, i, j)} is kept with probability
     * {@code 1 - dropout} and scaled by {@code 1/(1 - dropout)}, by the {@link DropoutMask} of
     * {@code (seed, ((b * heads + h) * N + i) * N + j)}; {@code lse} is of the undropped scores, and
     * backward regenerates the mask from the same {@code seed}.
     */
    void attentionForward(Tensor qkv, int heads, float scale, float dropout, long seed, Tensor out, Tensor lse);

    /**
     * Writes {@code dqkv[B,N,3*D]}, recomputing the probabilities from {@code lse}; {@code scale},
     * {@code dropout} and {@code seed} as in forward.
     */
    void attentionBackward(Tensor dout, Tensor qkv, Tensor out, Tensor lse, int heads, float scale, float dropout,
                           long seed, Tensor dqkv);

    /** {@link #attentionForward(Tensor, int, float, float, long, Tensor, Tensor)} without dropout. */
    default void attentionForward(Tensor qkv, int heads, float scale, Tensor out, Tensor lse) {
        attentionForward(qkv, heads, scale, 0f, 0L, out, lse);
    }

    /** {@link #attentionBackward(Tensor, Tensor, Tensor, Tensor, int, float, float, long, Tensor)} without dropout. */
    default void attentionBackward(Tensor dout, Tensor qkv, Tensor out, Tensor lse, int heads, float scale, Tensor dqkv) {
        attentionBackward(dout, qkv, out, lse, heads, scale, 0f, 0L, dqkv);
    }

    /** {@link #attentionForward(Tensor, int, float, Tensor, Tensor)} with the usual scale {@code 1/sqrt(D/heads)}. */
    default void attentionForward(Tensor qkv, int heads, Tensor out, Tensor lse) {
        attentionForward(qkv, heads, OpChecks.headScale(qkv, heads), out, lse);
    }

    /** {@link #attentionBackward(Tensor, Tensor, Tensor, Tensor, int, float, Tensor)} with scale {@code 1/sqrt(D/heads)}. */
    default void attentionBackward(Tensor dout, Tensor qkv, Tensor out, Tensor lse, int heads, Tensor dqkv) {
        attentionBackward(dout, qkv, out, lse, heads, OpChecks.headScale(qkv, heads), dqkv);
    }

    // ----------------------------------------------------------------- loss

    /**
     * Per-example softmax cross-entropy {@code losses[B]} of {@code logits[B,C]} against integer
     * {@code labels[B]}, with PyTorch's label smoothing: the target puts {@code 1 - smoothing}
     * on the label and {@code smoothing / C} on every class.
     */
    void crossEntropyForward(Tensor logits, Tensor labels, float smoothing, Tensor losses);

    /** Writes {@code dlogits = scale * (softmax(logits) - target)}; {@code scale} is 1/B for a mean loss. */
    void crossEntropyBackward(Tensor logits, Tensor labels, float smoothing, float scale, Tensor dlogits);

    // ----------------------------------------------------------------- ViT embedding and pooling

    /**
     * Cuts {@code images[B,C,H,W]} into non-overlapping {@code patch x patch} squares:
     * {@code patches[B, (H/patch)*(W/patch), C*patch*patch]}, patches in row-major grid order,
     * features ordered (channel, row, column) so the projection matches a strided Conv2d's weight.
     */
    void patchifyForward(Tensor images, int patch, Tensor patches);

    void patchifyBackward(Tensor dPatches, int patch, Tensor dImages);

    /**
     * Prepends the class token (and DeiT's distillation token) and adds the position embedding:
     * {@code patchTokens[B,P,D]}, {@code cls[D]} or null, {@code dist[D]} or null, {@code pos[P+T,D]}
     * -> {@code out[B,P+T,D]}, with T = 1 prefix token, 2 when {@code dist} is given, 0 when
     * {@code cls} is null (a model without a class token, as vit-pytorch's mean-pooling ViT):
     * {@code out[b,0] = cls + pos[0]}, {@code out[b,1] = dist + pos[1]} and
     * {@code out[b,T+i] = patchTokens[b,i] + pos[T+i]}.
     */
    void tokensForward(Tensor patchTokens, Tensor cls, Tensor dist, Tensor pos, Tensor out);

    /**
     * Writes {@code dPatchTokens}, adds into {@code dCls} and {@code dDist} (null when there is
     * none) and {@code dPos}.
     */
    void tokensBackward(Tensor dOut, Tensor dPatchTokens, Tensor dCls, Tensor dDist, Tensor dPos);

    /** {@link #tokensForward(Tensor, Tensor, Tensor, Tensor, Tensor)} with the class token only. */
    default void tokensForward(Tensor patchTokens, Tensor cls, Tensor pos, Tensor out) {
        tokensForward(patchTokens, cls, null, pos, out);
    }

    default void tokensBackward(Tensor dOut, Tensor dPatchTokens, Tensor dCls, Tensor dPos) {
        tokensBackward(dOut, dPatchTokens, dCls, null, dPos);
    }

    /** {@code out[b] = x[b, token]}: one token of each image of {@code x[B,N,D]}. */
    void tokenForward(Tensor x, int token, Tensor out);

    /** Writes {@code dx}: {@code dOut} at {@code token}, zero elsewhere. */
    void tokenBackward(Tensor dOut, int token, Tensor dx);

    /** {@code out[b] = x[b, 0]}: the class token of {@code x[B,N,D]}. */
    default void classTokenForward(Tensor x, Tensor out) {
        tokenForward(x, 0, out);
    }

    /** Writes {@code dx}: {@code dOut} at token 0, zero elsewhere. */
    default void classTokenBackward(Tensor dOut, Tensor dx) {
        tokenBackward(dOut, 0, dx);
    }

    /** {@code out[b] = mean over n >= first of x[b, n]} (timm's average pool skips the class token). */
    void meanPoolForward(Tensor x, int first, Tensor out);

    void meanPoolBackward(Tensor dOut, int first, Tensor dx);

    // ----------------------------------------------------------------- elementwise

    /** {@code out = a + b} (a residual connection). {@code out} may alias {@code a} or {@code b}. */
    void add(Tensor a, Tensor b, Tensor out);

    /** {@code acc += x}: a gradient meeting another at a residual branch. */
    default void addInPlace(Tensor acc, Tensor x) {
        add(acc, x, acc);
    }

    /**
     * Inverted dropout: keeps each element with probability {@code 1 - p}, scaled by
     * {@code 1/(1-p)}. The mask is a pure function of {@code (seed, index)}, so backward
     * regenerates it instead of storing it, and every backend draws the same mask.
     */
    void dropoutForward(Tensor x, float p, long seed, Tensor y);

    void dropoutBackward(Tensor dy, float p, long seed, Tensor dx);

    // ----------------------------------------------------------------- optimizer

    /**
     * One AdamW step (PyTorch's {@code torch.optim.AdamW}; Adam when {@code weightDecay == 0}) on
     * {@code param} with moments {@code m} and {@code v}; {@code step} counts from 1. Zeroes
     * {@code grad} afterwards.
     */
    void adamwStep(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2,
                   float eps, float weightDecay, int step);

    /** Sum of squared elements, accumulated in double (for gradient-norm clipping). */
    double sumOfSquares(Tensor t);

    /** {@code t *= factor}. */
    void scale(Tensor t, float factor);

    @Override
    void close();
}
