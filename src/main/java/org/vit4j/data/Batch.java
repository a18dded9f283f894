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
 */
public record Batch(float[] images, int[] labels, int size) {
    /** @throws IllegalArgumentException if the array lengths do not match {@code size} */
    public Batch {
        Objects.requireNonNull(images, "images");
        Objects.requireNonNull(labels, "labels");
        if (size <= 0 || labels.length != size || images.length % size != 0) {
            throw new IllegalArgumentException("inconsistent batch: size " + size + ", " + labels.length
                    + " labels, " + images.length + " image floats");
        }
    }

    /** Floats per image, {@code C * H * W}. */
    public int imageSize() {
        return images.length / size;
    }
}
