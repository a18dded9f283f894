package org.vit4j.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link CpuAttention}'s Vector API loops give the bits of its scalar loops, forward and
 * backward, with and without attention dropout, at batch sizes that leave padding lanes in the
 * last task: the JVM flag that picks them ({@code --add-modules jdk.incubator.vector}) must not
 * change a training run's numbers.
 */
class CpuAttentionVectorTest {
    @ParameterizedTest(name = "B={0} N={1} heads={2} hd={3} dropout={4}")
    @CsvSource({
            "100, 17, 8, 8, 0",
            "37, 17, 8, 8, 0",
            "300, 5, 2, 3, 0",
            "37, 17, 4, 8, 0.1",
            "3, 1, 1, 1, 0"})
    void vectorLoopsGiveTheScalarBits(int batch, int tokens, int heads, int hd, float dropout) {
        assertTrue(FastMath.VECTOR_API, "the test JVM runs with --add-modules jdk.incubator.vector");
        int dim = heads * hd;
        Random rnd = new Random(batch * 31L + tokens);
        float[] qkv = new float[batch * tokens * 3 * dim], dout = new float[batch * tokens * dim];
        for (int i = 0; i < qkv.length; i++) {
            qkv[i] = (float) rnd.nextGaussian() * 2f;
        }
        for (int i = 0; i < dout.length; i++) {
            dout[i] = (float) rnd.nextGaussian();
        }
        float scale = (float) (1 / Math.sqrt(hd));
        AttentionDropout drop = AttentionDropout.of(dropout, 99L, heads, tokens);
        float[][] scalar = run(new CpuAttention(batch, tokens, dim, heads, scale, drop, false), qkv, dout, batch, tokens, dim, heads);
        float[][] vector = run(new CpuAttention(batch, tokens, dim, heads, scale, drop, true), qkv, dout, batch, tokens, dim, heads);
        String[] names = {"out", "lse", "dqkv"};
        for (int a = 0; a < names.length; a++) {
            for (int i = 0; i < scalar[a].length; i++) {
                assertEquals(Float.floatToIntBits(scalar[a][i]), Float.floatToIntBits(vector[a][i]), names[a] + "[" + i + "]");
            }
        }
    }

    private static float[][] run(CpuAttention attention, float[] qkv, float[] dout, int batch, int tokens, int dim, int heads) {
        float[] out = new float[batch * tokens * dim], lse = new float[batch * heads * tokens], dqkv = new float[qkv.length];
        CpuAttention.Scratch w = attention.scratch();
        for (int t = 0; t < attention.tasks(); t++) {
            attention.forward(t, w, qkv, out, lse);
        }
        CpuAttention.Scratch wb = attention.scratch();
        for (int t = 0; t < attention.tasks(); t++) {
            attention.backward(t, wb, qkv, out, lse, dout, dqkv);
        }
        return new float[][] {out, lse, dqkv};
    }
}
