package org.vit4j.nn;

import org.vit4j.backend.DoubleReference;
import org.vit4j.backend.DropoutMask;

import java.util.Map;
import java.util.function.ToLongFunction;

/**
 * The whole Vision Transformer and its mean cross-entropy loss in double precision, as a plain
 * function of a {@code name -> double[]} parameter map (names as in
 * {@link Module#namedParameters()}), built by composing the independent op references of
 * {@code org.vit4j.backend.DoubleReference}. It shares no code with the float model: only the
 * architecture as documented in {@link VisionTransformer}, {@link Block}, {@link Attention},
 * {@link Mlp}, {@link LayerNorm}, {@link PatchEmbedding} and {@link ViTConfig.Arch}, whose
 * per-family details (widths, scales, biases, epsilon, norms) it derives itself from the config's
 * plain fields:
 * <pre>
 *   patches = patchify(images), LayerNorm'd first in vit-pytorch
 *   tokens  = [cls + pos[0]; patches W_pe^T + b_pe + pos[1..]]  (vit-pytorch: the projection then
 *             LayerNorm'd; no class token when it mean-pools)                 then pos_drop
 *   block:  x1 = x  + drop(proj(attn(qkv(LN1(x)))))   attn: heads x dimHead wide, scores scaled by
 *                                                     dimHead^-0.5 (tutorial-2020: dim^-0.5); qkv
 *                                                     bias in timm only; vit-pytorch has no proj for
 *                                                     one head as wide as the model
 *                                                     (vit-pytorch drops attention weights too, with
 *                                                     the seed of blocks.i.attn.attn_drop)
 *           x2 = x1 + drop2(fc2(drop1(gelu(fc1(LN2(x1))))))
 *   vit-pytorch: x = LN(x) on every token
 *   pool:   x[:, 0] (cls), or the mean of x[:, 1..N-1] (timm) or of every token (vit-pytorch)
 *   head:   linear: head(LN(pooled)) (vit-pytorch: head(pooled));  mlp: head.fc2(gelu(head.fc1(pooled)))
 *   loss:   mean over the batch of the label-smoothed cross-entropy
 * </pre>
 * LayerNorm epsilon is 1e-6 in timm, 1e-5 (PyTorch's default) otherwise.
 * Distilled (DeiT): tokens = [cls + pos[0]; dist + pos[1]; patches + pos[2..]], then
 * {@code n = LN(x)} on every token, class logits {@code head(n[:, 0])}, distillation logits
 * {@code head_dist(n[:, 1])}; the model's output is their mean, and the hard-distillation loss is
 * {@code (1 - alpha) CE_smoothed(class logits, labels) + alpha CE(distillation logits, teacher labels)}.
 * Dropout (training mode only) applies the backend contract's inverted-dropout mask
 * {@link DropoutMask#keep(long, long, float)} over the flat element index of each layer's
 * {@code [B, N, dim]} input, with the seed that layer draws; the mask does not depend on the
 * parameters, so the loss stays a smooth function of them and finite differences apply.
 * It composes the {@link DoubleReference} ops that the op tests validate.
 */
final class DoubleViT {
    private final ViTConfig c;
    private final ViTConfig.Arch arch;
    private final double eps;
    private final double dropout;
    private final double embDropout;
    private final ToLongFunction<String> dropoutSeed;

    /**
     * @param config      the architecture
     * @param dropoutSeed null for evaluation mode (dropout off); in training mode, the seed the
     *                    dropout layer at a module path ({@code pos_drop}, {@code blocks.0.attn.drop},
     *                    {@code blocks.0.mlp.drop1}, ...) uses for the coming forward
     */
    DoubleViT(ViTConfig config, ToLongFunction<String> dropoutSeed) {
        this.c = config;
        this.arch = config.arch();
        this.eps = arch == ViTConfig.Arch.TIMM ? 1e-6f : 1e-5f;    // the float epsilon the model uses, widened
        this.dropout = config.dropout();
        this.embDropout = config.embDropout();
        this.dropoutSeed = dropoutSeed;
    }

    /** images [B, C, H, W] -> logits [B, numClasses] (a distilled model: the mean of its two heads). */
    double[] logits(Map<String, double[]> p, double[] images, int batch) {
        double[][] heads = headLogits(p, images, batch);
        if (heads.length == 1) {
            return heads[0];
        }
        double[] mean = new double[heads[0].length];
        for (int i = 0; i < mean.length; i++) {
            mean[i] = (heads[0][i] + heads[1][i]) / 2;
        }
        return mean;
    }

    /** The class head's logits, and for a distilled model the distillation head's. */
    double[][] headLogits(Map<String, double[]> p, double[] images, int batch) {
        boolean vitPytorch = arch == ViTConfig.Arch.VIT_PYTORCH;
        int d = c.dim(), np = c.numPatches(), m = c.mlpDim(), heads = c.heads();
        boolean cls = !(vitPytorch && c.pool() == ViTConfig.Pool.MEAN);
        int prefix = cls ? (c.distilled() ? 2 : 1) : 0;
        int n = np + prefix, rows = batch * n;
        int dimHead = vitPytorch ? c.dimHead() : d / heads, inner = heads * dimHead;
        double scale = 1.0 / Math.sqrt(arch == ViTConfig.Arch.TUTORIAL_2020 ? d : dimHead);
        boolean projection = !vitPytorch || !(heads == 1 && dimHead == d);
        int feat = c.channels() * c.patchSize() * c.patchSize();
        double[] patches = DoubleReference.patchify(images, batch, c.channels(), c.imageSize(), c.imageSize(),
                c.patchSize());
        if (vitPytorch) {
            patches = layerNorm(patches, p, "patch_embed.pre_norm", batch * np, feat);
        }
        double[] pt = linear(patches, p, "patch_embed.proj", batch * np, feat, d);
        if (vitPytorch) {
            pt = layerNorm(pt, p, "patch_embed.post_norm", batch * np, d);
        }
        double[] x = DoubleReference.tokens(pt, cls ? require(p, "cls_token") : null,
                c.distilled() ? require(p, "dist_token") : null, p.get("pos_embed"), batch, np, d);
        x = drop("pos_drop", x, embDropout);
        for (int i = 0; i < c.depth(); i++) {
            String b = "blocks." + i + ".";
            double[] qkv = linear(layerNorm(x, p, b + "norm1", rows, d), p, b + "attn.qkv", rows, d, 3 * inner);
            // vit-pytorch drops attention weights with its dropout rate too
            boolean attnDrop = vitPytorch && dropout > 0 && dropoutSeed != null;
            double[] a = DoubleReference.attention(qkv, batch, n, inner, heads, scale, attnDrop ? (float) dropout : 0f,
                    attnDrop ? dropoutSeed.applyAsLong(b + "attn.attn_drop") : 0L).out();
            double[] x1 = add(x, projection ? drop(b + "attn.drop", linear(a, p, b + "attn.proj", rows, inner, d), dropout)
                    : a);
            double[] h = gelu(linear(layerNorm(x1, p, b + "norm2", rows, d), p, b + "mlp.fc1", rows, d, m));
            double[] f = drop(b + "mlp.drop2", linear(drop(b + "mlp.drop1", h, dropout), p, b + "mlp.fc2", rows, m, d),
                    dropout);
            x = add(x1, f);
        }
        if (c.distilled()) {
            double[] normed = layerNorm(x, p, "norm", rows, d);
            return new double[][] {
                    linear(DoubleReference.token(normed, batch, n, d, 0), p, "head", batch, d, c.numClasses()),
                    linear(DoubleReference.token(normed, batch, n, d, 1), p, "head_dist", batch, d, c.numClasses())};
        }
        if (vitPytorch) {
            x = layerNorm(x, p, "norm", rows, d);
        }
        double[] pooled = c.pool() == ViTConfig.Pool.CLS
                ? DoubleReference.classToken(x, batch, n, d)
                : DoubleReference.meanPool(x, batch, n, d, prefix);
        if (c.head() == ViTConfig.Head.LINEAR) {
            double[] z = vitPytorch ? pooled : layerNorm(pooled, p, "norm", batch, d);
            return new double[][] {linear(z, p, "head", batch, d, c.numClasses())};
        }
        // The MLP head is built with dropout 0: no dropout there even in training mode.
        double[] h = gelu(linear(pooled, p, "head.fc1", batch, d, m));
        return new double[][] {linear(h, p, "head.fc2", batch, m, c.numClasses())};
    }

    /** DeiT's hard-distillation loss of a distilled model (see the class comment). */
    double distillationLoss(Map<String, double[]> p, double[] images, int[] labels, int[] teacherLabels,
                            double smoothing, double alpha) {
        int batch = labels.length;
        double[][] heads = headLogits(p, images, batch);
        double[] cls = DoubleReference.crossEntropy(heads[0], labels, smoothing, batch, c.numClasses());
        double[] dist = DoubleReference.crossEntropy(heads[1], teacherLabels, 0, batch, c.numClasses());
        double s = 0;
        for (int b = 0; b < batch; b++) {
            s += (1 - alpha) * cls[b] + alpha * dist[b];
        }
        return s / batch;
    }

    /** Mean over the batch of the per-example label-smoothed cross-entropy. */
    double loss(Map<String, double[]> p, double[] images, int[] labels, double smoothing) {
        int batch = labels.length;
        double[] logits = logits(p, images, batch);
        double[] losses = DoubleReference.crossEntropy(logits, labels, smoothing, batch, c.numClasses());
        double s = 0;
        for (double l : losses) {
            s += l;
        }
        return s / batch;
    }

    /** A Linear; its bias is absent only where the architecture says so (qkv outside timm). */
    private double[] linear(double[] x, Map<String, double[]> p, String name, int rows, int in, int out) {
        double[] w = require(p, name + ".weight");
        boolean bias = arch == ViTConfig.Arch.TIMM || !name.endsWith(".attn.qkv");
        double[] b = bias ? require(p, name + ".bias") : null;
        if (!bias && p.containsKey(name + ".bias")) {
            throw new IllegalArgumentException(name + " must have no bias in a " + arch + " model");
        }
        return DoubleReference.linear(x, w, b, rows, in, out);
    }

    private double[] layerNorm(double[] x, Map<String, double[]> p, String name, int rows, int dim) {
        return DoubleReference.layerNorm(x, require(p, name + ".weight"), require(p, name + ".bias"), eps,
                rows, dim).y();
    }

    private static double[] require(Map<String, double[]> p, String name) {
        double[] v = p.get(name);
        if (v == null) {
            throw new IllegalArgumentException("no parameter " + name + " (have " + p.keySet() + ")");
        }
        return v;
    }

    private static double[] gelu(double[] x) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = DoubleReference.gelu(x[i]);
        }
        return y;
    }

    private static double[] add(double[] a, double[] b) {
        double[] y = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            y[i] = a[i] + b[i];
        }
        return y;
    }

    private double[] drop(String layer, double[] x, double dropout) {
        if (dropoutSeed == null || dropout == 0) {
            return x;
        }
        long seed = dropoutSeed.applyAsLong(layer);
        float pf = (float) dropout;
        double keepScale = 1.0 / (1.0 - pf);
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = DropoutMask.keep(seed, i, pf) ? x[i] * keepScale : 0.0;
        }
        return y;
    }
}
