package org.vit4j.backend;

/** Thrown when a requested backend cannot run here (no GPU, no driver, missing libraries). */
public class BackendUnavailableException extends RuntimeException {
    public BackendUnavailableException(String message) {
        super(message);
    }

    public BackendUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
