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
