package org.vit4j.backend;

import org.junit.jupiter.api.Test;
import org.vit4j.backend.cpu.CpuBackend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

class BackendsTest {
    /** JCuda 12.6's message where the driver is missing (abridged: the real one has two stack traces). */
    private static final String JCUDA_NO_DRIVER = """
            Error while loading native library "JCudaDriver-12.6.0-linux-x86_64"
            Operating system name: Linux
            Architecture         : amd64
            ---(start of nested stack traces)---
            Stack trace from the attempt to load the library as a file:
            java.lang.UnsatisfiedLinkError: no JCudaDriver-12.6.0-linux-x86_64 in java.library.path: /usr/lib
            \tat java.base/java.lang.ClassLoader.loadLibrary(ClassLoader.java:2434)
            Stack trace from the attempt to load the library as a resource:
            java.lang.UnsatisfiedLinkError: /tmp/libJCudaDriver-12.6.0-linux-x86_64.so: libcuda.so.1: cannot open shared object file: No such file or directory
            \tat java.base/jdk.internal.loader.NativeLibraries.load(Native Method)
            ---(end of nested stack traces)---
            """;

    @Test
    void aMissingDriverIsOneLine() {
        assertEquals("no NVIDIA driver (libcuda.so.1: cannot open shared object file: No such file or directory)",
                Backends.reason(new UnsatisfiedLinkError(JCUDA_NO_DRIVER)));
        assertEquals("a CUDA library is missing (libnvrtc.so.12: cannot open shared object file: No such file or directory)",
                Backends.reason(new UnsatisfiedLinkError("x\n/tmp/libJNvrtc.so: libnvrtc.so.12: cannot open shared object file: "
                        + "No such file or directory\n")));
        assertEquals("incompatible CUDA library (version `libcublas.so.12' not found)",
                Backends.reason(new UnsatisfiedLinkError("/tmp/libJCublas2.so: version `libcublas.so.12' not found (required by x)")));
        assertEquals("cuInit failed: CUDA_ERROR_NO_DEVICE (100)",
                Backends.reason(new RuntimeException("cuInit failed: CUDA_ERROR_NO_DEVICE (100)\nmore")));
    }

    @Test
    void withoutAGpuAutoFallsBackToTheCpuAndCudaSaysWhy() {
        String status = Backends.cudaStatus();
        assumeFalse(!status.startsWith("unavailable"), "a GPU is usable here: " + status);
        try (Backend b = Backends.auto()) {
            assertTrue(b instanceof CpuBackend, "auto() without a GPU: " + b.description());
        }
        BackendUnavailableException e = assertThrows(BackendUnavailableException.class, () -> Backends.create("cuda"));
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
        assertTrue(e.getMessage().startsWith("device cuda was asked for, but CUDA is not usable here: "), e.getMessage());
        assertFalse(status.contains("\n"), status);
    }

    /** The CUDA emulator only where VIT4J_EMULATOR=1 says it was put on the library path on purpose. */
    @Test
    void theEmulatorIsPickedOnlyOnPurpose() {
        assertTrue(Backends.emulatorRequested("1"));
        assertFalse(Backends.emulatorRequested(null));
        assertFalse(Backends.emulatorRequested(""));
        assertFalse(Backends.emulatorRequested("0"));
        assertFalse(Backends.emulatorRequested("true"));
    }

    @Test
    void unknownDevice() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Backends.create("tpu"));
        assertTrue(e.getMessage().contains("unknown device 'tpu'"), e.getMessage());
    }
}
