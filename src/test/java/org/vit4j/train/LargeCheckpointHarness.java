package org.vit4j.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vit4j.backend.Backend;
import org.vit4j.backend.cpu.CpuBackend;
import org.vit4j.nn.ViTConfig;
import org.vit4j.nn.VisionTransformer;
import org.vit4j.optim.AdamW;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The largest checkpoint: a ViT of about 190M parameters (dim 1024, depth 15, MLP 4096) with
 * its AdamW moments, 2.3 GB (past 2 GiB), saved and loaded back into a second model, with the time and the
 * heap each takes. Not a unit test (a minute, and more heap than the tier's: the model, its
 * gradients and moments are 2.9 GB before the file is read); it runs in a JVM of its own with
 * {@code -Xmx9g} and the parallel collector (G1 wastes a region's slack on each 16 MB array) and a small young generation, so the peaks measured are close to what is live, when
 * asked for: {@code mvn -o -q test -Dtest=LargeCheckpointHarness [-Dvit4j.large.heap=9g]}.
 */
class LargeCheckpointHarness {
    @TempDir
    Path dir;

    @Test
    void inItsOwnJvm() throws Exception {
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx" + System.getProperty("vit4j.large.heap", "9g"), "-XX:+UseParallelGC", "-Xmn128m",
                "--add-modules=jdk.incubator.vector", "-cp", cp, LargeCheckpointHarness.class.getName(), dir.toString())
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        System.out.print(out);
        assertEquals(0, p.waitFor(), "the harness JVM failed: " + out);
    }

    public static void main(String[] args) throws IOException {
        LargeCheckpointHarness h = new LargeCheckpointHarness();
        h.dir = Path.of(args[0]);
        h.saveAndLoadA190MParameterCheckpoint();
    }

    /** Peak heap (all heap pools together) since the last call, and the peaks reset. */
    private static long peakHeap() {
        long sum = 0;
        for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
            if (pool.getType() == MemoryType.HEAP) {
                sum += pool.getPeakUsage().getUsed();
                pool.resetPeakUsage();
            }
        }
        return sum;
    }

    private static long usedHeap() {
        System.gc();
        Runtime rt = Runtime.getRuntime();
        return rt.totalMemory() - rt.freeMemory();
    }

    void saveAndLoadA190MParameterCheckpoint() throws IOException {
        ViTConfig config = new ViTConfig(224, 16, 3, 1000, 1024, 15, 16, 4096, 0f, ViTConfig.Pool.CLS,
                ViTConfig.Head.LINEAR);
        Path file = dir.resolve("large.safetensors");
        try (Backend backend = new CpuBackend(2);
             VisionTransformer model = VisionTransformer.create(backend, config, 1);
             AdamW optimizer = AdamW.withDefaults(backend, model.namedParameters(), 0.05f)) {
            long params = model.parameterCount();
            long base = usedHeap();
            peakHeap();
            long t0 = System.nanoTime();
            Checkpoint.save(file, model, optimizer, 3, "{}");
            double saveSeconds = (System.nanoTime() - t0) / 1e9;
            long savePeak = peakHeap() - base;
            long size = Files.size(file);

            usedHeap();
            peakHeap();
            t0 = System.nanoTime();
            Checkpoint ckpt = Checkpoint.load(file);
            double readSeconds = (System.nanoTime() - t0) / 1e9;
            long readPeak = peakHeap() - base;
            long tensorBytes = ckpt.tensors().values().stream().mapToLong(e -> 4 * e.numel()).sum();
            // Loaded back into the same model (a second one would not fit beside it), over changed weights.
            String name = "blocks.14.mlp.fc2.weight";
            float[] saved = backend.toArray(model.namedParameters().get(name).value());
            backend.fill(model.namedParameters().get(name).value(), 0f);
            t0 = System.nanoTime();
            ckpt.loadInto(model, file);
            ckpt.loadInto(optimizer, model, file);
            double uploadSeconds = (System.nanoTime() - t0) / 1e9;
            assertEquals(3, ckpt.epoch());
            assertArrayEquals(saved, backend.toArray(model.namedParameters().get(name).value()));
            System.out.printf("LargeCheckpointHarness: %,d parameters, file %,d bytes (%.2f GiB); save %.1f s, "
                            + "heap above the model during save %.0f MB; read %.1f s, heap above the model during read "
                            + "%.0f MB for %.0f MB of tensors (%.2fx); copy into the model %.1f s%n", params, size,
                    size / (double) (1L << 30), saveSeconds, savePeak / 1e6, readSeconds, readPeak / 1e6,
                    tensorBytes / 1e6, (double) readPeak / tensorBytes, uploadSeconds);
        } finally {
            Files.deleteIfExists(file);
        }
    }
}
