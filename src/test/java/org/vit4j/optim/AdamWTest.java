package org.vit4j.optim;

import org.junit.jupiter.api.Test;
import org.vit4j.backend.Backend;
import org.vit4j.backend.cpu.CpuBackend;
import org.vit4j.nn.Linear;
import org.vit4j.nn.Parameter;
import org.vit4j.nn.ViTConfig;
import org.vit4j.nn.VisionTransformer;
import org.vit4j.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** AdamW: PyTorch's update, decoupled weight decay only where timm applies it, zeroed gradients. */
class AdamWTest {
    /** Both heads' layouts: blocks (norm1/2, qkv, proj, fc1/2), final norm and Linear head. */
    private static final ViTConfig LINEAR_HEAD =
            new ViTConfig(8, 4, 1, 3, 8, 2, 2, 16, 0f, ViTConfig.Pool.CLS, ViTConfig.Head.LINEAR);
    private static final ViTConfig MLP_HEAD =
            new ViTConfig(8, 4, 3, 3, 8, 1, 2, 16, 0f, ViTConfig.Pool.MEAN, ViTConfig.Head.MLP);

    /** timm's rule: decay weight matrices (every Linear's weight), not biases, norms or embeddings. */
    private static boolean timmDecays(String name) {
        return name.endsWith(".weight") && !name.contains("norm");
    }

    private static float[] values(Backend backend, Tensor t) {
        return backend.toArray(t);
    }

    @Test
    void weightDecayFlagsFollowTimm() {
        for (ViTConfig c : new ViTConfig[] {LINEAR_HEAD, MLP_HEAD}) {
            try (Backend backend = new CpuBackend(1);
                 VisionTransformer model = VisionTransformer.create(backend, c, 1)) {
                Map<String, Parameter> params = model.namedParameters();
                int decayed = 0;
                for (Map.Entry<String, Parameter> e : params.entrySet()) {
                    assertEquals(timmDecays(e.getKey()), e.getValue().weightDecay(), e.getKey());
                    decayed += e.getValue().weightDecay() ? 1 : 0;
                }
                assertFalse(params.get("cls_token").weightDecay());
                assertFalse(params.get("pos_embed").weightDecay());
                assertTrue(params.get("patch_embed.proj.weight").weightDecay());
                assertFalse(params.get("patch_embed.proj.bias").weightDecay());
                assertTrue(params.get("blocks.0.attn.qkv.weight").weightDecay());
                assertFalse(params.get("blocks.0.norm1.weight").weightDecay());
                assertFalse(params.get("blocks.0.mlp.fc1.bias").weightDecay());
                // patch_embed + per block (qkv, proj, fc1, fc2) + head (1 or 2 Linears)
                int heads = c.head() == ViTConfig.Head.LINEAR ? 1 : 2;
                assertEquals(1 + 4 * c.depth() + heads, decayed, c.toString());
            }
        }
    }

    /**
     * With zero gradients Adam's update is exactly 0 (m = v = 0, so 0 / (0 + eps)), and only the
     * decoupled decay acts: parameters that ask for decay shrink by exactly {@code 1 - lr * wd},
     * the others do not move by a single bit. Two steps, to check it compounds.
     */
    @Test
    void zeroGradientsOnlyDecayTheDecayedParameters() {
        float lr = 0.01f, wd = 0.3f;
        float factor = 1f - lr * wd;
        for (ViTConfig c : new ViTConfig[] {LINEAR_HEAD, MLP_HEAD}) {
            try (Backend backend = new CpuBackend(2);
                 VisionTransformer model = VisionTransformer.create(backend, c, 3);
                 AdamW adamw = AdamW.withDefaults(backend, model.namedParameters(), wd)) {
                // Non-zero biases and norms too, so "unchanged" is not trivially true for zeros.
                java.util.SplittableRandom rnd = new java.util.SplittableRandom(4);
                Map<String, float[]> before = new LinkedHashMap<>();
                for (Map.Entry<String, Parameter> e : model.namedParameters().entrySet()) {
                    float[] v = values(backend, e.getValue().value());
                    for (int i = 0; i < v.length; i++) {
                        v[i] += (float) rnd.nextGaussian();
                    }
                    backend.upload(v, e.getValue().value());
                    backend.fill(e.getValue().grad(), 0f);
                    before.put(e.getKey(), v);
                }
                adamw.step(lr);
                adamw.step(lr);
                assertEquals(2, adamw.stepCount());
                for (Map.Entry<String, Parameter> e : model.namedParameters().entrySet()) {
                    float[] old = before.get(e.getKey());
                    float[] now = values(backend, e.getValue().value());
                    boolean decays = timmDecays(e.getKey());
                    for (int i = 0; i < old.length; i++) {
                        float expected = decays ? old[i] * factor * factor : old[i];
                        assertEquals(Float.floatToIntBits(expected), Float.floatToIntBits(now[i]),
                                e.getKey() + "[" + i + "]: " + old[i] + " -> " + now[i] + ", expected " + expected);
                    }
                    for (float m : values(backend, adamw.firstMoments().get(e.getKey()))) {
                        assertEquals(0f, m);
                    }
                    for (float v : values(backend, adamw.secondMoments().get(e.getKey()))) {
                        assertEquals(0f, v);
                    }
                }
            }
        }
    }

    /** A double-precision torch.optim.AdamW over three steps, gradients changing each step. */
    @Test
    void matchesTorchAdamWFormula() {
        float lr = 0.05f, beta1 = 0.8f, beta2 = 0.95f, eps = 1e-6f, wd = 0.1f;
        try (Backend backend = new CpuBackend(1);
             Linear layer = new Linear(backend, 3, 2, true)) {
            Map<String, Parameter> params = layer.namedParameters();
            Parameter w = params.get("weight"), b = params.get("bias");
            float[] w0 = {0.5f, -1.25f, 2f, 0f, 3f, -0.1f};
            float[] b0 = {0.75f, -0.5f};
            backend.upload(w0, w.value());
            backend.upload(b0, b.value());
            double[] pw = toDouble(w0), pb = toDouble(b0);
            double[] mw = new double[6], vw = new double[6], mb = new double[2], vb = new double[2];
            float[][] gradsW = {{1, -2, 0.5f, 0, 1e-3f, -4}, {-1, -2, 0.25f, 3, 0, 4}, {0.1f, 0.2f, 0.3f, -0.4f, -0.5f, 0.6f}};
            float[][] gradsB = {{0.3f, -0.7f}, {0, 2}, {-1, 1}};
            try (AdamW adamw = new AdamW(backend, params, beta1, beta2, eps, wd)) {
                for (int t = 1; t <= 3; t++) {
                    backend.upload(gradsW[t - 1], w.grad());
                    backend.upload(gradsB[t - 1], b.grad());
                    adamw.step(lr);
                    reference(pw, mw, vw, gradsW[t - 1], lr, beta1, beta2, eps, wd, t);
                    reference(pb, mb, vb, gradsB[t - 1], lr, beta1, beta2, eps, 0, t);   // biases: no decay
                    assertClose(pw, values(backend, w.value()), "weight after step " + t);
                    assertClose(pb, values(backend, b.value()), "bias after step " + t);
                    assertClose(mw, values(backend, adamw.firstMoments().get("weight")), "m after step " + t);
                    assertClose(vw, values(backend, adamw.secondMoments().get("weight")), "v after step " + t);
                    for (float g : values(backend, w.grad())) {
                        assertEquals(0f, g, "the step zeroes the gradients it consumed");
                    }
                    for (float g : values(backend, b.grad())) {
                        assertEquals(0f, g);
                    }
                }
                assertEquals(3, adamw.stepCount());
            }
        }
    }

    /** Adam's first step moves every element by lr * sign(g) (bias correction makes m/sqrt(v) = g/|g|). */
    @Test
    void firstStepMovesByTheLearningRate() {
        try (Backend backend = new CpuBackend(1);
             Linear layer = new Linear(backend, 4, 1, false)) {
            Parameter w = layer.namedParameters().get("weight");
            backend.upload(new float[] {1, 1, 1, 1}, w.value());
            backend.upload(new float[] {1e-3f, -5f, 200f, -0.5f}, w.grad());
            try (AdamW adam = AdamW.withDefaults(backend, layer.namedParameters(), 0f)) {
                adam.step(0.01f);
                float[] p = values(backend, w.value());
                assertEquals(0.99, p[0], 1e-5);
                assertEquals(1.01, p[1], 1e-6);
                assertEquals(0.99, p[2], 1e-6);
                assertEquals(1.01, p[3], 1e-6);
            }
        }
    }

    @Test
    void stepCountCanBeRestored() {
        try (Backend backend = new CpuBackend(1);
             Linear layer = new Linear(backend, 2, 2, true);
             AdamW adam = AdamW.withDefaults(backend, layer.namedParameters(), 0f)) {
            assertEquals(0, adam.stepCount());
            adam.setStepCount(41);
            adam.step(1e-3f);
            assertEquals(42, adam.stepCount());
            assertEquals(layer.namedParameters().keySet(), adam.firstMoments().keySet());
            assertEquals(layer.namedParameters().keySet(), adam.secondMoments().keySet());
        }
    }

    @Test
    void badHyperparametersThrow() {
        try (Backend backend = new CpuBackend(1);
             Linear layer = new Linear(backend, 2, 2, true)) {
            Map<String, Parameter> p = layer.namedParameters();
            assertThrows(IllegalArgumentException.class, () -> new AdamW(backend, p, 1f, 0.999f, 1e-8f, 0f));
            assertThrows(IllegalArgumentException.class, () -> new AdamW(backend, p, -0.1f, 0.999f, 1e-8f, 0f));
            assertThrows(IllegalArgumentException.class, () -> new AdamW(backend, p, 0.9f, 1f, 1e-8f, 0f));
            assertThrows(IllegalArgumentException.class, () -> new AdamW(backend, p, 0.9f, Float.NaN, 1e-8f, 0f));
            assertThrows(IllegalArgumentException.class, () -> new AdamW(backend, p, 0.9f, 0.999f, 0f, 0f));
            assertThrows(IllegalArgumentException.class, () -> new AdamW(backend, p, 0.9f, 0.999f, 1e-8f, -0.01f));
            assertThrows(IllegalArgumentException.class, () -> new AdamW(backend, p, 0.9f, 0.999f, 1e-8f, Float.NaN));
        }
    }

    private static void reference(double[] p, double[] m, double[] v, float[] g, double lr, double beta1, double beta2,
                                  double eps, double wd, int t) {
        double bc1 = 1 - Math.pow(beta1, t), bc2 = 1 - Math.pow(beta2, t);
        for (int i = 0; i < p.length; i++) {
            p[i] *= 1 - lr * wd;
            m[i] = beta1 * m[i] + (1 - beta1) * g[i];
            v[i] = beta2 * v[i] + (1 - beta2) * (double) g[i] * g[i];
            p[i] -= lr / bc1 * m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + eps);
        }
    }

    private static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    private static void assertClose(double[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], 1e-6 * (1 + Math.abs(expected[i])), what + " [" + i + "]");
        }
    }
}
