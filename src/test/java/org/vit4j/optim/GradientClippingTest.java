package org.vit4j.optim;

import org.junit.jupiter.api.Test;
import org.vit4j.backend.Backend;
import org.vit4j.backend.cpu.CpuBackend;
import org.vit4j.nn.Parameter;
import org.vit4j.nn.ViTConfig;
import org.vit4j.nn.VisionTransformer;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Global-norm clipping as torch.nn.utils.clip_grad_norm_. */
class GradientClippingTest {
    /** Large enough (pos_embed, qkv, ...) that the backend's chunked, threaded sum is exercised. */
    private static final ViTConfig CONFIG =
            new ViTConfig(32, 4, 3, 10, 64, 2, 4, 128, 0f, ViTConfig.Pool.CLS, ViTConfig.Head.MLP);

    /** Random gradients of scale {@code scale}; returns them per parameter. */
    private static List<float[]> randomGrads(Backend backend, List<Parameter> params, double scale, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<float[]> grads = new ArrayList<>();
        for (Parameter p : params) {
            float[] g = new float[Math.toIntExact(p.shape().numel())];
            for (int i = 0; i < g.length; i++) {
                g[i] = (float) (scale * rnd.nextGaussian());
            }
            backend.upload(g, p.grad());
            grads.add(g);
        }
        return grads;
    }

    private static double norm(List<float[]> grads) {
        double sum = 0;
        for (float[] g : grads) {
            for (float x : g) {
                sum += (double) x * x;
            }
        }
        return Math.sqrt(sum);
    }

    @Test
    void aboveTheBoundScalesToTheBound() {
        try (Backend backend = new CpuBackend(2);
             VisionTransformer model = new VisionTransformer(backend, CONFIG)) {
            List<Parameter> params = model.parameters();
            List<float[]> grads = randomGrads(backend, params, 0.1, 1);
            double expectedNorm = norm(grads);
            assertEquals(true, expectedNorm > 10, "test setup: norm " + expectedNorm);

            double returned = GradientClipping.clipByGlobalNorm(backend, params, 1.0);
            assertEquals(expectedNorm, returned, 1e-12 * expectedNorm, "the norm before clipping");

            float coef = (float) (1.0 / (returned + 1e-6));
            List<float[]> after = new ArrayList<>();
            for (int k = 0; k < params.size(); k++) {
                float[] now = backend.toArray(params.get(k).grad());
                float[] old = grads.get(k);
                for (int i = 0; i < old.length; i++) {
                    assertEquals(Float.floatToIntBits(old[i] * coef), Float.floatToIntBits(now[i]),
                            "every gradient scaled by the same factor");
                }
                after.add(now);
            }
            assertEquals(1.0, norm(after), 1e-5, "norm after clipping");
        }
    }

    @Test
    void belowTheBoundIsUntouched() {
        try (Backend backend = new CpuBackend(2);
             VisionTransformer model = new VisionTransformer(backend, CONFIG)) {
            List<Parameter> params = model.parameters();
            List<float[]> grads = randomGrads(backend, params, 1e-4, 2);
            double expectedNorm = norm(grads);
            assertEquals(true, expectedNorm < 0.5, "test setup: norm " + expectedNorm);

            double returned = GradientClipping.clipByGlobalNorm(backend, params, 0.5);
            assertEquals(expectedNorm, returned, 1e-12 * expectedNorm);
            for (int k = 0; k < params.size(); k++) {
                float[] now = backend.toArray(params.get(k).grad());
                float[] old = grads.get(k);
                for (int i = 0; i < old.length; i++) {
                    assertEquals(Float.floatToIntBits(old[i]), Float.floatToIntBits(now[i]), "untouched");
                }
            }
        }
    }

    @Test
    void zeroGradientsStayZero() {
        try (Backend backend = new CpuBackend(2);
             VisionTransformer model = new VisionTransformer(backend, CONFIG)) {
            List<Parameter> params = model.parameters();
            params.forEach(p -> backend.fill(p.grad(), 0f));
            assertEquals(0.0, GradientClipping.clipByGlobalNorm(backend, params, 1.0));
            for (Parameter p : params) {
                for (float g : backend.toArray(p.grad())) {
                    assertEquals(0f, g);
                }
            }
        }
    }

    @Test
    void nonPositiveBoundThrows() {
        try (Backend backend = new CpuBackend(1);
             VisionTransformer model = new VisionTransformer(backend, CONFIG)) {
            List<Parameter> params = model.parameters();
            assertThrows(IllegalArgumentException.class, () -> GradientClipping.clipByGlobalNorm(backend, params, 0));
            assertThrows(IllegalArgumentException.class, () -> GradientClipping.clipByGlobalNorm(backend, params, -1));
            assertThrows(IllegalArgumentException.class, () -> GradientClipping.clipByGlobalNorm(backend, params, Double.NaN));
        }
    }
}
