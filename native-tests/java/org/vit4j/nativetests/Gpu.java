package org.vit4j.nativetests;

import org.junit.jupiter.api.Assumptions;
import org.vit4j.backend.BackendUnavailableException;
import org.vit4j.backend.Backends;
import org.vit4j.backend.cuda.CudaBackend;

/** The GPU under test; without one, the calling test class is skipped with the one-line reason. */
final class Gpu {
    private Gpu() {
    }

    static CudaBackend open() {
        try {
            return Backends.cuda();
        } catch (BackendUnavailableException e) {
            Assumptions.abort("native tier skipped: " + e.getMessage());
            throw e;
        }
    }
}
