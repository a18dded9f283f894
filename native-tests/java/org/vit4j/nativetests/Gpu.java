package org.vit4j.nativetests;

import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;
import org.vit4j.backend.BackendUnavailableException;
import org.vit4j.backend.Backends;
import org.vit4j.backend.cuda.CudaBackend;

/**
 * The GPU under test; without one, the calling test class is skipped with the one-line reason.
 * With {@code -Dvit4j.requireGpu=true} (the emulator profile: the tier on the CUDA emulator, where
 * nothing may be skipped) every such skip is a failure instead, naming what was missing.
 */
final class Gpu {
    /** System property: {@code true} turns every skip of the native tier into a failure. */
    static final String REQUIRE = "vit4j.requireGpu";

    private Gpu() {
    }

    static CudaBackend open() {
        try {
            return Backends.cuda();
        } catch (BackendUnavailableException e) {
            skip("native tier skipped: " + e.getMessage());
            throw e;
        }
    }

    /** Whether a skip must fail ({@value #REQUIRE}). */
    static boolean required() {
        return Boolean.getBoolean(REQUIRE);
    }

    /** Skips the calling test (or class, from a {@code @BeforeAll}) for {@code reason}, or fails it where nothing may be skipped. */
    static void skip(String reason) {
        if (required()) {
            Assertions.fail("nothing may be skipped in this run (-D" + REQUIRE + "=true), but: " + reason);
        }
        Assumptions.abort(reason);
    }

    /** {@link #skip} unless {@code condition}. */
    static void assume(boolean condition, String reason) {
        if (!condition) {
            skip(reason);
        }
    }
}
