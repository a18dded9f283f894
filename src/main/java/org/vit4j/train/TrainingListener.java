package org.vit4j.train;

/** Hooks into a {@link Trainer}'s loop: progress bars, logs, metrics files, checkpoints. */
public interface TrainingListener {
    default void onEpochStart(int epoch, int batches) {
    }

    /** After each optimizer step; {@code loss} is the batch's mean training loss. */
    default void onBatchEnd(int epoch, int batch, double loss) {
    }

    /** Training of the epoch is done (evaluation comes next). */
    default void onTrainEnd(int epoch) {
    }

    default void onEpochEnd(EpochResult result) {
    }
}
