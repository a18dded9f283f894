package org.vit4j.backend.cuda;

import jcuda.driver.CUresult;
import jcuda.jcublas.cublasStatus;
import jcuda.nvrtc.nvrtcResult;

/** A failed CUDA driver, NVRTC or cuBLAS call: the message names the call and the error. */
public final class CudaException extends RuntimeException {
    private final int code;

    public CudaException(String message, int code) {
        super(message);
        this.code = code;
    }

    /** The library's status code. */
    public int code() {
        return code;
    }

    static void check(int result, String call) {
        if (result != CUresult.CUDA_SUCCESS) {
            throw new CudaException(call + " failed: " + CUresult.stringFor(result) + " (" + result + ")", result);
        }
    }

    static void checkNvrtc(int result, String call) {
        if (result != nvrtcResult.NVRTC_SUCCESS) {
            throw new CudaException(call + " failed: " + nvrtcResult.stringFor(result) + " (" + result + ")", result);
        }
    }

    static void checkCublas(int status, String call) {
        if (status != cublasStatus.CUBLAS_STATUS_SUCCESS) {
            throw new CudaException(call + " failed: " + cublasStatus.stringFor(status) + " (" + status + ")", status);
        }
    }
}
