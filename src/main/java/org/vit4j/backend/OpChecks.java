package org.vit4j.backend;

import org.vit4j.tensor.DType;
import org.vit4j.tensor.Shape;
import org.vit4j.tensor.Tensor;

/**
 * The shape checks of the {@link Backend} ops, shared by every backend so that a bad call fails
 * with the same {@link IllegalArgumentException}, naming the op and the shapes, on CPU and GPU.
 */
public final class OpChecks {
    private OpChecks() {
    }

    /** Sizes of a linear layer call: {@code rows} of {@code in} features to {@code out}. */
    public record LinearDims(int rows, int in, int out) {
    }

    public static LinearDims linear(String op, Tensor x, Tensor weight, Tensor bias, Tensor y) {
        int in = x.shape().dim(-1), out = weight.shape().dim(0), rows = x.shape().rows();
        if (weight.shape().rank() != 2 || weight.shape().dim(1) != in) {
            throw new IllegalArgumentException(op + ": weight " + weight.shape()
                    + " does not match input " + x.shape() + " (expected [out, " + in + "])");
        }
        if (bias != null && (bias.shape().rank() != 1 || bias.shape().dim(0) != out)) {
            throw new IllegalArgumentException(op + ": bias " + bias.shape() + " must be [" + out + "]");
        }
        if (y.shape().dim(-1) != out || y.shape().rows() != rows) {
            throw new IllegalArgumentException(op + ": output " + y.shape() + " must have " + rows
                    + " rows of " + out + " for input " + x.shape() + " and weight " + weight.shape());
        }
        return new LinearDims(rows, in, out);
    }

    /** LayerNorm over the last dimension of {@code x}; returns the number of rows. */
    public static int layerNorm(String op, Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd) {
        int c = x.shape().dim(-1), rows = x.shape().rows();
        requireShape(op + " gamma", gamma, Shape.of(c));
        requireShape(op + " beta", beta, Shape.of(c));
        requireShape(op + " y", y, x.shape());
        requireNumel(op + " mean", mean, rows);
        requireNumel(op + " rstd", rstd, rows);
        return rows;
    }

    /** Sizes of an attention call: batch, tokens, model width and head width. */
    public record AttentionDims(int batch, int tokens, int dim, int headDim) {
    }

    /**
     * {@code 1/sqrt(D/heads)} for {@code qkv[..., 3*D]}, the usual attention scale; NaN when the
     * shape does not split into heads, so that {@link #attention(String, Tensor, int, float, float, Tensor, Tensor)}
     * reports the shape.
     */
    public static float headScale(Tensor qkv, int heads) {
        Shape s = qkv.shape();
        if (s.rank() != 3 || heads < 1 || s.dim(2) % (3 * heads) != 0 || s.dim(2) == 0) {
            return Float.NaN;
        }
        return (float) (1.0 / Math.sqrt(s.dim(2) / 3 / heads));
    }

    /**
     * As {@link #attention(String, Tensor, int, Tensor, Tensor)}; {@code scale} must be positive
     * and finite, the attention-weight {@code dropout} in [0, 1).
     */
    public static AttentionDims attention(String op, Tensor qkv, int heads, float scale, float dropout, Tensor out,
                                          Tensor lse) {
        AttentionDims d = attention(op, qkv, heads, out, lse);
        if (!(scale > 0f && scale < Float.POSITIVE_INFINITY)) {
            throw new IllegalArgumentException(op + ": the score scale must be positive and finite, got " + scale);
        }
        if (!(dropout >= 0f && dropout < 1f)) {
            throw new IllegalArgumentException(op + ": attention dropout must be in [0, 1), got " + dropout);
        }
        return d;
    }

    public static AttentionDims attention(String op, Tensor qkv, int heads, Tensor out, Tensor lse) {
        Shape s = qkv.shape();
        if (s.rank() != 3 || s.dim(2) % 3 != 0) {
            throw new IllegalArgumentException(op + ": qkv must be [B, N, 3*D], got " + s);
        }
        int b = s.dim(0), n = s.dim(1), d = s.dim(2) / 3;
        if (heads < 1 || d % heads != 0) {
            throw new IllegalArgumentException(op + ": dim " + d + " is not divisible by heads " + heads);
        }
        requireShape(op + " out", out, Shape.of(b, n, d));
        requireNumel(op + " lse", lse, (long) b * heads * n);
        return new AttentionDims(b, n, d, d / heads);
    }

    /** Softmax cross-entropy over the last dimension of {@code logits}; returns the number of rows. */
    public static int crossEntropy(String op, Tensor logits, Tensor labels) {
        int rows = logits.shape().rows();
        if (labels.dtype() != DType.I32 || labels.numel() != rows) {
            throw new IllegalArgumentException(op + ": labels must be I32 with " + rows
                    + " elements for logits " + logits.shape() + ", got " + labels);
        }
        return rows;
    }

    /** Sizes of cutting images into patches. */
    public record PatchDims(int batch, int channels, int height, int width, int patch) {
    }

    public static PatchDims patchify(String op, Tensor images, int patch, Tensor patches) {
        Shape s = images.shape();
        if (s.rank() != 4) {
            throw new IllegalArgumentException(op + ": images must be [B, C, H, W], got " + s);
        }
        int b = s.dim(0), c = s.dim(1), h = s.dim(2), w = s.dim(3);
        if (patch < 1 || h % patch != 0 || w % patch != 0) {
            throw new IllegalArgumentException(op + ": patch size " + patch
                    + " does not divide the image size " + h + "x" + w);
        }
        requireShape(op + " patches", patches, Shape.of(b, (h / patch) * (w / patch), c * patch * patch));
        return new PatchDims(b, c, h, w, patch);
    }

    /** Class token and position embedding of {@code patchTokens[B, P, D]}; returns {B, P, D}. */
    /**
     * Checks a token assembly {@code patchTokens[B,P,D]}, {@code cls[D]}, {@code dist[D]} (or null),
     * {@code pos[P+T,D]}, {@code out[B,P+T,D]}; returns {B, P, D, T}.
     */
    public static int[] tokens(String op, Tensor patchTokens, Tensor cls, Tensor dist, Tensor pos, Tensor out) {
        Shape s = patchTokens.shape();
        if (s.rank() != 3) {
            throw new IllegalArgumentException(op + ": patch tokens must be [B, P, D], got " + s);
        }
        int b = s.dim(0), p = s.dim(1), d = s.dim(2);
        if (cls == null && dist != null) {
            throw new IllegalArgumentException(op + ": a distillation token needs a class token before it");
        }
        int t = cls == null ? 0 : dist == null ? 1 : 2;
        if (cls != null) {
            requireShape(op + " cls", cls, Shape.of(d));
        }
        if (dist != null) {
            requireShape(op + " dist", dist, Shape.of(d));
        }
        requireShape(op + " pos", pos, Shape.of(p + t, d));
        requireShape(op + " out", out, Shape.of(b, p + t, d));
        return new int[] {b, p, d, t};
    }

    /** Checks taking token {@code token} of {@code tokens[B,N,D]} into {@code out[B,D]}; returns {B, N, D}. */
    public static int[] token(String op, Tensor tokens, Tensor out, int token) {
        requireRank(op + " tokens", tokens, 3);
        int b = tokens.shape().dim(0), n = tokens.shape().dim(1), d = tokens.shape().dim(2);
        if (token < 0 || token >= n) {
            throw new IllegalArgumentException(op + ": token " + token + " is not among the " + n + " tokens");
        }
        requireShape(op + " out", out, Shape.of(b, d));
        return new int[] {b, n, d};
    }

    /**
     * A pooling of {@code tokens[B, N, D]} into {@code pooled[B, D]} over tokens
     * {@code first..N-1}; returns {B, N, D}.
     */
    public static int[] pool(String op, Tensor tokens, Tensor pooled, int first) {
        requireRank(op + " tokens", tokens, 3);
        int b = tokens.shape().dim(0), n = tokens.shape().dim(1), d = tokens.shape().dim(2);
        if (first < 0 || first >= n) {
            throw new IllegalArgumentException(op + ": first token " + first + " leaves nothing to pool among " + n);
        }
        requireShape(op + " pooled", pooled, Shape.of(b, d));
        return new int[] {b, n, d};
    }

    public static void sameSize(String op, Tensor a, Tensor b) {
        if (a.numel() != b.numel()) {
            throw new IllegalArgumentException(op + ": sizes differ, " + a.shape() + " vs " + b.shape());
        }
    }

    public static void requireShape(String what, Tensor t, Shape expected) {
        if (!t.shape().equals(expected)) {
            throw new IllegalArgumentException(what + " must be " + expected + ", got " + t.shape());
        }
    }

    public static void requireRank(String what, Tensor t, int rank) {
        if (t.shape().rank() != rank) {
            throw new IllegalArgumentException(what + " must have rank " + rank + " ([B, N, D]), got " + t.shape());
        }
    }

    public static void requireNumel(String what, Tensor t, long expected) {
        if (t.numel() != expected) {
            throw new IllegalArgumentException(what + " must hold " + expected + " values, got " + t.shape());
        }
    }

    /** A dropout probability in [0, 1). */
    public static void dropoutProbability(String op, float p) {
        if (!(p >= 0f && p < 1f)) {
            throw new IllegalArgumentException(op + ": probability must be in [0, 1), got " + p);
        }
    }
}
