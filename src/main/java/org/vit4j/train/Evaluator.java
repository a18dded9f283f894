package org.vit4j.train;

import org.vit4j.backend.Backend;
import org.vit4j.data.Batch;
import org.vit4j.data.DataLoader;
import org.vit4j.data.Dataset;
import org.vit4j.nn.VisionTransformer;
import org.vit4j.tensor.Tensor;

import java.util.Iterator;

/** Test loss and accuracy of a model over a data set, in evaluation mode (no dropout). */
public final class Evaluator implements AutoCloseable {
    private final Backend backend;
    private final VisionTransformer model;
    private BatchBuffers buffers;
    private float[] logitsHost;
    private int capacity;

    /** Buffers are allocated for the first loader's batch size, and grown if a later loader's is larger. */
    public Evaluator(Backend backend, VisionTransformer model) {
        this.backend = backend;
        this.model = model;
    }

    private void reserve(int batchSize) {
        if (batchSize > capacity) {
            close();
            buffers = new BatchBuffers(backend, model.config(), batchSize);
            logitsHost = new float[batchSize * model.config().numClasses()];
            capacity = batchSize;
        }
    }

    /** Mean cross-entropy (without label smoothing) and accuracy over every batch of {@code loader}. */
    public Evaluation evaluate(DataLoader loader) {
        reserve(loader.batchSize());
        boolean wasTraining = model.isTraining();
        model.train(false);
        double lossSum = 0;
        long correct = 0, seen = 0;
        int classes = model.config().numClasses();
        Iterator<Batch> it = loader.epoch(0);
        while (it.hasNext()) {
            Batch batch = it.next();
            int b = batch.size();
            Tensor logits = model.forward(buffers.upload(batch));
            backend.crossEntropyForward(logits, buffers.labels(b), 0f, buffers.losses(b));
            lossSum += buffers.downloadLossSum(b);
            backend.download(logits, logitsHost, 0);
            for (int i = 0; i < b; i++) {
                if (argmax(logitsHost, i * classes, classes) == batch.labels()[i]) {
                    correct++;
                }
            }
            seen += b;
        }
        model.train(wasTraining);
        return new Evaluation(lossSum / Math.max(1, seen), (double) correct / Math.max(1, seen), (int) seen);
    }

    /**
     * Test loss and accuracy of {@code model} on {@code data} in batches of {@code batchSize}, the
     * images resized to the model's size when the data's differs.
     */
    public static Evaluation evaluate(VisionTransformer model, Dataset data, int batchSize) {
        try (DataLoader loader = DataLoader.builder(data).batchSize(Math.min(batchSize, data.size()))
                .imageSize(model.config().imageSize()).build();
             Evaluator evaluator = new Evaluator(model.backend(), model)) {
            return evaluator.evaluate(loader);
        }
    }

    static int argmax(float[] values, int offset, int n) {
        int best = 0;
        for (int j = 1; j < n; j++) {
            if (values[offset + j] > values[offset + best]) {
                best = j;
            }
        }
        return best;
    }

    @Override
    public void close() {
        if (buffers != null) {
            buffers.close();
            buffers = null;
            capacity = 0;
        }
    }
}
