package org.vit4j.nn;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.vit4j.backend.Backend;
import org.vit4j.backend.cpu.CpuBackend;
import org.vit4j.io.SafeTensors;
import org.vit4j.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TimmWeightsTest {
    @TempDir
    Path dir;

    /** A timm-shaped tiny ViT: 32 px, patch 8 (16 patches), dim 128 (2 heads of 64), depth 2. */
    private static ViTConfig tiny(ViTConfig.Pool pool) {
        return new ViTConfig(32, 8, 3, 7, 128, 2, 2, 256, 0f, pool, ViTConfig.Head.LINEAR);
    }

    @ParameterizedTest
    @EnumSource(ViTConfig.Pool.class)
    void exportThenImportGivesIdenticalTensors(ViTConfig.Pool pool) throws IOException {
        try (Backend backend = new CpuBackend();
             VisionTransformer model = VisionTransformer.create(backend, tiny(pool), 7)) {
            randomise(backend, model);
            Path file = dir.resolve("vit.safetensors");
            TimmWeights.write(file, model);

            Map<String, SafeTensors.Entry> timm = SafeTensors.read(file).tensors();
            assertArrayEquals(new int[] {1, 1, 128}, timm.get("cls_token").shape());
            assertArrayEquals(new int[] {1, 17, 128}, timm.get("pos_embed").shape());
            assertArrayEquals(new int[] {128, 3, 8, 8}, timm.get("patch_embed.proj.weight").shape());
            assertArrayEquals(new int[] {384, 128}, timm.get("blocks.1.attn.qkv.weight").shape());
            String norm = pool == ViTConfig.Pool.MEAN ? "fc_norm.weight" : "norm.weight";
            assertTrue(timm.containsKey(norm), "final norm named " + norm + ": " + timm.keySet());

            try (VisionTransformer back = TimmWeights.read(backend, file, null)) {
                assertEquals(model.config(), back.config(), "config inferred from the shapes");
                Map<String, Parameter> a = model.namedParameters(), b = back.namedParameters();
                for (String name : a.keySet()) {
                    assertArrayEquals(backend.toArray(a.get(name).value()), backend.toArray(b.get(name).value()), name);
                }
                float[] images = new float[2 * 3 * 32 * 32];
                SplittableRandom r = new SplittableRandom(3);
                for (int i = 0; i < images.length; i++) {
                    images[i] = (float) r.nextGaussian();
                }
                try (Tensor x = backend.allocate(2, 3, 32, 32)) {
                    backend.upload(images, x);
                    float[] expected = backend.toArray(model.forward(x));
                    assertArrayEquals(expected, backend.toArray(back.forward(x)), "logits");
                }
            }
        }
    }

    @Test
    void timmsStandardShapesGiveItsConfigs() throws IOException {
        // vit_tiny_patch16_224's shapes (depth cut to 1): heads follow from timm's 64-wide heads.
        Map<String, SafeTensors.Entry> t = new LinkedHashMap<>();
        put(t, "cls_token", 1, 1, 192);
        put(t, "pos_embed", 1, 197, 192);
        put(t, "patch_embed.proj.weight", 192, 3, 16, 16);
        put(t, "blocks.0.mlp.fc1.weight", 768, 192);
        put(t, "norm.weight", 192);
        put(t, "head.weight", 1000, 192);
        ViTConfig c = TimmWeights.inferConfig(t, null, Path.of("vit_tiny.safetensors"));
        assertEquals(new ViTConfig(224, 16, 3, 1000, 192, 1, 3, 768, 0f, ViTConfig.Pool.CLS, ViTConfig.Head.LINEAR), c);
        assertEquals(4, TimmWeights.inferConfig(t, 4, Path.of("x")).heads(), "heads given explicitly");
    }

    /** DeiT's distilled layout: dist_token [1, 1, D], pos_embed over N+2 tokens, head_dist. */
    @Test
    void distilledModelsRoundTripAndAverageTheirHeads() throws IOException {
        ViTConfig config = tiny(ViTConfig.Pool.CLS).withDistilled(true);
        try (Backend backend = new CpuBackend();
             VisionTransformer model = VisionTransformer.create(backend, config, 9)) {
            randomise(backend, model);
            Path file = dir.resolve("deit.safetensors");
            TimmWeights.write(file, model);
            Map<String, SafeTensors.Entry> timm = SafeTensors.read(file).tensors();
            assertArrayEquals(new int[] {1, 1, 128}, timm.get("dist_token").shape());
            assertArrayEquals(new int[] {1, 18, 128}, timm.get("pos_embed").shape());
            assertArrayEquals(new int[] {7, 128}, timm.get("head_dist.weight").shape());

            try (VisionTransformer back = TimmWeights.read(backend, file, null);
                 Tensor x = backend.allocate(2, 3, 32, 32)) {
                assertEquals(config, back.config(), "distilled config inferred from the shapes");
                float[] images = new float[2 * 3 * 32 * 32];
                SplittableRandom r = new SplittableRandom(4);
                for (int i = 0; i < images.length; i++) {
                    images[i] = (float) r.nextGaussian();
                }
                backend.upload(images, x);
                float[] mean = backend.toArray(back.forward(x));
                assertArrayEquals(backend.toArray(model.forward(x)), mean, "logits");
                back.distillationTraining(true);
                float[] cls = backend.toArray(back.forward(x));
                float[] dist = backend.toArray(back.distillationLogits());
                double differ = 0;
                for (int i = 0; i < mean.length; i++) {
                    assertEquals((cls[i] + dist[i]) * 0.5f, mean[i], 1e-6f, "inference is the mean of the heads");
                    differ = Math.max(differ, Math.abs(cls[i] - dist[i]));
                }
                assertTrue(differ > 1e-2, "the two heads must differ for this check to mean anything");
            }

            // A larger grid: both prefix tokens are kept, only the grid is resampled.
            ViTConfig larger = new ViTConfig(48, 8, 3, 7, 128, 2, 2, 256, 0f, ViTConfig.Pool.CLS,
                    ViTConfig.Head.LINEAR, true);
            try (VisionTransformer big = new VisionTransformer(backend, larger)) {
                TimmWeights.load(big, timm, file);
                float[] expected = PositionEmbeddings.resample(
                        backend.toArray(model.namedParameters().get("pos_embed").value()), 2, 4, 4, 6, 6, 128);
                assertArrayEquals(expected, backend.toArray(big.namedParameters().get("pos_embed").value()));
            }
        }
    }

    @Test
    void positionsAreResampledForAnotherResolution() throws IOException {
        try (Backend backend = new CpuBackend();
             VisionTransformer small = VisionTransformer.create(backend, tiny(ViTConfig.Pool.CLS), 5)) {
            randomise(backend, small);
            Map<String, SafeTensors.Entry> timm = TimmWeights.export(small);
            ViTConfig c = small.config();
            ViTConfig larger = new ViTConfig(48, 8, 3, 7, 128, 2, 2, 256, 0f, ViTConfig.Pool.CLS, ViTConfig.Head.LINEAR);
            try (VisionTransformer big = new VisionTransformer(backend, larger)) {
                TimmWeights.load(big, timm, Path.of("small.safetensors"));
                float[] expected = PositionEmbeddings.resample(backend.toArray(small.namedParameters().get("pos_embed").value()),
                        1, 4, 4, 6, 6, c.dim());
                assertArrayEquals(expected, backend.toArray(big.namedParameters().get("pos_embed").value()));
                assertArrayEquals(backend.toArray(small.namedParameters().get("blocks.1.attn.qkv.weight").value()),
                        backend.toArray(big.namedParameters().get("blocks.1.attn.qkv.weight").value()));
            }
        }
    }

    @Test
    void mismatchesAreListedTogether() throws IOException {
        try (Backend backend = new CpuBackend();
             VisionTransformer model = VisionTransformer.create(backend, tiny(ViTConfig.Pool.CLS), 1)) {
            Map<String, SafeTensors.Entry> t = new LinkedHashMap<>(TimmWeights.export(model));
            t.remove("blocks.1.mlp.fc2.bias");
            t.put("pre_logits.fc.weight", SafeTensors.Entry.f32(new int[] {128, 128}, new float[128 * 128]));
            t.put("blocks.0.attn.proj.weight", SafeTensors.Entry.f32(new int[] {128, 64}, new float[128 * 64]));
            t.put("head.bias", SafeTensors.Entry.i32(new int[] {7}, new int[7]));
            Path file = dir.resolve("bad.safetensors");
            SafeTensors.write(file, t, Map.of());
            IOException e = assertThrows(IOException.class, () -> TimmWeights.read(backend, file, null));
            String m = e.getMessage();
            assertTrue(m.startsWith(file.toString()), m);
            assertTrue(m.contains("missing: blocks.1.mlp.fc2.bias"), m);
            assertTrue(m.contains("unexpected: pre_logits.fc.weight"), m);
            assertTrue(m.contains("blocks.0.attn.proj.weight is F32[128, 64], expected F32[128, 128]"), m);
            assertTrue(m.contains("head.bias is I32[7], expected F32[7]"), m);
        }
    }

    @Test
    void badFilesSayWhatIsWrong() throws IOException {
        try (Backend backend = new CpuBackend()) {
            Path notVit = dir.resolve("other.safetensors");
            SafeTensors.write(notVit, Map.of("weight", SafeTensors.Entry.f32(new int[] {2}, new float[2])), Map.of());
            IOException e = assertThrows(IOException.class, () -> TimmWeights.read(backend, notVit, null));
            assertTrue(e.getMessage().contains("not a timm ViT: no tensor 'cls_token'"), e.getMessage());

            Path truncated = dir.resolve("truncated.safetensors");
            Files.write(truncated, new byte[] {(byte) 0xff, 0x7f, 0, 0, 0, 0, 0, 0, '{'});
            e = assertThrows(IOException.class, () -> TimmWeights.read(backend, truncated, null));
            assertTrue(e.getMessage().contains("truncated"), e.getMessage());

            try (VisionTransformer mlpHead = VisionTransformer.create(backend, ViTConfig.mnistTimm(), 0)) {
                IllegalArgumentException x = assertThrows(IllegalArgumentException.class, () -> TimmWeights.export(mlpHead));
                assertTrue(x.getMessage().contains("head=linear"), x.getMessage());
            }
        }
    }

    private static void put(Map<String, SafeTensors.Entry> t, String name, int... shape) {
        int n = 1;
        for (int d : shape) {
            n *= d;
        }
        t.put(name, SafeTensors.Entry.f32(shape, new float[n]));
    }

    /** Non-trivial values everywhere (timm's init leaves biases zero, which would test less). */
    private static void randomise(Backend backend, VisionTransformer model) {
        SplittableRandom r = new SplittableRandom(11);
        for (Parameter p : model.parameters()) {
            float[] v = new float[Math.toIntExact(p.shape().numel())];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (0.1 * r.nextGaussian());
            }
            backend.upload(v, p.value());
        }
    }
}
