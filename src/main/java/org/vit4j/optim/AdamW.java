package org.vit4j.optim;

import org.vit4j.backend.Backend;
import org.vit4j.nn.Parameter;
import org.vit4j.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * AdamW as {@code torch.optim.AdamW} (decoupled weight decay, bias-corrected moments); with
 * weight decay 0 it is Adam. Weight decay applies only to parameters that ask for it (weight
 * matrices), as timm does. Each step zeroes the gradients it consumed.
 */
public final class AdamW implements AutoCloseable {
    private final Backend backend;
    private final Map<String, Parameter> params;
    private final Map<String, Tensor> m = new LinkedHashMap<>();
    private final Map<String, Tensor> v = new LinkedHashMap<>();
    private final float beta1;
    private final float beta2;
    private final float eps;
    private final float weightDecay;
    private int step;

    public AdamW(Backend backend, Map<String, Parameter> params, float beta1, float beta2, float eps, float weightDecay) {
        if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1)) {
            throw new IllegalArgumentException("betas must be in [0, 1), got " + beta1 + ", " + beta2);
        }
        if (!(eps > 0) || !(weightDecay >= 0)) {
            throw new IllegalArgumentException("eps must be > 0 and weight decay >= 0, got " + eps + ", " + weightDecay);
        }
        this.backend = backend;
        this.params = new LinkedHashMap<>(params);
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        params.forEach((name, p) -> {
            m.put(name, backend.allocate(p.value().dtype(), p.shape()));
            v.put(name, backend.allocate(p.value().dtype(), p.shape()));
        });
    }

    /** PyTorch's defaults: betas (0.9, 0.999), eps 1e-8. */
    public static AdamW withDefaults(Backend backend, Map<String, Parameter> params, float weightDecay) {
        return new AdamW(backend, params, 0.9f, 0.999f, 1e-8f, weightDecay);
    }

    /** One update of every parameter with learning rate {@code lr}. */
    public void step(float lr) {
        step++;
        params.forEach((name, p) -> backend.adamwStep(p.value(), p.grad(), m.get(name), v.get(name), lr,
                beta1, beta2, eps, p.weightDecay() ? weightDecay : 0f, step));
    }

    /** Steps taken so far (restored from a checkpoint on resume). */
    public int stepCount() {
        return step;
    }

    public void setStepCount(int step) {
        this.step = step;
    }

    /** First moments by parameter name (for checkpoints). */
    public Map<String, Tensor> firstMoments() {
        return m;
    }

    /** Second moments by parameter name (for checkpoints). */
    public Map<String, Tensor> secondMoments() {
        return v;
    }

    @Override
    public void close() {
        m.values().forEach(Tensor::close);
        v.values().forEach(Tensor::close);
    }
}
