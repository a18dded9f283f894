package org.vit4j.nn;

/** Hands each dropout layer a fresh seed per training step, derived from one step seed. */
public final class DropoutSeeds {
    private long stepSeed;
    private long layers;

    long nextLayerId() {
        return layers++;
    }

    /** Sets the seed for the coming forward pass; the trainer derives it from the run seed and step. */
    public void setStepSeed(long stepSeed) {
        this.stepSeed = stepSeed;
    }

    long seedFor(long layerId) {
        long z = stepSeed ^ (layerId + 1) * 0xD1B54A32D192ED03L;
        z = (z ^ (z >>> 32)) * 0xDABA0B6EB09322E3L;
        return z ^ (z >>> 29);
    }
}
