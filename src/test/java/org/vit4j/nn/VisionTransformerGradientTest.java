package org.vit4j.nn;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.vit4j.backend.Backend;
import org.vit4j.backend.GradCheck;
import org.vit4j.backend.cpu.CpuBackend;
import org.vit4j.optim.AdamW;
import org.vit4j.train.Distillation;
import org.vit4j.tensor.DType;
import org.vit4j.tensor.Shape;
import org.vit4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The whole Vision Transformer's parameter gradients against central finite differences of an
 * independent double-precision model ({@link DoubleViT}) of the same network and loss, on tiny
 * configurations where every element of every parameter can be differenced.
 *
 * <p>The weights are <em>not</em> timm's initialisation (std 0.02 weights, zero biases, unit
 * LayerNorms make most terms vanish or linearise): every parameter is a seeded Gaussian of
 * a size that keeps activations O(1) and attention non-uniform, so that every term of every
 * backward formula contributes. The float model gets these values; the double model gets the same
 * float values widened, so the two compute the same function up to float32 rounding.
 *
 * <p><b>Metric.</b> Per tensor, {@link GradCheck#relErr}: {@code max_i |float_i - ref_i| / max(max_i |ref_i|, 1e-3)};
 * every reference gradient is asserted to reach 1e-3, so the floor never masks an error.
 */
class VisionTransformerGradientTest {
    /**
     * Tolerance on logits. The float forward rounds each op's output to float32 (unit roundoff
     * 6e-8) through ~6 ops per block and 2 blocks, with reductions of length at most 48, so
     * the logits carry a few 1e-7 relative error; measured worst 3.3e-7 over all cases (the loss:
     * 1e-7). 1e-5 is a >30x margin and far below any wrong formula (which errs by O(1e-2..1)).
     */
    private static final double LOGITS_TOL = 1e-5;

    /**
     * Tolerance on every parameter gradient tensor. The float backward is compared against the
     * exact derivative of the double model, so the error is float32 rounding of forward and
     * backward (a few 1e-7 per op, amplified by cancellation in LayerNorm's and softmax's
     * backward, where a small result is the difference of O(1) terms); the finite difference itself
     * is accurate to ~1e-9 (truncation h^2 ~ 1e-12, round-off 1e-16 * |L| / h ~ 1e-10 absolute
     * against gradients of 3e-2..1). Measured worst 2.1e-6 over all ~11,500 parameter elements of the
     * six cases (see the table printed after the run), matching GoldenPyTorchTest's 1.2e-6 against
     * PyTorch. 2e-5 (as there) leaves a ~10x margin for other summation orders (BLAS choice, thread
     * count) and is still orders of magnitude below what a missing term, a skipped dropout backward or
     * a dropped residual gradient produces (measured by mutating the model: 1e-1..1).
     */
    private static final double GRAD_TOL = 2e-5;

    /** Each tensor's true gradient must reach this somewhere, else the check would be vacuous. */
    private static final double MIN_REF_GRAD = 1e-3;

    /** Relative finite-difference step: {@code h = H_REL * max(1, |x|)}. */
    private static final double H_REL = 1e-6;

    private static final List<String> TABLE = new ArrayList<>();

    /** A configuration to check: architecture, batch, label smoothing, training (dropout) mode. */
    record Case(String name, ViTConfig config, int batch, float smoothing, boolean training, long seed,
                boolean distill) {
        Case(String name, ViTConfig config, int batch, float smoothing, boolean training, long seed) {
            this(name, config, batch, smoothing, training, seed, false);
        }

        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<Case> cases() {
        return Stream.of(
                // 4 patches of 3x4x4 = 48 features, 4 heads of 3, MLP head, cls pool
                new Case("i8p4c3 d12h4m10 cls/mlp ls0.1",
                        new ViTConfig(8, 4, 3, 5, 12, 2, 4, 10, 0f, ViTConfig.Pool.CLS, ViTConfig.Head.MLP),
                        3, 0.1f, false, 11),
                // grey, 2 heads of 4, mean pool, LayerNorm + Linear head
                new Case("i8p4c1 d8h2m16 mean/linear ls0",
                        new ViTConfig(8, 4, 1, 3, 8, 2, 2, 16, 0f, ViTConfig.Pool.MEAN, ViTConfig.Head.LINEAR),
                        3, 0f, false, 12),
                // 6x6 image, 3x3 patches (27 features), heads of 6, odd MLP width
                new Case("i6p3c3 d12h2m9 mean/linear ls0.1",
                        new ViTConfig(6, 3, 3, 4, 12, 2, 2, 9, 0f, ViTConfig.Pool.MEAN, ViTConfig.Head.LINEAR),
                        3, 0.1f, false, 13),
                // heads of 2, odd MLP width 7
                new Case("i6p3c1 d8h4m7 cls/mlp ls0",
                        new ViTConfig(6, 3, 1, 3, 8, 2, 4, 7, 0f, ViTConfig.Pool.CLS, ViTConfig.Head.MLP),
                        3, 0f, false, 14),
                // a dropout model in evaluation mode: must be the dropout-free function
                new Case("i8p4c3 d12h4m10 mean/mlp ls0.1 p0.3 eval",
                        new ViTConfig(8, 4, 3, 4, 12, 2, 4, 10, 0.3f, ViTConfig.Pool.MEAN, ViTConfig.Head.MLP),
                        3, 0.1f, false, 15),
                // training mode with dropout: the double model applies the same masks; 16 patches
                new Case("i8p2c1 d8h2m10 cls/linear ls0.1 p0.25 train",
                        new ViTConfig(8, 2, 1, 4, 8, 2, 2, 10, 0.25f, ViTConfig.Pool.CLS, ViTConfig.Head.LINEAR),
                        3, 0.1f, true, 16),
                // DeiT: distillation token, both heads averaged (inference output), plain cross-entropy
                new Case("i8p4c3 d12h4m10 distilled mean-of-heads ls0.1",
                        new ViTConfig(8, 4, 3, 5, 12, 2, 4, 10, 0f, ViTConfig.Pool.CLS, ViTConfig.Head.LINEAR, true),
                        3, 0.1f, false, 17),
                // DeiT hard distillation: each head its own loss, with dropout in training mode
                new Case("i8p4c1 d8h2m10 distilled hard-distillation ls0.1 p0.2 train",
                        new ViTConfig(8, 4, 1, 4, 8, 2, 2, 10, 0.2f, ViTConfig.Pool.CLS, ViTConfig.Head.LINEAR, true),
                        3, 0.1f, true, 18, true),
                // vit-pytorch: patch LayerNorms, no qkv bias, 3 heads of 5 (15 wide for a model of 12),
                // final LayerNorm on every token, class token pooled into a Linear head
                new Case("vit-pytorch i8p4c3 d12h3dh5m10 cls ls0.1",
                        new ViTConfig(8, 4, 3, 5, 12, 2, 3, 10, 0f, ViTConfig.Pool.CLS, ViTConfig.Head.LINEAR, false,
                                ViTConfig.Arch.VIT_PYTORCH, 5, 0f), 3, 0.1f, false, 19),
                // vit-pytorch mean pool: no class token, mean over every token; dropout and embedding
                // dropout in training mode
                new Case("vit-pytorch i8p4c1 d8h2dh6m10 mean p0.2 emb0.1 train",
                        new ViTConfig(8, 4, 1, 4, 8, 2, 2, 10, 0.2f, ViTConfig.Pool.MEAN, ViTConfig.Head.LINEAR, false,
                                ViTConfig.Arch.VIT_PYTORCH, 6, 0.1f), 3, 0f, true, 20),
                // vit-pytorch with one head as wide as the model: no output projection (project_out)
                new Case("vit-pytorch i6p3c1 d8h1dh8m7 mean no-proj",
                        new ViTConfig(6, 3, 1, 3, 8, 2, 1, 7, 0f, ViTConfig.Pool.MEAN, ViTConfig.Head.LINEAR, false,
                                ViTConfig.Arch.VIT_PYTORCH, 8, 0f), 3, 0f, false, 21),
                // the 2020 tutorial ViT: no qkv bias, scores scaled by dim^-0.5, LayerNorm eps 1e-5, MLP head
                new Case("tutorial-2020 i8p4c3 d12h4m10 cls/mlp",
                        new ViTConfig(8, 4, 3, 5, 12, 2, 4, 10, 0f, ViTConfig.Pool.CLS, ViTConfig.Head.MLP, false,
                                ViTConfig.Arch.TUTORIAL_2020, 3, 0f), 3, 0f, false, 22),
                // timm with an embedding dropout other than the blocks' dropout, in training mode
                new Case("i8p2c1 d8h2m10 cls/linear p0.1 emb0.3 train",
                        new ViTConfig(8, 2, 1, 4, 8, 2, 2, 10, 0.1f, ViTConfig.Pool.CLS, ViTConfig.Head.LINEAR, false,
                                ViTConfig.Arch.TIMM, 4, 0.3f), 3, 0.1f, true, 23));
    }

    // ================================================================= gradient check

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void parameterGradientsMatchDoubleFiniteDifferences(Case c) {
        try (Fixture f = new Fixture(c.config(), c.batch(), c.seed())) {
            f.model.train(c.training());
            f.model.dropoutSeeds().setStepSeed(0x5EED0000L + c.seed());
            for (Map.Entry<String, Parameter> e : f.model.namedParameters().entrySet()) {
                assertEquals(0.0, maxAbs(f.backend.toArray(e.getValue().grad())), "fresh gradient of " + e.getKey());
            }
            float[] logits = c.distill() ? f.distillationStep(c.smoothing()) : f.step(c.smoothing());
            double floatLoss = f.loss;

            DoubleViT ref = new DoubleViT(c.config(), c.training() ? dropoutSeeds(f.model) : null);
            Map<String, double[]> p = f.doubleParams();
            double[] images = widen(f.images);
            double smoothing = c.smoothing(); // the float value, widened: both compute the same function
            double[] refLogits = ref.logits(p, images, c.batch());
            if (c.distill()) {
                refLogits = ref.headLogits(p, images, c.batch())[0];   // distillation training returns the class head
            }
            double logitsErr = GradCheck.relErr(widen(logits), refLogits);
            assertTrue(logitsErr <= LOGITS_TOL, () -> String.format(Locale.ROOT,
                    "%s: logits relative error %.3e > %.1e", c, logitsErr, LOGITS_TOL));
            java.util.function.ToDoubleFunction<Map<String, double[]>> lossOf = c.distill()
                    ? q -> ref.distillationLoss(q, images, f.labels, f.teacherLabels, smoothing, Fixture.ALPHA)
                    : q -> ref.loss(q, images, f.labels, smoothing);
            double refLoss = lossOf.applyAsDouble(p);
            double lossErr = Math.abs(floatLoss - refLoss) / Math.abs(refLoss);
            assertTrue(lossErr <= LOGITS_TOL, c + ": loss " + floatLoss + " vs double " + refLoss);

            double worst = 0, smallestRef = Double.POSITIVE_INFINITY;
            String worstName = "", smallestName = "";
            long elements = 0;
            List<String> failures = new ArrayList<>();
            for (Map.Entry<String, Parameter> e : f.model.namedParameters().entrySet()) {
                String name = e.getKey();
                float[] grad = f.backend.toArray(e.getValue().grad());
                double[] fd = finiteDifference(lossOf, p, name);
                elements += fd.length;
                double refMax = maxAbs(fd);
                double err = GradCheck.relErr(widen(grad), fd);
                if (!(maxAbs(grad) > 0)) {
                    failures.add(name + ": gradient is identically zero (or NaN)");
                }
                if (!(refMax >= MIN_REF_GRAD)) {
                    failures.add(String.format(Locale.ROOT, "%s: reference gradient only reaches %.2e: the check"
                            + " would be vacuous; choose other weights", name, refMax));
                }
                if (!(err <= GRAD_TOL)) {
                    int w = GradCheck.worst(widen(grad), fd);
                    failures.add(String.format(Locale.ROOT, "%s %s: relative error %.3e > %.1e; worst element %d:"
                                    + " float %.8g, double FD %.8g (max |FD| %.4g)",
                            name, e.getValue().shape(), err, GRAD_TOL, w, grad[w], fd[w], refMax));
                }
                if (err > worst || Double.isNaN(err)) {
                    worst = err;
                    worstName = name;
                }
                if (refMax < smallestRef) {
                    smallestRef = refMax;
                    smallestName = name;
                }
            }
            String row = String.format(Locale.ROOT,
                    "%-44s params %5d  logits %.2e  loss %.2e  worst grad %.2e (%s)  smallest max|grad| %.1e (%s)",
                    c, elements, logitsErr, lossErr, worst, worstName, smallestRef, smallestName);
            synchronized (TABLE) {
                TABLE.add(row);
            }
            if (!failures.isEmpty()) {
                fail(c + ": " + failures.size() + " gradient tensor(s) wrong:\n  " + String.join("\n  ", failures));
            }
        }
    }

    @AfterAll
    static void printTable() {
        System.out.println("---- VisionTransformer gradients vs double finite differences"
                + " (max-norm relative error per tensor, worst per config) ----");
        TABLE.forEach(System.out::println);
    }

    /** Central differences of the double loss with respect to every element of {@code p[name]}. */
    private static double[] finiteDifference(java.util.function.ToDoubleFunction<Map<String, double[]>> loss,
                                             Map<String, double[]> p, String name) {
        double[] x = p.get(name);
        double[] g = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double x0 = x[i];
            double h = H_REL * Math.max(1.0, Math.abs(x0));
            double xp = x0 + h, xm = x0 - h;
            x[i] = xp;
            double lp = loss.applyAsDouble(p);
            x[i] = xm;
            double lm = loss.applyAsDouble(p);
            x[i] = x0;
            g[i] = (lp - lm) / (xp - xm);
        }
        return g;
    }

    // ================================================================= gradient accumulation

    /**
     * The documented convention: gradients start at zero, every backward adds into them (a second
     * backward of the same batch doubles them, a third forward/backward triples them: gradient
     * accumulation), and the optimizer step zeroes them.
     */
    @Test
    void backwardAddsIntoParameterGradientsAndTheOptimizerZeroesThem() {
        ViTConfig config = new ViTConfig(8, 4, 3, 5, 12, 2, 4, 10, 0f, ViTConfig.Pool.MEAN, ViTConfig.Head.LINEAR);
        try (Fixture f = new Fixture(config, 3, 21)) {
            f.model.train(false);
            Map<String, Parameter> params = f.model.namedParameters();
            params.forEach((name, p) -> assertEquals(0.0, maxAbs(f.backend.toArray(p.grad())), "fresh " + name));

            f.step(0.1f);
            Map<String, float[]> once = grads(f);
            once.forEach((name, g) -> assertTrue(maxAbs(g) > 0, name + " gradient is identically zero"));

            f.model.backward(f.dLogits);                   // same batch again, without a new forward
            assertMultiple(once, grads(f), 2, "after a second backward");
            f.step(0.1f);                                  // forward + backward once more
            assertMultiple(once, grads(f), 3, "after a third forward/backward");

            try (AdamW opt = AdamW.withDefaults(f.backend, params, 0.05f)) {
                opt.step(1e-3f);
            }
            params.forEach((name, p) -> assertEquals(0.0, maxAbs(f.backend.toArray(p.grad())),
                    "gradient of " + name + " after the optimizer step"));
        }
    }

    private static Map<String, float[]> grads(Fixture f) {
        Map<String, float[]> out = new LinkedHashMap<>();
        f.model.namedParameters().forEach((name, p) -> out.put(name, f.backend.toArray(p.grad())));
        return out;
    }

    /** {@code actual == k * once} per tensor, to float rounding of the accumulation. */
    private static void assertMultiple(Map<String, float[]> once, Map<String, float[]> actual, int k, String when) {
        once.forEach((name, g) -> {
            double[] expected = new double[g.length];
            for (int i = 0; i < g.length; i++) {
                expected[i] = (double) k * g[i];
            }
            double err = GradCheck.relErr(widen(actual.get(name)), expected);
            assertTrue(err <= 1e-6, () -> String.format(Locale.ROOT, "%s: gradient of %s is not %d x the"
                            + " single-batch gradient (relative error %.3e; first elements %s vs %s)", when, name, k, err,
                    actual.get(name)[0], expected[0]));
        });
    }

    // ================================================================= dropout modes

    /**
     * Dropout acts in training mode only: in evaluation mode a dropout model is exactly the
     * dropout-free model with the same weights (logits and gradients bit for bit), while in training
     * mode its output differs, is reproducible for a step seed and changes with it.
     */
    @Test
    void dropoutActsInTrainingModeOnly() {
        ViTConfig noDrop = new ViTConfig(8, 4, 3, 4, 12, 2, 4, 10, 0f, ViTConfig.Pool.CLS, ViTConfig.Head.LINEAR);
        ViTConfig drop = new ViTConfig(8, 4, 3, 4, 12, 2, 4, 10, 0.3f, ViTConfig.Pool.CLS, ViTConfig.Head.LINEAR);
        try (Fixture plain = new Fixture(noDrop, 3, 31);
             Fixture f = new Fixture(drop, 3, 31)) {
            plain.model.train(false);
            float[] reference = plain.step(0.1f);
            Map<String, float[]> referenceGrads = grads(plain);

            f.model.train(false);
            f.model.dropoutSeeds().setStepSeed(7);
            float[] eval = f.step(0.1f);
            assertArrayEquals(reference, eval, 0f, "eval-mode logits must equal the dropout-free model's");
            Map<String, float[]> evalGrads = grads(f);
            referenceGrads.forEach((name, g) -> assertArrayEquals(g, evalGrads.get(name), 0f,
                    "eval-mode gradient of " + name + " must equal the dropout-free model's"));

            f.model.train(true);
            assertTrue(f.model.isTraining());
            float[] train1 = f.logits();
            double change = maxAbsDiff(train1, eval) / maxAbs(eval);
            assertTrue(change > 1e-2, "training-mode logits barely differ from eval (relative " + change + ")");
            assertArrayEquals(train1, f.logits(), 0f, "training mode with the same step seed must repeat");
            f.model.dropoutSeeds().setStepSeed(8);
            float[] train2 = f.logits();
            assertTrue(maxAbsDiff(train1, train2) / maxAbs(train1) > 1e-2, "a new step seed must draw new masks");

            f.model.train(false);
            assertFalse(f.model.isTraining());
            assertArrayEquals(reference, f.logits(), 0f, "back in eval mode, dropout must be the identity again");
        }
    }

    // ================================================================= fixture

    /** A CPU model with seeded Gaussian weights and one batch of Gaussian images. */
    private static final class Fixture implements AutoCloseable {
        static final float ALPHA = 0.3f;  // not 1/2, so that swapping the two terms is caught
        final Backend backend = new CpuBackend();
        final VisionTransformer model;
        final Map<String, float[]> values = new LinkedHashMap<>();
        final float[] images;
        final int[] labels;
        final int[] teacherLabels;
        final Tensor x;
        final Tensor y;
        final Tensor losses;
        final Tensor dLogits;
        double loss;

        Fixture(ViTConfig c, int batch, long seed) {
            model = new VisionTransformer(backend, c);
            Random rnd = new Random(seed);
            model.namedParameters().forEach((name, p) -> {
                float[] v = randomParameter(name, p.shape(), rnd);
                backend.upload(v, p.value());
                values.put(name, v);
            });
            images = gaussian(rnd, batch * c.channels() * c.imageSize() * c.imageSize(), 1.0, 0.0);
            labels = new int[batch];
            for (int b = 0; b < batch; b++) {
                labels[b] = (b + rnd.nextInt(c.numClasses())) % c.numClasses();
            }
            teacherLabels = new int[batch];
            for (int b = 0; b < batch; b++) {
                teacherLabels[b] = (labels[b] + 1 + rnd.nextInt(c.numClasses() - 1)) % c.numClasses();
            }
            x = backend.allocate(DType.F32, Shape.of(batch, c.channels(), c.imageSize(), c.imageSize()));
            y = backend.allocate(DType.I32, Shape.of(batch));
            losses = backend.allocate(batch);
            dLogits = backend.allocate(batch, c.numClasses());
            backend.upload(images, x);
            backend.upload(labels, y);
        }

        float[] logits() {
            return backend.toArray(model.forward(x));
        }

        /** forward, mean cross-entropy (scale 1/B), backward; returns the logits. */
        float[] step(float smoothing) {
            int batch = labels.length;
            Tensor logits = model.forward(x);
            backend.crossEntropyForward(logits, y, smoothing, losses);
            double s = 0;
            for (float l : backend.toArray(losses)) {
                s += l;
            }
            loss = s / batch;
            backend.crossEntropyBackward(logits, y, smoothing, 1f / batch, dLogits);
            float[] out = backend.toArray(logits);
            model.backward(dLogits);
            return out;
        }

        /**
         * A hard-distillation step through {@link Distillation}, the trainer's code path, with a
         * teacher predicting {@link #teacherLabels}; returns the class head's logits.
         */
        float[] distillationStep(float smoothing) {
            int batch = labels.length;
            org.vit4j.data.Batch b = new org.vit4j.data.Batch(images, labels, batch, null);
            try (Distillation d = new Distillation(backend, (bt, imgs, out) ->
                    System.arraycopy(teacherLabels, 0, out, 0, bt.size()), ALPHA, batch, model.config().numClasses())) {
                model.distillationTraining(true);
                Tensor logits = model.forward(x);
                float[] out = backend.toArray(logits);
                loss = d.lossAndBackward(model, b, x, y, smoothing, logits, losses, new float[batch], dLogits);
                model.distillationTraining(false);
                return out;
            }
        }

        Map<String, double[]> doubleParams() {
            Map<String, double[]> out = new LinkedHashMap<>();
            values.forEach((name, v) -> out.put(name, widen(v)));
            return out;
        }

        @Override
        public void close() {
            x.close();
            y.close();
            losses.close();
            dLogits.close();
            model.close();
            backend.close();
        }
    }

    /**
     * Weights ~ N(0, 1/fan_in) (unit-variance outputs, so attention scores are O(1) and softmax is
     * far from uniform, GELU inputs straddle its curved part); biases ~ N(0, 0.2^2); LayerNorm gains
     * 1 + N(0, 0.25^2) and shifts N(0, 0.2^2); class token and position embedding N(0, 0.5^2).
     */
    private static float[] randomParameter(String name, Shape shape, Random rnd) {
        int n = Math.toIntExact(shape.numel());
        boolean norm = name.contains("norm");    // norm.*, blocks.*.norm1, patch_embed.pre_norm, ...
        if (name.equals("cls_token") || name.equals("dist_token") || name.equals("pos_embed")) {
            return gaussian(rnd, n, 0.5, 0.0);
        } else if (norm && name.endsWith(".weight")) {
            return gaussian(rnd, n, 0.25, 1.0);
        } else if (name.endsWith(".bias")) {
            return gaussian(rnd, n, 0.2, 0.0);
        } else if (name.endsWith(".weight") && shape.rank() == 2) {
            return gaussian(rnd, n, 1.0 / Math.sqrt(shape.dim(1)), 0.0);
        }
        throw new IllegalStateException("no initialisation rule for parameter " + name + " " + shape);
    }

    // ================================================================= dropout seeds

    /** The seed each dropout layer of {@code model} draws for the coming forward, by module path. */
    private static java.util.function.ToLongFunction<String> dropoutSeeds(VisionTransformer model) {
        Map<String, Module> modules = model.namedModules();
        return path -> {
            if (!(modules.get(path) instanceof Dropout d)) {
                throw new IllegalArgumentException("no dropout layer " + path + " among " + modules.keySet());
            }
            return model.dropoutSeeds().seedFor(d.layerId());
        };
    }

    // ================================================================= arrays and metrics

    private static float[] gaussian(Random rnd, int n, double std, double mean) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (mean + std * rnd.nextGaussian());
        }
        return a;
    }

    private static double[] widen(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i];
        }
        return d;
    }

    private static double maxAbs(double[] a) {
        double m = 0;
        for (double v : a) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    /** Max |a_i|; NaN if any element is NaN (so {@code > 0} checks fail on NaN). */
    private static double maxAbs(float[] a) {
        double m = 0;
        for (float v : a) {
            if (Float.isNaN(v)) {
                return Double.NaN;
            }
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    private static double maxAbsDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs((double) a[i] - b[i]));
        }
        return m;
    }
}
