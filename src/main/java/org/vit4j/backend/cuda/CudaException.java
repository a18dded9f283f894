package org.vit4j.backend.cuda;

import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;
import jcuda.jcublas.cublasStatus;
import jcuda.nvrtc.nvrtcResult;

import java.util.function.IntFunction;

/**
 * A failed CUDA driver, NVRTC or cuBLAS call: the message names the call and the error, and for
 * the driver also gives the driver's own description of it ({@code cuGetErrorString}), which on
 * the CUDA emulator names the faulting kernel, thread, address and source line.
 */
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
            throw new CudaException(message(call, result, describe(result, CudaException::driverErrorString)), result);
        }
    }

    /** {@code "call failed: NAME (code)"}, then {@code ": description"} when the driver gave one. */
    static String message(String call, int result, String description) {
        String base = call + " failed: " + CUresult.stringFor(result) + " (" + result + ")";
        return description == null ? base : base + ": " + description;
    }

    /**
     * The driver's text for {@code result}, or null where there is none or asking fails: the
     * error being reported must never be hidden by a second one while describing it.
     */
    static String describe(int result, IntFunction<String> errorString) {
        try {
            String text = errorString.apply(result);
            return text == null || text.isBlank() ? null : text.strip();
        } catch (RuntimeException | LinkageError e) {
            return null;
        }
    }

    private static String driverErrorString(int result) {
        String[] text = new String[1];
        return JCudaDriver.cuGetErrorString(result, text) == CUresult.CUDA_SUCCESS ? text[0] : null;
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
