package org.vit4j.io;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * A file written in place of another all at once: the bytes go to a temporary file beside the
 * target, which {@link #commit()} forces to disk, renames over the target and makes durable by
 * forcing the directory too. Until then the target keeps its previous content, whatever happens
 * to the process.
 *
 * <p>The temporary file has one fixed name per target, {@code .NAME.tmp}, so a write that a crash
 * interrupted leaves at most one such file, which the next write reuses (truncated) and
 * {@link #removeStale} deletes. A lock on it keeps two processes from writing the same target at
 * once.
 *
 * <p>The file gets the permissions of any new file, {@code 0666} less the process's umask (as with
 * {@code new FileOutputStream}), also when it replaces a file of other permissions: the temporary
 * file is always created afresh, never one left behind with its own mode.
 */
public final class AtomicFile implements AutoCloseable {
    private final Path target;
    private final Path temp;
    private final FileChannel channel;
    private final FileLock lock;
    private boolean done;

    private AtomicFile(Path target, Path temp, FileChannel channel, FileLock lock) {
        this.target = target;
        this.temp = temp;
        this.channel = channel;
        this.lock = lock;
    }

    /** The temporary file a write of {@code target} goes through. */
    public static Path temporaryFor(Path target) {
        Path abs = target.toAbsolutePath();
        return abs.resolveSibling("." + abs.getFileName() + ".tmp");
    }

    /** Starts writing {@code target}, creating its parent directories. */
    public static AtomicFile open(Path target) throws IOException {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        if (Files.isDirectory(abs)) {
            throw new IOException(target + ": is a directory");
        }
        Files.createDirectories(dir);
        Path temp = temporaryFor(abs);
        // A leftover keeps the mode it was made with; deleted (unless a writer holds it), the file is made anew.
        removeStale(abs);
        FileChannel ch = FileChannel.open(temp, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        FileLock lock;
        try {
            lock = ch.tryLock();
        } catch (OverlappingFileLockException e) {
            lock = null;
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
        if (lock == null) {
            ch.close();
            throw new IOException(target + ": another writer is writing it now (" + temp + " is locked)");
        }
        try {
            ch.truncate(0);
        } catch (IOException e) {
            lock.release();
            ch.close();
            throw e;
        }
        return new AtomicFile(abs, temp, ch, lock);
    }

    /** Where the bytes go until {@link #commit()}. */
    public FileChannel channel() {
        return channel;
    }

    /** Forces the data to disk, renames the temporary file over the target and forces the directory. */
    public void commit() throws IOException {
        if (done) {
            throw new IllegalStateException("already committed or closed");
        }
        channel.force(true);
        lock.release();
        channel.close();
        done = true;
        try {
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            Files.deleteIfExists(temp);
            throw e;
        }
        forceDirectory(target.getParent());
    }

    /** Abandons an uncommitted write: the temporary file is deleted and the target left as it was. */
    @Override
    public void close() throws IOException {
        if (done) {
            return;
        }
        done = true;
        try {
            if (lock.isValid()) {
                lock.release();
            }
            channel.close();
        } finally {
            Files.deleteIfExists(temp);
        }
    }

    /**
     * Deletes the temporary file of an earlier write of {@code target} that was interrupted (a
     * crash), unless a writer holds it now; returns whether there was one to delete.
     */
    public static boolean removeStale(Path target) throws IOException {
        Path temp = temporaryFor(target);
        if (!Files.isRegularFile(temp)) {
            return false;
        }
        try (FileChannel ch = FileChannel.open(temp, StandardOpenOption.WRITE)) {
            FileLock lock;
            try {
                lock = ch.tryLock();
            } catch (OverlappingFileLockException e) {
                return false;
            }
            if (lock == null) {
                return false;
            }
            Files.delete(temp);
            lock.release();
            return true;
        }
    }

    /**
     * Makes a rename or creation in {@code dir} durable. Where directories cannot be opened for
     * this (some platforms), the rename is as durable as the file system makes it by itself.
     */
    public static void forceDirectory(Path dir) throws IOException {
        FileChannel ch;
        try {
            ch = FileChannel.open(dir, StandardOpenOption.READ);
        } catch (IOException | UnsupportedOperationException e) {
            return;
        }
        try (ch) {
            ch.force(true);
        } catch (IOException e) {
            // Linux forces directories; a file system that refuses has nothing more to offer.
        }
    }
}
