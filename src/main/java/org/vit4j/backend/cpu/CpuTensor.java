package org.vit4j.backend.cpu;

import org.vit4j.tensor.DType;
import org.vit4j.tensor.Shape;
import org.vit4j.tensor.Tensor;

/** A tensor in a Java array: {@code float[]} for F32, {@code int[]} for I32. */
public final class CpuTensor extends Tensor {
    private final float[] floats;
    private final int[] ints;
    private final CpuTensor owner;
    private boolean closed;

    CpuTensor(DType dtype, Shape shape) {
        super(shape, dtype);
        int n = Math.toIntExact(shape.numel());
        this.floats = dtype == DType.F32 ? new float[n] : null;
        this.ints = dtype == DType.I32 ? new int[n] : null;
        this.owner = null;
    }

    private CpuTensor(CpuTensor owner, Shape shape) {
        super(shape, owner.dtype());
        this.floats = owner.floats;
        this.ints = owner.ints;
        this.owner = owner;
    }

    /** The backing array (its length is the capacity; only the first {@link #numel()} belong to this tensor). */
    public float[] floats() {
        if (floats == null) {
            throw new IllegalStateException("tensor is " + dtype() + ", not F32");
        }
        checkOpen();
        return floats;
    }

    public int[] ints() {
        if (ints == null) {
            throw new IllegalStateException("tensor is " + dtype() + ", not I32");
        }
        checkOpen();
        return ints;
    }

    private void checkOpen() {
        if (isClosed()) {
            throw new IllegalStateException("tensor " + this + " was closed");
        }
    }

    @Override
    public long capacity() {
        return floats != null ? floats.length : ints.length;
    }

    @Override
    public Tensor view(Shape shape) {
        checkView(shape);
        return new CpuTensor(owner != null ? owner : this, shape);
    }

    @Override
    public boolean isClosed() {
        return owner != null ? owner.isClosed() : closed;
    }

    @Override
    public void close() {
        if (owner == null) {
            closed = true;
        }
    }
}
