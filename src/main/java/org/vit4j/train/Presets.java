package org.vit4j.train;

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
     */
    public record Preset(String name, String dataset, int patchSize, int dim, int depth, int heads, int mlpDim,
                         float dropout, String pool, String head, int epochs, int batchSize, float lr,
                         float weightDecay, int warmup, String schedule, float labelSmoothing) {

        /** A recipe without label smoothing. */
        public Preset(String name, String dataset, int patchSize, int dim, int depth, int heads, int mlpDim,
                      float dropout, String pool, String head, int epochs, int batchSize, float lr,
                      float weightDecay, int warmup, String schedule) {
            this(name, dataset, patchSize, dim, depth, heads, mlpDim, dropout, pool, head, epochs, batchSize, lr,
                    weightDecay, warmup, schedule, 0f);
        }
    }

    /**
     * The public MNIST ViT tutorial this project follows: patch 7, dim 64, depth 6, heads 8,
     * mlp 128, MLP head, no dropout, Adam at lr 0.003, batch 100, 25 epochs.
     */
    public static final Preset MNIST_TUTORIAL = new Preset("mnist-tutorial", "mnist", 7, 64, 6, 8, 128, 0f,
            "cls", "mlp", 25, 100, 0.003f, 0f, 0, "constant");

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

    private static final Map<String, Preset> ALL = new LinkedHashMap<>();

    static {
        ALL.put(MNIST_TUTORIAL.name(), MNIST_TUTORIAL);
        ALL.put(CIFAR10_VIT.name(), CIFAR10_VIT);
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
