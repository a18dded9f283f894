package org.vit4j.train;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.vit4j.backend.Backend;
import org.vit4j.data.Dataset;
import org.vit4j.data.Normalization;
import org.vit4j.io.IoErrors;
import org.vit4j.io.SafeTensors;
import org.vit4j.nn.Parameter;
import org.vit4j.nn.ViTConfig;
import org.vit4j.nn.VisionTransformer;
import org.vit4j.optim.AdamW;
import org.vit4j.tensor.Tensor;

import java.io.IOException;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

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
 * @param result        the last epoch's {@link EpochResult} without timings ({@link MetricsFile#stateLine}),
 *                      or null: what a resumed run's metrics file gets back if a crash lost it
 */
public record Checkpoint(ViTConfig config, int epoch, int step, String training,
                         Map<String, SafeTensors.Entry> tensors, List<String> classes, Normalization normalization,
                         String result) {
    public static final String FORMAT = "vit4j-checkpoint-1";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A checkpoint without class names or normalisation. */
    public Checkpoint(ViTConfig config, int epoch, int step, String training, Map<String, SafeTensors.Entry> tensors) {
        this(config, epoch, step, training, tensors, null, null, null);
    }

    /**
     * Writes {@code model}'s weights and config to {@code file} with the class names and
     * normalisation of {@code trainedOn}, the data it was trained on: what {@link #loadModel} and
     * {@code vit4j predict} need, without optimizer state.
     */
    public static void save(Path file, VisionTransformer model, Dataset trainedOn) throws IOException {
        save(file, model, null, 0, null, trainedOn.classes(), trainedOn.normalization());
    }

    /**
     * A new model on {@code backend} with the weights in {@code file}: a vit4j checkpoint, or a timm
     * or vit-pytorch ViT in safetensors (see {@link WeightsFile}). The caller closes it.
     */
    public static VisionTransformer loadModel(Backend backend, Path file) throws IOException {
        return WeightsFile.read(file, null).newModel(backend, file);
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
        save(file, model, optimizer, epoch, null, training, classes, normalization, UnaryOperator.identity());
    }

    /** A training run's checkpoint after the epoch {@code result} reports, which it records too. */
    public static void save(Path file, VisionTransformer model, AdamW optimizer, EpochResult result, String training,
                            List<String> classes, Normalization normalization) throws IOException {
        save(file, model, optimizer, result.epoch(), MetricsFile.stateLine(result), training, classes, normalization,
                UnaryOperator.identity());
    }

    /**
     * As {@link #save(Path, VisionTransformer, AdamW, int, String, List, Normalization)}, every byte
     * going through {@code through} (fault-injection tests interrupt the write with it).
     */
    static void save(Path file, VisionTransformer model, AdamW optimizer, int epoch, String result, String training,
                     List<String> classes, Normalization normalization,
                     UnaryOperator<WritableByteChannel> through) throws IOException {
        Backend backend = model.backend();
        // Each tensor is copied to the host only when the writer reaches it: one host copy at a time.
        Map<String, SafeTensors.Source> tensors = new LinkedHashMap<>();
        model.namedParameters().forEach((name, p) -> tensors.put("model." + name, deferred(backend, p.value())));
        if (optimizer != null) {
            optimizer.firstMoments().forEach((name, t) -> tensors.put("optim.m." + name, deferred(backend, t)));
            optimizer.secondMoments().forEach((name, t) -> tensors.put("optim.v." + name, deferred(backend, t)));
        }
        Map<String, String> meta = metadata(model.config(), epoch, optimizer == null ? 0 : optimizer.stepCount(),
                training, classes, normalization);
        if (result != null) {
            meta.put("result", result);
        }
        SafeTensors.write(file, tensors, meta, through);
    }

    /** The bytes {@link #save} writes for this model and optimizer: what the target's file system must hold. */
    public static long fileSize(VisionTransformer model, AdamW optimizer) {
        long values = model.parameterCount();
        if (optimizer != null) {
            for (Tensor t : optimizer.firstMoments().values()) {
                values += 2 * t.shape().numel();
            }
        }
        // The header: about 150 bytes a tensor and the metadata, rounded well up.
        return 4 * values + 256L * (model.namedParameters().size() * 3L + 16);
    }

    private static Map<String, String> metadata(ViTConfig config, int epoch, int step, String training,
                                                List<String> classes, Normalization normalization)
            throws JsonProcessingException {
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", FORMAT);
        meta.put("config", JSON.writeValueAsString(config));
        meta.put("epoch", Integer.toString(epoch));
        meta.put("step", Integer.toString(step));
        if (training != null) {
            meta.put("training", training);
        }
        if (classes != null) {
            meta.put("classes", JSON.writeValueAsString(classes));
        }
        if (normalization != null) {
            Map<String, float[]> n = new LinkedHashMap<>();     // a fixed order: same state, same bytes
            n.put("mean", normalization.mean());
            n.put("std", normalization.std());
            meta.put("normalization", JSON.writeValueAsString(n));
        }
        return meta;
    }

    private static SafeTensors.Deferred deferred(Backend backend, Tensor t) {
        return new SafeTensors.Deferred(t.shape().dims(), () -> backend.toArray(t));
    }

    /** The data set the run's training options name ({@code mnist}, {@code cifar10}...), or null. */
    public String dataset() {
        if (training == null) {
            return null;
        }
        try {
            JsonNode d = JSON.readTree(training).get("dataset");
            return d == null || !d.isTextual() ? null : d.asText();
        } catch (JsonProcessingException e) {
            return null;                                // options that do not parse name no data set
        }
    }

    public static Checkpoint load(Path file) throws IOException {
        return of(SafeTensors.read(file), file);
    }

    /** A checkpoint from a safetensors file already read ({@code file} names it in errors). */
    public static Checkpoint of(SafeTensors.Contents c, Path file) throws IOException {
        Map<String, String> meta = c.metadata();
        if (!FORMAT.equals(meta.get("format"))) {
            throw new IOException(file + ": not a vit4j checkpoint (metadata format is " + (meta.get("format") == null ? null : IoErrors.quote(meta.get("format")))
                    + ", expected " + FORMAT + ")");
        }
        ViTConfig config = config(meta.get("config"), file, "checkpoint");
        int epoch, step;
        try {
            epoch = Integer.parseInt(meta.get("epoch"));
            step = Integer.parseInt(meta.get("step"));
        } catch (NumberFormatException e) {
            throw new IOException(file + ": checkpoint has a malformed epoch or step: " + e.getMessage(), e);
        }
        if (epoch < 0 || step < 0) {
            throw new IOException(file + ": checkpoint has a negative " + (epoch < 0 ? "epoch " + epoch : "step " + step)
                    + "; the epochs and steps completed are at least 0");
        }
        requireTensors(c.tensors(), config, file);
        return new Checkpoint(config, epoch, step, meta.get("training"), c.tensors(),
                classes(meta.get("classes"), config, file, "checkpoint"),
                normalization(meta.get("normalization"), config, file, "checkpoint"),
                meta.get("result"));
    }

    /**
     * A model config as checkpoints record it (JSON); {@code what} names the record in errors
     * ({@code checkpoint}, or an exported file's {@code vit4j metadata}).
     */
    static ViTConfig config(String json, Path file, String what) throws IOException {
        try {
            return JSON.readValue(json, ViTConfig.class);
        } catch (JsonProcessingException e) {
            throw new IOException(file + ": " + what + " has an unreadable model config: " + e.getOriginalMessage(), e);
        } catch (IllegalArgumentException | NullPointerException e) {
            throw new IOException(file + ": " + what + " has an unreadable model config: " + e.getMessage(), e);
        }
    }

    /**
     * The tensors must be exactly the config's parameters ({@code model.<name>}, F32, of its
     * shapes), optionally with both AdamW moments of some of them, every value finite and every
     * second moment non-negative: checked before any model is built for the file.
     */
    private static void requireTensors(Map<String, SafeTensors.Entry> tensors, ViTConfig config, Path file)
            throws IOException {
        Map<String, int[]> shapes;
        try {
            shapes = VisionTransformer.parameterShapes(config);
        } catch (IllegalArgumentException | ArithmeticException e) {
            throw new IOException(file + ": checkpoint's config " + config + " is too large to build: " + e.getMessage(), e);
        }
        for (Map.Entry<String, int[]> p : shapes.entrySet()) {
            requireTensor(tensors, "model." + p.getKey(), p.getValue(), file);
        }
        for (Map.Entry<String, SafeTensors.Entry> e : tensors.entrySet()) {
            String name = e.getKey();
            String param = name.startsWith("model.") ? name.substring(6)
                    : name.startsWith("optim.m.") || name.startsWith("optim.v.") ? name.substring(8) : null;
            if (param == null || !shapes.containsKey(param)) {
                throw new IOException(file + ": checkpoint has tensor " + IoErrors.quote(name) + " that the model does not");
            }
            if (name.startsWith("optim.")) {
                requireTensor(tensors, name, shapes.get(param), file);
                String other = (name.startsWith("optim.m.") ? "optim.v." : "optim.m.") + param;
                if (!tensors.containsKey(other)) {
                    throw new IOException(file + ": checkpoint has " + IoErrors.quote(name) + " but lacks tensor " + IoErrors.quote(other) + "");
                }
            }
            requireFinite(e.getValue().floats(), name, name.startsWith("optim.v."), file);
        }
    }

    private static void requireTensor(Map<String, SafeTensors.Entry> tensors, String name, int[] shape, Path file)
            throws IOException {
        SafeTensors.Entry e = tensors.get(name);
        if (e == null) {
            throw new IOException(file + ": checkpoint lacks tensor " + IoErrors.quote(name) + "");
        }
        if (!java.util.Arrays.equals(e.shape(), shape) || e.floats() == null) {
            throw new IOException(file + ": tensor " + IoErrors.quote(name) + " is " + e.dtype() + java.util.Arrays.toString(e.shape())
                    + ", expected F32" + java.util.Arrays.toString(shape));
        }
    }

    /** Weights and moments must be finite (a NaN trains and predicts nothing); second moments also >= 0. */
    private static void requireFinite(float[] values, String name, boolean nonNegative, Path file) throws IOException {
        for (int i = 0; i < values.length; i++) {
            float v = values[i];
            if (!Float.isFinite(v) || (nonNegative && v < 0)) {
                throw new IOException(file + ": tensor " + IoErrors.quote(name) + " holds " + v + " at index " + i + " of " + values.length
                        + (Float.isFinite(v) ? " (a second moment is never negative)" : "; the checkpoint is damaged"
                        + " (or its run diverged)"));
            }
        }
    }

    /** The optional class names: a JSON array of one string per class ({@code what} names the record in errors). */
    static List<String> classes(String json, ViTConfig config, Path file, String what) throws IOException {
        if (json == null) {
            return null;
        }
        List<String> names = new ArrayList<>();
        try {
            JsonNode array = JSON.readTree(json);
            if (array == null || !array.isArray()) {
                throw new IOException(file + ": " + what + "'s class names are not a JSON array: " + IoErrors.quote(json));
            }
            for (JsonNode n : array) {
                if (!n.isTextual()) {
                    throw new IOException(file + ": " + what + "'s class names hold a non-string: " + n);
                }
                names.add(n.asText());
            }
        } catch (JsonProcessingException e) {
            throw new IOException(file + ": " + what + " has unreadable class names: " + e.getOriginalMessage(), e);
        }
        if (names.size() != config.numClasses()) {
            throw new IOException(file + ": " + what + " names " + names.size() + " classes but its model has "
                    + config.numClasses());
        }
        return List.copyOf(names);
    }

    /** The optional normalisation: {@code {"mean": [...], "std": [...]}}, one entry per input channel. */
    static Normalization normalization(String json, ViTConfig config, Path file, String what) throws IOException {
        if (json == null) {
            return null;
        }
        Normalization n;
        try {
            // Decimals read exactly, so each float comes back as the one that was written.
            JsonNode node = JSON.reader().with(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS).readTree(json);
            n = new Normalization(floats(node, "mean"), floats(node, "std"));
        } catch (JsonProcessingException e) {
            throw new IOException(file + ": " + what + " has an unreadable normalisation: " + e.getOriginalMessage(), e);
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + what + " has a bad normalisation " + IoErrors.quote(json) + ": " + e.getMessage(), e);
        }
        if (n.channels() != config.channels()) {
            throw new IOException(file + ": " + what + "'s normalisation has " + n.channels() + " channels but its model takes "
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
                throw new IOException(file + ": checkpoint has tensor " + IoErrors.quote(name) + " that the model does not");
            }
        }
    }

    /**
     * Restores the optimizer's moments and step count. The optimizer must train exactly the
     * parameters the checkpoint's run trained: a checkpoint without optimizer state, or with state
     * for other parameters (another {@code --freeze-blocks}), is refused with the reason.
     */
    public void loadInto(AdamW optimizer, VisionTransformer model, Path file) throws IOException {
        Map<String, Tensor> m = optimizer.firstMoments(), v = optimizer.secondMoments();
        java.util.Set<String> saved = new java.util.TreeSet<>();
        for (String name : tensors.keySet()) {
            if (name.startsWith("optim.m.")) {
                saved.add(name.substring(8));
            }
        }
        if (saved.isEmpty() && !m.isEmpty()) {
            throw new IOException(file + ": checkpoint holds weights only, no optimizer state to resume; start a new "
                    + "run from its weights with --init");
        }
        if (!saved.equals(new java.util.TreeSet<>(m.keySet()))) {
            java.util.Set<String> frozenThen = new java.util.TreeSet<>(m.keySet());
            frozenThen.removeAll(saved);
            java.util.Set<String> frozenNow = new java.util.TreeSet<>(saved);
            frozenNow.removeAll(m.keySet());
            String recorded = recordedFreezeBlocks();
            throw new IOException(file + ": the run that wrote this checkpoint trained other parameters than this one"
                    + " would (" + (frozenThen.isEmpty() ? "" : "frozen then, trained now: " + first(frozenThen))
                    + (frozenThen.isEmpty() || frozenNow.isEmpty() ? "" : "; ")
                    + (frozenNow.isEmpty() ? "" : "trained then, frozen now: " + first(frozenNow)) + "); resume with"
                    + " the run's --freeze-blocks" + (recorded == null ? "" : " " + recorded));
        }
        for (String name : m.keySet()) {
            load(model.backend(), "optim.m." + name, m.get(name), file);
            load(model.backend(), "optim.v." + name, v.get(name), file);
        }
        optimizer.setStepCount(step);
    }

    private static String first(java.util.Set<String> names) {
        return names.size() <= 3 ? String.join(", ", names)
                : String.join(", ", new ArrayList<>(names).subList(0, 3)) + " and " + (names.size() - 3) + " more";
    }

    /** The --freeze-blocks of the run, from its training options, or null. */
    private String recordedFreezeBlocks() {
        try {
            JsonNode n = training == null ? null : JSON.readTree(training).get("freezeBlocks");
            return n == null ? null : n.asText();
        } catch (JsonProcessingException e) {
            return null;
        }
    }

    private void load(Backend backend, String name, Tensor into, Path file) throws IOException {
        SafeTensors.Entry e = tensors.get(name);
        if (e == null) {
            throw new IOException(file + ": checkpoint lacks tensor " + IoErrors.quote(name) + "");
        }
        if (!java.util.Arrays.equals(e.shape(), into.shape().dims()) || e.floats() == null) {
            throw new IOException(file + ": tensor " + IoErrors.quote(name) + " is " + e.dtype() + java.util.Arrays.toString(e.shape())
                    + ", expected F32" + into.shape());
        }
        backend.upload(e.floats(), into);
    }
}
