package org.vit4j.backend;

import org.vit4j.backend.cpu.CpuBackend;

/** The memory/elementwise/dropout/AdamW suite on a {@link CpuBackend} with 3 threads (see {@link CpuBackendThreadedGradientTest}). */
class CpuBackendThreadedMiscOpsTest extends BackendMiscOpsTestBase {
    @Override
    protected Backend createBackend() {
        return new CpuBackend(3);
    }
}
