package org.vit4j.train;

import org.vit4j.data.Dataset;
import org.vit4j.data.Normalization;
import org.vit4j.nn.ViTConfig;
import org.vit4j.nn.VitPytorchWeights;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/** Named recipes: a model shape and the training options that go with it. */
public final class Presets {

    /**
     * @param name      preset name for {@code --model}
     * @param dataset   the data set the recipe was written for
     * @param patchSize patch side in pixels
     * @param dim       token width
     * @param depth     transformer blocks
     * @param heads     attention heads
     * @param mlpDim    MLP hidden width
     * @param dropout   dropout probability
     * @param pool      {@code cls} or {@code mean}
     * @param head      {@code mlp} or {@code linear}
     * @param epochs    training epochs
     * @param batchSize training batch size
     * @param lr        peak learning rate
     * @param weightDecay AdamW weight decay (0: Adam)
     * @param warmup    warmup epochs
     * @param schedule  {@code constant} or {@code cosine}
     * @param labelSmoothing label smoothing of the training loss
     * @param arch      the architecture family ({@link ViTConfig.Arch}'s names)
     * @param dimHead   attention head width; 0: {@code dim / heads} (vit-pytorch: its default 64)
     * @param embDropout dropout after the position embedding; null: {@code dropout}, as timm's single rate
     * @param imageSize side the images are resized to for training and evaluation; 0: the data's own
     * @param normalization per-channel statistics the images are normalised with; null: the data set's
     * @param augment   random crop and flip; null: on for colour data
     */
    public record Preset(String name, String dataset, int patchSize, int dim, int depth, int heads, int mlpDim,
                         float dropout, String pool, String head, int epochs, int batchSize, float lr,
                         float weightDecay, int warmup, String schedule, float labelSmoothing, String arch, int dimHead,
                         Float embDropout, int imageSize, Normalization normalization, Boolean augment) {

        /** A timm-style recipe on the data's own images. */
        public Preset(String name, String dataset, int patchSize, int dim, int depth, int heads, int mlpDim,
                      float dropout, String pool, String head, int epochs, int batchSize, float lr,
                      float weightDecay, int warmup, String schedule, float labelSmoothing) {
            this(name, dataset, patchSize, dim, depth, heads, mlpDim, dropout, pool, head, epochs, batchSize, lr,
                    weightDecay, warmup, schedule, labelSmoothing, "timm", 0, null, 0, null, null);
        }

        /** A timm-style recipe without label smoothing. */
        public Preset(String name, String dataset, int patchSize, int dim, int depth, int heads, int mlpDim,
                      float dropout, String pool, String head, int epochs, int batchSize, float lr,
                      float weightDecay, int warmup, String schedule) {
            this(name, dataset, patchSize, dim, depth, heads, mlpDim, dropout, pool, head, epochs, batchSize, lr,
                    weightDecay, warmup, schedule, 0f);
        }

        /** The head width of this preset's model with {@code dim} and {@code heads} (which options may override). */
        public int dimHead(int dim, int heads, ViTConfig.Arch arch) {
            if (dimHead > 0 && arch == ViTConfig.Arch.parse(this.arch)) {
                return dimHead;
            }
            return arch == ViTConfig.Arch.VIT_PYTORCH ? VitPytorchWeights.DEFAULT_DIM_HEAD : Math.max(1, dim / Math.max(1, heads));
        }

        /**
         * This preset's model for {@code data}: its channels and classes, and its image size unless the
         * preset resizes the images.
         */
        public ViTConfig config(Dataset data) {
            return config(imageSize > 0 ? imageSize : data.height(), data.channels(), data.numClasses());
        }

        /** This preset's model on images of {@code imageSize} with {@code channels} and {@code classes}. */
        public ViTConfig config(int imageSize, int channels, int classes) {
            ViTConfig.Arch a = ViTConfig.Arch.parse(arch);
            return new ViTConfig(imageSize, patchSize, channels, classes, dim, depth, heads, mlpDim, dropout,
                    ViTConfig.Pool.parse(pool), ViTConfig.Head.parse(head), false, a, dimHead(dim, heads, a),
                    embDropout != null ? embDropout : dropout);
        }
    }

    /**
     * The public MNIST ViT tutorial, model and recipe: the 2020 tutorial ViT (vit-pytorch's first
     * version, which those tutorials print: no qkv bias, scores scaled by dim^-0.5, PyTorch's
     * initialisation, an MLP head on the class token, log-softmax + NLL) at patch 7, dim 64, depth
     * 6, heads 8, mlp 128, no dropout; Adam at lr 0.003, batch 100, 25 epochs.
     */
    public static final Preset MNIST_TUTORIAL = new Preset("mnist-tutorial", "mnist", 7, 64, 6, 8, 128, 0f,
            "cls", "mlp", 25, 100, 0.003f, 0f, 0, "constant", 0f, "tutorial-2020", 0, 0f, 0, null, null);

    /**
     * The tutorial's shape and recipe on a timm-style ViT (qkv bias, scale head_dim^-0.5,
     * truncated normal 0.02 initialisation, LayerNorm eps 1e-6): vit4j's {@code mnist-tutorial}
     * before it became the tutorial's own model.
     */
    public static final Preset MNIST_TIMM = new Preset("mnist-timm", "mnist", 7, 64, 6, 8, 128, 0f,
            "cls", "mlp", 25, 100, 0.003f, 0f, 0, "constant");

    /**
     * The tutorial's {@code ViT(image_size=28, patch_size=7, num_classes=10, dim=64, depth=6,
     * heads=8, mlp_dim=128, channels=1)} call on vit-pytorch's ViT as published today, with its
     * defaults ({@code dim_head} 64, so attention is 512 wide; pool cls; no dropout), and the
     * tutorial's recipe.
     */
    public static final Preset MNIST_VIT_PYTORCH = new Preset("mnist-vit-pytorch", "mnist", 7, 64, 6, 8, 128, 0f,
            "cls", "linear", 25, 100, 0.003f, 0f, 0, "constant", 0f, "vit-pytorch", VitPytorchWeights.DEFAULT_DIM_HEAD,
            0f, 0, null, null);

    /**
     * A small ViT for CIFAR-10 trained from scratch, after the public recipe of
     * <a href="https://github.com/omihub777/ViT-CIFAR">omihub777/ViT-CIFAR</a> (its README reports
     * about 91% test accuracy, 6.3M parameters): 4x4 patches of the 32x32x3 images (8x8 = 64
     * patches + the class token), dim 384, depth 7, 12 heads (of 32), MLP 384, no dropout, class
     * token pooled through LayerNorm + Linear; batch 128, 200 epochs, peak lr 1e-3 after 5 warmup
     * epochs then cosine, weight decay 5e-5, label smoothing 0.1.
     *
     * <p>Differences from that recipe: it trains with Adam and L2 weight decay 5e-5 (coupled),
     * vit4j with AdamW's decoupled decay at the same coefficient on weight matrices only; its
     * cosine ends at 1e-5, vit4j's at 0; and it adds AutoAugment, where vit4j augments with random
     * crops (4 px padding) and horizontal flips only, so expect a few points less accuracy.
     */
    public static final Preset CIFAR10_VIT = new Preset("cifar10-vit", "cifar10", 4, 384, 7, 12, 384, 0f,
            "cls", "linear", 200, 128, 1e-3f, 5e-5f, 5, "cosine", 0.1f);

    /** {@code Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))}: pixels to [-1, 1]. */
    public static final Normalization HALF = new Normalization(new float[] {0.5f, 0.5f, 0.5f},
            new float[] {0.5f, 0.5f, 0.5f});

    /**
     * ViT-Base/16 on CIFAR-10 as the CIFAR-10 notebook trains it: each 32 x 32 image resized to
     * 224 x 224 (torchvision's {@code Resize(224)}: bilinear, as Pillow does it) and normalised with
     * {@code Normalize(0.5, 0.5, 0.5)}, no other augmentation; a timm-style ViT-B/16 (dim 768,
     * depth 12, heads 12, MLP 3072, 14 x 14 patches + the class token), dropout 0.1 after the
     * attention projection and in the MLP, embedding dropout 0.1, no attention-weight dropout,
     * LayerNorm and a Linear head on the class token. The optimiser settings (Adam, lr 1e-4 after
     * one warmup epoch then cosine, batch 64, 10 epochs) are vit4j's choice, not the notebook's.
     * About 86M parameters and 17.6 GFLOPs per image forward: a GPU model.
     */
    public static final Preset VIT_BASE_PATCH16_224 = new Preset("vit-base-patch16-224", "cifar10", 16, 768, 12, 12,
            3072, 0.1f, "cls", "linear", 10, 64, 1e-4f, 0f, 1, "cosine", 0f, "timm", 0, 0.1f, 224, HALF, false);

    private static final Map<String, Preset> ALL = new LinkedHashMap<>();

    static {
        ALL.put(MNIST_TUTORIAL.name(), MNIST_TUTORIAL);
        ALL.put(MNIST_TIMM.name(), MNIST_TIMM);
        ALL.put(MNIST_VIT_PYTORCH.name(), MNIST_VIT_PYTORCH);
        ALL.put(CIFAR10_VIT.name(), CIFAR10_VIT);
        ALL.put(VIT_BASE_PATCH16_224.name(), VIT_BASE_PATCH16_224);
    }

    private Presets() {
    }

    public static Preset get(String name) {
        Preset p = ALL.get(name.toLowerCase(Locale.ROOT));
        if (p == null) {
            throw new IllegalArgumentException("unknown model preset '" + name + "'; known: " + String.join(", ", ALL.keySet()));
        }
        return p;
    }

    /** Every preset name, in the order they are listed. */
    public static java.util.List<String> names() {
        return java.util.List.copyOf(ALL.keySet());
    }
}
