package org.vit4j.testing;

import java.lang.management.ManagementFactory;

/** Bytes the current thread allocates while running a piece of code (HotSpot's per-thread counter). */
public final class Allocations {
    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    /** Code that may throw anything; what it throws is returned by {@link #measure}, not rethrown. */
    @FunctionalInterface
    public interface Body {
        void run() throws Throwable;
    }

    /** What the code allocated, and what it threw (null if it returned). */
    public record Result(long bytes, Throwable thrown) {
    }

    private Allocations() {
    }

    public static Result measure(Body body) {
        long before = THREADS.getCurrentThreadAllocatedBytes();
        Throwable thrown = null;
        try {
            body.run();
        } catch (Throwable t) {
            thrown = t;
        }
        return new Result(THREADS.getCurrentThreadAllocatedBytes() - before, thrown);
    }
}
