package org.vit4j.backend.cuda;

import org.vit4j.backend.OpChecks;

/** Launch geometry of {@code kernels/attention.cu}, as its {@code launch:} lines give it. */
record AttentionLaunch(int gridX, int gridY, int gridZ, int blockX, int sharedBytes) {

    static AttentionLaunch forward(OpChecks.AttentionDims d, int heads) {
        throw new UnsupportedOperationException("pending attention.cu");
    }

    static AttentionLaunch backward(OpChecks.AttentionDims d, int heads) {
        throw new UnsupportedOperationException("pending attention.cu");
    }

    CudaBackend.Launch apply(CudaBackend.Launch launch) {
        return launch.grid(gridX, gridY, gridZ).block(blockX, 1, 1).shared(sharedBytes);
    }
}
