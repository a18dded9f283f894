package org.vit4j.nn;

import org.vit4j.backend.Backend;
import org.vit4j.tensor.DType;
import org.vit4j.tensor.Shape;
import org.vit4j.tensor.Tensor;

import java.util.HashMap;
import java.util.Map;

/**
 * The buffers a module writes its outputs and saved state into. Each buffer is allocated the
 * first time it is asked for and grown only when a larger batch arrives; smaller batches get a
 * view of it, so a training step allocates no memory.
 */
final class Activations implements AutoCloseable {
    private final Backend backend;
    private final Map<String, Tensor> buffers = new HashMap<>();

    Activations(Backend backend) {
        this.backend = backend;
    }

    Tensor get(String key, int... dims) {
        return get(key, DType.F32, Shape.of(dims));
    }

    Tensor get(String key, Shape shape) {
        return get(key, DType.F32, shape);
    }

    Tensor get(String key, DType dtype, Shape shape) {
        Tensor buffer = buffers.get(key);
        if (buffer == null || buffer.capacity() < shape.numel()) {
            if (buffer != null) {
                buffer.close();
            }
            buffer = backend.allocate(dtype, shape);
            buffers.put(key, buffer);
        }
        return buffer.shape().equals(shape) ? buffer : buffer.view(shape);
    }

    @Override
    public void close() {
        buffers.values().forEach(Tensor::close);
        buffers.clear();
    }
}
