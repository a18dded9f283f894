package org.vit4j.nn;

import org.vit4j.backend.Backend;
import org.vit4j.tensor.Tensor;

/**
 * Inverted dropout, active in training mode only. The mask comes from the backend's
 * counter-based hash of (seed, index); each layer's seed mixes the step's seed (from the
 * model's {@link DropoutSeeds}) with the layer's own id, so runs are reproducible and resumable.
 */
public final class Dropout extends Module {
    private final float p;
    private final DropoutSeeds seeds;
    private final long layerId;
    private long seed;
    private boolean applied;

    public Dropout(Backend backend, float p, DropoutSeeds seeds) {
        super(backend);
        if (!(p >= 0f && p < 1f)) {
            throw new IllegalArgumentException("dropout probability must be in [0, 1), got " + p);
        }
        this.p = p;
        this.seeds = seeds;
        this.layerId = seeds.nextLayerId();
    }

    /** The probability of dropping an element. */
    float p() {
        return p;
    }

    /** The seed this layer draws its mask with in the coming forward (for ops that drop inside, as attention). */
    long stepSeed() {
        return seeds.seedFor(layerId);
    }

    /** This layer's id among the model's dropout layers, mixed into its seed. */
    long layerId() {
        return layerId;
    }

    public Tensor forward(Tensor x) {
        applied = isTraining() && p > 0f;
        if (!applied) {
            return x;
        }
        seed = seeds.seedFor(layerId);
        Tensor y = acts.get("y", x.shape());
        backend.dropoutForward(x, p, seed, y);
        return y;
    }

    public Tensor backward(Tensor dy) {
        if (!applied) {
            return dy;
        }
        Tensor dx = acts.get("dx", dy.shape());
        backend.dropoutBackward(dy, p, seed, dx);
        return dx;
    }
}
