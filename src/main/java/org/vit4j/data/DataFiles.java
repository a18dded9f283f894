package org.vit4j.data;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
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
        InputStream in = new BufferedInputStream(Files.newInputStream(file), BUFFER);
        try {
            in.mark(2);
            int b0 = in.read();
            int b1 = in.read();
            in.reset();
            if (b0 == 0x1f && b1 == 0x8b) {
                return new BufferedInputStream(new GZIPInputStream(in, BUFFER), BUFFER);
            }
            return in;
        } catch (IOException e) {
            in.close();
            throw e;
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
