package org.vit4j.backend.cuda;

import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUstream;
import jcuda.driver.JCudaDriver;

import java.nio.charset.StandardCharsets;

import static org.vit4j.backend.cuda.CudaException.check;

/**
 * One GPU through the driver API: its primary context, made current on every thread that uses
 * the device, and the one stream all of vit4j's work goes to (kernels, copies, cuBLAS), so work
 * is ordered without extra synchronisation.
 */
public final class CudaDevice implements AutoCloseable {
    /**
     * How the CUDA emulator of {@code native-tests/emulator} names its device: kernels compiled for
     * and run on the CPU, through stand-ins of the driver, NVRTC and cuBLAS libraries.
     */
    public static final String EMULATED_NAME_PREFIX = "vit4j emulated GPU";

    private final int ordinal;
    private final CUdevice device = new CUdevice();
    private final CUcontext context = new CUcontext();
    private final CUstream stream = new CUstream();
    private final ThreadLocal<Boolean> current = ThreadLocal.withInitial(() -> false);
    private final String name;
    private final int major;
    private final int minor;
    private final long totalMemory;
    private final int driverVersion;
    private boolean closed;

    private CudaDevice(int ordinal) {
        this.ordinal = ordinal;
        // Status codes are checked one by one, so that every error names its call.
        JCudaDriver.setExceptionsEnabled(false);
        check(JCudaDriver.cuInit(0), "cuInit");
        int[] count = new int[1];
        check(JCudaDriver.cuDeviceGetCount(count), "cuDeviceGetCount");
        if (ordinal < 0 || ordinal >= count[0]) {
            throw new CudaException("no CUDA device " + ordinal + " (" + count[0] + " visible)", 100);
        }
        check(JCudaDriver.cuDeviceGet(device, ordinal), "cuDeviceGet");
        check(JCudaDriver.cuDevicePrimaryCtxRetain(context, device), "cuDevicePrimaryCtxRetain");
        makeCurrent();
        check(JCudaDriver.cuStreamCreate(stream, 0), "cuStreamCreate");
        byte[] nameBytes = new byte[256];
        check(JCudaDriver.cuDeviceGetName(nameBytes, nameBytes.length, device), "cuDeviceGetName");
        int len = 0;
        while (len < nameBytes.length && nameBytes[len] != 0) {
            len++;
        }
        this.name = new String(nameBytes, 0, len, StandardCharsets.US_ASCII);
        this.major = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        this.minor = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        long[] mem = new long[1];
        check(JCudaDriver.cuDeviceTotalMem(mem, device), "cuDeviceTotalMem");
        this.totalMemory = mem[0];
        int[] version = new int[1];
        check(JCudaDriver.cuDriverGetVersion(version), "cuDriverGetVersion");
        this.driverVersion = version[0];
    }

    /** Opens GPU {@code ordinal}; throws {@link CudaException} or {@link UnsatisfiedLinkError} where there is none. */
    public static CudaDevice open(int ordinal) {
        return new CudaDevice(ordinal);
    }

    private int attribute(int attribute) {
        int[] value = new int[1];
        check(JCudaDriver.cuDeviceGetAttribute(value, attribute, device), "cuDeviceGetAttribute(" + attribute + ")");
        return value[0];
    }

    /** Makes the primary context current on the calling thread (once per thread). */
    public void makeCurrent() {
        if (closed) {
            throw new IllegalStateException("CUDA device " + ordinal + " was closed");
        }
        if (!current.get()) {
            check(JCudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent");
            current.set(true);
        }
    }

    public CUstream stream() {
        return stream;
    }

    public void synchronize() {
        makeCurrent();
        check(JCudaDriver.cuStreamSynchronize(stream), "cuStreamSynchronize");
    }

    public String name() {
        return name;
    }

    /**
     * True on the CUDA emulator (the test tier's stand-in libraries, which a process gets only with
     * {@code VIT4J_EMULATOR=1} and the stand-ins on its library path): the "GPU" is the CPU, its
     * timings are not a GPU's.
     */
    public boolean emulated() {
        return emulated(name);
    }

    /** Whether a device named {@code name} is the CUDA emulator's. */
    public static boolean emulated(String name) {
        return name != null && name.startsWith(EMULATED_NAME_PREFIX);
    }

    /** Compute capability as {@code major * 10 + minor}, e.g. 90 for Hopper. */
    public int computeCapability() {
        return major * 10 + minor;
    }

    public long totalMemory() {
        return totalMemory;
    }

    /** The driver's CUDA version, e.g. 13000 for CUDA 13.0. */
    public int driverVersion() {
        return driverVersion;
    }

    public int multiprocessors() {
        return attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
    }

    @Override
    public String toString() {
        return String.format("%s (%ssm_%d, %.1f GiB, driver CUDA %d.%d)", name,
                emulated() ? "EMULATED on the CPU, not a GPU; " : "", computeCapability(),
                totalMemory / (double) (1L << 30), driverVersion / 1000, driverVersion % 1000 / 10);
    }

    @Override
    public void close() {
        if (!closed) {
            makeCurrent();
            JCudaDriver.cuStreamSynchronize(stream);
            JCudaDriver.cuStreamDestroy(stream);
            JCudaDriver.cuDevicePrimaryCtxRelease(device);
            closed = true;
        }
    }
}
