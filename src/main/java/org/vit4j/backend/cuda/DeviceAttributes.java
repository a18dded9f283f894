package org.vit4j.backend.cuda;

import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.JCudaDriver;

import static org.vit4j.backend.cuda.CudaException.check;

/** Device attributes the benchmarks need and {@link CudaDevice} does not keep. */
public final class DeviceAttributes {
    private DeviceAttributes() {
    }

    /** A {@code CU_DEVICE_ATTRIBUTE_*} value of the device whose context is current for {@code device}. */
    public static int get(CudaDevice device, int attribute) {
        device.makeCurrent();
        CUdevice dev = new CUdevice();
        check(JCudaDriver.cuCtxGetDevice(dev), "cuCtxGetDevice");
        int[] value = new int[1];
        check(JCudaDriver.cuDeviceGetAttribute(value, attribute, dev), "cuDeviceGetAttribute(" + attribute + ")");
        return value[0];
    }

    /** Bytes of L2 cache (50 MiB on an H100 SXM). */
    public static int l2CacheBytes(CudaDevice device) {
        return get(device, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE);
    }

    public static int multiprocessors(CudaDevice device) {
        return get(device, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
    }
}
