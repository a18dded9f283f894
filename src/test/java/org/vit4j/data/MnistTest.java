package org.vit4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import org.vit4j.testing.Allocations;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MnistTest {
    @TempDir
    Path dir;

    private static final byte[] PIXELS = {
        0, 1, 2, 3, 4, 5,
        (byte) 255, (byte) 128, 127, 10, 20, 30,
        9, 8, 7, 6, 5, (byte) 200,
    };
    private static final byte[] LABELS = {3, 0, 9};

    private void write(String name, byte[] data) throws IOException {
        Files.write(dir.resolve(name), data);
    }

    private void writeRawTrain() throws IOException {
        write("train-images-idx3-ubyte", TestFiles.idxImages(3, 2, 3, PIXELS));
        write("train-labels-idx1-ubyte", TestFiles.idxLabels(LABELS));
    }

    private static void assertSample(Dataset ds) {
        assertEquals(3, ds.size());
        assertEquals(1, ds.channels());
        assertEquals(2, ds.height());
        assertEquals(3, ds.width());
        assertArrayEquals(PIXELS, ds.pixels());
        assertArrayEquals(new int[] {3, 0, 9}, ds.labels());
    }

    @Test
    void readsRawIdx() throws IOException {
        writeRawTrain();
        Dataset ds = Mnist.load(dir, true, "mnist");
        assertSample(ds);
        assertEquals("mnist", ds.name());
        assertEquals(Mnist.DIGIT_CLASSES, ds.classes());
        assertEquals(10, ds.numClasses());
        assertEquals(Normalization.MNIST, ds.normalization());
    }

    @Test
    void readsGzippedTestSplit() throws IOException {
        write("t10k-images-idx3-ubyte.gz", TestFiles.gzip(TestFiles.idxImages(3, 2, 3, PIXELS)));
        write("t10k-labels-idx1-ubyte.gz", TestFiles.gzip(TestFiles.idxLabels(LABELS)));
        assertSample(Mnist.load(dir, false, "mnist"));
    }

    @Test
    void detectsGzipByContentNotName() throws IOException {
        // gzip data without .gz, and raw data with .gz: both read.
        write("train-images-idx3-ubyte", TestFiles.gzip(TestFiles.idxImages(3, 2, 3, PIXELS)));
        write("train-labels-idx1-ubyte.gz", TestFiles.idxLabels(LABELS));
        assertSample(Mnist.load(dir, true, "mnist"));
    }

    @Test
    void fashionMnistHasItsClassesAndStatistics() throws IOException {
        writeRawTrain();
        Dataset ds = Mnist.load(dir, true, "fashion-mnist");
        assertEquals("fashion-mnist", ds.name());
        assertEquals("T-shirt/top", ds.classes().get(0));
        assertEquals("Ankle boot", ds.classes().get(9));
        assertEquals(Normalization.FASHION_MNIST, ds.normalization());
    }

    @Test
    void otherNamesGetComputedStatistics() throws IOException {
        writeRawTrain();
        Dataset ds = Mnist.load(dir, true, "kmnist");
        assertEquals(Normalization.of(ds), ds.normalization());
        assertEquals(Mnist.DIGIT_CLASSES, ds.classes());
    }

    @Test
    void wrongImageMagic() throws IOException {
        write("train-images-idx3-ubyte", TestFiles.idxImages(0x00000801, 3, 2, 3, PIXELS));
        write("train-labels-idx1-ubyte", TestFiles.idxLabels(LABELS));
        IOException e = assertThrows(IOException.class, () -> Mnist.load(dir, true, "mnist"));
        assertMessage(e, "train-images-idx3-ubyte", "magic number 0x00000801", "expected 0x00000803",
                "looks like a labels file");
    }

    @Test
    void wrongLabelMagic() throws IOException {
        write("train-images-idx3-ubyte", TestFiles.idxImages(3, 2, 3, PIXELS));
        write("train-labels-idx1-ubyte", TestFiles.idxLabels(0x12345678, 3, LABELS));
        IOException e = assertThrows(IOException.class, () -> Mnist.load(dir, true, "mnist"));
        assertMessage(e, "train-labels-idx1-ubyte", "magic number 0x12345678", "expected 0x00000801");
    }

    @Test
    void truncatedImageFile() throws IOException {
        byte[] full = TestFiles.idxImages(3, 2, 3, PIXELS);
        write("train-images-idx3-ubyte", Arrays.copyOf(full, full.length - 4));
        write("train-labels-idx1-ubyte", TestFiles.idxLabels(LABELS));
        IOException e = assertThrows(IOException.class, () -> Mnist.load(dir, true, "mnist"));
        assertMessage(e, "train-images-idx3-ubyte", "truncated", "18 bytes", "only 14");
    }

    @Test
    void truncatedHeader() throws IOException {
        write("train-images-idx3-ubyte", Arrays.copyOf(TestFiles.idxImages(3, 2, 3, PIXELS), 10));
        write("train-labels-idx1-ubyte", TestFiles.idxLabels(LABELS));
        IOException e = assertThrows(IOException.class, () -> Mnist.load(dir, true, "mnist"));
        assertMessage(e, "train-images-idx3-ubyte", "truncated", "header");
    }

    @Test
    void truncatedGzipStream() throws IOException {
        byte[] gz = TestFiles.gzip(TestFiles.idxImages(3, 2, 3, PIXELS));
        write("train-images-idx3-ubyte.gz", Arrays.copyOf(gz, gz.length - 12));
        write("train-labels-idx1-ubyte", TestFiles.idxLabels(LABELS));
        IOException e = assertThrows(IOException.class, () -> Mnist.load(dir, true, "mnist"));
        assertMessage(e, "train-images-idx3-ubyte.gz");
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
    }

    @Test
    void truncatedLabelFile() throws IOException {
        write("train-images-idx3-ubyte", TestFiles.idxImages(3, 2, 3, PIXELS));
        write("train-labels-idx1-ubyte", TestFiles.idxLabels(Mnist.LABELS_MAGIC, 3, new byte[] {3, 0}));
        IOException e = assertThrows(IOException.class, () -> Mnist.load(dir, true, "mnist"));
        assertMessage(e, "train-labels-idx1-ubyte", "truncated", "3 labels", "only 2");
    }

    @Test
    void trailingBytesAreRejected() throws IOException {
        byte[] full = TestFiles.idxImages(3, 2, 3, PIXELS);
        write("train-images-idx3-ubyte", Arrays.copyOf(full, full.length + 1));
        write("train-labels-idx1-ubyte", TestFiles.idxLabels(LABELS));
        IOException e = assertThrows(IOException.class, () -> Mnist.load(dir, true, "mnist"));
        assertMessage(e, "train-images-idx3-ubyte", "unexpected data after the 3 images");
    }

    @Test
    void zeroDimensionsAreRejected() throws IOException {
        write("train-images-idx3-ubyte", TestFiles.idxImages(3, 0, 3, new byte[0]));
        write("train-labels-idx1-ubyte", TestFiles.idxLabels(LABELS));
        IOException e = assertThrows(IOException.class, () -> Mnist.load(dir, true, "mnist"));
        assertMessage(e, "train-images-idx3-ubyte", "bad IDX image dimensions 3 x 0 x 3");
    }

    @Test
    void countMismatch() throws IOException {
        write("train-images-idx3-ubyte", TestFiles.idxImages(3, 2, 3, PIXELS));
        write("train-labels-idx1-ubyte", TestFiles.idxLabels((byte) 1, (byte) 2));
        IOException e = assertThrows(IOException.class, () -> Mnist.load(dir, true, "mnist"));
        assertMessage(e, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "3 images", "2 labels");
    }

    @Test
    void labelOutOfRange() throws IOException {
        write("train-images-idx3-ubyte", TestFiles.idxImages(3, 2, 3, PIXELS));
        write("train-labels-idx1-ubyte", TestFiles.idxLabels((byte) 1, (byte) 10, (byte) 2));
        IOException e = assertThrows(IOException.class, () -> Mnist.load(dir, true, "mnist"));
        assertMessage(e, "train-labels-idx1-ubyte", "label 10 at index 1", "out of range 0..9");
    }

    @Test
    void missingFilesAreListed() throws IOException {
        write("train-labels-idx1-ubyte", TestFiles.idxLabels(LABELS));
        IOException e = assertThrows(IOException.class, () -> Mnist.load(dir, true, "mnist"));
        assertMessage(e, dir.toString(), "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                "not found: train-images-idx3-ubyte[.gz]");
        IOException test = assertThrows(IOException.class, () -> Mnist.load(dir, false, "mnist"));
        assertMessage(test, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte");
    }

    @Test
    void missingDirectory() {
        Path nowhere = dir.resolve("nowhere");
        IOException e = assertThrows(IOException.class, () -> Mnist.load(nowhere, true, "mnist"));
        assertMessage(e, nowhere.toString(), "does not exist");
    }

    static void assertMessage(Exception e, String... parts) {
        for (String part : parts) {
            assertTrue(e.getMessage() != null && e.getMessage().contains(part),
                    "message should contain '" + part + "' but was: " + e.getMessage());
        }
    }

    // ------------------------------------------------------------------ headers are not trusted for memory

    /**
     * Headers that promise far more than the file holds: 0x7FFFFFFF labels in a 12-byte file, 2.7
     * million images in an 8 KB file, raw and gzipped. Each is an error naming the file, found
     * without allocating more than a small multiple of what the file (or its gzip stream) holds.
     */
    @Test
    void headersPromisingMoreThanTheFileHoldsCostNoMemory() throws IOException {
        byte[] labels = TestFiles.idxLabels(Mnist.LABELS_MAGIC, Integer.MAX_VALUE, new byte[] {1, 2, 3, 4});
        byte[] images = TestFiles.idxImages(2_700_000, 28, 28, new byte[8192]);
        for (boolean gzip : new boolean[] {false, true}) {
            String suffix = gzip ? ".gz" : "";
            for (String[] kv : new String[][] {{"train-labels-idx1-ubyte", "labels"}, {"train-images-idx3-ubyte", "images"}}) {
                byte[] content = kv[1].equals("labels") ? labels : images;
                Files.deleteIfExists(dir.resolve(kv[0]));
                Files.deleteIfExists(dir.resolve(kv[0] + ".gz"));
                Path file = dir.resolve(kv[0] + suffix);
                Files.write(file, gzip ? TestFiles.gzip(content) : content);
                Allocations.Result r = Allocations.measure(() -> {
                    try (InputStream in = Files.newInputStream(file)) {
                        if (kv[1].equals("labels")) {
                            Mnist.readLabels(in, file.toString(), Files.size(file));
                        } else {
                            Mnist.readImages(in, file.toString(), Files.size(file));
                        }
                    }
                });
                assertTrue(r.thrown() instanceof IOException, file + ": " + r.thrown());
                // A gzip stream's length is unknown: 2^31 - 1 labels are refused as more than an array holds.
                assertMessage((IOException) r.thrown(), file.getFileName().toString(),
                        gzip && kv[1].equals("labels") ? "too many to hold" : "truncated");
                assertTrue(r.bytes() < 2_000_000, file + " allocated " + r.bytes() + " bytes for a file of "
                        + Files.size(file));
            }
        }
    }
}
