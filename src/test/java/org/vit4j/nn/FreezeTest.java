package org.vit4j.nn;

import org.junit.jupiter.api.Test;
import org.vit4j.backend.Backend;
import org.vit4j.backend.cpu.CpuBackend;
import org.vit4j.tensor.DType;
import org.vit4j.tensor.Shape;
import org.vit4j.tensor.Tensor;

import java.util.Map;
import java.util.SplittableRandom;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Layer-wise freezing: frozen parameters get no gradient; the others get exactly the unfrozen model's. */
class FreezeTest {
    private static final ViTConfig CONFIG =
            new ViTConfig(8, 4, 3, 5, 16, 3, 2, 24, 0f, ViTConfig.Pool.CLS, ViTConfig.Head.LINEAR, true);

    @Test
    void frozenBlocksGetNoGradientAndTheRestTheSameAsUnfrozen() {
        for (int frozen = 1; frozen <= CONFIG.depth(); frozen++) {
            try (Backend backend = new CpuBackend();
                 VisionTransformer full = VisionTransformer.create(backend, CONFIG, 3);
                 VisionTransformer part = VisionTransformer.create(backend, CONFIG, 3);
                 Tensor x = backend.allocate(DType.F32, Shape.of(2, 3, 8, 8));
                 Tensor dy = backend.allocate(2, 5)) {
                part.freeze(frozen);
                SplittableRandom r = new SplittableRandom(frozen);
                backend.upload(gaussian(r, 2 * 3 * 8 * 8), x);
                backend.upload(gaussian(r, 10), dy);
                full.forward(x);
                full.backward(dy);
                part.forward(x);
                part.backward(dy);

                Map<String, Parameter> trainable = part.trainableParameters();
                Set<String> expectFrozen = new TreeSet<>(Set.of("cls_token", "dist_token", "pos_embed",
                        "patch_embed.proj.weight", "patch_embed.proj.bias"));
                for (String name : part.namedParameters().keySet()) {
                    if (name.startsWith("blocks.") && Integer.parseInt(name.split("\\.")[1]) < frozen) {
                        expectFrozen.add(name);
                    }
                }
                Set<String> actualFrozen = new TreeSet<>(part.namedParameters().keySet());
                actualFrozen.removeAll(trainable.keySet());
                assertEquals(expectFrozen, actualFrozen, "frozen with freeze(" + frozen + ")");

                int k = frozen;
                part.namedParameters().forEach((name, p) -> {
                    float[] g = backend.toArray(p.grad());
                    if (expectFrozen.contains(name)) {
                        assertArrayEquals(new float[g.length], g, name + " is frozen: no gradient");
                    } else {
                        assertArrayEquals(backend.toArray(full.namedParameters().get(name).grad()), g,
                                name + " with freeze(" + k + ") must get the unfrozen model's gradient");
                        assertTrue(maxAbs(g) > 0, name + " gradient is zero");
                    }
                });
            }
        }
    }

    @Test
    void freezingOutOfRangeIsRejected() {
        try (Backend backend = new CpuBackend();
             VisionTransformer model = new VisionTransformer(backend, CONFIG)) {
            assertThrows(IllegalArgumentException.class, () -> model.freeze(-1));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> model.freeze(4));
            assertTrue(e.getMessage().contains("0..3"), e.getMessage());
            model.freeze(0);
            assertEquals(model.namedParameters().keySet(), model.trainableParameters().keySet());
        }
    }

    private static float[] gaussian(SplittableRandom r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextGaussian();
        }
        return a;
    }

    private static double maxAbs(float[] a) {
        double m = 0;
        for (float v : a) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }
}
