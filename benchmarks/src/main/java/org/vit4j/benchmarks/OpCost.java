package org.vit4j.benchmarks;

/**
 * The work one call of a {@link CpuOpsBenchmark} op does, counted by hand (the table in
 * {@link CpuOpsBenchmark}'s documentation): floating-point operations and the bytes it must
 * move at least (each input read once, each output written once, accumulated gradients read
 * and written). Divide by the measured time for GFLOP/s and GB/s.
 *
 * @param flops floating-point operations per call (a multiply-add counts 2)
 * @param bytes bytes read plus bytes written per call
 * @param bound {@code "flops"} where the op is meant to be read as compute throughput,
 *              {@code "bytes"} where as memory bandwidth
 */
public record OpCost(double flops, double bytes, String bound) {
    private static final double F = 4;   // bytes per float32 (and per int32 label)

    /** The cost of benchmark method {@code op} of {@link CpuOpsBenchmark} at {@code s}, or null if unknown. */
    public static OpCost of(String op, ModelShape s) {
        double b = s.batch(), n = s.tokens(), d = s.dim(), h = s.heads(), m = s.mlp(), c = s.classes();
        double r = b * n, p = s.parameterCount();
        double out = 3 * d;   // the qkv projection
        switch (op) {
            case "linearForward":
                return new OpCost(2 * r * d * out + r * out, F * (r * d + out * d + out + r * out), "flops");
            case "linearBackward":
                return new OpCost(4 * r * d * out + r * out,
                        F * (r * out + r * d + out * d + r * d + 2 * out * d + 2 * out), "flops");
            case "layerNormForward":
                return new OpCost(8 * r * d, F * (2 * r * d + 2 * d + 2 * r), "bytes");
            case "layerNormBackward":
                return new OpCost(12 * r * d, F * (3 * r * d + 2 * r + d + 4 * d), "bytes");
            case "geluForward":
                return new OpCost(25 * r * m, F * 2 * r * m, "bytes");
            case "geluBackward":
                return new OpCost(35 * r * m, F * 3 * r * m, "bytes");
            case "attentionForward":
                return new OpCost(4 * b * n * n * d, F * (r * 3 * d + r * d + b * h * n), "flops");
            case "attentionBackward":
                return new OpCost(10 * b * n * n * d, F * (r * d + r * 3 * d + r * d + b * h * n + r * 3 * d), "flops");
            case "crossEntropyForward":
                return new OpCost(4 * b * c, F * (b * c + 2 * b), "bytes");
            case "crossEntropyBackward":
                return new OpCost(5 * b * c, F * (2 * b * c + b), "bytes");
            case "adamwStep":
                return new OpCost(12 * p, F * (8 * p + 2 * p), "bytes");
            case "gradCopy":
                return new OpCost(0, F * 2 * p, "bytes");
            default:
                return null;
        }
    }
}
