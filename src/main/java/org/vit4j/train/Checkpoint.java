package org.vit4j.train;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.vit4j.backend.Backend;
import org.vit4j.data.Normalization;
import org.vit4j.io.SafeTensors;
import org.vit4j.nn.Parameter;
import org.vit4j.nn.ViTConfig;
import org.vit4j.nn.VisionTransformer;
import org.vit4j.optim.AdamW;
import org.vit4j.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A training checkpoint in safetensors: the weights ({@code model.<name>}, timm's names), the
 * AdamW moments ({@code optim.m.<name>}, {@code optim.v.<name>}) and, as metadata, the model
 * config, epochs completed, optimizer steps, the training options and, for prediction, the class
 * names and the normalisation of the training data. Written atomically.
 *
 * @param config        the model's shape
 * @param epoch         epochs completed
 * @param step          optimizer steps taken
 * @param training      the training options of the run that wrote it, as JSON (informational)
 * @param tensors       every stored tensor by name
 * @param classes       the class names, one per output; null in checkpoints written without them
 * @param normalization the per-channel statistics the training images were normalised with; null
 *                      in checkpoints written without them
 */
public record Checkpoint(ViTConfig config, int epoch, int step, String training,
                         Map<String, SafeTensors.Entry> tensors, List<String> classes, Normalization normalization) {
    public static final String FORMAT = "vit4j-checkpoint-1";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A checkpoint without class names or normalisation. */
    public Checkpoint(ViTConfig config, int epoch, int step, String training, Map<String, SafeTensors.Entry> tensors) {
        this(config, epoch, step, training, tensors, null, null);
    }

    /** Writes {@code model} and, when not null, {@code optimizer} to {@code file}. */
    public static void save(Path file, VisionTransformer model, AdamW optimizer, int epoch, String training)
            throws IOException {
        save(file, model, optimizer, epoch, training, null, null);
    }

    /**
     * Writes {@code model} and, when not null, {@code optimizer} to {@code file}, with the class
     * names and the normalisation of the training data when not null, so that the model can
     * later be applied to new images ({@code vit4j predict}) without the data set.
     */
    public static void save(Path file, VisionTransformer model, AdamW optimizer, int epoch, String training,
                            List<String> classes, Normalization normalization) throws IOException {
        Backend backend = model.backend();
        Map<String, SafeTensors.Entry> tensors = new LinkedHashMap<>();
        model.namedParameters().forEach((name, p) -> tensors.put("model." + name, entry(backend, p.value())));
        if (optimizer != null) {
            optimizer.firstMoments().forEach((name, t) -> tensors.put("optim.m." + name, entry(backend, t)));
            optimizer.secondMoments().forEach((name, t) -> tensors.put("optim.v." + name, entry(backend, t)));
        }
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", FORMAT);
        meta.put("config", JSON.writeValueAsString(model.config()));
        meta.put("epoch", Integer.toString(epoch));
        meta.put("step", Integer.toString(optimizer == null ? 0 : optimizer.stepCount()));
        if (training != null) {
            meta.put("training", training);
        }
        if (classes != null) {
            meta.put("classes", JSON.writeValueAsString(classes));
        }
        if (normalization != null) {
            meta.put("normalization", JSON.writeValueAsString(
                    Map.of("mean", normalization.mean(), "std", normalization.std())));
        }
        SafeTensors.write(file, tensors, meta);
    }

    private static SafeTensors.Entry entry(Backend backend, Tensor t) {
        return SafeTensors.Entry.f32(t.shape().dims(), backend.toArray(t));
    }

    public static Checkpoint load(Path file) throws IOException {
        return of(SafeTensors.read(file), file);
    }

    /** A checkpoint from a safetensors file already read ({@code file} names it in errors). */
    public static Checkpoint of(SafeTensors.Contents c, Path file) throws IOException {
        Map<String, String> meta = c.metadata();
        if (!FORMAT.equals(meta.get("format"))) {
            throw new IOException(file + ": not a vit4j checkpoint (metadata format is " + meta.get("format")
                    + ", expected " + FORMAT + ")");
        }
        ViTConfig config;
        try {
            config = JSON.readValue(meta.get("config"), ViTConfig.class);
        } catch (JsonProcessingException | IllegalArgumentException | NullPointerException e) {
            throw new IOException(file + ": checkpoint has an unreadable model config: " + e.getMessage(), e);
        }
        int epoch, step;
        try {
            epoch = Integer.parseInt(meta.get("epoch"));
            step = Integer.parseInt(meta.get("step"));
        } catch (NumberFormatException e) {
            throw new IOException(file + ": checkpoint has a malformed epoch or step: " + e.getMessage(), e);
        }
        return new Checkpoint(config, epoch, step, meta.get("training"), c.tensors(),
                classes(meta.get("classes"), config, file), normalization(meta.get("normalization"), config, file));
    }

    /** The optional class names: a JSON array of one string per class. */
    private static List<String> classes(String json, ViTConfig config, Path file) throws IOException {
        if (json == null) {
            return null;
        }
        List<String> names = new ArrayList<>();
        try {
            JsonNode array = JSON.readTree(json);
            if (array == null || !array.isArray()) {
                throw new IOException(file + ": checkpoint's class names are not a JSON array: " + json);
            }
            for (JsonNode n : array) {
                if (!n.isTextual()) {
                    throw new IOException(file + ": checkpoint's class names hold a non-string: " + n);
                }
                names.add(n.asText());
            }
        } catch (JsonProcessingException e) {
            throw new IOException(file + ": checkpoint has unreadable class names: " + e.getOriginalMessage(), e);
        }
        if (names.size() != config.numClasses()) {
            throw new IOException(file + ": checkpoint names " + names.size() + " classes but its model has "
                    + config.numClasses());
        }
        return List.copyOf(names);
    }

    /** The optional normalisation: {@code {"mean": [...], "std": [...]}}, one entry per input channel. */
    private static Normalization normalization(String json, ViTConfig config, Path file) throws IOException {
        if (json == null) {
            return null;
        }
        Normalization n;
        try {
            // Decimals read exactly, so each float comes back as the one that was written.
            JsonNode node = JSON.reader().with(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS).readTree(json);
            n = new Normalization(floats(node, "mean"), floats(node, "std"));
        } catch (JsonProcessingException e) {
            throw new IOException(file + ": checkpoint has an unreadable normalisation: " + e.getOriginalMessage(), e);
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": checkpoint has a bad normalisation " + json + ": " + e.getMessage(), e);
        }
        if (n.channels() != config.channels()) {
            throw new IOException(file + ": checkpoint's normalisation has " + n.channels() + " channels but its model takes "
                    + config.channels());
        }
        return n;
    }

    private static float[] floats(JsonNode node, String field) {
        JsonNode array = node == null ? null : node.get(field);
        if (array == null || !array.isArray()) {
            throw new IllegalArgumentException("no '" + field + "' array");
        }
        float[] f = new float[array.size()];
        for (int i = 0; i < f.length; i++) {
            if (!array.get(i).isNumber()) {
                throw new IllegalArgumentException("'" + field + "' holds a non-number: " + array.get(i));
            }
            f[i] = array.get(i).decimalValue().floatValue();
        }
        return f;
    }

    /** Fails with a message naming every field where {@code expected} differs from this checkpoint's config. */
    public void requireConfig(ViTConfig expected, Path file) throws IOException {
        if (config.equals(expected)) {
            return;
        }
        Map<String, Object> ours = JSON.convertValue(config, Map.class);
        Map<String, Object> theirs = JSON.convertValue(expected, Map.class);
        List<String> diffs = new ArrayList<>();
        ours.forEach((k, v) -> {
            if (!String.valueOf(v).equals(String.valueOf(theirs.get(k)))) {
                diffs.add(k + " " + v + " in the checkpoint vs " + theirs.get(k) + " requested");
            }
        });
        throw new IOException(file + ": checkpoint config does not match: " + String.join(", ", diffs));
    }

    /** Copies the weights into {@code model}, whose config must match; extra tensors are an error. */
    public void loadInto(VisionTransformer model, Path file) throws IOException {
        requireConfig(model.config(), file);
        Map<String, Parameter> params = model.namedParameters();
        for (Map.Entry<String, Parameter> e : params.entrySet()) {
            load(model.backend(), "model." + e.getKey(), e.getValue().value(), file);
        }
        for (String name : tensors.keySet()) {
            if (name.startsWith("model.") && !params.containsKey(name.substring("model.".length()))) {
                throw new IOException(file + ": checkpoint has tensor '" + name + "' that the model does not");
            }
        }
    }

    /** Restores the optimizer's moments and step count. */
    public void loadInto(AdamW optimizer, VisionTransformer model, Path file) throws IOException {
        Map<String, Tensor> m = optimizer.firstMoments(), v = optimizer.secondMoments();
        for (String name : m.keySet()) {
            load(model.backend(), "optim.m." + name, m.get(name), file);
            load(model.backend(), "optim.v." + name, v.get(name), file);
        }
        optimizer.setStepCount(step);
    }

    private void load(Backend backend, String name, Tensor into, Path file) throws IOException {
        SafeTensors.Entry e = tensors.get(name);
        if (e == null) {
            throw new IOException(file + ": checkpoint lacks tensor '" + name + "'");
        }
        if (!java.util.Arrays.equals(e.shape(), into.shape().dims()) || e.floats() == null) {
            throw new IOException(file + ": tensor '" + name + "' is " + e.dtype() + java.util.Arrays.toString(e.shape())
                    + ", expected F32" + into.shape());
        }
        backend.upload(e.floats(), into);
    }
}
