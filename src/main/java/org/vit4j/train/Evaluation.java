package org.vit4j.train;

import java.util.Locale;

/**
 * Loss and accuracy over a data set.
 *
 * @param loss     mean cross-entropy (no label smoothing)
 * @param accuracy fraction of the examples classified correctly
 * @param examples examples evaluated
 */
public record Evaluation(double loss, double accuracy, int examples) {
    @Override
    public String toString() {
        return String.format(Locale.ROOT, "loss %.4f, accuracy %.2f%% on %d images", loss, 100 * accuracy, examples);
    }
}
