package org.vit4j.backend.cuda;

import org.vit4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * Attention the unfused way, as PyTorch's math path computes it: per (image, head)
 * {@code S = Q K^T} (cuBLAS, strided-batched), {@code P = softmax(S / sqrt(hd))} ({@link RowSoftmax}),
 * {@code O = P V} (cuBLAS), the {@code N x N} matrices written to and read from global memory. The
 * kernel benchmark's baseline for the fused attention kernel ({@code attention.cu}), which never
 * writes {@code S} or {@code P}.
 *
 * <p>Layout: Q, K, V, O and their gradients are head-major {@code [B*H, N, hd]}; S, P, dP, dS are
 * {@code [B*H, N, N]}. The fused op reads the packed {@code qkv[B, N, 3D]} and writes
 * {@code out[B, N, D]} directly; the copies that would bring the packed layout into this one
 * (PyTorch's permute + contiguous) are <em>not</em> part of this path, which favours the baseline.
 *
 * <p>Backward, from the P the forward kept: {@code dV = P^T dO}, {@code dP = dO V^T},
 * {@code dS = softmax_backward(P, dP) / sqrt(hd)}, {@code dQ = dS K}, {@code dK = dS^T Q}:
 * four GEMMs and one row kernel.
 */
public final class UnfusedAttention implements AutoCloseable {
    private final Cublas cublas;
    private final RowSoftmax softmax;
    private final int batchHeads;
    private final int tokens;
    private final int headDim;
    private final float scale;
    private final List<Tensor> owned = new ArrayList<>();
    private final Tensor q, k, v, s, p, o, dO, dP, dS, dQ, dK, dV;

    /**
     * Buffers for {@code batch} images of {@code tokens} tokens and {@code heads} heads of width
     * {@code headDim}, allocated once; {@code cublas} must run on the backend's device (its TF32
     * setting decides the GEMMs' precision).
     */
    public UnfusedAttention(CudaBackend backend, Cublas cublas, int batch, int tokens, int heads, int headDim) {
        if (batch < 1 || tokens < 1 || heads < 1 || headDim < 1) {
            throw new IllegalArgumentException("unfused attention: batch, tokens, heads and head dim must be positive, got "
                    + batch + ", " + tokens + ", " + heads + ", " + headDim);
        }
        this.cublas = cublas;
        this.softmax = new RowSoftmax(backend);
        this.batchHeads = Math.multiplyExact(batch, heads);
        this.tokens = tokens;
        this.headDim = headDim;
        this.scale = (float) (1.0 / Math.sqrt(headDim));
        try {
            q = own(backend.allocate(batchHeads, tokens, headDim));
            k = own(backend.allocate(batchHeads, tokens, headDim));
            v = own(backend.allocate(batchHeads, tokens, headDim));
            s = own(backend.allocate(batchHeads, tokens, tokens));
            p = own(backend.allocate(batchHeads, tokens, tokens));
            o = own(backend.allocate(batchHeads, tokens, headDim));
            dO = own(backend.allocate(batchHeads, tokens, headDim));
            dP = own(backend.allocate(batchHeads, tokens, tokens));
            dS = own(backend.allocate(batchHeads, tokens, tokens));
            dQ = own(backend.allocate(batchHeads, tokens, headDim));
            dK = own(backend.allocate(batchHeads, tokens, headDim));
            dV = own(backend.allocate(batchHeads, tokens, headDim));
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    private Tensor own(Tensor t) {
        owned.add(t);
        return t;
    }

    /** {@code O = softmax(Q K^T / sqrt(hd)) V}, keeping P for the backward. */
    public void forward() {
        int n = tokens, hd = headDim;
        long nh = (long) n * hd, nn = (long) n * n;
        cublas.gemmStridedBatched(false, true, n, n, hd, false, ptr(q), hd, nh, ptr(k), hd, nh, ptr(s), n, nn, batchHeads);
        softmax.forward(s, p, scale);
        cublas.gemmStridedBatched(false, false, n, hd, n, false, ptr(p), n, nn, ptr(v), hd, nh, ptr(o), hd, nh, batchHeads);
    }

    /** dQ, dK, dV from dO and the P of the last forward. */
    public void backward() {
        int n = tokens, hd = headDim;
        long nh = (long) n * hd, nn = (long) n * n;
        cublas.gemmStridedBatched(true, false, n, hd, n, false, ptr(p), n, nn, ptr(dO), hd, nh, ptr(dV), hd, nh, batchHeads);
        cublas.gemmStridedBatched(false, true, n, n, hd, false, ptr(dO), hd, nh, ptr(v), hd, nh, ptr(dP), n, nn, batchHeads);
        softmax.backward(p, dP, dS, scale);
        cublas.gemmStridedBatched(false, false, n, hd, n, false, ptr(dS), n, nn, ptr(k), hd, nh, ptr(dQ), hd, nh, batchHeads);
        cublas.gemmStridedBatched(true, false, n, hd, n, false, ptr(dS), n, nn, ptr(q), hd, nh, ptr(dK), hd, nh, batchHeads);
    }

    private static jcuda.driver.CUdeviceptr ptr(Tensor t) {
        return CudaBackend.ptr(t);
    }

    public Tensor q() {
        return q;
    }

    public Tensor k() {
        return k;
    }

    public Tensor v() {
        return v;
    }

    public Tensor out() {
        return o;
    }

    public Tensor dOut() {
        return dO;
    }

    public Tensor dq() {
        return dQ;
    }

    public Tensor dk() {
        return dK;
    }

    public Tensor dv() {
        return dV;
    }

    /** Bytes of device memory this path holds (the four N x N matrices dominate). */
    public long deviceBytes() {
        long total = 0;
        for (Tensor t : owned) {
            total += 4 * t.capacity();
        }
        return total;
    }

    @Override
    public void close() {
        for (Tensor t : owned) {
            t.close();
        }
        owned.clear();
    }
}
