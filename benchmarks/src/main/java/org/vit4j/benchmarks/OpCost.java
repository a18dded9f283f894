package org.vit4j.benchmarks;

/**
 * The work one call of a {@link CpuOpsBenchmark} op does: the hand counts of
 * {@link org.vit4j.bench.OpCost} (shared with the GPU kernel runner, {@code vit4j bench kernels})
 * at a {@link ModelShape}. Floating-point operations and the bytes the op must move at least
 * (each input read once, each output written once, accumulated gradients read and written).
 * Divide by the measured time for GFLOP/s and GB/s.
 *
 * @param flops floating-point operations per call (a multiply-add counts 2)
 * @param bytes bytes read plus bytes written per call
 * @param bound {@code "flops"} where the op is meant to be read as compute throughput,
 *              {@code "bytes"} where as memory bandwidth
 */
public record OpCost(double flops, double bytes, String bound) {

    /** The cost of benchmark method {@code op} of {@link CpuOpsBenchmark} at {@code s}, or null if unknown. */
    public static OpCost of(String op, ModelShape s) {
        double b = s.batch(), n = s.tokens(), d = s.dim(), h = s.heads(), m = s.mlp(), c = s.classes();
        double r = b * n, p = s.parameterCount();
        double qkv = 3 * d;   // the linear benchmarks time the attention's qkv projection
        org.vit4j.bench.OpCost cost = switch (op) {
            case "linearForward" -> org.vit4j.bench.OpCost.linearForward(r, d, qkv);
            case "linearBackward" -> org.vit4j.bench.OpCost.linearBackward(r, d, qkv);
            case "layerNormForward" -> org.vit4j.bench.OpCost.layerNormForward(r, d);
            case "layerNormBackward" -> org.vit4j.bench.OpCost.layerNormBackward(r, d);
            case "geluForward" -> org.vit4j.bench.OpCost.geluForward(r * m);
            case "geluBackward" -> org.vit4j.bench.OpCost.geluBackward(r * m);
            case "attentionForward" -> org.vit4j.bench.OpCost.attentionForward(b, n, d, h);
            case "attentionBackward" -> org.vit4j.bench.OpCost.attentionBackward(b, n, d, h);
            case "crossEntropyForward" -> org.vit4j.bench.OpCost.crossEntropyForward(b, c);
            case "crossEntropyBackward" -> org.vit4j.bench.OpCost.crossEntropyBackward(b, c);
            // the benchmark copies the gradient back in before each step: the copy is part of the call
            case "adamwStep" -> org.vit4j.bench.OpCost.adamwStep(p).plus(org.vit4j.bench.OpCost.copy(p));
            case "gradCopy" -> org.vit4j.bench.OpCost.copy(p);
            default -> null;
        };
        if (cost == null) {
            return null;
        }
        return new OpCost(cost.flops(), cost.bytes(),
                cost.bound() == org.vit4j.bench.OpCost.Bound.COMPUTE ? "flops" : "bytes");
    }
}
