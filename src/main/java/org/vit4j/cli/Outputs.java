package org.vit4j.cli;

import org.vit4j.io.AtomicFile;
import org.vit4j.io.IoErrors;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Locale;

/**
 * Checks, before any work, that the files a command will write can be written: the directory
 * exists or can be made, a file can be created in it, an existing target can be opened for
 * writing. Each problem is one line naming the option, the file and the reason.
 */
final class Outputs {
    private Outputs() {
    }

    /** A file written whole at once ({@link AtomicFile}): its temporary file is created and removed. */
    static void requireReplaceable(Path file, String option) throws IOException {
        requireFileName(file, option);
        try {
            if (AtomicFile.removeStale(file)) {
                org.slf4j.LoggerFactory.getLogger(Outputs.class).info("removed {}, left by an interrupted write",
                        AtomicFile.temporaryFor(file));
            }
            try (AtomicFile probe = AtomicFile.open(file)) {
                // Opened and abandoned: the directory is there and takes new files.
            }
        } catch (IOException e) {
            throw new IOException(option + " " + file + ": cannot be written: " + IoErrors.describe(e), e);
        }
    }

    /** A file appended to: it is opened for writing (and removed again if this made it). */
    static void requireAppendable(Path file, String option) throws IOException {
        requireFileName(file, option);
        Path abs = file.toAbsolutePath();
        try {
            Files.createDirectories(abs.getParent());
            boolean existed = Files.exists(abs);
            try (FileChannel ch = FileChannel.open(abs, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
                // Opening is the test: permissions, read-only file systems, a directory in the way.
            }
            if (!existed) {
                Files.delete(abs);
            }
        } catch (IOException e) {
            throw new IOException(option + " " + file + ": cannot be written: " + IoErrors.describe(e), e);
        }
    }

    private static void requireFileName(Path file, String option) {
        if (Files.isDirectory(file)) {
            throw new IllegalArgumentException(option + " " + file + " is a directory; give a file name");
        }
        if (Files.exists(file) && !Files.isRegularFile(file)) {
            throw new IllegalArgumentException(option + " " + file + " exists and is not a regular file");
        }
    }

    /** Two options must not name the same file (one would overwrite the other). */
    static void requireDistinct(Path a, String optionA, Path b, String optionB) {
        if (a != null && b != null && a.toAbsolutePath().normalize().equals(b.toAbsolutePath().normalize())) {
            throw new IllegalArgumentException(optionA + " and " + optionB + " name the same file " + a
                    + "; give each its own");
        }
    }

    /** The file system of {@code file} must have room for {@code bytes} more (a new copy beside the old one). */
    static void requireSpace(Path file, long bytes, String option) throws IOException {
        FileStore store = Files.getFileStore(file.toAbsolutePath().getParent());
        long free = store.getUsableSpace();
        if (free < bytes) {
            throw new IOException(String.format(Locale.ROOT, "%s %s: a checkpoint of this model takes %.1f MB, but only"
                    + " %.1f MB are free there", option, file, bytes / 1e6, free / 1e6));
        }
    }
}
