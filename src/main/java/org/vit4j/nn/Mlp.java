package org.vit4j.nn;

import org.vit4j.backend.Backend;
import org.vit4j.tensor.Tensor;

/** {@code fc2(dropout(gelu(fc1(x))))}, then dropout: the transformer MLP, and the tutorial's MLP head. */
public final class Mlp extends Module {
    private final Linear fc1;
    private final Linear fc2;
    private final Dropout drop1;
    private final Dropout drop2;
    private Tensor hidden;

    public Mlp(Backend backend, int in, int hidden, int out, float dropout, DropoutSeeds seeds) {
        super(backend);
        this.fc1 = child("fc1", new Linear(backend, in, hidden, true));
        this.fc2 = child("fc2", new Linear(backend, hidden, out, true));
        this.drop1 = child("drop1", new Dropout(backend, dropout, seeds));
        this.drop2 = child("drop2", new Dropout(backend, dropout, seeds));
    }

    public Tensor forward(Tensor x) {
        hidden = fc1.forward(x);
        Tensor g = acts.get("gelu", hidden.shape());
        backend.geluForward(hidden, g);
        return drop2.forward(fc2.forward(drop1.forward(g)));
    }

    public Tensor backward(Tensor dy) {
        Tensor dg = drop1.backward(fc2.backward(drop2.backward(dy), true));
        Tensor dh = acts.get("dhidden", hidden.shape());
        backend.geluBackward(dg, hidden, dh);
        return fc1.backward(dh, true);
    }
}
