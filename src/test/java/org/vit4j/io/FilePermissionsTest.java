package org.vit4j.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Files written through {@link AtomicFile} get the permissions of any new file under the process's
 * umask, whatever the file they replace or a crashed write's leftover had.
 */
class FilePermissionsTest {
    @TempDir
    Path dir;

    /** What a plain new file gets here: 0666 less the umask. */
    static Set<PosixFilePermission> freshFilePermissions(Path dir) throws IOException {
        Path probe = Files.createTempDirectory(dir, "probe").resolve("plain");
        try (OutputStream out = Files.newOutputStream(probe)) {
            out.write(1);
        }
        return Files.getPosixFilePermissions(probe);
    }

    private static void write(Path target, String text) throws IOException {
        try (AtomicFile f = AtomicFile.open(target)) {
            f.channel().write(ByteBuffer.wrap(text.getBytes()));
            f.commit();
        }
    }

    @Test
    void newReplacedAndRecoveredFilesGetTheUmasksPermissions() throws IOException {
        assumeTrue(FileSystems.getDefault().supportedFileAttributeViews().contains("posix"), "no POSIX permissions");
        Set<PosixFilePermission> fresh = freshFilePermissions(dir);
        Set<PosixFilePermission> owner = PosixFilePermissions.fromString("rw-------");

        Path created = dir.resolve("new.bin");
        write(created, "a");
        assertEquals(fresh, Files.getPosixFilePermissions(created), "a new file");

        Path replaced = dir.resolve("old.bin");
        Files.writeString(replaced, "old");
        Files.setPosixFilePermissions(replaced, owner);
        write(replaced, "b");
        assertEquals("b", Files.readString(replaced));
        assertEquals(fresh, Files.getPosixFilePermissions(replaced), "a replaced file, as a new one");

        Path recovered = dir.resolve("crashed.bin");
        Path leftover = AtomicFile.temporaryFor(recovered);
        Files.write(leftover, new byte[1000]);
        Files.setPosixFilePermissions(leftover, owner);
        write(recovered, "c");
        assertEquals("c", Files.readString(recovered));
        assertEquals(fresh, Files.getPosixFilePermissions(recovered), "not the crashed write's leftover's mode");
        assertTrue(Files.notExists(leftover));
    }

    @Test
    void groupAndOthersCanReadWhenTheUmaskAllows() throws IOException {
        assumeTrue(FileSystems.getDefault().supportedFileAttributeViews().contains("posix"), "no POSIX permissions");
        Set<PosixFilePermission> fresh = freshFilePermissions(dir);
        Path f = dir.resolve("shared.bin");
        write(f, "x");
        Set<PosixFilePermission> got = Files.getPosixFilePermissions(f);
        for (PosixFilePermission p : new PosixFilePermission[] {PosixFilePermission.GROUP_READ,
                PosixFilePermission.OTHERS_READ}) {
            assertEquals(fresh.contains(p), got.contains(p), p + " as the umask gives it (" + fresh + ")");
        }
        assertTrue(got.contains(PosixFilePermission.OWNER_READ) && got.contains(PosixFilePermission.OWNER_WRITE));
    }
}
