package org.vit4j.tensor;

/**
 * A dense row-major tensor whose storage belongs to a backend (host arrays or device memory).
 *
 * <p>A tensor made by a backend's {@code allocate} owns its storage and frees it on
 * {@link #close()}. {@link #view(Shape)} gives a tensor over the first elements of the same
 * storage: modules allocate activation buffers once for the largest batch and run smaller
 * batches (the last one of an epoch, evaluation) on views, so nothing is allocated per step.
 */
public abstract class Tensor implements AutoCloseable {
    private final Shape shape;
    private final DType dtype;

    protected Tensor(Shape shape, DType dtype) {
        this.shape = shape;
        this.dtype = dtype;
    }

    public final Shape shape() {
        return shape;
    }

    public final DType dtype() {
        return dtype;
    }

    public final long numel() {
        return shape.numel();
    }

    /** Number of elements the underlying storage holds (at least {@link #numel()}). */
    public abstract long capacity();

    /** A tensor of {@code shape} over the first elements of this tensor's storage; closing it frees nothing. */
    public abstract Tensor view(Shape shape);

    /** Whether {@link #close()} has freed the storage (views report their owner's state). */
    public abstract boolean isClosed();

    protected final void checkView(Shape viewShape) {
        if (viewShape.numel() > capacity()) {
            throw new IllegalArgumentException(
                    "view of shape " + viewShape + " needs " + viewShape.numel()
                            + " elements but the storage holds " + capacity());
        }
    }

    @Override
    public abstract void close();

    @Override
    public String toString() {
        return getClass().getSimpleName() + dtype + shape;
    }
}
