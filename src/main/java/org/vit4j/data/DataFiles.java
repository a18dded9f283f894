package org.vit4j.data;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.GZIPInputStream;

/** File helpers shared by the readers. */
final class DataFiles {
    private static final int BUFFER = 1 << 16;

    private DataFiles() {}

    /**
     * Opens a file for reading, transparently gunzipping it when it starts with the gzip magic
     * bytes. The content decides, not the name: browsers often decompress {@code .gz} downloads
     * but keep the name, and users gunzip files without renaming them.
     */
    static InputStream openMaybeGzip(Path file) throws IOException {
        InputStream in = Files.newInputStream(file);
        try {
            return maybeGunzip(in);
        } catch (IOException e) {
            in.close();
            throw e;
        }
    }

    /** {@code in}, gunzipped when it starts with the gzip magic bytes; buffered either way. */
    static InputStream maybeGunzip(InputStream raw) throws IOException {
        InputStream in = buffered(raw);
        return isGzip(in) ? gunzip(in) : in;
    }

    static InputStream buffered(InputStream raw) {
        return new BufferedInputStream(raw, BUFFER);
    }

    static InputStream gunzip(InputStream in) throws IOException {
        return new BufferedInputStream(new GZIPInputStream(in, BUFFER), BUFFER);
    }

    /** Whether a mark-supporting stream starts with the gzip magic bytes; the stream is left where it was. */
    static boolean isGzip(InputStream in) throws IOException {
        in.mark(2);
        int b0 = in.read();
        int b1 = in.read();
        in.reset();
        return b0 == 0x1f && b1 == 0x8b;
    }

    /**
     * Up to {@code n} bytes of {@code in}: exactly {@code n}, or fewer where it ends first. The
     * array grows as the bytes arrive, so a header that promises more than the stream holds costs
     * no more memory than the stream's real content (a few times over, at most).
     */
    static byte[] readUpTo(InputStream in, int n) throws IOException {
        byte[] buf = new byte[Math.min(n, 1 << 16)];
        int got = 0;
        while (true) {
            got += in.readNBytes(buf, got, buf.length - got);
            if (got < buf.length) {
                return Arrays.copyOf(buf, got);
            }
            if (got == n) {
                return buf;
            }
            buf = Arrays.copyOf(buf, (int) Math.min(n, 2L * buf.length));
        }
    }

    /** {@code dir} must exist and be a directory; the message names it and what it was meant for. */
    static void requireDirectory(Path dir, String what) throws IOException {
        if (!Files.exists(dir)) {
            throw new IOException(what + " directory " + dir + " does not exist");
        }
        if (!Files.isDirectory(dir)) {
            throw new IOException(what + " directory " + dir + " is not a directory");
        }
    }
}
