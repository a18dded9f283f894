package org.vit4j.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.vit4j.backend.GradCheck;
import org.vit4j.tensor.DType;
import org.vit4j.tensor.Shape;
import org.vit4j.tensor.Tensor;

/**
 * {@link CpuBackend}'s LayerNorm, forward and backward: every output (y, mean, rstd, dx, dGamma,
 * dBeta) has the same bits on 1, 2 and 3 threads, on the Vector API path and on the scalar path,
 * with a row count that leaves a partial last block of {@link CpuBackend#LAYER_NORM_BLOCK_ROWS};
 * and both paths are within float accuracy of a double-precision LayerNorm computed here, at
 * widths that are and are not multiples of the vector length, on data centred at zero and far
 * from it.
 */
class CpuLayerNormTest {
    private static final float EPS = 1e-5f;
    /** Max-norm relative error, {@code max |actual - exact| / max |exact|}, per output (measured: 2e-6 at most). */
    private static final double TOL = 1e-5;

    /** The six outputs of a forward and a backward call. */
    private record Outputs(float[] y, float[] mean, float[] rstd, float[] dx, float[] dGamma, float[] dBeta) {
        float[][] all() {
            return new float[][] {y, mean, rstd, dx, dGamma, dBeta};
        }
    }

    private static final String[] NAMES = {"y", "mean", "rstd", "dx", "dGamma", "dBeta"};

    private record Inputs(int rows, int c, float[] x, float[] gamma, float[] beta, float[] dy,
                          float[] dGamma0, float[] dBeta0) {
    }

    private static Inputs inputs(int rows, int c, double offset, long seed) {
        Random rnd = new Random(seed);
        return new Inputs(rows, c, GradCheck.gaussian(rnd, rows * c, 1.5, offset), GradCheck.gaussian(rnd, c, 0.5, 1.0),
                GradCheck.gaussian(rnd, c, 0.5, 0.0), GradCheck.gaussian(rnd, rows * c, 1.0, 0.0),
                GradCheck.gaussian(rnd, c, 1.0, 0.0), GradCheck.gaussian(rnd, c, 1.0, 0.0));
    }

    private static Tensor tensor(CpuBackend backend, float[] data, int... dims) {
        Tensor t = backend.allocate(DType.F32, Shape.of(dims));
        backend.upload(data, 0, t);
        return t;
    }

    private static float[] get(CpuBackend backend, Tensor t, int n) {
        float[] a = new float[n];
        backend.download(t, a, 0);
        return a;
    }

    /** Forward, then backward with {@code dy} into dGamma/dBeta that already hold non-zero values. */
    private static Outputs run(Inputs in, int threads, boolean vector) {
        CpuBackend backend = new CpuBackend(threads);
        backend.useVectorLayerNorm(vector);
        int rows = in.rows, c = in.c;
        Tensor x = tensor(backend, in.x, rows, c);
        Tensor gamma = tensor(backend, in.gamma, c);
        Tensor beta = tensor(backend, in.beta, c);
        Tensor y = tensor(backend, new float[rows * c], rows, c);
        Tensor mean = tensor(backend, new float[rows], rows);
        Tensor rstd = tensor(backend, new float[rows], rows);
        backend.layerNormForward(x, gamma, beta, EPS, y, mean, rstd);
        Tensor dy = tensor(backend, in.dy, rows, c);
        Tensor dx = tensor(backend, new float[rows * c], rows, c);
        Tensor dGamma = tensor(backend, in.dGamma0, c);
        Tensor dBeta = tensor(backend, in.dBeta0, c);
        backend.layerNormBackward(dy, x, gamma, mean, rstd, dx, dGamma, dBeta);
        return new Outputs(get(backend, y, rows * c), get(backend, mean, rows), get(backend, rstd, rows),
                get(backend, dx, rows * c), get(backend, dGamma, c), get(backend, dBeta, c));
    }

    @ParameterizedTest(name = "rows={0} c={1}")
    @CsvSource({"333, 384", "333, 50", "130, 7", "64, 64"})
    void sameBitsOnAnyThreadCount(int rows, int c) {
        assertTrue(FastMath.VECTOR_API, "the test JVM runs with --add-modules jdk.incubator.vector");
        Inputs in = inputs(rows, c, 0.3, rows * 31L + c);
        for (boolean vector : new boolean[] {true, false}) {
            Outputs one = run(in, 1, vector);
            for (int threads : new int[] {2, 3}) {
                Outputs many = run(in, threads, vector);
                for (int a = 0; a < NAMES.length; a++) {
                    float[] expected = one.all()[a], actual = many.all()[a];
                    for (int i = 0; i < expected.length; i++) {
                        int at = i, o = a;
                        assertEquals(Float.floatToIntBits(expected[i]), Float.floatToIntBits(actual[i]),
                                () -> (vector ? "vector" : "scalar") + " path, " + threads + " threads vs 1: "
                                        + NAMES[o] + "[" + at + "]");
                    }
                }
            }
        }
    }

    @ParameterizedTest(name = "rows={0} c={1} offset={2}")
    @CsvSource({"200, 384, 0", "200, 64, 0", "200, 192, 0", "200, 50, 0", "200, 384, 30", "200, 50, 30",
            "67, 17, 0", "3, 1, 0"})
    void bothPathsAreCloseToDoublePrecision(int rows, int c, double offset) {
        Inputs in = inputs(rows, c, offset, rows * 17L + c);
        double[][] exact = reference(in);
        for (boolean vector : new boolean[] {true, false}) {
            float[][] actual = run(in, 2, vector).all();
            for (int a = 0; a < NAMES.length; a++) {
                double err = relativeError(actual[a], exact[a]);
                assertTrue(err <= TOL, (vector ? "vector" : "scalar") + " path " + NAMES[a]
                        + ": max-norm relative error " + err + " > " + TOL);
            }
        }
    }

    /** LayerNorm forward and its analytic backward in double, from the same float inputs. */
    private static double[][] reference(Inputs in) {
        int rows = in.rows, c = in.c;
        double[] y = new double[rows * c], mean = new double[rows], rstd = new double[rows], dx = new double[rows * c];
        double[] dGamma = new double[c], dBeta = new double[c];
        for (int j = 0; j < c; j++) {
            dGamma[j] = in.dGamma0[j];
            dBeta[j] = in.dBeta0[j];
        }
        double[] xhat = new double[c], dxhat = new double[c];
        for (int r = 0; r < rows; r++) {
            int o = r * c;
            double s = 0;
            for (int j = 0; j < c; j++) {
                s += in.x[o + j];
            }
            double mu = s / c, v = 0;
            for (int j = 0; j < c; j++) {
                double d = in.x[o + j] - mu;
                v += d * d;
            }
            double rs = 1.0 / Math.sqrt(v / c + EPS);
            double sumDxhat = 0, sumDxhatXhat = 0;
            for (int j = 0; j < c; j++) {
                xhat[j] = (in.x[o + j] - mu) * rs;
                y[o + j] = xhat[j] * in.gamma[j] + in.beta[j];
                dxhat[j] = (double) in.dy[o + j] * in.gamma[j];
                sumDxhat += dxhat[j];
                sumDxhatXhat += dxhat[j] * xhat[j];
                dGamma[j] += in.dy[o + j] * xhat[j];
                dBeta[j] += in.dy[o + j];
            }
            for (int j = 0; j < c; j++) {
                dx[o + j] = rs * (dxhat[j] - sumDxhat / c - xhat[j] * sumDxhatXhat / c);
            }
            mean[r] = mu;
            rstd[r] = rs;
        }
        return new double[][] {y, mean, rstd, dx, dGamma, dBeta};
    }

    private static double relativeError(float[] actual, double[] expected) {
        double maxErr = 0, maxAbs = 0;
        for (int i = 0; i < expected.length; i++) {
            double e = Math.abs(actual[i] - expected[i]);
            maxErr = Double.isNaN(e) ? Double.POSITIVE_INFINITY : Math.max(maxErr, e);
            maxAbs = Math.max(maxAbs, Math.abs(expected[i]));
        }
        return maxAbs == 0 ? maxErr : maxErr / maxAbs; // c = 1: dx is exactly 0
    }
}
