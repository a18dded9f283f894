package org.vit4j.nn;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

import java.util.Locale;

/**
 * A Vision Transformer's shape, in vit-pytorch's vocabulary.
 *
 * @param imageSize  side of the square input image in pixels
 * @param patchSize  side of each square patch; must divide {@code imageSize}
 * @param channels   input channels (1 grey, 3 RGB)
 * @param numClasses output classes
 * @param dim        token width
 * @param depth      number of transformer blocks
 * @param heads      attention heads; must divide {@code dim}
 * @param mlpDim     hidden width of each block's MLP (and of the MLP head)
 * @param dropout    dropout probability after the embedding, attention projection and MLP layers
 * @param pool       {@code cls}: classify the class token; {@code mean}: the mean of the patch tokens
 * @param head       {@code linear}: LayerNorm then Linear; {@code mlp}: Linear, GELU, Linear
 * @param distilled  DeiT's distillation token and second head (Touvron et al., 2021): a token
 *                   after the class token whose output a {@code head_dist} Linear reads; trained
 *                   against a teacher's predictions, and averaged with the class head at inference.
 *                   Needs {@code pool = cls} and {@code head = linear}, as in DeiT.
 */
public record ViTConfig(int imageSize, int patchSize, int channels, int numClasses, int dim, int depth,
                        int heads, int mlpDim, float dropout, Pool pool, Head head, boolean distilled) {

    public enum Pool {
        CLS, MEAN;

        @JsonValue
        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }

        @JsonCreator
        public static Pool parse(String s) {
            return parseEnum(Pool.class, "pool", s);
        }
    }

    public enum Head {
        LINEAR, MLP;

        @JsonValue
        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }

        @JsonCreator
        public static Head parse(String s) {
            return parseEnum(Head.class, "head", s);
        }
    }

    private static <E extends Enum<E>> E parseEnum(Class<E> type, String what, String s) {
        for (E e : type.getEnumConstants()) {
            if (e.name().equalsIgnoreCase(s)) {
                return e;
            }
        }
        throw new IllegalArgumentException(what + " must be one of "
                + java.util.Arrays.toString(type.getEnumConstants()) + ", got '" + s + "'");
    }

    public ViTConfig {
        positive("imageSize", imageSize);
        positive("patchSize", patchSize);
        positive("channels", channels);
        positive("numClasses", numClasses);
        positive("dim", dim);
        positive("depth", depth);
        positive("heads", heads);
        positive("mlpDim", mlpDim);
        if (imageSize % patchSize != 0) {
            throw new IllegalArgumentException("patch size " + patchSize + " does not divide the image size "
                    + imageSize + " (patches must tile the image)");
        }
        long side = imageSize / patchSize;
        if (side * side + 2 > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("image size " + imageSize + " with patch size " + patchSize + " makes "
                    + side * side + " patches, more than a model can hold");
        }
        if (dim % heads != 0) {
            throw new IllegalArgumentException("dim " + dim + " is not divisible by heads " + heads);
        }
        if (!(dropout >= 0f && dropout < 1f)) {
            throw new IllegalArgumentException("dropout must be in [0, 1), got " + dropout);
        }
        if (pool == null || head == null) {
            throw new IllegalArgumentException("pool and head must be given");
        }
        if (distilled && (pool != Pool.CLS || head != Head.LINEAR)) {
            throw new IllegalArgumentException("a distilled (DeiT) model needs pool=cls and head=linear, got pool="
                    + pool + ", head=" + head);
        }
    }

    /** A model without a distillation token. */
    public ViTConfig(int imageSize, int patchSize, int channels, int numClasses, int dim, int depth,
                     int heads, int mlpDim, float dropout, Pool pool, Head head) {
        this(imageSize, patchSize, channels, numClasses, dim, depth, heads, mlpDim, dropout, pool, head, false);
    }

    /** This shape with {@code numClasses} outputs. */
    public ViTConfig withNumClasses(int numClasses) {
        return new ViTConfig(imageSize, patchSize, channels, numClasses, dim, depth, heads, mlpDim, dropout, pool, head,
                distilled);
    }

    /** This shape with or without DeiT's distillation token and head. */
    public ViTConfig withDistilled(boolean distilled) {
        return new ViTConfig(imageSize, patchSize, channels, numClasses, dim, depth, heads, mlpDim, dropout, pool, head,
                distilled);
    }

    private static void positive(String name, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException(name + " must be positive, got " + value);
        }
    }

    public int numPatches() {
        int side = imageSize / patchSize;
        return side * side;
    }

    /** Tokens before the patches: the class token, and the distillation token when distilled. */
    public int prefixTokens() {
        return distilled ? 2 : 1;
    }

    /** Tokens per image: the patches plus the prefix tokens. */
    public int tokens() {
        return numPatches() + prefixTokens();
    }

    public int headDim() {
        return dim / heads;
    }

    /** The public MNIST ViT tutorial's model: patch 7, dim 64, depth 6, heads 8, mlp 128, MLP head. */
    public static ViTConfig mnistTutorial() {
        return new ViTConfig(28, 7, 1, 10, 64, 6, 8, 128, 0f, Pool.CLS, Head.MLP);
    }
}
