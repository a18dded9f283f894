package org.vit4j.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * GELU forward and backward with the JDK Vector API: the same operations, in the same order, as
 * {@link CpuBackend#normalCdf} and {@link FastMath#exp}, one SIMD lane per element, so every
 * element gets the bits the scalar code would give it and a result does not depend on where a
 * thread's chunk starts. HotSpot does not auto-vectorise the scalar loops (the range branch in
 * {@code exp} and the float-to-int rounding stop it), which left GELU's erfc the largest item of
 * a small model's step.
 *
 * <p>The same file holds the CPU backend's other Vector API loops: the lanes attention's products
 * and softmax ({@link #scores} ...), the GEMM attention's softmax rows ({@link #expShiftedSum},
 * {@link #softmaxGradient}), the bias gradient ({@link #columnSums}, the scalar loop's bits) and
 * LayerNorm. Row sums (LayerNorm's, the softmax's) are the exception to "the scalar code's bits":
 * they run in vector lanes, added in a fixed lane order, so they round differently from the scalar
 * loops (and depend on the vector width), within float accuracy; a row's results still depend only
 * on that row, never on threads or timing.
 *
 * <p>Only loaded when the {@code jdk.incubator.vector} module is present ({@link FastMath#VECTOR_API}:
 * the class does not link without it);
 * a vector with an exponent outside {@code exp}'s fast range (|x| above about 12, NaN, infinity)
 * is redone by the scalar code, which handles those cases.
 */
final class VectorMath {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final float INV_SQRT2 = (float) (1.0 / Math.sqrt(2.0));
    private static final float INV_SQRT_2PI = (float) (1.0 / Math.sqrt(2.0 * Math.PI));

    private VectorMath() {
    }

    /** {@code y[i] = x[i] * Phi(x[i])} for {@code i} in {@code [from, to)}. */
    static void geluForward(float[] x, float[] y, int from, int to) {
        int i = from;
        for (int end = from + F.loopBound(to - from); i < end; i += F.length()) {
            FloatVector v = FloatVector.fromArray(F, x, i);
            FloatVector u = v.neg().mul(INV_SQRT2);
            FloatVector t = reciprocalTerm(u.abs());
            FloatVector arg = erfcExponent(u.abs(), t);
            if (inExpFastRange(arg)) {
                v.mul(normalCdf(u, t, arg)).intoArray(y, i);
            } else {
                scalarForward(x, y, i, i + F.length());
            }
        }
        scalarForward(x, y, i, to);
    }

    /** {@code dx[i] = dy[i] * (Phi(x[i]) + x[i] phi(x[i]))} for {@code i} in {@code [from, to)}. */
    static void geluBackward(float[] dy, float[] x, float[] dx, int from, int to) {
        int i = from;
        for (int end = from + F.loopBound(to - from); i < end; i += F.length()) {
            FloatVector v = FloatVector.fromArray(F, x, i);
            FloatVector u = v.neg().mul(INV_SQRT2);
            FloatVector t = reciprocalTerm(u.abs());
            FloatVector arg = erfcExponent(u.abs(), t);
            FloatVector pdfArg = v.mul(-0.5f).mul(v);
            if (inExpFastRange(arg) && inExpFastRange(pdfArg)) {
                FloatVector pdf = exp(pdfArg).mul(INV_SQRT_2PI);
                FloatVector d = normalCdf(u, t, arg).add(v.mul(pdf));
                FloatVector.fromArray(F, dy, i).mul(d).intoArray(dx, i);
            } else {
                scalarBackward(dy, x, dx, i, i + F.length());
            }
        }
        scalarBackward(dy, x, dx, i, to);
    }

    // ================================================================= LayerNorm, along a row

    /**
     * {@link CpuBackend#layerNormForward} for rows {@code [r0, r1)} of {@code x[rows, c]}: the mean
     * and the variance in float vectors, two passes (the mean, then the sum of squared deviations
     * from it, so data far from zero keeps its variance), each vector lane summing every
     * {@code lanes()}-th element in order and the lanes then added in a fixed tree
     * ({@link #sumLanes}), a tail of {@code c % lanes()} elements in scalar. A row's results depend
     * only on that row and the vector width, not on which thread or chunk computes it. {@code y}
     * is {@code (x - mean) * rstd * gamma + beta}, element by element as in the scalar loop.
     */
    static void layerNormForward(float[] x, float[] gamma, float[] beta, float eps, int c,
                                 float[] y, float[] mean, float[] rstd, int r0, int r1) {
        int lanes = F.length();
        int bound = F.loopBound(c);
        float[] lane = new float[lanes];
        for (int r = r0; r < r1; r++) {
            int o = r * c;
            FloatVector s0 = FloatVector.zero(F), s1 = FloatVector.zero(F);
            int j = 0;
            for (; j + 2 * lanes <= bound; j += 2 * lanes) {
                s0 = s0.add(FloatVector.fromArray(F, x, o + j));
                s1 = s1.add(FloatVector.fromArray(F, x, o + j + lanes));
            }
            if (j < bound) {
                s0 = s0.add(FloatVector.fromArray(F, x, o + j));
            }
            float sum = sumLanes(s0.add(s1), lane);
            for (j = bound; j < c; j++) {
                sum += x[o + j];
            }
            float mu = sum / c;
            FloatVector q0 = FloatVector.zero(F), q1 = FloatVector.zero(F);
            for (j = 0; j + 2 * lanes <= bound; j += 2 * lanes) {
                FloatVector d0 = FloatVector.fromArray(F, x, o + j).sub(mu);
                FloatVector d1 = FloatVector.fromArray(F, x, o + j + lanes).sub(mu);
                q0 = q0.add(d0.mul(d0));
                q1 = q1.add(d1.mul(d1));
            }
            if (j < bound) {
                FloatVector d0 = FloatVector.fromArray(F, x, o + j).sub(mu);
                q0 = q0.add(d0.mul(d0));
            }
            float var = sumLanes(q0.add(q1), lane);
            for (j = bound; j < c; j++) {
                float d = x[o + j] - mu;
                var += d * d;
            }
            float rs = (float) (1.0 / Math.sqrt((double) var / c + eps));
            for (j = 0; j < bound; j += lanes) {
                FloatVector.fromArray(F, x, o + j).sub(mu).mul(rs).mul(FloatVector.fromArray(F, gamma, j))
                        .add(FloatVector.fromArray(F, beta, j)).intoArray(y, o + j);
            }
            for (j = bound; j < c; j++) {
                y[o + j] = (x[o + j] - mu) * rs * gamma[j] + beta[j];
            }
            mean[r] = mu;
            rstd[r] = rs;
        }
    }

    /**
     * {@link CpuBackend#layerNormBackward} for rows {@code [r0, r1)}: writes {@code dx} and adds
     * each row's {@code dy * xhat} and {@code dy} to {@code partialGamma} and {@code partialBeta}
     * at {@code [p, p + c)}, element by element in row order, as the scalar loop does (so, given
     * the same mean and rstd, those partial sums have the scalar bits); the row sums of
     * {@code dxhat} and {@code dxhat * xhat} are summed as in {@link #layerNormForward}.
     */
    static void layerNormBackward(float[] dy, float[] x, float[] gamma, float[] mean, float[] rstd, int c,
                                  float[] dx, float[] partialGamma, float[] partialBeta, int p, int r0, int r1) {
        int lanes = F.length();
        int bound = F.loopBound(c);
        float[] lane = new float[lanes];
        for (int r = r0; r < r1; r++) {
            int o = r * c;
            float mu = mean[r], rs = rstd[r];
            FloatVector sd = FloatVector.zero(F), sdx = FloatVector.zero(F);
            int j = 0;
            for (; j < bound; j += lanes) {
                FloatVector dyv = FloatVector.fromArray(F, dy, o + j);
                FloatVector xhat = FloatVector.fromArray(F, x, o + j).sub(mu).mul(rs);
                FloatVector dxhat = dyv.mul(FloatVector.fromArray(F, gamma, j));
                sd = sd.add(dxhat);
                sdx = sdx.add(dxhat.mul(xhat));
                FloatVector.fromArray(F, partialGamma, p + j).add(dyv.mul(xhat)).intoArray(partialGamma, p + j);
                FloatVector.fromArray(F, partialBeta, p + j).add(dyv).intoArray(partialBeta, p + j);
            }
            float sumDxhat = sumLanes(sd, lane);
            float sumDxhatXhat = sumLanes(sdx, lane);
            for (; j < c; j++) {
                float xhat = (x[o + j] - mu) * rs;
                float dxhat = dy[o + j] * gamma[j];
                sumDxhat += dxhat;
                sumDxhatXhat += dxhat * xhat;
                partialGamma[p + j] += dy[o + j] * xhat;
                partialBeta[p + j] += dy[o + j];
            }
            float meanDxhat = sumDxhat / c, meanDxhatXhat = sumDxhatXhat / c;
            for (j = 0; j < bound; j += lanes) {
                FloatVector xhat = FloatVector.fromArray(F, x, o + j).sub(mu).mul(rs);
                FloatVector dxhat = FloatVector.fromArray(F, dy, o + j).mul(FloatVector.fromArray(F, gamma, j));
                dxhat.sub(meanDxhat).sub(xhat.mul(meanDxhatXhat)).mul(rs).intoArray(dx, o + j);
            }
            for (j = bound; j < c; j++) {
                float xhat = (x[o + j] - mu) * rs;
                dx[o + j] = rs * (dy[o + j] * gamma[j] - meanDxhat - xhat * meanDxhatXhat);
            }
        }
    }

    /** {@code sum[j] += partial[k * c + j]} for {@code k} in {@code [0, blocks)}, in that order, for each {@code j}. */
    static void addBlocks(float[] partial, int blocks, int c, float[] sum) {
        int bound = F.loopBound(c);
        int j = 0;
        for (; j < bound; j += F.length()) {
            FloatVector s = FloatVector.zero(F);
            for (int k = 0; k < blocks; k++) {
                s = s.add(FloatVector.fromArray(F, partial, k * c + j));
            }
            FloatVector.fromArray(F, sum, j).add(s).intoArray(sum, j);
        }
        for (; j < c; j++) {
            float s = 0;
            for (int k = 0; k < blocks; k++) {
                s += partial[k * c + j];
            }
            sum[j] += s;
        }
    }

    /**
     * The sum of {@code v}'s lanes in a fixed pairwise order (lane i plus lane i + half, halving),
     * through {@code scratch} ({@code lanes()} floats). Not {@code reduceLanes(ADD)}, whose order
     * the Vector API leaves to the implementation (so it may differ between the interpreter and
     * compiled code, or between JDKs): a row must get the same bits whenever it is computed.
     */
    static float sumLanes(FloatVector v, float[] scratch) {
        v.intoArray(scratch, 0);
        for (int half = scratch.length >> 1; half > 0; half >>= 1) {
            for (int i = 0; i < half; i++) {
                scratch[i] += scratch[i + half];
            }
        }
        return scratch[0];
    }

    /** The exponent {@code erfc(u)} passes to exp, for {@code z = |u|} and {@code t = 1 / (1 + z/2)}. */
    private static FloatVector erfcExponent(FloatVector z, FloatVector t) {
        FloatVector poly = t.mul(0.17087277f).add(-0.82215223f);
        poly = t.mul(poly).add(1.48851587f);
        poly = t.mul(poly).add(-1.13520398f);
        poly = t.mul(poly).add(0.27886807f);
        poly = t.mul(poly).add(-0.18628806f);
        poly = t.mul(poly).add(0.09678418f);
        poly = t.mul(poly).add(0.37409196f);
        poly = t.mul(poly).add(1.00002368f);
        return z.neg().mul(z).sub(1.26551223f).add(t.mul(poly));
    }

    private static FloatVector reciprocalTerm(FloatVector z) {
        return FloatVector.broadcast(F, 1f).div(z.mul(0.5f).add(1f));
    }

    /** Phi(v) = 0.5 erfc(u), u = -v / sqrt 2, from {@code t} and the exponent {@link #erfcExponent} returned. */
    private static FloatVector normalCdf(FloatVector u, FloatVector t, FloatVector exponent) {
        FloatVector r = t.mul(exp(exponent));
        VectorMask<Float> negative = u.compare(VectorOperators.GE, 0f).not();
        FloatVector erfc = r.blend(FloatVector.broadcast(F, 2f).sub(r), negative);
        return erfc.mul(0.5f);
    }

    private static void scalarForward(float[] x, float[] y, int from, int to) {
        for (int i = from; i < to; i++) {
            y[i] = CpuBackend.geluScalar(x[i]);
        }
    }

    private static void scalarBackward(float[] dy, float[] x, float[] dx, int from, int to) {
        for (int i = from; i < to; i++) {
            dx[i] = dy[i] * CpuBackend.geluDerivativeScalar(x[i]);
        }
    }

    /** Whether every lane of {@code x} is in the range where {@link #exp} equals {@link FastMath#exp} (false for NaN). */
    static boolean inExpFastRange(FloatVector x) {
        return x.compare(VectorOperators.GE, FastMath.EXP_MIN).and(x.compare(VectorOperators.LE, FastMath.EXP_FAST_MAX))
                .allTrue();
    }

    /** 2^23: adding it to a float in [0, 2^23) rounds that float to an integer, which its low mantissa bits then hold. */
    private static final float TWO_23 = 8388608f;
    private static final int TWO_23_BITS = Float.floatToRawIntBits(TWO_23);

    /**
     * {@link FastMath#exp} lane by lane, for lanes where {@link #inExpFastRange} holds. The scalar
     * code's truncation {@code (int) y} of a positive {@code y} is taken as floor(y) through the 2^23
     * rounding trick instead of a float-to-int lane conversion, which JDK 17 does not compile to one
     * instruction on every CPU; both give the same integer, so the same bits.
     */
    static FloatVector exp(FloatVector x) {
        FloatVector shifted = x.mul(FastMath.LOG2E).add(128.5f);
        FloatVector rounded = shifted.add(TWO_23).sub(TWO_23);
        FloatVector floor = rounded.sub(1f).blend(rounded, rounded.compare(VectorOperators.LE, shifted));
        FloatVector n = floor.sub(128f);
        FloatVector r = x.sub(n.mul(FastMath.LN2_HI)).sub(n.mul(FastMath.LN2_LO));
        FloatVector p = r.mul(1.9875691500e-4f).add(1.3981999507e-3f);
        p = p.mul(r).add(8.3334519073e-3f);
        p = p.mul(r).add(4.1665795894e-2f);
        p = p.mul(r).add(1.6666665459e-1f);
        p = p.mul(r).add(5.0000001201e-1f);
        FloatVector y = p.mul(r).mul(r).add(r).add(1f);
        // 2^(floor - 128) has the biased exponent floor - 128 + 127
        IntVector biased = floor.add(TWO_23).reinterpretAsInts().sub(TWO_23_BITS + 1);
        return y.mul(biased.lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats());
    }

    // ================================================================= attention, images as lanes

    /** Lanes per vector: {@link CpuAttention} pads its lane rows to a multiple of this. */
    static int lanes() {
        return F.length();
    }

    /**
     * {@code p[j] = (sum_d q[d*n+i] k[d*n+j]) * scale} over {@code width} lanes (a multiple of
     * {@link #lanes}): {@link CpuAttention}'s scores with the sum over d kept in a register, in the
     * scalar loop's order, so the same bits.
     */
    static void scores(float[][] q, float[][] k, float[][] p, int i, int n, int hd, float scale, int width) {
        for (int l = 0; l < width; l += F.length()) {
            for (int j = 0; j < n; j++) {
                FloatVector acc = FloatVector.zero(F);
                for (int d = 0; d < hd; d++) {
                    acc = acc.add(FloatVector.fromArray(F, q[d * n + i], l).mul(FloatVector.fromArray(F, k[d * n + j], l)));
                }
                acc.mul(scale).intoArray(p[j], l);
            }
        }
    }

    /**
     * {@code row[l] = FastMath.exp(row[l] - shift[l])}, and {@code sum[l] += row[l]} when {@code sum}
     * is not null, over {@code width} lanes (a multiple of {@link #lanes}): the softmax's exp. Lanes
     * below exp's range get 0 as in the scalar code; a vector with a NaN or an argument above the
     * fast range is done by the scalar code.
     */
    static void expShifted(float[] row, float[] shift, float[] sum, int width) {
        for (int l = 0; l < width; l += F.length()) {
            FloatVector x = FloatVector.fromArray(F, row, l).sub(FloatVector.fromArray(F, shift, l));
            if (!x.compare(VectorOperators.LE, FastMath.EXP_FAST_MAX).allTrue()) {
                for (int e = l; e < l + F.length(); e++) {
                    row[e] = FastMath.exp(row[e] - shift[e]);
                    if (sum != null) {
                        sum[e] += row[e];
                    }
                }
                continue;
            }
            VectorMask<Float> underflow = x.compare(VectorOperators.LT, FastMath.EXP_MIN);
            FloatVector y = exp(x.max(FastMath.EXP_MIN)).blend(0f, underflow);
            y.intoArray(row, l);
            if (sum != null) {
                FloatVector.fromArray(F, sum, l).add(y).intoArray(sum, l);
            }
        }
    }

    /** {@code o[d] = sum_j p[j] v[d*n+j]}, the sum over j in a register, in the scalar loop's order. */
    static void weightedSum(float[][] p, float[][] v, float[][] o, int n, int hd, int width) {
        for (int l = 0; l < width; l += F.length()) {
            for (int d = 0; d < hd; d++) {
                FloatVector acc = FloatVector.zero(F);
                for (int j = 0; j < n; j++) {
                    acc = acc.add(FloatVector.fromArray(F, p[j], l).mul(FloatVector.fromArray(F, v[d * n + j], l)));
                }
                acc.intoArray(o[d], l);
            }
        }
    }

    /** {@code dp[j] = sum_d dO[d*n+i] v[d*n+j]} and {@code dv[d*n+j] += p[j] dO[d*n+i]}, without dropout. */
    static void probabilityGradient(float[][] dO, float[][] v, float[][] p, float[][] dp, float[][] dv,
                                    int i, int n, int hd, int width) {
        for (int l = 0; l < width; l += F.length()) {
            for (int j = 0; j < n; j++) {
                FloatVector pj = FloatVector.fromArray(F, p[j], l);
                FloatVector acc = FloatVector.zero(F);
                for (int d = 0; d < hd; d++) {
                    FloatVector g = FloatVector.fromArray(F, dO[d * n + i], l);
                    float[] dvRow = dv[d * n + j];
                    acc = acc.add(g.mul(FloatVector.fromArray(F, v[d * n + j], l)));
                    FloatVector.fromArray(F, dvRow, l).add(pj.mul(g)).intoArray(dvRow, l);
                }
                acc.intoArray(dp[j], l);
            }
        }
    }

    /** {@code dq[d*n+i] = sum_j ds[j] k[d*n+j]} and {@code dk[d*n+j] += ds[j] q[d*n+i]}. */
    static void queryKeyGradient(float[][] q, float[][] k, float[][] ds, float[][] dq, float[][] dk,
                                 int i, int n, int hd, int width) {
        for (int l = 0; l < width; l += F.length()) {
            for (int d = 0; d < hd; d++) {
                FloatVector qi = FloatVector.fromArray(F, q[d * n + i], l);
                FloatVector acc = FloatVector.zero(F);
                for (int j = 0; j < n; j++) {
                    FloatVector dsj = FloatVector.fromArray(F, ds[j], l);
                    float[] dkRow = dk[d * n + j];
                    acc = acc.add(dsj.mul(FloatVector.fromArray(F, k[d * n + j], l)));
                    FloatVector.fromArray(F, dkRow, l).add(dsj.mul(qi)).intoArray(dkRow, l);
                }
                acc.intoArray(dq[d * n + i], l);
            }
        }
    }

    // ================================================================= rows: GEMM attention's softmax, bias gradient

    /** The largest of {@code a[off, off+n)} (max is exact, so the order does not matter); NaN if any is NaN. */
    static float max(float[] a, int off, int n) {
        int j = 0, bound = F.loopBound(n);
        float max = Float.NEGATIVE_INFINITY;
        if (bound > 0) {
            FloatVector m = FloatVector.fromArray(F, a, off);
            for (j = F.length(); j < bound; j += F.length()) {
                m = m.max(FloatVector.fromArray(F, a, off + j));
            }
            max = m.reduceLanes(VectorOperators.MAX);
        }
        for (; j < n; j++) {
            max = Math.max(max, a[off + j]);
        }
        return max;
    }

    /**
     * {@code a[off+j] = FastMath.exp(a[off+j] - shift)} for {@code j < n}, each with the scalar
     * code's bits, and their sum: one partial sum per lane, the lanes then added in lane order and
     * the tail after them, so the sum depends only on {@code n} (not on timing, threads or whether
     * the loop is compiled yet).
     */
    static float expShiftedSum(float[] a, int off, int n, float shift) {
        int j = 0, bound = F.loopBound(n);
        FloatVector acc = FloatVector.zero(F);
        for (; j < bound; j += F.length()) {
            FloatVector x = FloatVector.fromArray(F, a, off + j).sub(shift);
            FloatVector y;
            if (x.compare(VectorOperators.LE, FastMath.EXP_FAST_MAX).allTrue()) {
                VectorMask<Float> underflow = x.compare(VectorOperators.LT, FastMath.EXP_MIN);
                y = exp(x.max(FastMath.EXP_MIN)).blend(0f, underflow);
                y.intoArray(a, off + j);
            } else {
                for (int e = off + j; e < off + j + F.length(); e++) {
                    a[e] = FastMath.exp(a[e] - shift);
                }
                y = FloatVector.fromArray(F, a, off + j);
            }
            acc = acc.add(y);
        }
        float sum = 0f;
        for (int l = 0; l < F.length(); l++) {
            sum += acc.lane(l);
        }
        for (; j < n; j++) {
            a[off + j] = FastMath.exp(a[off + j] - shift);
            sum += a[off + j];
        }
        return sum;
    }

    /** {@code a[off, off+n) *= factor}. */
    static void scale(float[] a, int off, int n, float factor) {
        int j = 0, bound = F.loopBound(n);
        for (; j < bound; j += F.length()) {
            FloatVector.fromArray(F, a, off + j).mul(factor).intoArray(a, off + j);
        }
        for (; j < n; j++) {
            a[off + j] *= factor;
        }
    }

    /** The softmax's backward on a row: {@code ds[j] = p[j] * (ds[j] - rowDot) * scale}, the scalar code's bits. */
    static void softmaxGradient(float[] p, float[] ds, int off, int n, float rowDot, float scale) {
        int j = 0, bound = F.loopBound(n);
        for (; j < bound; j += F.length()) {
            FloatVector.fromArray(F, p, off + j).mul(FloatVector.fromArray(F, ds, off + j).sub(rowDot)).mul(scale)
                    .intoArray(ds, off + j);
        }
        for (; j < n; j++) {
            ds[off + j] = p[off + j] * (ds[off + j] - rowDot) * scale;
        }
    }

    /**
     * {@code sum[j] += rows[r * stride + j]} for rows {@code [0, rows)} and columns {@code [from, to)}:
     * a bias gradient. Four rows per pass keep the partial sums in registers between loads and add
     * them in row order, as the scalar loop does, so the same bits.
     */
    static void columnSums(float[] rows, int stride, int count, float[] sum, int from, int to) {
        int width = to - from, bound = from + F.loopBound(width);
        int r = 0;
        for (; r + 4 <= count; r += 4) {
            int o = r * stride;
            int j = from;
            for (; j < bound; j += F.length()) {
                FloatVector.fromArray(F, sum, j)
                        .add(FloatVector.fromArray(F, rows, o + j))
                        .add(FloatVector.fromArray(F, rows, o + stride + j))
                        .add(FloatVector.fromArray(F, rows, o + 2 * stride + j))
                        .add(FloatVector.fromArray(F, rows, o + 3 * stride + j))
                        .intoArray(sum, j);
            }
            for (; j < to; j++) {
                sum[j] = sum[j] + rows[o + j] + rows[o + stride + j] + rows[o + 2 * stride + j] + rows[o + 3 * stride + j];
            }
        }
        for (; r < count; r++) {
            int o = r * stride;
            for (int j = from; j < to; j++) {
                sum[j] += rows[o + j];
            }
        }
    }
}
