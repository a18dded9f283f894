package org.vit4j.data;

import java.util.Objects;

/**
 * One mini-batch from a {@link DataLoader}: {@code size} normalised images, NCHW, and their labels.
 * The arrays are freshly allocated for each batch and handed over without copying; the consumer
 * owns them.
 *
 * @param images {@code size * C * H * W} floats, NCHW
 * @param labels {@code size} class indices
 * @param size number of examples (the last batch of an epoch may be smaller than the batch size)
 * @param indices each example's index in its data set, or null when unknown (e.g. synthetic data)
 */
public record Batch(float[] images, int[] labels, int size, int[] indices) {
    /** @throws IllegalArgumentException if the array lengths do not match {@code size} */
    public Batch {
        Objects.requireNonNull(images, "images");
        Objects.requireNonNull(labels, "labels");
        if (size <= 0 || labels.length != size || images.length % size != 0) {
            throw new IllegalArgumentException("inconsistent batch: size " + size + ", " + labels.length
                    + " labels, " + images.length + " image floats");
        }
        if (indices != null && indices.length != size) {
            throw new IllegalArgumentException("inconsistent batch: size " + size + ", " + indices.length + " indices");
        }
    }

    /** A batch whose examples' data-set indices are unknown. */
    public Batch(float[] images, int[] labels, int size) {
        this(images, labels, size, null);
    }

    /** Floats per image, {@code C * H * W}. */
    public int imageSize() {
        return images.length / size;
    }
}
