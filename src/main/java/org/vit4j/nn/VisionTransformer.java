package org.vit4j.nn;

import org.vit4j.backend.Backend;
import org.vit4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A Vision Transformer (Dosovitskiy et al., 2020) with timm's parameter names and layout.
 * <pre>
 *   images [B, C, H, W]
 *   patch_embed   -> [B, P, dim]          P = (H/p)(W/p) patches, each C*p*p pixels projected
 *   cls + pos     -> [B, P+1, dim]        class token prepended, position embedding added
 *   blocks x depth-> [B, P+1, dim]        pre-norm attention + MLP
 *   pool          -> [B, dim]             class token, or mean of the patch tokens
 *   head          -> [B, numClasses]      LayerNorm + Linear, or Linear + GELU + Linear
 * </pre>
 * The architecture family ({@link ViTConfig#arch()}) decides the details: vit-pytorch's ViT
 * normalises the patches before and after their projection ({@code patch_embed.pre_norm},
 * {@code patch_embed.post_norm}), ends its transformer in a LayerNorm over every token before
 * pooling, and, mean-pooling, has no class token; the 2020 tutorial ViT is the timm layout with
 * an MLP head. Attention widths, scales and biases are the blocks' (see {@link Block}).
 *
 * <p>A distilled model (DeiT, {@link ViTConfig#distilled()}) has a second prefix token:
 * <pre>
 *   cls + dist + pos -> [B, P+2, dim]
 *   blocks, norm     -> [B, P+2, dim]     LayerNorm on every token, as timm does
 *   head(x[:, 0]), head_dist(x[:, 1])     -> [B, numClasses] each
 *   inference        -> (head + head_dist) / 2
 * </pre>
 * During distillation training ({@link #distillationTraining(boolean)}) the forward returns the
 * class head's logits, {@link #distillationLogits()} the distillation head's, and
 * {@link #backward(Tensor, Tensor)} takes a gradient for each.
 *
 * <p>{@link #freeze(int)} freezes the embeddings and the first blocks for fine-tuning: backward
 * stops above them and {@link #trainableParameters()} leaves them out.
 * The same code runs on every backend.
 */
public final class VisionTransformer extends Module {
    private final ViTConfig config;
    private final DropoutSeeds dropoutSeeds = new DropoutSeeds();
    private final Parameter clsToken;
    private final Parameter posEmbed;
    private final PatchEmbedding patchEmbed;
    private final Dropout embedDrop;
    private final List<Block> blocks = new ArrayList<>();
    /** The final LayerNorm over every token (vit-pytorch), else null. */
    private final LayerNorm tokenNorm;
    /** The final LayerNorm over the pooled token (timm's linear head), else null. */
    private final LayerNorm pooledNorm;
    private final Linear linearHead;
    private final Mlp mlpHead;
    private final Parameter distToken;
    private final Linear distHead;
    private boolean distillationTraining;
    private int frozenBlocks;
    private Tensor tokens;
    private Tensor classLogits;
    private Tensor distLogits;

    public VisionTransformer(Backend backend, ViTConfig c) {
        super(backend);
        this.config = c;
        boolean vitPytorch = c.arch() == ViTConfig.Arch.VIT_PYTORCH;
        this.clsToken = c.classToken() ? parameter("cls_token", false, c.dim()) : null;
        this.posEmbed = parameter("pos_embed", false, c.tokens(), c.dim());
        this.patchEmbed = child("patch_embed", new PatchEmbedding(backend, c.channels(), c.patchSize(), c.dim(),
                vitPytorch, c.layerNormEps()));
        this.embedDrop = child("pos_drop", new Dropout(backend, c.embDropout(), dropoutSeeds));
        for (int i = 0; i < c.depth(); i++) {
            blocks.add(child("blocks." + i, new Block(backend, c, dropoutSeeds)));
        }
        if (c.head() == ViTConfig.Head.LINEAR) {
            LayerNorm norm = child("norm", new LayerNorm(backend, c.dim(), c.layerNormEps()));
            this.tokenNorm = vitPytorch || c.distilled() ? norm : null;
            this.pooledNorm = tokenNorm == null ? norm : null;
            this.linearHead = child("head", new Linear(backend, c.dim(), c.numClasses(), true));
            this.mlpHead = null;
        } else {
            this.tokenNorm = null;
            this.pooledNorm = null;
            this.linearHead = null;
            this.mlpHead = child("head", new Mlp(backend, c.dim(), c.mlpDim(), c.numClasses(), 0f, dropoutSeeds));
        }
        // Registered last so that a model without them draws the same initial weights from a seed.
        this.distToken = c.distilled() ? parameter("dist_token", false, c.dim()) : null;
        this.distHead = c.distilled() ? child("head_dist", new Linear(backend, c.dim(), c.numClasses(), true)) : null;
    }

    /**
     * The names and shapes {@link #namedParameters()} of a model of {@code c} has, in the same
     * order, without allocating it: what a weights file must hold before a model is built for it.
     *
     * @throws IllegalArgumentException if a dimension of {@code c} makes a parameter too large to hold
     */
    public static java.util.Map<String, int[]> parameterShapes(ViTConfig c) {
        java.util.Map<String, int[]> out = new java.util.LinkedHashMap<>();
        int d = c.dim();
        boolean vitPytorch = c.arch() == ViTConfig.Arch.VIT_PYTORCH;
        if (c.classToken()) {
            out.put("cls_token", new int[] {d});
        }
        out.put("pos_embed", new int[] {c.tokens(), d});
        if (c.distilled()) {
            out.put("dist_token", new int[] {d});   // a module's own parameters come before its children's
        }
        int features = Math.multiplyExact(c.channels(), Math.multiplyExact(c.patchSize(), c.patchSize()));
        if (vitPytorch) {
            layerNorm(out, "patch_embed.pre_norm", features);
        }
        linear(out, "patch_embed.proj", features, d, true);
        if (vitPytorch) {
            layerNorm(out, "patch_embed.post_norm", d);
        }
        int inner = Math.multiplyExact(c.heads(), c.headDim());
        for (int i = 0; i < c.depth(); i++) {
            String b = "blocks." + i + ".";
            layerNorm(out, b + "norm1", d);
            linear(out, b + "attn.qkv", d, Math.multiplyExact(3, inner), c.qkvBias());
            if (c.attentionProjection()) {
                linear(out, b + "attn.proj", inner, d, true);
            }
            layerNorm(out, b + "norm2", d);
            linear(out, b + "mlp.fc1", d, c.mlpDim(), true);
            linear(out, b + "mlp.fc2", c.mlpDim(), d, true);
        }
        if (c.head() == ViTConfig.Head.LINEAR) {
            layerNorm(out, "norm", d);
            linear(out, "head", d, c.numClasses(), true);
        } else {
            linear(out, "head.fc1", d, c.mlpDim(), true);
            linear(out, "head.fc2", c.mlpDim(), c.numClasses(), true);
        }
        if (c.distilled()) {
            linear(out, "head_dist", d, c.numClasses(), true);
        }
        for (var e : out.entrySet()) {
            long n = 1;
            for (int x : e.getValue()) {
                n *= x;
            }
            if (n > Integer.MAX_VALUE - 8) {
                throw new IllegalArgumentException("parameter " + e.getKey() + " of " + c + " would hold " + n
                        + " values, more than one array holds");
            }
        }
        return out;
    }

    private static void linear(java.util.Map<String, int[]> out, String name, int in, int outFeatures, boolean bias) {
        out.put(name + ".weight", new int[] {outFeatures, in});
        if (bias) {
            out.put(name + ".bias", new int[] {outFeatures});
        }
    }

    private static void layerNorm(java.util.Map<String, int[]> out, String name, int width) {
        out.put(name + ".weight", new int[] {width});
        out.put(name + ".bias", new int[] {width});
    }

    /** A model with its architecture's initialisation drawn from {@code seed} (see {@link #initialize}). */
    public static VisionTransformer create(Backend backend, ViTConfig config, long seed) {
        VisionTransformer model = new VisionTransformer(backend, config);
        model.initialize(new SplittableRandom(seed));
        return model;
    }

    public ViTConfig config() {
        return config;
    }

    public DropoutSeeds dropoutSeeds() {
        return dropoutSeeds;
    }

    /**
     * The architecture's initialisation. timm's ViT: truncated normal (std 0.02, cut at 2 std) for
     * every weight matrix and embedding, zeros for biases, ones and zeros for LayerNorm.
     * vit-pytorch and the 2020 tutorial ViT keep PyTorch's defaults: a Linear's weight and bias
     * uniform in {@code +-1/sqrt(fan_in)} ({@code kaiming_uniform_(a=sqrt(5))}), LayerNorm ones and
     * zeros, and {@code torch.randn}, N(0, 1), for the class token and the position embedding.
     */
    public void initialize(SplittableRandom random) {
        Map<String, Parameter> params = namedParameters();
        boolean timm = config.arch() == ViTConfig.Arch.TIMM;
        params.forEach((name, p) -> {
            float[] values = new float[Math.toIntExact(p.shape().numel())];
            Parameter weight = name.endsWith(".bias") ? params.get(name.substring(0, name.length() - 5) + ".weight") : p;
            boolean linear = weight != null && weight.shape().rank() == 2 && name.contains(".");
            if (!name.contains(".")) {                                   // cls_token, pos_embed, dist_token
                for (int i = 0; i < values.length; i++) {
                    values[i] = timm ? truncatedNormal(random, 0.02) : (float) random.nextGaussian();
                }
            } else if (!linear) {                                        // LayerNorm
                java.util.Arrays.fill(values, name.endsWith(".weight") ? 1f : 0f);
            } else if (timm) {
                if (name.endsWith(".weight")) {
                    for (int i = 0; i < values.length; i++) {
                        values[i] = truncatedNormal(random, 0.02);
                    }
                }
            } else {
                double bound = 1.0 / Math.sqrt(weight.shape().dim(1));
                for (int i = 0; i < values.length; i++) {
                    values[i] = (float) ((2 * random.nextDouble() - 1) * bound);
                }
            }
            backend.upload(values, p.value());
            backend.fill(p.grad(), 0f);
        });
    }

    private static float truncatedNormal(SplittableRandom random, double std) {
        double g;
        do {
            g = random.nextGaussian();
        } while (Math.abs(g) > 2.0);
        return (float) (g * std);
    }

    /**
     * With {@code on}, a distilled model's {@link #forward} returns the class head's logits and
     * keeps the distillation head's for {@link #distillationLogits()}; off (the default), it
     * returns their average, DeiT's prediction.
     */
    public void distillationTraining(boolean on) {
        if (on && distHead == null) {
            throw new IllegalStateException("distillation training needs a distilled model (ViTConfig.distilled)");
        }
        this.distillationTraining = on;
    }

    public boolean isDistillationTraining() {
        return distillationTraining;
    }

    /** The distillation head's logits [B, numClasses] from the last forward of a distilled model. */
    public Tensor distillationLogits() {
        if (distLogits == null) {
            throw new IllegalStateException("no distillation logits: the model is not distilled or has not run forward");
        }
        return distLogits;
    }

    /**
     * Freezes the patch embedding, the prefix tokens, the position embedding and the first
     * {@code blocks} blocks (0 unfreezes everything): their parameters keep their values,
     * receive no gradient, and backward stops above them. Call before building the optimizer
     * from {@link #trainableParameters()}.
     */
    public void freeze(int blocks) {
        if (blocks < 0 || blocks > config.depth()) {
            throw new IllegalArgumentException("can freeze 0.." + config.depth() + " blocks of this model, not " + blocks);
        }
        this.frozenBlocks = blocks;
    }

    public int frozenBlocks() {
        return frozenBlocks;
    }

    /** The parameters the optimizer should update: all but those {@link #freeze(int)} froze. */
    public java.util.Map<String, Parameter> trainableParameters() {
        java.util.Map<String, Parameter> out = new java.util.LinkedHashMap<>();
        namedParameters().forEach((name, p) -> {
            if (!isFrozen(name)) {
                out.put(name, p);
            }
        });
        return out;
    }

    private boolean isFrozen(String name) {
        if (frozenBlocks == 0) {
            return false;
        }
        if (name.equals("cls_token") || name.equals("dist_token") || name.equals("pos_embed")
                || name.startsWith("patch_embed.")) {
            return true;
        }
        if (name.startsWith("blocks.")) {
            int block = Integer.parseInt(name.substring("blocks.".length(), name.indexOf('.', "blocks.".length())));
            return block < frozenBlocks;
        }
        return false;
    }

    /** images [B, C, imageSize, imageSize] -> logits [B, numClasses]. */
    public Tensor forward(Tensor images) {
        var s = images.shape();
        if (s.rank() != 4 || s.dim(1) != config.channels() || s.dim(2) != config.imageSize()
                || s.dim(3) != config.imageSize()) {
            throw new IllegalArgumentException("images " + s + " do not match the model's input [B, "
                    + config.channels() + ", " + config.imageSize() + ", " + config.imageSize() + "]");
        }
        int b = s.dim(0);
        Tensor patches = patchEmbed.forward(images);                      // [B, P, dim]
        tokens = acts.get("tokens", b, config.tokens(), config.dim());    // [B, T+P, dim], T prefix tokens
        backend.tokensForward(patches, clsToken == null ? null : clsToken.value(),
                distToken == null ? null : distToken.value(), posEmbed.value(), tokens);
        Tensor x = embedDrop.forward(tokens);
        for (Block block : blocks) {
            x = block.forward(x);
        }
        if (tokenNorm != null) {
            x = tokenNorm.forward(x);                                     // every token (vit-pytorch, DeiT)
        }
        if (distHead != null) {
            return distilledHeads(x, b);
        }
        Tensor pooled = acts.get("pooled", b, config.dim());             // [B, dim]
        if (config.pool() == ViTConfig.Pool.CLS) {
            backend.classTokenForward(x, pooled);
        } else {
            backend.meanPoolForward(x, config.prefixTokens(), pooled);    // the tokens after the prefix ones
        }
        if (mlpHead != null) {
            return mlpHead.forward(pooled);
        }
        return linearHead.forward(pooledNorm != null ? pooledNorm.forward(pooled) : pooled);
    }

    private Tensor distilledHeads(Tensor normed, int b) {
        Tensor clsPooled = acts.get("pooled", b, config.dim());          // x[:, 0]
        Tensor distPooled = acts.get("pooledDist", b, config.dim());     // x[:, 1]
        backend.tokenForward(normed, 0, clsPooled);
        backend.tokenForward(normed, 1, distPooled);
        classLogits = linearHead.forward(clsPooled);
        distLogits = distHead.forward(distPooled);
        if (distillationTraining) {
            return classLogits;
        }
        Tensor mean = acts.get("meanLogits", classLogits.shape());
        backend.add(classLogits, distLogits, mean);
        backend.scale(mean, 0.5f);
        return mean;
    }

    /** Back-propagates {@code dLogits} from the last forward, adding into every parameter's gradient. */
    public void backward(Tensor dLogits) {
        if (distHead != null) {
            if (distillationTraining) {
                throw new IllegalStateException("in distillation training, back-propagate both heads with "
                        + "backward(dClassLogits, dDistillationLogits)");
            }
            Tensor half = acts.get("dHalfLogits", dLogits.shape());      // d(mean)/d(each head) = 1/2
            backend.copy(dLogits, half);
            backend.scale(half, 0.5f);
            backwardDistilled(half, half);
            return;
        }
        Tensor dPooled;
        if (mlpHead != null) {
            dPooled = mlpHead.backward(dLogits);
        } else {
            dPooled = linearHead.backward(dLogits, true);
            if (pooledNorm != null) {
                dPooled = pooledNorm.backward(dPooled);
            }
        }
        Tensor dx = acts.get("dtokens", tokens.shape());
        if (config.pool() == ViTConfig.Pool.CLS) {
            backend.classTokenBackward(dPooled, dx);
        } else {
            backend.meanPoolBackward(dPooled, config.prefixTokens(), dx);
        }
        backwardBody(tokenNorm != null ? tokenNorm.backward(dx) : dx);
    }

    /** A distilled model's backward from the class head's and the distillation head's logit gradients. */
    public void backward(Tensor dClassLogits, Tensor dDistillationLogits) {
        if (distHead == null) {
            throw new IllegalStateException("backward(dClassLogits, dDistillationLogits) is for distilled models");
        }
        backwardDistilled(dClassLogits, dDistillationLogits);
    }

    private void backwardDistilled(Tensor dCls, Tensor dDist) {
        Tensor dClsPooled = linearHead.backward(dCls, true);
        Tensor dDistPooled = distHead.backward(dDist, true);
        Tensor dNormed = acts.get("dnormed", tokens.shape());
        Tensor dNormedDist = acts.get("dnormedDist", tokens.shape());
        backend.tokenBackward(dClsPooled, 0, dNormed);
        backend.tokenBackward(dDistPooled, 1, dNormedDist);
        backend.addInPlace(dNormed, dNormedDist);
        backwardBody(tokenNorm.backward(dNormed));
    }

    private void backwardBody(Tensor dx) {
        int b = dx.shape().dim(0);
        for (int i = blocks.size() - 1; i >= frozenBlocks; i--) {
            dx = blocks.get(i).backward(dx);
        }
        if (frozenBlocks > 0) {
            return;                                                        // nothing below trains
        }
        dx = embedDrop.backward(dx);
        Tensor dPatches = acts.get("dpatches", b, config.numPatches(), config.dim());
        backend.tokensBackward(dx, dPatches, clsToken == null ? null : clsToken.grad(),
                distToken == null ? null : distToken.grad(), posEmbed.grad());
        patchEmbed.backward(dPatches);
    }
}
