package org.vit4j.nn;

import org.vit4j.io.SafeTensors;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Starting a model from pretrained weights: a vit4j checkpoint's or a timm file's ({@link TimmWeights#toVit4j}). */
public final class Pretrained {
    private Pretrained() {
    }

    /**
     * Copies pretrained weights, under vit4j's names and shapes, into {@code model}. A position
     * embedding for another square patch grid is resampled to the model's (fine-tuning at a new
     * resolution, as timm does). With {@code replaceHead}, head tensors of another shape (another
     * class count) are left as the model initialised them, and their names are returned. Every
     * other mismatch is collected first, so the error lists all missing, unexpected and
     * mis-shaped tensors at once.
     */
    public static List<String> load(VisionTransformer model, Map<String, SafeTensors.Entry> weights, Path source,
                                           boolean replaceHead) throws IOException {
        return load(model, weights, source, replaceHead, false);
    }

    /**
     * As {@link #load(VisionTransformer, Map, Path, boolean)}; with {@code resetHead} the head
     * tensors are never loaded, whatever their shape (new classes that happen to be as many as the
     * old ones get a fresh head too).
     */
    public static List<String> load(VisionTransformer model, Map<String, SafeTensors.Entry> weights, Path source,
                                    boolean replaceHead, boolean resetHead) throws IOException {
        ViTConfig c = model.config();
        Map<String, Parameter> params = model.namedParameters();
        List<String> missing = new ArrayList<>(), misshaped = new ArrayList<>(), unexpected = new ArrayList<>();
        List<String> replaced = new ArrayList<>();
        Map<String, float[]> values = new LinkedHashMap<>();
        for (Map.Entry<String, Parameter> p : params.entrySet()) {
            String name = p.getKey();
            int[] want = p.getValue().shape().dims();
            SafeTensors.Entry e = weights.get(name);
            if (e == null) {
                missing.add(name);
                continue;
            }
            int[] have = e.shape();
            float[] data = e.floats();
            if (data != null && name.equals("pos_embed") && have.length == 2 && have[1] == c.dim() && have[0] != c.tokens()) {
                int prefix = c.prefixTokens();
                int old = (int) Math.round(Math.sqrt(Math.max(0, have[0] - prefix)));
                if (old * old == have[0] - prefix) {
                    int side = c.imageSize() / c.patchSize();
                    data = PositionEmbeddings.resample(data, prefix, old, old, side, side, c.dim());
                    have = want;
                }
            }
            boolean isHead = name.startsWith("head.") || name.startsWith("head_dist.");
            if (resetHead && isHead) {
                replaced.add(name);
            } else if (data != null && Arrays.equals(have, want)) {
                values.put(name, data);
            } else if (replaceHead && isHead && data != null) {
                replaced.add(name);
            } else {
                misshaped.add(name + " is " + e.dtype() + Arrays.toString(e.shape()) + ", expected F32" + Arrays.toString(want));
            }
        }
        for (String name : weights.keySet()) {
            if (!params.containsKey(name)) {
                unexpected.add(name);
            }
        }
        if (!missing.isEmpty() || !misshaped.isEmpty() || !unexpected.isEmpty()) {
            throw new IOException(source + ": does not match the model " + c
                    + (missing.isEmpty() ? "" : "; missing: " + String.join(", ", missing))
                    + (unexpected.isEmpty() ? "" : "; unexpected: " + String.join(", ", unexpected))
                    + (misshaped.isEmpty() ? "" : "; wrong shape or dtype: " + String.join("; ", misshaped)));
        }
        values.forEach((name, data) -> model.backend().upload(data, params.get(name).value()));
        return replaced;
    }

    /** A vit4j checkpoint's weights ({@code model.<name>}) under their parameter names. */
    public static Map<String, SafeTensors.Entry> fromCheckpoint(Map<String, SafeTensors.Entry> checkpoint) {
        Map<String, SafeTensors.Entry> out = new LinkedHashMap<>();
        checkpoint.forEach((name, e) -> {
            if (name.startsWith("model.")) {
                out.put(name.substring("model.".length()), e);
            }
        });
        return out;
    }
}
