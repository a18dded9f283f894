// libcublas.so.12 stand-in: SGEMM and strided-batched SGEMM with cuBLAS's column-major
// semantics: C = alpha op(A) op(B) + beta C, op(A) m x k, op(B) k x n, C m x n, element (i, j) of a
// matrix X with leading dimension ldX at X[i + j * ldX]. beta == 0 means C is not read (NaN in C
// does not propagate), as cuBLAS documents; alpha == 0 or k == 0 leaves beta C. Every operand's
// extent is checked against the live device allocations first: a GEMM that would touch memory
// outside them makes the context's error sticky, as the fault would on a GPU.
//
// Products are summed in float in increasing l, one output element per task (deterministic for
// any worker count). In TF32 mode (CUBLAS_TF32_TENSOR_OP_MATH) A and B are first rounded to
// TF32 (10 explicit mantissa bits, round to nearest, ties away from zero, as cvt.rna.tf32.f32).
#include <cmath>
#include <cstring>
#include <mutex>
#include <set>
#include <vector>

#include "emu.h"
#include "vit4j_cuda_api.h"

using namespace emu;

struct cublasContext {
    CUstream stream = nullptr;
    int math = CUBLAS_DEFAULT_MATH;
    int pointerMode = CUBLAS_POINTER_MODE_HOST;
};

namespace {

std::mutex g_mutex;
std::set<cublasHandle_t> g_handles;

bool valid(cublasHandle_t h) {
    std::lock_guard<std::mutex> lock(g_mutex);
    return g_handles.count(h) != 0;
}

float tf32(float x) {
    if (!std::isfinite(x)) return x;
    uint32_t u;
    memcpy(&u, &x, 4);
    u = (u + 0x1000u) & 0xFFFFE000u;
    memcpy(&x, &u, 4);
    return x;
}

// Checks that a rows x cols column-major operand with leading dimension ld lies in device memory.
bool operandInMemory(const char* call, const char* name, const float* p, long long rows, long long cols, long long ld,
                     long long stride, int batch) {
    if (rows == 0 || cols == 0 || batch == 0) return true;
    long long first = std::min(0LL, stride * (batch - 1));
    long long last = (rows - 1) + (cols - 1) * ld + std::max(0LL, stride * (batch - 1));
    uintptr_t base = (uintptr_t) p + (uintptr_t) (first * 4);
    std::string why;
    if (deviceRange(base, (size_t) (last - first + 1) * 4, &why)) return true;
    setSticky(CUDA_ERROR_ILLEGAL_ADDRESS, format("an illegal memory access was encountered [emulator: %s: operand %s "
                                                 "(%lld x %lld, ld %lld, stride %lld, batch %d): %s]",
                                                 call, name, rows, cols, ld, stride, batch, why.c_str()));
    return false;
}

cublasStatus_t gemm(const char* call, cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                    const float* alphaP, const float* A, int lda, long long sA, const float* B, int ldb, long long sB,
                    const float* betaP, float* C, int ldc, long long sC, int batch) {
    if (!valid(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (sticky()) return CUBLAS_STATUS_EXECUTION_FAILED;
    auto opOk = [](int o) { return o == CUBLAS_OP_N || o == CUBLAS_OP_T || o == CUBLAS_OP_C; };
    const long long aRows = ta == CUBLAS_OP_N ? m : k, aCols = ta == CUBLAS_OP_N ? k : m;
    const long long bRows = tb == CUBLAS_OP_N ? k : n, bCols = tb == CUBLAS_OP_N ? n : k;
    if (!opOk(ta) || !opOk(tb) || m < 0 || n < 0 || k < 0 || batch < 0 || lda < std::max(1LL, aRows)
        || ldb < std::max(1LL, bRows) || ldc < std::max(1, m) || !alphaP || !betaP) {
        note("%s: invalid value (m=%d n=%d k=%d lda=%d ldb=%d ldc=%d batch=%d)", call, m, n, k, lda, ldb, ldc, batch);
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    if (h->pointerMode != CUBLAS_POINTER_MODE_HOST) {
        note("%s: device pointer mode is not emulated", call);
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    if (m == 0 || n == 0 || batch == 0) return CUBLAS_STATUS_SUCCESS;
    const float alpha = *alphaP, beta = *betaP;
    const bool readAB = alpha != 0.0f && k > 0;
    if ((readAB && (!operandInMemory(call, "A", A, aRows, aCols, lda, sA, batch)
                    || !operandInMemory(call, "B", B, bRows, bCols, ldb, sB, batch)))
        || !operandInMemory(call, "C", C, m, n, ldc, sC, batch)) {
        return CUBLAS_STATUS_SUCCESS;   // as on a GPU: the launch is accepted, the context is now faulted
    }
    const bool round = h->math == CUBLAS_TF32_TENSOR_OP_MATH;
    parallelFor((size_t) batch * n, [&](size_t begin, size_t end) {
        std::vector<float> a((size_t) k), col((size_t) m);
        std::vector<float> packed;   // op(A) column-major m x k, per batch
        long long packedBatch = -1;
        for (size_t task = begin; task < end; task++) {
            const long long bi = (long long) (task / n), j = (long long) (task % n);
            const float* Ab = A + bi * sA;
            const float* Bb = B + bi * sB;
            float* Cb = C + bi * sC;
            if (readAB && packedBatch != bi) {
                packed.resize((size_t) m * k);
                for (long long l = 0; l < k; l++)
                    for (long long i = 0; i < m; i++) {
                        float v = ta == CUBLAS_OP_N ? Ab[i + l * lda] : Ab[l + i * lda];
                        packed[(size_t) (i + l * m)] = round ? tf32(v) : v;
                    }
                packedBatch = bi;
            }
            for (long long i = 0; i < m; i++) col[(size_t) i] = 0.0f;
            if (readAB) {
                for (long long l = 0; l < k; l++) {
                    float b = tb == CUBLAS_OP_N ? Bb[l + j * ldb] : Bb[j + l * ldb];
                    if (round) b = tf32(b);
                    const float* ap = &packed[(size_t) (l * m)];
                    for (long long i = 0; i < m; i++) col[(size_t) i] += ap[i] * b;
                }
            }
            float* cj = Cb + j * ldc;
            for (long long i = 0; i < m; i++) {
                float v = readAB ? alpha * col[(size_t) i] : 0.0f;
                cj[i] = beta == 0.0f ? v : v + beta * cj[i];
            }
        }
    });
    return CUBLAS_STATUS_SUCCESS;
}

}  // namespace

extern "C" {

cublasStatus_t cublasCreate_v2(cublasHandle_t* handle) {
    if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
    std::lock_guard<std::mutex> lock(g_mutex);
    cublasHandle_t h = new cublasContext();
    g_handles.insert(h);
    *handle = h;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy_v2(cublasHandle_t handle) {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!g_handles.erase(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
    delete handle;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetVersion_v2(cublasHandle_t handle, int* version) {
    if (!valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!version) return CUBLAS_STATUS_INVALID_VALUE;
    *version = 0;   // not NVIDIA's: the emulator's own
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, CUstream stream) {
    if (!valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->stream = stream;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
    if (!valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
    int base = mode & ~CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION;
    if (base != CUBLAS_DEFAULT_MATH && base != CUBLAS_TENSOR_OP_MATH && base != CUBLAS_PEDANTIC_MATH
        && base != CUBLAS_TF32_TENSOR_OP_MATH)
        return CUBLAS_STATUS_INVALID_VALUE;
    handle->math = base;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetPointerMode_v2(cublasHandle_t handle, cublasPointerMode_t mode) {
    if (!valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (mode != CUBLAS_POINTER_MODE_HOST && mode != CUBLAS_POINTER_MODE_DEVICE) return CUBLAS_STATUS_INVALID_VALUE;
    handle->pointerMode = mode;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemm_v2(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                              int k, const float* alpha, const float* A, int lda, const float* B, int ldb,
                              const float* beta, float* C, int ldc) {
    return gemm("cublasSgemm", handle, transa, transb, m, n, k, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                         int m, int n, int k, const float* alpha, const float* A, int lda,
                                         long long strideA, const float* B, int ldb, long long strideB,
                                         const float* beta, float* C, int ldc, long long strideC, int batchCount) {
    return gemm("cublasSgemmStridedBatched", handle, transa, transb, m, n, k, alpha, A, lda, strideA, B, ldb, strideB,
                beta, C, ldc, strideC, batchCount);
}

}  // extern "C"
