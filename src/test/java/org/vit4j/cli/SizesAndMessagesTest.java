package org.vit4j.cli;

import org.junit.jupiter.api.Test;
import org.vit4j.nn.ViTConfig;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Batch limits that follow from the model's shape, and the one-line messages of failures. */
class SizesAndMessagesTest {
    private static final ViTConfig VIT_TINY = new ViTConfig(224, 16, 3, 1000, 192, 12, 3, 768, 0f,
            ViTConfig.Pool.CLS, ViTConfig.Head.LINEAR);

    @Test
    void batchesWhoseActivationsDoNotFitOneBufferAreRefused() {
        // 197 tokens x 768 (the MLP) = 151,296 values an image: 14,193 images fill one buffer.
        Sizes.requireBatchFits(VIT_TINY, 14_193, "--batch-size");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Sizes.requireBatchFits(VIT_TINY, 14_194, "--batch-size"));
        assertTrue(e.getMessage().startsWith("--batch-size 14194 is too large for this model"), e.getMessage());
        assertTrue(e.getMessage().contains("at most 14193 images per batch"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Sizes.requireBatchFits(VIT_TINY, Integer.MAX_VALUE, "--batch-size"));
    }

    /** File-system exceptions whose message is only a path get their reason; bugs are called bugs. */
    @Test
    void failuresAreDescribedInOneLine() {
        assertEquals("out/m.jsonl: no such file or directory", Main.describe(new NoSuchFileException("out/m.jsonl")));
        assertEquals("a/b: not a directory", Main.describe(new NotDirectoryException("a/b")));
        assertEquals("x: permission denied", Main.describe(new AccessDeniedException("x")));
        assertEquals("cannot write: disk full",
                Main.describe(new UncheckedIOException("cannot write: disk full", new IOException("disk full"))));
        assertEquals("bad value", Main.describe(new IllegalArgumentException("bad value")));
        String bug = Main.describe(new ArrayIndexOutOfBoundsException("Index 5 out of bounds for length 3"));
        assertTrue(bug.startsWith("internal error: java.lang.ArrayIndexOutOfBoundsException: Index 5"), bug);
        assertEquals(-1, bug.indexOf('\n'));
    }
}
