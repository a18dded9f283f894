package org.vit4j.testing;

import java.io.IOException;

/**
 * What a fuzz test checks of a reader given untrusted bytes: it returns, or throws an
 * {@link IOException} (the readers' documented failure), never anything else, and allocates at
 * most {@code bound} bytes of heap on the calling thread.
 */
public final class Untrusted {
    private Untrusted() {
    }

    public static void check(String what, long bound, Allocations.Body body) {
        Allocations.Result r = Allocations.measure(body);
        if (r.thrown() != null && !(r.thrown() instanceof IOException)) {
            throw new AssertionError(what + " threw " + r.thrown() + " instead of an IOException", r.thrown());
        }
        // The line the command line prints (IoErrors.describe) must be one clean line with a reason.
        String line = r.thrown() == null ? null : org.vit4j.io.IoErrors.describe(r.thrown());
        if (line != null && (r.thrown().getMessage() == null || line.isBlank() || line.chars().anyMatch(Character::isISOControl))) {
            throw new AssertionError(what + " failed without a clean one-line message: " + r.thrown(), r.thrown());
        }
        if (r.bytes() > bound) {
            // Once more: the first call of a reader also pays for loading and initialising its classes.
            r = Allocations.measure(body);
        }
        if (r.bytes() > bound) {
            throw new AssertionError(what + " allocated " + r.bytes() + " bytes, more than its bound of " + bound
                    + (r.thrown() == null ? "" : " (and then threw " + r.thrown() + ")"));
        }
    }
}
