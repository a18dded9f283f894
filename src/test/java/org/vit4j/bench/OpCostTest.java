package org.vit4j.bench;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The hand counts against values worked out by hand, at the mnist-tutorial training shape
 * (B = 100, N = 17, D = 64, H = 8, M = 128, so R = 1700 rows): the figures of
 * benchmarks/README.md's table.
 */
class OpCostTest {
    private static final double R = 1700;

    @Test
    void linearQkvProjection() {
        // 2*1700*64*192 + 1700*192 = 41,779,200 + 326,400
        OpCost f = OpCost.linearForward(R, 64, 192);
        assertEquals(42_105_600, f.flops());
        // 4 * (1700*64 + 192*64 + 192 + 1700*192) = 4 * 447,680
        assertEquals(1_790_720, f.bytes());
        assertEquals(OpCost.Bound.COMPUTE, f.bound());
        OpCost b = OpCost.linearBackward(R, 64, 192);
        assertEquals(2 * 41_779_200 + 326_400, b.flops());
        // dy 326,400 + x 108,800 + W 12,288 + dx 108,800 + dW r/w 24,576 + db r/w 384 = 581,248 floats
        assertEquals(4 * 581_248, b.bytes());
    }

    @Test
    void layerNorm() {
        OpCost f = OpCost.layerNormForward(R, 64);
        assertEquals(870_400, f.flops());
        // x and y 2*108,800, gamma and beta 128, mean and rstd 3,400
        assertEquals(4 * (217_600 + 128 + 3_400), f.bytes());
        OpCost b = OpCost.layerNormBackward(R, 64);
        // dy, x, dx 3*108,800; mean, rstd 3,400; gamma 64; dGamma, dBeta read and written 256
        assertEquals(4 * (326_400 + 3_400 + 64 + 256), b.bytes());
        assertEquals(OpCost.Bound.MEMORY, b.bound());
    }

    @Test
    void geluAndSoftmaxAndAdd() {
        assertEquals(8 * 217_600, OpCost.geluForward(R * 128).bytes());
        assertEquals(12 * 217_600, OpCost.geluBackward(R * 128).bytes());
        assertEquals(8_000, OpCost.softmaxForward(10, 100).bytes());
        assertEquals(12_000, OpCost.softmaxBackward(10, 100).bytes());
        assertEquals(12 * 1000, OpCost.add(1000).bytes());
        assertEquals(8 * 1000, OpCost.copy(1000).bytes());
        assertEquals(0, OpCost.copy(1000).flops());
    }

    @Test
    void attention() {
        OpCost f = OpCost.attentionForward(100, 17, 64, 8);
        assertEquals(4.0 * 100 * 17 * 17 * 64, f.flops());   // 7,398,400: QK^T and PV
        // qkv 326,400 + out 108,800 + lse 13,600 floats
        assertEquals(4 * 448_800, f.bytes());
        OpCost b = OpCost.attentionBackward(100, 17, 64, 8);
        assertEquals(18_496_000, b.flops());
        // dout, out 2*108,800 + qkv, dqkv 2*326,400 + lse 13,600 = 884,000 floats
        assertEquals(3_536_000, b.bytes());
        OpCost both = f.plus(b);
        assertEquals(f.flops() + b.flops(), both.flops());
        assertEquals(f.bytes() + b.bytes(), both.bytes());
    }

    @Test
    void lossOptimizerAndGemm() {
        assertEquals(4 * (1000 + 200), OpCost.crossEntropyForward(100, 10).bytes());
        assertEquals(4 * (2000 + 100), OpCost.crossEntropyBackward(100, 10).bytes());
        assertEquals(32 * 214_794.0, OpCost.adamwStep(214_794).bytes());
        assertEquals(2.0 * 8192 * 8192 * 8192, OpCost.gemm(8192, 8192, 8192).flops());   // 1.0995e12
        assertEquals(4.0 * 3 * 8192 * 8192, OpCost.gemm(8192, 8192, 8192).bytes());
    }

    @Test
    void patchEmbeddingAsConvolution() {
        // 100 images 28x28x1, patch 7: 16 patches of 49 pixels each, to dim 64; rows 1,600
        OpCost c = OpCost.patchEmbedForward(100, 1, 28, 7, 64);
        assertEquals(2.0 * 1600 * 49 * 64 + 1600 * 64, c.flops());   // 10,137,600
        assertEquals(4 * (78_400 + 3_136 + 64 + 102_400), c.bytes());
    }

    @Test
    void rateIsInTheBoundsUnit() {
        // 1 GB in 1 ms is 1000 GB/s; 1 TFLOP in 1 s is 1 TFLOP/s
        assertEquals(1000, new OpCost(0, 1e9, OpCost.Bound.MEMORY).rate(1e-3), 1e-9);
        assertEquals(1, new OpCost(1e12, 0, OpCost.Bound.COMPUTE).rate(1), 1e-12);
        assertEquals("GB/s", OpCost.Bound.MEMORY.unit());
        assertEquals("TFLOP/s", OpCost.Bound.COMPUTE.unit());
    }
}
