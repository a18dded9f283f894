package org.vit4j.nativetests;

import org.vit4j.backend.Backend;
import org.vit4j.backend.BackendMiscOpsTestBase;

/** Memory, elementwise ops, reductions, dropout masks, AdamW and shape checks of the CUDA backend. */
class CudaMiscOpsTest extends BackendMiscOpsTestBase {
    @Override
    protected Backend createBackend() {
        return Gpu.open();
    }
}
