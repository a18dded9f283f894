package org.vit4j.bench;

import java.util.Arrays;

/**
 * Summary of repeated timings: the median (the figure every table reports: one slow run from a
 * clock change or a neighbour on the machine does not move it), the 10th and 90th percentiles
 * (the spread), the minimum, and the count. Percentiles interpolate linearly between the sorted
 * samples, as NumPy's default does, so the median of an even count is the mean of the middle two.
 */
public record Stats(double median, double p10, double p90, double min, int runs) {

    public static Stats of(double[] samples) {
        if (samples.length == 0) {
            throw new IllegalArgumentException("no samples to summarise");
        }
        double[] sorted = samples.clone();
        Arrays.sort(sorted);
        for (double s : sorted) {
            if (!Double.isFinite(s)) {
                throw new IllegalArgumentException("non-finite sample " + s);
            }
        }
        return new Stats(percentile(sorted, 50), percentile(sorted, 10), percentile(sorted, 90), sorted[0], sorted.length);
    }

    /** Percentile {@code q} in [0, 100] of ascending {@code sorted}, linearly interpolated. */
    public static double percentile(double[] sorted, double q) {
        if (sorted.length == 0 || !(q >= 0 && q <= 100)) {
            throw new IllegalArgumentException("percentile " + q + " of " + sorted.length + " samples");
        }
        double pos = q / 100.0 * (sorted.length - 1);
        int lo = (int) Math.floor(pos);
        int hi = Math.min(lo + 1, sorted.length - 1);
        return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
    }

    /** The same statistics with every value multiplied by {@code factor} (a unit change). */
    public Stats scaled(double factor) {
        return new Stats(median * factor, p10 * factor, p90 * factor, min * factor, runs);
    }
}
