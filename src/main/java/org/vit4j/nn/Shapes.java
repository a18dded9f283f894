package org.vit4j.nn;

import org.vit4j.tensor.Shape;

final class Shapes {
    private Shapes() {
    }

    /** {@code shape} with its last dimension replaced by {@code last}. */
    static Shape withLast(Shape shape, int last) {
        int[] dims = shape.dims();
        dims[dims.length - 1] = last;
        return Shape.of(dims);
    }
}
