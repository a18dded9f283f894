package org.vit4j.backend;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.vit4j.backend.cpu.CpuBackend;

import java.util.Locale;

/** Chooses a backend by name: {@code auto}, {@code cpu} or {@code cuda}. */
public final class Backends {
    private static final Logger LOG = LoggerFactory.getLogger(Backends.class);

    private Backends() {
    }

    /** The CUDA backend when a usable GPU is present, else the CPU backend, logging why. */
    public static Backend auto() {
        String reason = cudaUnavailableReason();
        LOG.info("using the CPU backend: {}", reason);
        return new CpuBackend();
    }

    public static Backend create(String device) {
        return switch (device.toLowerCase(Locale.ROOT)) {
            case "auto" -> auto();
            case "cpu" -> new CpuBackend();
            case "cuda", "gpu" -> throw new BackendUnavailableException(
                    "--device cuda: " + cudaUnavailableReason());
            default -> throw new IllegalArgumentException(
                    "unknown device '" + device + "': expected auto, cpu or cuda");
        };
    }

    /** One line on whether CUDA can be used here, and why not. */
    public static String cudaStatus() {
        return "unavailable: " + cudaUnavailableReason();
    }

    /** Why CUDA cannot be used here, in one line. */
    static String cudaUnavailableReason() {
        return "the CUDA backend is not part of this build yet";
    }
}
