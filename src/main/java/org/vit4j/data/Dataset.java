package org.vit4j.data;

import java.util.List;
import java.util.Objects;

/**
 * An in-memory labelled image dataset: {@code size()} images of {@code channels() x height() x
 * width()} unsigned bytes, stored contiguously in NCHW order (colour images as R, G, B planes).
 *
 * <p>For speed (CIFAR-10 is 150 MB of pixels) {@link #pixels()} and {@link #labels()} return the
 * backing arrays, not copies: callers must treat them as read-only. Apart from that an instance is
 * immutable and safe to share between threads.
 */
public final class Dataset {
    private final String name;
    private final int size;
    private final int channels;
    private final int height;
    private final int width;
    private final byte[] pixels;
    private final int[] labels;
    private final List<String> classes;
    private final Normalization normalization;

    /**
     * Creates a dataset; the number of images is {@code labels.length}.
     *
     * @param name short name, e.g. {@code "mnist"}
     * @param channels 1 (greyscale) or 3 (RGB); any positive count is accepted
     * @param height image height in pixels
     * @param width image width in pixels
     * @param pixels {@code N*C*H*W} unsigned bytes, NCHW; not copied
     * @param labels one class index per image, each in {@code [0, classes.size())}; not copied
     * @param classes class names, index = label
     * @param normalization per-channel statistics for this data, or {@code null} to compute them
     *     from the pixels with {@link Normalization#of(Dataset)}
     * @throws IllegalArgumentException if the sizes do not agree, the dataset is empty, or a label
     *     is out of range
     */
    public Dataset(String name, int channels, int height, int width, byte[] pixels, int[] labels,
            List<String> classes, Normalization normalization) {
        this.name = Objects.requireNonNull(name, "name");
        Objects.requireNonNull(pixels, "pixels");
        Objects.requireNonNull(labels, "labels");
        this.classes = List.copyOf(Objects.requireNonNull(classes, "classes"));
        if (channels <= 0 || height <= 0 || width <= 0) {
            throw new IllegalArgumentException("dataset " + name + ": image shape must be positive, got "
                    + channels + "x" + height + "x" + width);
        }
        if (labels.length == 0) {
            throw new IllegalArgumentException("dataset " + name + " has no images");
        }
        if (this.classes.isEmpty()) {
            throw new IllegalArgumentException("dataset " + name + " has no classes");
        }
        long expected = (long) labels.length * channels * height * width;
        if (pixels.length != expected) {
            throw new IllegalArgumentException("dataset " + name + ": " + labels.length + " images of " + channels
                    + "x" + height + "x" + width + " need " + expected + " pixel bytes, got " + pixels.length);
        }
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] < 0 || labels[i] >= this.classes.size()) {
                throw new IllegalArgumentException("dataset " + name + ": label " + labels[i] + " of image " + i
                        + " is outside [0, " + this.classes.size() + ")");
            }
        }
        this.size = labels.length;
        this.channels = channels;
        this.height = height;
        this.width = width;
        this.pixels = pixels;
        this.labels = labels;
        if (normalization == null) {
            normalization = Normalization.of(pixels, size, channels, height * width);
        } else if (normalization.channels() != channels) {
            throw new IllegalArgumentException("dataset " + name + " has " + channels + " channels but its "
                    + "normalisation has " + normalization.channels());
        }
        this.normalization = normalization;
    }

    /** Short name, e.g. {@code "mnist"}, {@code "cifar10"}, {@code "imagefolder"}. */
    public String name() {
        return name;
    }

    /** Number of images. */
    public int size() {
        return size;
    }

    /** Channels per image: 1 for greyscale, 3 for RGB. */
    public int channels() {
        return channels;
    }

    /** Image height in pixels. */
    public int height() {
        return height;
    }

    /** Image width in pixels. */
    public int width() {
        return width;
    }

    /** Bytes per image, {@code C*H*W}. */
    public int imageSize() {
        return channels * height * width;
    }

    /** All pixels, uint8, NCHW. The backing array: do not modify. */
    public byte[] pixels() {
        return pixels;
    }

    /** All labels. The backing array: do not modify. */
    public int[] labels() {
        return labels;
    }

    /** Label of image {@code i}. */
    public int label(int i) {
        return labels[i];
    }

    /** Class names; the label of an image is an index into this list. */
    public List<String> classes() {
        return classes;
    }

    /** Number of classes. */
    public int numClasses() {
        return classes.size();
    }

    /** Per-channel statistics to normalise this data with. */
    public Normalization normalization() {
        return normalization;
    }

    /** The same data (arrays shared, not copied) with other normalisation statistics. */
    public Dataset withNormalization(Normalization other) {
        return new Dataset(name, channels, height, width, pixels, labels, classes, Objects.requireNonNull(other));
    }

    /**
     * Images {@code [from, to)} as a new dataset (copied), with the same classes and normalisation.
     * Handy for quick runs on part of the data.
     */
    public Dataset subset(int from, int to) {
        Objects.checkFromToIndex(from, to, size);
        int img = imageSize();
        byte[] p = new byte[(to - from) * img];
        System.arraycopy(pixels, from * img, p, 0, p.length);
        int[] l = java.util.Arrays.copyOfRange(labels, from, to);
        return new Dataset(name, channels, height, width, p, l, classes, normalization);
    }

    /**
     * The images at {@code indices}, in that order, as a new dataset (their rows copied), with the
     * same classes and normalisation.
     *
     * @throws IndexOutOfBoundsException if an index is outside the dataset
     */
    public Dataset select(int[] indices) {
        int img = imageSize();
        byte[] p = new byte[Math.multiplyExact(indices.length, img)];
        int[] l = new int[indices.length];
        for (int i = 0; i < indices.length; i++) {
            int from = Objects.checkIndex(indices[i], size);
            System.arraycopy(pixels, from * img, p, i * img, img);
            l[i] = labels[from];
        }
        return new Dataset(name, channels, height, width, p, l, classes, normalization);
    }

    /**
     * A checksum of the images, labels and shape, {@code crc32c:<hex>}: what a resumed run
     * compares with the one its checkpoint recorded to know it trains on the same data.
     */
    public String fingerprint() {
        java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(16).putInt(size).putInt(channels).putInt(height).putInt(width);
        crc.update(b.array());
        crc.update(pixels);
        java.nio.ByteBuffer l = java.nio.ByteBuffer.allocate(4 * Math.min(size, 1 << 16));
        for (int i = 0; i < size; ) {
            l.clear();
            for (; i < size && l.hasRemaining(); i++) {
                l.putInt(labels[i]);
            }
            crc.update(l.array(), 0, l.position());
        }
        return String.format("crc32c:%08x", crc.getValue());
    }

    @Override
    public String toString() {
        return "Dataset[" + name + ", " + size + " images of " + channels + "x" + height + "x" + width + ", "
                + classes.size() + " classes]";
    }
}
