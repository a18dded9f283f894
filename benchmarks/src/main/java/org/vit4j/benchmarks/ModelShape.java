package org.vit4j.benchmarks;

import org.vit4j.backend.cpu.CpuBackend;
import org.vit4j.nn.ViTConfig;
import org.vit4j.nn.VisionTransformer;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * The training shapes the op benchmarks run at, chosen with JMH's {@code -p shape=NAME}.
 *
 * <ul>
 *   <li>{@code mnist-tutorial}: the {@code mnist-tutorial} preset ({@link ViTConfig#mnistTutorial()}):
 *       batch 100, 28x28 images cut into 7x7 patches, so 16 patches + the class token = 17 tokens,
 *       dim 64, 8 heads, MLP 128, depth 6, 10 classes (about 215k parameters).</li>
 *   <li>{@code cifar10-vit-tiny}: a larger CIFAR-10 ViT with DeiT-Tiny's widths: batch 128,
 *       32x32x3 images cut into 4x4 patches, so 64 patches + 1 = 65 tokens, dim 192, 3 heads,
 *       MLP 768, depth 12, 10 classes (about 5.4M parameters).</li>
 * </ul>
 */
public enum ModelShape {
    MNIST_TUTORIAL("mnist-tutorial", 100, ViTConfig.mnistTutorial()),
    CIFAR10_VIT_TINY("cifar10-vit-tiny", 128,
            new ViTConfig(32, 4, 3, 10, 192, 12, 3, 768, 0f, ViTConfig.Pool.CLS, ViTConfig.Head.LINEAR));

    /** The {@code @Param} values, in the order JMH runs them. */
    public static final String TUTORIAL = "mnist-tutorial";
    public static final String CIFAR = "cifar10-vit-tiny";

    private final String label;
    private final int batch;
    private final ViTConfig config;
    private long modelParameterCount = -1;

    ModelShape(String label, int batch, ViTConfig config) {
        this.label = label;
        this.batch = batch;
        this.config = config;
    }

    public static ModelShape of(String label) {
        for (ModelShape s : values()) {
            if (s.label.equals(label)) {
                return s;
            }
        }
        throw new IllegalArgumentException("unknown shape '" + label + "'; known: "
                + Arrays.stream(values()).map(ModelShape::label).collect(Collectors.joining(", ")));
    }

    public String label() {
        return label;
    }

    public ViTConfig config() {
        return config;
    }

    /** B: images per batch. */
    public int batch() {
        return batch;
    }

    /** N: tokens per image (patches + class token). */
    public int tokens() {
        return config.tokens();
    }

    /** D: token width. */
    public int dim() {
        return config.dim();
    }

    public int heads() {
        return config.heads();
    }

    /** Hidden width of each block's MLP. */
    public int mlp() {
        return config.mlpDim();
    }

    public int classes() {
        return config.numClasses();
    }

    /** B * N: rows of every token-wise activation matrix. */
    public int rows() {
        return batch * tokens();
    }

    /**
     * The model's parameter count, by formula (timm's ViT: patch projection, class token,
     * position embedding, per block two LayerNorms, qkv, proj, fc1, fc2 with biases, then the
     * head), so that {@link Report} needs no backend. {@link #modelParameterCount()} counts the
     * real model's.
     */
    public long parameterCount() {
        long d = dim(), m = mlp(), c = classes(), p = config.patchSize();
        long patchEmbed = config.channels() * p * p * d + d;
        long embeddings = d + (long) tokens() * d;
        long block = 2 * d + (3 * d * d + 3 * d) + (d * d + d) + 2 * d + (m * d + m) + (d * m + d);
        long head = config.head() == ViTConfig.Head.LINEAR ? 2 * d + c * d + c : (m * d + m) + (c * m + c);
        return patchEmbed + embeddings + config.depth() * block + head;
    }

    /** The parameter count of the model {@link VisionTransformer} builds for this shape (allocates it once). */
    public synchronized long modelParameterCount() {
        if (modelParameterCount < 0) {
            try (CpuBackend backend = new CpuBackend(1);
                 VisionTransformer model = new VisionTransformer(backend, config)) {
                modelParameterCount = model.parameterCount();
            }
        }
        return modelParameterCount;
    }

    @Override
    public String toString() {
        return label + " (batch " + batch + ", " + tokens() + " tokens, dim " + dim() + ", heads " + heads()
                + ", mlp " + mlp() + ")";
    }
}
