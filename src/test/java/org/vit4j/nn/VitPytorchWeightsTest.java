package org.vit4j.nn;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vit4j.backend.Backend;
import org.vit4j.backend.cpu.CpuBackend;
import org.vit4j.io.SafeTensors;
import org.vit4j.tensor.DType;
import org.vit4j.tensor.Shape;
import org.vit4j.tensor.Tensor;
import org.vit4j.train.WeightsFile;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Reading and writing vit-pytorch state_dicts (the golden test checks the numbers against vit-pytorch itself). */
class VitPytorchWeightsTest {
    @TempDir
    Path dir;

    /** RGB 16 px, patch 4 (16 patches), dim 24, 2 heads of vit-pytorch's default 64 (attention 128 wide). */
    private static ViTConfig rgb(ViTConfig.Pool pool) {
        return new ViTConfig(16, 4, 3, 5, 24, 2, 2, 40, 0f, pool, ViTConfig.Head.LINEAR, false,
                ViTConfig.Arch.VIT_PYTORCH, 64, 0f);
    }

    @Test
    void writeThenReadGivesTheSameModel() throws IOException {
        for (ViTConfig.Pool pool : ViTConfig.Pool.values()) {
            try (Backend backend = new CpuBackend();
                 VisionTransformer model = VisionTransformer.create(backend, rgb(pool), 3)) {
                Path file = dir.resolve("vp-" + pool + ".safetensors");
                VitPytorchWeights.write(file, model);
                Map<String, SafeTensors.Entry> sd = SafeTensors.read(file).tensors();
                assertArrayEquals(new int[] {1, pool == ViTConfig.Pool.CLS ? 1 : 0, 24}, sd.get("cls_token").shape());
                assertArrayEquals(new int[] {1, pool == ViTConfig.Pool.CLS ? 17 : 16, 24}, sd.get("pos_embedding").shape());
                assertArrayEquals(new int[] {3 * 128, 24}, sd.get("transformer.layers.1.0.to_qkv.weight").shape());
                assertFalse(sd.containsKey("transformer.layers.0.0.to_qkv.bias"), "vit-pytorch's qkv has no bias");
                assertArrayEquals(new int[] {24, 48}, sd.get("to_patch_embedding.2.weight").shape());

                WeightsFile wf = WeightsFile.read(file, null);
                assertEquals(WeightsFile.Kind.VIT_PYTORCH, wf.kind());
                assertEquals(model.config(), wf.config(), "config inferred from the shapes (heads from dim_head 64)");
                try (VisionTransformer back = wf.newModel(backend, file)) {
                    Map<String, Parameter> a = model.namedParameters(), b = back.namedParameters();
                    assertEquals(a.keySet(), b.keySet());
                    for (String name : a.keySet()) {
                        assertArrayEquals(backend.toArray(a.get(name).value()), backend.toArray(b.get(name).value()), name);
                    }
                }
            }
        }
    }

    /**
     * vit-pytorch flattens a patch as (p1 p2 c); vit4j as (c p1 p2). A patch LayerNorm weight
     * whose entries are their own vit-pytorch index must land at the vit4j index of the same
     * pixel and channel, and the projection's columns likewise.
     */
    @Test
    void patchFeaturesArePermutedBetweenTheTwoOrders() throws IOException {
        ViTConfig c = rgb(ViTConfig.Pool.CLS);
        int p = 4, ch = 3, f = ch * p * p;
        try (Backend backend = new CpuBackend(); VisionTransformer model = VisionTransformer.create(backend, c, 1)) {
            Map<String, SafeTensors.Entry> sd = new LinkedHashMap<>(VitPytorchWeights.export(model));
            float[] index = new float[f];
            float[] columns = new float[24 * f];
            for (int k = 0; k < f; k++) {
                index[k] = k;
                for (int r = 0; r < 24; r++) {
                    columns[r * f + k] = 1000 * r + k;
                }
            }
            sd.put("to_patch_embedding.1.weight", SafeTensors.Entry.f32(new int[] {f}, index));
            sd.put("to_patch_embedding.2.weight", SafeTensors.Entry.f32(new int[] {24, f}, columns));
            Map<String, SafeTensors.Entry> v = VitPytorchWeights.toVit4j(sd, c, Path.of("test"));
            float[] norm = v.get("patch_embed.pre_norm.weight").floats();
            float[] proj = v.get("patch_embed.proj.weight").floats();
            for (int cc = 0; cc < ch; cc++) {
                for (int y = 0; y < p; y++) {
                    for (int x = 0; x < p; x++) {
                        int ours = cc * p * p + y * p + x, theirs = (y * p + x) * ch + cc;
                        assertEquals(theirs, norm[ours], 0f, "channel " + cc + " pixel (" + y + ", " + x + ")");
                        assertEquals(5000 + theirs, proj[5 * f + ours], 0f, "projection row 5, channel " + cc);
                    }
                }
            }
            // and back
            model.namedParameters().get("patch_embed.pre_norm.weight").value();
            backend.upload(norm, model.namedParameters().get("patch_embed.pre_norm.weight").value());
            assertArrayEquals(index, VitPytorchWeights.export(model).get("to_patch_embedding.1.weight").floats());
        }
    }

    /** Embeddings without their leading 1 ([1, dim], [N, dim]), as some exporters write them, load too. */
    @Test
    void embeddingsWithoutTheLeadingOneLoad() throws IOException {
        ViTConfig c = rgb(ViTConfig.Pool.CLS);
        try (Backend backend = new CpuBackend(); VisionTransformer model = VisionTransformer.create(backend, c, 2)) {
            Map<String, SafeTensors.Entry> sd = new LinkedHashMap<>(VitPytorchWeights.export(model));
            sd.put("cls_token", SafeTensors.Entry.f32(new int[] {1, 24}, sd.get("cls_token").floats()));
            sd.put("pos_embedding", SafeTensors.Entry.f32(new int[] {17, 24}, sd.get("pos_embedding").floats()));
            assertEquals(c, VitPytorchWeights.inferConfig(sd, null, Path.of("x")));
            assertArrayEquals(backend.toArray(model.namedParameters().get("pos_embed").value()),
                    VitPytorchWeights.toVit4j(sd, c, Path.of("x")).get("pos_embed").floats());
        }
    }

    @Test
    void everyMismatchIsListedInVitPytorchNames() throws IOException {
        ViTConfig c = rgb(ViTConfig.Pool.CLS);
        try (Backend backend = new CpuBackend(); VisionTransformer model = VisionTransformer.create(backend, c, 2)) {
            Map<String, SafeTensors.Entry> sd = new LinkedHashMap<>(VitPytorchWeights.export(model));
            sd.remove("transformer.layers.1.1.net.4.bias");
            sd.put("transformer.layers.0.0.to_qkv.bias", SafeTensors.Entry.f32(new int[] {384}, new float[384]));
            sd.put("mlp_head.bias", SafeTensors.Entry.f32(new int[] {6}, new float[6]));
            IOException e = assertThrows(IOException.class, () -> VitPytorchWeights.toVit4j(sd, c, Path.of("m.safetensors")));
            String msg = e.getMessage();
            assertTrue(msg.contains("missing: transformer.layers.1.1.net.4.bias"), msg);
            assertTrue(msg.contains("unexpected: transformer.layers.0.0.to_qkv.bias"), msg);
            assertTrue(msg.contains("mlp_head.bias is F32[6], expected [5]"), msg);
            assertTrue(msg.startsWith("m.safetensors: "), msg);
            assertFalse(msg.contains("blocks."), "names the file's tensors, not vit4j's: " + msg);
        }
    }

    @Test
    void shapesThatDoNotTellAreReported() throws IOException {
        // 3 heads of 16: not vit-pytorch's default head width, so the heads must be given
        ViTConfig c = new ViTConfig(16, 4, 1, 3, 24, 1, 3, 40, 0f, ViTConfig.Pool.MEAN, ViTConfig.Head.LINEAR, false,
                ViTConfig.Arch.VIT_PYTORCH, 16, 0f);
        try (Backend backend = new CpuBackend(); VisionTransformer model = VisionTransformer.create(backend, c, 2)) {
            Map<String, SafeTensors.Entry> sd = new LinkedHashMap<>(VitPytorchWeights.export(model));
            IOException e = assertThrows(IOException.class, () -> VitPytorchWeights.inferConfig(sd, null, Path.of("h")));
            assertTrue(e.getMessage().contains("--heads"), e.getMessage());
            assertEquals(c, VitPytorchWeights.inferConfig(sd, 3, Path.of("h")));
            IOException odd = assertThrows(IOException.class, () -> VitPytorchWeights.inferConfig(sd, 5, Path.of("h")));
            assertTrue(odd.getMessage().contains("5 heads do not divide the attention width 48"), odd.getMessage());

            sd.put("to_patch_embedding.2.weight", SafeTensors.Entry.f32(new int[] {24, 50}, new float[24 * 50]));
            IOException px = assertThrows(IOException.class, () -> VitPytorchWeights.inferConfig(sd, 3, Path.of("h")));
            assertTrue(px.getMessage().contains("neither p*p grey nor 3*p*p RGB"), px.getMessage());
        }
    }

    /** One head as wide as the model: vit-pytorch has no to_out (project_out is off), and the heads are known. */
    @Test
    void attentionWithoutOutputProjection() throws IOException {
        ViTConfig c = new ViTConfig(8, 4, 1, 3, 16, 1, 1, 20, 0f, ViTConfig.Pool.CLS, ViTConfig.Head.LINEAR, false,
                ViTConfig.Arch.VIT_PYTORCH, 16, 0f);
        assertFalse(c.attentionProjection());
        try (Backend backend = new CpuBackend(); VisionTransformer model = VisionTransformer.create(backend, c, 4)) {
            Map<String, SafeTensors.Entry> sd = VitPytorchWeights.export(model);
            assertFalse(sd.containsKey("transformer.layers.0.0.to_out.0.weight"));
            assertEquals(c, VitPytorchWeights.inferConfig(sd, null, Path.of("p")));
        }
    }

    /** A vit-pytorch model has no timm counterpart, and a timm model no vit-pytorch one. */
    @Test
    void architecturesDoNotCross() {
        try (Backend backend = new CpuBackend();
             VisionTransformer vp = VisionTransformer.create(backend, rgb(ViTConfig.Pool.CLS), 1);
             VisionTransformer timm = VisionTransformer.create(backend,
                     new ViTConfig(16, 4, 3, 5, 24, 1, 2, 40, 0f, ViTConfig.Pool.CLS, ViTConfig.Head.LINEAR), 1)) {
            IllegalArgumentException a = assertThrows(IllegalArgumentException.class, () -> TimmWeights.export(vp));
            assertTrue(a.getMessage().contains("only arch=timm"), a.getMessage());
            IllegalArgumentException b = assertThrows(IllegalArgumentException.class, () -> VitPytorchWeights.export(timm));
            assertTrue(b.getMessage().contains("only arch=vit-pytorch"), b.getMessage());
        }
    }

    /** The same images through a model and through the one read back: the same logits, bit for bit. */
    @Test
    void readBackModelGivesTheSameLogits() throws IOException {
        ViTConfig c = rgb(ViTConfig.Pool.MEAN);
        try (Backend backend = new CpuBackend(); VisionTransformer model = VisionTransformer.create(backend, c, 9)) {
            Path file = dir.resolve("m.safetensors");
            VitPytorchWeights.write(file, model);
            try (VisionTransformer back = VitPytorchWeights.read(backend, file, null);
                 Tensor x = backend.allocate(DType.F32, Shape.of(2, 3, 16, 16))) {
                float[] images = new float[2 * 3 * 16 * 16];
                SplittableRandom r = new SplittableRandom(5);
                for (int i = 0; i < images.length; i++) {
                    images[i] = (float) r.nextGaussian();
                }
                backend.upload(images, x);
                model.train(false);
                back.train(false);
                assertArrayEquals(backend.toArray(model.forward(x)), backend.toArray(back.forward(x)));
            }
        }
    }
}
