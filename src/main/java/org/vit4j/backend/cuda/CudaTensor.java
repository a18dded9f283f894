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
