package org.vit4j.bench;

/**
 * The device's limits as measured on it, not as specified: the copy bandwidth of a large
 * device-to-device copy (bytes read plus bytes written, per second) and the throughput of a large
 * cuBLAS SGEMM, exact FP32 and with TF32 tensor cores. Every op's achieved rate is reported as a
 * percentage of these.
 *
 * @param copyGBs     GB/s (1e9 bytes) of the copy, read + write
 * @param sgemmTflops TFLOP/s of the FP32 SGEMM
 * @param tf32Tflops  TFLOP/s of the same SGEMM with TF32 math
 * @param copyBytes   bytes the copy moved (read + write)
 * @param gemmSize    n of the n x n x n GEMMs
 */
public record Peaks(double copyGBs, double sgemmTflops, double tf32Tflops, long copyBytes, int gemmSize) {

    /** {@code rate} (in {@code cost}'s unit) as a percentage of the peak that bounds it. */
    public double percent(OpCost.Bound bound, double rate, boolean tf32) {
        double peak = bound == OpCost.Bound.MEMORY ? copyGBs : tf32 ? tf32Tflops : sgemmTflops;
        return peak > 0 ? 100 * rate / peak : Double.NaN;
    }
}
