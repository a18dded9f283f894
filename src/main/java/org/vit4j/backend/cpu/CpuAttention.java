package org.vit4j.backend.cpu;

/**
 * Fused multi-head softmax attention on the CPU, forward and backward.
 *
 * <p>Layout: {@code qkv[B, N, 3*D]} holds Q, K, V side by side, each split into {@code heads}
 * groups of {@code hd = D/heads}; {@code out[B, N, D]}; {@code lse[B, heads, N]} is the
 * log-sum-exp of each query's scaled scores, all backward needs to recompute the probabilities.
 *
 * <p>Why the batch is the inner loop: per (image, head) the products are tiny (N x N x hd, e.g.
 * 17 x 17 x 8) and loops over 8 or 17 elements stay scalar in HotSpot. So each task takes one
 * head and a slice of up to a few images, copies Q, K, V into [hd][N][lanes] arrays
 * ("images as SIMD lanes"), and every inner loop then runs over the lanes with stride 1 and no
 * reduction, which the JIT vectorises. The N x N scores exist only one query row at a time.
 *
 * <p>With attention-weight dropout ({@link AttentionDropout}) the output sums the kept weights
 * {@code P'_ij = P_ij M_ij} (M the mask scaled by 1/(1-p)); the log-sum-exp and the softmax are
 * of the undropped scores, and backward scales {@code dP} by the same mask.
 *
 * <p>For longer sequences and wider heads the per-(image, head) products are big enough for BLAS
 * and {@link CpuGemmAttention} is faster; {@code CpuBackend.attentionPath} picks by N and hd.
 */
final class CpuAttention {
    /** Scratch floats per Q, K or V array of a task: 128 KiB, so a task's arrays stay in L2. */
    private static final int SCRATCH_FLOATS = 32 * 1024;

    private final int batch;
    private final int n;
    private final int dim;
    private final int heads;
    private final int hd;
    private final float scale;
    private final AttentionDropout drop;
    /** Images per task: up to 128 (long enough to vectorise), fewer for long sequences and wide heads. */
    private final int lanesMax;
    /**
     * Length of a scratch row: {@code lanesMax}, rounded up to whole vectors when the Vector API
     * loops ({@link VectorMath#scores} and the others) run; they compute the padding lanes too, and
     * since every operation is lane by lane, whatever those lanes hold never reaches a real one.
     */
    private final int width;
    /** Whether the Vector API loops run ({@link FastMath#VECTOR_API}; tests compare both). */
    private final boolean vector;

    CpuAttention(int batch, int tokens, int dim, int heads, float scale, AttentionDropout drop) {
        this(batch, tokens, dim, heads, scale, drop, FastMath.VECTOR_API);
    }

    CpuAttention(int batch, int tokens, int dim, int heads, float scale, AttentionDropout drop, boolean vector) {
        this.vector = vector;
        this.batch = batch;
        this.n = tokens;
        this.dim = dim;
        this.heads = heads;
        this.hd = dim / heads;
        this.scale = scale;
        this.drop = drop;
        int widest = Math.max(8, Math.min(128, SCRATCH_FLOATS / Math.max(1, hd * tokens)) / 8 * 8);
        // Equal slices (100 images: 2 x 50, not 64 + 36), so the threads get equal work.
        int slices = (batch + widest - 1) / widest;
        this.lanesMax = Math.max(1, (batch + slices - 1) / slices);
        int vectorLanes = vector ? VectorMath.lanes() : 1;
        this.width = (lanesMax + vectorLanes - 1) / vectorLanes * vectorLanes;
    }

    int tasks() {
        return heads * slices();
    }

    private int slices() {
        return (batch + lanesMax - 1) / lanesMax;
    }

    /**
     * Per-task scratch, reused across the tasks a thread runs. Every row is its own array of
     * lanes: HotSpot vectorises {@code a[l] += b[l] * c[l]} but not the same loop with a
     * different offset into each array.
     */
    final class Scratch {
        final float[][] q = new float[hd * n][width];   // [d * n + t][lane]
        final float[][] k = new float[hd * n][width];
        final float[][] v = new float[hd * n][width];
        final float[][] p = new float[n][width];        // one query row of scores / probabilities
        final float[][] o = new float[hd][width];       // one query row of output
        final float[] rowMax = new float[width];
        final float[] rowSum = new float[width];
        // backward only
        final float[][] dO = new float[hd * n][width];
        final float[][] dq = new float[hd * n][width];
        final float[][] dk = new float[hd * n][width];
        final float[][] dv = new float[hd * n][width];
        final float[][] dp = new float[n][width];
        final float[] rowDot = new float[width];
        /** The dropout factors of one query row, [j][lane]; only with dropout. */
        final float[][] m = drop == null ? null : new float[n][width];
    }

    Scratch scratch() {
        return new Scratch();
    }

    // ================================================================= forward

    void forward(int task, Scratch w, float[] qkv, float[] out, float[] lse) {
        int h = task % heads, b0 = (task / heads) * lanesMax, lanes = Math.min(lanesMax, batch - b0);
        gather(qkv, 3 * dim, b0, lanes, h, 0, w.q);
        gather(qkv, 3 * dim, b0, lanes, h, dim, w.k);
        gather(qkv, 3 * dim, b0, lanes, h, 2 * dim, w.v);
        float[] max = w.rowMax, sum = w.rowSum;
        for (int i = 0; i < n; i++) {
            scores(w, i, lanes);
            java.util.Arrays.fill(max, Float.NEGATIVE_INFINITY);
            // over the padding lanes too, so their shift is finite and keeps the vector exp on its fast path
            int maxLanes = vector ? width : lanes;
            for (float[] pj : w.p) {
                for (int l = 0; l < maxLanes; l++) {
                    max[l] = Math.max(max[l], pj[l]);
                }
            }
            java.util.Arrays.fill(sum, 0f);
            for (float[] pj : w.p) {
                if (vector) {
                    VectorMath.expShifted(pj, max, sum, width);
                    continue;
                }
                for (int l = 0; l < lanes; l++) {
                    pj[l] = FastMath.exp(pj[l] - max[l]);
                    sum[l] += pj[l];
                }
            }
            if (drop != null) {
                // the sum above is of the undropped weights; o sums the kept ones
                mask(w, h, b0, lanes, i);
                for (int j = 0; j < n; j++) {
                    float[] pj = w.p[j], mj = w.m[j];
                    for (int l = 0; l < lanes; l++) {
                        pj[l] *= mj[l];
                    }
                }
            }
            // o = sum_j p_j v_j, normalised once at the end
            if (vector) {
                VectorMath.weightedSum(w.p, w.v, w.o, n, hd, width);
            } else {
                for (int d = 0; d < hd; d++) {
                    float[] od = w.o[d];
                    java.util.Arrays.fill(od, 0f);
                    for (int j = 0; j < n; j++) {
                        float[] pj = w.p[j], vj = w.v[d * n + j];
                        for (int l = 0; l < lanes; l++) {
                            od[l] += pj[l] * vj[l];
                        }
                    }
                }
            }
            for (int l = 0; l < lanes; l++) {
                int b = b0 + l;
                float inv = 1f / sum[l];
                int oi = (b * n + i) * dim + h * hd;
                for (int d = 0; d < hd; d++) {
                    out[oi + d] = w.o[d][l] * inv;
                }
                lse[(b * heads + h) * n + i] = max[l] + (float) Math.log(sum[l]);
            }
        }
    }

    /** {@code w.p[j][l] = q_i . k_j * scale} for query {@code i}, every key {@code j} and lane. */
    private void scores(Scratch w, int i, int lanes) {
        if (vector) {
            VectorMath.scores(w.q, w.k, w.p, i, n, hd, scale, width);
            return;
        }
        for (float[] pj : w.p) {
            java.util.Arrays.fill(pj, 0f);
        }
        for (int d = 0; d < hd; d++) {
            float[] qi = w.q[d * n + i];
            for (int j = 0; j < n; j++) {
                float[] kj = w.k[d * n + j], pj = w.p[j];
                for (int l = 0; l < lanes; l++) {
                    pj[l] += qi[l] * kj[l];
                }
            }
        }
        for (float[] pj : w.p) {
            for (int l = 0; l < lanes; l++) {
                pj[l] *= scale;
            }
        }
    }

    // ================================================================= backward

    void backward(int task, Scratch w, float[] qkv, float[] out, float[] lse, float[] dout, float[] dqkv) {
        int h = task % heads, b0 = (task / heads) * lanesMax, lanes = Math.min(lanesMax, batch - b0);
        gather(qkv, 3 * dim, b0, lanes, h, 0, w.q);
        gather(qkv, 3 * dim, b0, lanes, h, dim, w.k);
        gather(qkv, 3 * dim, b0, lanes, h, 2 * dim, w.v);
        gather(dout, dim, b0, lanes, h, 0, w.dO);
        for (int r = 0; r < hd * n; r++) {
            java.util.Arrays.fill(w.dk[r], 0f);
            java.util.Arrays.fill(w.dv[r], 0f);
        }
        float[] rowLse = w.rowSum, rowDot = w.rowDot;
        for (int i = 0; i < n; i++) {
            // P_i recomputed from the saved log-sum-exp
            scores(w, i, lanes);
            for (int l = 0; l < lanes; l++) {
                rowLse[l] = lse[((b0 + l) * heads + h) * n + i];
            }
            for (float[] pj : w.p) {
                if (vector) {
                    VectorMath.expShifted(pj, rowLse, null, width);
                    continue;
                }
                for (int l = 0; l < lanes; l++) {
                    pj[l] = FastMath.exp(pj[l] - rowLse[l]);
                }
            }
            // rowDot = dO_i . O_i = sum_j P_ij dP_ij
            for (int l = 0; l < lanes; l++) {
                int oi = ((b0 + l) * n + i) * dim + h * hd;
                float dot = 0;
                for (int d = 0; d < hd; d++) {
                    dot += dout[oi + d] * out[oi + d];
                }
                rowDot[l] = dot;
            }
            if (drop == null && vector) {
                VectorMath.probabilityGradient(w.dO, w.v, w.p, w.dp, w.dv, i, n, hd, width);
            } else {
                probabilityGradient(w, h, b0, lanes, i);
            }
            // dS_ij = P_ij (dP_ij - rowDot_i), with the scores' scale folded in
            for (int j = 0; j < n; j++) {
                float[] pj = w.p[j], dpj = w.dp[j];
                for (int l = 0; l < lanes; l++) {
                    dpj[l] = pj[l] * (dpj[l] - rowDot[l]) * scale;
                }
            }
            // dQ_i = sum_j dS_ij K_j ;  dK_j += dS_ij Q_i
            if (vector) {
                VectorMath.queryKeyGradient(w.q, w.k, w.dp, w.dq, w.dk, i, n, hd, width);
            } else {
                for (int d = 0; d < hd; d++) {
                    float[] qi = w.q[d * n + i], dqi = w.dq[d * n + i];
                    java.util.Arrays.fill(dqi, 0f);
                    for (int j = 0; j < n; j++) {
                        float[] kj = w.k[d * n + j], dkj = w.dk[d * n + j], dsj = w.dp[j];
                        for (int l = 0; l < lanes; l++) {
                            dqi[l] += dsj[l] * kj[l];
                            dkj[l] += dsj[l] * qi[l];
                        }
                    }
                }
            }
        }
        scatter(w.dq, b0, lanes, h, 0, dqkv);
        scatter(w.dk, b0, lanes, h, dim, dqkv);
        scatter(w.dv, b0, lanes, h, 2 * dim, dqkv);
    }

    /** dP_ij = dO_i . V_j ;  dV_j += P_ij dO_i  (with dropout: P'_ij, and dP_ij times M_ij). */
    private void probabilityGradient(Scratch w, int h, int b0, int lanes, int i) {
        for (float[] dpj : w.dp) {
            java.util.Arrays.fill(dpj, 0f);
        }
        if (drop != null) {
            mask(w, h, b0, lanes, i);
        }
        for (int d = 0; d < hd; d++) {
            float[] gi = w.dO[d * n + i];
            for (int j = 0; j < n; j++) {
                float[] vj = w.v[d * n + j], dvj = w.dv[d * n + j], pj = w.p[j], dpj = w.dp[j];
                if (drop == null) {
                    for (int l = 0; l < lanes; l++) {
                        dpj[l] += gi[l] * vj[l];
                        dvj[l] += pj[l] * gi[l];
                    }
                } else {
                    float[] mj = w.m[j];
                    for (int l = 0; l < lanes; l++) {
                        dpj[l] += gi[l] * vj[l];
                        dvj[l] += pj[l] * mj[l] * gi[l];
                    }
                }
            }
        }
        if (drop != null) {
            for (int j = 0; j < n; j++) {
                float[] dpj = w.dp[j], mj = w.m[j];
                for (int l = 0; l < lanes; l++) {
                    dpj[l] *= mj[l];
                }
            }
        }
    }

    /** {@code w.m[j][l]}: the dropout factor of weight (b0 + l, h, i, j). */
    private void mask(Scratch w, int h, int b0, int lanes, int i) {
        for (int j = 0; j < n; j++) {
            float[] mj = w.m[j];
            for (int l = 0; l < lanes; l++) {
                mj[l] = drop.factor(b0 + l, h, i, j);
            }
        }
    }

    // ================================================================= layout changes

    /*
     * The lane loop is innermost in gather and scatter: one lane row's reference is loaded once per
     * (t, d) instead of once per element, and the lanes' cache lines for token t, read for d = 0,
     * stay in L1 for the other d.
     */

    /** {@code dst[d * n + t][l] = rows[b0 + l, t, offset + h*hd + d]} for rows of {@code stride} floats. */
    private void gather(float[] rows, int stride, int b0, int lanes, int h, int offset, float[][] dst) {
        int imageStride = n * stride;
        for (int t = 0; t < n; t++) {
            int base = b0 * imageStride + t * stride + offset + h * hd;
            for (int d = 0; d < hd; d++) {
                float[] row = dst[d * n + t];
                for (int l = 0, src = base + d; l < lanes; l++, src += imageStride) {
                    row[l] = rows[src];
                }
            }
        }
    }

    /** The inverse of {@link #gather} into {@code qkv}, writing every element of this head's slice. */
    private void scatter(float[][] src, int b0, int lanes, int h, int offset, float[] qkv) {
        int stride = 3 * dim, imageStride = n * stride;
        for (int t = 0; t < n; t++) {
            int base = b0 * imageStride + t * stride + offset + h * hd;
            for (int d = 0; d < hd; d++) {
                float[] row = src[d * n + t];
                for (int l = 0, dst = base + d; l < lanes; l++, dst += imageStride) {
                    qkv[dst] = row[l];
                }
            }
        }
    }
}
