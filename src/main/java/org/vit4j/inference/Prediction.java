package org.vit4j.inference;

import java.util.Locale;

/**
 * One of an image's top classes.
 *
 * @param index       the class index, as the model's logits are ordered
 * @param label       the class name (the checkpoint's, else the index as text)
 * @param probability the softmax probability of the class
 */
public record Prediction(int index, String label, double probability) {
    @Override
    public String toString() {
        return String.format(Locale.ROOT, "%s %.4f", label, probability);
    }
}
