package org.vit4j.nn;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonValue;

import java.util.Locale;

/**
 * A Vision Transformer's shape, in vit-pytorch's vocabulary, and the architecture family it
 * follows.
 *
 * @param imageSize  side of the square input image in pixels
 * @param patchSize  side of each square patch; must divide {@code imageSize}
 * @param channels   input channels (1 grey, 3 RGB)
 * @param numClasses output classes
 * @param dim        token width
 * @param depth      number of transformer blocks
 * @param heads      attention heads
 * @param mlpDim     hidden width of each block's MLP (and of the MLP head)
 * @param dropout    dropout probability after the attention projection and the MLP layers (vit-pytorch
 *                   also drops attention weights with it, {@link #attnDropout()})
 * @param pool       {@code cls}: classify the class token; {@code mean}: the mean of the tokens
 *                   (timm: the patch tokens; vit-pytorch, which then has no class token: all of them)
 * @param head       {@code linear}: LayerNorm then Linear; {@code mlp}: Linear, GELU, Linear
 * @param distilled  DeiT's distillation token and second head (Touvron et al., 2021): a token
 *                   after the class token whose output a {@code head_dist} Linear reads; trained
 *                   against a teacher's predictions, and averaged with the class head at inference.
 *                   Needs {@code arch = timm}, {@code pool = cls} and {@code head = linear}, as in DeiT.
 * @param arch       the family the model follows; see {@link Arch}
 * @param dimHead    width of each attention head; the attention is {@code heads * dimHead} wide.
 *                   {@code dim / heads} except in vit-pytorch, where it is free (its default 64)
 * @param embDropout dropout probability after the position embedding is added
 */
public record ViTConfig(int imageSize, int patchSize, int channels, int numClasses, int dim, int depth,
                        int heads, int mlpDim, float dropout, Pool pool, Head head, boolean distilled,
                        Arch arch, int dimHead, float embDropout) {

    /** What the head classifies: the class token ({@code cls}) or the mean of the tokens ({@code mean}). */
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

    /** The classifier: LayerNorm then Linear ({@code linear}), or Linear, GELU, Linear ({@code mlp}). */
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

    /**
     * The architecture family. The three differ in details that change what a model learns and
     * which weights it can load:
     * <pre>
     *                      timm                 vit-pytorch              tutorial-2020
     *   patch embedding    Linear               LN, Linear, LN           Linear
     *   qkv bias           yes                  no                       no
     *   head width         dim / heads          dimHead (free)           dim / heads
     *   attention scale    (dim/heads)^-0.5     dimHead^-0.5             dim^-0.5
     *   output projection  yes                  unless heads 1, dimHead = dim   yes
     *   weight dropout     no                   dropout                  no
     *   LayerNorm eps      1e-6                 1e-5                     1e-5
     *   final norm         on the pooled token  on every token, then pool none
     *   head               linear or mlp        linear                   mlp
     *   mean pool          patch tokens         all tokens (no class token) -
     *   initialisation     truncated normal 0.02, zero biases   PyTorch's defaults, cls and pos N(0, 1)
     * </pre>
     * timm is {@code timm.models.vision_transformer.VisionTransformer}; vit-pytorch is
     * lucidrains/vit-pytorch's {@code vit_pytorch.ViT} as published today; tutorial-2020 is the
     * ViT the 2020 MNIST tutorials print (vit-pytorch's first version), trained with log-softmax
     * and NLL, which is cross-entropy.
     */
    public enum Arch {
        TIMM("timm"), VIT_PYTORCH("vit-pytorch"), TUTORIAL_2020("tutorial-2020");

        private final String label;

        Arch(String label) {
            this.label = label;
        }

        @JsonValue
        @Override
        public String toString() {
            return label;
        }

        @JsonCreator
        public static Arch parse(String s) {
            for (Arch a : values()) {
                if (a.label.equalsIgnoreCase(s) || a.name().equalsIgnoreCase(s)) {
                    return a;
                }
            }
            throw new IllegalArgumentException("arch must be one of " + java.util.Arrays.toString(values())
                    + ", got '" + s + "'");
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
        positive("dimHead", dimHead);
        if (imageSize % patchSize != 0) {
            throw new IllegalArgumentException("patch size " + patchSize + " does not divide the image size "
                    + imageSize + " (patches must tile the image)");
        }
        long side = imageSize / patchSize;
        if (side * side + 2 > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("image size " + imageSize + " with patch size " + patchSize + " makes "
                    + side * side + " patches, more than a model can hold");
        }
        if (!(dropout >= 0f && dropout < 1f)) {
            throw new IllegalArgumentException("dropout must be in [0, 1), got " + dropout);
        }
        if (!(embDropout >= 0f && embDropout < 1f)) {
            throw new IllegalArgumentException("embedding dropout must be in [0, 1), got " + embDropout);
        }
        if (pool == null || head == null || arch == null) {
            throw new IllegalArgumentException("pool, head and arch must be given");
        }
        if (arch != Arch.VIT_PYTORCH) {
            if (dim % heads != 0) {
                throw new IllegalArgumentException("dim " + dim + " is not divisible by heads " + heads);
            }
            if (dimHead != dim / heads) {
                throw new IllegalArgumentException("a " + arch + " model's heads are dim / heads = " + dim / heads
                        + " wide, got dimHead " + dimHead + " (only vit-pytorch sets the head width freely)");
            }
        }
        if (distilled && (arch != Arch.TIMM || pool != Pool.CLS || head != Head.LINEAR)) {
            throw new IllegalArgumentException("a distilled (DeiT) model needs arch=timm, pool=cls and head=linear, got arch="
                    + arch + ", pool=" + pool + ", head=" + head);
        }
        if (arch == Arch.VIT_PYTORCH && head != Head.LINEAR) {
            throw new IllegalArgumentException("vit-pytorch's ViT has a final LayerNorm and a Linear head (head=linear), "
                    + "got head=" + head);
        }
        if (arch == Arch.TUTORIAL_2020 && (head != Head.MLP || pool != Pool.CLS)) {
            throw new IllegalArgumentException("the 2020 tutorial ViT classifies the class token with an MLP head "
                    + "(pool=cls, head=mlp), got pool=" + pool + ", head=" + head);
        }
    }

    /** A timm-style model: embedding dropout {@code dropout}, heads {@code dim / heads} wide. */
    public ViTConfig(int imageSize, int patchSize, int channels, int numClasses, int dim, int depth,
                     int heads, int mlpDim, float dropout, Pool pool, Head head, boolean distilled) {
        this(imageSize, patchSize, channels, numClasses, dim, depth, heads, mlpDim, dropout, pool, head, distilled,
                Arch.TIMM, headWidth(dim, heads), dropout);
    }

    /** A timm-style model without a distillation token. */
    public ViTConfig(int imageSize, int patchSize, int channels, int numClasses, int dim, int depth,
                     int heads, int mlpDim, float dropout, Pool pool, Head head) {
        this(imageSize, patchSize, channels, numClasses, dim, depth, heads, mlpDim, dropout, pool, head, false);
    }

    /** {@code dim / heads}, or a message when it is not whole (the canonical constructor says why). */
    private static int headWidth(int dim, int heads) {
        if (heads <= 0 || dim <= 0) {
            return 1;                                     // the canonical constructor names the bad value
        }
        if (dim % heads != 0) {
            throw new IllegalArgumentException("dim " + dim + " is not divisible by heads " + heads);
        }
        return dim / heads;
    }

    /**
     * Reads a config as checkpoints store it. Configs written before the architecture fields
     * existed are timm models with heads {@code dim / heads} wide and embedding dropout
     * {@code dropout}, which is what they were.
     */
    @JsonCreator
    static ViTConfig fromJson(@JsonProperty("imageSize") int imageSize, @JsonProperty("patchSize") int patchSize,
                              @JsonProperty("channels") int channels, @JsonProperty("numClasses") int numClasses,
                              @JsonProperty("dim") int dim, @JsonProperty("depth") int depth,
                              @JsonProperty("heads") int heads, @JsonProperty("mlpDim") int mlpDim,
                              @JsonProperty("dropout") float dropout, @JsonProperty("pool") Pool pool,
                              @JsonProperty("head") Head head, @JsonProperty("distilled") boolean distilled,
                              @JsonProperty("arch") Arch arch, @JsonProperty("dimHead") Integer dimHead,
                              @JsonProperty("embDropout") Float embDropout) {
        return new ViTConfig(imageSize, patchSize, channels, numClasses, dim, depth, heads, mlpDim, dropout, pool, head,
                distilled, arch == null ? Arch.TIMM : arch, dimHead == null ? headWidth(dim, heads) : dimHead,
                embDropout == null ? dropout : embDropout);
    }

    /** This shape with {@code numClasses} outputs. */
    public ViTConfig withNumClasses(int numClasses) {
        return new ViTConfig(imageSize, patchSize, channels, numClasses, dim, depth, heads, mlpDim, dropout, pool, head,
                distilled, arch, dimHead, embDropout);
    }

    /** This shape with or without DeiT's distillation token and head. */
    public ViTConfig withDistilled(boolean distilled) {
        return new ViTConfig(imageSize, patchSize, channels, numClasses, dim, depth, heads, mlpDim, dropout, pool, head,
                distilled, arch, dimHead, embDropout);
    }

    /** This model on images of another size (and input channels), the same weights apart from the position embedding. */
    public ViTConfig withInput(int imageSize, int channels) {
        return new ViTConfig(imageSize, patchSize, channels, numClasses, dim, depth, heads, mlpDim, dropout, pool, head,
                distilled, arch, dimHead, embDropout);
    }

    /** This shape with other dropout probabilities (the weights do not depend on them). */
    public ViTConfig withDropout(float dropout, float embDropout) {
        return new ViTConfig(imageSize, patchSize, channels, numClasses, dim, depth, heads, mlpDim, dropout, pool, head,
                distilled, arch, dimHead, embDropout);
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

    /**
     * Tokens before the patches: the class token, and the distillation token when distilled;
     * none in a vit-pytorch model that mean-pools (it has no class token).
     */
    public int prefixTokens() {
        if (arch == Arch.VIT_PYTORCH && pool == Pool.MEAN) {
            return 0;
        }
        return distilled ? 2 : 1;
    }

    /** Whether the model has a class token. */
    public boolean classToken() {
        return prefixTokens() > 0;
    }

    /** Tokens per image: the patches plus the prefix tokens. */
    public int tokens() {
        return numPatches() + prefixTokens();
    }

    /** Width of each attention head. */
    public int headDim() {
        return dimHead;
    }

    /** Width of the attention: Q, K and V are each {@code heads * dimHead} wide. */
    public int innerDim() {
        return heads * dimHead;
    }

    /** The factor of the attention scores {@code Q K^T}. */
    public float attentionScale() {
        return (float) (1.0 / Math.sqrt(arch == Arch.TUTORIAL_2020 ? dim : dimHead));
    }

    /** Whether the packed Q, K, V projection has a bias (timm's does). */
    public boolean qkvBias() {
        return arch == Arch.TIMM;
    }

    /** Dropout on the attention weights: vit-pytorch's {@code dropout} applies there too; timm's attention dropout is 0. */
    public float attnDropout() {
        return arch == Arch.VIT_PYTORCH ? dropout : 0f;
    }

    /** Whether attention ends in an output projection (vit-pytorch drops it for one head as wide as the model). */
    public boolean attentionProjection() {
        return arch != Arch.VIT_PYTORCH || !(heads == 1 && dimHead == dim);
    }

    /** LayerNorm epsilon: timm's 1e-6, else PyTorch's default 1e-5. */
    public float layerNormEps() {
        return arch == Arch.TIMM ? LayerNorm.EPS : LayerNorm.TORCH_EPS;
    }

    /** The public MNIST ViT tutorial's model (the 2020 tutorial ViT): patch 7, dim 64, depth 6, heads 8, mlp 128. */
    public static ViTConfig mnistTutorial() {
        return new ViTConfig(28, 7, 1, 10, 64, 6, 8, 128, 0f, Pool.CLS, Head.MLP, false, Arch.TUTORIAL_2020, 8, 0f);
    }

    /** The tutorial's shape as a timm-style ViT (vit4j's {@code mnist-tutorial} model before the 2020 one). */
    public static ViTConfig mnistTimm() {
        return new ViTConfig(28, 7, 1, 10, 64, 6, 8, 128, 0f, Pool.CLS, Head.MLP);
    }

    /**
     * A builder in vit-pytorch's vocabulary, so that a model reads as its call does:
     * {@code ViTConfig.builder().imageSize(28).patchSize(7).channels(1).numClasses(10).dim(64).depth(6)
     * .heads(8).mlpDim(128).build()}. Defaults: 3 channels, no dropout, the class token, timm's
     * architecture, its head ({@code linear}; {@code mlp} for tutorial-2020), heads {@code dim / heads}
     * wide (vit-pytorch: 64, its own default), embedding dropout equal to {@code dropout} for timm
     * and 0 otherwise, as each library does.
     */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder that starts from this config. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.imageSize = imageSize;
        b.patchSize = patchSize;
        b.channels = channels;
        b.numClasses = numClasses;
        b.dim = dim;
        b.depth = depth;
        b.heads = heads;
        b.mlpDim = mlpDim;
        b.dropout = dropout;
        b.pool = pool;
        b.head = head;
        b.distilled = distilled;
        b.arch = arch;
        b.dimHead = dimHead;
        b.embDropout = embDropout;
        return b;
    }

    /** Builds a {@link ViTConfig}; {@link #build()} checks the whole as the constructor does. */
    public static final class Builder {
        private int imageSize, patchSize, channels = 3, numClasses, dim, depth, heads, mlpDim;
        private float dropout;
        private Float embDropout;
        private Integer dimHead;
        private Pool pool = Pool.CLS;
        private Head head;
        private boolean distilled;
        private Arch arch = Arch.TIMM;

        private Builder() {
        }

        /** Side of the square input image in pixels. */
        public Builder imageSize(int imageSize) {
            this.imageSize = imageSize;
            return this;
        }

        /** Side of each square patch; must divide the image size. */
        public Builder patchSize(int patchSize) {
            this.patchSize = patchSize;
            return this;
        }

        /** Input channels (1 grey, 3 RGB; default 3). */
        public Builder channels(int channels) {
            this.channels = channels;
            return this;
        }

        /** Output classes. */
        public Builder numClasses(int numClasses) {
            this.numClasses = numClasses;
            return this;
        }

        /** Token width. */
        public Builder dim(int dim) {
            this.dim = dim;
            return this;
        }

        /** Transformer blocks. */
        public Builder depth(int depth) {
            this.depth = depth;
            return this;
        }

        /** Attention heads. */
        public Builder heads(int heads) {
            this.heads = heads;
            return this;
        }

        /** Hidden width of each block's MLP (and of an MLP head). */
        public Builder mlpDim(int mlpDim) {
            this.mlpDim = mlpDim;
            return this;
        }

        /** Width of each attention head (vit-pytorch only; the others use {@code dim / heads}). */
        public Builder dimHead(int dimHead) {
            this.dimHead = dimHead;
            return this;
        }

        /** Dropout after the attention projection and the MLP layers (default 0). */
        public Builder dropout(float dropout) {
            this.dropout = dropout;
            return this;
        }

        /** Dropout after the position embedding (default: timm's single rate, else 0). */
        public Builder embDropout(float embDropout) {
            this.embDropout = embDropout;
            return this;
        }

        /** {@code cls} or {@code mean} pooling (default {@code cls}). */
        public Builder pool(Pool pool) {
            this.pool = pool;
            return this;
        }

        /** The classifier head (default: the architecture's). */
        public Builder head(Head head) {
            this.head = head;
            return this;
        }

        /** DeiT's distillation token and second head. */
        public Builder distilled(boolean distilled) {
            this.distilled = distilled;
            return this;
        }

        /** The architecture family (default {@link Arch#TIMM}). */
        public Builder arch(Arch arch) {
            this.arch = arch;
            return this;
        }

        /** The config; {@link IllegalArgumentException} names the first value that cannot be a model's. */
        public ViTConfig build() {
            Head h = head != null ? head : arch == Arch.TUTORIAL_2020 ? Head.MLP : Head.LINEAR;
            int hd = dimHead != null ? dimHead
                    : arch == Arch.VIT_PYTORCH ? VitPytorchWeights.DEFAULT_DIM_HEAD : headWidth(dim, heads);
            float emb = embDropout != null ? embDropout : arch == Arch.TIMM ? dropout : 0f;
            return new ViTConfig(imageSize, patchSize, channels, numClasses, dim, depth, heads, mlpDim, dropout,
                    pool, h, distilled, arch, hd, emb);
        }
    }
}
