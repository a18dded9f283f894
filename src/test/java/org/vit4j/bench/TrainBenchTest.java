package org.vit4j.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vit4j.backend.cpu.CpuBackend;
import org.vit4j.nn.ViTConfig;
import org.vit4j.train.Presets;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code bench train}'s measurement on the CPU backend, with a small model so it takes a second. */
class TrainBenchTest {
    /** The tutorial's recipe on a one-block, width-16 model. */
    static final Presets.Preset TINY = new Presets.Preset("tiny", "mnist", 7, 16, 1, 2, 32, 0f, "cls", "mlp", 1, 8,
            3e-3f, 0f, 0, "constant");

    @TempDir
    Path tmp;

    @Test
    void twoStepsOnTheCpuGiveFinitePositiveNumbersAndValidJson() throws Exception {
        TrainResult r;
        try (CpuBackend cpu = new CpuBackend(2)) {
            r = TrainBench.run(cpu, TINY, 8, 1, 2, 0, null);
        }
        assertEquals("tiny", r.model());
        assertEquals("cpu", r.backend());
        assertEquals(8, r.batchSize());
        assertEquals(2, r.steps());
        assertEquals(2, r.stepMs().runs());
        assertTrue(r.stepMs().median() > 0 && Double.isFinite(r.stepMs().median()), r.summary());
        assertTrue(r.imagesPerSecond() > 0 && Double.isFinite(r.imagesPerSecond()), r.summary());
        assertEquals(List.of("upload", "forward", "backward", "optimizer"), List.copyOf(r.phaseMs().keySet()));
        r.phaseMs().forEach((phase, s) -> {
            assertTrue(s.median() >= 0 && Double.isFinite(s.median()), phase + ": " + s);
            assertEquals(2, s.runs(), phase);
        });
        assertTrue(r.phaseMs().get("forward").median() > 0 && r.phaseMs().get("backward").median() > 0);
        // random labels over 10 classes: the loss starts near ln 10
        assertEquals(Math.log(10), r.firstLoss(), 0.5);
        assertTrue(Double.isFinite(r.lastLoss()));
        String summary = r.summary();
        assertTrue(summary.contains("images/s") && summary.contains("forward") && summary.contains("optimizer"), summary);

        Path file = tmp.resolve("train.json");
        r.writeJson(file);
        JsonNode json = new ObjectMapper().readTree(file.toFile());
        assertEquals("vit4j", json.get("tool").asText());
        assertEquals("train", json.get("kind").asText());
        assertEquals("tiny", json.get("model").asText());
        assertEquals(8, json.get("batchSize").asInt());
        assertTrue(json.get("imagesPerSecond").asDouble() > 0);
        assertTrue(json.get("msPerStep").get("median").asDouble() > 0);
        assertEquals(4, json.get("phasesMs").size());
        assertTrue(json.get("parameters").asLong() > 0);
        assertEquals(cpu2Blas(), json.get("blas").asText());
        assertEquals(TrainBench.flopsPerImage(TrainBench.config(TINY, TrainBench.DataShape.of("mnist"))),
                json.get("flopsPerImage").asDouble());
        assertEquals(8 * r.flopsPerImage() + 12.0 * r.parameters(), json.get("flopsPerStep").asDouble(), 1e-6);
        assertEquals(r.imagesPerSecond() / 8 * r.flopsPerStep() / 1e9, json.get("gflopsPerSecond").asDouble(), 1e-9);
        assertTrue(summary.contains("GFLOP/s"), summary);
    }

    private static String cpu2Blas() {
        try (CpuBackend cpu = new CpuBackend(1)) {
            return cpu.blasImplementation();
        }
    }

    @Test
    void flopsPerImageCountTheTutorialsOpsAsOpCostDoes() {
        // mnist-tutorial: 16 patches of 7x7x1 into width 64, 17 tokens, 6 blocks (qkv 64 -> 192, 8 heads,
        // proj 64 -> 64, MLP 64 -> 128 -> 64), the MLP head 64 -> 128 -> 10; forward + backward of each op
        double patch = 2 * (2 * 16 * 49 * 64 + 16 * 64);   // forward, and the weight and bias gradients
        double block = 2 * (8 + 12) * 17 * 64                                           // two LayerNorms
                + (6 * 17 * 64 * 192 + 2 * 17 * 192)                                      // qkv
                + 14 * 17 * 17 * 64                                                        // attention
                + (6 * 17 * 64 * 64 + 2 * 17 * 64)                                        // proj
                + (6 * 17 * 64 * 128 + 2 * 17 * 128) + 60 * 17 * 128 + (6 * 17 * 128 * 64 + 2 * 17 * 64)  // MLP
                + 4 * 17 * 64;                                                             // residual adds
        double head = (6 * 64 * 128 + 2 * 128) + 60 * 128 + (6 * 128 * 10 + 2 * 10);
        double expected = patch + 2 * 17 * 64 + 6 * block + head + 9 * 10;
        assertEquals(23_039_470, expected);
        assertEquals(expected, TrainBench.flopsPerImage(ViTConfig.mnistTutorial()));
        // cifar10-vit: ~2.6 GFLOP per image, almost all of it in the GEMMs
        ViTConfig cifar = TrainBench.config(Presets.CIFAR10_VIT, TrainBench.DataShape.of("cifar10"));
        assertEquals(2.599e9, TrainBench.flopsPerImage(cifar), 1e6);
    }

    @Test
    void syntheticDataHasTheDataSetsShape() {
        ViTConfig mnist = TrainBench.config(Presets.MNIST_TUTORIAL, TrainBench.DataShape.of("mnist"));
        assertEquals(ViTConfig.mnistTutorial(), mnist);
        ViTConfig cifar = TrainBench.config(Presets.CIFAR10_VIT, TrainBench.DataShape.of("cifar10"));
        assertEquals(32, cifar.imageSize());
        assertEquals(3, cifar.channels());
        assertEquals(65, cifar.tokens());
        var batches = TrainBench.syntheticBatches(cifar, 4, 0);
        assertEquals(TrainBench.DISTINCT_BATCHES, batches.length);
        assertEquals(4 * 3 * 32 * 32, batches[0].images().length);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TrainBench.DataShape.of("imagefolder"));
        assertTrue(e.getMessage().contains("imagefolder") && e.getMessage().contains("cifar10"), e.getMessage());
    }

    @Test
    void rejectsNonsenseCounts() {
        try (CpuBackend cpu = new CpuBackend(1)) {
            assertThrows(IllegalArgumentException.class, () -> TrainBench.run(cpu, TINY, 0, 1, 2, 0, null));
            assertThrows(IllegalArgumentException.class, () -> TrainBench.run(cpu, TINY, 8, 1, 0, 0, null));
        }
    }
}
