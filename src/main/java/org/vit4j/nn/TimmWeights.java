package org.vit4j.nn;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.vit4j.io.SafeTensors;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Weights in timm's {@code VisionTransformer} naming and shapes, as timm and Hugging Face save
 * them in safetensors ({@code vit_tiny_patch16_224}, {@code vit_small_patch16_224}, ...).
 *
 * <p>vit4j already uses timm's parameter names; only a few shapes and one name differ:
 * <pre>
 *   vit4j                         timm
 *   cls_token [D]                 cls_token [1, 1, D]
 *   pos_embed [N+1, D]            pos_embed [1, N+1, D]
 *   patch_embed.proj.weight       patch_embed.proj.weight [D, C, p, p]   (Conv2d; same memory order)
 *     [D, C*p*p]
 *   norm.* (pool = cls)           norm.*     (applied to every token, then the class token taken:
 *                                             the same as normalising the pooled token)
 *   norm.* (pool = mean)          fc_norm.*  (timm's average pool normalises after pooling)
 *   dist_token [D]                dist_token [1, 1, D]  (DeiT distilled models, with head_dist.*;
 *                                             pos_embed then covers N+2 tokens)
 * </pre>
 * Only {@code head = linear} models have a timm counterpart.
 */
public final class TimmWeights {
    /** timm's ViTs use 64-wide heads (tiny 192/3, small 384/6, base 768/12). */
    public static final int TIMM_HEAD_DIM = 64;
    private static final Pattern BLOCK = Pattern.compile("blocks\\.(\\d+)\\..*");
    /** The metadata key of the {@link #createModelArgs} hint. */
    public static final String CREATE_MODEL = "timm.create_model";
    /** timm's registered ViT sizes: dim, depth, heads (with MLP 4 * dim; at patch 16 and 224 pixels here). */
    private static final Map<String, int[]> TIMM_SIZES = Map.of("tiny", new int[] {192, 12, 3},
            "small", new int[] {384, 12, 6}, "base", new int[] {768, 12, 12});
    private static final ObjectMapper JSON = new ObjectMapper();

    private TimmWeights() {
    }

    /**
     * The config of the model a timm file holds, from its tensor shapes. The number of heads is
     * not visible in the shapes: {@code heads} gives it, or null for timm's head width of 64.
     */
    public static ViTConfig inferConfig(Map<String, SafeTensors.Entry> tensors, Integer heads, Path source)
            throws IOException {
        int[] cls = shape(tensors, "cls_token", source);
        int[] patch = shape(tensors, "patch_embed.proj.weight", source);
        int[] pos = shape(tensors, "pos_embed", source);
        int[] fc1 = shape(tensors, "blocks.0.mlp.fc1.weight", source);
        int[] head = shape(tensors, "head.weight", source);
        if (patch.length != 4 || patch[2] != patch[3] || pos.length != 3 || cls.length != 3) {
            throw new IOException(source + ": not a timm ViT: patch_embed.proj.weight " + Arrays.toString(patch)
                    + ", pos_embed " + Arrays.toString(pos) + ", cls_token " + Arrays.toString(cls));
        }
        int dim = cls[2], channels = patch[1], p = patch[2];
        boolean distilled = tensors.containsKey("dist_token");
        int prefix = distilled ? 2 : 1;
        int side = (int) Math.round(Math.sqrt(Math.max(0, pos[1] - prefix)));
        if (side * side != pos[1] - prefix) {
            throw new IOException(source + ": pos_embed holds " + pos[1] + " tokens, not a square grid plus "
                    + (distilled ? "the class and distillation tokens" : "a class token")
                    + " (register-token models and models without a class token are not supported)");
        }
        int depth = 0;
        for (String name : tensors.keySet()) {
            Matcher m = BLOCK.matcher(name);
            if (m.matches()) {
                depth = Math.max(depth, Integer.parseInt(m.group(1)) + 1);
            }
        }
        int h;
        if (heads != null) {
            h = heads;
        } else if (dim % TIMM_HEAD_DIM == 0) {
            h = dim / TIMM_HEAD_DIM;
        } else {
            throw new IOException(source + ": cannot tell the number of heads of a dim-" + dim
                    + " model from its shapes; give it (e.g. --heads)");
        }
        ViTConfig.Pool pool = tensors.containsKey("fc_norm.weight") ? ViTConfig.Pool.MEAN : ViTConfig.Pool.CLS;
        try {
            return new ViTConfig(side * p, p, channels, head[0], dim, depth, h, fc1[0], 0f, pool, ViTConfig.Head.LINEAR,
                    distilled);
        } catch (IllegalArgumentException e) {
            throw new IOException(source + ": inconsistent shapes: " + e.getMessage(), e);
        }
    }

    private static int[] shape(Map<String, SafeTensors.Entry> tensors, String name, Path source) throws IOException {
        SafeTensors.Entry e = tensors.get(name);
        if (e == null) {
            throw new IOException(source + ": not a timm ViT: no tensor '" + name + "'");
        }
        return e.shape();
    }

    /** The timm name and shape of each of {@code model}'s parameters, in the model's order. */
    static Map<String, Map.Entry<String, int[]>> names(VisionTransformer model) {
        ViTConfig c = model.config();
        if (c.arch() != ViTConfig.Arch.TIMM) {
            throw new IllegalArgumentException("only arch=timm models have a timm counterpart (this one is " + c.arch()
                    + (c.arch() == ViTConfig.Arch.VIT_PYTORCH ? "; write it with VitPytorchWeights" : "") + ")");
        }
        if (c.head() != ViTConfig.Head.LINEAR) {
            throw new IllegalArgumentException("only head=linear models have a timm counterpart (this one has head="
                    + c.head() + ")");
        }
        Map<String, Map.Entry<String, int[]>> out = new LinkedHashMap<>();
        model.namedParameters().forEach((name, p) -> {
            String timm = name;
            int[] shape = p.shape().dims();
            switch (name) {
                case "cls_token", "dist_token" -> shape = new int[] {1, 1, c.dim()};
                case "pos_embed" -> shape = new int[] {1, c.tokens(), c.dim()};
                case "patch_embed.proj.weight" -> shape = new int[] {c.dim(), c.channels(), c.patchSize(), c.patchSize()};
                default -> {
                    if (name.startsWith("norm.") && c.pool() == ViTConfig.Pool.MEAN) {
                        timm = "fc_" + name;
                    }
                }
            }
            out.put(name, Map.entry(timm, shape));
        });
        return out;
    }

    /**
     * Loads a timm file's tensors into {@code model} (see {@link Pretrained#load}: the position
     * embedding is resampled when the patch grid differs; every mismatch is listed at once).
     */
    public static void load(VisionTransformer model, Map<String, SafeTensors.Entry> file, Path source)
            throws IOException {
        Pretrained.load(model, toVit4j(file), source, false);
    }

    /** A timm file's tensors under vit4j's names and shapes (the same data: only shapes are relabelled). */
    public static Map<String, SafeTensors.Entry> toVit4j(Map<String, SafeTensors.Entry> timm) {
        Map<String, SafeTensors.Entry> out = new LinkedHashMap<>();
        timm.forEach((name, e) -> {
            int[] s = e.shape();
            int[] shape = switch (name) {
                case "cls_token", "dist_token" -> s.length == 3 ? new int[] {s[2]} : s;
                case "pos_embed" -> s.length == 3 ? new int[] {s[1], s[2]} : s;
                case "patch_embed.proj.weight" -> s.length == 4 ? new int[] {s[0], s[1] * s[2] * s[3]} : s;
                default -> s;
            };
            out.put(name.startsWith("fc_norm.") ? name.substring(3) : name, new SafeTensors.Entry(e.dtype(), shape, e.floats(), e.ints()));
        });
        return out;
    }

    /** Reads a timm safetensors file into a new model on {@code backend}, its config inferred from the shapes. */
    public static VisionTransformer read(org.vit4j.backend.Backend backend, Path file, Integer heads) throws IOException {
        Map<String, SafeTensors.Entry> tensors = SafeTensors.read(file).tensors();
        VisionTransformer model = new VisionTransformer(backend, inferConfig(tensors, heads, file));
        try {
            load(model, tensors, file);
            return model;
        } catch (IOException | RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /** {@code model}'s weights under timm's names and shapes. */
    public static Map<String, SafeTensors.Entry> export(VisionTransformer model) {
        Map<String, SafeTensors.Entry> out = new LinkedHashMap<>();
        Map<String, Parameter> params = model.namedParameters();
        names(model).forEach((name, timm) ->
                out.put(timm.getKey(), SafeTensors.Entry.f32(timm.getValue(), model.backend().toArray(params.get(name).value()))));
        return out;
    }

    /**
     * Writes {@code model} as a timm-loadable safetensors file (atomically), with the
     * {@value #CREATE_MODEL} hint and nothing else of vit4j's: a bare timm file, whose config a
     * reader infers from the shapes.
     */
    public static void write(Path file, VisionTransformer model) throws IOException {
        write(file, model, Map.of());
    }

    /**
     * As {@link #write(Path, VisionTransformer)}, with {@code metadata} added to the file's
     * {@code __metadata__} (what {@code train.WeightsFile} records: config, class names, normalisation).
     */
    public static void write(Path file, VisionTransformer model, Map<String, String> metadata) throws IOException {
        Map<String, SafeTensors.Entry> tensors = export(model);     // refuses a model timm has no counterpart of
        Map<String, String> meta = new LinkedHashMap<>(metadata);
        meta.put("format", "pt");
        meta.put(CREATE_MODEL, createModelArgs(model.config()));
        SafeTensors.write(file, tensors, meta);
    }

    /**
     * The keyword arguments of {@code timm.create_model} that build this model's timm counterpart,
     * as JSON: {@code timm.create_model(**json.loads(meta["timm.create_model"]))}. Every shape
     * argument is given, so {@code model_name} only picks the class ({@code VisionTransformer}, or
     * DeiT's {@code VisionTransformerDistilled}); it is the registered model of the same shape
     * where there is one.
     */
    public static String createModelArgs(ViTConfig c) {
        if (c.arch() != ViTConfig.Arch.TIMM || c.head() != ViTConfig.Head.LINEAR) {
            throw new IllegalArgumentException("only arch=timm, head=linear models have a timm counterpart (this one is "
                    + c.arch() + ", head=" + c.head() + ")");
        }
        String size = "tiny";
        for (Map.Entry<String, int[]> e : TIMM_SIZES.entrySet()) {
            int[] s = e.getValue();
            if (c.dim() == s[0] && c.depth() == s[1] && c.heads() == s[2] && c.mlpDim() == 4 * c.dim()
                    && c.patchSize() == 16 && c.imageSize() == 224) {
                size = e.getKey();
            }
        }
        // timm sizes the MLP as int(embed_dim * mlp_ratio): the smallest double that gives mlpDim back.
        double ratio = (double) c.mlpDim() / c.dim();
        while ((int) (c.dim() * ratio) < c.mlpDim()) {
            ratio = Math.nextUp(ratio);
        }
        Map<String, Object> args = new LinkedHashMap<>();
        args.put("model_name", c.distilled() ? "deit_" + size + "_distilled_patch16_224" : "vit_" + size + "_patch16_224");
        args.put("pretrained", false);
        args.put("num_classes", c.numClasses());
        args.put("img_size", c.imageSize());
        args.put("patch_size", c.patchSize());
        args.put("in_chans", c.channels());
        args.put("embed_dim", c.dim());
        args.put("depth", c.depth());
        args.put("num_heads", c.heads());
        args.put("mlp_ratio", ratio);
        args.put("global_pool", c.pool() == ViTConfig.Pool.MEAN ? "avg" : "token");
        try {
            return JSON.writeValueAsString(args);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write plain numbers and strings as JSON", e);
        }
    }
}
