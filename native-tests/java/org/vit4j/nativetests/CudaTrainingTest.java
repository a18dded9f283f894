package org.vit4j.nativetests;

import org.junit.jupiter.api.Test;
import org.vit4j.backend.Backend;
import org.vit4j.backend.cpu.CpuBackend;
import org.vit4j.backend.cuda.CudaBackend;
import org.vit4j.data.Batch;
import org.vit4j.data.DataLoader;
import org.vit4j.data.Dataset;
import org.vit4j.data.DatasetSource;
import org.vit4j.nn.ViTConfig;
import org.vit4j.nn.VisionTransformer;
import org.vit4j.optim.AdamW;
import org.vit4j.optim.LearningRateSchedule;
import org.vit4j.train.Trainer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The first 20 training steps of {@code mnist-tutorial} (the 2020 tutorial ViT) give the same
 * losses on the GPU and the CPU; so do those of a small vit-pytorch model with dropout (patch
 * LayerNorms, no class token, mean over every token, attention-weight dropout: the masks are the
 * same pure function of (seed, index) on both backends).
 */
class CudaTrainingTest {
    /** vit-pytorch's ViT at MNIST's size: dim 64, 2 blocks, 4 heads of 32, mean pool, dropout 0.1 everywhere. */
    static final ViTConfig VIT_PYTORCH_DROPOUT = new ViTConfig(28, 7, 1, 10, 64, 2, 4, 128, 0.1f, ViTConfig.Pool.MEAN,
            ViTConfig.Head.LINEAR, false, ViTConfig.Arch.VIT_PYTORCH, 32, 0.1f);

    private static final int STEPS = 20;
    /**
     * Per-step relative loss difference. Both run FP32 with different summation orders (cuBLAS
     * and our kernels vs BLAS and Java loops): ~1e-6 relative per step at the start, amplified by
     * Adam's normalised updates (a sign flip of a near-zero gradient moves a weight by lr), so the
     * trajectories drift apart slowly. 1e-3 over 20 steps at lr 3e-3 bounds that drift; a wrong
     * kernel changes the losses from the first step by far more.
     */
    private static final double TOLERANCE = 1e-3;

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
        assumeTrue(Files.isDirectory(mnist), "no MNIST at " + mnist);
        Dataset train = DatasetSource.open("mnist", mnist, true);
        double[] gpu;
        try (CudaBackend cuda = Gpu.open()) {
            gpu = losses(cuda, train, config);
        }
        double[] cpu;
        try (CpuBackend backend = new CpuBackend()) {
            cpu = losses(backend, train, config);
        }
        for (int i = 0; i < STEPS; i++) {
            double rel = Math.abs(gpu[i] - cpu[i]) / Math.abs(cpu[i]);
            System.out.printf(Locale.ROOT, "step %2d  cpu %.6f  gpu %.6f  rel %.2e%n", i + 1, cpu[i], gpu[i], rel);
            int step = i;
            assertTrue(rel <= TOLERANCE, () -> "step " + (step + 1) + ": relative loss difference " + rel);
        }
    }

    private static double[] losses(Backend backend, Dataset train, ViTConfig config) {
        double[] out = new double[STEPS];
        try (VisionTransformer model = VisionTransformer.create(backend, config, 0);
             AdamW adam = AdamW.withDefaults(backend, model.namedParameters(), 0f);
             Trainer trainer = new Trainer(backend, model, adam, LearningRateSchedule.constant(3e-3f), 100,
                     new Trainer.Settings(1, 0f, 0, 0));
             DataLoader loader = new DataLoader(train, 100, true, false, false, 0)) {
            Iterator<Batch> it = loader.epoch(0);
            for (int i = 0; i < STEPS; i++) {
                out[i] = trainer.step(it.next(), 3e-3f);
            }
        }
        return out;
    }
}
