package org.vit4j.train;

import org.vit4j.io.SafeTensors;
import org.vit4j.nn.Pretrained;
import org.vit4j.nn.TimmWeights;
import org.vit4j.nn.ViTConfig;
import org.vit4j.nn.VisionTransformer;
import org.vit4j.nn.VitPytorchWeights;
import org.vit4j.backend.Backend;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * A weights file for a new model: a vit4j checkpoint, a timm safetensors file or a vit-pytorch
 * {@code state_dict} in safetensors, told apart by the checkpoint's format metadata and the
 * tensor names. What {@code train --init}, {@code --teacher}, {@code predict} and {@code eval} read.
 *
 * @param config     the model's shape: a checkpoint's stored config, or inferred from a file's shapes
 * @param tensors    the weights under vit4j's names and shapes
 * @param checkpoint the checkpoint, or null for a timm or vit-pytorch file
 * @param kind       which of the three the file is
 */
public record WeightsFile(ViTConfig config, Map<String, SafeTensors.Entry> tensors, Checkpoint checkpoint, Kind kind) {

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

    /** Reads {@code file}; {@code heads} is for timm and vit-pytorch files whose heads are not 64 wide (null: infer). */
    public static WeightsFile read(Path file, Integer heads) throws IOException {
        SafeTensors.Contents contents = SafeTensors.read(file);
        if (Checkpoint.FORMAT.equals(contents.metadata().get("format"))) {
            Checkpoint ckpt = Checkpoint.of(contents, file);
            return new WeightsFile(ckpt.config(), Pretrained.fromCheckpoint(contents.tensors()), ckpt, Kind.CHECKPOINT);
        }
        if (VitPytorchWeights.isVitPytorch(contents.tensors())) {
            ViTConfig config = VitPytorchWeights.inferConfig(contents.tensors(), heads, file);
            return new WeightsFile(config, VitPytorchWeights.toVit4j(contents.tensors(), config, file), null,
                    Kind.VIT_PYTORCH);
        }
        for (Map.Entry<String, SafeTensors.Entry> e : contents.tensors().entrySet()) {
            float[] f = e.getValue().floats();
            for (int i = 0; f != null && i < f.length; i++) {
                if (!Float.isFinite(f[i])) {
                    throw new IOException(file + ": tensor '" + e.getKey() + "' holds " + f[i] + " at index " + i
                            + "; weights must be finite");
                }
            }
        }
        return new WeightsFile(TimmWeights.inferConfig(contents.tensors(), heads, file),
                TimmWeights.toVit4j(contents.tensors()), null, Kind.TIMM);
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
}
