package org.vit4j.backend;

import org.vit4j.backend.cpu.CpuBackend;

/** Memory, elementwise, dropout, AdamW, view and shape-validation checks on {@link CpuBackend}. */
class CpuBackendMiscOpsTest extends BackendMiscOpsTestBase {
    @Override
    protected Backend createBackend() {
        return new CpuBackend();
    }
}
