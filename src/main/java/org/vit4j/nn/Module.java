package org.vit4j.nn;

import org.vit4j.backend.Backend;
import org.vit4j.tensor.Shape;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A piece of the model with its parameters, child modules and activation buffers. Forward and
 * backward are written by hand in each subclass (there is no autograd tape): a module keeps
 * what its backward needs from the last forward.
 */
public abstract class Module implements AutoCloseable {
    protected final Backend backend;
    protected final Activations acts;
    private final Map<String, Parameter> params = new LinkedHashMap<>();
    private final Map<String, Module> children = new LinkedHashMap<>();
    private boolean training = true;

    protected Module(Backend backend) {
        this.backend = backend;
        this.acts = new Activations(backend);
    }

    /** The backend this module's tensors live on. */
    public final Backend backend() {
        return backend;
    }

    protected final Parameter parameter(String name, boolean weightDecay, int... dims) {
        Parameter p = new Parameter(backend, name, Shape.of(dims), weightDecay);
        params.put(name, p);
        return p;
    }

    protected final <M extends Module> M child(String name, M module) {
        children.put(name, module);
        return module;
    }

    /** Every parameter of this module and its children, by dotted name, in registration order. */
    public final Map<String, Parameter> namedParameters() {
        Map<String, Parameter> out = new LinkedHashMap<>();
        collect("", out);
        return out;
    }

    public final List<Parameter> parameters() {
        return new ArrayList<>(namedParameters().values());
    }

    /** Every descendant module by dotted path (PyTorch's {@code named_modules}, without the root). */
    public final Map<String, Module> namedModules() {
        Map<String, Module> out = new LinkedHashMap<>();
        children.forEach((name, m) -> {
            out.put(name, m);
            m.namedModules().forEach((sub, mm) -> out.put(name + "." + sub, mm));
        });
        return out;
    }

    private void collect(String prefix, Map<String, Parameter> out) {
        params.forEach((name, p) -> out.put(prefix + name, p));
        children.forEach((name, m) -> m.collect(prefix + name + ".", out));
    }

    public final long parameterCount() {
        return namedParameters().values().stream().mapToLong(p -> p.shape().numel()).sum();
    }

    /** Training mode enables dropout; evaluation mode turns it off. */
    public final void train(boolean on) {
        training = on;
        children.values().forEach(m -> m.train(on));
    }

    public final boolean isTraining() {
        return training;
    }

    @Override
    public void close() {
        children.values().forEach(Module::close);
        params.values().forEach(Parameter::close);
        acts.close();
    }
}
