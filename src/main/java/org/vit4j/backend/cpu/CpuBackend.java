package org.vit4j.backend.cpu;

import dev.ludovic.netlib.blas.BLAS;
import org.vit4j.backend.Backend;
import org.vit4j.backend.DropoutMask;
import org.vit4j.backend.OpChecks;
import org.vit4j.tensor.DType;
import org.vit4j.tensor.Shape;
import org.vit4j.tensor.Tensor;

/**
 * The reference backend: every op in plain Java loops over {@code float[]}, the heavy ones
 * split over the cores, GEMMs through native OpenBLAS (netlib's {@code JNIBLAS}) when it is
 * installed, else {@link VectorGemm} (pure Java on the JDK Vector API), else netlib's plain-Java
 * BLAS; {@link #blasImplementation()} says which.
 *
 * <p>Results are deterministic for a given thread count: loops are split into fixed chunks and
 * reductions add per-chunk partial sums in chunk order.
 */
public final class CpuBackend implements Backend {
    private static final float INV_SQRT2 = (float) (1.0 / Math.sqrt(2.0));
    private static final float INV_SQRT_2PI = (float) (1.0 / Math.sqrt(2.0 * Math.PI));

    /**
     * System property choosing the GEMMs: {@code true} forces {@link VectorGemm} (when the Vector
     * API module is present), {@code false} forces netlib; unset, {@link VectorGemm} runs
     * whenever the BLAS is not native.
     */
    static final String JAVA_GEMM_PROPERTY = "vit4j.javaGemm";

    private final BLAS blas = BLAS.getInstance();
    /** Whether GEMMs run in {@link VectorGemm} instead of {@link #blas}. */
    private final boolean javaGemm;
    /** The single-threaded GEMM every GEMM here (and {@link CpuGemmAttention}'s) calls. */
    private final RowMajorGemm sgemm;
    private final Parallel parallel;

    /** A backend using every available core. */
    public CpuBackend() {
        this(Runtime.getRuntime().availableProcessors());
    }

    public CpuBackend(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        }
        this.parallel = new Parallel(threads);
        this.javaGemm = useJavaGemm(blas.getClass().getSimpleName(), System.getProperty(JAVA_GEMM_PROPERTY));
        this.sgemm = javaGemm ? RowMajorGemm.vector() : RowMajorGemm.of(blas);
        if (!javaGemm && blas.getClass().getSimpleName().startsWith("JNI")) {
            NativeBlasThreads.capAtOne();
        }
    }

    /** {@link VectorGemm} unless the BLAS is native ({@code JNI...}) or the property says otherwise. */
    static boolean useJavaGemm(String blasName, String property) {
        if (!FastMath.VECTOR_API || "false".equals(property)) {
            return false;
        }
        return "true".equals(property) || !blasName.startsWith("JNI");
    }

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public String description() {
        return "CPU, " + parallel.threads() + " threads, BLAS " + blasImplementation();
    }

    /**
     * The GEMMs in use: {@code VectorGemm} (pure Java, {@link VectorGemm}), else the netlib BLAS,
     * e.g. {@code JNIBLAS} (native) or {@code Java11BLAS} (plain Java).
     */
    public String blasImplementation() {
        return javaGemm ? "VectorGemm" : blas.getClass().getSimpleName();
    }

    public int threads() {
        return parallel.threads();
    }

    // ================================================================= memory

    @Override
    public Tensor allocate(DType dtype, Shape shape) {
        return new CpuTensor(dtype, shape);
    }

    @Override
    public void upload(float[] src, int srcOffset, Tensor dst) {
        System.arraycopy(src, srcOffset, f(dst), 0, n(dst));
    }

    @Override
    public void upload(int[] src, int srcOffset, Tensor dst) {
        System.arraycopy(src, srcOffset, i(dst), 0, n(dst));
    }

    @Override
    public void download(Tensor src, float[] dst, int dstOffset) {
        System.arraycopy(f(src), 0, dst, dstOffset, n(src));
    }

    @Override
    public void download(Tensor src, int[] dst, int dstOffset) {
        System.arraycopy(i(src), 0, dst, dstOffset, n(src));
    }

    @Override
    public void fill(Tensor t, float value) {
        java.util.Arrays.fill(f(t), 0, n(t), value);
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        OpChecks.sameSize("copy", src, dst);
        if (src.dtype() == DType.I32) {
            System.arraycopy(i(src), 0, i(dst), 0, n(src));
        } else {
            System.arraycopy(f(src), 0, f(dst), 0, n(src));
        }
    }

    @Override
    public void synchronize() {
        // CPU ops complete before they return.
    }

    // ================================================================= GEMM

    /**
     * Row-major {@code C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C}, split over rows of C
     * (or, for a weight gradient, over k), each part one call of {@link #sgemm}.
     */
    private void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                      float[] a, int lda, float[] b, int ldb, float beta, float[] c, int ldc) {
        if (m == 0 || n == 0) {
            return;
        }
        if (transA) {
            // A weight gradient: C is small (out x in) and k (rows of data) is long. Split k instead,
            // each chunk into its own partial product, summed in chunk order (deterministic). Row
            // chunks of C would need offsets into a transposed A, which netlib's bounds check rejects.
            int chunks = transB ? 1 : parallel.chunks(k, 64);
            if (chunks == 1) {
                sgemm.sgemm(true, transB, m, n, k, alpha, a, 0, lda, b, 0, ldb, beta, c, 0, ldc);
                return;
            }
            float[][] partial = new float[chunks][m * ldc];
            parallel.forChunks(k, 64, (ch, k0, k1) -> sgemm.sgemm(true, false, m, n, k1 - k0, 1f,
                    a, k0 * lda, lda, b, k0 * ldb, ldb, 0f, partial[ch], 0, ldc));
            parallel.forRange(m, 8, (r0, r1) -> {
                for (int r = r0; r < r1; r++) {
                    for (int j = r * ldc, end = r * ldc + n; j < end; j++) {
                        float sum = 0;
                        for (float[] p : partial) {
                            sum += p[j];
                        }
                        c[j] = (beta == 0f ? 0f : beta * c[j]) + alpha * sum;
                    }
                }
            });
            return;
        }
        // Each chunk owns whole rows of C, so chunks never write the same element.
        long flopsPerRow = 2L * n * k;
        int grain = (int) Math.max(1, (1L << 18) / Math.max(1, flopsPerRow));
        parallel.forRange(m, grain, (r0, r1) -> sgemm.sgemm(false, transB, r1 - r0, n, k, alpha,
                a, r0 * lda, lda, b, 0, ldb, beta, c, r0 * ldc, ldc));
    }

    // ================================================================= linear

    @Override
    public void linearForward(Tensor x, Tensor weight, Tensor bias, Tensor y) {
        OpChecks.LinearDims dims = OpChecks.linear("linearForward", x, weight, bias, y);
        int in = dims.in(), out = dims.out(), rows = dims.rows();
        float[] yd = f(y);
        gemm(false, true, rows, out, in, 1f, f(x), in, f(weight), in, 0f, yd, out);
        if (bias != null) {
            float[] bd = f(bias);
            parallel.forRange(rows, 64, (r0, r1) -> {
                for (int r = r0; r < r1; r++) {
                    int o = r * out;
                    for (int j = 0; j < out; j++) {
                        yd[o + j] += bd[j];
                    }
                }
            });
        }
    }

    @Override
    public void linearBackward(Tensor dy, Tensor x, Tensor weight, Tensor dx, Tensor dWeight, Tensor dBias) {
        OpChecks.LinearDims dims = OpChecks.linear("linearBackward", x, weight, dBias, dy);
        int in = dims.in(), out = dims.out(), rows = dims.rows();
        OpChecks.requireShape("linearBackward dWeight", dWeight, weight.shape());
        float[] dyd = f(dy);
        if (dx != null) {
            OpChecks.requireShape("linearBackward dx", dx, x.shape());
            gemm(false, false, rows, in, out, 1f, dyd, out, f(weight), in, 0f, f(dx), in);
        }
        // dW[out,in] += dy^T[out,rows] x[rows,in]
        gemm(true, false, out, in, rows, 1f, dyd, out, f(x), in, 1f, f(dWeight), in);
        if (dBias != null) {
            float[] db = f(dBias);
            parallel.forRange(out, 8, (j0, j1) -> {
                if (FastMath.VECTOR_API) {
                    VectorMath.columnSums(dyd, out, rows, db, j0, j1);
                    return;
                }
                for (int r = 0; r < rows; r++) {
                    int o = r * out;
                    for (int j = j0; j < j1; j++) {
                        db[j] += dyd[o + j];
                    }
                }
            });
        }
    }

    // ================================================================= LayerNorm

    /**
     * Rows per block of {@link #layerNormBackward}'s dGamma/dBeta partial sums. The blocks depend
     * only on the row count, so the sums (each block's rows in order, then the blocks in order) do
     * not depend on the thread count, nor on which thread computes a block.
     */
    static final int LAYER_NORM_BLOCK_ROWS = 64;

    private boolean vectorLayerNorm = FastMath.VECTOR_API;

    /**
     * For tests and benchmarks: run LayerNorm's Vector API loops ({@link VectorMath#layerNormForward},
     * the default when {@link FastMath#VECTOR_API}) or its scalar loops. They round differently
     * (the vector loops sum a row in vector lanes, the scalar forward in double), both within float
     * accuracy of the exact result.
     */
    void useVectorLayerNorm(boolean vector) {
        if (vector && !FastMath.VECTOR_API) {
            throw new IllegalStateException("the Vector API is not available (--add-modules jdk.incubator.vector)");
        }
        this.vectorLayerNorm = vector;
    }

    /**
     * Each row's mean and variance in two passes (the mean, then the squared deviations from it),
     * by the Vector API ({@code VectorMath.layerNormForward}: float lanes) or, without it, a scalar
     * loop summing in double. A row's results depend only on that row, never on the thread count.
     */
    @Override
    public void layerNormForward(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor y, Tensor mean, Tensor rstd) {
        int c = x.shape().dim(-1), rows = OpChecks.layerNorm("layerNormForward", x, gamma, beta, y, mean, rstd);
        float[] xd = f(x), yd = f(y), g = f(gamma), b = f(beta), md = f(mean), rd = f(rstd);
        boolean vector = vectorLayerNorm;
        parallel.forRange(rows, 16, (r0, r1) -> {
            if (vector) {
                VectorMath.layerNormForward(xd, g, b, eps, c, yd, md, rd, r0, r1);
            } else {
                layerNormForwardScalar(xd, g, b, eps, c, yd, md, rd, r0, r1);
            }
        });
    }

    private static void layerNormForwardScalar(float[] xd, float[] g, float[] b, float eps, int c,
                                               float[] yd, float[] md, float[] rd, int r0, int r1) {
        for (int r = r0; r < r1; r++) {
            int o = r * c;
            double sum = 0;
            for (int j = 0; j < c; j++) {
                sum += xd[o + j];
            }
            float mu = (float) (sum / c);
            double var = 0;
            for (int j = 0; j < c; j++) {
                float d = xd[o + j] - mu;
                var += d * d;
            }
            float rs = (float) (1.0 / Math.sqrt(var / c + eps));
            for (int j = 0; j < c; j++) {
                yd[o + j] = (xd[o + j] - mu) * rs * g[j] + b[j];
            }
            md[r] = mu;
            rd[r] = rs;
        }
    }

    /**
     * {@code dx} row by row ({@code VectorMath.layerNormBackward} or a scalar loop); dGamma and
     * dBeta from partial sums over blocks of {@link #LAYER_NORM_BLOCK_ROWS} rows, added in block
     * order, so every output has the same bits whatever the thread count.
     */
    @Override
    public void layerNormBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd,
                                  Tensor dx, Tensor dGamma, Tensor dBeta) {
        int c = x.shape().dim(-1), rows = OpChecks.layerNorm("layerNormBackward", x, gamma, dBeta, dy, mean, rstd);
        OpChecks.requireShape("layerNormBackward dx", dx, x.shape());
        OpChecks.requireShape("layerNormBackward dGamma", dGamma, gamma.shape());
        float[] dyd = f(dy), xd = f(x), g = f(gamma), md = f(mean), rd = f(rstd), dxd = f(dx);
        int blocks = Math.max(1, (rows + LAYER_NORM_BLOCK_ROWS - 1) / LAYER_NORM_BLOCK_ROWS);
        float[] partialGamma = new float[blocks * c];
        float[] partialBeta = new float[blocks * c];
        boolean vector = vectorLayerNorm;
        parallel.forRange(blocks, 1, (k0, k1) -> {
            for (int k = k0; k < k1; k++) {
                int r0 = k * LAYER_NORM_BLOCK_ROWS, r1 = Math.min(rows, r0 + LAYER_NORM_BLOCK_ROWS);
                if (vector) {
                    VectorMath.layerNormBackward(dyd, xd, g, md, rd, c, dxd, partialGamma, partialBeta, k * c, r0, r1);
                } else {
                    layerNormBackwardScalar(dyd, xd, g, md, rd, c, dxd, partialGamma, partialBeta, k * c, r0, r1);
                }
            }
        });
        float[] dg = f(dGamma), db = f(dBeta);
        if (vector) {
            VectorMath.addBlocks(partialGamma, blocks, c, dg);
            VectorMath.addBlocks(partialBeta, blocks, c, db);
        } else {
            addBlocksScalar(partialGamma, blocks, c, dg);
            addBlocksScalar(partialBeta, blocks, c, db);
        }
    }

    private static void layerNormBackwardScalar(float[] dyd, float[] xd, float[] g, float[] md, float[] rd, int c,
                                                float[] dxd, float[] pg, float[] pb, int p, int r0, int r1) {
        for (int r = r0; r < r1; r++) {
            int o = r * c;
            float mu = md[r], rs = rd[r];
            // dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = dy * gamma
            float sumDxhat = 0, sumDxhatXhat = 0;
            for (int j = 0; j < c; j++) {
                float xhat = (xd[o + j] - mu) * rs;
                float dxhat = dyd[o + j] * g[j];
                sumDxhat += dxhat;
                sumDxhatXhat += dxhat * xhat;
                pg[p + j] += dyd[o + j] * xhat;
                pb[p + j] += dyd[o + j];
            }
            float meanDxhat = sumDxhat / c, meanDxhatXhat = sumDxhatXhat / c;
            for (int j = 0; j < c; j++) {
                float xhat = (xd[o + j] - mu) * rs;
                dxd[o + j] = rs * (dyd[o + j] * g[j] - meanDxhat - xhat * meanDxhatXhat);
            }
        }
    }

    /** As {@link VectorMath#addBlocks}, with the same bits. */
    private static void addBlocksScalar(float[] partial, int blocks, int c, float[] sum) {
        for (int j = 0; j < c; j++) {
            float s = 0;
            for (int k = 0; k < blocks; k++) {
                s += partial[k * c + j];
            }
            sum[j] += s;
        }
    }

    // ================================================================= GELU

    @Override
    public void geluForward(Tensor x, Tensor y) {
        OpChecks.sameSize("geluForward", x, y);
        float[] xd = f(x), yd = f(y);
        parallel.forRange(n(x), 4096, (i0, i1) -> {
            if (FastMath.VECTOR_API) {
                VectorMath.geluForward(xd, yd, i0, i1);
                return;
            }
            for (int i = i0; i < i1; i++) {
                yd[i] = geluScalar(xd[i]);
            }
        });
    }

    @Override
    public void geluBackward(Tensor dy, Tensor x, Tensor dx) {
        OpChecks.sameSize("geluBackward", x, dy);
        OpChecks.sameSize("geluBackward", x, dx);
        float[] dyd = f(dy), xd = f(x), dxd = f(dx);
        parallel.forRange(n(x), 4096, (i0, i1) -> {
            if (FastMath.VECTOR_API) {
                VectorMath.geluBackward(dyd, xd, dxd, i0, i1);
                return;
            }
            for (int i = i0; i < i1; i++) {
                dxd[i] = dyd[i] * geluDerivativeScalar(xd[i]);
            }
        });
    }

    /** x Phi(x); {@link VectorMath#geluForward} computes the same bits lane by lane. */
    static float geluScalar(float x) {
        return x * normalCdf(x);
    }

    /** d/dx [x Phi(x)] = Phi(x) + x phi(x); {@link VectorMath#geluBackward} computes the same bits lane by lane. */
    static float geluDerivativeScalar(float x) {
        float pdf = INV_SQRT_2PI * FastMath.exp(-0.5f * x * x);
        return normalCdf(x) + x * pdf;
    }

    /** Phi(x) = 0.5 erfc(-x / sqrt 2), through {@link #erfc}, accurate to float precision in both tails. */
    static float normalCdf(float x) {
        return 0.5f * erfc(-x * INV_SQRT2);
    }

    /**
     * Complementary error function with fractional error below 1.2e-7 everywhere (the Chebyshev
     * fit of Numerical Recipes' {@code erfcc}, evaluated in float): enough for float32, and unlike
     * {@code 1 - erf} it keeps its relative accuracy in the tail where GELU's output is tiny.
     */
    static float erfc(float x) {
        float z = Math.abs(x);
        float t = 1f / (1f + 0.5f * z);
        float r = t * FastMath.exp(-z * z - 1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f
                + t * (-0.18628806f + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f
                + t * (-0.82215223f + t * 0.17087277f)))))))));
        return x >= 0 ? r : 2f - r;
    }

    // ================================================================= attention

    /** Which CPU attention implementation runs; {@code AUTO} picks by sequence length and head width. */
    enum AttentionPath {
        AUTO, LANES, GEMM
    }

    /**
     * {@link CpuGemmAttention} (BLAS GEMMs per image and head) runs when a head's {@code N x hd}
     * block has at least this many elements, the sequence at least {@link #GEMM_ATTENTION_MIN_TOKENS}
     * tokens and the head at least {@link #GEMM_ATTENTION_MIN_HEAD_DIM} columns; smaller problems
     * run in {@link CpuAttention} (images as SIMD lanes), where a GEMM call costs more than it does.
     * Measured forward + backward on 2 cores with OpenBLAS, batch 100-128 ({@code AttentionPathTiming}):
     * the two paths tie around N x hd = 136-200 (N=17 hd=8, the {@code mnist-tutorial} shape, 4.5 vs
     * 4.3 ms; N=24 hd=4; N=17 hd=12); below, lanes win (N=12 hd=8: 2.4 vs 2.9 ms; N=17 hd=4: 3.1 vs
     * 4.2 ms; any N at hd=1), above, GEMMs win and by more as the block grows (N=65 hd=32, the
     * {@code cifar10-vit} shape: 94 vs 610 ms).
     */
    static final int GEMM_ATTENTION_MIN_BLOCK = 160;
    static final int GEMM_ATTENTION_MIN_TOKENS = 8;
    static final int GEMM_ATTENTION_MIN_HEAD_DIM = 2;

    private AttentionPath attentionPath = AttentionPath.AUTO;

    /** For tests and benchmarks: force an attention path ({@code AUTO} restores the default). */
    void forceAttentionPath(AttentionPath path) {
        this.attentionPath = java.util.Objects.requireNonNull(path);
    }

    /** The path {@link #attentionForward}/{@link #attentionBackward} take for this sequence length and head width. */
    AttentionPath attentionPath(int tokens, int headDim) {
        if (attentionPath != AttentionPath.AUTO) {
            return attentionPath;
        }
        boolean gemm = tokens >= GEMM_ATTENTION_MIN_TOKENS && headDim >= GEMM_ATTENTION_MIN_HEAD_DIM
                && (long) tokens * headDim >= GEMM_ATTENTION_MIN_BLOCK;
        return gemm ? AttentionPath.GEMM : AttentionPath.LANES;
    }

    @Override
    public void attentionForward(Tensor qkv, int heads, float scale, float dropout, long seed, Tensor out, Tensor lse) {
        OpChecks.AttentionDims s = OpChecks.attention("attentionForward", qkv, heads, scale, dropout, out, lse);
        AttentionDropout drop = AttentionDropout.of(dropout, seed, heads, s.tokens());
        float[] src = f(qkv), o = f(out), l = f(lse);
        if (attentionPath(s.tokens(), s.dim() / heads) == AttentionPath.GEMM) {
            CpuGemmAttention attention = new CpuGemmAttention(sgemm, s.batch(), s.tokens(), s.dim(), heads, scale, drop);
            parallel.forRange(attention.tasks(), 1, (t0, t1) -> {
                CpuGemmAttention.Scratch w = attention.scratch();
                for (int t = t0; t < t1; t++) {
                    attention.forward(t, w, src, o, l);
                }
            });
            return;
        }
        CpuAttention attention = new CpuAttention(s.batch(), s.tokens(), s.dim(), heads, scale, drop);
        parallel.forRange(attention.tasks(), 1, (t0, t1) -> {
            CpuAttention.Scratch w = attention.scratch();
            for (int t = t0; t < t1; t++) {
                attention.forward(t, w, src, o, l);
            }
        });
    }

    @Override
    public void attentionBackward(Tensor dout, Tensor qkv, Tensor out, Tensor lse, int heads, float scale, float dropout,
                                  long seed, Tensor dqkv) {
        OpChecks.AttentionDims s = OpChecks.attention("attentionBackward", qkv, heads, scale, dropout, out, lse);
        AttentionDropout drop = AttentionDropout.of(dropout, seed, heads, s.tokens());
        OpChecks.requireShape("attentionBackward dout", dout, out.shape());
        OpChecks.requireShape("attentionBackward dqkv", dqkv, qkv.shape());
        float[] src = f(qkv), o = f(out), l = f(lse), dO = f(dout), dq = f(dqkv);
        if (attentionPath(s.tokens(), s.dim() / heads) == AttentionPath.GEMM) {
            CpuGemmAttention attention = new CpuGemmAttention(sgemm, s.batch(), s.tokens(), s.dim(), heads, scale, drop);
            parallel.forRange(attention.tasks(), 1, (t0, t1) -> {
                CpuGemmAttention.Scratch w = attention.scratch();
                for (int t = t0; t < t1; t++) {
                    attention.backward(t, w, src, o, l, dO, dq);
                }
            });
            return;
        }
        CpuAttention attention = new CpuAttention(s.batch(), s.tokens(), s.dim(), heads, scale, drop);
        parallel.forRange(attention.tasks(), 1, (t0, t1) -> {
            CpuAttention.Scratch w = attention.scratch();
            for (int t = t0; t < t1; t++) {
                attention.backward(t, w, src, o, l, dO, dq);
            }
        });
    }

    // ================================================================= loss

    @Override
    public void crossEntropyForward(Tensor logits, Tensor labels, float smoothing, Tensor losses) {
        int rows = checkCrossEntropy("crossEntropyForward", logits, labels);
        OpChecks.requireNumel("crossEntropyForward losses", losses, rows);
        int c = logits.shape().dim(-1);
        float[] z = f(logits), loss = f(losses);
        int[] y = i(labels);
        for (int r = 0; r < rows; r++) {
            int o = r * c;
            double lse = logSumExp(z, o, c);
            double sum = 0;
            for (int j = 0; j < c; j++) {
                sum += z[o + j];
            }
            // (1-s) * -log p_y + s * mean_c(-log p_c), with -log p_c = lse - z_c
            loss[r] = (float) (lse - (1 - smoothing) * z[o + y[r]] - smoothing * sum / c);
        }
    }

    @Override
    public void crossEntropyBackward(Tensor logits, Tensor labels, float smoothing, float scale, Tensor dlogits) {
        int rows = checkCrossEntropy("crossEntropyBackward", logits, labels);
        OpChecks.requireShape("crossEntropyBackward dlogits", dlogits, logits.shape());
        int c = logits.shape().dim(-1);
        float[] z = f(logits), dz = f(dlogits);
        int[] y = i(labels);
        float off = smoothing / c;
        for (int r = 0; r < rows; r++) {
            int o = r * c;
            double lse = logSumExp(z, o, c);
            for (int j = 0; j < c; j++) {
                float target = off + (j == y[r] ? 1 - smoothing : 0);
                dz[o + j] = scale * ((float) Math.exp(z[o + j] - lse) - target);
            }
        }
    }

    private static double logSumExp(float[] z, int offset, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < n; j++) {
            max = Math.max(max, z[offset + j]);
        }
        double sum = 0;
        for (int j = 0; j < n; j++) {
            sum += Math.exp(z[offset + j] - max);
        }
        return max + Math.log(sum);
    }

    private static int checkCrossEntropy(String op, Tensor logits, Tensor labels) {
        int rows = OpChecks.crossEntropy(op, logits, labels), c = logits.shape().dim(-1);
        int[] y = ((CpuTensor) labels).ints();
        for (int r = 0; r < rows; r++) {
            if (y[r] < 0 || y[r] >= c) {
                throw new IllegalArgumentException(op + ": label " + y[r] + " at row " + r
                        + " is out of range for " + c + " classes");
            }
        }
        return rows;
    }

    // ================================================================= patches, tokens, pooling

    @Override
    public void patchifyForward(Tensor images, int patch, Tensor patches) {
        PatchGrid g = PatchGrid.of("patchifyForward", images, patch, patches);
        float[] img = f(images), out = f(patches);
        parallel.forRange(g.batch, 1, (b0, b1) -> {
            for (int b = b0; b < b1; b++) {
                g.forEachPixel(b, (src, dst) -> out[dst] = img[src]);
            }
        });
    }

    @Override
    public void patchifyBackward(Tensor dPatches, int patch, Tensor dImages) {
        PatchGrid g = PatchGrid.of("patchifyBackward", dImages, patch, dPatches);
        float[] dimg = f(dImages), dp = f(dPatches);
        // Patches do not overlap and tile the image, so every pixel is written exactly once.
        parallel.forRange(g.batch, 1, (b0, b1) -> {
            for (int b = b0; b < b1; b++) {
                g.forEachPixel(b, (src, dst) -> dimg[src] = dp[dst]);
            }
        });
    }

    /** Geometry of cutting [B,C,H,W] images into patches, validated. */
    private record PatchGrid(int batch, int channels, int height, int width, int patch) {
        interface PixelPair {
            void apply(int imageIndex, int patchIndex);
        }

        static PatchGrid of(String op, Tensor images, int patch, Tensor patches) {
            OpChecks.PatchDims d = OpChecks.patchify(op, images, patch, patches);
            return new PatchGrid(d.batch(), d.channels(), d.height(), d.width(), patch);
        }

        void forEachPixel(int b, PixelPair f) {
            int gw = width / patch, gh = height / patch, feat = channels * patch * patch;
            for (int gy = 0; gy < gh; gy++) {
                for (int gx = 0; gx < gw; gx++) {
                    int dst = (b * gh * gw + gy * gw + gx) * feat;
                    for (int c = 0; c < channels; c++) {
                        for (int py = 0; py < patch; py++) {
                            int src = ((b * channels + c) * height + gy * patch + py) * width + gx * patch;
                            for (int px = 0; px < patch; px++) {
                                f.apply(src + px, dst++);
                            }
                        }
                    }
                }
            }
        }
    }

    @Override
    public void tokensForward(Tensor patchTokens, Tensor cls, Tensor dist, Tensor pos, Tensor out) {
        int[] bpdt = OpChecks.tokens("tokensForward", patchTokens, cls, dist, pos, out);
        int b = bpdt[0], p = bpdt[1], d = bpdt[2], t = bpdt[3];
        float[] pt = f(patchTokens), c = cls == null ? null : f(cls), ps = f(pos), o = f(out);
        float[] ds = dist == null ? null : f(dist);
        for (int bi = 0; bi < b; bi++) {
            int ob = bi * (p + t) * d;
            if (c != null) {
                for (int j = 0; j < d; j++) {
                    o[ob + j] = c[j] + ps[j];
                }
            }
            if (ds != null) {
                for (int j = 0; j < d; j++) {
                    o[ob + d + j] = ds[j] + ps[d + j];
                }
            }
            for (int k = 0; k < p; k++) {
                int src = (bi * p + k) * d, dst = ob + (k + t) * d, pp = (k + t) * d;
                for (int j = 0; j < d; j++) {
                    o[dst + j] = pt[src + j] + ps[pp + j];
                }
            }
        }
    }

    @Override
    public void tokensBackward(Tensor dOut, Tensor dPatchTokens, Tensor dCls, Tensor dDist, Tensor dPos) {
        int[] bpdt = OpChecks.tokens("tokensBackward", dPatchTokens, dCls, dDist, dPos, dOut);
        int b = bpdt[0], p = bpdt[1], d = bpdt[2], t = bpdt[3];
        float[] dout = f(dOut), dpt = f(dPatchTokens), dc = dCls == null ? null : f(dCls), dp = f(dPos);
        float[] dd = dDist == null ? null : f(dDist);
        for (int bi = 0; bi < b; bi++) {
            int ob = bi * (p + t) * d;
            if (dc != null) {
                for (int j = 0; j < d; j++) {
                    dc[j] += dout[ob + j];
                    dp[j] += dout[ob + j];
                }
            }
            if (dd != null) {
                for (int j = 0; j < d; j++) {
                    dd[j] += dout[ob + d + j];
                    dp[d + j] += dout[ob + d + j];
                }
            }
            for (int k = 0; k < p; k++) {
                int dst = (bi * p + k) * d, src = ob + (k + t) * d, pp = (k + t) * d;
                for (int j = 0; j < d; j++) {
                    dpt[dst + j] = dout[src + j];
                    dp[pp + j] += dout[src + j];
                }
            }
        }
    }

    @Override
    public void tokenForward(Tensor x, int token, Tensor out) {
        int[] bnd = OpChecks.token("tokenForward", x, out, token);
        int b = bnd[0], n = bnd[1], d = bnd[2];
        float[] xd = f(x), o = f(out);
        for (int bi = 0; bi < b; bi++) {
            System.arraycopy(xd, (bi * n + token) * d, o, bi * d, d);
        }
    }

    @Override
    public void tokenBackward(Tensor dOut, int token, Tensor dx) {
        int[] bnd = OpChecks.token("tokenBackward", dx, dOut, token);
        int b = bnd[0], n = bnd[1], d = bnd[2];
        float[] dout = f(dOut), dxd = f(dx);
        java.util.Arrays.fill(dxd, 0, n(dx), 0f);
        for (int bi = 0; bi < b; bi++) {
            System.arraycopy(dout, bi * d, dxd, (bi * n + token) * d, d);
        }
    }

    @Override
    public void meanPoolForward(Tensor x, int first, Tensor out) {
        int[] bnd = OpChecks.pool("meanPoolForward", x, out, first);
        int b = bnd[0], n = bnd[1], d = bnd[2];
        float[] xd = f(x), o = f(out);
        float inv = 1f / (n - first);
        for (int bi = 0; bi < b; bi++) {
            for (int j = 0; j < d; j++) {
                float sum = 0;
                for (int t = first; t < n; t++) {
                    sum += xd[(bi * n + t) * d + j];
                }
                o[bi * d + j] = sum * inv;
            }
        }
    }

    @Override
    public void meanPoolBackward(Tensor dOut, int first, Tensor dx) {
        int[] bnd = OpChecks.pool("meanPoolBackward", dx, dOut, first);
        int b = bnd[0], n = bnd[1], d = bnd[2];
        float[] dout = f(dOut), dxd = f(dx);
        float inv = 1f / (n - first);
        for (int bi = 0; bi < b; bi++) {
            for (int t = 0; t < n; t++) {
                int o = (bi * n + t) * d;
                for (int j = 0; j < d; j++) {
                    dxd[o + j] = t < first ? 0f : dout[bi * d + j] * inv;
                }
            }
        }
    }

    // ================================================================= elementwise

    @Override
    public void add(Tensor a, Tensor b, Tensor out) {
        OpChecks.sameSize("add", a, b);
        OpChecks.sameSize("add", a, out);
        float[] ad = f(a), bd = f(b), od = f(out);
        parallel.forRange(n(a), 16384, (i0, i1) -> {
            for (int i = i0; i < i1; i++) {
                od[i] = ad[i] + bd[i];
            }
        });
    }

    @Override
    public void dropoutForward(Tensor x, float p, long seed, Tensor y) {
        dropout("dropoutForward", x, p, seed, y);
    }

    @Override
    public void dropoutBackward(Tensor dy, float p, long seed, Tensor dx) {
        dropout("dropoutBackward", dy, p, seed, dx);
    }

    /** Forward and backward are the same map: multiply by the regenerated mask / (1 - p). */
    private void dropout(String op, Tensor in, float p, long seed, Tensor out) {
        OpChecks.sameSize(op, in, out);
        OpChecks.dropoutProbability(op, p);
        float[] src = f(in), dst = f(out);
        float keepScale = 1f / (1f - p);
        parallel.forRange(n(in), 16384, (i0, i1) -> {
            for (int i = i0; i < i1; i++) {
                dst[i] = DropoutMask.keep(seed, i, p) ? src[i] * keepScale : 0f;
            }
        });
    }

    // ================================================================= optimizer

    @Override
    public void adamwStep(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2,
                          float eps, float weightDecay, int step) {
        OpChecks.sameSize("adamwStep grad", param, grad);
        OpChecks.sameSize("adamwStep m", param, m);
        OpChecks.sameSize("adamwStep v", param, v);
        if (step < 1) {
            throw new IllegalArgumentException("adamwStep: step counts from 1, got " + step);
        }
        float[] pd = f(param), gd = f(grad), md = f(m), vd = f(v);
        // torch.optim.AdamW: p -= lr*wd*p; then p -= (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps)
        float stepSize = (float) (lr / (1 - Math.pow(beta1, step)));
        float sqrtBc2 = (float) Math.sqrt(1 - Math.pow(beta2, step));
        float decay = 1f - lr * weightDecay;
        parallel.forRange(n(param), 16384, (i0, i1) -> {
            for (int i = i0; i < i1; i++) {
                float g = gd[i];
                float mi = beta1 * md[i] + (1 - beta1) * g;
                float vi = beta2 * vd[i] + (1 - beta2) * g * g;
                md[i] = mi;
                vd[i] = vi;
                pd[i] = pd[i] * decay - stepSize * mi / ((float) Math.sqrt(vi) / sqrtBc2 + eps);
                gd[i] = 0f;
            }
        });
    }

    @Override
    public double sumOfSquares(Tensor t) {
        float[] d = f(t);
        int len = n(t);
        int chunks = parallel.chunks(len, 16384);
        double[] partial = new double[chunks];
        parallel.forChunks(len, 16384, (c, i0, i1) -> {
            double s = 0;
            for (int i = i0; i < i1; i++) {
                s += (double) d[i] * d[i];
            }
            partial[c] = s;
        });
        double sum = 0;
        for (double s : partial) {
            sum += s;
        }
        return sum;
    }

    @Override
    public void scale(Tensor t, float factor) {
        float[] d = f(t);
        parallel.forRange(n(t), 16384, (i0, i1) -> {
            for (int i = i0; i < i1; i++) {
                d[i] *= factor;
            }
        });
    }

    @Override
    public void close() {
        parallel.shutdown();
    }

    // ================================================================= helpers

    private static float[] f(Tensor t) {
        return cpu(t).floats();
    }

    private static int[] i(Tensor t) {
        return cpu(t).ints();
    }

    private static CpuTensor cpu(Tensor t) {
        if (t instanceof CpuTensor c) {
            return c;
        }
        throw new IllegalArgumentException("tensor " + t + " does not belong to the CPU backend");
    }

    private static int n(Tensor t) {
        return Math.toIntExact(t.numel());
    }
}
