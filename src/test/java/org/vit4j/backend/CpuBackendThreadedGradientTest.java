package org.vit4j.backend;

import org.vit4j.backend.cpu.CpuBackend;

/**
 * The gradient suite on a {@link CpuBackend} with 3 threads: whatever the machine's core count,
 * the multi-chunk paths (split GEMMs, per-chunk partial sums) run with uneven chunk boundaries.
 */
class CpuBackendThreadedGradientTest extends BackendGradientTestBase {
    @Override
    protected Backend createBackend() {
        return new CpuBackend(3);
    }
}
