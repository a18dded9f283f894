package org.vit4j.backend.cuda;

import jcuda.Pointer;
import jcuda.jcublas.JCublas2;
import jcuda.jcublas.cublasHandle;
import jcuda.jcublas.cublasMath;
import jcuda.jcublas.cublasOperation;
import jcuda.runtime.cudaStream_t;

import static org.vit4j.backend.cuda.CudaException.checkCublas;

/**
 * cuBLAS bound to the device's stream, with row-major GEMM wrappers. cuBLAS is column-major:
 * a row-major matrix is its transpose in column-major, so {@code C = op(A) op(B)} is computed as
 * {@code C^T = op(B)^T op(A)^T} by swapping the operands. Every status is checked.
 */
public final class Cublas implements AutoCloseable {
    private final CudaDevice device;
    private final cublasHandle handle = new cublasHandle();
    private final Pointer one = Pointer.to(new float[] {1f});
    private final Pointer zero = Pointer.to(new float[] {0f});
    private boolean tf32;

    public Cublas(CudaDevice device) {
        this.device = device;
        device.makeCurrent();
        JCublas2.setExceptionsEnabled(false);
        checkCublas(JCublas2.cublasCreate(handle), "cublasCreate");
        checkCublas(JCublas2.cublasSetStream(handle, new cudaStream_t(device.stream())), "cublasSetStream");
        setTf32(false);
    }

    /** TF32 tensor-core math for FP32 GEMMs (10-bit mantissa products, FP32 accumulation), or exact FP32. */
    public void setTf32(boolean on) {
        checkCublas(JCublas2.cublasSetMathMode(handle, on ? cublasMath.CUBLAS_TF32_TENSOR_OP_MATH
                : cublasMath.CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
        tf32 = on;
    }

    public boolean tf32() {
        return tf32;
    }

    /** Row-major {@code C[m,n] = alpha op(A)[m,k] op(B)[k,n] + beta C} with alpha, beta in {0, 1}. */
    public void gemm(boolean transA, boolean transB, int m, int n, int k, boolean accumulate,
                     Pointer a, int lda, Pointer b, int ldb, Pointer c, int ldc) {
        if (m == 0 || n == 0) {
            return;   // an empty C; cuBLAS would reject the zero leading dimensions
        }
        device.makeCurrent();
        checkCublas(JCublas2.cublasSgemm(handle, op(transB), op(transA), n, m, k, one, b, ldb, a, lda,
                accumulate ? one : zero, c, ldc),
                "cublasSgemm(" + (transA ? "T" : "N") + (transB ? "T" : "N") + ", m=" + m + ", n=" + n + ", k=" + k + ")");
    }

    /** {@link #gemm} over {@code batch} matrices spaced by the given strides (in elements). */
    public void gemmStridedBatched(boolean transA, boolean transB, int m, int n, int k, boolean accumulate,
                                   Pointer a, int lda, long strideA, Pointer b, int ldb, long strideB,
                                   Pointer c, int ldc, long strideC, int batch) {
        device.makeCurrent();
        checkCublas(JCublas2.cublasSgemmStridedBatched(handle, op(transB), op(transA), n, m, k, one,
                b, ldb, strideB, a, lda, strideA, accumulate ? one : zero, c, ldc, strideC, batch),
                "cublasSgemmStridedBatched(m=" + m + ", n=" + n + ", k=" + k + ", batch=" + batch + ")");
    }

    private static int op(boolean transpose) {
        return transpose ? cublasOperation.CUBLAS_OP_T : cublasOperation.CUBLAS_OP_N;
    }

    @Override
    public void close() {
        device.makeCurrent();
        JCublas2.cublasDestroy(handle);
    }
}
