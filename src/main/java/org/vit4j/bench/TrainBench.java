package org.vit4j.bench;

import org.vit4j.backend.Backend;
import org.vit4j.backend.cpu.CpuBackend;
import org.vit4j.data.Batch;
import org.vit4j.nn.ViTConfig;
import org.vit4j.nn.VisionTransformer;
import org.vit4j.optim.AdamW;
import org.vit4j.optim.LearningRateSchedule;
import org.vit4j.tensor.DType;
import org.vit4j.tensor.Shape;
import org.vit4j.tensor.Tensor;
import org.vit4j.train.Presets;
import org.vit4j.train.Recipe;
import org.vit4j.train.Trainer;

import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * {@code vit4j bench train}: training throughput of a preset's model at a batch size, on
 * synthetic data of its data set's shape (standard-normal pixels, the values a normalised data
 * set has, and uniform labels), so no data set is needed and loading costs nothing. A preset that
 * resizes its images (vit-base-patch16-224) gets synthetic images of the resized size: the model's
 * throughput, without the resize.
 *
 * <p>Two measurements, after {@code warmup} untimed steps:
 * <ol>
 *   <li>The real {@link Trainer#step}: upload, forward, loss, backward, AdamW (the preset's
 *       weight decay, at its peak learning rate), loss read back, which waits for the device;
 *       wall-clock time per step, images/s over all timed steps.</li>
 *   <li>The split, in separate steps: the same work phase by phase, each followed by
 *       {@link Backend#synchronize()} so a phase's time is its own: {@code upload} (the batch to
 *       the device), {@code forward} (model and loss), {@code backward} (loss gradient and
 *       model), {@code optimizer} (AdamW). Their sum is a little above a real step's time: the
 *       synchronisations stop the GPU from overlapping the host's launches with the work.</li>
 * </ol>
 */
public final class TrainBench {
    /** Distinct synthetic batches used in turn. */
    static final int DISTINCT_BATCHES = 4;

    private TrainBench() {
    }

    /** Image side, channels and classes of the data sets a preset names. */
    public record DataShape(int imageSize, int channels, int classes) {
        public static DataShape of(String dataset) {
            return switch (dataset.toLowerCase(Locale.ROOT)) {
                case "mnist", "fashion-mnist" -> new DataShape(28, 1, 10);
                case "cifar10" -> new DataShape(32, 3, 10);
                default -> throw new IllegalArgumentException("bench train: no fixed image shape for data set '" + dataset
                        + "'; known: mnist, fashion-mnist, cifar10");
            };
        }
    }

    /** The preset's model on images of {@code data}'s shape, or of the preset's size where it resizes them. */
    public static ViTConfig config(Presets.Preset p, DataShape data) {
        return p.config(p.imageSize() > 0 ? p.imageSize() : data.imageSize(), data.channels(), data.classes());
    }

    /** Runs {@code warmup} + {@code steps} training steps, then the phase split over as many; {@code log} may be null. */
    public static TrainResult run(Backend backend, Presets.Preset preset, int batch, int warmup, int steps, long seed,
                                  PrintStream log) {
        if (batch < 1 || warmup < 0 || steps < 1) {
            throw new IllegalArgumentException("bench train: need --batch-size >= 1, --warmup >= 0, --steps >= 1; got "
                    + batch + ", " + warmup + ", " + steps);
        }
        DataShape data = DataShape.of(preset.dataset());
        ViTConfig config = config(preset, data);
        Batch[] batches = syntheticBatches(config, batch, seed);
        float lr = preset.lr();
        try (VisionTransformer model = VisionTransformer.create(backend, config, seed);
             AdamW optimizer = AdamW.withDefaults(backend, model.namedParameters(), preset.weightDecay());
             Trainer trainer = new Trainer(backend, model, optimizer, LearningRateSchedule.constant(lr), batch,
                     Recipe.builder().epochs(1).labelSmoothing(preset.labelSmoothing()).seed(seed).build())) {
            model.train(true);
            if (log != null) {
                log.printf(Locale.ROOT, "# %s on %s, batch %d: %,d parameters, %d tokens; %d warm-up + %d timed steps%n",
                        preset.name(), backend.description(), batch, model.parameterCount(), config.tokens(), warmup, steps);
            }
            double firstLoss = Double.NaN, lastLoss = Double.NaN;
            for (int i = 0; i < warmup; i++) {
                double loss = trainer.step(batches[i % batches.length], lr);
                firstLoss = i == 0 ? loss : firstLoss;
            }
            double[] stepMs = new double[steps];
            backend.synchronize();
            long start = System.nanoTime();
            for (int i = 0; i < steps; i++) {
                long t0 = System.nanoTime();
                lastLoss = trainer.step(batches[(warmup + i) % batches.length], lr);
                stepMs[i] = (System.nanoTime() - t0) / 1e6;
                if (i == 0 && warmup == 0) {
                    firstLoss = lastLoss;
                }
            }
            backend.synchronize();
            double seconds = (System.nanoTime() - start) / 1e9;
            Map<String, Stats> phases = phases(backend, model, optimizer, config, batches, batch, Math.min(warmup, 2),
                    steps, lr, preset.labelSmoothing(), seed);
            double perImage = flopsPerImage(config);
            return new TrainResult(preset.name(), preset.dataset(), backend.name(), backend.description(),
                    backend instanceof CpuBackend cpu ? cpu.blasImplementation() : null, config.toString(),
                    model.parameterCount(), batch, warmup, steps, Stats.of(stepMs), (double) batch * steps / seconds,
                    phases, firstLoss, lastLoss, perImage,
                    batch * perImage + OpCost.adamwStep(model.parameterCount()).flops());
        }
    }

    /**
     * FLOPs of one image's training step, forward, loss and backward, each op counted as
     * {@link OpCost} counts it (a multiply-add is 2; a Linear's bias and the elementwise ops
     * included; dropout not): the patch embedding (backward: the weight gradient only, as the
     * images need none, except after vit-pytorch's LayerNorm), per block two LayerNorms, the qkv
     * Linear, attention, the output projection, the MLP's two Linears and GELU, two residual adds
     * (and their gradient's in backward), then the final LayerNorm, the head and cross-entropy.
     * The AdamW update is per step, not per image ({@link TrainResult#flopsPerStep()} adds it).
     */
    public static double flopsPerImage(ViTConfig c) {
        double n = c.tokens(), d = c.dim(), inner = c.innerDim(), m = c.mlpDim(), classes = c.numClasses();
        double patches = c.numPatches(), k = (double) c.channels() * c.patchSize() * c.patchSize();
        boolean vitPytorch = c.arch() == ViTConfig.Arch.VIT_PYTORCH;
        double f = OpCost.linearForward(patches, k, d).flops() + OpCost.linearBackward(patches, k, d).flops();
        if (vitPytorch) {   // LayerNorm, Linear, LayerNorm: the Linear's input gradient is needed
            f += ln(patches, k) + ln(patches, d);
        } else {
            f -= OpCost.gemm(patches, k, d).flops();   // no gradient for the images
        }
        f += 2 * OpCost.add(n * d).flops();   // position embedding added, and its gradient summed
        double block = 2 * ln(n, d) + linear(n, d, 3 * inner)
                + OpCost.attentionForward(1, n, inner, c.heads()).flops()
                + OpCost.attentionBackward(1, n, inner, c.heads()).flops()
                + (c.attentionProjection() ? linear(n, inner, d) : 0)
                + linear(n, d, m) + gelu(n * m) + linear(n, m, d)
                + 4 * OpCost.add(n * d).flops();
        f += c.depth() * block;
        if (c.head() == ViTConfig.Head.MLP) {
            f += linear(1, d, m) + gelu(m) + linear(1, m, classes);
        } else {
            f += (vitPytorch || c.distilled() ? ln(n, d) : ln(1, d)) + linear(1, d, classes) * (c.distilled() ? 2 : 1);
        }
        return f + OpCost.crossEntropyForward(1, classes).flops() + OpCost.crossEntropyBackward(1, classes).flops();
    }

    private static double linear(double rows, double in, double out) {
        return OpCost.linearForward(rows, in, out).flops() + OpCost.linearBackward(rows, in, out).flops();
    }

    private static double ln(double rows, double dim) {
        return OpCost.layerNormForward(rows, dim).flops() + OpCost.layerNormBackward(rows, dim).flops();
    }

    private static double gelu(double n) {
        return OpCost.geluForward(n).flops() + OpCost.geluBackward(n).flops();
    }

    /** The step phase by phase, each synchronised: milliseconds per phase over {@code steps} steps. */
    private static Map<String, Stats> phases(Backend backend, VisionTransformer model, AdamW optimizer, ViTConfig c,
                                             Batch[] batches, int batch, int warmup, int steps, float lr,
                                             float smoothing, long seed) {
        String[] names = {"upload", "forward", "backward", "optimizer"};
        double[][] ms = new double[names.length][steps];
        try (Tensor images = backend.allocate(DType.F32, Shape.of(batch, c.channels(), c.imageSize(), c.imageSize()));
             Tensor labels = backend.allocate(DType.I32, Shape.of(batch));
             Tensor losses = backend.allocate(batch);
             Tensor dLogits = backend.allocate(batch, c.numClasses())) {
            for (int i = 0; i < warmup + steps; i++) {
                Batch b = batches[i % batches.length];
                model.dropoutSeeds().setStepSeed(seed * 0x9E3779B97F4A7C15L + optimizer.stepCount());
                backend.synchronize();
                long t0 = System.nanoTime();
                backend.upload(b.images(), images);
                backend.upload(b.labels(), labels);
                backend.synchronize();
                long t1 = System.nanoTime();
                Tensor logits = model.forward(images);
                backend.crossEntropyForward(logits, labels, smoothing, losses);
                backend.synchronize();
                long t2 = System.nanoTime();
                backend.crossEntropyBackward(logits, labels, smoothing, 1f / batch, dLogits);
                model.backward(dLogits);
                backend.synchronize();
                long t3 = System.nanoTime();
                optimizer.step(lr);
                backend.synchronize();
                long t4 = System.nanoTime();
                if (i >= warmup) {
                    long[] t = {t0, t1, t2, t3, t4};
                    for (int p = 0; p < names.length; p++) {
                        ms[p][i - warmup] = (t[p + 1] - t[p]) / 1e6;
                    }
                }
            }
        }
        Map<String, Stats> out = new LinkedHashMap<>();
        for (int p = 0; p < names.length; p++) {
            out.put(names[p], Stats.of(ms[p]));
        }
        return out;
    }

    /** {@link #DISTINCT_BATCHES} batches of standard-normal images and uniform labels. */
    static Batch[] syntheticBatches(ViTConfig c, int batch, long seed) {
        int pixels = c.channels() * c.imageSize() * c.imageSize();
        Batch[] out = new Batch[DISTINCT_BATCHES];
        for (int k = 0; k < out.length; k++) {
            float[] images = HostRandom.normal(Math.multiplyExact(batch, pixels), seed + 31L * k);
            int[] labels = HostRandom.labels(batch, c.numClasses(), seed + 31L * k);
            out[k] = new Batch(images, labels, batch);
        }
        return out;
    }
}
