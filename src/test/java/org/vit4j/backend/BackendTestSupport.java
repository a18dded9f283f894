package org.vit4j.backend;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.vit4j.tensor.DType;
import org.vit4j.tensor.Shape;
import org.vit4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

import static org.vit4j.backend.GradCheck.nan;

/**
 * What every backend test class shares: one backend per class, tensors freed after each test,
 * and helpers to make input, label and NaN-poisoned output tensors and read them back.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public abstract class BackendTestSupport {

    /** The backend under test; called once per test class. */
    protected abstract Backend createBackend();

    protected Backend backend;
    protected final List<Tensor> allocated = new ArrayList<>();

    @BeforeAll
    final void openBackend() {
        backend = createBackend();
    }

    @AfterAll
    final void closeBackend() {
        if (backend != null) {
            backend.close();
        }
        System.out.println(GradCheck.table(getClass().getSimpleName()));
    }

    @AfterEach
    final void freeTensors() {
        for (Tensor t : allocated) {
            t.close();
        }
        allocated.clear();
    }

    protected Tensor alloc(int... dims) {
        Tensor t = backend.allocate(DType.F32, Shape.of(dims));
        allocated.add(t);
        return t;
    }

    protected Tensor tensor(float[] data, int... dims) {
        Tensor t = alloc(dims);
        backend.upload(data, t);
        return t;
    }

    protected Tensor labels(int[] data) {
        Tensor t = backend.allocate(DType.I32, Shape.of(data.length));
        allocated.add(t);
        backend.upload(data, t);
        return t;
    }

    /** A NaN-filled tensor, so an op that forgets to write an element is caught. */
    protected Tensor poisoned(int... dims) {
        return tensor(nan(Math.toIntExact(Shape.of(dims).numel())), dims);
    }

    protected float[] get(Tensor t) {
        backend.synchronize();
        return backend.toArray(t);
    }
}
