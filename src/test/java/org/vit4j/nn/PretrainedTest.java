package org.vit4j.nn;

import org.junit.jupiter.api.Test;
import org.vit4j.backend.Backend;
import org.vit4j.backend.cpu.CpuBackend;
import org.vit4j.io.SafeTensors;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PretrainedTest {
    private static ViTConfig config(int classes, ViTConfig.Head head) {
        return new ViTConfig(16, 4, 1, classes, 16, 2, 2, 32, 0f, ViTConfig.Pool.CLS, head);
    }

    @Test
    void aNewClassCountReplacesOnlyTheHead() throws IOException {
        try (Backend backend = new CpuBackend();
             VisionTransformer source = VisionTransformer.create(backend, config(10, ViTConfig.Head.MLP), 1);
             VisionTransformer target = VisionTransformer.create(backend, config(5, ViTConfig.Head.MLP), 2)) {
            Map<String, SafeTensors.Entry> weights = new LinkedHashMap<>();
            source.namedParameters().forEach((name, p) ->
                    weights.put(name, SafeTensors.Entry.f32(p.shape().dims(), backend.toArray(p.value()))));
            float[] freshHead = backend.toArray(target.namedParameters().get("head.fc2.weight").value());

            List<String> replaced = Pretrained.load(target, weights, Path.of("src.safetensors"), true);

            assertEquals(List.of("head.fc2.weight", "head.fc2.bias"), replaced);
            assertArrayEquals(freshHead, backend.toArray(target.namedParameters().get("head.fc2.weight").value()),
                    "the replaced head keeps its fresh initialisation");
            for (String name : source.namedParameters().keySet()) {
                if (!replaced.contains(name)) {
                    assertArrayEquals(backend.toArray(source.namedParameters().get(name).value()),
                            backend.toArray(target.namedParameters().get(name).value()), name);
                }
            }
            // Without replaceHead the same mismatch is an error naming the tensors.
            IOException e = assertThrows(IOException.class,
                    () -> Pretrained.load(target, weights, Path.of("src.safetensors"), false));
            assertTrue(e.getMessage().contains("head.fc2.weight is F32[10, 32], expected F32[5, 32]"), e.getMessage());
            assertFalse(e.getMessage().contains("head.fc1"), e.getMessage());
        }
    }

    @Test
    void resetHeadStartsTheHeadAfreshForTheSameClassCount() throws IOException {
        try (Backend backend = new CpuBackend();
             VisionTransformer source = VisionTransformer.create(backend, config(5, ViTConfig.Head.LINEAR), 1);
             VisionTransformer target = VisionTransformer.create(backend, config(5, ViTConfig.Head.LINEAR), 2)) {
            Map<String, SafeTensors.Entry> weights = new LinkedHashMap<>();
            source.namedParameters().forEach((name, p) ->
                    weights.put(name, SafeTensors.Entry.f32(p.shape().dims(), backend.toArray(p.value()))));
            float[] freshHead = backend.toArray(target.namedParameters().get("head.weight").value());
            List<String> replaced = Pretrained.load(target, weights, Path.of("src.safetensors"), true, true);
            assertEquals(List.of("head.weight", "head.bias"), replaced);
            assertArrayEquals(freshHead, backend.toArray(target.namedParameters().get("head.weight").value()));
            assertArrayEquals(backend.toArray(source.namedParameters().get("norm.weight").value()),
                    backend.toArray(target.namedParameters().get("norm.weight").value()), "the rest is loaded");
        }
    }

    @Test
    void checkpointTensorsLoseTheirModelPrefix() {
        Map<String, SafeTensors.Entry> ckpt = new LinkedHashMap<>();
        ckpt.put("model.cls_token", SafeTensors.Entry.f32(new int[] {2}, new float[2]));
        ckpt.put("optim.m.cls_token", SafeTensors.Entry.f32(new int[] {2}, new float[2]));
        assertEquals(List.of("cls_token"), List.copyOf(Pretrained.fromCheckpoint(ckpt).keySet()));
    }
}
