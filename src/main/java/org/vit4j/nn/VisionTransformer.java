package org.vit4j.nn;

import org.vit4j.backend.Backend;
import org.vit4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
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
    private final LayerNorm norm;
    private final Linear linearHead;
    private final Mlp mlpHead;
    private Tensor tokens;

    public VisionTransformer(Backend backend, ViTConfig c) {
        super(backend);
        this.config = c;
        this.clsToken = parameter("cls_token", false, c.dim());
        this.posEmbed = parameter("pos_embed", false, c.tokens(), c.dim());
        this.patchEmbed = child("patch_embed", new PatchEmbedding(backend, c.channels(), c.patchSize(), c.dim()));
        this.embedDrop = child("pos_drop", new Dropout(backend, c.dropout(), dropoutSeeds));
        for (int i = 0; i < c.depth(); i++) {
            blocks.add(child("blocks." + i, new Block(backend, c.dim(), c.heads(), c.mlpDim(), c.dropout(), dropoutSeeds)));
        }
        if (c.head() == ViTConfig.Head.LINEAR) {
            this.norm = child("norm", new LayerNorm(backend, c.dim()));
            this.linearHead = child("head", new Linear(backend, c.dim(), c.numClasses(), true));
            this.mlpHead = null;
        } else {
            this.norm = null;
            this.linearHead = null;
            this.mlpHead = child("head", new Mlp(backend, c.dim(), c.mlpDim(), c.numClasses(), 0f, dropoutSeeds));
        }
    }

    /** A model with timm's initialisation drawn from {@code seed}. */
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
     * timm's ViT initialisation: truncated normal (std 0.02, cut at 2 std) for every weight
     * matrix and embedding, zeros for biases, ones and zeros for LayerNorm.
     */
    public void initialize(SplittableRandom random) {
        namedParameters().forEach((name, p) -> {
            boolean norm = name.contains("norm");
            float[] values = new float[Math.toIntExact(p.shape().numel())];
            if (norm && name.endsWith("weight")) {
                java.util.Arrays.fill(values, 1f);
            } else if (!name.endsWith("bias")) {
                for (int i = 0; i < values.length; i++) {
                    values[i] = truncatedNormal(random, 0.02);
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
        tokens = acts.get("tokens", b, config.tokens(), config.dim());    // [B, P+1, dim]
        backend.tokensForward(patches, clsToken.value(), posEmbed.value(), tokens);
        Tensor x = embedDrop.forward(tokens);
        for (Block block : blocks) {
            x = block.forward(x);
        }
        Tensor pooled = acts.get("pooled", b, config.dim());             // [B, dim]
        if (config.pool() == ViTConfig.Pool.CLS) {
            backend.classTokenForward(x, pooled);
        } else {
            backend.meanPoolForward(x, 1, pooled);
        }
        return linearHead != null ? linearHead.forward(norm.forward(pooled)) : mlpHead.forward(pooled);
    }

    /** Back-propagates {@code dLogits} from the last forward, adding into every parameter's gradient. */
    public void backward(Tensor dLogits) {
        int b = dLogits.shape().dim(0);
        Tensor dPooled = linearHead != null ? norm.backward(linearHead.backward(dLogits, true)) : mlpHead.backward(dLogits);
        Tensor dx = acts.get("dtokens", tokens.shape());
        if (config.pool() == ViTConfig.Pool.CLS) {
            backend.classTokenBackward(dPooled, dx);
        } else {
            backend.meanPoolBackward(dPooled, 1, dx);
        }
        for (int i = blocks.size() - 1; i >= 0; i--) {
            dx = blocks.get(i).backward(dx);
        }
        dx = embedDrop.backward(dx);
        Tensor dPatches = acts.get("dpatches", b, config.numPatches(), config.dim());
        backend.tokensBackward(dx, dPatches, clsToken.grad(), posEmbed.grad());
        patchEmbed.backward(dPatches);
    }
}
