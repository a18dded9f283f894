package org.vit4j.backend.cpu;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.vit4j.tensor.DType;
import org.vit4j.tensor.Shape;
import org.vit4j.tensor.Tensor;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The two CPU attention paths ({@link CpuAttention}, images as SIMD lanes, and
 * {@link CpuGemmAttention}, BLAS GEMMs per image and head) agree to float rounding on the same
 * input, at shapes on both sides of the automatic choice ({@link CpuBackend#attentionPath}); the
 * automatic choice sends small heads and short sequences to the lanes path; and the GEMM path gives bit-identical
 * results whatever the thread count. (Accuracy against a double-precision reference, and the
 * gradients against finite differences, are checked by the backend gradient suites.)
 */
class CpuAttentionPathsTest {
    /** Max-norm relative difference allowed between the paths: a few float roundings of an N*hd sum. */
    private static final double TOL = 2e-5;

    @Test
    void automaticChoiceByShape() {
        try (CpuBackend backend = new CpuBackend(1)) {
            CpuBackend.AttentionPath lanes = CpuBackend.AttentionPath.LANES, gemm = CpuBackend.AttentionPath.GEMM;
            assertEquals(lanes, backend.attentionPath(1, 64));
            assertEquals(lanes, backend.attentionPath(5, 32));        // too few tokens
            assertEquals(lanes, backend.attentionPath(17, 8));        // mnist-tutorial
            assertEquals(lanes, backend.attentionPath(17, 4));
            assertEquals(lanes, backend.attentionPath(159, 1));       // hd 1
            assertEquals(lanes, backend.attentionPath(1000, 1));
            assertEquals(lanes, backend.attentionPath(79, 2));
            assertEquals(gemm, backend.attentionPath(80, 2));
            assertEquals(gemm, backend.attentionPath(20, 8));
            assertEquals(gemm, backend.attentionPath(17, 16));
            assertEquals(gemm, backend.attentionPath(8, 32));
            assertEquals(gemm, backend.attentionPath(65, 32));        // cifar10-vit
            assertEquals(gemm, backend.attentionPath(65, 64));        // cifar10-vit-tiny
            backend.forceAttentionPath(gemm);
            assertEquals(gemm, backend.attentionPath(17, 8));
            backend.forceAttentionPath(lanes);
            assertEquals(lanes, backend.attentionPath(65, 32));
            backend.forceAttentionPath(CpuBackend.AttentionPath.AUTO);
            assertEquals(lanes, backend.attentionPath(17, 8));
        }
    }

    @ParameterizedTest(name = "B={0} N={1} heads={2} hd={3} std={4}")
    @CsvSource({
            "1, 1, 1, 1, 1",
            "3, 5, 2, 3, 1",
            "4, 17, 8, 8, 1",
            "2, 17, 2, 16, 6",
            "3, 31, 2, 7, 1",
            "3, 32, 3, 32, 1",
            "2, 40, 3, 5, 1",
            "2, 65, 12, 32, 1",
            "2, 65, 3, 64, 1",
            "9, 65, 2, 4, 1",
            "1, 97, 1, 13, 2",
    })
    void pathsAgree(int batch, int tokens, int heads, int hd, double std) {
        Random rnd = new Random(1000L * tokens + hd);
        int d = heads * hd;
        float[] qkv = gaussian(rnd, batch * tokens * 3 * d, std);
        float[] dout = gaussian(rnd, batch * tokens * d, 1);
        Result lanes = run(1, CpuBackend.AttentionPath.LANES, batch, tokens, heads, d, qkv, dout);
        Result gemm = run(1, CpuBackend.AttentionPath.GEMM, batch, tokens, heads, d, qkv, dout);
        String label = "B=" + batch + " N=" + tokens + " heads=" + heads + " hd=" + hd;
        double tol = std > 2 ? 10 * TOL : TOL;
        assertClose(label + " out", lanes.out, gemm.out, tol);
        assertClose(label + " lse", lanes.lse, gemm.lse, tol);
        assertClose(label + " dqkv", lanes.dqkv, gemm.dqkv, 5 * tol);
    }

    @ParameterizedTest(name = "N={0}")
    @CsvSource({"17", "65"})
    void gemmPathIsDeterministicAcrossThreadCounts(int tokens) {
        Random rnd = new Random(7);
        int batch = 5, heads = 3, d = heads * 8;
        float[] qkv = gaussian(rnd, batch * tokens * 3 * d, 1);
        float[] dout = gaussian(rnd, batch * tokens * d, 1);
        Result one = run(1, CpuBackend.AttentionPath.GEMM, batch, tokens, heads, d, qkv, dout);
        Result three = run(3, CpuBackend.AttentionPath.GEMM, batch, tokens, heads, d, qkv, dout);
        Result again = run(3, CpuBackend.AttentionPath.GEMM, batch, tokens, heads, d, qkv, dout);
        for (Result r : new Result[]{three, again}) {
            assertArrayEquals(one.out, r.out);
            assertArrayEquals(one.lse, r.lse);
            assertArrayEquals(one.dqkv, r.dqkv);
        }
    }

    private record Result(float[] out, float[] lse, float[] dqkv) {
    }

    private static Result run(int threads, CpuBackend.AttentionPath path, int batch, int tokens, int heads, int d,
                              float[] qkv, float[] dout) {
        try (CpuBackend backend = new CpuBackend(threads)) {
            backend.forceAttentionPath(path);
            Tensor tqkv = backend.allocate(DType.F32, Shape.of(batch, tokens, 3 * d));
            Tensor tout = backend.allocate(DType.F32, Shape.of(batch, tokens, d));
            Tensor tlse = backend.allocate(DType.F32, Shape.of(batch, heads, tokens));
            Tensor tdout = backend.allocate(DType.F32, Shape.of(batch, tokens, d));
            Tensor tdqkv = backend.allocate(DType.F32, Shape.of(batch, tokens, 3 * d));
            backend.upload(qkv, 0, tqkv);
            backend.upload(dout, 0, tdout);
            backend.fill(tout, Float.NaN);
            backend.fill(tlse, Float.NaN);
            backend.fill(tdqkv, Float.NaN);
            backend.attentionForward(tqkv, heads, tout, tlse);
            backend.attentionBackward(tdout, tqkv, tout, tlse, heads, tdqkv);
            return new Result(get(backend, tout), get(backend, tlse), get(backend, tdqkv));
        }
    }

    private static float[] get(CpuBackend backend, Tensor t) {
        float[] a = new float[Math.toIntExact(t.numel())];
        backend.download(t, a, 0);
        return a;
    }

    private static float[] gaussian(Random rnd, int n, double std) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (std * rnd.nextGaussian());
        }
        return a;
    }

    private static void assertClose(String what, float[] expected, float[] actual, double tol) {
        double maxDiff = 0, maxRef = 0;
        for (int i = 0; i < expected.length; i++) {
            if (!Float.isFinite(actual[i])) {
                throw new AssertionError(what + ": element " + i + " is " + actual[i]);
            }
            maxDiff = Math.max(maxDiff, Math.abs((double) actual[i] - expected[i]));
            maxRef = Math.max(maxRef, Math.abs(expected[i]));
        }
        double err = maxDiff / Math.max(maxRef, 1e-30);
        assertTrue(err <= tol, what + ": lanes vs GEMM path max-norm relative difference " + err + " > " + tol);
    }
}
