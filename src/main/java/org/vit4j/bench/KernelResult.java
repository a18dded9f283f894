package org.vit4j.bench;

/**
 * One op at one shape: its GPU time over many runs, the work counted by hand, and the baseline
 * timed the same way beside it.
 *
 * @param op       e.g. {@code layernorm.forward}, {@code attention.forward+backward}
 * @param shape    the shape set's name, e.g. {@code vit-tiny-224} or {@code large}
 * @param dims     the op's dimensions, e.g. {@code R=25216 D=192}
 * @param cost     FLOPs and bytes of one call
 * @param timeUs   microseconds per call (null when the op failed)
 * @param baseline what it is compared with (null when there is none for this op)
 * @param note     a remark (the baseline's numerical agreement, an algorithm), may be null
 * @param error    why the op could not be timed, else null
 */
public record KernelResult(String op, String shape, String dims, OpCost cost, Stats timeUs, Baseline baseline,
                           String note, String error) {

    /**
     * The comparison an op is timed against.
     *
     * @param name        e.g. {@code cuDNN softmax}, {@code unfused cuBLAS + softmax}
     * @param timeUs      microseconds per call, or null when unavailable
     * @param unavailable why there is no time (library missing, op unsupported), else null
     */
    public record Baseline(String name, Stats timeUs, String unavailable) {
        public static Baseline unavailable(String name, String reason) {
            return new Baseline(name, null, reason);
        }
    }

    public static KernelResult failed(String op, String shape, String dims, OpCost cost, String error) {
        return new KernelResult(op, shape, dims, cost, null, null, null, error);
    }

    /** TFLOP/s or GB/s at the median time (as {@link OpCost#rate}); NaN when not timed. */
    public double rate() {
        return timeUs == null ? Double.NaN : cost.rate(timeUs.median() * 1e-6);
    }

    /** Baseline time over this op's time: above 1 means vit4j's op is faster. NaN when either is missing. */
    public double speedup() {
        if (timeUs == null || baseline == null || baseline.timeUs() == null) {
            return Double.NaN;
        }
        return baseline.timeUs().median() / timeUs.median();
    }
}
