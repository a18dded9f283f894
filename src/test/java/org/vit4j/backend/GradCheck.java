package org.vit4j.backend;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Finite differences, error metrics and the per-op error table shared by the backend tests.
 *
 * <p><b>Error metric.</b> Everything is compared by the max-norm relative error
 * {@code ||a - e||_inf / max(||e||_inf, FLOOR)} over the checked elements, with {@code FLOOR =
 * 1e-3}. All tensors in these tests are O(0.1..10) (gaussian inputs), so the floor only comes into
 * play when the reference is identically zero (e.g. LayerNorm over one feature), where it turns the
 * metric into an absolute one. Non-finite values are reported separately (an unwritten, NaN-poisoned
 * element must fail even where a NaN would slip through a {@code >} comparison).
 */
public final class GradCheck {
    private GradCheck() {
    }

    /** Absolute floor of the relative-error denominator (see the class comment). */
    static final double FLOOR = 1e-3;

    /** Relative finite-difference step: {@code h = H_REL * max(1, |x|)}. */
    static final double H_REL = 1e-6;

    /** Tensors up to this many elements get every element finite-differenced... */
    static final int MAX_FULL = 2500;

    /** ...larger ones a random subset of this many (always including the first and last). */
    static final int SUBSET = 400;

    /** A scalar function of several double inputs (the objective of a gradient check). */
    @FunctionalInterface
    interface Objective {
        double value(double[][] inputs);
    }

    // ----------------------------------------------------------------- finite differences

    /** Which elements of an {@code n}-element tensor to check: all, or a sorted random subset. */
    static int[] indices(int n, Random rnd) {
        if (n <= MAX_FULL) {
            int[] all = new int[n];
            for (int i = 0; i < n; i++) {
                all[i] = i;
            }
            return all;
        }
        java.util.TreeSet<Integer> set = new java.util.TreeSet<>();
        set.add(0);
        set.add(n - 1);
        while (set.size() < SUBSET) {
            set.add(rnd.nextInt(n));
        }
        return set.stream().mapToInt(Integer::intValue).toArray();
    }

    /**
     * Central differences {@code (L(x+h) - L(x-h)) / ((x+h) - (x-h))} of {@code f} with respect to
     * {@code inputs[which][i]} for each {@code i} in {@code idx}, in double. Truncation error is
     * O(h^2 f''') ~ 1e-12 relative, round-off ~ 1e-16 |L| / h ~ 1e-10 |L|, both far below the
     * float32 errors being measured.
     */
    static double[] finiteDifference(Objective f, double[][] inputs, int which, int[] idx) {
        double[] x = inputs[which];
        double[] g = new double[idx.length];
        for (int k = 0; k < idx.length; k++) {
            int i = idx[k];
            double x0 = x[i];
            double h = H_REL * Math.max(1.0, Math.abs(x0));
            double xp = x0 + h;
            double xm = x0 - h;
            x[i] = xp;
            double lp = f.value(inputs);
            x[i] = xm;
            double lm = f.value(inputs);
            x[i] = x0;
            g[k] = (lp - lm) / (xp - xm);
        }
        return g;
    }

    // ----------------------------------------------------------------- metrics

    /** {@code ||a - e||_inf / max(||e||_inf, FLOOR)}; NaN in {@code a} gives +infinity. */
    public static double relErr(double[] actual, double[] expected) {
        if (actual.length != expected.length) {
            throw new IllegalArgumentException("length " + actual.length + " vs " + expected.length);
        }
        double maxDiff = 0;
        double maxRef = 0;
        for (int i = 0; i < actual.length; i++) {
            double d = Math.abs(actual[i] - expected[i]);
            if (!(d <= Double.MAX_VALUE)) {
                return Double.POSITIVE_INFINITY;
            }
            maxDiff = Math.max(maxDiff, d);
            maxRef = Math.max(maxRef, Math.abs(expected[i]));
        }
        return maxDiff / Math.max(maxRef, FLOOR);
    }

    /** Index of the element with the largest absolute difference (for failure messages). */
    public static int worst(double[] actual, double[] expected) {
        int w = 0;
        double best = -1;
        for (int i = 0; i < actual.length; i++) {
            double d = Math.abs(actual[i] - expected[i]);
            if (Double.isNaN(d)) {
                return i;
            }
            if (d > best) {
                best = d;
                w = i;
            }
        }
        return w;
    }

    /** Fails naming the first non-finite element (an unwritten NaN-poisoned output, or an overflow). */
    static void requireFinite(String what, float[] a) {
        for (int i = 0; i < a.length; i++) {
            if (!Float.isFinite(a[i])) {
                fail(what + ": element " + i + " of " + a.length + " is " + a[i]
                        + (Float.isNaN(a[i]) ? " (not written: the output was NaN-poisoned, or NaN computed)" : ""));
            }
        }
    }

    /**
     * Records the error under {@code (op, quantity)} and fails with details when it exceeds
     * {@code tol}.
     */
    static void assertClose(String label, String op, String quantity, double[] actual, double[] expected,
                            double tol) {
        double err = relErr(actual, expected);
        record(op, quantity, err);
        if (!(err <= tol)) {
            int w = worst(actual, expected);
            fail(String.format(Locale.ROOT,
                    "%s: %s %s max-norm relative error %.3e > tolerance %.1e; worst element %d: actual %.9g,"
                            + " expected %.9g (max |expected| %.4g)",
                    label, op, quantity, err, tol, w, actual[w], expected[w], maxAbs(expected)));
        }
    }

    static void assertClose(String label, String op, String quantity, float[] actual, double[] expected, double tol) {
        requireFinite(label + " " + op + " " + quantity, actual);
        assertClose(label, op, quantity, toDouble(actual), expected, tol);
    }

    static double maxAbs(double[] a) {
        double m = 0;
        for (double v : a) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    // ----------------------------------------------------------------- arrays

    /** Gaussian {@code mean + std * N(0,1)} floats, never exactly zero. */
    public static float[] gaussian(Random rnd, int n, double std, double mean) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            float v;
            do {
                v = (float) (mean + std * rnd.nextGaussian());
            } while (v == 0f);
            a[i] = v;
        }
        return a;
    }

    static float[] gaussian(Random rnd, int n) {
        return gaussian(rnd, n, 1.0, 0.0);
    }

    static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i];
        }
        return d;
    }

    static float[] nan(int n) {
        float[] a = new float[n];
        Arrays.fill(a, Float.NaN);
        return a;
    }

    static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    static double[] pick(double[] a, int[] idx) {
        double[] out = new double[idx.length];
        for (int k = 0; k < idx.length; k++) {
            out[k] = a[idx[k]];
        }
        return out;
    }

    static double[] pick(float[] a, int[] idx) {
        double[] out = new double[idx.length];
        for (int k = 0; k < idx.length; k++) {
            out[k] = a[idx[k]];
        }
        return out;
    }

    /** {@code after - before} in double (exact for floats of similar magnitude). */
    static double[] diff(float[] after, float[] before) {
        double[] d = new double[after.length];
        for (int i = 0; i < after.length; i++) {
            d[i] = (double) after[i] - (double) before[i];
        }
        return d;
    }

    static int product(int... dims) {
        int p = 1;
        for (int d : dims) {
            p *= d;
        }
        return p;
    }

    // ----------------------------------------------------------------- error table

    private static final Map<String, Map<String, double[]>> ERRORS = new TreeMap<>();

    /** Keeps the max error and the number of checks per (op, quantity). */
    static synchronized void record(String op, String quantity, double err) {
        double[] e = ERRORS.computeIfAbsent(op, k -> new TreeMap<>()).computeIfAbsent(quantity, k -> new double[2]);
        e[0] = Math.max(e[0], err);
        e[1]++;
    }

    /** The table of max errors recorded since the last call, one line per (op, quantity); then clears it. */
    static synchronized String table(String title) {
        List<String> lines = new ArrayList<>();
        lines.add("---- " + title + ": max-norm relative error per op (max over checks) ----");
        for (Map.Entry<String, Map<String, double[]>> op : ERRORS.entrySet()) {
            for (Map.Entry<String, double[]> q : op.getValue().entrySet()) {
                lines.add(String.format(Locale.ROOT, "%-22s %-28s max %.3e  (%d checks)",
                        op.getKey(), q.getKey(), q.getValue()[0], (long) q.getValue()[1]));
            }
        }
        ERRORS.clear();
        return String.join(System.lineSeparator(), lines);
    }
}
