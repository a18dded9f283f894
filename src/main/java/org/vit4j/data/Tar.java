package org.vit4j.data;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.channels.Channels;
import java.nio.file.Files;
import java.nio.file.Path;
import org.vit4j.io.AtomicFile;
import java.util.HashSet;
import java.util.Set;
import java.util.zip.ZipException;

/**
 * A minimal reader for (gzipped) POSIX ustar / GNU tar archives, enough to pull a few named files
 * out of a dataset archive without a dependency. Only regular-file members whose base name is
 * asked for are written, always directly into the destination folder under that base name, so a
 * hostile archive cannot write anywhere else.
 */
final class Tar {
    private static final int BLOCK = 512;

    private Tar() {}

    /**
     * Extracts the members whose base name (the part after the last {@code /}) is in
     * {@code wanted} into {@code destDir}; each is written to a temporary file then renamed.
     *
     * @param archive the archive file, gzipped or not (detected from its content)
     * @return the base names that were extracted
     * @throws IOException if the archive is truncated or a header is corrupt; the message names it
     */
    static Set<String> extract(Path archive, Set<String> wanted, Path destDir) throws IOException {
        try (InputStream raw = Files.newInputStream(archive)) {
            return extract(raw, archive.toString(), wanted, destDir);
        }
    }

    /** As {@link #extract(Path, Set, Path)}, from a stream that {@code archive} names in errors. */
    static Set<String> extract(InputStream raw, String archive, Set<String> wanted, Path destDir) throws IOException {
        Files.createDirectories(destDir);
        Set<String> extracted = new HashSet<>();
        try (InputStream in = DataFiles.maybeGunzip(raw)) {
            String longName = null;
            byte[] header = new byte[BLOCK];
            while (true) {
                int got = in.readNBytes(header, 0, BLOCK);
                if (got == 0) {
                    break; // no end-of-archive blocks; accept, as GNU tar does with a warning
                }
                if (got < BLOCK) {
                    throw new IOException(archive + ": truncated tar archive (partial header block)");
                }
                if (isZero(header)) {
                    break; // end-of-archive marker
                }
                verifyChecksum(archive, header);
                String name = longName != null ? longName : headerName(header);
                longName = null;
                long size = parseSize(archive, header);
                char type = (char) header[156];
                if (type == 'L') {
                    // GNU long name: the data is the name of the next member.
                    byte[] data = readData(archive, in, size);
                    longName = cString(data, 0, data.length);
                    skipPadding(archive, in, size);
                    continue;
                }
                String base = name.substring(name.lastIndexOf('/') + 1);
                boolean regular = type == '0' || type == 0;
                if (regular && wanted.contains(base)) {
                    try (AtomicFile out = AtomicFile.open(destDir.resolve(base))) {
                        copy(archive, in, Channels.newOutputStream(out.channel()), size);
                        out.commit();
                    }
                    extracted.add(base);
                } else {
                    skip(archive, in, size);
                }
                skipPadding(archive, in, size);
            }
        } catch (EOFException | ZipException e) {
            throw new IOException(archive + ": corrupt or truncated gzip data: " + e.getMessage(), e);
        }
        return extracted;
    }

    private static boolean isZero(byte[] block) {
        for (byte b : block) {
            if (b != 0) {
                return false;
            }
        }
        return true;
    }

    /** The header checksum is the byte sum of the header with the checksum field read as spaces. */
    private static void verifyChecksum(String archive, byte[] h) throws IOException {
        long sum = 0;
        for (int i = 0; i < BLOCK; i++) {
            sum += i >= 148 && i < 156 ? ' ' : h[i] & 0xFF;
        }
        long stored = parseOctal(archive, h, 148, 8, "checksum");
        if (stored != sum) {
            throw new IOException(archive + ": corrupt tar header (checksum " + stored + ", computed " + sum
                    + "); is this a tar archive?");
        }
    }

    private static String headerName(byte[] h) {
        String name = cString(h, 0, 100);
        boolean ustar = new String(h, 257, 5, StandardCharsets.US_ASCII).equals("ustar");
        String prefix = ustar ? cString(h, 345, 155) : "";
        return prefix.isEmpty() ? name : prefix + "/" + name;
    }

    private static long parseSize(String archive, byte[] h) throws IOException {
        if ((h[124] & 0x80) != 0) {
            // GNU base-256 encoding for sizes of 8 GiB and more: 95 bits, of which a size may use 63.
            if ((h[124] & 0x7F) != 0 || h[125] != 0 || h[126] != 0 || (h[127] & 0x80) != 0) {
                throw new IOException(archive + ": corrupt tar header (size field beyond 2^63 bytes)");
            }
            long v = 0;
            for (int i = 127; i < 136; i++) {
                v = (v << 8) | (h[i] & 0xFF);
            }
            return v;
        }
        return parseOctal(archive, h, 124, 12, "size");
    }

    private static long parseOctal(String archive, byte[] h, int off, int len, String field) throws IOException {
        long v = 0;
        boolean any = false;
        for (int i = off; i < off + len; i++) {
            int b = h[i] & 0xFF;
            if (b == 0 || b == ' ') {
                if (any) {
                    break;
                }
                continue;
            }
            if (b < '0' || b > '7') {
                throw new IOException(archive + ": corrupt tar header (bad " + field + " field)");
            }
            v = v * 8 + (b - '0');
            any = true;
        }
        return v;
    }

    private static String cString(byte[] b, int off, int len) {
        int end = off;
        while (end < off + len && b[end] != 0) {
            end++;
        }
        return new String(b, off, end - off, StandardCharsets.UTF_8);
    }

    private static byte[] readData(String archive, InputStream in, long size) throws IOException {
        if (size > 1 << 20) {
            throw new IOException(archive + ": implausibly long GNU long-name entry (" + size + " bytes)");
        }
        byte[] data = in.readNBytes((int) size);
        if (data.length < size) {
            throw new IOException(archive + ": truncated tar archive");
        }
        return data;
    }

    private static void copy(String archive, InputStream in, OutputStream out, long size) throws IOException {
        byte[] buf = new byte[1 << 16];
        long left = size;
        while (left > 0) {
            int n = in.read(buf, 0, (int) Math.min(buf.length, left));
            if (n < 0) {
                throw new IOException(archive + ": truncated tar archive (member data cut short)");
            }
            out.write(buf, 0, n);
            left -= n;
        }
    }

    private static void skip(String archive, InputStream in, long size) throws IOException {
        try {
            in.skipNBytes(size);
        } catch (EOFException e) {
            throw new IOException(archive + ": truncated tar archive (member data cut short)", e);
        }
    }

    private static void skipPadding(String archive, InputStream in, long size) throws IOException {
        long rem = size % BLOCK;
        if (rem != 0) {
            skip(archive, in, BLOCK - rem);
        }
    }
}
