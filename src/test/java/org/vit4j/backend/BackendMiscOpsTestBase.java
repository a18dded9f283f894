package org.vit4j.backend;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.vit4j.tensor.DType;
import org.vit4j.tensor.Shape;
import org.vit4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.vit4j.backend.GradCheck.assertClose;
import static org.vit4j.backend.GradCheck.gaussian;
import static org.vit4j.backend.GradCheck.nan;
import static org.vit4j.backend.GradCheck.requireFinite;
import static org.vit4j.backend.GradCheck.toDouble;

/**
 * The non-differentiable side of the {@link Backend} contract, against the interface only: memory
 * (allocate, upload/download, views, fill, copy), elementwise ops (add, addInPlace, scale), the
 * reductions, dropout, AdamW, running ops on views, and shape validation.
 *
 * <p>Elementwise float ops ({@code add}, {@code scale}, dropout's scaling) are compared bit-exactly
 * with the same float arithmetic done in Java: IEEE-754 float addition and multiplication are
 * correctly rounded on every device, so there is no tolerance to justify.
 */
public abstract class BackendMiscOpsTestBase extends BackendTestSupport {


    // ================================================================= memory

    @ParameterizedTest(name = "allocate returns zeros {0}")
    @ValueSource(ints = {1, 7, 64, 100_003})
    void allocateReturnsZeros(int n) {
        // Fill and free a tensor of the same size first, so a pooling allocator that hands back
        // dirty memory is caught.
        Tensor dirty = backend.allocate(DType.F32, Shape.of(n));
        backend.fill(dirty, 7f);
        dirty.close();
        assertTrue(dirty.isClosed(), "close() must mark the tensor closed");

        Tensor t = alloc(n);
        assertEquals(Shape.of(n), t.shape());
        assertEquals(DType.F32, t.dtype());
        assertEquals(n, t.numel());
        assertTrue(t.capacity() >= n);
        assertFalse(t.isClosed());
        float[] got = get(t);
        for (int i = 0; i < n; i++) {
            if (got[i] != 0f || Float.floatToRawIntBits(got[i]) != 0) {
                fail("allocate(F32, [" + n + "]) element " + i + " is " + got[i] + ", expected +0");
            }
        }
        Tensor ti = backend.allocate(DType.I32, Shape.of(3, n));
        allocated.add(ti);
        int[] gi = new int[3 * n];
        Arrays.fill(gi, -1);
        backend.download(ti, gi, 0);
        for (int i = 0; i < gi.length; i++) {
            if (gi[i] != 0) {
                fail("allocate(I32) element " + i + " is " + gi[i]);
            }
        }
        assertArrayEquals(new float[6], get(alloc(2, 3)), "allocate(int...) default F32");
    }

    @Test
    void uploadDownloadRoundTrips() {
        Random rnd = new Random(1001);
        float[] src = gaussian(rnd, 50);
        Tensor t = alloc(3, 7);
        backend.upload(src, 11, t);
        float[] dst = new float[40];
        Arrays.fill(dst, -5f);
        backend.download(t, dst, 4);
        for (int i = 0; i < 40; i++) {
            float expected = i >= 4 && i < 25 ? src[11 + i - 4] : -5f;
            assertEquals(expected, dst[i], 0f, "float download element " + i + " (offsets 11 -> 4)");
        }
        assertArrayEquals(Arrays.copyOfRange(src, 11, 32), backend.toArray(t), "toArray");
        backend.upload(src, t);
        assertArrayEquals(Arrays.copyOf(src, 21), get(t), "upload without offset");

        // Special values must survive bit-exactly.
        float[] special = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, -0f, Float.MIN_VALUE,
                Float.MAX_VALUE, 1e-40f};
        Tensor ts = tensor(special, special.length);
        float[] back = get(ts);
        for (int i = 0; i < special.length; i++) {
            assertEquals(Float.floatToRawIntBits(special[i]), Float.floatToRawIntBits(back[i]), "special value " + i);
        }

        int[] isrc = new int[30];
        for (int i = 0; i < isrc.length; i++) {
            isrc[i] = rnd.nextInt();
        }
        Tensor ti = backend.allocate(DType.I32, Shape.of(2, 9));
        allocated.add(ti);
        backend.upload(isrc, 5, ti);
        int[] idst = new int[25];
        Arrays.fill(idst, 42);
        backend.download(ti, idst, 3);
        for (int i = 0; i < 25; i++) {
            int expected = i >= 3 && i < 21 ? isrc[5 + i - 3] : 42;
            assertEquals(expected, idst[i], "int download element " + i + " (offsets 5 -> 3)");
        }
        backend.upload(isrc, ti);
        int[] idst2 = new int[18];
        backend.download(ti, idst2, 0);
        assertArrayEquals(Arrays.copyOf(isrc, 18), idst2, "int upload without offset");
    }

    @Test
    void viewSharesStorage() {
        Random rnd = new Random(1002);
        // Not tracked for @AfterEach: this test closes it itself.
        Tensor owner = backend.allocate(DType.F32, Shape.of(4, 6));
        Tensor view = owner.view(Shape.of(3, 5));
        assertEquals(Shape.of(3, 5), view.shape());
        assertEquals(DType.F32, view.dtype());
        assertEquals(15, view.numel());
        assertTrue(view.capacity() >= 24, "a view's capacity is its owner's storage");

        float[] a = gaussian(rnd, 15);
        backend.upload(a, view);
        float[] whole = get(owner);
        for (int i = 0; i < 24; i++) {
            assertEquals(i < 15 ? a[i] : 0f, whole[i], 0f, "owner element " + i + " after uploading into a view");
        }
        float[] b = gaussian(rnd, 24);
        backend.upload(b, owner);
        assertArrayEquals(Arrays.copyOf(b, 15), get(view), "a view reads its owner's first elements");

        Tensor viewOfView = view.view(Shape.of(2, 2));
        assertArrayEquals(Arrays.copyOf(b, 4), get(viewOfView), "view of a view");
        Tensor sameSize = owner.view(Shape.of(24));
        assertArrayEquals(b, get(sameSize), "full-size reshaping view");

        assertThrows(IllegalArgumentException.class, () -> owner.view(Shape.of(5, 5)), "view larger than storage");
        assertThrows(IllegalArgumentException.class, () -> view.view(Shape.of(25)), "view of a view larger than storage");

        view.close();
        assertFalse(owner.isClosed(), "closing a view must not free the owner");
        assertArrayEquals(b, get(owner), "owner still readable after closing a view");
        Tensor v2 = owner.view(Shape.of(6));
        owner.close();
        assertTrue(owner.isClosed());
        assertTrue(v2.isClosed(), "a view reports its owner's closed state");
    }

    @Test
    void fillAndCopy() {
        Random rnd = new Random(1003);
        Tensor t = alloc(5, 7);
        backend.fill(t, -2.5f);
        float[] expected = new float[35];
        Arrays.fill(expected, -2.5f);
        assertArrayEquals(expected, get(t), "fill");
        // fill on a view touches only the view
        backend.fill(t.view(Shape.of(2, 3)), 9f);
        Arrays.fill(expected, 0, 6, 9f);
        assertArrayEquals(expected, get(t), "fill of a view touches only its elements");
        backend.fill(t, Float.NaN);
        for (float v : get(t)) {
            assertTrue(Float.isNaN(v), "fill NaN");
        }

        float[] a = gaussian(rnd, 35);
        Tensor src = tensor(a, 5, 7);
        Tensor dst = poisoned(5, 7);
        backend.copy(src, dst);
        assertArrayEquals(a, get(dst), "copy");
        assertArrayEquals(a, get(src), "copy leaves the source alone");
        Tensor big = tensor(nan(50), 50);
        backend.copy(src, big.view(Shape.of(35)));
        float[] bigGot = get(big);
        assertArrayEquals(a, Arrays.copyOf(bigGot, 35), "copy into a view");
        for (int i = 35; i < 50; i++) {
            assertTrue(Float.isNaN(bigGot[i]), "copy into a view wrote past it at " + i);
        }

        Tensor isrc = labels(new int[]{3, -1, 7, Integer.MAX_VALUE});
        Tensor idst = labels(new int[4]);
        backend.copy(isrc, idst);
        int[] got = new int[4];
        backend.download(idst, got, 0);
        assertArrayEquals(new int[]{3, -1, 7, Integer.MAX_VALUE}, got, "I32 copy");
    }

    // ================================================================= elementwise

    @ParameterizedTest(name = "add n={0}")
    @ValueSource(ints = {1, 17, 4099, 100_003})
    void addAndAliases(int n) {
        Random rnd = new Random(1100 + n);
        float[] a = gaussian(rnd, n);
        float[] b = gaussian(rnd, n);
        float[] sum = new float[n];
        float[] twice = new float[n];
        for (int i = 0; i < n; i++) {
            sum[i] = a[i] + b[i];
            twice[i] = a[i] + a[i];
        }
        Tensor ta = tensor(a, n);
        Tensor tb = tensor(b, n);
        Tensor out = poisoned(n);
        backend.add(ta, tb, out);
        assertArrayEquals(sum, get(out), "add: out = a + b");
        assertArrayEquals(a, get(ta), "add must not modify a");
        assertArrayEquals(b, get(tb), "add must not modify b");

        backend.add(ta, tb, ta); // out aliases a
        assertArrayEquals(sum, get(ta), "add with out aliasing a");
        backend.upload(a, ta);
        backend.add(ta, tb, tb); // out aliases b
        assertArrayEquals(sum, get(tb), "add with out aliasing b");
        backend.upload(b, tb);
        backend.add(ta, ta, ta); // everything aliased
        assertArrayEquals(twice, get(ta), "add(a, a, a)");

        // addInPlace
        backend.upload(a, ta);
        backend.addInPlace(ta, tb);
        assertArrayEquals(sum, get(ta), "addInPlace: acc += x");
        assertArrayEquals(b, get(tb), "addInPlace must not modify x");
        // 3-d shapes read as flat
        if (n == 17) {
            Tensor x3 = tensor(a, 1, 17, 1);
            Tensor y3 = tensor(b, 1, 17, 1);
            Tensor o3 = poisoned(1, 17, 1);
            backend.add(x3, y3, o3);
            assertArrayEquals(sum, get(o3), "add on rank-3 tensors");
        }
    }

    @Test
    void scaleIsExactFloatMultiply() {
        Random rnd = new Random(1200);
        for (int n : new int[]{1, 33, 70_001}) {
            float[] a = gaussian(rnd, n);
            for (float factor : new float[]{0.5f, -3f, 1f / 7f, 0f}) {
                Tensor t = tensor(a, n);
                backend.scale(t, factor);
                float[] expected = new float[n];
                for (int i = 0; i < n; i++) {
                    expected[i] = a[i] * factor;
                }
                assertArrayEquals(expected, get(t), "scale n=" + n + " factor=" + factor);
            }
        }
        float[] a = gaussian(rnd, 20);
        Tensor t = tensor(a, 20);
        backend.scale(t.view(Shape.of(2, 5)), 2f);
        float[] got = get(t);
        for (int i = 0; i < 20; i++) {
            assertEquals(i < 10 ? a[i] * 2f : a[i], got[i], 0f, "scale of a view touches only it, element " + i);
        }
    }

    @Test
    void sumOfSquaresInDouble() {
        Random rnd = new Random(1300);
        for (int n : new int[]{1, 7, 1000, 1_000_003}) {
            float[] a = gaussian(rnd, n, 3.0, 0.5);
            double expected = 0;
            for (float v : a) {
                expected += (double) v * v;
            }
            Tensor t = tensor(a, n);
            double got = backend.sumOfSquares(t);
            // Double accumulation of n terms: relative error <= n * 1.1e-16 ~ 1e-10 for n = 1e6.
            // Float accumulation would be off by ~1e-7 or worse, so 1e-9 tells them apart.
            double err = Math.abs(got - expected) / expected;
            GradCheck.record("sumOfSquares", "value", err);
            assertTrue(err <= 1e-9, String.format(Locale.ROOT,
                    "sumOfSquares n=%d: got %.17g expected %.17g (relative error %.3e > 1e-9)", n, got, expected, err));
        }
        float[] a = gaussian(rnd, 30);
        Tensor t = tensor(a, 30);
        double expected = 0;
        for (int i = 0; i < 12; i++) {
            expected += (double) a[i] * a[i];
        }
        assertEquals(expected, backend.sumOfSquares(t.view(Shape.of(3, 4))), 1e-12 * expected,
                "sumOfSquares of a view sums only its elements");
    }

    // ================================================================= dropout

    @Test
    void dropoutZeroIsIdentity() {
        Random rnd = new Random(1400);
        int n = 10_007;
        float[] x = gaussian(rnd, n);
        Tensor tx = tensor(x, 1, n);
        Tensor ty = poisoned(1, n);
        backend.dropoutForward(tx, 0f, 12345L, ty);
        assertArrayEquals(x, get(ty), "dropout p=0 forward must be the identity");
        Tensor tdx = poisoned(1, n);
        backend.dropoutBackward(tx, 0f, 12345L, tdx);
        assertArrayEquals(x, get(tdx), "dropout p=0 backward must be the identity");
    }

    @ParameterizedTest(name = "dropout p={0}")
    @ValueSource(floats = {0.1f, 0.5f})
    void dropoutMaskScalingAndBackward(float p) {
        Random rnd = new Random(1401 + (long) (p * 100));
        int n = 1 << 18;
        long seed = 0x5EEDL + (long) (p * 1000);
        float[] x = gaussian(rnd, n);
        Tensor tx = tensor(x, 64, n / 64);
        Tensor ty = poisoned(64, n / 64);
        backend.dropoutForward(tx, p, seed, ty);
        float[] y = get(ty);
        requireFinite("dropout forward p=" + p, y);

        boolean[] keep = new boolean[n];
        int kept = 0;
        int pairs = 0;
        double maxScaleErr = 0;
        for (int i = 0; i < n; i++) {
            keep[i] = y[i] != 0f;
            if (keep[i]) {
                kept++;
                // Kept elements are x / (1 - p), up to the rounding of a float multiply by the
                // rounded 1/(1-p) (<= 1.5 ulp): 3e-7 relative.
                double expected = x[i] / (1.0 - p);
                double e = Math.abs(y[i] - expected) / Math.abs(expected);
                maxScaleErr = Math.max(maxScaleErr, e);
                if (e > 3e-7) {
                    fail("dropout p=" + p + " element " + i + ": kept value " + y[i] + " is not x/(1-p) = " + expected);
                }
            }
            if (i > 0 && keep[i] && keep[i - 1]) {
                pairs++;
            }
        }
        GradCheck.record("dropout", "kept scale", maxScaleErr);
        // Binomial: the kept fraction has std sqrt(p(1-p)/n) (~1e-3 for n = 2^18); allow 5 sigma.
        double frac = kept / (double) n;
        double sigma = Math.sqrt(p * (1 - p) / n);
        GradCheck.record("dropout", "kept fraction sigmas", Math.abs(frac - (1 - p)) / sigma);
        assertEquals(1 - p, frac, 5 * sigma, "dropout p=" + p + " kept fraction");
        // Neighbouring elements must be independent: both kept with probability (1-p)^2.
        double q = (1 - p) * (1 - p);
        assertEquals(q, pairs / (double) (n - 1), 6 * Math.sqrt(q * (1 - q) / n), "dropout neighbours correlated");

        // The mask is the shared pure function of (seed, index) that every backend must draw.
        for (int i = 0; i < n; i++) {
            if (keep[i] != DropoutMask.keep(seed, i, p)) {
                fail("dropout p=" + p + " element " + i + ": backend " + (keep[i] ? "kept" : "dropped")
                        + " it but DropoutMask.keep(seed, index, p) says " + DropoutMask.keep(seed, i, p));
            }
        }

        // Same seed: same output. Different seed: different mask (but the same statistics).
        Tensor ty2 = poisoned(64, n / 64);
        backend.dropoutForward(tx, p, seed, ty2);
        assertArrayEquals(y, get(ty2), "dropout with the same seed must repeat");
        backend.dropoutForward(tx, p, seed + 1, ty2);
        float[] y3 = get(ty2);
        int differ = 0;
        for (int i = 0; i < n; i++) {
            if ((y3[i] != 0f) != keep[i]) {
                differ++;
            }
        }
        double expectDiffer = 2 * p * (1 - p);
        assertEquals(expectDiffer, differ / (double) n, 6 * Math.sqrt(expectDiffer * (1 - expectDiffer) / n),
                "dropout masks for seeds s and s+1 must be independent");

        // A pure function of the element index: a smaller tensor (other shape) gets the prefix of the mask.
        int m = 1001;
        Tensor small = tensor(Arrays.copyOf(x, m), 7, 143);
        Tensor smallY = poisoned(7, 143);
        backend.dropoutForward(small, p, seed, smallY);
        assertArrayEquals(Arrays.copyOf(y, m), get(smallY), "the mask must depend only on (seed, index)");

        // Backward regenerates the same mask: dx = dy * mask / (1 - p).
        float[] dy = gaussian(rnd, n);
        Tensor tdy = tensor(dy, 64, n / 64);
        Tensor tdx = poisoned(64, n / 64);
        backend.dropoutBackward(tdy, p, seed, tdx);
        float[] dx = get(tdx);
        requireFinite("dropout backward p=" + p, dx);
        double maxBwdErr = 0;
        for (int i = 0; i < n; i++) {
            if (!keep[i]) {
                assertEquals(0f, dx[i], 0f, "dropout backward p=" + p + " element " + i + " was dropped forward");
            } else {
                double expected = dy[i] / (1.0 - p);
                double e = Math.abs(dx[i] - expected) / Math.abs(expected);
                maxBwdErr = Math.max(maxBwdErr, e);
                if (e > 3e-7) {
                    fail("dropout backward p=" + p + " element " + i + ": " + dx[i] + " is not dy/(1-p) = " + expected);
                }
            }
        }
        GradCheck.record("dropout", "backward dx", maxBwdErr);
    }

    // ================================================================= AdamW

    record AdamCase(int n, float lr, float beta1, float beta2, float eps, float wd, int firstStep, int steps,
                    long seed) {
        @Override
        public String toString() {
            return "n=" + n + " lr=" + lr + " betas=(" + beta1 + ", " + beta2 + ") eps=" + eps + " wd=" + wd
                    + " steps " + firstStep + ".." + (firstStep + steps - 1);
        }
    }

    static Stream<AdamCase> adamCases() {
        return Stream.of(
                new AdamCase(1001, 1e-3f, 0.9f, 0.999f, 1e-8f, 0f, 1, 6, 1501),
                new AdamCase(1001, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.05f, 1, 6, 1502),
                new AdamCase(1001, 0.1f, 0.8f, 0.95f, 1e-6f, 0.05f, 1, 5, 1503),
                new AdamCase(1001, 3e-4f, 0.9f, 0.999f, 1e-8f, 0.05f, 1000, 4, 1504),
                // Large enough for a multi-threaded backend to split the update into chunks.
                new AdamCase(70_003, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.05f, 1, 3, 1505));
    }

    /**
     * {@code torch.optim.AdamW} semantics: decoupled decay {@code p *= 1 - lr*wd}, bias-corrected
     * moments, {@code eps} added after the square root of the bias-corrected second moment. Each
     * step is compared with a double step from the backend's own float state (so errors do not
     * compound), and the whole run with a double run from the initial state. Every tenth
     * gradient is ~1e-8 so that {@code sqrt(v_hat)} is comparable to {@code eps} and eps
     * placement matters.
     *
     * <p>Tolerance on the parameter: the backend stores {@code p} in float (0.5 ulp), multiplies
     * by the rounded factor {@code 1 - lr*wd} (another ~1 ulp of p) and computes the update in a
     * few float ops (relative ~1e-6): elementwise {@code |p - p_ref| <= 3 ulp(p) + 1e-5 |u|}.
     * Moments: a couple of float ops each, 1e-6 max-norm relative.
     */
    @ParameterizedTest(name = "adamw {0}")
    @MethodSource("adamCases")
    void adamwMatchesTorch(AdamCase c) {
        Random rnd = new Random(c.seed);
        int n = c.n;
        float[] p0 = gaussian(rnd, n);
        Tensor tp = tensor(p0, n);
        Tensor tg = alloc(n);
        Tensor tm = alloc(n);
        Tensor tv = alloc(n);
        double[] rp = toDouble(p0);
        double[] rm = new double[n];
        double[] rv = new double[n];
        if (c.firstStep > 1) {
            // Resuming: start from plausible moments.
            float[] m0 = gaussian(rnd, n, 0.01, 0.0);
            float[] v0 = new float[n];
            for (int i = 0; i < n; i++) {
                v0[i] = (float) (1e-4 * (0.1 + rnd.nextDouble()));
            }
            backend.upload(m0, tm);
            backend.upload(v0, tv);
            rm = toDouble(m0);
            rv = toDouble(v0);
        }
        String label = "adamw " + c;
        double maxUpdateRel = 0;
        double maxRunRel = 0;
        for (int s = 0; s < c.steps; s++) {
            int step = c.firstStep + s;
            float[] g = gaussian(rnd, n, 0.1, 0.0);
            for (int i = 0; i < n; i += 10) {
                g[i] *= 1e-7f;
            }
            backend.upload(g, tg);
            float[] pBefore = get(tp);
            float[] mBefore = get(tm);
            float[] vBefore = get(tv);

            backend.adamwStep(tp, tg, tm, tv, c.lr, c.beta1, c.beta2, c.eps, c.wd, step);
            float[] pAfter = get(tp);
            float[] mAfter = get(tm);
            float[] vAfter = get(tv);
            float[] gAfter = get(tg);
            for (int i = 0; i < n; i++) {
                if (Float.floatToRawIntBits(gAfter[i]) != 0) {
                    fail(label + " step " + step + ": grad element " + i + " is " + gAfter[i] + " after the step, expected +0");
                }
            }
            requireFinite(label + " param", pAfter);

            // One double step from the backend's float state.
            double[] sp = toDouble(pBefore);
            double[] sm = toDouble(mBefore);
            double[] sv = toDouble(vBefore);
            DoubleReference.adamw(sp, toDouble(g), sm, sv, c.lr, c.beta1, c.beta2, c.eps, c.wd, step);
            assertClose(label + " step " + step, "adamw", "m (1 step)", mAfter, sm, 1e-6);
            assertClose(label + " step " + step, "adamw", "v (1 step)", vAfter, sv, 1e-6);
            double maxU = 0;
            for (int i = 0; i < n; i++) {
                maxU = Math.max(maxU, Math.abs(sp[i] - pBefore[i]));
            }
            for (int i = 0; i < n; i++) {
                double u = sp[i] - pBefore[i];
                double d = Math.abs(pAfter[i] - sp[i]);
                maxUpdateRel = Math.max(maxUpdateRel, d / maxU);
                double tol = 3 * Math.ulp((float) sp[i]) + 1e-5 * Math.abs(u);
                if (!(d <= tol)) {
                    fail(String.format(Locale.ROOT,
                            "%s step %d element %d: param %.9g, torch.optim.AdamW gives %.9g (from %.9g, grad %.4g,"
                                    + " m %.4g, v %.4g): off by %.3e = %.2f%% of the update, tolerance %.3e",
                            label, step, i, pAfter[i], sp[i], pBefore[i], g[i], mBefore[i], vBefore[i], d,
                            100 * d / Math.max(Math.abs(u), 1e-300), tol));
                }
            }

            // The independent double run from the start.
            DoubleReference.adamw(rp, toDouble(g), rm, rv, c.lr, c.beta1, c.beta2, c.eps, c.wd, step);
            double runU = 0;
            for (int i = 0; i < n; i++) {
                runU = Math.max(runU, Math.abs(rp[i] - p0[i]));
            }
            for (int i = 0; i < n; i++) {
                double d = Math.abs(pAfter[i] - rp[i]);
                maxRunRel = Math.max(maxRunRel, d / runU);
                double tol = (s + 1) * (3 * Math.ulp((float) rp[i]) + 1e-5 * runU);
                if (!(d <= tol)) {
                    fail(String.format(Locale.ROOT, "%s after %d steps, element %d: param %.9g, double AdamW run %.9g",
                            label, s + 1, i, pAfter[i], rp[i]));
                }
            }
        }
        GradCheck.record("adamw", "param (|dp|/max|update|)", maxUpdateRel);
        GradCheck.record("adamw", "param run (|dp|/max|p-p0|)", maxRunRel);
    }

    // ================================================================= ops on views

    /**
     * Modules run smaller batches on views of buffers allocated for the largest batch: ops must
     * read and write only the view's elements, and give the same results as on owned tensors.
     */
    @Test
    void opsRunOnViews() {
        Random rnd = new Random(1600);
        int maxRows = 9, rows = 5, in = 6, out = 4;
        float sentinel = 1234.5f;
        float[] x = gaussian(rnd, rows * in);
        float[] w = gaussian(rnd, out * in);
        float[] bias = gaussian(rnd, out);
        Tensor tw = tensor(w, out, in);
        Tensor tb = tensor(bias, out);

        Tensor xBuf = tensor(filled(maxRows * in, sentinel), maxRows, in);
        Tensor yBuf = tensor(filled(maxRows * out, sentinel), maxRows, out);
        Tensor xv = xBuf.view(Shape.of(rows, in));
        Tensor yv = yBuf.view(Shape.of(rows, out));
        backend.upload(x, xv);
        backend.linearForward(xv, tw, tb, yv);
        Tensor yRef = poisoned(rows, out);
        backend.linearForward(tensor(x, rows, in), tw, tb, yRef);
        checkPrefix("linearForward on views", get(yBuf), get(yRef), sentinel);

        float[] dy = gaussian(rnd, rows * out);
        Tensor dyv = tensor(filled(maxRows * out, sentinel), maxRows, out).view(Shape.of(rows, out));
        backend.upload(dy, dyv);
        Tensor dxBuf = tensor(filled(maxRows * in, sentinel), maxRows, in);
        Tensor dW1 = alloc(out, in);
        Tensor dB1 = alloc(out);
        backend.linearBackward(dyv, xv, tw, dxBuf.view(Shape.of(rows, in)), dW1, dB1);
        Tensor dxRef = poisoned(rows, in);
        Tensor dW2 = alloc(out, in);
        Tensor dB2 = alloc(out);
        backend.linearBackward(tensor(dy, rows, out), tensor(x, rows, in), tw, dxRef, dW2, dB2);
        checkPrefix("linearBackward dx on views", get(dxBuf), get(dxRef), sentinel);
        assertClose("linearBackward on views", "views", "dWeight", get(dW1), toDouble(get(dW2)), 1e-6);
        assertClose("linearBackward on views", "views", "dBias", get(dB1), toDouble(get(dB2)), 1e-6);

        // LayerNorm
        Tensor g = tensor(gaussian(rnd, in, 0.5, 1.0), in);
        Tensor be = tensor(gaussian(rnd, in), in);
        Tensor lnBuf = tensor(filled(maxRows * in, sentinel), maxRows, in);
        Tensor meanBuf = tensor(filled(maxRows, sentinel), maxRows);
        Tensor rstdBuf = tensor(filled(maxRows, sentinel), maxRows);
        backend.layerNormForward(xv, g, be, 1e-5f, lnBuf.view(Shape.of(rows, in)), meanBuf.view(Shape.of(rows)),
                rstdBuf.view(Shape.of(rows)));
        Tensor lnRef = poisoned(rows, in);
        Tensor meanRef = poisoned(rows);
        Tensor rstdRef = poisoned(rows);
        backend.layerNormForward(tensor(x, rows, in), g, be, 1e-5f, lnRef, meanRef, rstdRef);
        checkPrefix("layerNormForward y on views", get(lnBuf), get(lnRef), sentinel);
        checkPrefix("layerNormForward mean on views", get(meanBuf), get(meanRef), sentinel);
        checkPrefix("layerNormForward rstd on views", get(rstdBuf), get(rstdRef), sentinel);

        // Attention: B 2 of 3, N 5, D 4, heads 2
        int nTok = 5, d = 4, heads = 2;
        float[] qkv = gaussian(rnd, 2 * nTok * 3 * d);
        Tensor qkvBuf = tensor(filled(3 * nTok * 3 * d, sentinel), 3, nTok, 3 * d);
        Tensor qkvView = qkvBuf.view(Shape.of(2, nTok, 3 * d));
        backend.upload(qkv, qkvView);
        Tensor attBuf = tensor(filled(3 * nTok * d, sentinel), 3, nTok, d);
        Tensor lseBuf = tensor(filled(3 * heads * nTok, sentinel), 3, heads, nTok);
        backend.attentionForward(qkvView, heads, attBuf.view(Shape.of(2, nTok, d)),
                lseBuf.view(Shape.of(2, heads, nTok)));
        Tensor attRef = poisoned(2, nTok, d);
        Tensor lseRef = poisoned(2, heads, nTok);
        Tensor qkvOwned = tensor(qkv, 2, nTok, 3 * d);
        backend.attentionForward(qkvOwned, heads, attRef, lseRef);
        checkPrefix("attentionForward out on views", get(attBuf), get(attRef), sentinel);
        checkPrefix("attentionForward lse on views", get(lseBuf), get(lseRef), sentinel);
        float[] dout = gaussian(rnd, 2 * nTok * d);
        Tensor dqkvBuf = tensor(filled(3 * nTok * 3 * d, sentinel), 3, nTok, 3 * d);
        Tensor doutView = tensor(filled(3 * nTok * d, sentinel), 3, nTok, d).view(Shape.of(2, nTok, d));
        backend.upload(dout, doutView);
        backend.attentionBackward(doutView, qkvView, attBuf.view(Shape.of(2, nTok, d)),
                lseBuf.view(Shape.of(2, heads, nTok)), heads, dqkvBuf.view(Shape.of(2, nTok, 3 * d)));
        Tensor dqkvRef = poisoned(2, nTok, 3 * d);
        backend.attentionBackward(tensor(dout, 2, nTok, d), qkvOwned, attRef, lseRef, heads, dqkvRef);
        checkPrefix("attentionBackward dqkv on views", get(dqkvBuf), get(dqkvRef), sentinel);

        // Cross-entropy: 3 rows of a 5-row buffer
        int classes = 7;
        float[] z = gaussian(rnd, 3 * classes);
        int[] y = {6, 0, 3};
        Tensor zv = tensor(filled(5 * classes, sentinel), 5, classes).view(Shape.of(3, classes));
        backend.upload(z, zv);
        Tensor labelBuf = labels(new int[]{6, 0, 3, 2, 2});
        Tensor lossBuf = tensor(filled(5, sentinel), 5);
        backend.crossEntropyForward(zv, labelBuf.view(Shape.of(3)), 0.1f, lossBuf.view(Shape.of(3)));
        Tensor lossRef = poisoned(3);
        Tensor zOwned = tensor(z, 3, classes);
        backend.crossEntropyForward(zOwned, labels(y), 0.1f, lossRef);
        checkPrefix("crossEntropyForward on views", get(lossBuf), get(lossRef), sentinel);
        Tensor dzBuf = tensor(filled(5 * classes, sentinel), 5, classes);
        backend.crossEntropyBackward(zv, labelBuf.view(Shape.of(3)), 0.1f, 1f / 3, dzBuf.view(Shape.of(3, classes)));
        Tensor dzRef = poisoned(3, classes);
        backend.crossEntropyBackward(zOwned, labels(y), 0.1f, 1f / 3, dzRef);
        checkPrefix("crossEntropyBackward on views", get(dzBuf), get(dzRef), sentinel);

        // GELU and add
        Tensor geluBuf = tensor(filled(maxRows * in, sentinel), maxRows, in);
        backend.geluForward(xv, geluBuf.view(Shape.of(rows, in)));
        Tensor geluRef = poisoned(rows, in);
        backend.geluForward(tensor(x, rows, in), geluRef);
        checkPrefix("geluForward on views", get(geluBuf), get(geluRef), sentinel);
        Tensor addBuf = tensor(filled(maxRows * in, sentinel), maxRows, in);
        backend.add(xv, xv, addBuf.view(Shape.of(rows, in)));
        float[] twice = new float[rows * in];
        for (int i = 0; i < twice.length; i++) {
            twice[i] = x[i] + x[i];
        }
        checkPrefix("add on views", get(addBuf), twice, sentinel);
    }

    private static float[] filled(int n, float v) {
        float[] a = new float[n];
        Arrays.fill(a, v);
        return a;
    }

    /** {@code buffer} must hold {@code expected} (within 1e-6) in its prefix and the sentinel after it. */
    private static void checkPrefix(String what, float[] buffer, float[] expected, float sentinel) {
        requireFinite(what, Arrays.copyOf(buffer, expected.length));
        assertClose(what, "views", what, toDouble(Arrays.copyOf(buffer, expected.length)), toDouble(expected), 1e-6);
        for (int i = expected.length; i < buffer.length; i++) {
            if (buffer[i] != sentinel) {
                fail(what + ": wrote element " + i + " beyond the view's " + expected.length + " (now " + buffer[i] + ")");
            }
        }
    }

    // ================================================================= shape validation

    /** Every mismatch must throw {@link IllegalArgumentException} (the contract), not something else. */
    @Test
    void shapeMismatchesThrowIllegalArgument() {
        Random rnd = new Random(1700);
        Tensor x = tensor(gaussian(rnd, 15), 3, 5);
        Tensor w = tensor(gaussian(rnd, 20), 4, 5);
        Tensor wBad = tensor(gaussian(rnd, 24), 4, 6);
        Tensor b = tensor(gaussian(rnd, 4), 4);
        Tensor bBad = tensor(gaussian(rnd, 5), 5);
        Tensor y = alloc(3, 4);
        Tensor yBad = alloc(3, 5);
        Tensor dW = alloc(4, 5);
        Tensor dWBad = alloc(5, 4);
        Tensor g5 = tensor(gaussian(rnd, 5), 5);
        Tensor g6 = tensor(gaussian(rnd, 6), 6);
        Tensor y35 = alloc(3, 5);
        Tensor m3 = alloc(3);
        Tensor qkvOdd = tensor(gaussian(rnd, 90), 1, 3, 30); // D = 10, not divisible by 4 heads
        Tensor outOdd = alloc(1, 3, 10);
        Tensor lseOdd = alloc(1, 4, 3);
        Tensor qkv = tensor(gaussian(rnd, 72), 1, 3, 24); // D = 8
        Tensor outBad = alloc(1, 3, 9);
        Tensor lse = alloc(1, 2, 3);
        Tensor logits = tensor(gaussian(rnd, 30), 3, 10);
        Tensor losses = alloc(3);
        Tensor labelsHigh = labels(new int[]{1, 10, 2});
        Tensor labelsNeg = labels(new int[]{1, -1, 2});
        Tensor labelsShort = labels(new int[]{1, 2});
        Tensor dlogits = alloc(3, 10);
        Tensor img = tensor(gaussian(rnd, 200), 2, 1, 10, 10);
        Tensor patchesFor4 = alloc(2, 4, 16);
        Tensor img8 = tensor(gaussian(rnd, 128), 2, 1, 8, 8);
        Tensor patchesBad = alloc(2, 4, 15);
        Tensor pt = tensor(gaussian(rnd, 24), 2, 3, 4);
        Tensor cls = tensor(gaussian(rnd, 4), 4);
        Tensor posBad = tensor(gaussian(rnd, 12), 3, 4);
        Tensor tokOut = alloc(2, 4, 4);
        Tensor tokens = tensor(gaussian(rnd, 24), 2, 3, 4);
        Tensor pooledBad = alloc(2, 3);
        Tensor v15 = alloc(15);
        Tensor v16 = alloc(16);
        Tensor param = alloc(16);
        Tensor grad = alloc(16);
        Tensor mBad = alloc(15);
        Tensor v = alloc(16);

        List<Executable> checks = new ArrayList<>();
        java.util.function.BiConsumer<String, Executable> expect = (name, e) -> checks.add(illegalArgument(name, e));
        expect.accept("linearForward weight [4,6] for x [3,5]", () -> backend.linearForward(x, wBad, b, y));
        expect.accept("linearForward bias [5] for weight [4,5]", () -> backend.linearForward(x, w, bBad, y));
        expect.accept("linearForward y [3,5] for out 4", () -> backend.linearForward(x, w, b, yBad));
        expect.accept("linearBackward dWeight [5,4] for weight [4,5]",
                () -> backend.linearBackward(y, x, w, y35, dWBad, null));
        expect.accept("linearBackward dx [3,4] for x [3,5]", () -> backend.linearBackward(y, x, w, y, dW, null));
        expect.accept("layerNormForward gamma [6] for C=5",
                () -> backend.layerNormForward(x, g6, g5, 1e-5f, y35, m3, m3));
        expect.accept("layerNormForward y [3,4] for x [3,5]",
                () -> backend.layerNormForward(x, g5, g5, 1e-5f, y, m3, m3));
        expect.accept("geluForward y [3,4] for x [3,5]", () -> backend.geluForward(x, y));
        expect.accept("attentionForward D=10 with 4 heads", () -> backend.attentionForward(qkvOdd, 4, outOdd, lseOdd));
        expect.accept("attentionForward out [1,3,9] for D=8", () -> backend.attentionForward(qkv, 2, outBad, lse));
        expect.accept("crossEntropyForward label 10 with 10 classes",
                () -> backend.crossEntropyForward(logits, labelsHigh, 0f, losses));
        expect.accept("crossEntropyForward label -1", () -> backend.crossEntropyForward(logits, labelsNeg, 0.1f, losses));
        expect.accept("crossEntropyForward 2 labels for 3 rows",
                () -> backend.crossEntropyForward(logits, labelsShort, 0f, losses));
        expect.accept("crossEntropyBackward label 10 with 10 classes",
                () -> backend.crossEntropyBackward(logits, labelsHigh, 0f, 1f, dlogits));
        expect.accept("patchifyForward 10x10 with patch 4", () -> backend.patchifyForward(img, 4, patchesFor4));
        expect.accept("patchifyForward patches [2,4,15] for 8x8/4", () -> backend.patchifyForward(img8, 4, patchesBad));
        expect.accept("tokensForward pos [3,4] for 4 tokens", () -> backend.tokensForward(pt, cls, posBad, tokOut));
        expect.accept("classTokenForward out [2,3] for D=4", () -> backend.classTokenForward(tokens, pooledBad));
        expect.accept("meanPoolForward out [2,3] for D=4", () -> backend.meanPoolForward(tokens, 1, pooledBad));
        expect.accept("add [15] + [16]", () -> backend.add(v15, v16, v16));
        expect.accept("addInPlace [16] += [15]", () -> backend.addInPlace(v16, v15));
        expect.accept("copy [15] -> [16]", () -> backend.copy(v15, v16));
        expect.accept("dropoutForward [15] -> [16]", () -> backend.dropoutForward(v15, 0.1f, 1L, v16));
        // Wrong-shape backward outputs and wrong label dtype.
        expect.accept("tokensForward cls [3] for D=4",
                () -> backend.tokensForward(pt, tensor(gaussian(rnd, 3), 3), tensor(gaussian(rnd, 16), 4, 4), tokOut));
        expect.accept("attentionBackward dqkv [1,3,23] for qkv [1,3,24]",
                () -> backend.attentionBackward(alloc(1, 3, 8), qkv, alloc(1, 3, 8), lse, 2, alloc(1, 3, 23)));
        expect.accept("layerNormBackward dGamma [6] for C=5",
                () -> backend.layerNormBackward(y35, x, g5, m3, m3, alloc(3, 5), g6, g5));
        expect.accept("geluBackward dx [16] for x [15]", () -> backend.geluBackward(v15, v15, v16));
        expect.accept("patchifyBackward dImages 10x10 for patch 4",
                () -> backend.patchifyBackward(patchesFor4, 4, img));
        expect.accept("crossEntropyBackward dlogits [3,9] for logits [3,10]",
                () -> backend.crossEntropyBackward(logits, labels(new int[]{1, 2, 3}), 0f, 1f, alloc(3, 9)));
        expect.accept("crossEntropyForward F32 labels", () -> backend.crossEntropyForward(logits, losses, 0f, losses));
        expect.accept("meanPoolForward first == N", () -> backend.meanPoolForward(tokens, 3, alloc(2, 4)));
        expect.accept("tokenForward token == N", () -> backend.tokenForward(tokens, 3, alloc(2, 4)));
        expect.accept("tokenBackward token < 0", () -> backend.tokenBackward(alloc(2, 4), -1, tokens));
        expect.accept("tokensForward with dist needs pos [P+2, D]",
                () -> backend.tokensForward(pt, tensor(gaussian(rnd, 4), 4), tensor(gaussian(rnd, 4), 4),
                        tensor(gaussian(rnd, 16), 4, 4), tokOut));
        expect.accept("attentionForward scale 0", () -> backend.attentionForward(qkv, 2, 0f, alloc(1, 3, 8), lse));
        expect.accept("attentionForward scale NaN",
                () -> backend.attentionForward(qkv, 2, Float.NaN, alloc(1, 3, 8), lse));
        expect.accept("attentionBackward scale -1", () -> backend.attentionBackward(alloc(1, 3, 8), qkv,
                alloc(1, 3, 8), lse, 2, -1f, alloc(1, 3, 24)));
        expect.accept("attentionForward dropout 1", () -> backend.attentionForward(qkv, 2, 0.5f, 1f, 7L,
                alloc(1, 3, 8), lse));
        expect.accept("attentionBackward dropout -0.1", () -> backend.attentionBackward(alloc(1, 3, 8), qkv,
                alloc(1, 3, 8), lse, 2, 0.5f, -0.1f, 7L, alloc(1, 3, 24)));
        expect.accept("tokensForward dist without cls",
                () -> backend.tokensForward(pt, null, tensor(gaussian(rnd, 4), 4), tensor(gaussian(rnd, 16), 4, 4),
                        tokOut));
        expect.accept("tokensForward without cls needs pos [P, D]",
                () -> backend.tokensForward(pt, null, null, tensor(gaussian(rnd, 16), 4, 4), alloc(2, 3, 4)));
        expect.accept("adamwStep m [15] for param [16]",
                () -> backend.adamwStep(param, grad, mBad, v, 1e-3f, 0.9f, 0.999f, 1e-8f, 0f, 1));
        assertAll("shape validation", checks.stream());
    }

    /** [B,N,D] ops given a rank-2 tensor must reject it with {@link IllegalArgumentException} too. */
    @Test
    void poolingOpsRejectWrongRank() {
        Random rnd = new Random(1701);
        Tensor flat = tensor(gaussian(rnd, 8), 2, 4);
        Tensor pooled = alloc(2, 4);
        assertAll("pooling ops on rank-2 tensors",
                illegalArgument("classTokenForward x of rank 2", () -> backend.classTokenForward(flat, pooled)),
                illegalArgument("meanPoolForward x of rank 2", () -> backend.meanPoolForward(flat, 0, pooled)),
                illegalArgument("classTokenBackward dx of rank 2", () -> backend.classTokenBackward(pooled, flat)),
                illegalArgument("meanPoolBackward dx of rank 2", () -> backend.meanPoolBackward(pooled, 0, flat)));
    }

    /** An assertion that {@code e} throws {@link IllegalArgumentException} with a message, and nothing else. */
    private static Executable illegalArgument(String name, Executable e) {
        return () -> {
            try {
                e.execute();
            } catch (IllegalArgumentException expected) {
                assertTrue(expected.getMessage() != null && !expected.getMessage().isBlank(),
                        name + ": the exception should name the op and shapes");
                return;
            } catch (Throwable other) {
                fail(name + ": expected IllegalArgumentException, got " + other, other);
            }
            fail(name + ": expected IllegalArgumentException, nothing was thrown");
        };
    }
}
