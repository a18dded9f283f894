package org.vit4j.nativetests;

import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.LifecycleMethodExecutionExceptionHandler;
import org.junit.jupiter.api.extension.TestExecutionExceptionHandler;
import org.opentest4j.AssertionFailedError;
import org.opentest4j.TestAbortedException;

/**
 * With {@code -Dvit4j.requireGpu=true}: a test aborted by any assumption (JUnit's
 * {@code Assumptions}, in a test or a lifecycle method, in this package or in the shared suites
 * of {@code src/test}) fails instead of counting as skipped. {@link Gpu#skip} already fails in
 * that mode; this catches the skips that do not go through it. Registered through
 * {@code native-tests/resources/META-INF/services} for JUnit's extension auto-detection, which
 * the emulator profile turns on; inert without the property.
 */
public final class NoSkips implements TestExecutionExceptionHandler, LifecycleMethodExecutionExceptionHandler {
    @Override
    public void handleTestExecutionException(ExtensionContext context, Throwable throwable) throws Throwable {
        throw failIfAborted(throwable);
    }

    @Override
    public void handleBeforeAllMethodExecutionException(ExtensionContext context, Throwable throwable) throws Throwable {
        throw failIfAborted(throwable);
    }

    @Override
    public void handleBeforeEachMethodExecutionException(ExtensionContext context, Throwable throwable) throws Throwable {
        throw failIfAborted(throwable);
    }

    @Override
    public void handleAfterEachMethodExecutionException(ExtensionContext context, Throwable throwable) throws Throwable {
        throw failIfAborted(throwable);
    }

    @Override
    public void handleAfterAllMethodExecutionException(ExtensionContext context, Throwable throwable) throws Throwable {
        throw failIfAborted(throwable);
    }

    private static Throwable failIfAborted(Throwable throwable) {
        if (throwable instanceof TestAbortedException && Gpu.required()) {
            return new AssertionFailedError("skipped, in a run where nothing may be skipped (-D" + Gpu.REQUIRE
                    + "=true): " + throwable.getMessage(), throwable);
        }
        return throwable;
    }
}
