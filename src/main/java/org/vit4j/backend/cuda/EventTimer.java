package org.vit4j.backend.cuda;

import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.JCudaDriver;

import static org.vit4j.backend.cuda.CudaException.check;

/**
 * GPU time of work on the device's stream, measured with CUDA events: {@link #start(int)} and
 * {@link #stop(int)} record an event pair around run {@code i} without waiting, so many runs are
 * queued back to back and read once by {@link #elapsedMicros(int)}. The time is the GPU's, from
 * the start event to the stop event: host-side launch cost shows only where the host enqueues
 * slower than the GPU drains (then the GPU idles between kernels and that gap counts, which is
 * the launch-overhead limit of a small op).
 */
public final class EventTimer implements AutoCloseable {
    private final CudaDevice device;
    private final CUevent[] starts;
    private final CUevent[] stops;
    private int created;

    /** Events for {@code capacity} runs. */
    public EventTimer(CudaDevice device, int capacity) {
        if (capacity < 1) {
            throw new IllegalArgumentException("event timer capacity must be positive, got " + capacity);
        }
        this.device = device;
        this.starts = new CUevent[capacity];
        this.stops = new CUevent[capacity];
        device.makeCurrent();
        try {
            for (int i = 0; i < capacity; i++) {
                starts[i] = new CUevent();
                check(JCudaDriver.cuEventCreate(starts[i], CUevent_flags.CU_EVENT_DEFAULT), "cuEventCreate");
                created++;
                stops[i] = new CUevent();
                check(JCudaDriver.cuEventCreate(stops[i], CUevent_flags.CU_EVENT_DEFAULT), "cuEventCreate");
                created++;
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    public int capacity() {
        return starts.length;
    }

    public void start(int run) {
        check(JCudaDriver.cuEventRecord(starts[run], device.stream()), "cuEventRecord(start " + run + ")");
    }

    public void stop(int run) {
        check(JCudaDriver.cuEventRecord(stops[run], device.stream()), "cuEventRecord(stop " + run + ")");
    }

    /** Waits for the last stop event, then returns the first {@code runs} times in microseconds. */
    public double[] elapsedMicros(int runs) {
        device.makeCurrent();
        check(JCudaDriver.cuEventSynchronize(stops[runs - 1]), "cuEventSynchronize");
        double[] us = new double[runs];
        float[] ms = new float[1];
        for (int i = 0; i < runs; i++) {
            check(JCudaDriver.cuEventElapsedTime(ms, starts[i], stops[i]), "cuEventElapsedTime(run " + i + ")");
            us[i] = ms[0] * 1000.0;
        }
        return us;
    }

    @Override
    public void close() {
        device.makeCurrent();
        for (int i = 0; i < created; i++) {
            CUevent e = i % 2 == 0 ? starts[i / 2] : stops[i / 2];
            JCudaDriver.cuEventDestroy(e);
        }
        created = 0;
    }
}
