package org.vit4j.data;

import com.code_intelligence.jazzer.junit.FuzzTest;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.vit4j.testing.Untrusted;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Set;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;

/**
 * Untrusted bytes for each data reader: IDX images and labels (raw or gzipped), a CIFAR-10 batch,
 * an image file, a (gzipped) tar archive. Each ends in a clean IOException or a result, never
 * another exception, and allocates no more than a small multiple of what the input (or its gzip
 * stream) holds. In the unit tier the committed corpus
 * (src/test/resources/org/vit4j/data/ReadersFuzzTestInputs/METHOD) runs as regression cases; with
 * JAZZER_FUZZ=1 Jazzer fuzzes one method per run (see .ci/run).
 */
class ReadersFuzzTest {
    /** The largest image decoded here: small, so a fuzzed header cannot make a legitimate huge raster. */
    private static final long MAX_PIXELS = 1 << 16;
    private static Path dir;

    @BeforeAll
    static void makeDir() throws IOException {
        dir = Files.createTempDirectory("vit4j-fuzz");
    }

    @AfterAll
    static void removeDir() throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    /** What the input holds once gunzipped (when it is gzip), counted up to 64 MiB. */
    static long content(byte[] data) {
        if (data.length < 2 || (data[0] & 0xFF) != 0x1f || (data[1] & 0xFF) != 0x8b) {
            return data.length;
        }
        long n = 0;
        try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(data))) {
            byte[] buf = new byte[1 << 16];
            for (int r; (r = in.read(buf)) > 0 && n < (64L << 20); ) {
                n += r;
            }
        } catch (IOException | RuntimeException e) {
            // A broken stream holds what was read before the break.
        }
        return Math.max(n, data.length);
    }

    private static long bound(byte[] data) {
        return 4 * content(data) + (1 << 20);
    }

    @FuzzTest(maxDuration = "30s")
    void idxImages(byte[] data) {
        Untrusted.check("Mnist.readImages", bound(data),
                () -> Mnist.readImages(new ByteArrayInputStream(data), "fuzz", data.length));
    }

    @FuzzTest(maxDuration = "30s")
    void idxLabels(byte[] data) {
        Untrusted.check("Mnist.readLabels", bound(data),
                () -> Mnist.readLabels(new ByteArrayInputStream(data), "fuzz", data.length));
    }

    @FuzzTest(maxDuration = "30s")
    void cifar10(byte[] data) throws IOException {
        Path split = Files.createDirectories(dir.resolve("cifar"));
        Files.write(split.resolve("test_batch.bin"), data);
        Untrusted.check("Cifar10.load", bound(data), () -> Cifar10.load(split, false));
    }

    @FuzzTest(maxDuration = "30s")
    void image(byte[] data) {
        // The decoders' own state (Huffman and LZW tables, inflaters) on top of the pixels.
        Untrusted.check("ImageFiles.decode", 16 * MAX_PIXELS + 16L * data.length + (4 << 20),
                () -> ImageFiles.decode(data, "fuzz", MAX_PIXELS));
    }

    @FuzzTest(maxDuration = "30s")
    void tar(byte[] data) throws IOException {
        Path out = Files.createDirectories(dir.resolve("tar"));
        Untrusted.check("Tar.extract", bound(data) + (1 << 20),
                () -> Tar.extract(new ByteArrayInputStream(data), "fuzz", Set.of("data_batch_1.bin", "test_batch.bin"), out));
    }
}
