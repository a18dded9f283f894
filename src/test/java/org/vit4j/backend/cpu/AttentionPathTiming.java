package org.vit4j.backend.cpu;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.vit4j.tensor.DType;
import org.vit4j.tensor.Shape;
import org.vit4j.tensor.Tensor;

import java.util.Locale;
import java.util.Random;

/**
 * Wall-clock time per call of the two CPU attention paths, forward and backward, at the training
 * shapes and a sweep of sequence lengths: the measurement behind
 * the automatic choice in {@link CpuBackend#attentionPath}. Not a regular test (it takes about a minute):
 * {@code mvn -o -q test -Dtest=AttentionPathTiming -Dvit4j.timing=true}, or other shapes with
 * {@code -Dvit4j.timing.shapes="B,N,D,heads;..."}.
 */
@EnabledIfSystemProperty(named = "vit4j.timing", matches = "true")
class AttentionPathTiming {

    @Test
    void timePaths() {
        try (CpuBackend backend = new CpuBackend()) {
            System.out.println("# " + backend.description());
            System.out.println("shape                              path    fwd ms   bwd ms");
            String only = System.getProperty("vit4j.timing.shapes");   // "B,N,D,heads;B,N,D,heads"
            if (only != null && !only.isBlank()) {
                for (String shape : only.split(";")) {
                    int[] v = java.util.Arrays.stream(shape.split(",")).mapToInt(x -> Integer.parseInt(x.trim())).toArray();
                    time(backend, v[0], v[1], v[2], v[3]);
                }
                return;
            }
            // mnist-tutorial, cifar10-vit, cifar10-vit-tiny
            time(backend, 100, 17, 64, 8);
            time(backend, 128, 65, 384, 12);
            time(backend, 128, 65, 192, 3);
            // the crossover, at hd 32 and hd 8
            for (int n : new int[]{17, 24, 32, 40, 48}) {
                time(backend, 128, n, 384, 12);
            }
            for (int n : new int[]{24, 32, 40, 65}) {
                time(backend, 128, n, 64, 8);
            }
        }
    }

    private static void time(CpuBackend backend, int batch, int tokens, int dim, int heads) {
        Random rnd = new Random(1);
        Tensor qkv = tensor(backend, rnd, batch, tokens, 3 * dim);
        Tensor dout = tensor(backend, rnd, batch, tokens, dim);
        Tensor out = backend.allocate(DType.F32, Shape.of(batch, tokens, dim));
        Tensor lse = backend.allocate(DType.F32, Shape.of(batch, heads, tokens));
        Tensor dqkv = backend.allocate(DType.F32, Shape.of(batch, tokens, 3 * dim));
        for (CpuBackend.AttentionPath path : new CpuBackend.AttentionPath[]{
                CpuBackend.AttentionPath.LANES, CpuBackend.AttentionPath.GEMM}) {
            backend.forceAttentionPath(path);
            double fwd = best(() -> backend.attentionForward(qkv, heads, out, lse));
            double bwd = best(() -> backend.attentionBackward(dout, qkv, out, lse, heads, dqkv));
            System.out.printf(Locale.ROOT, "B=%-3d N=%-3d D=%-3d heads=%-2d hd=%-3d  %-6s %8.3f %8.3f%n",
                    batch, tokens, dim, heads, dim / heads, path, fwd, bwd);
        }
        backend.forceAttentionPath(CpuBackend.AttentionPath.AUTO);
    }

    /** Median of timed runs after warm-up, in ms; about 1.5 s of runs per measurement. */
    private static double best(Runnable op) {
        long warmEnd = System.nanoTime() + 700_000_000L;
        int warm = 0;
        while (System.nanoTime() < warmEnd || warm < 5) {
            op.run();
            warm++;
        }
        double[] t = new double[Math.max(5, Math.min(101, warm))];
        for (int i = 0; i < t.length; i++) {
            long t0 = System.nanoTime();
            op.run();
            t[i] = (System.nanoTime() - t0) / 1e6;
        }
        java.util.Arrays.sort(t);
        return t[t.length / 2];
    }

    private static Tensor tensor(CpuBackend backend, Random rnd, int... dims) {
        Tensor t = backend.allocate(DType.F32, Shape.of(dims));
        float[] a = new float[Math.toIntExact(t.numel())];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) rnd.nextGaussian();
        }
        backend.upload(a, 0, t);
        return t;
    }
}
