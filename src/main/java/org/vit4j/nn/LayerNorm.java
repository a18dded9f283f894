package org.vit4j.nn;

import org.vit4j.backend.Backend;
import org.vit4j.tensor.Tensor;

/** LayerNorm over the last dimension, saving mean and reciprocal standard deviation for backward. */
public final class LayerNorm extends Module {
    /** timm's ViT epsilon (PyTorch's default is 1e-5); pretrained timm weights expect it. */
    public static final float EPS = 1e-6f;
    /** PyTorch's default epsilon, which vit-pytorch and the 2020 tutorial ViT keep. */
    public static final float TORCH_EPS = 1e-5f;

    private final Parameter weight;
    private final Parameter bias;
    private final float eps;
    private Tensor x;

    public LayerNorm(Backend backend, int dim) {
        this(backend, dim, EPS);
    }

    public LayerNorm(Backend backend, int dim, float eps) {
        super(backend);
        this.weight = parameter("weight", false, dim);
        this.bias = parameter("bias", false, dim);
        this.eps = eps;
        backend.fill(weight.value(), 1f);
    }

    public Parameter weight() {
        return weight;
    }

    public Parameter bias() {
        return bias;
    }

    public Tensor forward(Tensor x) {
        this.x = x;
        int rows = x.shape().rows();
        Tensor y = acts.get("y", x.shape());
        backend.layerNormForward(x, weight.value(), bias.value(), eps, y, acts.get("mean", rows), acts.get("rstd", rows));
        return y;
    }

    public Tensor backward(Tensor dy) {
        int rows = x.shape().rows();
        Tensor dx = acts.get("dx", x.shape());
        backend.layerNormBackward(dy, x, weight.value(), acts.get("mean", rows), acts.get("rstd", rows),
                dx, weight.grad(), bias.grad());
        return dx;
    }
}
