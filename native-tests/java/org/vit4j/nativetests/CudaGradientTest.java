package org.vit4j.nativetests;

import org.vit4j.backend.Backend;
import org.vit4j.backend.BackendGradientTestBase;

/**
 * Every differentiable CUDA op, forward and backward, against the double-precision reference and
 * finite differences, on the shapes of the unit tier (odd sizes included), outputs poisoned with
 * NaN first; the same checks and tolerances the CPU backend passes.
 */
class CudaGradientTest extends BackendGradientTestBase {
    @Override
    protected Backend createBackend() {
        return Gpu.open();
    }
}
