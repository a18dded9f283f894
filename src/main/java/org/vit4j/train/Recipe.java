package org.vit4j.train;

import org.vit4j.backend.Backend;
import org.vit4j.data.DataLoader;
import org.vit4j.data.Dataset;
import org.vit4j.nn.VisionTransformer;
import org.vit4j.optim.AdamW;
import org.vit4j.optim.LearningRateSchedule;

import java.util.List;
import java.util.Locale;

/**
 * How a model is trained, and the one call that trains it: {@link #fit}. A preset's recipe is
 * {@link #of(Presets.Preset)}; any field changes through {@link #toBuilder()}:
 *
 * <pre>{@code
 * List<EpochResult> history = Recipe.of(Presets.get("mnist-tutorial")).toBuilder().epochs(3).build()
 *         .fit(model, train, test, TrainingListener.onEpoch(System.out::println));
 * }</pre>
 *
 * AdamW (betas 0.9, 0.999, eps 1e-8), softmax cross-entropy, a linear warmup then a constant or
 * cosine learning rate per step; the data order, augmentation and dropout depend only on the seed.
 *
 * @param epochs         epochs to train
 * @param batchSize      images per optimizer step (a larger value than the training set trains on all of it)
 * @param lr             peak learning rate
 * @param weightDecay    AdamW's decoupled weight decay
 * @param warmupEpochs   epochs of linear warmup from 0 to {@code lr}
 * @param schedule       the learning rate after the warmup
 * @param labelSmoothing PyTorch's cross-entropy label smoothing, in [0, 1)
 * @param clipGrad       clip gradients to this global norm; 0: no clipping
 * @param augment        random crop and flip of the training images; null: for colour data only
 * @param seed           the run's seed
 */
public record Recipe(int epochs, int batchSize, float lr, float weightDecay, int warmupEpochs, Schedule schedule,
                     float labelSmoothing, double clipGrad, Boolean augment, long seed) {

    /** The learning rate after the warmup: held, or decayed to 0 along a half cosine. */
    public enum Schedule {
        CONSTANT, COSINE;

        /** {@code constant} or {@code cosine}. */
        public static Schedule parse(String s) {
            for (Schedule v : values()) {
                if (v.name().equalsIgnoreCase(s)) {
                    return v;
                }
            }
            throw new IllegalArgumentException("schedule must be constant or cosine, got '" + s + "'");
        }

        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** @throws IllegalArgumentException naming the first value that cannot train */
    public Recipe {
        if (epochs < 1) {
            throw new IllegalArgumentException("epochs must be positive, got " + epochs);
        }
        if (batchSize < 1) {
            throw new IllegalArgumentException("batch size must be positive, got " + batchSize);
        }
        if (!(lr > 0) || !Float.isFinite(lr)) {
            throw new IllegalArgumentException("learning rate must be positive and finite, got " + lr);
        }
        if (!(weightDecay >= 0) || !Float.isFinite(weightDecay)) {
            throw new IllegalArgumentException("weight decay must be >= 0 and finite, got " + weightDecay);
        }
        if (warmupEpochs < 0 || warmupEpochs > epochs) {
            throw new IllegalArgumentException("warmup must be between 0 and the " + epochs + " epochs, got "
                    + warmupEpochs);
        }
        if (schedule == null) {
            throw new IllegalArgumentException("a schedule must be given (constant or cosine)");
        }
        if (!(labelSmoothing >= 0 && labelSmoothing < 1)) {
            throw new IllegalArgumentException("label smoothing must be in [0, 1), got " + labelSmoothing);
        }
        if (!(clipGrad >= 0) || Double.isInfinite(clipGrad)) {
            throw new IllegalArgumentException("gradient clipping norm must be >= 0 and finite, got " + clipGrad);
        }
    }

    /** A preset's recipe. */
    public static Recipe of(Presets.Preset preset) {
        return new Recipe(preset.epochs(), preset.batchSize(), preset.lr(), preset.weightDecay(), preset.warmup(),
                Schedule.parse(preset.schedule()), preset.labelSmoothing(), 0, preset.augment(), 0);
    }

    /** A builder with PyTorch's Adam defaults where it has them: 10 epochs of batch 64 at lr 1e-3, constant. */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder that starts from this recipe. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.epochs = epochs;
        b.batchSize = batchSize;
        b.lr = lr;
        b.weightDecay = weightDecay;
        b.warmupEpochs = warmupEpochs;
        b.schedule = schedule;
        b.labelSmoothing = labelSmoothing;
        b.clipGrad = clipGrad;
        b.augment = augment;
        b.seed = seed;
        return b;
    }

    /** The training batch size on {@code train}: {@link #batchSize}, at most the whole set. */
    public int trainBatch(Dataset train) {
        return Math.min(batchSize, train.size());
    }

    /** Optimizer steps of one epoch on {@code train}. */
    public long stepsPerEpoch(Dataset train) {
        int b = trainBatch(train);
        return (train.size() + (long) b - 1) / b;
    }

    /** This recipe's learning rate at every step of a run on {@code train}. */
    public LearningRateSchedule learningRates(Dataset train) {
        long steps = stepsPerEpoch(train);
        if (steps * epochs > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(epochs + " epochs of " + steps + " steps make " + steps * epochs
                    + " optimizer steps, more than the " + Integer.MAX_VALUE + " a run counts");
        }
        return switch (schedule) {
            case CONSTANT -> LearningRateSchedule.warmupConstant(lr, warmupEpochs * steps);
            case COSINE -> LearningRateSchedule.warmupCosine(lr, warmupEpochs * steps, Math.max(1, epochs * steps), 0f);
        };
    }

    /** Whether training images of {@code train} are augmented: {@link #augment}, else for colour data. */
    public boolean augments(Dataset train) {
        return augment != null ? augment : train.channels() == 3;
    }

    /**
     * Trains {@code model} on {@code train} with this recipe from its current weights, evaluating
     * on {@code test} after every epoch; returns each epoch's result. Images are resized to the
     * model's size when the data's differs. The trainable parameters are those {@code model}
     * leaves unfrozen. The optimizer lives for this call: to continue a run later, use a
     * {@link Trainer} and {@link Checkpoint}s, as {@code vit4j train} does.
     */
    public List<EpochResult> fit(VisionTransformer model, Dataset train, Dataset test, TrainingListener... listeners) {
        Backend backend = model.backend();
        int size = model.config().imageSize();
        int trainBatch = trainBatch(train);
        try (DataLoader trainLoader = DataLoader.builder(train).batchSize(trainBatch).shuffle(true)
                .augment(augments(train)).seed(seed).imageSize(size).build();
             DataLoader testLoader = DataLoader.builder(test).batchSize(Math.min(batchSize, test.size()))
                     .seed(seed).imageSize(size).build();
             AdamW optimizer = AdamW.withDefaults(backend, model.trainableParameters(), weightDecay);
             Trainer trainer = new Trainer(backend, model, optimizer, learningRates(train), trainBatch, this)) {
            for (TrainingListener l : listeners) {
                trainer.addListener(l);
            }
            return trainer.fit(trainLoader, testLoader, 0);
        }
    }

    /** Builds a {@link Recipe}; see {@link #builder()}. */
    public static final class Builder {
        private int epochs = 10, batchSize = 64, warmupEpochs;
        private float lr = 1e-3f, weightDecay, labelSmoothing;
        private Schedule schedule = Schedule.CONSTANT;
        private double clipGrad;
        private Boolean augment;
        private long seed;

        private Builder() {
        }

        /** Epochs to train. */
        public Builder epochs(int epochs) {
            this.epochs = epochs;
            return this;
        }

        /** Images per optimizer step. */
        public Builder batchSize(int batchSize) {
            this.batchSize = batchSize;
            return this;
        }

        /** Peak learning rate. */
        public Builder lr(float lr) {
            this.lr = lr;
            return this;
        }

        /** AdamW's decoupled weight decay (default 0, Adam). */
        public Builder weightDecay(float weightDecay) {
            this.weightDecay = weightDecay;
            return this;
        }

        /** Epochs of linear warmup (default 0). */
        public Builder warmupEpochs(int warmupEpochs) {
            this.warmupEpochs = warmupEpochs;
            return this;
        }

        /** The learning rate after the warmup (default constant). */
        public Builder schedule(Schedule schedule) {
            this.schedule = schedule;
            return this;
        }

        /** Label smoothing of the training loss (default 0). */
        public Builder labelSmoothing(float labelSmoothing) {
            this.labelSmoothing = labelSmoothing;
            return this;
        }

        /** Clip gradients to this global norm (default 0: off). */
        public Builder clipGrad(double clipGrad) {
            this.clipGrad = clipGrad;
            return this;
        }

        /** Random crop and flip of the training images (default: for colour data only). */
        public Builder augment(boolean augment) {
            this.augment = augment;
            return this;
        }

        /** The run's seed (default 0). */
        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /** The recipe; {@link IllegalArgumentException} names the first value that cannot train. */
        public Recipe build() {
            return new Recipe(epochs, batchSize, lr, weightDecay, warmupEpochs, schedule, labelSmoothing, clipGrad,
                    augment, seed);
        }
    }
}
