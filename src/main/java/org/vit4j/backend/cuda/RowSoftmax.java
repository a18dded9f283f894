package org.vit4j.backend.cuda;

import org.vit4j.tensor.Tensor;

/**
 * {@code kernels/softmax.cu}: the row softmax {@code y = softmax(scale * x)} over the last
 * dimension and its backward {@code dx = scale * y * (dy - <y, dy>)}. Not a {@code Backend} op
 * (the model's attention is fused); the kernel benchmark times it on its own and as the middle
 * of the unfused attention path ({@link UnfusedAttention}).
 */
public final class RowSoftmax {
    private static final int ROWS_PER_BLOCK = KernelLaunch.BLOCK / 32;   // one warp per row

    private final CudaDevice device;
    private final KernelLibrary kernels;

    public RowSoftmax(CudaBackend backend) {
        this.device = backend.device();
        this.kernels = backend.kernels();
    }

    /** {@code y = softmax(scale * x)} over the last dimension of {@code x}; {@code y} must not alias {@code x}. */
    public void forward(Tensor x, Tensor y, float scale) {
        int cols = checkedCols("softmax forward", x, y);
        int rows = x.shape().rows();
        if (rows == 0 || cols == 0) {
            return;
        }
        launch("softmax_forward_f32", rows).ptr(x).ptr(y).i(rows).i(cols).f(scale).run();
    }

    /** {@code dx = scale * y * (dy - sum(y * dy))} per row, from the forward's output {@code y}. */
    public void backward(Tensor y, Tensor dy, Tensor dx, float scale) {
        int cols = checkedCols("softmax backward", y, dy);
        checkedCols("softmax backward", y, dx);
        int rows = y.shape().rows();
        if (rows == 0 || cols == 0) {
            return;
        }
        launch("softmax_backward_f32", rows).ptr(y).ptr(dy).ptr(dx).i(rows).i(cols).f(scale).run();
    }

    private static int checkedCols(String op, Tensor a, Tensor b) {
        if (!a.shape().equals(b.shape())) {
            throw new IllegalArgumentException(op + ": shapes differ, " + a.shape() + " and " + b.shape());
        }
        if (a.shape().rank() < 1) {
            throw new IllegalArgumentException(op + ": needs at least one dimension, got " + a.shape());
        }
        return a.shape().dim(-1);
    }

    /** softmax.cu's launch line: block 256 (8 rows), grid ceil(rows / 8). */
    private KernelLaunch launch(String kernel, int rows) {
        return new KernelLaunch(device, kernels, kernel).grid((rows + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK, 1, 1);
    }
}
