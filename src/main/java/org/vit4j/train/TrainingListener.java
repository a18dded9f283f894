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

    /** A listener that hands each epoch's result to {@code action} (printing it, saving a checkpoint). */
    static TrainingListener onEpoch(java.util.function.Consumer<EpochResult> action) {
        java.util.Objects.requireNonNull(action, "action");
        return new TrainingListener() {
            @Override
            public void onEpochEnd(EpochResult result) {
                action.accept(result);
            }
        };
    }
}
