package org.vit4j.backend.cuda;

import jcuda.driver.CUdeviceptr;
import jcuda.driver.JCudaDriver;
import org.vit4j.tensor.DType;
import org.vit4j.tensor.Shape;
import org.vit4j.tensor.Tensor;

/** A tensor in device memory. Views share the owner's allocation and free nothing. */
public final class CudaTensor extends Tensor {
    private final CudaDevice device;
    private final CUdeviceptr pointer;
    private final long capacity;
    private final CudaTensor owner;
    private boolean closed;
    // The range of the int values the host last uploaded into the first knownPrefix elements;
    // any other write forgets it. Lets label checks run without reading the device back.
    private long knownPrefix;
    private int knownMin;
    private int knownMax;

    CudaTensor(CudaDevice device, DType dtype, Shape shape) {
        super(shape, dtype);
        this.device = device;
        this.capacity = Math.max(1, shape.numel());
        this.pointer = new CUdeviceptr();
        this.owner = null;
        device.makeCurrent();
        CudaException.check(JCudaDriver.cuMemAlloc(pointer, capacity * dtype.bytes()),
                "cuMemAlloc(" + capacity * dtype.bytes() + " bytes for " + dtype + shape + ")");
    }

    private CudaTensor(CudaTensor owner, Shape shape) {
        super(shape, owner.dtype());
        this.device = owner.device;
        this.pointer = owner.pointer;
        this.capacity = owner.capacity;
        this.owner = owner;
    }

    /** The device address; valid until the owner is closed. */
    public CUdeviceptr pointer() {
        if (isClosed()) {
            throw new IllegalStateException("tensor " + this + " was closed");
        }
        return pointer;
    }

    /** Records that the host just wrote {@code values} into this tensor's first elements. */
    void recordIntUpload(int[] values, int offset, long count) {
        CudaTensor o = owner != null ? owner : this;
        int min = Integer.MAX_VALUE, max = Integer.MIN_VALUE;
        for (long i = 0; i < count; i++) {
            int v = values[offset + (int) i];
            min = Math.min(min, v);
            max = Math.max(max, v);
        }
        o.knownPrefix = count;
        o.knownMin = min;
        o.knownMax = max;
    }

    /** Forgets the recorded range: something other than an int upload wrote the memory. */
    void forgetContents() {
        (owner != null ? owner : this).knownPrefix = 0;
    }

    /**
     * Whether the first {@code count} elements are known, from the host's last upload, to lie in
     * {@code [lo, hi]}; false when unknown (or when the uploaded range does not fit).
     */
    boolean knownWithin(long count, int lo, int hi) {
        CudaTensor o = owner != null ? owner : this;
        return count <= o.knownPrefix && o.knownMin >= lo && o.knownMax <= hi;
    }

    @Override
    public long capacity() {
        return capacity;
    }

    @Override
    public Tensor view(Shape shape) {
        checkView(shape);
        return new CudaTensor(owner != null ? owner : this, shape);
    }

    @Override
    public boolean isClosed() {
        return owner != null ? owner.isClosed() : closed;
    }

    @Override
    public void close() {
        if (owner == null && !closed) {
            closed = true;
            device.makeCurrent();
            CudaException.check(JCudaDriver.cuMemFree(pointer), "cuMemFree");
        }
    }
}
