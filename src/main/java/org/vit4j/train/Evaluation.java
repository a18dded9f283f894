package org.vit4j.train;

/** Loss and accuracy over a data set. */
public record Evaluation(double loss, double accuracy, int examples) {
}
