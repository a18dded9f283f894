package org.vit4j.backend;

import org.vit4j.backend.cpu.CpuBackend;

/** Forward and gradient checks of every differentiable op on {@link CpuBackend}. */
class CpuBackendGradientTest extends BackendGradientTestBase {
    @Override
    protected Backend createBackend() {
        return new CpuBackend();
    }
}
