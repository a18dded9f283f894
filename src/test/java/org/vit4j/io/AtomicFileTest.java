package org.vit4j.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Atomic replacement: one fixed temporary name per target, reused after a crash, locked against a second writer. */
class AtomicFileTest {
    @TempDir
    Path dir;

    private List<Path> list() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.sorted().toList();
        }
    }

    private static void write(AtomicFile f, String text) throws IOException {
        f.channel().write(ByteBuffer.wrap(text.getBytes()));
    }

    @Test
    void commitReplacesAndCloseAbandons() throws IOException {
        Path target = dir.resolve("t.bin");
        Files.writeString(target, "old");
        try (AtomicFile f = AtomicFile.open(target)) {
            write(f, "new content");
            assertEquals("old", Files.readString(target), "the target is untouched until the commit");
            f.commit();
        }
        assertEquals("new content", Files.readString(target));
        try (AtomicFile f = AtomicFile.open(target)) {
            write(f, "abandoned");
        }
        assertEquals("new content", Files.readString(target));
        assertEquals(List.of(target), list(), "no temporary file is left");
    }

    /** What a kill -9 mid-write leaves: the next write reuses (truncates) it, and removeStale deletes it. */
    @Test
    void aCrashLeavesOneTemporaryFileThatIsReused() throws IOException {
        Path target = dir.resolve("ckpt.safetensors");
        Path temp = AtomicFile.temporaryFor(target);
        assertEquals(dir.resolve(".ckpt.safetensors.tmp"), temp);
        Files.write(temp, new byte[100_000]);                     // a crashed write's leftover
        try (AtomicFile f = AtomicFile.open(target)) {
            write(f, "abc");
            f.commit();
        }
        assertArrayEquals("abc".getBytes(), Files.readAllBytes(target), "the leftover's bytes are not kept");
        assertEquals(List.of(target), list());

        Files.write(temp, new byte[10]);
        assertTrue(AtomicFile.removeStale(target));
        assertFalse(AtomicFile.removeStale(target));
        assertEquals(List.of(target), list());
    }

    @Test
    void aSecondWriterIsRefused() throws IOException {
        Path target = dir.resolve("x.bin");
        try (AtomicFile first = AtomicFile.open(target)) {
            IOException e = assertThrows(IOException.class, () -> AtomicFile.open(target));
            assertTrue(e.getMessage().contains("another writer"), e.getMessage());
            assertFalse(AtomicFile.removeStale(target), "a file being written is not stale");
            write(first, "1");
            first.commit();
        }
        assertEquals("1", Files.readString(target));
    }

    @Test
    void aDirectoryIsNotATarget() {
        IOException e = assertThrows(IOException.class, () -> AtomicFile.open(dir));
        assertTrue(e.getMessage().contains("is a directory"), e.getMessage());
    }
}
