package org.vit4j.train;

import org.vit4j.io.SafeTensors;
import org.vit4j.nn.Pretrained;
import org.vit4j.nn.TimmWeights;
import org.vit4j.nn.ViTConfig;
import org.vit4j.nn.VisionTransformer;
import org.vit4j.backend.Backend;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * A weights file for a new model: a vit4j checkpoint or a timm safetensors file, told apart by
 * the checkpoint's format metadata. What {@code train --init}, {@code --teacher} and
 * {@code predict} read.
 *
 * @param config     the model's shape: a checkpoint's stored config, or inferred from a timm file's shapes
 * @param tensors    the weights under vit4j's names and shapes
 * @param checkpoint the checkpoint, or null for a timm file
 */
public record WeightsFile(ViTConfig config, Map<String, SafeTensors.Entry> tensors, Checkpoint checkpoint) {

    /** Reads {@code file}; {@code heads} is for timm files whose heads are not 64 wide (null: infer). */
    public static WeightsFile read(Path file, Integer heads) throws IOException {
        SafeTensors.Contents contents = SafeTensors.read(file);
        if (Checkpoint.FORMAT.equals(contents.metadata().get("format"))) {
            Checkpoint ckpt = Checkpoint.of(contents, file);
            return new WeightsFile(ckpt.config(), Pretrained.fromCheckpoint(contents.tensors()), ckpt);
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
                TimmWeights.toVit4j(contents.tensors()), null);
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
