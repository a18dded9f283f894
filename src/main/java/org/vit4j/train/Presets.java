package org.vit4j.train;

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
     */
    public record Preset(String name, String dataset, int patchSize, int dim, int depth, int heads, int mlpDim,
                         float dropout, String pool, String head, int epochs, int batchSize, float lr,
                         float weightDecay, int warmup, String schedule) {
    }

    /**
     * The public MNIST ViT tutorial this project follows: patch 7, dim 64, depth 6, heads 8,
     * mlp 128, MLP head, no dropout, Adam at lr 0.003, batch 100, 25 epochs.
     */
    public static final Preset MNIST_TUTORIAL = new Preset("mnist-tutorial", "mnist", 7, 64, 6, 8, 128, 0f,
            "cls", "mlp", 25, 100, 0.003f, 0f, 0, "constant");

    private static final Map<String, Preset> ALL = Map.of(MNIST_TUTORIAL.name(), MNIST_TUTORIAL);

    private Presets() {
    }

    public static Preset get(String name) {
        Preset p = ALL.get(name.toLowerCase(Locale.ROOT));
        if (p == null) {
            throw new IllegalArgumentException("unknown model preset '" + name + "'; known: " + String.join(", ", ALL.keySet()));
        }
        return p;
    }
}
