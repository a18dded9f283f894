package org.vit4j.backend.cuda;

import jcuda.Pointer;
import jcuda.driver.CUfunction;
import jcuda.driver.CUfunction_attribute;
import jcuda.driver.JCudaDriver;
import org.vit4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

import static org.vit4j.backend.cuda.CudaException.check;

/**
 * A kernel launch on the device's stream, assembled argument by argument and then {@link #run()}:
 * the builder every launcher uses ({@link CudaBackend}'s, and {@link RowSoftmax}).
 * {@code CudaBackendSourcesTest} checks every {@code launch("name")...run()} chain against the
 * kernel's parameter list.
 */
final class KernelLaunch {
    static final int BLOCK = 256;
    /** {@code -Dvit4j.cudaSync=true}: synchronise after every kernel, naming the one that faulted. */
    private static final boolean SYNC_EACH_LAUNCH = Boolean.getBoolean("vit4j.cudaSync");

    private final CudaDevice device;
    private final KernelLibrary kernels;
    private final String kernel;
    private final List<Pointer> args = new ArrayList<>();
    private final int[] grid = {1, 1, 1};
    private final int[] block = {BLOCK, 1, 1};
    private int shared;

    KernelLaunch(CudaDevice device, KernelLibrary kernels, String kernel) {
        this.device = device;
        this.kernels = kernels;
        this.kernel = kernel;
    }

    KernelLaunch grid(int x, int y, int z) {
        grid[0] = x;
        grid[1] = y;
        grid[2] = z;
        return this;
    }

    KernelLaunch block(int x, int y, int z) {
        block[0] = x;
        block[1] = y;
        block[2] = z;
        return this;
    }

    KernelLaunch shared(int bytes) {
        shared = bytes;
        return this;
    }

    KernelLaunch ptr(Tensor t) {
        args.add(Pointer.to(CudaBackend.ptr(t)));
        return this;
    }

    KernelLaunch i(int v) {
        args.add(Pointer.to(new int[] {v}));
        return this;
    }

    KernelLaunch l(long v) {
        args.add(Pointer.to(new long[] {v}));
        return this;
    }

    KernelLaunch f(float v) {
        args.add(Pointer.to(new float[] {v}));
        return this;
    }

    void run() {
        device.makeCurrent();
        CUfunction function = kernels.function(kernel);
        if (shared > 0 && shared + kernels.staticSharedBytes(kernel) > 48 * 1024) {
            // Beyond 48 KiB of dynamic shared memory a kernel must opt in (up to 227 KiB on Hopper).
            check(JCudaDriver.cuFuncSetAttribute(function,
                    CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, shared),
                    "cuFuncSetAttribute(" + kernel + ", max dynamic shared " + shared + " B)");
        }
        int result = JCudaDriver.cuLaunchKernel(function, grid[0], grid[1], grid[2], block[0], block[1], block[2],
                shared, device.stream(), Pointer.to(args.toArray(new Pointer[0])), null);
        String shape = kernel + ", grid " + grid[0] + "x" + grid[1] + "x" + grid[2]
                + ", block " + block[0] + "x" + block[1] + "x" + block[2] + ", shared " + shared + " B";
        if (result != 0) {
            check(result, "cuLaunchKernel(" + shape + ")");
        }
        if (SYNC_EACH_LAUNCH) {
            // Debugging aid: a fault surfaces at the launch that caused it, not at the next copy.
            check(JCudaDriver.cuStreamSynchronize(device.stream()), "kernel " + shape);
        }
    }
}
