package org.vit4j.optim;

/** The learning rate at each optimizer step (counted from 0). */
@FunctionalInterface
public interface LearningRateSchedule {
    float at(long step);

    static LearningRateSchedule constant(float lr) {
        return warmupConstant(lr, 0);
    }

    /**
     * Linear warmup, {@code peak * (step + 1) / warmupSteps}, reaching {@code peak} at the last
     * warmup step; then cosine decay from {@code peak} to {@code min} at {@code totalSteps} (the
     * schedule of timm and most ViT recipes).
     */
    static LearningRateSchedule warmupCosine(float peak, long warmupSteps, long totalSteps, float min) {
        if (warmupSteps < 0 || totalSteps <= 0 || warmupSteps > totalSteps) {
            throw new IllegalArgumentException("need 0 <= warmup steps (" + warmupSteps + ") <= total steps ("
                    + totalSteps + ") and total steps > 0");
        }
        return step -> {
            if (step < warmupSteps) {
                return peak * (step + 1) / warmupSteps;
            }
            long decaySteps = Math.max(1, totalSteps - warmupSteps);
            double progress = Math.min(1.0, (double) (step - warmupSteps) / decaySteps);
            return (float) (min + 0.5 * (peak - min) * (1 + Math.cos(Math.PI * progress)));
        };
    }

    /** Linear warmup over {@code warmupSteps}, then constant. */
    static LearningRateSchedule warmupConstant(float lr, long warmupSteps) {
        if (!(lr >= 0) || warmupSteps < 0) {
            throw new IllegalArgumentException("need a learning rate >= 0 (got " + lr + ") and warmup steps >= 0 (got "
                    + warmupSteps + ")");
        }
        return step -> step < warmupSteps ? lr * (step + 1) / warmupSteps : lr;
    }
}
