package org.vit4j.nativetests;

import org.junit.jupiter.api.Test;
import org.vit4j.backend.Backend;
import org.vit4j.backend.cpu.CpuBackend;
import org.vit4j.backend.cuda.CudaBackend;
import org.vit4j.data.Batch;
import org.vit4j.data.DataLoader;
import org.vit4j.data.Dataset;
import org.vit4j.data.DatasetSource;
import org.vit4j.nn.Parameter;
import org.vit4j.nn.ViTConfig;
import org.vit4j.nn.VisionTransformer;
import org.vit4j.optim.AdamW;
import org.vit4j.optim.LearningRateSchedule;
import org.vit4j.tensor.Tensor;
import org.vit4j.train.Recipe;
import org.vit4j.train.Trainer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The first 20 training steps of {@code mnist-tutorial} (the 2020 tutorial ViT) on real MNIST, and
 * those of a small vit-pytorch model with dropout (patch LayerNorms, no class token, mean over
 * every token, attention-weight dropout: the masks are the same pure function of (seed, index)
 * on both backends), on the GPU and the CPU, each step from the same state: after every step the
 * CPU's parameters and Adam moments are copied into the GPU model, so each step's difference is
 * that step's own.
 */
class CudaTrainingTest {
    /** vit-pytorch's ViT at MNIST's size: dim 64, 2 blocks, 4 heads of 32, mean pool, dropout 0.1 everywhere. */
    static final ViTConfig VIT_PYTORCH_DROPOUT = new ViTConfig(28, 7, 1, 10, 64, 2, 4, 128, 0.1f, ViTConfig.Pool.MEAN,
            ViTConfig.Head.LINEAR, false, ViTConfig.Arch.VIT_PYTORCH, 32, 0.1f);

    private static final int STEPS = 20;
    /**
     * Per-step relative loss difference from identical states. Both run FP32 with different
     * summation orders (cuBLAS and our kernels vs BLAS and Java loops): ~1e-7 relative. Left to run
     * freely instead, the two trajectories agree to 1e-8 for a few steps and then drift apart
     * about tenfold every step or two: Adam's normalised update turns a
     * near-zero gradient's rounding into a full lr-sized move, so free-running losses cannot be
     * held to a tight bound, while one step from a shared state can.
     */
    private static final double LOSS_TOLERANCE = 1e-5;
    /**
     * The update of each parameter tensor (after minus before, on each backend): an element whose
     * two updates differ by more than a tenth of the tensor's largest CPU update disagrees. Adam
     * moves every element by about lr whatever its gradient's size, so an element whose gradient is
     * rounding-sized may move either way on the two backends; such elements are rare, while a wrong
     * gradient makes most of a tensor disagree. At most 1% of a tensor's elements, or 2, may disagree.
     */
    private static final double DISAGREEING_FRACTION = 0.01;

    @Test
    void firstStepsMatchTheCpu() throws Exception {
        firstStepsMatch(ViTConfig.mnistTutorial());
    }

    @Test
    void vitPytorchWithDropoutMatchesTheCpu() throws Exception {
        firstStepsMatch(VIT_PYTORCH_DROPOUT);
    }

    private static void firstStepsMatch(ViTConfig config) throws Exception {
        Path mnist = Path.of(System.getProperty("vit4j.mnist", "../shared/data/mnist"));
        Gpu.assume(Files.isDirectory(mnist), "no MNIST at " + mnist.toAbsolutePath() + " (-Dvit4j.mnist=DIR)");
        Dataset train = DatasetSource.open("mnist", mnist, true);
        try (CudaBackend cuda = Gpu.open(); CpuBackend cpu = new CpuBackend();
             Run gpuRun = new Run(cuda, config); Run cpuRun = new Run(cpu, config);
             DataLoader loader = DataLoader.builder(train).batchSize(100).shuffle(true).build()) {
            gpuRun.copyStateFrom(cpuRun);
            Iterator<Batch> it = loader.epoch(0);
            for (int i = 0; i < STEPS; i++) {
                Batch batch = it.next();
                Map<String, float[]> before = cpuRun.parameters();
                double cpuLoss = cpuRun.trainer.step(batch, 3e-3f);
                double gpuLoss = gpuRun.trainer.step(batch, 3e-3f);
                double rel = Math.abs(gpuLoss - cpuLoss) / Math.abs(cpuLoss);
                Disagreement update = disagreement(before, cpuRun.parameters(), gpuRun.parameters());
                System.out.printf(Locale.ROOT, "step %2d  cpu %.6f  gpu %.6f  rel %.2e  updates disagreeing: %d of %d%s%n",
                        i + 1, cpuLoss, gpuLoss, rel, update.total, update.elements, update.total == 0 ? ""
                                : " (worst " + update.worstName + ": " + update.worstCount + " of " + update.worstSize + ")");
                int step = i + 1;
                assertTrue(rel <= LOSS_TOLERANCE, () -> "step " + step + ": relative loss difference " + rel);
                assertTrue(update.worstCount <= Math.max(2, DISAGREEING_FRACTION * update.worstSize),
                        () -> "step " + step + ": " + update.worstCount + " of the " + update.worstSize
                                + " updates of " + update.worstName + " disagree");
                gpuRun.copyStateFrom(cpuRun);
            }
        }
    }

    private record Disagreement(long total, long elements, String worstName, int worstCount, int worstSize) {
    }

    /** Elements whose GPU and CPU updates differ by over a tenth of the tensor's largest update. */
    private static Disagreement disagreement(Map<String, float[]> before, Map<String, float[]> cpu, Map<String, float[]> gpu) {
        long total = 0, elements = 0;
        String worstName = "";
        int worstCount = 0, worstSize = 1;
        for (String name : cpu.keySet()) {
            float[] b = before.get(name), c = cpu.get(name), g = gpu.get(name);
            double largest = 0;
            for (int j = 0; j < c.length; j++) {
                largest = Math.max(largest, Math.abs((double) c[j] - b[j]));
            }
            int count = 0;
            for (int j = 0; j < c.length; j++) {
                if (Math.abs(((double) g[j] - b[j]) - ((double) c[j] - b[j])) > 0.1 * largest) {
                    count++;
                }
            }
            total += count;
            elements += c.length;
            if ((double) count / Math.max(2, DISAGREEING_FRACTION * c.length)
                    > (double) worstCount / Math.max(2, DISAGREEING_FRACTION * worstSize)) {
                worstName = name;
                worstCount = count;
                worstSize = c.length;
            }
        }
        return new Disagreement(total, elements, worstName, worstCount, worstSize);
    }

    /** A model with the tutorial's Adam and trainer on one backend. */
    private static final class Run implements AutoCloseable {
        final Backend backend;
        final VisionTransformer model;
        final AdamW adam;
        final Trainer trainer;

        Run(Backend backend, ViTConfig config) {
            this.backend = backend;
            this.model = VisionTransformer.create(backend, config, 0);
            this.adam = AdamW.withDefaults(backend, model.namedParameters(), 0f);
            this.trainer = new Trainer(backend, model, adam, LearningRateSchedule.constant(3e-3f), 100,
                    Recipe.builder().epochs(1).build());
        }

        Map<String, float[]> parameters() {
            Map<String, float[]> out = new TreeMap<>();
            model.namedParameters().forEach((name, p) -> out.put(name, read(p.value())));
            return out;
        }

        /** Parameters, Adam moments and step count of {@code other}, a run on another backend. */
        void copyStateFrom(Run other) {
            Map<String, Parameter> mine = model.namedParameters();
            other.model.namedParameters().forEach((name, p) -> write(other.read(p.value()), mine.get(name).value()));
            copyAll(other.adam.firstMoments(), adam.firstMoments(), other);
            copyAll(other.adam.secondMoments(), adam.secondMoments(), other);
            adam.setStepCount(other.adam.stepCount());
        }

        private void copyAll(Map<String, Tensor> from, Map<String, Tensor> to, Run other) {
            from.forEach((name, t) -> write(other.read(t), to.get(name)));
        }

        float[] read(Tensor t) {
            float[] a = new float[Math.toIntExact(t.numel())];
            backend.download(t, a, 0);
            return a;
        }

        void write(float[] values, Tensor t) {
            backend.upload(values, 0, t);
        }

        @Override
        public void close() {
            trainer.close();
            adam.close();
            model.close();
        }
    }
}
