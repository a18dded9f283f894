package org.vit4j.backend.cuda;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the CUDA backend does differently on the CUDA emulator of native-tests/emulator, and the
 * driver's error text in {@link CudaException}: checked without any CUDA library.
 */
class EmulatedDeviceTest {
    @Test
    void theEmulatorIsRecognisedByItsDeviceName() {
        assertTrue(CudaDevice.emulated("vit4j emulated GPU (CPU, 2 workers)"));
        assertTrue(CudaDevice.emulated(CudaDevice.EMULATED_NAME_PREFIX));
        assertFalse(CudaDevice.emulated("NVIDIA H200"));
        assertFalse(CudaDevice.emulated("NVIDIA vit4j emulated GPU"));
        assertFalse(CudaDevice.emulated(null));
    }

    @Test
    void theEmulatorNeverUsesTheKernelCache() {
        Path cache = Path.of("/home/u/.cache/vit4j/kernels");
        assertNull(KernelLibrary.cacheFor(true, cache));
        assertNull(KernelLibrary.cacheFor(true, null));
        assertEquals(cache, KernelLibrary.cacheFor(false, cache));
        assertNull(KernelLibrary.cacheFor(false, null));
    }

    @Test
    void driverErrorsCarryTheDriversDescription() {
        assertEquals("cuMemcpyDtoH(4 bytes) failed: CUDA_ERROR_ILLEGAL_ADDRESS (700): an illegal memory access was "
                + "encountered", CudaException.message("cuMemcpyDtoH(4 bytes)", 700,
                CudaException.describe(700, code -> "an illegal memory access was encountered\n")));
        String emulated = "kernel attention_forward_f32, block (3,0,0) thread (17,0,0): shared load out of bounds "
                + "at attention.cu:212";
        assertTrue(CudaException.message("cuStreamSynchronize", 700, CudaException.describe(700, code -> emulated))
                .endsWith("(700): " + emulated));
    }

    @Test
    void aFailingDescriptionNeverHidesTheError() {
        assertNull(CudaException.describe(700, code -> {
            throw new UnsatisfiedLinkError("no JCudaDriver");
        }));
        assertNull(CudaException.describe(700, code -> {
            throw new IllegalStateException("JCuda exceptions on");
        }));
        assertNull(CudaException.describe(700, code -> null));
        assertNull(CudaException.describe(700, code -> "  "));
        assertEquals("cuInit failed: CUDA_ERROR_NO_DEVICE (100)", CudaException.message("cuInit", 100, null));
    }
}
