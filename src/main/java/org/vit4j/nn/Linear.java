package org.vit4j.nn;

import org.vit4j.backend.Backend;
import org.vit4j.tensor.Tensor;

/** {@code y = x W^T + b} over the last dimension; {@code weight} is [out, in] as in PyTorch. */
public final class Linear extends Module {
    private final int in;
    private final int out;
    private final Parameter weight;
    private final Parameter bias;
    private Tensor x;

    public Linear(Backend backend, int in, int out, boolean bias) {
        super(backend);
        this.in = in;
        this.out = out;
        this.weight = parameter("weight", true, out, in);
        this.bias = bias ? parameter("bias", false, out) : null;
    }

    public Parameter weight() {
        return weight;
    }

    public Parameter bias() {
        return bias;
    }

    public Tensor forward(Tensor x) {
        if (x.shape().dim(-1) != in) {
            throw new IllegalArgumentException("Linear(" + in + " -> " + out + "): input " + x.shape()
                    + " does not end in " + in);
        }
        this.x = x;
        Tensor y = acts.get("y", Shapes.withLast(x.shape(), out));
        backend.linearForward(x, weight.value(), bias == null ? null : bias.value(), y);
        return y;
    }

    /** Adds into the parameter gradients; returns dx, or null when {@code inputGrad} is false. */
    public Tensor backward(Tensor dy, boolean inputGrad) {
        Tensor dx = inputGrad ? acts.get("dx", x.shape()) : null;
        backend.linearBackward(dy, x, weight.value(), dx, weight.grad(), bias == null ? null : bias.grad());
        return dx;
    }
}
