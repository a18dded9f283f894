package org.vit4j.bench;

/**
 * The work of one op call, counted by hand, in one place for the GPU kernel runner
 * ({@link KernelBench}) and the CPU JMH benchmarks ({@code benchmarks/}): floating-point
 * operations (a multiply-add counts 2) and the bytes the op must move at least, its compulsory
 * traffic: each input read once, each output written once, an accumulated gradient read and
 * written, 4 bytes per float32 or int32. Scratch buffers, partial sums and re-reads an
 * implementation chooses are not counted, so bytes / time is the effective bandwidth, comparable
 * across implementations and with the device's copy bandwidth.
 *
 * <p>Dimensions: R rows (B*N tokens), D width, N tokens, H heads, B batch, M MLP width,
 * C classes, P parameters. Transcendental functions count as the handful of FLOPs a
 * polynomial evaluation takes (erf about 20, exp about 10); those counts are rough, which is
 * why such ops are read in bytes, not FLOPs.
 *
 * @param flops floating-point operations per call
 * @param bytes bytes read plus bytes written per call
 * @param bound which resource to read the op against: {@link Bound#COMPUTE} (FLOP/s, against
 *              the measured GEMM peak) or {@link Bound#MEMORY} (bytes/s, against the measured
 *              copy bandwidth)
 */
public record OpCost(double flops, double bytes, Bound bound) {

    /** What limits an op when it runs well: arithmetic or memory traffic. */
    public enum Bound {
        COMPUTE, MEMORY;

        /** The unit the achieved rate is reported in. */
        public String unit() {
            return this == COMPUTE ? "TFLOP/s" : "GB/s";
        }
    }

    private static final double F = 4;   // bytes per float32 (and per int32 label)

    /** The achieved rate over {@code seconds}: TFLOP/s for compute-bound ops, GB/s for memory-bound. */
    public double rate(double seconds) {
        return bound == Bound.COMPUTE ? flops / seconds / 1e12 : bytes / seconds / 1e9;
    }

    /** Two calls in sequence (a forward and its backward), read as the first. */
    public OpCost plus(OpCost next) {
        return new OpCost(flops + next.flops, bytes + next.bytes, bound);
    }

    // ----------------------------------------------------------------- GEMMs

    /** {@code y[R,out] = x[R,in] W[out,in]^T + b}: reads x, W, b, writes y. */
    public static OpCost linearForward(double rows, double in, double out) {
        return new OpCost(2 * rows * in * out + rows * out, F * (rows * in + out * in + out + rows * out), Bound.COMPUTE);
    }

    /** {@code dx = dy W}, {@code dW += dy^T x}, {@code db += colsum(dy)}: reads dy, x, W; writes dx; dW, db read and written. */
    public static OpCost linearBackward(double rows, double in, double out) {
        return new OpCost(4 * rows * in * out + rows * out,
                F * (rows * out + rows * in + out * in + rows * in + 2 * out * in + 2 * out), Bound.COMPUTE);
    }

    /** A plain {@code C[m,n] = A[m,k] B[k,n]}. */
    public static OpCost gemm(double m, double n, double k) {
        return new OpCost(2 * m * n * k, F * (m * k + k * n + m * n), Bound.COMPUTE);
    }

    // ----------------------------------------------------------------- normalisation, activations

    /** LayerNorm of x[R,D]: reads x, gamma, beta; writes y, mean[R], rstd[R]. */
    public static OpCost layerNormForward(double rows, double dim) {
        return new OpCost(8 * rows * dim, F * (2 * rows * dim + 2 * dim + 2 * rows), Bound.MEMORY);
    }

    /** Reads dy, x, gamma, mean, rstd; writes dx; dGamma and dBeta read and written. */
    public static OpCost layerNormBackward(double rows, double dim) {
        return new OpCost(12 * rows * dim, F * (3 * rows * dim + 2 * rows + dim + 4 * dim), Bound.MEMORY);
    }

    /** Exact-erf GELU of n elements: reads x, writes y. */
    public static OpCost geluForward(double n) {
        return new OpCost(25 * n, F * 2 * n, Bound.MEMORY);
    }

    /** Reads dy and x, writes dx. */
    public static OpCost geluBackward(double n) {
        return new OpCost(35 * n, F * 3 * n, Bound.MEMORY);
    }

    /** Row softmax of x[rows, cols] (max, exp, sum, scale): reads x, writes y. */
    public static OpCost softmaxForward(double rows, double cols) {
        return new OpCost(15 * rows * cols, F * 2 * rows * cols, Bound.MEMORY);
    }

    /** {@code dx = y (dy - <y, dy>)}: reads y and dy, writes dx. */
    public static OpCost softmaxBackward(double rows, double cols) {
        return new OpCost(4 * rows * cols, F * 3 * rows * cols, Bound.MEMORY);
    }

    // ----------------------------------------------------------------- attention

    /**
     * Fused attention forward over qkv[B,N,3D]: {@code Q K^T} and {@code P V}, 2*B*N*N*D FLOPs
     * each over all heads; reads qkv, writes out[B,N,D] and the log-sum-exp lse[B,H,N].
     */
    public static OpCost attentionForward(double batch, double tokens, double dim, double heads) {
        double rows = batch * tokens;
        return new OpCost(4 * batch * tokens * tokens * dim, F * (rows * 3 * dim + rows * dim + batch * heads * tokens),
                Bound.COMPUTE);
    }

    /**
     * Backward: S recomputed, then dV, dP, dQ, dK, five N x N x hd products per (image, head)
     * (10*B*N*N*D FLOPs, as FlashAttention counts it); reads dout, qkv, out, lse, writes dqkv.
     */
    public static OpCost attentionBackward(double batch, double tokens, double dim, double heads) {
        double rows = batch * tokens;
        return new OpCost(10 * batch * tokens * tokens * dim,
                F * (rows * dim + rows * 3 * dim + rows * dim + batch * heads * tokens + rows * 3 * dim), Bound.COMPUTE);
    }

    // ----------------------------------------------------------------- loss, optimizer, memory

    /** Softmax cross-entropy of logits[B,C]: reads logits and labels, writes losses[B]. */
    public static OpCost crossEntropyForward(double batch, double classes) {
        return new OpCost(4 * batch * classes, F * (batch * classes + 2 * batch), Bound.MEMORY);
    }

    /** Reads logits and labels, writes dlogits[B,C]. */
    public static OpCost crossEntropyBackward(double batch, double classes) {
        return new OpCost(5 * batch * classes, F * (2 * batch * classes + batch), Bound.MEMORY);
    }

    /** One AdamW update of P parameters: reads and writes param, grad (zeroed), m and v. */
    public static OpCost adamwStep(double params) {
        return new OpCost(12 * params, F * 8 * params, Bound.MEMORY);
    }

    /** A copy of n floats: read once, written once. */
    public static OpCost copy(double n) {
        return new OpCost(0, F * 2 * n, Bound.MEMORY);
    }

    /** {@code out = a + b} over n floats (a residual connection). */
    public static OpCost add(double n) {
        return new OpCost(n, F * 3 * n, Bound.MEMORY);
    }

    /**
     * Patch embedding as a strided convolution, {@code images[B,C,S,S]} with D filters of
     * C x p x p into tokens: the GEMM of (S/p)^2 patches per image by the weight, plus the bias;
     * reads images, weight, bias, writes the tokens. (vit4j writes the patch matrix in between,
     * which is not counted: a direct convolution does without it.)
     */
    public static OpCost patchEmbedForward(double batch, double channels, double imageSize, double patch, double dim) {
        double patches = (imageSize / patch) * (imageSize / patch);
        double k = channels * patch * patch;
        double rows = batch * patches;
        return new OpCost(2 * rows * k * dim + rows * dim,
                F * (batch * channels * imageSize * imageSize + dim * k + dim + rows * dim), Bound.COMPUTE);
    }
}
