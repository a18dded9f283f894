package org.vit4j.train;

import org.vit4j.backend.Backend;
import org.vit4j.data.Batch;
import org.vit4j.nn.ViTConfig;
import org.vit4j.tensor.DType;
import org.vit4j.tensor.Shape;
import org.vit4j.tensor.Tensor;

/**
 * Backend buffers for one batch, allocated once for the largest batch: the images and labels a
 * batch is uploaded into, the per-example losses, and the host copies read back each step.
 */
final class BatchBuffers implements AutoCloseable {
    private final Backend backend;
    private final ViTConfig config;
    private final Tensor images;
    private final Tensor labels;
    private final Tensor losses;
    final float[] lossHost;

    BatchBuffers(Backend backend, ViTConfig c, int maxBatch) {
        if (maxBatch < 1) {
            throw new IllegalArgumentException("batch size must be positive, got " + maxBatch);
        }
        this.backend = backend;
        this.config = c;
        this.images = backend.allocate(DType.F32, Shape.of(maxBatch, c.channels(), c.imageSize(), c.imageSize()));
        this.labels = backend.allocate(DType.I32, Shape.of(maxBatch));
        this.losses = backend.allocate(maxBatch);
        this.lossHost = new float[maxBatch];
    }

    /** Uploads {@code batch} and returns its images as [B, C, H, W]. */
    Tensor upload(Batch batch) {
        int b = batch.size();
        if (b > labels.capacity()) {
            throw new IllegalArgumentException("batch of " + b + " exceeds the " + labels.capacity() + " the buffers hold");
        }
        Tensor x = images.view(Shape.of(b, config.channels(), config.imageSize(), config.imageSize()));
        backend.upload(batch.images(), x);
        backend.upload(batch.labels(), labels(b));
        return x;
    }

    Tensor labels(int batch) {
        return labels.view(Shape.of(batch));
    }

    Tensor losses(int batch) {
        return losses.view(Shape.of(batch));
    }

    /** Mean of the first {@code batch} per-example losses, and their sum into {@code lossHost}. */
    double downloadLossSum(int batch) {
        backend.download(losses(batch), lossHost, 0);
        double sum = 0;
        for (int i = 0; i < batch; i++) {
            sum += lossHost[i];
        }
        return sum;
    }

    @Override
    public void close() {
        images.close();
        labels.close();
        losses.close();
    }
}
