package org.vit4j.train;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.vit4j.backend.Backend;
import org.vit4j.data.Normalization;
import org.vit4j.io.SafeTensors;
import org.vit4j.nn.Pretrained;
import org.vit4j.nn.TimmWeights;
import org.vit4j.nn.ViTConfig;
import org.vit4j.nn.VisionTransformer;
import org.vit4j.nn.VitPytorchWeights;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A weights file for a new model: a vit4j checkpoint, a timm safetensors file or a vit-pytorch
 * {@code state_dict} in safetensors, told apart by the checkpoint's format metadata and the
 * tensor names. What {@code train --init}, {@code --teacher}, {@code predict} and {@code eval} read,
 * and what {@code export} writes ({@link #write}).
 *
 * <p>A timm or vit-pytorch file that vit4j exported records, in its safetensors
 * {@code __metadata__}, the model config ({@value #CONFIG}: the JSON a checkpoint records), the class
 * names ({@value #CLASSES}) and the normalisation ({@value #NORMALIZATION}) when known. Those are
 * used when present: the number of heads and the architecture are not visible in the shapes. A
 * file without them gets a config inferred from its shapes, and a one-line warning when the
 * number of heads is a guess.
 *
 * @param config         the model's shape: a checkpoint's or export's recorded config, or inferred from a file's shapes
 * @param tensors        the weights under vit4j's names and shapes
 * @param checkpoint     the checkpoint, or null for a timm or vit-pytorch file
 * @param kind           which of the three the file is
 * @param classes        the class names the file records, or null
 * @param normalization  the normalisation of the training images the file records, or null
 * @param configRecorded whether {@code config} is recorded in the file (a checkpoint, or a vit4j export) rather than inferred
 */
public record WeightsFile(ViTConfig config, Map<String, SafeTensors.Entry> tensors, Checkpoint checkpoint, Kind kind,
                          List<String> classes, Normalization normalization, boolean configRecorded) {
    /** Metadata key of the vit4j config in an exported timm or vit-pytorch file. */
    public static final String CONFIG = "vit4j.config";
    /** Metadata key of the class names (a JSON array) in an exported file. */
    public static final String CLASSES = "vit4j.classes";
    /** Metadata key of the normalisation ({@code {"mean": [...], "std": [...]}}) in an exported file. */
    public static final String NORMALIZATION = "vit4j.normalization";
    private static final String METADATA = "vit4j metadata";
    private static final Logger LOG = LoggerFactory.getLogger(WeightsFile.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Which of the three formats a weights file is. */
    public enum Kind {
        CHECKPOINT("vit4j checkpoint"), TIMM("timm ViT"), VIT_PYTORCH("vit-pytorch ViT");

        private final String label;

        Kind(String label) {
            this.label = label;
        }

        @Override
        public String toString() {
            return label;
        }
    }

    /** What {@link #write} writes: timm's names, vit-pytorch's, or a vit4j checkpoint. */
    public enum Format {
        TIMM("timm"), VIT_PYTORCH("vit-pytorch"), VIT4J("vit4j");

        private final String label;

        Format(String label) {
            this.label = label;
        }

        @Override
        public String toString() {
            return label;
        }

        /** The format named {@code s} (case-insensitive). */
        public static Format parse(String s) {
            for (Format f : values()) {
                if (f.label.equalsIgnoreCase(s)) {
                    return f;
                }
            }
            throw new IllegalArgumentException("--format must be timm, vit4j or vit-pytorch, got " + s);
        }
    }

    /**
     * Reads {@code file}; {@code heads} is for timm and vit-pytorch files that record no config
     * and whose heads are not 64 wide (null: infer). A file that records its config must agree
     * with {@code heads} when given.
     */
    public static WeightsFile read(Path file, Integer heads) throws IOException {
        SafeTensors.Contents contents = SafeTensors.read(file);
        Map<String, String> meta = contents.metadata();
        if (Checkpoint.FORMAT.equals(meta.get("format"))) {
            Checkpoint ckpt = Checkpoint.of(contents, file);
            requireHeads(ckpt.config(), heads, file);
            return new WeightsFile(ckpt.config(), Pretrained.fromCheckpoint(contents.tensors()), ckpt, Kind.CHECKPOINT,
                    ckpt.classes(), ckpt.normalization(), true);
        }
        boolean vitPytorch = VitPytorchWeights.isVitPytorch(contents.tensors());
        if (!vitPytorch) {
            requireFinite(contents.tensors(), file);
        }
        String recordedJson = meta.get(CONFIG);
        // vit4j's first exports wrote the config's toString there: no JSON, so as good as none
        boolean legacy = recordedJson != null && recordedJson.startsWith("ViTConfig[");
        ViTConfig recorded = recordedJson != null && !legacy ? Checkpoint.config(recordedJson, file, METADATA) : null;
        ViTConfig config;
        if (recorded != null) {
            requireHeads(recorded, heads, file);
            ViTConfig shapes = vitPytorch ? VitPytorchWeights.inferConfig(contents.tensors(), recorded.heads(), file)
                    : TimmWeights.inferConfig(contents.tensors(), recorded.heads(), file);
            // The recorded config says what the shapes cannot (heads, dropout); the rest must agree.
            if (!shapes.equals(recorded.withDropout(0f, 0f))) {
                throw new IOException(file + ": " + METADATA + " records the model " + recorded
                        + " but its tensors hold " + shapes);
            }
            config = recorded;
        } else {
            config = vitPytorch ? VitPytorchWeights.inferConfig(contents.tensors(), heads, file)
                    : TimmWeights.inferConfig(contents.tensors(), heads, file);
            if (heads == null) {
                warnInferredHeads(config, vitPytorch, contents.tensors(), file);
            }
        }
        List<String> classes = Checkpoint.classes(meta.get(CLASSES), config, file, METADATA);
        Normalization normalization = Checkpoint.normalization(meta.get(NORMALIZATION), config, file, METADATA);
        if (vitPytorch) {
            return new WeightsFile(config, VitPytorchWeights.toVit4j(contents.tensors(), config, file), null,
                    Kind.VIT_PYTORCH, classes, normalization, recorded != null);
        }
        return new WeightsFile(config, TimmWeights.toVit4j(contents.tensors()), null, Kind.TIMM, classes, normalization,
                recorded != null);
    }

    private static void requireHeads(ViTConfig recorded, Integer heads, Path file) {
        if (heads != null && heads != recorded.heads()) {
            throw new IllegalArgumentException("--heads " + heads + " conflicts with " + file + ", whose model has "
                    + recorded.heads() + " heads (recorded in the file)");
        }
    }

    /** The one line that says the heads are a guess; none where the shapes settle them (one vit-pytorch head without a projection). */
    private static void warnInferredHeads(ViTConfig config, boolean vitPytorch, Map<String, SafeTensors.Entry> tensors,
                                          Path file) {
        if (!vitPytorch) {
            LOG.warn("{}: heads = {} inferred from timm's {}-wide heads (the file records no config; pass --heads to "
                    + "override)", file, config.heads(), TimmWeights.TIMM_HEAD_DIM);
        } else if (tensors.containsKey("transformer.layers.0.0.to_out.0.weight")) {
            LOG.warn("{}: heads = {} inferred from vit-pytorch's default dim_head {} (the file records no config; "
                    + "pass --heads to override)", file, config.heads(), VitPytorchWeights.DEFAULT_DIM_HEAD);
        }
    }

    private static void requireFinite(Map<String, SafeTensors.Entry> tensors, Path file) throws IOException {
        for (Map.Entry<String, SafeTensors.Entry> e : tensors.entrySet()) {
            float[] f = e.getValue().floats();
            for (int i = 0; f != null && i < f.length; i++) {
                if (!Float.isFinite(f[i])) {
                    throw new IOException(file + ": tensor '" + e.getKey() + "' holds " + f[i] + " at index " + i
                            + "; weights must be finite");
                }
            }
        }
    }

    /** A new model on {@code backend} with this file's config and weights ({@code file} names it in errors). */
    public VisionTransformer newModel(Backend backend, Path file) throws IOException {
        VisionTransformer model = new VisionTransformer(backend, config);
        try {
            Pretrained.load(model, tensors, file, false);
            return model;
        } catch (IOException | RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /**
     * Writes this file's model to {@code out} (atomically) in {@code format}: under timm's or
     * vit-pytorch's names with the config, class names and normalisation as metadata, or as a vit4j
     * checkpoint of the weights alone (no optimizer state, epoch 0) with the class names and
     * normalisation. {@code backend} holds the model meanwhile; {@code source} names this file in errors.
     */
    public void write(Format format, Path out, Backend backend, Path source) throws IOException {
        try (VisionTransformer model = newModel(backend, source)) {
            switch (format) {
                case TIMM -> TimmWeights.write(out, model, exportMetadata());
                case VIT_PYTORCH -> VitPytorchWeights.write(out, model, exportMetadata());
                case VIT4J -> Checkpoint.save(out, model, null, 0, null, classes, normalization);
            }
        }
    }

    /** The {@value #CONFIG}, {@value #CLASSES} and {@value #NORMALIZATION} entries of an export. */
    public Map<String, String> exportMetadata() throws JsonProcessingException {
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put(CONFIG, JSON.writeValueAsString(config));
        if (classes != null) {
            meta.put(CLASSES, JSON.writeValueAsString(classes));
        }
        if (normalization != null) {
            Map<String, float[]> n = new LinkedHashMap<>();     // as a checkpoint records it: mean, then std
            n.put("mean", normalization.mean());
            n.put("std", normalization.std());
            meta.put(NORMALIZATION, JSON.writeValueAsString(n));
        }
        return meta;
    }

    /** What {@link #write} records beside the weights, for the command line's report. */
    public String recordedSummary(Format format) {
        if (format == Format.VIT4J) {
            return classes == null && normalization == null ? "weights only"
                    : "weights" + (classes != null ? ", class names" : "") + (normalization != null ? ", normalisation" : "");
        }
        return String.format(Locale.ROOT, "metadata %s%s%s", CONFIG, classes != null ? ", " + CLASSES : "",
                normalization != null ? ", " + NORMALIZATION : "")
                + (format == Format.TIMM ? ", " + TimmWeights.CREATE_MODEL : ", vit_pytorch.ViT");
    }
}
