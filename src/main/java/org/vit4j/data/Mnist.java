package org.vit4j.data;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.zip.ZipException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reader for MNIST and Fashion-MNIST in their original IDX format.
 *
 * <p>A split is two files in one directory: {@code train-images-idx3-ubyte} and
 * {@code train-labels-idx1-ubyte} for training, {@code t10k-images-idx3-ubyte} and
 * {@code t10k-labels-idx1-ubyte} for test. Each may also be named with a {@code .gz} suffix; gzip
 * is detected from the content, so a decompressed file that kept its {@code .gz} name still reads.
 *
 * <p>An IDX file is a big-endian header (magic {@code 0x000008DD}: type 8 = unsigned byte, then the
 * number of dimensions {@code DD}; then one 32-bit size per dimension) followed by the data.
 * Images are {@code count x rows x cols}, labels {@code count}; both are checked strictly.
 */
public final class Mnist {
    private static final Logger LOG = LoggerFactory.getLogger(Mnist.class);

    /** IDX magic of an unsigned-byte, 3-dimensional file (images). */
    public static final int IMAGES_MAGIC = 0x00000803;
    /** IDX magic of an unsigned-byte, 1-dimensional file (labels). */
    public static final int LABELS_MAGIC = 0x00000801;

    /** Class names for MNIST: the digits. */
    public static final List<String> DIGIT_CLASSES = List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9");

    /** Class names for Fashion-MNIST, as in torchvision. */
    public static final List<String> FASHION_CLASSES = List.of("T-shirt/top", "Trouser", "Pullover", "Dress",
            "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot");

    /** The dataset name that selects {@link #FASHION_CLASSES}. */
    public static final String FASHION_NAME = "fashion-mnist";

    private Mnist() {}

    /** Base names (without {@code .gz}) of the images and labels files of a split. */
    public static List<String> fileNames(boolean train) {
        String prefix = train ? "train" : "t10k";
        return List.of(prefix + "-images-idx3-ubyte", prefix + "-labels-idx1-ubyte");
    }

    /**
     * Loads one split.
     *
     * @param dir directory holding the IDX files
     * @param train the training split ({@code train-*}) or the test split ({@code t10k-*})
     * @param name dataset name: {@code "fashion-mnist"} gives the Fashion-MNIST class names and
     *     statistics, {@code "mnist"} the digits and MNIST statistics; any other name (e.g. another
     *     IDX dataset such as KMNIST) gets digit class names and statistics computed from the data
     * @throws IOException if a file is missing, malformed, truncated, or inconsistent with the other
     */
    public static Dataset load(Path dir, boolean train, String name) throws IOException {
        Objects.requireNonNull(dir, "dir");
        Objects.requireNonNull(name, "name");
        DataFiles.requireDirectory(dir, name + " data");
        List<String> names = fileNames(train);
        Path imagesFile = find(dir, names.get(0));
        Path labelsFile = find(dir, names.get(1));
        if (imagesFile == null || labelsFile == null) {
            List<String> missing = new ArrayList<>();
            for (String n : names) {
                if (find(dir, n) == null) {
                    missing.add(n + "[.gz]");
                }
            }
            throw new IOException("missing " + name + " " + (train ? "training" : "test") + " files in " + dir
                    + ": looked for " + names.get(0) + "[.gz] and " + names.get(1) + "[.gz]; not found: "
                    + String.join(", ", missing));
        }
        long start = System.nanoTime();
        Images images = readImages(imagesFile);
        int[] labels = readLabels(labelsFile);
        if (labels.length != images.count) {
            throw new IOException(imagesFile + " holds " + images.count + " images but " + labelsFile + " holds "
                    + labels.length + " labels; the counts must be equal");
        }
        boolean fashion = FASHION_NAME.equals(name);
        Normalization norm = fashion ? Normalization.FASHION_MNIST
                : "mnist".equals(name) ? Normalization.MNIST : null;
        Dataset ds = new Dataset(name, 1, images.rows, images.cols, images.pixels, labels,
                fashion ? FASHION_CLASSES : DIGIT_CLASSES, norm);
        LOG.info("Loaded {} {} split from {}: {} images of {}x{} in {} ms", name, train ? "train" : "test", dir,
                ds.size(), images.rows, images.cols, (System.nanoTime() - start) / 1_000_000);
        return ds;
    }

    /** The file {@code dir/baseName} or {@code dir/baseName.gz}, whichever is a regular file (raw first), or null. */
    static Path find(Path dir, String baseName) {
        Path raw = dir.resolve(baseName);
        if (Files.isRegularFile(raw)) {
            return raw;
        }
        Path gz = dir.resolve(baseName + ".gz");
        return Files.isRegularFile(gz) ? gz : null;
    }

    record Images(int count, int rows, int cols, byte[] pixels) {}

    private static Images readImages(Path file) throws IOException {
        try (InputStream raw = Files.newInputStream(file)) {
            return readImages(raw, file.toString(), Files.size(file));
        }
    }

    private static int[] readLabels(Path file) throws IOException {
        try (InputStream raw = Files.newInputStream(file)) {
            return readLabels(raw, file.toString(), Files.size(file));
        }
    }

    /**
     * An IDX image file from {@code raw} ({@code size} bytes; gzipped or not), named {@code source}
     * in errors. Nothing is allocated beyond what the file (or, gzipped, its decompressed stream)
     * holds, whatever its header promises.
     */
    static Images readImages(InputStream raw, String source, long size) throws IOException {
        InputStream buffered = DataFiles.buffered(raw);
        boolean gzip = DataFiles.isGzip(buffered);
        try (InputStream in = gzip ? DataFiles.gunzip(buffered) : buffered) {
            byte[] header = readHeader(in, source, 16, "image");
            int magic = intAt(header, 0);
            if (magic != IMAGES_MAGIC) {
                throw new IOException(source + ": not an IDX image file: magic number " + hex(magic) + ", expected "
                        + hex(IMAGES_MAGIC) + " (unsigned bytes, 3 dimensions)"
                        + (magic == LABELS_MAGIC ? "; this looks like a labels file" : ""));
            }
            int count = intAt(header, 4);
            int rows = intAt(header, 8);
            int cols = intAt(header, 12);
            // Sizes are unsigned in IDX; anything this large reads as negative and is rejected too.
            if (count <= 0 || rows <= 0 || cols <= 0) {
                throw new IOException(source + ": bad IDX image dimensions " + Integer.toUnsignedString(count) + " x "
                        + Integer.toUnsignedString(rows) + " x " + Integer.toUnsignedString(cols)
                        + " (each must be at least 1)");
            }
            long perImage = (long) rows * cols;             // < 2^62: exact
            long total = Math.multiplyHigh(count, perImage) != 0 || count * perImage < 0 ? Long.MAX_VALUE
                    : count * perImage;
            String promise = count + " images of " + rows + "x" + cols + " = "
                    + (total == Long.MAX_VALUE ? "more than 2^63" : Long.toString(total)) + " bytes of pixels";
            if (!gzip) {
                requireSize(source, size - 16, total, promise, count + " images");
            }
            if (total > Integer.MAX_VALUE - 16) {
                throw new IOException(source + ": " + promise + " are too many to hold in one array");
            }
            byte[] pixels = DataFiles.readUpTo(in, (int) total);
            if (pixels.length < total) {
                throw new IOException(source + ": truncated: the header promises " + count + " images of " + rows + "x"
                        + cols + " = " + total + " bytes of pixels, but only " + pixels.length + " bytes follow it");
            }
            requireEnd(in, source, count + " images");
            return new Images(count, rows, cols, pixels);
        } catch (EOFException | ZipException e) {
            throw new IOException(source + ": corrupt or truncated gzip data: " + e.getMessage(), e);
        }
    }

    /** An IDX label file, as {@link #readImages(InputStream, String, long)}. */
    static int[] readLabels(InputStream raw, String source, long size) throws IOException {
        InputStream buffered = DataFiles.buffered(raw);
        boolean gzip = DataFiles.isGzip(buffered);
        try (InputStream in = gzip ? DataFiles.gunzip(buffered) : buffered) {
            byte[] header = readHeader(in, source, 8, "label");
            int magic = intAt(header, 0);
            if (magic != LABELS_MAGIC) {
                throw new IOException(source + ": not an IDX label file: magic number " + hex(magic) + ", expected "
                        + hex(LABELS_MAGIC) + " (unsigned bytes, 1 dimension)"
                        + (magic == IMAGES_MAGIC ? "; this looks like an images file" : ""));
            }
            int count = intAt(header, 4);
            if (count <= 0) {
                throw new IOException(source + ": bad IDX label count " + Integer.toUnsignedString(count)
                        + " (must be at least 1)");
            }
            if (!gzip) {
                requireSize(source, size - 8, count, count + " labels", count + " labels");
            }
            if (count > Integer.MAX_VALUE - 16) {
                throw new IOException(source + ": " + count + " labels are too many to hold in one array");
            }
            byte[] raw8 = DataFiles.readUpTo(in, count);
            if (raw8.length < count) {
                throw new IOException(source + ": truncated: the header promises " + count + " labels, but only "
                        + raw8.length + " bytes follow it");
            }
            requireEnd(in, source, count + " labels");
            int[] labels = new int[count];
            for (int i = 0; i < count; i++) {
                int label = raw8[i] & 0xFF;
                if (label > 9) {
                    throw new IOException(source + ": label " + label + " at index " + i + " is out of range 0..9");
                }
                labels[i] = label;
            }
            return labels;
        } catch (EOFException | ZipException e) {
            throw new IOException(source + ": corrupt or truncated gzip data: " + e.getMessage(), e);
        }
    }

    /** A raw file's size is known: what follows the header must be exactly what it declares, checked before allocating. */
    private static void requireSize(String source, long follows, long expected, String promise, String what)
            throws IOException {
        if (follows < expected) {
            throw new IOException(source + ": truncated: the header promises " + promise + ", but only " + follows
                    + " bytes follow it");
        }
        if (follows > expected) {
            throw new IOException(source + ": unexpected data after the " + what + " the header declares ("
                    + (follows - expected) + " bytes more)");
        }
    }

    private static byte[] readHeader(InputStream in, String source, int length, String kind) throws IOException {
        byte[] header = in.readNBytes(length);
        if (header.length < length) {
            throw new IOException(source + ": truncated: an IDX " + kind + " header is " + length + " bytes, but the file"
                    + " has only " + header.length);
        }
        return header;
    }

    /** Trailing bytes mean the header and the data disagree, i.e. a wrong or corrupted file. */
    private static void requireEnd(InputStream in, String source, String what) throws IOException {
        if (in.read() != -1) {
            throw new IOException(source + ": unexpected data after the " + what + " the header declares");
        }
    }

    private static int intAt(byte[] b, int off) {
        return (b[off] & 0xFF) << 24 | (b[off + 1] & 0xFF) << 16 | (b[off + 2] & 0xFF) << 8 | (b[off + 3] & 0xFF);
    }

    private static String hex(int v) {
        return String.format("0x%08x", v);
    }
}
