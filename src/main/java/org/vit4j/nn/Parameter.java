package org.vit4j.nn;

import org.vit4j.backend.Backend;
import org.vit4j.tensor.Shape;
import org.vit4j.tensor.Tensor;

/** A trainable tensor and its gradient, both allocated on the model's backend. */
public final class Parameter implements AutoCloseable {
    private final String name;
    private final Tensor value;
    private final Tensor grad;
    private final boolean weightDecay;

    Parameter(Backend backend, String name, Shape shape, boolean weightDecay) {
        this.name = name;
        this.value = backend.allocate(org.vit4j.tensor.DType.F32, shape);
        this.grad = backend.allocate(org.vit4j.tensor.DType.F32, shape);
        this.weightDecay = weightDecay;
    }

    /** The name within its module, e.g. {@code weight}; see {@link Module#namedParameters()} for full names. */
    public String name() {
        return name;
    }

    public Tensor value() {
        return value;
    }

    /** Backward passes add into this; the optimizer step zeroes it. */
    public Tensor grad() {
        return grad;
    }

    public Shape shape() {
        return value.shape();
    }

    /** Whether AdamW decays this parameter: weight matrices yes; biases, norms and embeddings no (timm's rule). */
    public boolean weightDecay() {
        return weightDecay;
    }

    @Override
    public void close() {
        value.close();
        grad.close();
    }
}
