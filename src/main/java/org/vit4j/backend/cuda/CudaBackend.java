package org.vit4j.backend.cuda;

import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.JCudaDriver;
import org.vit4j.backend.Backend;
import org.vit4j.backend.OpChecks;
import org.vit4j.tensor.DType;
import org.vit4j.tensor.Shape;
import org.vit4j.tensor.Tensor;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

import static org.vit4j.backend.cuda.CudaException.check;

/**
 * The GPU backend: every op a kernel of {@code kernels/*.cu} (compiled by NVRTC at startup) or a
 * cuBLAS GEMM, all on one stream. Host code only validates shapes and launches; nothing is
 * allocated per step except the scratch buffers some backward passes need, which are kept and
 * reused. Each launcher follows the {@code launch:} line of its kernel's source file.
 */
public final class CudaBackend implements Backend {
    private static final int BLOCK = 256;
    private static final int ROWS_PER_BLOCK = BLOCK / 32;   // row kernels: one warp per row
    private static final int MAX_GRID = 65535;

    private final CudaDevice device;
    private final KernelLibrary kernels;
    private final Cublas cublas;
    private final Map<String, CudaTensor> scratch = new HashMap<>();
    private final double[] partialHost = new double[SUM_PARTS];

    /** Blocks of the deterministic sum-of-squares reduction (elementwise.cu). */
    static final int SUM_PARTS = 256;

    private CudaBackend(CudaDevice device, Path kernelCache) {
        this.device = device;
        this.kernels = KernelLibrary.load(device, kernelCache);
        this.cublas = new Cublas(device);
    }

    /** Opens GPU {@code ordinal} and compiles the kernels (cached under {@code kernelCache}, may be null). */
    public static CudaBackend open(int ordinal, Path kernelCache) {
        CudaDevice device = CudaDevice.open(ordinal);
        try {
            return new CudaBackend(device, kernelCache);
        } catch (RuntimeException | Error e) {
            device.close();
            throw e;
        }
    }

    public CudaDevice device() {
        return device;
    }

    public KernelLibrary kernels() {
        return kernels;
    }

    /** TF32 tensor cores for the GEMMs (faster, 10-bit mantissa products) or exact FP32 (the default). */
    public void setTf32(boolean on) {
        cublas.setTf32(on);
    }

    @Override
    public String name() {
        return "cuda";
    }

    @Override
    public String description() {
        return "CUDA " + device + (cublas.tf32() ? ", TF32 GEMMs" : ", FP32 GEMMs");
    }

    // ================================================================= memory

    @Override
    public Tensor allocate(DType dtype, Shape shape) {
        CudaTensor t = new CudaTensor(device, dtype, shape);
        check(JCudaDriver.cuMemsetD32Async(t.pointer(), 0, t.capacity(), device.stream()), "cuMemsetD32Async");
        return t;
    }

    @Override
    public void upload(float[] src, int srcOffset, Tensor dst) {
        java.util.Objects.checkFromIndexSize(srcOffset, Math.toIntExact(dst.numel()), src.length);
        copyIn(Pointer.to(src).withByteOffset(4L * srcOffset), dst, src.length - srcOffset);
    }

    @Override
    public void upload(int[] src, int srcOffset, Tensor dst) {
        java.util.Objects.checkFromIndexSize(srcOffset, Math.toIntExact(dst.numel()), src.length);
        copyIn(Pointer.to(src).withByteOffset(4L * srcOffset), dst, src.length - srcOffset);
        cuda(dst).recordIntUpload(src, srcOffset, dst.numel());
    }

    private void copyIn(Pointer host, Tensor dst, long available) {
        cuda(dst).forgetContents();
        long n = dst.numel();
        if (available < n) {
            throw new IllegalArgumentException("upload: " + dst + " needs " + n + " values, the array has " + available);
        }
        // Java arrays may move: copy synchronously, after the work queued before it.
        device.synchronize();
        check(JCudaDriver.cuMemcpyHtoD(ptr(dst), host, 4 * n), "cuMemcpyHtoD(" + 4 * n + " bytes)");
    }

    @Override
    public void download(Tensor src, float[] dst, int dstOffset) {
        java.util.Objects.checkFromIndexSize(dstOffset, Math.toIntExact(src.numel()), dst.length);
        copyOut(src, Pointer.to(dst).withByteOffset(4L * dstOffset), dst.length - dstOffset);
    }

    @Override
    public void download(Tensor src, int[] dst, int dstOffset) {
        java.util.Objects.checkFromIndexSize(dstOffset, Math.toIntExact(src.numel()), dst.length);
        copyOut(src, Pointer.to(dst).withByteOffset(4L * dstOffset), dst.length - dstOffset);
    }

    private void copyOut(Tensor src, Pointer host, long room) {
        long n = src.numel();
        if (room < n) {
            throw new IllegalArgumentException("download: " + src + " has " + n + " values, the array room for " + room);
        }
        device.synchronize();
        check(JCudaDriver.cuMemcpyDtoH(host, ptr(src), 4 * n), "cuMemcpyDtoH(" + 4 * n + " bytes)");
    }

    @Override
    public void fill(Tensor t, float value) {
        cuda(t).forgetContents();
        device.makeCurrent();
        check(JCudaDriver.cuMemsetD32Async(ptr(t), Float.floatToRawIntBits(value), t.numel(), device.stream()),
                "cuMemsetD32Async");
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        OpChecks.sameSize("copy", src, dst);
        cuda(dst).forgetContents();
        device.makeCurrent();
        check(JCudaDriver.cuMemcpyDtoDAsync(ptr(dst), ptr(src), 4 * src.numel(), device.stream()), "cuMemcpyDtoDAsync");
    }

    @Override
    public void synchronize() {
        device.synchronize();
    }

    // ================================================================= linear

    @Override
    public void linearForward(Tensor x, Tensor weight, Tensor bias, Tensor y) {
        OpChecks.LinearDims d = OpChecks.linear("linearForward", x, weight, bias, y);
        cublas.gemm(false, true, d.rows(), d.out(), d.in(), false, ptr(x), d.in(), ptr(weight), d.in(), ptr(y), d.out());
        if (bias != null) {
            launch("bias_add_f32", grid((long) d.rows() * d.out()), 0).ptr(y).ptr(bias).i(d.rows()).i(d.out()).run();
        }
    }

    @Override
    public void linearBackward(Tensor dy, Tensor x, Tensor weight, Tensor dx, Tensor dWeight, Tensor dBias) {
        OpChecks.LinearDims d = OpChecks.linear("linearBackward", x, weight, dBias, dy);
        OpChecks.requireShape("linearBackward dWeight", dWeight, weight.shape());
        if (dx != null) {
            OpChecks.requireShape("linearBackward dx", dx, x.shape());
            cublas.gemm(false, false, d.rows(), d.in(), d.out(), false, ptr(dy), d.out(), ptr(weight), d.in(), ptr(dx), d.in());
        }
        cublas.gemm(true, false, d.out(), d.in(), d.rows(), true, ptr(dy), d.out(), ptr(x), d.in(), ptr(dWeight), d.in());
        if (dBias != null) {
            biasGradient(dy, dBias, d.rows(), d.out());
        }
    }

    /**
     * Column sums of {@code dy[rows, cols]} added into {@code dBias}: elementwise.cu's two-stage
     * reduction (row slices into partial sums, then the slices in order), about 1024 blocks.
     */
    private void biasGradient(Tensor dy, Tensor dBias, int rows, int cols) {
        if (cols == 0) {
            return;
        }
        int colTiles = (cols + 31) / 32;
        int slices = Math.max(1, Math.min((rows + 63) / 64, (1024 + colTiles - 1) / colTiles));
        CudaTensor partial = scratch("bias.partial", (long) slices * cols);
        launch("bias_grad_partial_f32", colTiles, 0).grid(colTiles, slices, 1).ptr(dy).ptr(partial)
                .i(rows).i(cols).run();
        launch("bias_grad_reduce_f32", (cols + BLOCK - 1) / BLOCK, 0).ptr(partial).ptr(dBias).i(slices).i(cols).run();
    }

    // ================================================================= LayerNorm

    @Override
    public void layerNormForward(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor y, Tensor mean, Tensor rstd) {
        int rows = OpChecks.layerNorm("layerNormForward", x, gamma, beta, y, mean, rstd), c = x.shape().dim(-1);
        launch("layernorm_forward_f32", rowGrid(rows), 0).ptr(x).ptr(gamma).ptr(beta).ptr(y).ptr(mean).ptr(rstd)
                .i(rows).i(c).f(eps).run();
    }

    @Override
    public void layerNormBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd,
                                  Tensor dx, Tensor dGamma, Tensor dBeta) {
        int rows = OpChecks.layerNorm("layerNormBackward", x, gamma, dBeta, dy, mean, rstd), c = x.shape().dim(-1);
        OpChecks.requireShape("layerNormBackward dx", dx, x.shape());
        OpChecks.requireShape("layerNormBackward dGamma", dGamma, gamma.shape());
        if (c == 0) {
            return;
        }
        int parts = layerNormParts(rows);
        CudaTensor partGamma = scratch("layernorm.dgamma", (long) parts * c);
        CudaTensor partBeta = scratch("layernorm.dbeta", (long) parts * c);
        // layernorm.cu: 32 rows per block, exactly 256 threads, 2*C floats of dynamic shared memory
        launch("layernorm_backward_f32", parts, 2 * c * 4).ptr(dy).ptr(x).ptr(gamma).ptr(mean).ptr(rstd).ptr(dx)
                .ptr(partGamma).ptr(partBeta).i(rows).i(c).run();
        launch("layernorm_param_grad_reduce_f32", (c + 31) / 32, 0).block(32, 8, 1).ptr(partGamma).ptr(partBeta)
                .ptr(dGamma).ptr(dBeta).i(parts).i(c).run();
    }

    /** Blocks (and partial sums) of the LayerNorm backward: one per 32 rows. */
    static int layerNormParts(int rows) {
        return Math.max(1, (rows + 31) / 32);
    }

    // ================================================================= GELU

    @Override
    public void geluForward(Tensor x, Tensor y) {
        OpChecks.sameSize("geluForward", x, y);
        launch("gelu_forward_f32", grid(x.numel()), 0).ptr(x).ptr(y).l(x.numel()).run();
    }

    @Override
    public void geluBackward(Tensor dy, Tensor x, Tensor dx) {
        OpChecks.sameSize("geluBackward", x, dy);
        OpChecks.sameSize("geluBackward", x, dx);
        launch("gelu_backward_f32", grid(x.numel()), 0).ptr(dy).ptr(x).ptr(dx).l(x.numel()).run();
    }

    // ================================================================= attention

    @Override
    public void attentionForward(Tensor qkv, int heads, float scale, float dropout, long seed, Tensor out, Tensor lse) {
        OpChecks.AttentionDims d = OpChecks.attention("attentionForward", qkv, heads, scale, dropout, out, lse);
        if (qkv.numel() == 0) {
            return;
        }
        if (dropout > 0) {
            AttentionLaunch.forward(d, heads).apply(launch("attention_dropout_forward_f32", 1, 0))
                    .ptr(qkv).ptr(out).ptr(lse).i(d.batch()).i(d.tokens()).i(heads).i(d.headDim())
                    .f(scale).f(dropout).l(seed).run();
        } else {
            AttentionLaunch.forward(d, heads).apply(launch("attention_forward_f32", 1, 0))
                    .ptr(qkv).ptr(out).ptr(lse).i(d.batch()).i(d.tokens()).i(heads).i(d.headDim())
                    .f(scale).run();
        }
    }

    @Override
    public void attentionBackward(Tensor dout, Tensor qkv, Tensor out, Tensor lse, int heads, float scale, float dropout,
                                  long seed, Tensor dqkv) {
        OpChecks.AttentionDims d = OpChecks.attention("attentionBackward", qkv, heads, scale, dropout, out, lse);
        OpChecks.requireShape("attentionBackward dout", dout, out.shape());
        OpChecks.requireShape("attentionBackward dqkv", dqkv, qkv.shape());
        if (qkv.numel() == 0) {
            return;
        }
        if (dropout > 0) {
            AttentionLaunch.backward(d, heads).apply(launch("attention_dropout_backward_f32", 1, 0))
                    .ptr(dout).ptr(qkv).ptr(out).ptr(lse).ptr(dqkv).i(d.batch()).i(d.tokens()).i(heads).i(d.headDim())
                    .f(scale).f(dropout).l(seed).run();
        } else {
            AttentionLaunch.backward(d, heads).apply(launch("attention_backward_f32", 1, 0))
                    .ptr(dout).ptr(qkv).ptr(out).ptr(lse).ptr(dqkv).i(d.batch()).i(d.tokens()).i(heads).i(d.headDim())
                    .f(scale).run();
        }
    }

    // ================================================================= loss

    @Override
    public void crossEntropyForward(Tensor logits, Tensor labels, float smoothing, Tensor losses) {
        int rows = OpChecks.crossEntropy("crossEntropyForward", logits, labels);
        checkLabels("crossEntropyForward", labels, rows, logits.shape().dim(-1));
        OpChecks.requireNumel("crossEntropyForward losses", losses, rows);
        launch("cross_entropy_forward_f32", rowGrid(rows), 0).ptr(logits).ptr(labels).ptr(losses)
                .i(rows).i(logits.shape().dim(-1)).f(smoothing).run();
    }

    @Override
    public void crossEntropyBackward(Tensor logits, Tensor labels, float smoothing, float scale, Tensor dlogits) {
        int rows = OpChecks.crossEntropy("crossEntropyBackward", logits, labels);
        checkLabels("crossEntropyBackward", labels, rows, logits.shape().dim(-1));
        OpChecks.requireShape("crossEntropyBackward dlogits", dlogits, logits.shape());
        launch("cross_entropy_backward_f32", rowGrid(rows), 0).ptr(logits).ptr(labels).ptr(dlogits)
                .i(rows).i(logits.shape().dim(-1)).f(smoothing).f(scale).run();
    }

    // ================================================================= patches, tokens, pooling

    @Override
    public void patchifyForward(Tensor images, int patch, Tensor patches) {
        OpChecks.PatchDims d = OpChecks.patchify("patchifyForward", images, patch, patches);
        launch("patchify_forward_f32", grid(images.numel()), 0).ptr(images).ptr(patches)
                .i(d.batch()).i(d.channels()).i(d.height()).i(d.width()).i(patch).run();
    }

    @Override
    public void patchifyBackward(Tensor dPatches, int patch, Tensor dImages) {
        OpChecks.PatchDims d = OpChecks.patchify("patchifyBackward", dImages, patch, dPatches);
        launch("patchify_backward_f32", grid(dImages.numel()), 0).ptr(dPatches).ptr(dImages)
                .i(d.batch()).i(d.channels()).i(d.height()).i(d.width()).i(patch).run();
    }

    @Override
    public void tokensForward(Tensor patchTokens, Tensor cls, Tensor dist, Tensor pos, Tensor out) {
        int[] bpdt = OpChecks.tokens("tokensForward", patchTokens, cls, dist, pos, out);
        // The kernel reads cls and dist only for the prefix tokens there are; pos stands in for a missing one.
        Tensor c = cls == null ? pos : cls;
        launch("tokens_forward_f32", grid(out.numel()), 0).ptr(patchTokens).ptr(c).ptr(dist == null ? c : dist)
                .ptr(pos).ptr(out).i(bpdt[0]).i(bpdt[1]).i(bpdt[2]).i(bpdt[3]).run();
    }

    @Override
    public void tokensBackward(Tensor dOut, Tensor dPatchTokens, Tensor dCls, Tensor dDist, Tensor dPos) {
        int[] bpdt = OpChecks.tokens("tokensBackward", dPatchTokens, dCls, dDist, dPos, dOut);
        launch("tokens_backward_f32", grid(dPatchTokens.numel()), 0).ptr(dOut).ptr(dPatchTokens)
                .i(bpdt[0]).i(bpdt[1]).i(bpdt[2]).i(bpdt[3]).run();
        // The kernel touches dcls and ddist only for the prefix tokens there are; dpos stands in for a missing one.
        Tensor dc = dCls == null ? dPos : dCls;
        launch("tokens_param_grad_f32", grid(dPos.numel()), 0).ptr(dOut).ptr(dc).ptr(dDist == null ? dc : dDist)
                .ptr(dPos).i(bpdt[0]).i(bpdt[1]).i(bpdt[2]).i(bpdt[3]).run();
    }

    @Override
    public void tokenForward(Tensor x, int token, Tensor out) {
        int[] bnd = OpChecks.token("tokenForward", x, out, token);
        launch("token_forward_f32", grid(out.numel()), 0).ptr(x).ptr(out).i(bnd[0]).i(bnd[1]).i(bnd[2]).i(token).run();
    }

    @Override
    public void tokenBackward(Tensor dOut, int token, Tensor dx) {
        int[] bnd = OpChecks.token("tokenBackward", dx, dOut, token);
        launch("token_backward_f32", grid(dx.numel()), 0).ptr(dOut).ptr(dx).i(bnd[0]).i(bnd[1]).i(bnd[2]).i(token).run();
    }

    @Override
    public void meanPoolForward(Tensor x, int first, Tensor out) {
        int[] bnd = OpChecks.pool("meanPoolForward", x, out, first);
        launch("mean_pool_forward_f32", grid(out.numel()), 0).ptr(x).ptr(out).i(bnd[0]).i(bnd[1]).i(bnd[2]).i(first).run();
    }

    @Override
    public void meanPoolBackward(Tensor dOut, int first, Tensor dx) {
        int[] bnd = OpChecks.pool("meanPoolBackward", dx, dOut, first);
        launch("mean_pool_backward_f32", grid(dx.numel()), 0).ptr(dOut).ptr(dx).i(bnd[0]).i(bnd[1]).i(bnd[2]).i(first).run();
    }

    // ================================================================= elementwise

    @Override
    public void add(Tensor a, Tensor b, Tensor out) {
        OpChecks.sameSize("add", a, b);
        OpChecks.sameSize("add", a, out);
        launch("add_f32", grid(a.numel()), 0).ptr(a).ptr(b).ptr(out).l(a.numel()).run();
    }

    @Override
    public void dropoutForward(Tensor x, float p, long seed, Tensor y) {
        dropout("dropout_forward_f32", x, p, seed, y);
    }

    @Override
    public void dropoutBackward(Tensor dy, float p, long seed, Tensor dx) {
        dropout("dropout_backward_f32", dy, p, seed, dx);
    }

    private void dropout(String kernel, Tensor in, float p, long seed, Tensor out) {
        OpChecks.sameSize(kernel, in, out);
        OpChecks.dropoutProbability(kernel, p);
        launch(kernel, grid(in.numel()), 0).ptr(in).ptr(out).f(p).l(seed).l(in.numel()).run();
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
        float bc1 = (float) (1 - Math.pow(beta1, step));
        float sqrtBc2 = (float) Math.sqrt(1 - Math.pow(beta2, step));
        launch("adamw_step_f32", grid(param.numel()), 0).ptr(param).ptr(grad).ptr(m).ptr(v).l(param.numel())
                .f(lr).f(beta1).f(beta2).f(eps).f(weightDecay).f(bc1).f(sqrtBc2).run();
    }

    @Override
    public double sumOfSquares(Tensor t) {
        CudaTensor partial = scratch("sumsq.partial", 2L * SUM_PARTS);   // SUM_PARTS doubles
        launch("sum_of_squares_partial_f32", SUM_PARTS, 0).ptr(t).l(t.numel()).ptr(partial).run();
        device.synchronize();
        check(JCudaDriver.cuMemcpyDtoH(Pointer.to(partialHost), partial.pointer(), 8L * SUM_PARTS), "cuMemcpyDtoH");
        double sum = 0;
        for (double s : partialHost) {
            sum += s;
        }
        return sum;
    }

    @Override
    public void scale(Tensor t, float factor) {
        launch("scale_f32", grid(t.numel()), 0).ptr(t).f(factor).l(t.numel()).run();
    }

    // ================================================================= launching

    static int grid(long n) {
        return (int) Math.max(1, Math.min((n + BLOCK - 1) / BLOCK, MAX_GRID));
    }

    static int rowGrid(int rows) {
        return Math.max(1, (rows + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK);
    }

    private KernelLaunch launch(String kernel, int gridX, int sharedBytes) {
        return new KernelLaunch(device, kernels, kernel).grid(gridX, 1, 1).block(BLOCK, 1, 1).shared(sharedBytes);
    }

    /** A reusable device buffer of at least {@code floats} 4-byte elements, kept per purpose. */
    private CudaTensor scratch(String purpose, long floats) {
        CudaTensor t = scratch.get(purpose);
        if (t == null || t.capacity() < floats) {
            if (t != null) {
                device.synchronize();   // queued kernels may still read the old buffer
                t.close();
            }
            t = new CudaTensor(device, DType.F32, Shape.of(Math.toIntExact(floats)));
            scratch.put(purpose, t);
        }
        return t;
    }

    /**
     * Labels outside {@code [0, classes)} are rejected as the CPU backend rejects them. Labels the
     * host uploaded are checked against the range recorded then; others are read back (a sync).
     */
    private void checkLabels(String op, Tensor labels, int rows, int classes) {
        if (cuda(labels).knownWithin(rows, 0, classes - 1)) {
            return;
        }
        int[] y = new int[rows];
        download(labels, y, 0);
        for (int i = 0; i < rows; i++) {
            if (y[i] < 0 || y[i] >= classes) {
                throw new IllegalArgumentException(op + ": label " + y[i] + " of row " + i + " is outside [0, " + classes + ")");
            }
        }
    }

    private static CudaTensor cuda(Tensor t) {
        if (t instanceof CudaTensor c) {
            return c;
        }
        throw new IllegalArgumentException("tensor " + t + " does not belong to the CUDA backend");
    }

    static CUdeviceptr ptr(Tensor t) {
        if (t instanceof CudaTensor c) {
            return c.pointer();
        }
        throw new IllegalArgumentException("tensor " + t + " does not belong to the CUDA backend");
    }

    @Override
    public void close() {
        // Release everything even after a sticky kernel fault, when every call fails.
        try {
            device.synchronize();
        } finally {
            try {
                scratch.values().forEach(CudaTensor::close);
                scratch.clear();
            } finally {
                try {
                    cublas.close();
                } finally {
                    try {
                        kernels.close();
                    } finally {
                        device.close();
                    }
                }
            }
        }
    }
}
