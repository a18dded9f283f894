package org.vit4j.optim;

import org.vit4j.backend.Backend;
import org.vit4j.nn.Parameter;

import java.util.Collection;

/** {@code torch.nn.utils.clip_grad_norm_}: scales all gradients so their global L2 norm is at most a bound. */
public final class GradientClipping {
    private GradientClipping() {
    }

    /** Returns the global norm before clipping; scales the gradients only when it exceeds {@code maxNorm}. */
    public static double clipByGlobalNorm(Backend backend, Collection<Parameter> params, double maxNorm) {
        if (!(maxNorm > 0)) {
            throw new IllegalArgumentException("max gradient norm must be positive, got " + maxNorm);
        }
        double sum = 0;
        for (Parameter p : params) {
            sum += backend.sumOfSquares(p.grad());
        }
        double norm = Math.sqrt(sum);
        // PyTorch's clip coefficient, with its 1e-6 guard against division by a zero norm.
        double coef = maxNorm / (norm + 1e-6);
        if (coef < 1) {
            for (Parameter p : params) {
                backend.scale(p.grad(), (float) coef);
            }
        }
        return norm;
    }
}
