package org.vit4j.backend.cpu;

import dev.ludovic.netlib.blas.BLAS;

/**
 * One single-threaded row-major SGEMM, {@code C[m,n] = alpha * op(A)[m,k] op(B)[k,n] + beta * C}
 * on whole arrays at the given offsets: the GEMM {@link CpuBackend} picked, which it and
 * {@link CpuGemmAttention} both call.
 */
@FunctionalInterface
interface RowMajorGemm {
    void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha, float[] a, int aOff, int lda,
               float[] b, int bOff, int ldb, float beta, float[] c, int cOff, int ldc);

    /**
     * {@link VectorGemm}, pure Java on the Vector API. A method, not a constant: this interface is
     * loaded without the {@code jdk.incubator.vector} module too, and linking the reference loads
     * {@link VectorGemm}.
     */
    static RowMajorGemm vector() {
        return VectorGemm::sgemm;
    }

    /**
     * netlib's BLAS. It is column-major, where a row-major matrix reads as its transpose:
     * {@code C^T = op(B)^T op(A)^T}, so the operands are swapped.
     */
    static RowMajorGemm of(BLAS blas) {
        return (transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc) ->
                blas.sgemm(transB ? "T" : "N", transA ? "T" : "N", n, m, k, alpha, b, bOff, ldb, a, aOff, lda,
                        beta, c, cOff, ldc);
    }
}
