package org.vit4j.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * A single-threaded pure-Java SGEMM on the JDK Vector API, used by {@link CpuBackend} and
 * {@link CpuGemmAttention} in place of netlib's pure-Java BLAS ({@code VectorBLAS}) when no native
 * BLAS is installed. Row-major:
 * <pre>
 *   C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C      op(X) = X or X^T
 * </pre>
 * with array offsets and leading dimensions ({@code A(i,p) = a[aOff + i*lda + p]}, or
 * {@code a[aOff + p*lda + i]} when transposed; likewise B). {@code beta == 0} overwrites C without
 * reading it (NaN in C does not leak); {@code k == 0} gives {@code beta * C}.
 *
 * <p>The GotoBLAS / BLIS scheme:
 * <pre>
 * for jc over n in blocks of NC:
 *   for pc over k in blocks of KC:
 *     pack B[pc.., jc..] into panels NR columns wide, k-major (the last panel narrower, zero padded)
 *     for ic over m in blocks of MC:
 *       pack A[ic.., pc..] into slivers of MR rows, k-major (zero padded below m)
 *       for each B panel, for each A sliver:
 *         micro-kernel: an MR x NR tile of C in MR*2 vector accumulators, one rank-1 update per p
 *                       (broadcast A(i,p), FMA with the two B vectors of row p)
 * </pre>
 * Packing makes every transposition case the same micro-kernel on contiguous data; a B panel
 * (KC x NR) stays in L1 while the A slivers of a block stream from L2. A panel of at most one
 * vector's width (the n edge) runs a one-vector kernel instead. The kernels compute whole tiles,
 * over the zero padding where a tile crosses the m or n edge and over an even packed depth (a
 * zero row when a block's k is odd), into a small per-thread tile; {@link #storeTile} then writes
 * the valid part to C with alpha and beta. So the kernels' code is the same for every shape, and
 * a call with a new kind of edge cannot deoptimise them (a recompiled Vector API loop can come
 * back far slower than the first compilation).
 *
 * <p>It replaces {@code VectorBLAS} at every shape vit4j uses: the linear layers' GEMMs (all three
 * transposition cases, long and short k) and the attention's small per-head GEMMs, where
 * {@code VectorBLAS}'s fixed cost per call dominates.
 *
 * <p>Each element of C is summed over k in a fixed order that depends only on k and {@link #KC}
 * (p ascending within a KC block; blocks added to C in order), never on the thread or timing, so
 * results are deterministic. The packing buffers are per thread and reused between calls.
 *
 * <p>Only loaded when the {@code jdk.incubator.vector} module is present ({@link FastMath#VECTOR_API}).
 */
final class VectorGemm {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Rows of C per micro-tile. */
    static final int MR = 6;
    /** Columns of C per micro-tile: two vectors. */
    static final int NR = 2 * L;
    /** Depth of a packed block: a B panel KC x NR fits in L1. */
    static final int KC = 256;
    /** Rows of A per packed block (a multiple of MR): MC x KC fits in L2. */
    static final int MC = 16 * MR;
    /** Columns of B per packed block (a multiple of NR). */
    static final int NC = 128 * NR;

    private static final class Scratch {
        final float[] ap = new float[MC * KC];
        float[] bp = new float[KC * NR];
        final float[] tile = new float[MR * NR];
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private VectorGemm() {
    }

    /** Row-major {@code C = alpha * op(A) op(B) + beta * C}; see the class comment. */
    static void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                      float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                      float beta, float[] c, int cOff, int ldc) {
        if (m <= 0 || n <= 0) {
            return;
        }
        if (k <= 0 || alpha == 0f) {
            for (int i = 0; i < m; i++) {
                int r = cOff + i * ldc;
                for (int j = 0; j < n; j++) {
                    c[r + j] = beta == 0f ? 0f : beta * c[r + j];
                }
            }
            return;
        }
        Scratch w = SCRATCH.get();
        for (int jc = 0; jc < n; jc += NC) {
            int nc = Math.min(NC, n - jc);
            int bpNeeded = KC * roundUp(nc, L);    // KC is even
            if (w.bp.length < bpNeeded) {
                w.bp = new float[bpNeeded];
            }
            for (int pc = 0; pc < k; pc += KC) {
                int kc = Math.min(KC, k - pc);
                int kp = kc + (kc & 1);    // packed depth, even: the kernels step p by two
                boolean first = pc == 0;
                packB(transB, b, bOff, ldb, pc, kc, kp, jc, nc, w.bp);
                for (int ic = 0; ic < m; ic += MC) {
                    int mc = Math.min(MC, m - ic);
                    packA(transA, a, aOff, lda, ic, mc, pc, kc, kp, w.ap);
                    for (int jr = 0; jr < nc; jr += NR) {
                        int nr = Math.min(NR, nc - jr);
                        int bpOff = jr * kp;
                        for (int ir = 0; ir < mc; ir += MR) {
                            int mr = Math.min(MR, mc - ir);
                            int cTile = cOff + (ic + ir) * ldc + jc + jr;
                            float tileBeta = first ? beta : 1f;
                            if (nr > L) {
                                kernel2(kp, w.ap, ir * kp, w.bp, bpOff, w.tile);
                                storeTile(w.tile, NR, mr, nr, alpha, tileBeta, c, cTile, ldc);
                            } else {
                                kernel1(kp, w.ap, ir * kp, w.bp, bpOff, w.tile);
                                storeTile(w.tile, L, mr, nr, alpha, tileBeta, c, cTile, ldc);
                            }
                        }
                    }
                }
            }
        }
    }

    private static int roundUp(int x, int to) {
        return (x + to - 1) / to * to;
    }

    /**
     * Packs {@code op(B)[pc..pc+kc, jc..jc+nc]}: panel {@code jr} (a multiple of NR) starts at
     * {@code jr * kp} and holds row p's {@code w} columns at {@code jr*kp + p*w}, where w is NR, or
     * L for a last panel of at most L columns; columns past nc and rows past kc (up to kp) are zero.
     */
    private static void packB(boolean transB, float[] b, int bOff, int ldb, int pc, int kc, int kp, int jc, int nc,
                              float[] bp) {
        for (int jr = 0; jr < nc; jr += NR) {
            int nr = Math.min(NR, nc - jr);
            int width = nr > L ? NR : L;
            int base = jr * kp;
            int col = jc + jr;
            if (!transB) {
                // B(p, j) = b[bOff + p*ldb + j]: rows of B are contiguous.
                for (int p = 0; p < kc; p++) {
                    int src = bOff + (pc + p) * ldb + col;
                    int dst = base + p * width;
                    System.arraycopy(b, src, bp, dst, nr);
                    if (nr < width) {
                        java.util.Arrays.fill(bp, dst + nr, dst + width, 0f);
                    }
                }
            } else {
                // B(p, j) = b[bOff + j*ldb + p]: columns of op(B) are contiguous.
                for (int j = 0; j < nr; j++) {
                    int src = bOff + (col + j) * ldb + pc;
                    int dst = base + j;
                    for (int p = 0; p < kc; p++) {
                        bp[dst + p * width] = b[src + p];
                    }
                }
                for (int p = 0; p < kc; p++) {
                    java.util.Arrays.fill(bp, base + p * width + nr, base + p * width + width, 0f);
                }
            }
            java.util.Arrays.fill(bp, base + kc * width, base + kp * width, 0f);
        }
    }

    /**
     * Packs {@code op(A)[ic..ic+mc, pc..pc+kc]}: sliver {@code ir} (a multiple of MR) starts at
     * {@code ir * kp} and holds column p's MR rows at {@code ir*kp + p*MR}; rows past mc and
     * columns past kc (up to kp) are zero.
     */
    private static void packA(boolean transA, float[] a, int aOff, int lda, int ic, int mc, int pc, int kc, int kp,
                              float[] ap) {
        for (int ir = 0; ir < mc; ir += MR) {
            int mr = Math.min(MR, mc - ir);
            int base = ir * kp;
            int row = ic + ir;
            if (!transA) {
                // A(i, p) = a[aOff + i*lda + p]
                for (int i = 0; i < mr; i++) {
                    int src = aOff + (row + i) * lda + pc;
                    for (int p = 0; p < kc; p++) {
                        ap[base + p * MR + i] = a[src + p];
                    }
                }
            } else {
                // A(i, p) = a[aOff + p*lda + i]: MR consecutive floats per p.
                for (int p = 0; p < kc; p++) {
                    System.arraycopy(a, aOff + (pc + p) * lda + row, ap, base + p * MR, mr);
                }
            }
            if (mr < MR) {
                for (int p = 0; p < kc; p++) {
                    java.util.Arrays.fill(ap, base + p * MR + mr, base + p * MR + MR, 0f);
                }
            }
            java.util.Arrays.fill(ap, base + kc * MR, base + kp * MR, 0f);
        }
    }

    /**
     * {@code tile[MR][NR] = A sliver x B panel} (two vectors wide) over the packed depth {@code kp}
     * (even). The p loop is unrolled by two: the JIT's code for the one-step loop runs well below
     * the FMA throughput. The kernels have no branch besides the loop and always write the whole
     * tile, so a new shape (an edge, an odd k) never meets an untaken path and deoptimises them;
     * {@link #storeTile} applies alpha and beta.
     */
    private static void kernel2(int kp, float[] ap, int aOff, float[] bp, int bOff, float[] tile) {
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S), c21 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S), c31 = FloatVector.zero(S);
        FloatVector c40 = FloatVector.zero(S), c41 = FloatVector.zero(S);
        FloatVector c50 = FloatVector.zero(S), c51 = FloatVector.zero(S);
        for (int p = 0; p < kp; p += 2) {
            {
                int pa = aOff + p * MR;
                int pb = bOff + p * NR;
                FloatVector b0 = FloatVector.fromArray(S, bp, pb);
                FloatVector b1 = FloatVector.fromArray(S, bp, pb + L);
                FloatVector x;
                x = FloatVector.broadcast(S, ap[pa]);
                c00 = x.fma(b0, c00);
                c01 = x.fma(b1, c01);
                x = FloatVector.broadcast(S, ap[pa + 1]);
                c10 = x.fma(b0, c10);
                c11 = x.fma(b1, c11);
                x = FloatVector.broadcast(S, ap[pa + 2]);
                c20 = x.fma(b0, c20);
                c21 = x.fma(b1, c21);
                x = FloatVector.broadcast(S, ap[pa + 3]);
                c30 = x.fma(b0, c30);
                c31 = x.fma(b1, c31);
                x = FloatVector.broadcast(S, ap[pa + 4]);
                c40 = x.fma(b0, c40);
                c41 = x.fma(b1, c41);
                x = FloatVector.broadcast(S, ap[pa + 5]);
                c50 = x.fma(b0, c50);
                c51 = x.fma(b1, c51);
            }
            {
                int pa = aOff + (p + 1) * MR;
                int pb = bOff + (p + 1) * NR;
                FloatVector b0 = FloatVector.fromArray(S, bp, pb);
                FloatVector b1 = FloatVector.fromArray(S, bp, pb + L);
                FloatVector x;
                x = FloatVector.broadcast(S, ap[pa]);
                c00 = x.fma(b0, c00);
                c01 = x.fma(b1, c01);
                x = FloatVector.broadcast(S, ap[pa + 1]);
                c10 = x.fma(b0, c10);
                c11 = x.fma(b1, c11);
                x = FloatVector.broadcast(S, ap[pa + 2]);
                c20 = x.fma(b0, c20);
                c21 = x.fma(b1, c21);
                x = FloatVector.broadcast(S, ap[pa + 3]);
                c30 = x.fma(b0, c30);
                c31 = x.fma(b1, c31);
                x = FloatVector.broadcast(S, ap[pa + 4]);
                c40 = x.fma(b0, c40);
                c41 = x.fma(b1, c41);
                x = FloatVector.broadcast(S, ap[pa + 5]);
                c50 = x.fma(b0, c50);
                c51 = x.fma(b1, c51);
            }
        }
        c00.intoArray(tile, 0 * NR);
        c01.intoArray(tile, 0 * NR + L);
        c10.intoArray(tile, 1 * NR);
        c11.intoArray(tile, 1 * NR + L);
        c20.intoArray(tile, 2 * NR);
        c21.intoArray(tile, 2 * NR + L);
        c30.intoArray(tile, 3 * NR);
        c31.intoArray(tile, 3 * NR + L);
        c40.intoArray(tile, 4 * NR);
        c41.intoArray(tile, 4 * NR + L);
        c50.intoArray(tile, 5 * NR);
        c51.intoArray(tile, 5 * NR + L);
    }

    /** {@code tile[MR][L]}: a B panel at most one vector wide (the n edge); as {@link #kernel2}. */
    private static void kernel1(int kp, float[] ap, int aOff, float[] bp, int bOff, float[] tile) {
        FloatVector c0 = FloatVector.zero(S);
        FloatVector c1 = FloatVector.zero(S);
        FloatVector c2 = FloatVector.zero(S);
        FloatVector c3 = FloatVector.zero(S);
        FloatVector c4 = FloatVector.zero(S);
        FloatVector c5 = FloatVector.zero(S);
        for (int p = 0; p < kp; p += 2) {
            {
                int pa = aOff + p * MR;
                FloatVector b0 = FloatVector.fromArray(S, bp, bOff + p * L);
                c0 = FloatVector.broadcast(S, ap[pa]).fma(b0, c0);
                c1 = FloatVector.broadcast(S, ap[pa + 1]).fma(b0, c1);
                c2 = FloatVector.broadcast(S, ap[pa + 2]).fma(b0, c2);
                c3 = FloatVector.broadcast(S, ap[pa + 3]).fma(b0, c3);
                c4 = FloatVector.broadcast(S, ap[pa + 4]).fma(b0, c4);
                c5 = FloatVector.broadcast(S, ap[pa + 5]).fma(b0, c5);
            }
            {
                int pa = aOff + (p + 1) * MR;
                FloatVector b0 = FloatVector.fromArray(S, bp, bOff + (p + 1) * L);
                c0 = FloatVector.broadcast(S, ap[pa]).fma(b0, c0);
                c1 = FloatVector.broadcast(S, ap[pa + 1]).fma(b0, c1);
                c2 = FloatVector.broadcast(S, ap[pa + 2]).fma(b0, c2);
                c3 = FloatVector.broadcast(S, ap[pa + 3]).fma(b0, c3);
                c4 = FloatVector.broadcast(S, ap[pa + 4]).fma(b0, c4);
                c5 = FloatVector.broadcast(S, ap[pa + 5]).fma(b0, c5);
            }
        }
        c0.intoArray(tile, 0 * L);
        c1.intoArray(tile, 1 * L);
        c2.intoArray(tile, 2 * L);
        c3.intoArray(tile, 3 * L);
        c4.intoArray(tile, 4 * L);
        c5.intoArray(tile, 5 * L);
    }

    /**
     * {@code C = alpha tile + beta C} on the valid {@code mr x nr} part of a tile (row stride
     * {@code width}); C is not read when beta is 0.
     */
    private static void storeTile(float[] tile, int width, int mr, int nr, float alpha, float beta,
                                  float[] c, int cOff, int ldc) {
        if (nr == width) {
            for (int i = 0; i < mr; i++) {
                for (int j = 0; j < width; j += L) {
                    FloatVector v = FloatVector.fromArray(S, tile, i * width + j).mul(alpha);
                    int off = cOff + i * ldc + j;
                    if (beta != 0f) {
                        FloatVector old = FloatVector.fromArray(S, c, off);
                        v = beta == 1f ? v.add(old) : v.add(old.mul(beta));
                    }
                    v.intoArray(c, off);
                }
            }
            return;
        }
        for (int i = 0; i < mr; i++) {
            int r = cOff + i * ldc;
            int t = i * width;
            for (int j = 0; j < nr; j++) {
                float v = alpha * tile[t + j];
                c[r + j] = beta == 0f ? v : (beta == 1f ? v + c[r + j] : v + beta * c[r + j]);
            }
        }
    }
}
