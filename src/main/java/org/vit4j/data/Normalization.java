package org.vit4j.data;

import java.util.Arrays;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Per-channel mean and standard deviation, in [0, 1] pixel units, used to normalise images as
 * {@code (pixel / 255 - mean[c]) / std[c]} (the same convention as torchvision's
 * {@code transforms.Normalize} after {@code ToTensor}).
 *
 * <p>The arrays are copied on construction and on access, so an instance is immutable;
 * {@link #equals}, {@link #hashCode} and {@link #toString} compare and print the array contents.
 *
 * @param mean per-channel mean, one entry per channel
 * @param std per-channel standard deviation, same length as {@code mean}, every entry &gt; 0
 */
public record Normalization(float[] mean, float[] std) {
    private static final Logger LOG = LoggerFactory.getLogger(Normalization.class);

    /** Smallest standard deviation {@link #of} will use; below it a channel is treated as constant. */
    private static final double MIN_STD = 1e-6;

    /** The usual MNIST statistics (torchvision examples). */
    public static final Normalization MNIST = new Normalization(new float[] {0.1307f}, new float[] {0.3081f});

    /** The usual Fashion-MNIST statistics. */
    public static final Normalization FASHION_MNIST =
            new Normalization(new float[] {0.2860f}, new float[] {0.3530f});

    /** The CIFAR-10 training-set statistics (R, G, B). */
    public static final Normalization CIFAR10 = new Normalization(
            new float[] {0.4914f, 0.4822f, 0.4465f}, new float[] {0.2470f, 0.2435f, 0.2616f});

    /**
     * Validates and copies the arrays.
     *
     * @throws IllegalArgumentException if the arrays are empty, differ in length, or hold a
     *     non-finite value or a standard deviation that is not positive
     */
    public Normalization {
        Objects.requireNonNull(mean, "mean");
        Objects.requireNonNull(std, "std");
        if (mean.length == 0 || mean.length != std.length) {
            throw new IllegalArgumentException("mean and std need the same, non-zero number of channels, got "
                    + mean.length + " and " + std.length);
        }
        for (int c = 0; c < mean.length; c++) {
            if (!Float.isFinite(mean[c]) || !Float.isFinite(std[c]) || std[c] <= 0) {
                throw new IllegalArgumentException("bad normalisation for channel " + c + ": mean " + mean[c]
                        + ", std " + std[c] + " (both must be finite and std > 0)");
            }
        }
        mean = mean.clone();
        std = std.clone();
    }

    /** Per-channel means (a copy). */
    @Override
    public float[] mean() {
        return mean.clone();
    }

    /** Per-channel standard deviations (a copy). */
    @Override
    public float[] std() {
        return std.clone();
    }

    /** Number of channels. */
    public int channels() {
        return mean.length;
    }

    /** Mean of channel {@code c}. */
    public float mean(int c) {
        return mean[c];
    }

    /** Standard deviation of channel {@code c}. */
    public float std(int c) {
        return std[c];
    }

    /**
     * Computes the per-channel mean and (population) standard deviation of every pixel of a
     * dataset, in [0, 1] units. This is what image folders use, since their statistics are not
     * known in advance. A channel whose standard deviation is (almost) zero, e.g. an all-black
     * dataset, gets std 1 so that normalising does not divide by zero.
     */
    public static Normalization of(Dataset dataset) {
        return of(dataset.pixels(), dataset.size(), dataset.channels(), dataset.height() * dataset.width());
    }

    /** {@link #of(Dataset)} on a raw NCHW uint8 array of {@code n} images of {@code channels} planes. */
    static Normalization of(byte[] pixels, int n, int channels, int planeSize) {
        if (n <= 0 || channels <= 0 || planeSize <= 0) {
            throw new IllegalArgumentException("cannot compute statistics of an empty dataset");
        }
        // Integer sums are exact: 255^2 * 2^31 pixels still fits in a long.
        long[] sum = new long[channels];
        long[] sumSq = new long[channels];
        for (int i = 0; i < n; i++) {
            for (int c = 0; c < channels; c++) {
                int base = (i * channels + c) * planeSize;
                long s = 0;
                long sq = 0;
                for (int p = 0; p < planeSize; p++) {
                    int v = pixels[base + p] & 0xFF;
                    s += v;
                    sq += v * v;
                }
                sum[c] += s;
                sumSq[c] += sq;
            }
        }
        double count = (double) n * planeSize;
        float[] mean = new float[channels];
        float[] std = new float[channels];
        for (int c = 0; c < channels; c++) {
            double m = sum[c] / count;
            double var = Math.max(0, sumSq[c] / count - m * m);
            double sd = Math.sqrt(var) / 255.0;
            if (sd < MIN_STD) {
                LOG.warn("channel {} is constant (value {}), using std 1 for it", c, m);
                sd = 1.0;
            }
            mean[c] = (float) (m / 255.0);
            std[c] = (float) sd;
        }
        return new Normalization(mean, std);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Normalization other && Arrays.equals(mean, other.mean) && Arrays.equals(std, other.std);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(mean) + Arrays.hashCode(std);
    }

    @Override
    public String toString() {
        return "Normalization[mean=" + Arrays.toString(mean) + ", std=" + Arrays.toString(std) + "]";
    }
}
