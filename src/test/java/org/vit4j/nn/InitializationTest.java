package org.vit4j.nn;

import org.junit.jupiter.api.Test;
import org.vit4j.backend.Backend;
import org.vit4j.backend.cpu.CpuBackend;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Each architecture's initialisation: timm's truncated normal for timm; PyTorch's defaults for
 * vit-pytorch and the 2020 tutorial ViT (Linear weight and bias uniform in +-1/sqrt(fan_in),
 * LayerNorm ones and zeros, class token and position embedding N(0, 1)).
 *
 * <p>Statistical bounds, checked on a few dozen tensors: the sample mean within
 * {@code 5 sigma / sqrt(n)} of 0 and the sample standard deviation within {@code 5 sigma / sqrt(2n)}
 * of sigma (5 standard errors: a false alarm has probability below 1e-6 per check, while a
 * wrong distribution, e.g. std 0.02 for 1/sqrt(fan_in) or a normal for a uniform of the same
 * bound, misses by far more); the uniform's extremes reach within 5% of the bound for n >= 1000
 * (the chance they do not is below 1e-20).
 */
class InitializationTest {

    @Test
    void pytorchDefaultsForTheTutorialArchitectures() {
        for (ViTConfig c : new ViTConfig[] {ViTConfig.mnistTutorial(),
                new ViTConfig(28, 7, 1, 10, 64, 2, 8, 128, 0f, ViTConfig.Pool.MEAN, ViTConfig.Head.LINEAR, false,
                        ViTConfig.Arch.VIT_PYTORCH, 64, 0f)}) {
            try (Backend b = new CpuBackend(1); VisionTransformer m = VisionTransformer.create(b, c, 42)) {
                Map<String, Parameter> p = m.namedParameters();
                assertEquals(c.classToken(), p.containsKey("cls_token"), c.toString());
                normal(b, p.get("pos_embed"), 1.0, "pos_embed");
                if (c.classToken()) {
                    normal(b, p.get("cls_token"), 1.0, "cls_token");
                }
                p.forEach((name, param) -> {
                    float[] v = b.toArray(param.value());
                    if (name.contains("norm")) {
                        float want = name.endsWith(".weight") ? 1f : 0f;
                        for (float x : v) {
                            assertEquals(want, x, 0f, name);
                        }
                    } else if (name.contains(".")) {
                        Parameter w = name.endsWith(".bias") ? p.get(name.replace(".bias", ".weight")) : param;
                        double bound = 1 / Math.sqrt(w.shape().dim(1));
                        uniform(v, bound, name);
                    }
                });
                assertTrue(!p.containsKey("blocks.0.attn.qkv.bias"), "no qkv bias outside timm");
            }
        }
    }

    @Test
    void timmTruncatedNormal() {
        ViTConfig c = ViTConfig.mnistTimm();
        try (Backend b = new CpuBackend(1); VisionTransformer m = VisionTransformer.create(b, c, 42)) {
            m.namedParameters().forEach((name, param) -> {
                float[] v = b.toArray(param.value());
                if (name.endsWith(".bias")) {
                    for (float x : v) {
                        assertEquals(0f, x, 0f, name);
                    }
                } else if (name.contains("norm")) {
                    for (float x : v) {
                        assertEquals(1f, x, 0f, name);
                    }
                } else {
                    for (float x : v) {
                        assertTrue(Math.abs(x) <= 0.04f, name + ": " + x + " beyond the 2-std cut");
                    }
                    if (v.length >= 1000) {
                        // N(0, 0.02) cut at 2 std has std 0.02 * 0.8796
                        normal(v, 0.02 * 0.8796, name);
                    }
                }
            });
        }
    }

    private static void normal(Backend b, Parameter p, double sigma, String name) {
        normal(b.toArray(p.value()), sigma, name);
    }

    private static void normal(float[] v, double sigma, String name) {
        double mean = 0, sq = 0;
        for (float x : v) {
            mean += x;
        }
        mean /= v.length;
        for (float x : v) {
            sq += (x - mean) * (x - mean);
        }
        double std = Math.sqrt(sq / (v.length - 1));
        assertTrue(Math.abs(mean) <= 5 * sigma / Math.sqrt(v.length), name + ": mean " + mean);
        assertTrue(Math.abs(std - sigma) <= 5 * sigma / Math.sqrt(2.0 * v.length), name + ": std " + std + " vs " + sigma);
    }

    private static void uniform(float[] v, double bound, String name) {
        double max = 0;
        for (float x : v) {
            assertTrue(Math.abs(x) <= bound, name + ": " + x + " beyond +-" + bound);
            max = Math.max(max, Math.abs(x));
        }
        if (v.length >= 1000) {
            assertTrue(max >= 0.95 * bound, name + ": largest |w| " + max + " well inside +-" + bound);
            // U(-a, a) has std a / sqrt(3)
            normalStd(v, bound / Math.sqrt(3), name);
        }
    }

    /** The sample std against sigma (the uniform's: its std's standard error is smaller than a normal's). */
    private static void normalStd(float[] v, double sigma, String name) {
        double sq = 0;
        for (float x : v) {
            sq += x * (double) x;
        }
        double std = Math.sqrt(sq / v.length);
        assertTrue(Math.abs(std - sigma) <= 5 * sigma / Math.sqrt(2.0 * v.length), name + ": std " + std + " vs " + sigma);
    }
}
