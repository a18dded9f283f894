package org.vit4j.data;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.channels.Channels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Locale;
import org.vit4j.io.AtomicFile;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Downloads one file safely: into a temporary file in the target's directory ({@link AtomicFile}),
 * verified against its MD5 checksum, then renamed atomically into place. A crash or a failed check therefore never
 * leaves a partial or corrupt file under the final name.
 */
final class Downloader {
    private static final Logger LOG = LoggerFactory.getLogger(Downloader.class);

    static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);
    /** Time allowed until the response headers arrive; the body may take as long as it takes. */
    static final Duration RESPONSE_TIMEOUT = Duration.ofSeconds(60);

    private final HttpClient client;

    Downloader() {
        this(HttpClient.newBuilder()
                .connectTimeout(CONNECT_TIMEOUT)
                .followRedirects(HttpClient.Redirect.NORMAL)
                .build());
    }

    Downloader(HttpClient client) {
        this.client = client;
    }

    /** Thrown when the content arrived but its checksum is wrong; the file has been deleted. */
    static final class ChecksumException extends IOException {
        private static final long serialVersionUID = 1L;

        ChecksumException(String message) {
            super(message);
        }
    }

    /**
     * Downloads {@code url} to {@code target}, which must not exist yet.
     *
     * @param md5 expected lower- or upper-case hex MD5 of the content
     * @throws ChecksumException if the content does not match {@code md5} (nothing is kept)
     * @throws IOException if the transfer fails
     */
    void download(URI url, Path target, String md5) throws IOException {
        download(url, target, md5, null);
    }

    /**
     * As {@link #download(URI, Path, String)}; a gzipped file whose own MD5 differs is also accepted
     * when the MD5 of its decompressed content is {@code contentMd5} (a copy gzipped again).
     *
     * @param contentMd5 hex MD5 of the decompressed content, or {@code null} to check the file's only
     */
    void download(URI url, Path target, String md5, String contentMd5) throws IOException {
        try (AtomicFile file = AtomicFile.open(target)) {
            long start = System.nanoTime();
            String actual;
            long bytes;
            try (Body body = open(url);
                    DigestInputStream in = new DigestInputStream(body.stream(), newMd5())) {
                LOG.info("Downloading {} ({}) to {}", url, body.length() < 0 ? "size not announced"
                        : body.length() + " bytes", target);
                bytes = in.transferTo(Channels.newOutputStream(file.channel()));
                actual = HexFormat.of().formatHex(in.getMessageDigest().digest());
            }
            String verified = "MD5 verified";
            if (!actual.equalsIgnoreCase(md5)) {
                String content = contentMd5 == null ? null : contentMd5(AtomicFile.temporaryFor(target), bytes);
                if (content == null || !content.equalsIgnoreCase(contentMd5)) {
                    throw new ChecksumException("checksum mismatch for " + url + ": expected MD5 "
                            + md5.toLowerCase(Locale.ROOT) + (contentMd5 == null ? "" : " (or "
                            + contentMd5.toLowerCase(Locale.ROOT) + " of its decompressed content)") + ", got " + actual
                            + (content == null ? "" : " (content " + content + ")") + " (" + bytes
                            + " bytes); the downloaded file was deleted");
                }
                verified = "a copy gzipped again: MD5 of the content verified";
            }
            file.commit();
            LOG.info("Downloaded {} ({} bytes, {}) in {} s", url, bytes, verified,
                    (System.nanoTime() - start) / 1_000_000_000);
        }
    }

    /** A response body and the length the server announced, -1 when it did not. */
    private record Body(InputStream stream, long length) implements AutoCloseable {
        @Override
        public void close() throws IOException {
            stream.close();
        }
    }

    private Body open(URI url) throws IOException {
        String scheme = url.getScheme() == null ? "" : url.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("http") && !scheme.equals("https")) {
            // file: and jar: mirrors (local copies, tests) go through the JDK's URL handlers.
            java.net.URLConnection c = url.toURL().openConnection();
            InputStream in = c.getInputStream();
            return new Body(in, c.getContentLengthLong());
        }
        HttpRequest request = HttpRequest.newBuilder(url).timeout(RESPONSE_TIMEOUT).GET().build();
        HttpResponse<InputStream> response;
        try {
            response = client.send(request, HttpResponse.BodyHandlers.ofInputStream());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while downloading " + url);
        }
        if (response.statusCode() != 200) {
            response.body().close();
            throw new IOException("HTTP status " + response.statusCode());
        }
        return new Body(response.body(), response.headers().firstValueAsLong("content-length").orElse(-1));
    }

    /**
     * Lower-case hex MD5 of a gzipped file's decompressed content, or null when it is not gzip data,
     * is corrupt, or inflates past 200 times its size (a compression bomb: IDX files inflate about 5x).
     */
    private static String contentMd5(Path file, long size) {
        long limit = 200 * size + (1 << 20);
        MessageDigest md = newMd5();
        try (InputStream raw = DataFiles.buffered(Files.newInputStream(file))) {
            if (!DataFiles.isGzip(raw)) {
                return null;
            }
            try (InputStream in = new java.util.zip.GZIPInputStream(raw, 1 << 16)) {
                byte[] buf = new byte[1 << 16];
                long total = 0;
                for (int n; (n = in.read(buf)) > 0; ) {
                    total += n;
                    if (total > limit) {
                        return null;
                    }
                    md.update(buf, 0, n);
                }
            }
        } catch (IOException e) {
            return null;
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /** Lower-case hex MD5 of a file. */
    static String md5(Path file) throws IOException {
        MessageDigest md = newMd5();
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), md)) {
            in.transferTo(OutputStream.nullOutputStream());
        }
        return HexFormat.of().formatHex(md.digest());
    }

    private static MessageDigest newMd5() {
        try {
            return MessageDigest.getInstance("MD5");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform must provide MD5", e);
        }
    }
}
