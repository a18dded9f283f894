package org.vit4j.data;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reader for the binary version of CIFAR-10 ({@code cifar-10-binary.tar.gz}, extracted).
 *
 * <p>The training split is {@code data_batch_1.bin} .. {@code data_batch_5.bin} (in that order), the
 * test split {@code test_batch.bin}. Each file is a sequence of 3073-byte records: one label byte
 * (0..9) then 3072 pixel bytes, the 32x32 red, green and blue planes in row-major order, which is
 * already the NCHW layout {@link Dataset} uses. The files are looked for in the given directory and,
 * failing that, in its {@code cifar-10-batches-bin/} subfolder (the archive's layout).
 */
public final class Cifar10 {
    private static final Logger LOG = LoggerFactory.getLogger(Cifar10.class);

    /** Image side in pixels. */
    public static final int SIDE = 32;
    /** Pixel bytes per image: 3 planes of 32x32. */
    public static final int IMAGE_BYTES = 3 * SIDE * SIDE;
    /** Bytes per record: the label byte plus the pixels. */
    public static final int RECORD_BYTES = 1 + IMAGE_BYTES;
    /** The folder the official archive extracts to. */
    public static final String SUBFOLDER = "cifar-10-batches-bin";

    /** Class names, index = label. */
    public static final List<String> CLASSES = List.of("airplane", "automobile", "bird", "cat", "deer", "dog",
            "frog", "horse", "ship", "truck");

    private Cifar10() {}

    /** The file names of a split, in load order. */
    public static List<String> fileNames(boolean train) {
        if (!train) {
            return List.of("test_batch.bin");
        }
        List<String> names = new ArrayList<>();
        for (int i = 1; i <= 5; i++) {
            names.add("data_batch_" + i + ".bin");
        }
        return List.copyOf(names);
    }

    /**
     * Loads one split.
     *
     * @param dir directory holding the {@code .bin} files, or their {@code cifar-10-batches-bin} parent
     * @param train the five training batches, or the test batch
     * @throws IOException if a file is missing, its length is not a whole number of records, or a
     *     label is not in 0..9
     */
    public static Dataset load(Path dir, boolean train) throws IOException {
        Objects.requireNonNull(dir, "dir");
        DataFiles.requireDirectory(dir, "CIFAR-10 data");
        List<String> names = fileNames(train);
        Path folder = locate(dir, train);
        if (folder == null) {
            throw new IOException("missing CIFAR-10 " + (train ? "training" : "test") + " files: looked for "
                    + String.join(", ", names) + " in " + dir + " and in " + dir.resolve(SUBFOLDER) + "; missing from "
                    + bestCandidate(dir, names) + ": " + String.join(", ", missingIn(bestCandidate(dir, names), names)));
        }
        long start = System.nanoTime();
        // Validate every length before allocating, so a bad file fails fast and names itself.
        long records = 0;
        for (String name : names) {
            Path file = folder.resolve(name);
            long length = Files.size(file);
            if (length == 0 || length % RECORD_BYTES != 0) {
                throw new IOException(file + ": length " + length + " bytes is not a positive multiple of the "
                        + RECORD_BYTES + "-byte CIFAR-10 record (1 label byte + " + IMAGE_BYTES + " pixel bytes)");
            }
            records += length / RECORD_BYTES;
        }
        if (records * IMAGE_BYTES > Integer.MAX_VALUE - 16) {
            throw new IOException(folder + ": " + records + " CIFAR-10 records are too many to hold in one array");
        }
        int n = (int) records;
        byte[] pixels = new byte[n * IMAGE_BYTES];
        int[] labels = new int[n];
        byte[] record = new byte[RECORD_BYTES];
        int i = 0;
        for (String name : names) {
            Path file = folder.resolve(name);
            try (InputStream in = new BufferedInputStream(Files.newInputStream(file), 1 << 16)) {
                for (int r = 0; ; r++) {
                    int got = in.readNBytes(record, 0, RECORD_BYTES);
                    if (got == 0) {
                        break;
                    }
                    if (got < RECORD_BYTES || i == n) {
                        // Only possible if the file changed while we read it.
                        throw new IOException(file + ": changed while being read (record " + r + ")");
                    }
                    int label = record[0] & 0xFF;
                    if (label > 9) {
                        throw new IOException(file + ": record " + r + " has label " + label
                                + ", expected 0..9; is this really the CIFAR-10 binary version?");
                    }
                    labels[i] = label;
                    System.arraycopy(record, 1, pixels, i * IMAGE_BYTES, IMAGE_BYTES);
                    i++;
                }
            }
        }
        if (i != n) {
            throw new IOException(folder + ": CIFAR-10 files changed while being read");
        }
        Dataset ds = new Dataset("cifar10", 3, SIDE, SIDE, pixels, labels, CLASSES, Normalization.CIFAR10);
        LOG.info("Loaded cifar10 {} split from {}: {} images in {} ms", train ? "train" : "test", folder, n,
                (System.nanoTime() - start) / 1_000_000);
        return ds;
    }

    /** The folder ({@code dir} or {@code dir/cifar-10-batches-bin}) that holds every file of the split, or null. */
    static Path locate(Path dir, boolean train) {
        List<String> names = fileNames(train);
        for (Path candidate : List.of(dir, dir.resolve(SUBFOLDER))) {
            if (missingIn(candidate, names).isEmpty()) {
                return candidate;
            }
        }
        return null;
    }

    /** Of the two candidate folders, the one missing fewer files: its list is the more useful error. */
    private static Path bestCandidate(Path dir, List<String> names) {
        Path sub = dir.resolve(SUBFOLDER);
        return missingIn(sub, names).size() < missingIn(dir, names).size() ? sub : dir;
    }

    private static List<String> missingIn(Path folder, List<String> names) {
        List<String> missing = new ArrayList<>();
        for (String name : names) {
            if (!Files.isRegularFile(folder.resolve(name))) {
                missing.add(name);
            }
        }
        return missing;
    }
}
