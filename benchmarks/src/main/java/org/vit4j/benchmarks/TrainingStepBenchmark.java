package org.vit4j.benchmarks;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.vit4j.backend.cpu.CpuBackend;
import org.vit4j.data.Batch;
import org.vit4j.nn.ViTConfig;
import org.vit4j.nn.VisionTransformer;
import org.vit4j.optim.AdamW;
import org.vit4j.optim.LearningRateSchedule;
import org.vit4j.train.Presets;
import org.vit4j.train.Recipe;
import org.vit4j.train.Trainer;

import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * One full training step of the {@code mnist-tutorial} preset on the CPU backend, exactly as
 * {@code vit4j train --model mnist-tutorial} runs it: {@link Trainer#step(Batch, float)} uploads
 * the batch, runs the forward pass, softmax cross-entropy, the backward pass and one AdamW
 * (here Adam: the preset's weight decay is 0) update at the preset's learning rate 3e-3, and
 * reads the loss back.
 *
 * <p>Data: {@value #DISTINCT_BATCHES} synthetic batches of Gaussian 28x28 "images" with random
 * labels (fixed seed), used in turn; only their values differ from MNIST's, and the step's
 * cost does not depend on them. The score is ms per step;
 * <b>images/s = batch * 1000 / (ms/step)</b>, e.g. 100 images in 50 ms/step = 2000 images/s
 * ({@link Report} prints it). Batch 100 is the preset's; 256 shows how the step scales with
 * a larger batch ({@code -p batch=100} runs only the preset's).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector"})
@Warmup(iterations = 2, time = 3)
@Measurement(iterations = 3, time = 3)
@State(Scope.Benchmark)
public class TrainingStepBenchmark {
    static final int DISTINCT_BATCHES = 8;

    @Param({"100", "256"})
    public int batch;

    private CpuBackend backend;
    private VisionTransformer model;
    private AdamW optimizer;
    private Trainer trainer;
    private Batch[] batches;
    private float lr;
    private int next;

    @Setup(Level.Trial)
    public void setUp() {
        Presets.Preset preset = Presets.MNIST_TUTORIAL;
        ViTConfig config = ViTConfig.mnistTutorial();
        lr = preset.lr();
        backend = new CpuBackend();
        model = VisionTransformer.create(backend, config, 0);
        model.train(true);
        optimizer = AdamW.withDefaults(backend, model.namedParameters(), preset.weightDecay());
        trainer = new Trainer(backend, model, optimizer, LearningRateSchedule.constant(lr), batch,
                Recipe.builder().epochs(preset.epochs()).build());

        Random random = new Random(CpuOpsBenchmark.SEED);
        int pixels = config.channels() * config.imageSize() * config.imageSize();
        batches = new Batch[DISTINCT_BATCHES];
        for (int k = 0; k < batches.length; k++) {
            float[] images = new float[batch * pixels];
            for (int i = 0; i < images.length; i++) {
                images[i] = (float) random.nextGaussian();
            }
            int[] labels = new int[batch];
            for (int i = 0; i < batch; i++) {
                labels[i] = random.nextInt(config.numClasses());
            }
            batches[k] = new Batch(images, labels, batch);
        }
        System.out.println("# " + backend.description() + "; mnist-tutorial, " + model.parameterCount()
                + " parameters, batch " + batch);
    }

    /** One optimizer step; returns the batch's mean loss (consumed by JMH, so nothing is elided). */
    @Benchmark
    public double step() {
        Batch b = batches[next];
        next = (next + 1) % batches.length;
        return trainer.step(b, lr);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        trainer.close();
        optimizer.close();
        model.close();
        backend.close();
    }
}
