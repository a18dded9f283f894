package org.vit4j.nn;

import org.vit4j.io.SafeTensors;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Weights of lucidrains/vit-pytorch's {@code vit_pytorch.ViT}: its {@code state_dict()} saved as
 * safetensors ({@code safetensors.torch.save_file(model.state_dict(), "vit.safetensors")}), read
 * into a vit4j model of {@code arch = vit-pytorch}, and written back.
 * <pre>
 *   vit-pytorch                              vit4j
 *   to_patch_embedding.1.*   [C*p*p]         patch_embed.pre_norm.*     (features reordered, below)
 *   to_patch_embedding.2.*   [dim, C*p*p]    patch_embed.proj.*         (weight columns reordered)
 *   to_patch_embedding.3.*   [dim]           patch_embed.post_norm.*
 *   cls_token                [1, 1, dim]     cls_token [dim]            ([1, 0, dim] when pool = mean: none)
 *   pos_embedding            [1, N, dim]     pos_embed [N, dim]
 *   transformer.layers.i.0.norm.*            blocks.i.norm1.*
 *   transformer.layers.i.0.to_qkv.weight     blocks.i.attn.qkv.weight   [3 * heads * dim_head, dim]
 *   transformer.layers.i.0.to_out.0.*        blocks.i.attn.proj.*       (absent for one head of width dim)
 *   transformer.layers.i.1.net.0.*           blocks.i.norm2.*           (FeedForward's LayerNorm)
 *   transformer.layers.i.1.net.1.*           blocks.i.mlp.fc1.*
 *   transformer.layers.i.1.net.4.*           blocks.i.mlp.fc2.*
 *   transformer.norm.*                       norm.*
 *   mlp_head.*                               head.*
 * </pre>
 * vit-pytorch flattens a patch as {@code (p1 p2 c)} (row, column, channel), vit4j as
 * {@code (c p1 p2)}, a Conv2d weight's order: the patch LayerNorm's parameters and the projection's
 * columns are permuted accordingly, which computes the same function. Q, K and V are already in
 * vit4j's layout ({@code to_qkv(x).chunk(3)}, heads major within each).
 *
 * <p>From the shapes alone: channels are 1 or 3 (the one that makes {@code C*p*p} a square); the
 * number of heads is {@code heads * dim_head / 64} (vit-pytorch's default {@code dim_head}) unless
 * given, and 1 when the attention has no output projection; the pool is {@code cls} with a class
 * token, {@code mean} without one (today's vit-pytorch drops the class token when mean-pooling;
 * a model saved by a version that kept it would read as {@code cls}).
 */
public final class VitPytorchWeights {
    /** vit-pytorch's default {@code dim_head}. */
    public static final int DEFAULT_DIM_HEAD = 64;
    private static final Pattern LAYER = Pattern.compile("transformer\\.layers\\.(\\d+)\\..*");

    private VitPytorchWeights() {
    }

    /** Whether a safetensors file's tensors are a vit-pytorch {@code state_dict}, by its names. */
    public static boolean isVitPytorch(Map<String, SafeTensors.Entry> tensors) {
        return tensors.containsKey("to_patch_embedding.2.weight") || tensors.containsKey("pos_embedding")
                || tensors.keySet().stream().anyMatch(n -> n.startsWith("transformer.layers."));
    }

    /**
     * The config of the model a vit-pytorch file holds, from its tensor shapes; {@code heads}
     * gives the number of heads where the shapes cannot (null: vit-pytorch's default head width).
     */
    public static ViTConfig inferConfig(Map<String, SafeTensors.Entry> tensors, Integer heads, Path source)
            throws IOException {
        int[] proj = shape(tensors, "to_patch_embedding.2.weight", source);
        int[] pos = shape(tensors, "pos_embedding", source);
        int[] cls = shape(tensors, "cls_token", source);
        int[] qkv = shape(tensors, "transformer.layers.0.0.to_qkv.weight", source);
        int[] fc1 = shape(tensors, "transformer.layers.0.1.net.1.weight", source);
        int[] head = shape(tensors, "mlp_head.weight", source);
        if (proj.length != 2 || qkv.length != 2 || qkv[0] % 3 != 0 || fc1.length != 2 || head.length != 2
                || pos.length < 2 || cls.length < 1) {
            throw new IOException(source + ": not a vit-pytorch ViT: to_patch_embedding.2.weight " + Arrays.toString(proj)
                    + ", to_qkv.weight " + Arrays.toString(qkv) + ", pos_embedding " + Arrays.toString(pos)
                    + ", mlp_head.weight " + Arrays.toString(head));
        }
        int dim = proj[0], features = proj[1];
        int classTokens = Math.toIntExact(numel(cls) / Math.max(1, dim));
        if (classTokens > 1 || pos[pos.length - 1] != dim) {
            throw new IOException(source + ": cls_token " + Arrays.toString(cls) + " and pos_embedding "
                    + Arrays.toString(pos) + " do not fit a dim-" + dim + " ViT with at most one class token");
        }
        int channels, patch;
        int root = (int) Math.round(Math.sqrt(features));
        int root3 = (int) Math.round(Math.sqrt(features / 3.0));
        if (root * root == features) {
            channels = 1;
            patch = root;
        } else if (features % 3 == 0 && root3 * root3 * 3 == features) {
            channels = 3;
            patch = root3;
        } else {
            throw new IOException(source + ": patches of " + features + " values are neither p*p grey nor 3*p*p RGB "
                    + "pixels; vit4j infers only 1 or 3 channels");
        }
        int patches = pos[pos.length - 2] - classTokens;
        int side = (int) Math.round(Math.sqrt(Math.max(0, patches)));
        if (side * side != patches || side == 0) {
            throw new IOException(source + ": pos_embedding " + Arrays.toString(pos) + " holds " + patches
                    + " patch positions, not a square grid");
        }
        int depth = 0;
        for (String name : tensors.keySet()) {
            Matcher m = LAYER.matcher(name);
            if (m.matches()) {
                depth = Math.max(depth, Integer.parseInt(m.group(1)) + 1);
            }
        }
        int inner = qkv[0] / 3;
        boolean projection = tensors.containsKey("transformer.layers.0.0.to_out.0.weight");
        int h;
        if (!projection) {
            h = 1;                                          // project_out is off only for one head of width dim
            if (heads != null && heads != 1 || inner != dim) {
                throw new IOException(source + ": attention without to_out is one head as wide as the model (" + dim
                        + "), but to_qkv is " + inner + " wide" + (heads != null ? " and --heads is " + heads : ""));
            }
        } else if (heads != null) {
            h = heads;
            if (h < 1 || inner % h != 0) {
                throw new IOException(source + ": " + h + " heads do not divide the attention width " + inner);
            }
        } else if (inner % DEFAULT_DIM_HEAD == 0) {
            h = inner / DEFAULT_DIM_HEAD;
        } else {
            throw new IOException(source + ": cannot tell the number of heads of a " + inner + "-wide attention "
                    + "from its shapes (it is not vit-pytorch's default dim_head " + DEFAULT_DIM_HEAD
                    + " per head); give it (e.g. --heads)");
        }
        try {
            return new ViTConfig(side * patch, patch, channels, head[0], dim, depth, h, fc1[0], 0f,
                    classTokens == 1 ? ViTConfig.Pool.CLS : ViTConfig.Pool.MEAN, ViTConfig.Head.LINEAR, false,
                    ViTConfig.Arch.VIT_PYTORCH, inner / h, 0f);
        } catch (IllegalArgumentException e) {
            throw new IOException(source + ": inconsistent shapes: " + e.getMessage(), e);
        }
    }

    private static int[] shape(Map<String, SafeTensors.Entry> tensors, String name, Path source) throws IOException {
        SafeTensors.Entry e = tensors.get(name);
        if (e == null) {
            throw new IOException(source + ": not a vit-pytorch ViT: no tensor '" + name + "'");
        }
        return e.shape();
    }

    private static long numel(int[] shape) {
        long n = 1;
        for (int d : shape) {
            n *= d;
        }
        return n;
    }

    /**
     * One tensor of a vit-pytorch state_dict: its name and {@code state_dict} shape, the vit4j
     * parameter it is (null for the empty class token of a mean-pooling model), and whether it is
     * in vit-pytorch's patch-feature order ({@code columns}: each row is; {@code vector}: itself).
     */
    record Mapped(String name, int[] shape, String vit4j, Permute permute) {
    }

    enum Permute {
        NONE, VECTOR, COLUMNS
    }

    /** Every tensor a vit-pytorch ViT of config {@code c} has, in {@code state_dict} order. */
    static List<Mapped> tensors(ViTConfig c) {
        requireVitPytorch(c);
        int d = c.dim(), f = c.channels() * c.patchSize() * c.patchSize(), inner = c.innerDim(), m = c.mlpDim();
        List<Mapped> out = new ArrayList<>();
        int classTokens = c.classToken() ? 1 : 0;
        out.add(new Mapped("cls_token", new int[] {1, classTokens, d}, c.classToken() ? "cls_token" : null, Permute.NONE));
        out.add(new Mapped("pos_embedding", new int[] {1, c.tokens(), d}, "pos_embed", Permute.NONE));
        out.add(new Mapped("to_patch_embedding.1.weight", new int[] {f}, "patch_embed.pre_norm.weight", Permute.VECTOR));
        out.add(new Mapped("to_patch_embedding.1.bias", new int[] {f}, "patch_embed.pre_norm.bias", Permute.VECTOR));
        out.add(new Mapped("to_patch_embedding.2.weight", new int[] {d, f}, "patch_embed.proj.weight", Permute.COLUMNS));
        out.add(new Mapped("to_patch_embedding.2.bias", new int[] {d}, "patch_embed.proj.bias", Permute.NONE));
        out.add(new Mapped("to_patch_embedding.3.weight", new int[] {d}, "patch_embed.post_norm.weight", Permute.NONE));
        out.add(new Mapped("to_patch_embedding.3.bias", new int[] {d}, "patch_embed.post_norm.bias", Permute.NONE));
        out.add(new Mapped("transformer.norm.weight", new int[] {d}, "norm.weight", Permute.NONE));
        out.add(new Mapped("transformer.norm.bias", new int[] {d}, "norm.bias", Permute.NONE));
        for (int i = 0; i < c.depth(); i++) {
            String vp = "transformer.layers." + i + ".", b = "blocks." + i + ".";
            out.add(new Mapped(vp + "0.norm.weight", new int[] {d}, b + "norm1.weight", Permute.NONE));
            out.add(new Mapped(vp + "0.norm.bias", new int[] {d}, b + "norm1.bias", Permute.NONE));
            out.add(new Mapped(vp + "0.to_qkv.weight", new int[] {3 * inner, d}, b + "attn.qkv.weight", Permute.NONE));
            if (c.attentionProjection()) {
                out.add(new Mapped(vp + "0.to_out.0.weight", new int[] {d, inner}, b + "attn.proj.weight", Permute.NONE));
                out.add(new Mapped(vp + "0.to_out.0.bias", new int[] {d}, b + "attn.proj.bias", Permute.NONE));
            }
            out.add(new Mapped(vp + "1.net.0.weight", new int[] {d}, b + "norm2.weight", Permute.NONE));
            out.add(new Mapped(vp + "1.net.0.bias", new int[] {d}, b + "norm2.bias", Permute.NONE));
            out.add(new Mapped(vp + "1.net.1.weight", new int[] {m, d}, b + "mlp.fc1.weight", Permute.NONE));
            out.add(new Mapped(vp + "1.net.1.bias", new int[] {m}, b + "mlp.fc1.bias", Permute.NONE));
            out.add(new Mapped(vp + "1.net.4.weight", new int[] {d, m}, b + "mlp.fc2.weight", Permute.NONE));
            out.add(new Mapped(vp + "1.net.4.bias", new int[] {d}, b + "mlp.fc2.bias", Permute.NONE));
        }
        out.add(new Mapped("mlp_head.weight", new int[] {c.numClasses(), d}, "head.weight", Permute.NONE));
        out.add(new Mapped("mlp_head.bias", new int[] {c.numClasses()}, "head.bias", Permute.NONE));
        return out;
    }

    private static void requireVitPytorch(ViTConfig c) {
        if (c.arch() != ViTConfig.Arch.VIT_PYTORCH) {
            throw new IllegalArgumentException("only arch=vit-pytorch models have vit-pytorch's names (this one is "
                    + c.arch() + ")");
        }
    }

    /**
     * A vit-pytorch file's tensors under vit4j's names, shapes and patch-feature order, for a
     * model of config {@code c}. Every missing, unexpected and mis-shaped tensor is listed at once,
     * in vit-pytorch's names. The class token and position embedding may also come without their
     * leading 1 ({@code [1, dim]}, {@code [N, dim]}).
     */
    public static Map<String, SafeTensors.Entry> toVit4j(Map<String, SafeTensors.Entry> file, ViTConfig c, Path source)
            throws IOException {
        List<String> missing = new ArrayList<>(), misshaped = new ArrayList<>(), unexpected = new ArrayList<>();
        Map<String, SafeTensors.Entry> out = new LinkedHashMap<>();
        List<Mapped> expected = tensors(c);
        for (Mapped t : expected) {
            SafeTensors.Entry e = file.get(t.name());
            if (e == null) {
                if (t.vit4j() != null) {
                    missing.add(t.name());
                }
                continue;
            }
            if (e.floats() == null || !fits(e.shape(), t.shape())) {
                misshaped.add(t.name() + " is " + e.dtype() + Arrays.toString(e.shape()) + ", expected "
                        + Arrays.toString(t.shape()));
                continue;
            }
            if (t.vit4j() != null) {
                out.put(t.vit4j(), SafeTensors.Entry.f32(vit4jShape(t), toVit4jOrder(e.floats(), t.permute(), c)));
            }
        }
        for (String name : file.keySet()) {
            if (expected.stream().noneMatch(t -> t.name().equals(name))) {
                unexpected.add(name);
            }
        }
        if (!missing.isEmpty() || !misshaped.isEmpty() || !unexpected.isEmpty()) {
            throw new IOException(source + ": does not match the vit-pytorch model " + c
                    + (missing.isEmpty() ? "" : "; missing: " + String.join(", ", missing))
                    + (unexpected.isEmpty() ? "" : "; unexpected: " + String.join(", ", unexpected))
                    + (misshaped.isEmpty() ? "" : "; wrong shape or dtype: " + String.join("; ", misshaped)));
        }
        return out;
    }

    /** The state_dict shape, or the same without leading 1s (what some exporters write for the embeddings). */
    private static boolean fits(int[] have, int[] want) {
        if (Arrays.equals(have, want)) {
            return true;
        }
        int lead = 0;
        while (lead < want.length - 1 && want[lead] == 1) {
            lead++;
        }
        for (int drop = 1; drop <= lead; drop++) {
            if (Arrays.equals(have, Arrays.copyOfRange(want, drop, want.length))) {
                return true;
            }
        }
        return false;
    }

    private static int[] vit4jShape(Mapped t) {
        int[] s = t.shape();
        return switch (t.vit4j()) {
            case "cls_token" -> new int[] {s[2]};
            case "pos_embed" -> new int[] {s[1], s[2]};
            default -> s.clone();
        };
    }

    /** vit4j feature index {@code c*p*p + y*p + x} -> vit-pytorch's {@code (y*p + x)*C + c}. */
    private static int[] featureOrder(ViTConfig c) {
        int p = c.patchSize(), ch = c.channels();
        int[] vp = new int[ch * p * p];
        for (int k = 0; k < ch; k++) {
            for (int yx = 0; yx < p * p; yx++) {
                vp[k * p * p + yx] = yx * ch + k;
            }
        }
        return vp;
    }

    private static float[] toVit4jOrder(float[] v, Permute permute, ViTConfig c) {
        if (permute == Permute.NONE) {
            return v.clone();
        }
        int[] order = featureOrder(c);
        int f = order.length, rows = v.length / f;
        float[] out = new float[v.length];
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < f; j++) {
                out[r * f + j] = v[r * f + order[j]];
            }
        }
        return out;
    }

    private static float[] toVitPytorchOrder(float[] v, Permute permute, ViTConfig c) {
        if (permute == Permute.NONE) {
            return v.clone();
        }
        int[] order = featureOrder(c);
        int f = order.length, rows = v.length / f;
        float[] out = new float[v.length];
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < f; j++) {
                out[r * f + order[j]] = v[r * f + j];
            }
        }
        return out;
    }

    /**
     * Tensors given under vit4j's parameter names ({@code values}: name -> values in vit4j's
     * layout) under vit-pytorch's names, {@code state_dict} shapes and order. Used for the
     * weights, and for anything laid out like them (gradients).
     */
    public static Map<String, SafeTensors.Entry> fromVit4j(ViTConfig c, Function<String, float[]> values) {
        Map<String, SafeTensors.Entry> out = new LinkedHashMap<>();
        for (Mapped t : tensors(c)) {
            float[] v = t.vit4j() == null ? new float[0] : toVitPytorchOrder(values.apply(t.vit4j()), t.permute(), c);
            out.put(t.name(), SafeTensors.Entry.f32(t.shape(), v));
        }
        return out;
    }

    /** {@code model}'s weights as a vit-pytorch {@code state_dict}. */
    public static Map<String, SafeTensors.Entry> export(VisionTransformer model) {
        Map<String, Parameter> params = model.namedParameters();
        return fromVit4j(model.config(), name -> model.backend().toArray(params.get(name).value()));
    }

    /**
     * Writes {@code model} as a safetensors file that {@code vit_pytorch.ViT(...).load_state_dict}
     * takes ({@code safetensors.torch.load_file}); the {@code ViT(...)} arguments go in the metadata.
     */
    public static void write(Path file, VisionTransformer model) throws IOException {
        write(file, model, Map.of());
    }

    /** As {@link #write(Path, VisionTransformer)}, with {@code metadata} added to the file's {@code __metadata__}. */
    public static void write(Path file, VisionTransformer model, Map<String, String> metadata) throws IOException {
        ViTConfig c = model.config();
        String args = String.format(java.util.Locale.ROOT, "{\"image_size\": %d, \"patch_size\": %d, \"num_classes\": %d, "
                        + "\"dim\": %d, \"depth\": %d, \"heads\": %d, \"mlp_dim\": %d, \"pool\": \"%s\", \"channels\": %d, "
                        + "\"dim_head\": %d}", c.imageSize(), c.patchSize(), c.numClasses(), c.dim(), c.depth(), c.heads(),
                c.mlpDim(), c.pool(), c.channels(), c.dimHead());
        Map<String, String> meta = new LinkedHashMap<>(metadata);
        meta.put("format", "pt");
        meta.put("vit_pytorch.ViT", args);
        SafeTensors.write(file, export(model), meta);
    }

    /** Reads a vit-pytorch safetensors file into a new model on {@code backend}, its config inferred from the shapes. */
    public static VisionTransformer read(org.vit4j.backend.Backend backend, Path file, Integer heads) throws IOException {
        Map<String, SafeTensors.Entry> tensors = SafeTensors.read(file).tensors();
        ViTConfig config = inferConfig(tensors, heads, file);
        Map<String, SafeTensors.Entry> weights = toVit4j(tensors, config, file);
        VisionTransformer model = new VisionTransformer(backend, config);
        try {
            Pretrained.load(model, weights, file, false);
            return model;
        } catch (IOException | RuntimeException e) {
            model.close();
            throw e;
        }
    }
}
