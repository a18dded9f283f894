package org.vit4j.backend.cuda;

import org.vit4j.backend.OpChecks;

/**
 * Launch geometry of {@code kernels/attention.cu}: the same integer formulas as its
 * {@code attn_config}, which re-derives them on the device and traps on any mismatch, so a
 * drift between the two fails loudly. A block owns up to 256 / G rows of P packed (image, head)
 * pairs and streams the other operand through at most 32 KiB of shared memory.
 */
record AttentionLaunch(int gridX, int gridY, int gridZ, int blockX, int sharedBytes) {
    private static final int THREADS = 256;
    private static final int SMEM_FLOATS = 8192;

    static AttentionLaunch forward(OpChecks.AttentionDims d, int heads) {
        return of(d, heads, 1);
    }

    /** The backward's z = 0 half computes dQ, the z = 1 half dK and dV, over the same tiling. */
    static AttentionLaunch backward(OpChecks.AttentionDims d, int heads) {
        return of(d, heads, 2);
    }

    private static AttentionLaunch of(OpChecks.AttentionDims d, int heads, int gridZ) {
        int n = d.tokens(), hd = d.headDim();
        if (hd < 1 || hd > 128 || n < 1 || d.batch() < 1) {
            throw new IllegalArgumentException("attention kernel: needs head dim 1..128, tokens and batch >= 1; got "
                    + d);
        }
        int hdp = hd <= 8 ? 8 : hd <= 16 ? 16 : hd <= 32 ? 32 : hd <= 64 ? 64 : 128;
        int g = hdp <= 16 ? 1 : hdp / 16;
        int rowF = 2 * hdp + 2;
        int slots = THREADS / g;
        int pairs = Math.max(1, Math.min(slots / n, SMEM_FLOATS / (((n + 1) / 2 * 2) * rowF + 4)));
        int nt = cdiv(n, slots);
        int ot = cdiv(n, nt);
        int block = cdiv(pairs * ot * g, 32) * 32;
        int stMax = ((SMEM_FLOATS / pairs - 4) / rowF) / 2 * 2;
        int st = cdiv(n, cdiv(n, stMax));
        int sta = (st + 1) / 2 * 2;
        int shared = 4 * pairs * (sta * rowF + 4);
        int gridX = cdiv(d.batch() * heads, pairs);
        return new AttentionLaunch(gridX, nt, gridZ, block, shared);
    }

    private static int cdiv(int a, int b) {
        return (a + b - 1) / b;
    }

    KernelLaunch apply(KernelLaunch launch) {
        return launch.grid(gridX, gridY, gridZ).block(blockX, 1, 1).shared(sharedBytes);
    }
}
