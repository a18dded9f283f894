package org.vit4j.backend;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.vit4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static org.vit4j.backend.GradCheck.assertClose;
import static org.vit4j.backend.GradCheck.diff;
import static org.vit4j.backend.GradCheck.dot;
import static org.vit4j.backend.GradCheck.gaussian;
import static org.vit4j.backend.GradCheck.nan;
import static org.vit4j.backend.GradCheck.pick;
import static org.vit4j.backend.GradCheck.product;
import static org.vit4j.backend.GradCheck.requireFinite;
import static org.vit4j.backend.GradCheck.toDouble;

/**
 * Forward and gradient checks of every differentiable {@link Backend} op against the
 * double-precision {@link DoubleReference}, written against the interface only: a backend's test
 * class extends this and supplies {@link #createBackend()}.
 *
 * <p><b>Forward check.</b> The backend's float32 output vs the double reference evaluated on the
 * same (float-representable) inputs, by the max-norm relative error of {@link GradCheck}. Output
 * tensors are NaN-poisoned before the call, so an element an op forgets to write fails.
 *
 * <p><b>Backward check.</b> With a random projection {@code R} of the output, the objective
 * {@code L = sum(out * R)} is evaluated by the double reference and differentiated by central
 * differences with respect to every input and parameter element (a random subset of 400 for
 * tensors over 2500 elements); the backend's backward, called with {@code dOut = R}, must match.
 * Written gradients are NaN-poisoned first; accumulated gradients (dWeight, dBias, dGamma, dBeta,
 * dCls, dPos) are pre-filled with random values and the check is on {@code after - before}, then
 * backward is called a second time and must add the same gradient again.
 *
 * <p><b>Tolerances.</b> float32 has unit round-off {@code u = 6e-8}; a length-K reduction in float
 * has worst-case relative error about {@code K u} and typically {@code sqrt(K) u}.
 * <ul>
 *   <li>{@link #FWD_TOL} = 1e-5: forward reductions here have {@code K <= 64} (linear {@code in},
 *       LayerNorm {@code C}, attention {@code N*hd/heads}), so {@code K u <= 4e-6}; 1e-5 still
 *       catches the tanh GELU approximation (~3e-4), a one-pass {@code E[x^2]-E[x]^2} variance on
 *       offset data, a wrong scale or an off-by-one.</li>
 *   <li>{@link #BWD_TOL} = 1e-4: backward reductions are longer (dWeight sums over up to 35 rows of
 *       64-wide products, attention sums over {@code N*hd}, LayerNorm backward nests two
 *       length-C reductions), {@code K u} up to about 4e-5; the finite-difference error is below
 *       1e-8. Any conceptual bug (missing term, wrong transpose, wrong sign) gives O(1) error.</li>
 *   <li>Attention with deliberately huge scores (|s| ~ 100, to test softmax overflow handling) is
 *       ill-conditioned: float rounding of a score is ~ {@code |s| sqrt(hd) u ~ 3e-5} absolute,
 *       which perturbs softmax weights by that relative amount, so that case uses 1e-4 forward and
 *       1e-3 backward.</li>
 * </ul>
 */
public abstract class BackendGradientTestBase extends BackendTestSupport {

    static final double FWD_TOL = 1e-5;
    static final double BWD_TOL = 1e-4;
    static final double FWD_TOL_ILL = 1e-4;
    static final double BWD_TOL_ILL = 1e-3;

    private static int[] withLast(int[] dims, int last) {
        int[] d = dims.clone();
        d[d.length - 1] = last;
        return d;
    }

    // ================================================================= backward checking

    /** Finite-difference gradient of the objective w.r.t. {@code inputs[input]} at {@code idx}. */
    @FunctionalInterface
    interface Reference {
        double[] gradient(int input, int[] idx);
    }

    static Reference byFiniteDifference(GradCheck.Objective objective, double[][] inputs) {
        return (input, idx) -> GradCheck.finiteDifference(objective, inputs, input, idx);
    }

    /** A gradient the backward pass writes, compared with the gradient w.r.t. {@code inputs[input]}. */
    record Written(String name, Tensor tensor, int input) {
    }

    /** A gradient the backward pass adds into, pre-filled with {@code prefill}. */
    record Accumulated(String name, Tensor tensor, float[] prefill, int input) {
    }

    protected Accumulated accumulated(String name, Random rnd, int input, int... dims) {
        float[] pre = gaussian(rnd, product(dims));
        return new Accumulated(name, tensor(pre, dims), pre, input);
    }

    /**
     * Runs {@code backward} twice. After the first call every written gradient (NaN-poisoned
     * before) and every accumulated gradient ({@code after - prefill}) must match the reference;
     * the second call (written gradients poisoned again) must write the same values and add the
     * same gradient once more.
     */
    protected void checkBackward(String label, String op, Runnable backward, Reference ref, int[] inputSizes,
                                 Random rnd, List<Written> written, List<Accumulated> acc, double tol) {
        Map<Integer, int[]> idx = new HashMap<>();
        Map<Integer, double[]> expected = new HashMap<>();
        java.util.function.IntFunction<int[]> indices =
                in -> idx.computeIfAbsent(in, k -> GradCheck.indices(inputSizes[k], rnd));
        java.util.function.IntFunction<double[]> grad =
                in -> expected.computeIfAbsent(in, k -> ref.gradient(k, indices.apply(k)));

        for (Written w : written) {
            backend.upload(nan(Math.toIntExact(w.tensor.numel())), w.tensor);
        }
        backward.run();
        float[][] firstWritten = new float[written.size()][];
        for (int k = 0; k < written.size(); k++) {
            Written w = written.get(k);
            float[] g = get(w.tensor);
            requireFinite(label + " " + op + " " + w.name, g);
            assertClose(label, op, w.name, pick(g, indices.apply(w.input)), grad.apply(w.input), tol);
            firstWritten[k] = g;
        }
        float[][] firstAcc = new float[acc.size()][];
        for (int k = 0; k < acc.size(); k++) {
            Accumulated a = acc.get(k);
            float[] after = get(a.tensor);
            requireFinite(label + " " + op + " " + a.name, after);
            assertClose(label + " (accumulated onto random prefill)", op, a.name,
                    pick(diff(after, a.prefill), indices.apply(a.input)), grad.apply(a.input), tol);
            firstAcc[k] = after;
        }

        for (Written w : written) {
            backend.upload(nan(Math.toIntExact(w.tensor.numel())), w.tensor);
        }
        backward.run();
        for (int k = 0; k < written.size(); k++) {
            Written w = written.get(k);
            float[] g = get(w.tensor);
            requireFinite(label + " 2nd backward call " + op + " " + w.name, g);
            assertClose(label + " (2nd backward call must write the same)", op, w.name + " repeat",
                    toDouble(g), toDouble(firstWritten[k]), tol);
        }
        for (int k = 0; k < acc.size(); k++) {
            Accumulated a = acc.get(k);
            float[] after = get(a.tensor);
            requireFinite(label + " 2nd backward call " + op + " " + a.name, after);
            assertClose(label + " (2nd backward call must add again)", op, a.name,
                    pick(diff(after, firstAcc[k]), indices.apply(a.input)), grad.apply(a.input), tol);
        }
    }

    // ================================================================= linear

    record LinearCase(int[] xDims, int out, boolean bias, boolean dx, long seed) {
        @Override
        public String toString() {
            return "x" + Arrays.toString(xDims) + " out=" + out + (bias ? " bias" : " no-bias")
                    + (dx ? "" : " dx=null");
        }
    }

    static Stream<LinearCase> linearCases() {
        return Stream.of(
                new LinearCase(new int[]{1, 1}, 1, true, true, 101),
                new LinearCase(new int[]{3, 5}, 7, true, true, 102),
                new LinearCase(new int[]{17, 7}, 5, false, true, 103),
                new LinearCase(new int[]{35, 64}, 13, true, false, 104),
                new LinearCase(new int[]{35, 64}, 13, false, true, 105),
                new LinearCase(new int[]{2, 3, 5}, 4, true, true, 106),
                new LinearCase(new int[]{17, 1}, 64, true, true, 107),
                new LinearCase(new int[]{1, 64}, 1, false, false, 108),
                // Enough rows and work per row that multi-threaded backends split the GEMMs
                // (including the long-k weight-gradient product) into several chunks.
                new LinearCase(new int[]{130, 40}, 72, true, true, 109),
                new LinearCase(new int[]{2, 150, 24}, 33, true, true, 110));
    }

    @ParameterizedTest(name = "linear {0}")
    @MethodSource("linearCases")
    void linear(LinearCase c) {
        Random rnd = new Random(c.seed);
        int in = c.xDims[c.xDims.length - 1];
        int rows = product(c.xDims) / in;
        int out = c.out;
        float[] x = gaussian(rnd, rows * in);
        float[] w = gaussian(rnd, out * in);
        float[] b = c.bias ? gaussian(rnd, out) : new float[0];
        Tensor tx = tensor(x, c.xDims);
        Tensor tw = tensor(w, out, in);
        Tensor tb = c.bias ? tensor(b, out) : null;
        int[] yDims = withLast(c.xDims, out);
        Tensor ty = poisoned(yDims);

        double[][] inputs = {toDouble(x), toDouble(w), toDouble(b)};
        java.util.function.Function<double[][], double[]> ref =
                v -> DoubleReference.linear(v[0], v[1], c.bias ? v[2] : null, rows, in, out);

        backend.linearForward(tx, tw, tb, ty);
        String label = "linear " + c;
        assertClose(label, "linear", "y", get(ty), ref.apply(inputs), FWD_TOL);

        float[] r = gaussian(rnd, rows * out);
        double[] rd = toDouble(r);
        Tensor tdy = tensor(r, yDims);
        Tensor tdx = c.dx ? poisoned(c.xDims) : null;
        Accumulated dW = accumulated("dWeight", rnd, 1, out, in);
        Accumulated dB = c.bias ? accumulated("dBias", rnd, 2, out) : null;
        List<Written> written = new ArrayList<>();
        if (c.dx) {
            written.add(new Written("dx", tdx, 0));
        }
        List<Accumulated> acc = new ArrayList<>(List.of(dW));
        if (dB != null) {
            acc.add(dB);
        }
        checkBackward(label, "linear", () -> backend.linearBackward(tdy, tx, tw, tdx, dW.tensor(),
                        dB == null ? null : dB.tensor()),
                byFiniteDifference(v -> dot(ref.apply(v), rd), inputs),
                new int[]{x.length, w.length, b.length}, rnd, written, acc, BWD_TOL);
    }

    // ================================================================= layer norm

    record LayerNormCase(int[] dims, float eps, double offset, long seed) {
        @Override
        public String toString() {
            return "x" + Arrays.toString(dims) + " eps=" + eps + (offset != 0 ? " offset=" + offset : "");
        }
    }

    static Stream<LayerNormCase> layerNormCases() {
        return Stream.of(
                new LayerNormCase(new int[]{1, 1}, 1e-5f, 0, 201),
                new LayerNormCase(new int[]{4, 1}, 1e-5f, 0, 202),
                new LayerNormCase(new int[]{3, 5}, 1e-5f, 0, 203),
                new LayerNormCase(new int[]{17, 7}, 1e-6f, 0, 204),
                new LayerNormCase(new int[]{35, 64}, 1e-5f, 0, 205),
                new LayerNormCase(new int[]{2, 3, 7}, 1e-5f, 0, 206),
                new LayerNormCase(new int[]{1, 64}, 1e-5f, 0, 207),
                // Data far from zero: a one-pass E[x^2] - E[x]^2 variance loses ~1e-4 here.
                new LayerNormCase(new int[]{5, 64}, 1e-5f, 30, 208));
    }

    @ParameterizedTest(name = "layerNorm {0}")
    @MethodSource("layerNormCases")
    void layerNorm(LayerNormCase c) {
        Random rnd = new Random(c.seed);
        int ch = c.dims[c.dims.length - 1];
        int rows = product(c.dims) / ch;
        float[] x = gaussian(rnd, rows * ch, 1.0, c.offset);
        float[] g = gaussian(rnd, ch, 0.5, 1.0);
        float[] b = gaussian(rnd, ch, 0.5, 0.0);
        Tensor tx = tensor(x, c.dims);
        Tensor tg = tensor(g, ch);
        Tensor tb = tensor(b, ch);
        Tensor ty = poisoned(c.dims);
        Tensor tmean = poisoned(rows);
        Tensor trstd = poisoned(rows);
        double[][] inputs = {toDouble(x), toDouble(g), toDouble(b)};
        double eps = c.eps; // the float eps the backend sees, widened exactly

        backend.layerNormForward(tx, tg, tb, c.eps, ty, tmean, trstd);
        String label = "layerNorm " + c;
        DoubleReference.LayerNorm expected = DoubleReference.layerNorm(inputs[0], inputs[1], inputs[2], eps, rows, ch);
        assertClose(label, "layerNorm", "y", get(ty), expected.y(), FWD_TOL);
        assertClose(label, "layerNorm", "mean", get(tmean), expected.mean(), FWD_TOL);
        assertClose(label, "layerNorm", "rstd", get(trstd), expected.rstd(), FWD_TOL);

        float[] r = gaussian(rnd, rows * ch);
        double[] rd = toDouble(r);
        Tensor tdy = tensor(r, c.dims);
        Tensor tdx = poisoned(c.dims);
        Accumulated dG = accumulated("dGamma", rnd, 1, ch);
        Accumulated dB = accumulated("dBeta", rnd, 2, ch);
        checkBackward(label, "layerNorm",
                () -> backend.layerNormBackward(tdy, tx, tg, tmean, trstd, tdx, dG.tensor(), dB.tensor()),
                byFiniteDifference(v -> dot(DoubleReference.layerNorm(v[0], v[1], v[2], eps, rows, ch).y(), rd), inputs),
                new int[]{x.length, g.length, b.length}, rnd,
                List.of(new Written("dx", tdx, 0)), List.of(dG, dB), BWD_TOL);
    }

    // ================================================================= GELU

    record GeluCase(int[] dims, double std, long seed) {
        @Override
        public String toString() {
            return "x" + Arrays.toString(dims) + " std=" + std;
        }
    }

    static Stream<GeluCase> geluCases() {
        return Stream.of(
                new GeluCase(new int[]{1, 1}, 1, 301),
                new GeluCase(new int[]{3, 5}, 1, 302),
                new GeluCase(new int[]{17, 7}, 2, 303),
                new GeluCase(new int[]{35, 64}, 3, 304),
                new GeluCase(new int[]{2, 3, 5}, 1, 305),
                new GeluCase(new int[]{70, 129}, 2, 306));
    }

    /** Values in the tails and around zero, placed at the front of larger inputs. */
    private static final float[] GELU_SPECIALS = {
            0f, 1e-4f, -1e-4f, 0.5f, -0.5f, 1f, -1f, 2.5f, -2.5f, 4f, -4f, 6f, -6f, 9f, -9f};

    @ParameterizedTest(name = "gelu {0}")
    @MethodSource("geluCases")
    void gelu(GeluCase c) {
        Random rnd = new Random(c.seed);
        int n = product(c.dims);
        float[] x = gaussian(rnd, n, c.std, 0.0);
        if (n >= GELU_SPECIALS.length) {
            System.arraycopy(GELU_SPECIALS, 0, x, 0, GELU_SPECIALS.length);
        }
        Tensor tx = tensor(x, c.dims);
        Tensor ty = poisoned(c.dims);
        backend.geluForward(tx, ty);
        String label = "gelu " + c;
        double[] expected = new double[n];
        for (int i = 0; i < n; i++) {
            expected[i] = DoubleReference.gelu(x[i]);
        }
        assertClose(label, "gelu", "y", get(ty), expected, FWD_TOL);

        float[] r = gaussian(rnd, n);
        Tensor tdy = tensor(r, c.dims);
        Tensor tdx = poisoned(c.dims);
        double[] xd = toDouble(x);
        // L = sum_i r_i gelu(x_i) is separable, so its central difference w.r.t. x_i needs only
        // gelu at x_i +- h (the same difference quotient as the generic one, without the O(n^2) cost).
        Reference ref = (input, idx) -> {
            double[] g = new double[idx.length];
            for (int k = 0; k < idx.length; k++) {
                double x0 = xd[idx[k]];
                double h = GradCheck.H_REL * Math.max(1.0, Math.abs(x0));
                double xp = x0 + h;
                double xm = x0 - h;
                g[k] = r[idx[k]] * (DoubleReference.gelu(xp) - DoubleReference.gelu(xm)) / (xp - xm);
            }
            return g;
        };
        checkBackward(label, "gelu", () -> backend.geluBackward(tdy, tx, tdx), ref, new int[]{n}, rnd,
                List.of(new Written("dx", tdx, 0)), List.of(), BWD_TOL);
    }

    // ================================================================= attention

    /**
     * {@code scale} 0: the op's default {@code 1/sqrt(hd)} (the overload without a scale); else
     * passed explicitly. {@code dropout} > 0: attention-weight dropout with mask seed {@code seed}.
     */
    record AttentionCase(int batch, int tokens, int heads, int headDim, double std, long seed, float scale,
                         float dropout) {
        AttentionCase(int batch, int tokens, int heads, int headDim, double std, long seed) {
            this(batch, tokens, heads, headDim, std, seed, 0f, 0f);
        }

        AttentionCase(int batch, int tokens, int heads, int headDim, double std, long seed, float scale) {
            this(batch, tokens, heads, headDim, std, seed, scale, 0f);
        }

        @Override
        public String toString() {
            return "B=" + batch + " N=" + tokens + " heads=" + heads + " hd=" + headDim
                    + (std != 1 ? " std=" + std : "") + (scale != 0 ? " scale=" + scale : "")
                    + (dropout != 0 ? " dropout=" + dropout : "");
        }

        boolean illConditioned() {
            return std > 2;
        }
    }

    static Stream<AttentionCase> attentionCases() {
        return Stream.of(
                new AttentionCase(1, 1, 1, 1, 1, 401),
                new AttentionCase(1, 5, 2, 3, 1, 402),
                new AttentionCase(3, 5, 4, 1, 1, 403),
                new AttentionCase(3, 17, 2, 8, 1, 404),
                new AttentionCase(1, 17, 4, 16, 1, 405),
                new AttentionCase(3, 1, 2, 16, 1, 406),
                new AttentionCase(1, 5, 1, 16, 1, 407),
                new AttentionCase(3, 17, 4, 3, 1, 408),
                new AttentionCase(1, 17, 1, 8, 1.5, 409),
                // Scores up to ~100: exp overflows float32 unless the row max is subtracted.
                new AttentionCase(1, 17, 2, 16, 6, 410),
                // Longer sequences. On the CPU backend these (and N=17 hd=16 above) take the GEMM
                // path (CpuBackend.attentionPath: N >= 8, hd >= 2, N*hd >= 160); the other cases
                // the per-lane path.
                new AttentionCase(2, 65, 2, 4, 1, 411),
                new AttentionCase(2, 40, 3, 5, 1, 412),
                new AttentionCase(3, 48, 1, 7, 1, 413),
                new AttentionCase(1, 65, 2, 16, 6, 414),
                // Explicit scales. The 2020 tutorial ViT scales by dim^-0.5 = 1/8 with 8 heads of 8
                // (per-lane path), and one on the GEMM path (dim 16, 2 heads of 8: 1/4, not 1/sqrt 8).
                new AttentionCase(2, 17, 8, 8, 1, 415, 0.125f),
                new AttentionCase(2, 40, 2, 8, 1, 416, 0.25f),
                // vit-pytorch: the attention is heads * dim_head wide whatever the model's width, e.g.
                // the tutorial's call with its default dim_head 64 (512 wide for dim 64), and dim_head 16
                // with 3 heads over 16 tokens (a mean-pooling model has no class token).
                new AttentionCase(1, 17, 8, 64, 1, 417, 0.125f),
                new AttentionCase(2, 16, 3, 16, 1, 418, 0.25f),
                // A scale above 1 (sharper softmax), to catch a scale applied twice or not at all.
                new AttentionCase(1, 9, 2, 4, 1, 419, 1.3f),
                // Dropout on the attention weights (vit-pytorch's): per-lane and GEMM paths on the CPU,
                // every head-width class of the CUDA kernel (hd 1, 8, 16, 32, 64).
                new AttentionCase(2, 17, 8, 8, 1, 420, 0.125f, 0.3f),
                new AttentionCase(3, 5, 4, 1, 1, 421, 1f, 0.5f),
                new AttentionCase(2, 40, 2, 8, 1, 422, 0.25f, 0.25f),
                new AttentionCase(2, 17, 2, 32, 1, 423, 0.177f, 0.2f),
                new AttentionCase(1, 17, 8, 64, 1, 424, 0.125f, 0.1f),
                new AttentionCase(1, 65, 2, 16, 1, 425, 0.25f, 0.2f));
    }

    @ParameterizedTest(name = "attention {0}")
    @MethodSource("attentionCases")
    void attention(AttentionCase c) {
        Random rnd = new Random(c.seed);
        int b = c.batch, n = c.tokens, heads = c.heads, d = heads * c.headDim;
        float[] qkv = gaussian(rnd, b * n * 3 * d, c.std, 0.0);
        Tensor tqkv = tensor(qkv, b, n, 3 * d);
        Tensor tout = poisoned(b, n, d);
        Tensor tlse = poisoned(b, heads, n);
        double[][] inputs = {toDouble(qkv)};
        double fwdTol = c.illConditioned() ? FWD_TOL_ILL : FWD_TOL;
        double bwdTol = c.illConditioned() ? BWD_TOL_ILL : BWD_TOL;

        long maskSeed = 0x5EEDL * c.seed;
        if (c.scale == 0) {
            backend.attentionForward(tqkv, heads, tout, tlse);
        } else if (c.dropout == 0) {
            backend.attentionForward(tqkv, heads, c.scale, tout, tlse);
        } else {
            backend.attentionForward(tqkv, heads, c.scale, c.dropout, maskSeed, tout, tlse);
        }
        String label = "attention " + c;
        double scale = c.scale == 0 ? 1.0 / Math.sqrt(c.headDim) : c.scale;   // the float scale, widened
        DoubleReference.Attention expected = DoubleReference.attention(inputs[0], b, n, d, heads, scale, c.dropout,
                maskSeed);
        assertClose(label, "attention", "out", get(tout), expected.out(), fwdTol);
        assertClose(label, "attention", "lse", get(tlse), expected.lse(), fwdTol);

        float[] r = gaussian(rnd, b * n * d);
        double[] rd = toDouble(r);
        Tensor tdout = tensor(r, b, n, d);
        Tensor tdqkv = poisoned(b, n, 3 * d);
        checkBackward(label, "attention",
                () -> {
                    if (c.scale == 0) {
                        backend.attentionBackward(tdout, tqkv, tout, tlse, heads, tdqkv);
                    } else if (c.dropout == 0) {
                        backend.attentionBackward(tdout, tqkv, tout, tlse, heads, c.scale, tdqkv);
                    } else {
                        backend.attentionBackward(tdout, tqkv, tout, tlse, heads, c.scale, c.dropout, maskSeed, tdqkv);
                    }
                },
                byFiniteDifference(v -> dot(DoubleReference.attention(v[0], b, n, d, heads, scale, c.dropout, maskSeed)
                        .out(), rd), inputs),
                new int[]{qkv.length}, rnd, List.of(new Written("dqkv", tdqkv, 0)), List.of(), bwdTol);
    }

    // ================================================================= cross-entropy

    record CrossEntropyCase(int batch, int classes, float smoothing, float scale, double std, long seed) {
        @Override
        public String toString() {
            return "B=" + batch + " C=" + classes + " smoothing=" + smoothing + " scale=" + scale
                    + (std != 2 ? " std=" + std : "");
        }
    }

    static Stream<CrossEntropyCase> crossEntropyCases() {
        return Stream.of(
                new CrossEntropyCase(1, 2, 0f, 1f, 2, 501),
                new CrossEntropyCase(1, 2, 0.1f, 1f, 2, 502),
                new CrossEntropyCase(4, 10, 0f, 0.25f, 2, 503),
                new CrossEntropyCase(4, 10, 0.1f, 0.25f, 2, 504),
                new CrossEntropyCase(9, 13, 0f, 1f / 9, 2, 505),
                new CrossEntropyCase(9, 13, 0.1f, 1f / 9, 2, 506),
                new CrossEntropyCase(5, 13, 0.1f, 0.37f, 2, 507),
                // Logits up to ~150: exp overflows float32 unless the row max is subtracted.
                new CrossEntropyCase(6, 10, 0.1f, 1f / 6, 40, 508));
    }

    @ParameterizedTest(name = "crossEntropy {0}")
    @MethodSource("crossEntropyCases")
    void crossEntropy(CrossEntropyCase c) {
        Random rnd = new Random(c.seed);
        int b = c.batch, k = c.classes;
        float[] z = gaussian(rnd, b * k, c.std, 0.0);
        int[] y = new int[b];
        for (int i = 0; i < b; i++) {
            y[i] = i == 0 ? k - 1 : i == 1 ? 0 : rnd.nextInt(k);
        }
        Tensor tz = tensor(z, b, k);
        Tensor ty = labels(y);
        Tensor tloss = poisoned(b);
        double[][] inputs = {toDouble(z)};
        double s = c.smoothing;

        backend.crossEntropyForward(tz, ty, c.smoothing, tloss);
        String label = "crossEntropy " + c;
        assertClose(label, "crossEntropy", "loss", get(tloss),
                DoubleReference.crossEntropy(inputs[0], y, s, b, k), FWD_TOL);

        Tensor tdz = poisoned(b, k);
        double scale = c.scale;
        checkBackward(label, "crossEntropy",
                () -> backend.crossEntropyBackward(tz, ty, c.smoothing, c.scale, tdz),
                byFiniteDifference(v -> scale * Arrays.stream(DoubleReference.crossEntropy(v[0], y, s, b, k)).sum(),
                        inputs),
                new int[]{z.length}, rnd, List.of(new Written("dlogits", tdz, 0)), List.of(), BWD_TOL);
    }

    // ================================================================= patchify

    record PatchifyCase(int batch, int channels, int height, int width, int patch, long seed) {
        @Override
        public String toString() {
            return "images[" + batch + ", " + channels + ", " + height + ", " + width + "] patch=" + patch;
        }
    }

    static Stream<PatchifyCase> patchifyCases() {
        return Stream.of(
                new PatchifyCase(1, 1, 4, 4, 2, 601),
                new PatchifyCase(2, 3, 12, 12, 4, 602),
                new PatchifyCase(1, 3, 12, 12, 2, 603),
                new PatchifyCase(2, 1, 4, 4, 4, 604),
                new PatchifyCase(1, 3, 8, 12, 4, 605),
                new PatchifyCase(2, 3, 4, 12, 2, 606),
                new PatchifyCase(1, 2, 12, 4, 4, 607),
                new PatchifyCase(3, 1, 6, 9, 3, 608));
    }

    @ParameterizedTest(name = "patchify {0}")
    @MethodSource("patchifyCases")
    void patchify(PatchifyCase c) {
        Random rnd = new Random(c.seed);
        int b = c.batch, ch = c.channels, h = c.height, w = c.width, p = c.patch;
        int np = (h / p) * (w / p), feat = ch * p * p;
        float[] img = gaussian(rnd, b * ch * h * w);
        Tensor timg = tensor(img, b, ch, h, w);
        Tensor tpatches = poisoned(b, np, feat);
        double[][] inputs = {toDouble(img)};

        backend.patchifyForward(timg, p, tpatches);
        String label = "patchify " + c;
        // A pure permutation: must be bit-exact.
        assertClose(label, "patchify", "patches", get(tpatches),
                DoubleReference.patchify(inputs[0], b, ch, h, w, p), 0.0);

        float[] r = gaussian(rnd, b * np * feat);
        double[] rd = toDouble(r);
        Tensor tdp = tensor(r, b, np, feat);
        Tensor tdimg = poisoned(b, ch, h, w);
        checkBackward(label, "patchify", () -> backend.patchifyBackward(tdp, p, tdimg),
                byFiniteDifference(v -> dot(DoubleReference.patchify(v[0], b, ch, h, w, p), rd), inputs),
                new int[]{img.length}, rnd, List.of(new Written("dImages", tdimg, 0)), List.of(), BWD_TOL);
    }

    // ================================================================= tokens

    record TokensCase(int batch, int patches, int dim, long seed) {
        @Override
        public String toString() {
            return "B=" + batch + " P=" + patches + " D=" + dim;
        }
    }

    static Stream<TokensCase> tokensCases() {
        return Stream.of(
                new TokensCase(1, 1, 1, 701),
                new TokensCase(3, 4, 5, 702),
                new TokensCase(2, 16, 7, 703),
                new TokensCase(1, 9, 64, 704));
    }

    /** cls is {@code [D]} and pos {@code [P+1, D]} (the shapes CpuBackend requires; the contract does not say). */
    @ParameterizedTest(name = "tokens {0}")
    @MethodSource("tokensCases")
    void tokens(TokensCase c) {
        Random rnd = new Random(c.seed);
        int b = c.batch, p = c.patches, d = c.dim, n = p + 1;
        float[] pt = gaussian(rnd, b * p * d);
        float[] cls = gaussian(rnd, d);
        float[] pos = gaussian(rnd, n * d);
        Tensor tpt = tensor(pt, b, p, d);
        Tensor tcls = tensor(cls, d);
        Tensor tpos = tensor(pos, n, d);
        Tensor tout = poisoned(b, n, d);
        double[][] inputs = {toDouble(pt), toDouble(cls), toDouble(pos)};

        backend.tokensForward(tpt, tcls, tpos, tout);
        String label = "tokens " + c;
        // One float addition per element: within half an ulp of the exact sum.
        assertClose(label, "tokens", "out", get(tout), DoubleReference.tokens(inputs[0], inputs[1], inputs[2], b, p, d),
                FWD_TOL);

        float[] r = gaussian(rnd, b * n * d);
        double[] rd = toDouble(r);
        Tensor tdout = tensor(r, b, n, d);
        Tensor tdpt = poisoned(b, p, d);
        Accumulated dCls = accumulated("dCls", rnd, 1, d);
        Accumulated dPos = accumulated("dPos", rnd, 2, n, d);
        checkBackward(label, "tokens", () -> backend.tokensBackward(tdout, tdpt, dCls.tensor(), dPos.tensor()),
                byFiniteDifference(v -> dot(DoubleReference.tokens(v[0], v[1], v[2], b, p, d), rd), inputs),
                new int[]{pt.length, cls.length, pos.length}, rnd,
                List.of(new Written("dPatchTokens", tdpt, 0)), List.of(dCls, dPos), BWD_TOL);
    }

    /** No prefix token (vit-pytorch's mean-pooling ViT): cls and dist null, pos {@code [P, D]}. */
    @ParameterizedTest(name = "tokens without class token {0}")
    @MethodSource("tokensCases")
    void tokensWithoutClassToken(TokensCase c) {
        Random rnd = new Random(c.seed + 70);
        int b = c.batch, p = c.patches, d = c.dim;
        float[] pt = gaussian(rnd, b * p * d);
        float[] pos = gaussian(rnd, p * d);
        Tensor tpt = tensor(pt, b, p, d);
        Tensor tpos = tensor(pos, p, d);
        Tensor tout = poisoned(b, p, d);
        double[][] inputs = {toDouble(pt), toDouble(pos)};

        backend.tokensForward(tpt, null, null, tpos, tout);
        String label = "tokens without class token " + c;
        assertClose(label, "tokens", "out (no class token)", get(tout),
                DoubleReference.tokens(inputs[0], null, null, inputs[1], b, p, d), FWD_TOL);

        float[] r = gaussian(rnd, b * p * d);
        double[] rd = toDouble(r);
        Tensor tdout = tensor(r, b, p, d);
        Tensor tdpt = poisoned(b, p, d);
        Accumulated dPos = accumulated("dPos", rnd, 1, p, d);
        checkBackward(label, "tokens", () -> backend.tokensBackward(tdout, tdpt, null, null, dPos.tensor()),
                byFiniteDifference(v -> dot(DoubleReference.tokens(v[0], null, null, v[1], b, p, d), rd), inputs),
                new int[]{pt.length, pos.length}, rnd,
                List.of(new Written("dPatchTokens", tdpt, 0)), List.of(dPos), BWD_TOL);
    }

    /** DeiT's two prefix tokens: cls {@code [D]}, dist {@code [D]}, pos {@code [P+2, D]}. */
    @ParameterizedTest(name = "tokens+dist {0}")
    @MethodSource("tokensCases")
    void tokensWithDistillationToken(TokensCase c) {
        Random rnd = new Random(c.seed + 50);
        int b = c.batch, p = c.patches, d = c.dim, n = p + 2;
        float[] pt = gaussian(rnd, b * p * d);
        float[] cls = gaussian(rnd, d);
        float[] dist = gaussian(rnd, d);
        float[] pos = gaussian(rnd, n * d);
        Tensor tpt = tensor(pt, b, p, d);
        Tensor tcls = tensor(cls, d);
        Tensor tdist = tensor(dist, d);
        Tensor tpos = tensor(pos, n, d);
        Tensor tout = poisoned(b, n, d);
        double[][] inputs = {toDouble(pt), toDouble(cls), toDouble(dist), toDouble(pos)};

        backend.tokensForward(tpt, tcls, tdist, tpos, tout);
        String label = "tokens+dist " + c;
        assertClose(label, "tokens", "out", get(tout),
                DoubleReference.tokens(inputs[0], inputs[1], inputs[2], inputs[3], b, p, d), FWD_TOL);

        float[] r = gaussian(rnd, b * n * d);
        double[] rd = toDouble(r);
        Tensor tdout = tensor(r, b, n, d);
        Tensor tdpt = poisoned(b, p, d);
        Accumulated dCls = accumulated("dCls", rnd, 1, d);
        Accumulated dDist = accumulated("dDist", rnd, 2, d);
        Accumulated dPos = accumulated("dPos", rnd, 3, n, d);
        checkBackward(label, "tokens", () -> backend.tokensBackward(tdout, tdpt, dCls.tensor(), dDist.tensor(),
                        dPos.tensor()),
                byFiniteDifference(v -> dot(DoubleReference.tokens(v[0], v[1], v[2], v[3], b, p, d), rd), inputs),
                new int[]{pt.length, cls.length, dist.length, pos.length}, rnd,
                List.of(new Written("dPatchTokens", tdpt, 0)), List.of(dCls, dDist, dPos), BWD_TOL);
    }

    // ================================================================= pooling

    record PoolCase(int batch, int tokens, int dim, int first, long seed) {
        @Override
        public String toString() {
            return "x[" + batch + ", " + tokens + ", " + dim + "] first=" + first;
        }
    }

    static Stream<PoolCase> classTokenCases() {
        return Stream.of(
                new PoolCase(1, 1, 1, 0, 801),
                new PoolCase(3, 5, 7, 0, 802),
                new PoolCase(2, 17, 64, 0, 803),
                new PoolCase(3, 2, 5, 0, 804));
    }

    @ParameterizedTest(name = "classToken {0}")
    @MethodSource("classTokenCases")
    void classToken(PoolCase c) {
        Random rnd = new Random(c.seed);
        int b = c.batch, n = c.tokens, d = c.dim;
        float[] x = gaussian(rnd, b * n * d);
        Tensor tx = tensor(x, b, n, d);
        Tensor tout = poisoned(b, d);
        double[][] inputs = {toDouble(x)};

        backend.classTokenForward(tx, tout);
        String label = "classToken " + c;
        assertClose(label, "classToken", "out", get(tout), DoubleReference.classToken(inputs[0], b, n, d), 0.0);

        float[] r = gaussian(rnd, b * d);
        double[] rd = toDouble(r);
        Tensor tdout = tensor(r, b, d);
        Tensor tdx = poisoned(b, n, d);
        checkBackward(label, "classToken", () -> backend.classTokenBackward(tdout, tdx),
                byFiniteDifference(v -> dot(DoubleReference.classToken(v[0], b, n, d), rd), inputs),
                new int[]{x.length}, rnd, List.of(new Written("dx", tdx, 0)), List.of(), BWD_TOL);
    }

    /** Token {@code first} of each image (the PoolCase's {@code first} field names the token here). */
    static Stream<PoolCase> tokenCases() {
        return Stream.of(
                new PoolCase(1, 2, 1, 1, 811),
                new PoolCase(3, 5, 7, 1, 812),
                new PoolCase(2, 18, 64, 1, 813),
                new PoolCase(3, 6, 5, 5, 814));
    }

    @ParameterizedTest(name = "token {0}")
    @MethodSource("tokenCases")
    void tokenByIndex(PoolCase c) {
        Random rnd = new Random(c.seed);
        int b = c.batch, n = c.tokens, d = c.dim, t = c.first;
        float[] x = gaussian(rnd, b * n * d);
        Tensor tx = tensor(x, b, n, d);
        Tensor tout = poisoned(b, d);
        double[][] inputs = {toDouble(x)};

        backend.tokenForward(tx, t, tout);
        String label = "token " + c;
        assertClose(label, "token", "out", get(tout), DoubleReference.token(inputs[0], b, n, d, t), 0.0);

        float[] r = gaussian(rnd, b * d);
        double[] rd = toDouble(r);
        Tensor tdout = tensor(r, b, d);
        Tensor tdx = poisoned(b, n, d);
        checkBackward(label, "token", () -> backend.tokenBackward(tdout, t, tdx),
                byFiniteDifference(v -> dot(DoubleReference.token(v[0], b, n, d, t), rd), inputs),
                new int[]{x.length}, rnd, List.of(new Written("dx", tdx, 0)), List.of(), BWD_TOL);
    }

    static Stream<PoolCase> meanPoolCases() {
        return Stream.of(
                new PoolCase(1, 1, 1, 0, 901),
                new PoolCase(1, 2, 3, 1, 902),
                new PoolCase(3, 5, 7, 1, 903),
                new PoolCase(2, 17, 64, 1, 904),
                new PoolCase(2, 17, 5, 0, 905),
                new PoolCase(3, 5, 7, 4, 906));
    }

    @ParameterizedTest(name = "meanPool {0}")
    @MethodSource("meanPoolCases")
    void meanPool(PoolCase c) {
        Random rnd = new Random(c.seed);
        int b = c.batch, n = c.tokens, d = c.dim, first = c.first;
        float[] x = gaussian(rnd, b * n * d);
        Tensor tx = tensor(x, b, n, d);
        Tensor tout = poisoned(b, d);
        double[][] inputs = {toDouble(x)};

        backend.meanPoolForward(tx, first, tout);
        String label = "meanPool " + c;
        assertClose(label, "meanPool", "out", get(tout), DoubleReference.meanPool(inputs[0], b, n, d, first), FWD_TOL);

        float[] r = gaussian(rnd, b * d);
        double[] rd = toDouble(r);
        Tensor tdout = tensor(r, b, d);
        Tensor tdx = poisoned(b, n, d);
        checkBackward(label, "meanPool", () -> backend.meanPoolBackward(tdout, first, tdx),
                byFiniteDifference(v -> dot(DoubleReference.meanPool(v[0], b, n, d, first), rd), inputs),
                new int[]{x.length}, rnd, List.of(new Written("dx", tdx, 0)), List.of(), BWD_TOL);
    }
}
