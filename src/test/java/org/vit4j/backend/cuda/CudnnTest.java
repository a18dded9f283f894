package org.vit4j.backend.cuda;

import com.sun.jna.Memory;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What can be checked of the cuDNN binding without a GPU: the failure line and the result struct. */
class CudnnTest {

    @Test
    void loadFailureIsOneLine() {
        UnsatisfiedLinkError e = new UnsatisfiedLinkError("Unable to load library 'libcudnn.so.9':\n"
                + "libcudnn.so.9: cannot open shared object file: No such file or directory\n"
                + "libcudnn.so.9: cannot open shared object file: No such file or directory\n"
                + "Native library (linux-x86-64/libcudnn.so.9) not found in resource path");
        assertEquals("libcudnn.so.9: cannot open shared object file: No such file or directory",
                Cudnn.loadFailureReason("libcudnn.so.9", e));
        assertEquals("Unable to load library 'x'", Cudnn.loadFailureReason("x",
                new UnsatisfiedLinkError("Unable to load library 'x'\nmore\nlines")));
    }

    /** cudnnConvolutionFwdAlgoPerf_t entries, 48 bytes apart: the first that succeeded is taken. */
    @Test
    void fastestSucceededSkipsFailedAlgorithms() {
        try (Memory perf = new Memory(3L * Cudnn.PERF_BYTES)) {
            perf.clear();
            perf.setInt(Cudnn.PERF_ALGO, 1);
            perf.setInt(Cudnn.PERF_STATUS, 9);                      // CUDNN_STATUS_NOT_SUPPORTED
            perf.setInt(Cudnn.PERF_BYTES + Cudnn.PERF_ALGO, 6);
            perf.setInt(Cudnn.PERF_BYTES + Cudnn.PERF_STATUS, 0);
            perf.setLong(Cudnn.PERF_BYTES + Cudnn.PERF_MEMORY, 1L << 20);
            perf.setInt(2 * Cudnn.PERF_BYTES + Cudnn.PERF_ALGO, 0);
            assertEquals(6, Cudnn.fastestSucceeded(perf, 3));
            CudaException none = assertThrows(CudaException.class, () -> Cudnn.fastestSucceeded(perf, 1));
            assertTrue(none.getMessage().contains("none of 1"), none.getMessage());
        }
    }
}
