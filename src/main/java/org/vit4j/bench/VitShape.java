package org.vit4j.bench;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * A training shape the kernel runner times every op at: the activations of one ViT at one batch
 * size. The same table is mirrored in {@code benchmarks/pytorch/bench_pytorch.py} (the PyTorch
 * side times its ops at exactly these shapes); {@code VitShapeTest} checks the two agree.
 *
 * @param name      label in tables and JSON
 * @param batch     B, images per batch
 * @param imageSize S, side of the square image
 * @param patch     p, patch side (tokens N = (S/p)^2 + 1 with the class token)
 * @param channels  C of the image
 * @param dim       D, token width
 * @param heads     H (head width D/H)
 * @param mlp       M, hidden width of each block's MLP
 * @param classes   classes of the head (the cross-entropy's width)
 * @param depth     blocks (for the parameter count AdamW updates)
 * @param head      {@code mlp} (Linear, GELU, Linear) or {@code linear} (LayerNorm, Linear), as ViTConfig's
 */
public record VitShape(String name, int batch, int imageSize, int patch, int channels, int dim, int heads, int mlp,
                       int classes, int depth, String head) {

    /** The ViT shapes, small to large. */
    public static final List<VitShape> VIT = List.of(
            // the mnist-tutorial preset at its batch: 17 tokens of width 64, 8 heads of 8 (counted as timm's
            // layout, with a qkv bias: the preset's 2020 tutorial ViT has 1,152 parameters fewer)
            new VitShape("mnist-tutorial", 100, 28, 7, 1, 64, 8, 128, 10, 6, "mlp"),
            // the cifar10-vit preset (omihub777/ViT-CIFAR's recipe): 65 tokens, 12 heads of 32
            new VitShape("cifar10-vit", 128, 32, 4, 3, 384, 12, 384, 10, 7, "linear"),
            // DeiT-Tiny's widths on CIFAR-10 (the JMH benchmarks' larger shape): 65 tokens, 3 heads of 64
            new VitShape("cifar10-vit-tiny", 128, 32, 4, 3, 192, 3, 768, 10, 12, "linear"),
            // ViT-Ti/16 (DeiT-Tiny) at 224 px: 197 tokens, 3 heads of 64
            new VitShape("vit-tiny-224", 128, 224, 16, 3, 192, 3, 768, 1000, 12, "linear"),
            // ViT-B/16 at 224 px: 197 tokens, 12 heads of 64
            new VitShape("vit-base-224", 64, 224, 16, 3, 768, 12, 3072, 1000, 12, "linear"));

    /** ViT-B/16 at 384 px (577 tokens): the long-sequence attention shape of the "large" set. */
    public static final VitShape VIT_BASE_384 = new VitShape("vit-base-384", 32, 384, 16, 3, 768, 12, 3072, 1000, 12,
            "linear");

    public VitShape {
        if (batch < 1 || imageSize < 1 || patch < 1 || channels < 1 || dim < 1 || heads < 1 || mlp < 1 || classes < 1
                || depth < 1) {
            throw new IllegalArgumentException("shape " + name + ": every size must be positive");
        }
        if (imageSize % patch != 0 || dim % heads != 0) {
            throw new IllegalArgumentException("shape " + name + ": patch must divide the image, heads the dim");
        }
        if (!head.equals("mlp") && !head.equals("linear")) {
            throw new IllegalArgumentException("shape " + name + ": head must be mlp or linear, got " + head);
        }
    }

    /** A shape by name: one of {@link #VIT} or {@link #VIT_BASE_384}. */
    public static VitShape named(String name) {
        for (VitShape s : all()) {
            if (s.name.equals(name.toLowerCase(Locale.ROOT))) {
                return s;
            }
        }
        throw new IllegalArgumentException("unknown shape '" + name + "'; known: "
                + all().stream().map(VitShape::name).collect(Collectors.joining(", ")));
    }

    static List<VitShape> all() {
        return java.util.stream.Stream.concat(VIT.stream(), java.util.stream.Stream.of(VIT_BASE_384)).toList();
    }

    /** N: patches plus the class token. */
    public int tokens() {
        int side = imageSize / patch;
        return side * side + 1;
    }

    public int headDim() {
        return dim / heads;
    }

    /** R = B * N: rows of every token-wise activation. */
    public long rows() {
        return (long) batch * tokens();
    }

    /**
     * Parameters of vit4j's ViT at this shape (timm's layout: patch projection, class token,
     * position embedding, per block two LayerNorms, qkv, proj, fc1, fc2 with biases, then the
     * head), for the one flat AdamW update the runner times.
     */
    public long parameters() {
        long d = dim, m = mlp, c = classes, k = (long) channels * patch * patch;
        long block = 2 * d + (3 * d * d + 3 * d) + (d * d + d) + 2 * d + (m * d + m) + (d * m + d);
        long headParams = head.equals("mlp") ? (m * d + m) + (c * m + c) : 2 * d + c * d + c;
        return k * d + d + d + (long) tokens() * d + depth * block + headParams;
    }

    /** The dimensions as printed in tables, e.g. {@code B=128 N=65 D=384 H=12}. */
    public String label() {
        return "B=" + batch + " N=" + tokens() + " D=" + dim + " H=" + heads;
    }

    @Override
    public String toString() {
        return name + " (" + label() + ", M=" + mlp + ", " + imageSize + "x" + imageSize + "x" + channels + " patch "
                + patch + ")";
    }

    /** Names of {@link #VIT}, for help texts. */
    public static String names() {
        return Arrays.toString(VIT.stream().map(VitShape::name).toArray());
    }
}
