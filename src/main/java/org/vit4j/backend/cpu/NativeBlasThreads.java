package org.vit4j.backend.cpu;

import com.sun.jna.Function;
import com.sun.jna.NativeLibrary;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Caps a native OpenBLAS at one thread. The CPU backend already splits every GEMM over its own
 * threads; OpenBLAS's pthread pool on top of that oversubscribes the cores, and its workers
 * spin after each call, stealing the cores from the elementwise ops that follow. Measured on 2
 * cores: 711 images/s for {@code mnist-tutorial} with OpenBLAS's pool, 1063 with it capped.
 * Equivalent to {@code OPENBLAS_NUM_THREADS=1}; set {@code -Dvit4j.blasThreads=native} to keep
 * OpenBLAS's own threading.
 */
final class NativeBlasThreads {
    private static final Logger LOG = LoggerFactory.getLogger(NativeBlasThreads.class);
    private static boolean done;

    private NativeBlasThreads() {
    }

    /** Called once the netlib JNI library (and so {@code libblas.so.3}) is loaded. */
    static synchronized void capAtOne() {
        if (done || "native".equals(System.getProperty("vit4j.blasThreads"))) {
            return;
        }
        done = true;
        try {
            // dlopen of a library the JNI binding already loaded returns that same instance.
            Function setThreads = NativeLibrary.getInstance("libblas.so.3").getFunction("openblas_set_num_threads");
            setThreads.invokeVoid(new Object[] {1});
            LOG.debug("native OpenBLAS capped at 1 thread; GEMMs are split over vit4j's threads");
        } catch (UnsatisfiedLinkError | RuntimeException e) {
            // Not OpenBLAS (reference BLAS, MKL, ...) or no native BLAS: nothing to cap.
            LOG.debug("no OpenBLAS thread control found: {}", e.getMessage());
        }
    }
}
