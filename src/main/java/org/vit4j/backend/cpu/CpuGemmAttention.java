package org.vit4j.backend.cpu;

/**
 * Multi-head softmax attention on the CPU built on BLAS GEMMs, for sequences long enough that
 * the per-(image, head) products are worth a GEMM call: same layout and results as
 * {@link CpuAttention} ({@code qkv[B, N, 3*D]}, {@code out[B, N, D]}, {@code lse[B, heads, N]}).
 *
 * <p>One task is one (image, head). It copies the head's Q, K, V ({@code N x hd} each, strided
 * inside qkv's rows) into contiguous row-major scratch, so every GEMM sees plain matrices
 * (netlib's bounds checks reject a strided view of the last image's columns), and works on the
 * full {@code N x N} score matrix:
 * <pre>
 * forward   S = Q K^T * scale;  P = softmax_rows(S) (max subtracted);  lse_i = max_i + log sum_i;  O = P' V
 * backward  P = exp(S - lse);  dP = (dO V^T) o M;  dV = P'^T dO;  D_i = dO_i . O_i;
 *           dS = P o (dP - D) * scale;  dQ = dS K;  dK = dS^T Q
 * </pre>
 * where {@code P' = P o M} with M the attention-weight dropout mask scaled by 1/(1-p)
 * ({@link AttentionDropout}; P' = P without dropout). {@code D_i = dO_i . O_i} still equals
 * {@code sum_j P_ij dP_ij}, since O = P' V.
 * Every task writes only its own image's head columns, and the GEMMs run single-threaded inside a
 * task, so results do not depend on the thread count or timing.
 */
final class CpuGemmAttention {
    private final RowMajorGemm gemm;
    private final int batch;
    private final int n;
    private final int dim;
    private final int heads;
    private final int hd;
    private final float scale;
    private final AttentionDropout drop;

    CpuGemmAttention(RowMajorGemm gemm, int batch, int tokens, int dim, int heads, float scale, AttentionDropout drop) {
        this.gemm = gemm;
        this.batch = batch;
        this.n = tokens;
        this.dim = dim;
        this.heads = heads;
        this.hd = dim / heads;
        this.scale = scale;
        this.drop = drop;
    }

    /** One task per (image, head): {@code task = b * heads + h}. */
    int tasks() {
        return batch * heads;
    }

    /** Per-thread scratch, reused across the tasks a thread runs. */
    final class Scratch {
        final float[] q = new float[n * hd];    // [N][hd] row-major
        final float[] k = new float[n * hd];
        final float[] v = new float[n * hd];
        final float[] s = new float[n * n];     // scores, then probabilities
        final float[] o = new float[n * hd];    // forward output; backward: dO
        // backward only
        final float[] dp = new float[n * n];    // dP, then dS
        final float[] dq = new float[n * hd];
        final float[] dk = new float[n * hd];
        final float[] dv = new float[n * hd];
        final float[] rowDot = new float[n];
        final float[] pm = drop == null ? null : new float[n * n];    // P', the weights after dropout
    }

    Scratch scratch() {
        return new Scratch();
    }

    // ================================================================= forward

    void forward(int task, Scratch w, float[] qkv, float[] out, float[] lse) {
        int b = task / heads, h = task % heads;
        int stride = 3 * dim, base = b * n * stride + h * hd;
        gather(qkv, base, stride, w.q);
        gather(qkv, base + dim, stride, w.k);
        gather(qkv, base + 2 * dim, stride, w.v);
        float[] s = w.s;
        // S[N,N] = scale * Q K^T
        mm(false, true, n, n, hd, scale, w.q, hd, w.k, hd, s, n);
        int lseBase = (b * heads + h) * n;
        for (int i = 0; i < n; i++) {
            int r = i * n;
            if (FastMath.VECTOR_API) {
                float max = VectorMath.max(s, r, n);
                float sum = VectorMath.expShiftedSum(s, r, n, max);
                VectorMath.scale(s, r, n, 1f / sum);
                lse[lseBase + i] = max + (float) Math.log(sum);
                continue;
            }
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < n; j++) {
                max = Math.max(max, s[r + j]);
            }
            for (int j = 0; j < n; j++) {
                s[r + j] = FastMath.exp(s[r + j] - max);
            }
            float sum = 0f;
            for (int j = 0; j < n; j++) {
                sum += s[r + j];
            }
            float inv = 1f / sum;
            for (int j = 0; j < n; j++) {
                s[r + j] *= inv;
            }
            lse[lseBase + i] = max + (float) Math.log(sum);
        }
        // O[N,hd] = P' V
        mm(false, false, n, hd, n, 1f, dropped(s, w, b, h), n, w.v, hd, w.o, hd);
        scatter(w.o, out, b * n * dim + h * hd, dim);
    }

    // ================================================================= backward

    void backward(int task, Scratch w, float[] qkv, float[] out, float[] lse, float[] dout, float[] dqkv) {
        int b = task / heads, h = task % heads;
        int stride = 3 * dim, base = b * n * stride + h * hd;
        int outBase = b * n * dim + h * hd;
        gather(qkv, base, stride, w.q);
        gather(qkv, base + dim, stride, w.k);
        gather(qkv, base + 2 * dim, stride, w.v);
        float[] dO = w.o;
        for (int t = 0; t < n; t++) {
            System.arraycopy(dout, outBase + t * dim, dO, t * hd, hd);
        }
        // D_i = dO_i . O_i
        for (int t = 0; t < n; t++) {
            int oi = outBase + t * dim;
            float dot = 0f;
            for (int d = 0; d < hd; d++) {
                dot += dout[oi + d] * out[oi + d];
            }
            w.rowDot[t] = dot;
        }
        // P = exp(scale * Q K^T - lse), recomputed
        float[] p = w.s, ds = w.dp;
        mm(false, true, n, n, hd, scale, w.q, hd, w.k, hd, p, n);
        int lseBase = (b * heads + h) * n;
        for (int i = 0; i < n; i++) {
            int r = i * n;
            float l = lse[lseBase + i];
            if (FastMath.VECTOR_API) {
                VectorMath.expShiftedSum(p, r, n, l);
                continue;
            }
            for (int j = 0; j < n; j++) {
                p[r + j] = FastMath.exp(p[r + j] - l);
            }
        }
        // dP[N,N] = (dO V^T) o M ;  dV[N,hd] = P'^T dO
        mm(false, true, n, n, hd, 1f, dO, hd, w.v, hd, ds, n);
        mm(true, false, n, hd, n, 1f, dropped(p, w, b, h), n, dO, hd, w.dv, hd);
        if (drop != null) {
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < n; j++) {
                    ds[i * n + j] *= drop.factor(b, h, i, j);
                }
            }
        }
        // dS = P o (dP - D), with the scores' scale folded in
        for (int i = 0; i < n; i++) {
            int r = i * n;
            float di = w.rowDot[i];
            if (FastMath.VECTOR_API) {
                VectorMath.softmaxGradient(p, ds, r, n, di, scale);
                continue;
            }
            for (int j = 0; j < n; j++) {
                ds[r + j] = p[r + j] * (ds[r + j] - di) * scale;
            }
        }
        // dQ[N,hd] = dS K ;  dK[N,hd] = dS^T Q
        mm(false, false, n, hd, n, 1f, ds, n, w.k, hd, w.dq, hd);
        mm(true, false, n, hd, n, 1f, ds, n, w.q, hd, w.dk, hd);
        scatter(w.dq, dqkv, base, stride);
        scatter(w.dk, dqkv, base + dim, stride);
        scatter(w.dv, dqkv, base + 2 * dim, stride);
    }

    // ================================================================= helpers

    /** P' = P o M into the scratch, or P itself without dropout. */
    private float[] dropped(float[] p, Scratch w, int b, int h) {
        if (drop == null) {
            return p;
        }
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                w.pm[i * n + j] = p[i * n + j] * drop.factor(b, h, i, j);
            }
        }
        return w.pm;
    }

    /** Row-major {@code C[m,c] = alpha * op(A)[m,k] op(B)[k,c]} (beta 0) on whole arrays. */
    private void mm(boolean transA, boolean transB, int m, int c, int k, float alpha,
                    float[] a, int lda, float[] bm, int ldb, float[] out, int ldc) {
        gemm.sgemm(transA, transB, m, c, k, alpha, a, 0, lda, bm, 0, ldb, 0f, out, 0, ldc);
    }

    /** {@code dst[t * hd + d] = rows[offset + t * stride + d]}: one head's columns of N rows. */
    private void gather(float[] rows, int offset, int stride, float[] dst) {
        for (int t = 0; t < n; t++) {
            System.arraycopy(rows, offset + t * stride, dst, t * hd, hd);
        }
    }

    /** The inverse of {@link #gather}: writes every element of the head's columns. */
    private void scatter(float[] src, float[] rows, int offset, int stride) {
        for (int t = 0; t < n; t++) {
            System.arraycopy(src, t * hd, rows, offset + t * stride, hd);
        }
    }
}
