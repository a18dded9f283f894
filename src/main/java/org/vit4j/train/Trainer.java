package org.vit4j.train;

import org.vit4j.backend.Backend;
import org.vit4j.data.Batch;
import org.vit4j.data.DataLoader;
import org.vit4j.nn.Parameter;
import org.vit4j.nn.VisionTransformer;
import org.vit4j.optim.AdamW;
import org.vit4j.optim.GradientClipping;
import org.vit4j.optim.LearningRateSchedule;
import org.vit4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;

/**
 * The training loop: for each batch, forward, softmax cross-entropy, backward, optional
 * gradient clipping, one AdamW step at the scheduled learning rate; after each epoch, an
 * evaluation. Everything a step touches is allocated once, for the largest batch.
 *
 * <p>A run is a pure function of its seed: the data order depends on (seed, epoch) and dropout
 * on (seed, step), so a run resumed from an epoch's checkpoint continues bit for bit.
 */
public final class Trainer implements AutoCloseable {

    private final Backend backend;
    private final VisionTransformer model;
    private final AdamW optimizer;
    private final LearningRateSchedule schedule;
    private final Recipe recipe;
    private final List<TrainingListener> listeners = new ArrayList<>();
    private final Collection<Parameter> params;
    private final BatchBuffers buffers;
    private final Tensor dLogits;
    private final Evaluator evaluator;
    private final int maxBatch;
    private final float[] logitsHost;
    /** Examples of the last {@link #step} whose logits' argmax was their label. */
    private int lastStepCorrect;
    private Distillation distillation;

    /**
     * A trainer of {@code model} with {@code recipe}'s epochs, label smoothing, gradient clipping
     * and seed, the learning rate of each step from {@code schedule} (a {@link Recipe#learningRates}),
     * with buffers for batches of up to {@code maxBatch}; {@link Recipe#fit} builds one.
     */
    public Trainer(Backend backend, VisionTransformer model, AdamW optimizer, LearningRateSchedule schedule,
                   int maxBatch, Recipe recipe) {
        this.backend = backend;
        this.model = model;
        this.optimizer = optimizer;
        this.schedule = schedule;
        this.recipe = recipe;
        this.params = model.trainableParameters().values();
        this.buffers = new BatchBuffers(backend, model.config(), maxBatch);
        this.dLogits = backend.allocate(maxBatch, model.config().numClasses());
        this.evaluator = new Evaluator(backend, model);
        this.maxBatch = maxBatch;
        this.logitsHost = new float[maxBatch * model.config().numClasses()];
    }

    /**
     * Trains the (distilled) model against a teacher from now on (DeiT hard distillation); the
     * trainer closes {@code distillation}. Evaluation keeps using the mean of both heads.
     */
    public Trainer distillFrom(Distillation distillation) {
        if (!model.config().distilled()) {
            throw new IllegalArgumentException("distillation needs a distilled student (a distillation token and head); "
                    + "the model " + model.config() + " has none");
        }
        this.distillation = distillation;
        return this;
    }

    public Trainer addListener(TrainingListener listener) {
        listeners.add(listener);
        return this;
    }

    public VisionTransformer model() {
        return model;
    }

    public AdamW optimizer() {
        return optimizer;
    }

    /** Trains epochs {@code startEpoch + 1 .. recipe.epochs()}, evaluating on {@code test} after each. */
    public List<EpochResult> fit(DataLoader train, DataLoader test, int startEpoch) {
        if (train.batchSize() > maxBatch) {
            throw new IllegalArgumentException("training batch size " + train.batchSize()
                    + " exceeds the " + maxBatch + " this trainer was built for");
        }
        List<EpochResult> results = new ArrayList<>();
        for (int epoch = startEpoch; epoch < recipe.epochs(); epoch++) {
            results.add(runEpoch(train, test, epoch));
        }
        return results;
    }

    private EpochResult runEpoch(DataLoader train, DataLoader test, int epoch) {
        int batches = train.batchesPerEpoch();
        listeners.forEach(l -> l.onEpochStart(epoch + 1, batches));
        model.train(true);
        double lossSum = 0;
        long seen = 0, correct = 0;
        float lr = 0;
        long start = System.nanoTime();
        Iterator<Batch> it = train.epoch(epoch);
        for (int i = 0; it.hasNext(); i++) {
            Batch batch = it.next();
            lr = schedule.at(optimizer.stepCount());
            double loss = step(batch, lr);
            lossSum += loss * batch.size();
            correct += lastStepCorrect;
            seen += batch.size();
            int index = i;
            listeners.forEach(l -> l.onBatchEnd(epoch + 1, index, loss));
        }
        backend.synchronize();
        double seconds = (System.nanoTime() - start) / 1e9;
        listeners.forEach(l -> l.onTrainEnd(epoch + 1));
        Evaluation eval = evaluate(test);
        EpochResult result = new EpochResult(epoch + 1, lossSum / Math.max(1, seen), eval.loss(), eval.accuracy(),
                seen / seconds, seconds, lr, (double) correct / Math.max(1, seen));
        listeners.forEach(l -> l.onEpochEnd(result));
        return result;
    }

    /** One optimizer step on {@code batch}; returns its mean training loss. */
    public double step(Batch batch, float lr) {
        int b = batch.size();
        model.dropoutSeeds().setStepSeed(recipe.seed() * 0x9E3779B97F4A7C15L + optimizer.stepCount());
        Tensor images = buffers.upload(batch);
        Tensor y = buffers.labels(b);
        double mean;
        Tensor logits;
        if (distillation != null) {
            model.distillationTraining(true);
            try {
                logits = model.forward(images);
                mean = distillation.lossAndBackward(model, batch, images, y, recipe.labelSmoothing(), logits,
                        buffers.losses(b), buffers.lossHost, dLogits.view(logits.shape()));
            } finally {
                model.distillationTraining(false);
            }
        } else {
            logits = model.forward(images);
            backend.crossEntropyForward(logits, y, recipe.labelSmoothing(), buffers.losses(b));
            Tensor dl = dLogits.view(logits.shape());
            backend.crossEntropyBackward(logits, y, recipe.labelSmoothing(), 1f / b, dl);
            model.backward(dl);
            mean = Double.NaN;                              // read after the optimizer step is queued
        }
        if (recipe.clipGrad() > 0) {
            GradientClipping.clipByGlobalNorm(backend, params, recipe.clipGrad());
        }
        optimizer.step(lr);
        if (distillation == null) {
            mean = buffers.downloadLossSum(b) / b;
        }
        // The forward's logits are the head's own buffer, which neither backward nor the step writes.
        lastStepCorrect = correct(logits, batch);
        if (!Double.isFinite(mean)) {
            throw new IllegalStateException("training loss became " + mean + " at step " + optimizer.stepCount()
                    + " (learning rate " + lr + "): lower --lr or set --clip-grad");
        }
        return mean;
    }

    /** How many of {@code batch}'s labels are the argmax of their row of {@code logits}. */
    private int correct(Tensor logits, Batch batch) {
        backend.download(logits, logitsHost, 0);
        int classes = model.config().numClasses(), n = 0;
        int[] labels = batch.labels();
        for (int i = 0; i < batch.size(); i++) {
            if (Evaluator.argmax(logitsHost, i * classes, classes) == labels[i]) {
                n++;
            }
        }
        return n;
    }

    /** Test loss and accuracy on {@code loader}. */
    public Evaluation evaluate(DataLoader loader) {
        return evaluator.evaluate(loader);
    }

    @Override
    public void close() {
        try {
            if (distillation != null) {
                distillation.close();
            }
        } finally {
            buffers.close();
            dLogits.close();
            evaluator.close();
        }
    }
}
