package org.vit4j.tensor;

/** Element types a {@link Tensor} can hold. */
public enum DType {
    /** 32-bit IEEE float: activations, weights, gradients, optimizer state. */
    F32(4),
    /** 32-bit signed integer: class labels. */
    I32(4);

    private final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }

    /** Size of one element in bytes. */
    public int bytes() {
        return bytes;
    }
}
