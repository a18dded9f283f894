package org.vit4j.cli;

import org.vit4j.cli.CliRun.Result;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vit4j.backend.Backend;
import org.vit4j.backend.cpu.CpuBackend;
import org.vit4j.data.Normalization;
import org.vit4j.io.SafeTensors;
import org.vit4j.nn.TimmWeights;
import org.vit4j.nn.ViTConfig;
import org.vit4j.nn.VisionTransformer;
import org.vit4j.optim.AdamW;
import org.vit4j.train.Checkpoint;
import org.vit4j.train.WeightsFile;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import javax.imageio.ImageIO;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code vit4j export} through {@link Main#run}: a checkpoint under timm's names and back, and
 * what {@code predict} makes of the exported file (the recorded config, classes and
 * normalisation, not what the shapes suggest).
 */
class ExportCommandTest {
    private static Result run(String... args) {
        return CliRun.run(args);
    }

    /** 4 heads of width 16: timm's 64-wide heads would make it one head, which is not this model. */
    static final ViTConfig FOUR_HEADS = new ViTConfig(32, 8, 3, 5, 64, 2, 4, 128, 0.1f, ViTConfig.Pool.CLS,
            ViTConfig.Head.LINEAR);
    static final List<String> CLASSES = List.of("apple", "bee", "cat", "dog", "eel");
    static final Normalization NORM = new Normalization(new float[] {0.3f, 0.4f, 0.5f}, new float[] {0.2f, 0.25f, 0.3f});

    @TempDir
    Path tmp;

    /** A checkpoint of a random {@link #FOUR_HEADS} model with class names and normalisation. */
    private Path checkpoint() throws IOException {
        Path file = tmp.resolve("four-heads.ckpt.safetensors");
        try (Backend backend = new CpuBackend(1); VisionTransformer model = VisionTransformer.create(backend, FOUR_HEADS, 7)) {
            Checkpoint.save(file, model, null, 3, "{\"dataset\":\"folder\"}", CLASSES, NORM);
        }
        return file;
    }

    private Path image(String name, long seed) throws IOException {
        SplittableRandom rnd = new SplittableRandom(seed);
        BufferedImage img = new BufferedImage(37, 29, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < img.getHeight(); y++) {
            for (int x = 0; x < img.getWidth(); x++) {
                img.setRGB(x, y, rnd.nextInt(0xFFFFFF) & (x < 18 ? 0xFF00FF : 0x00FFFF));
            }
        }
        Path file = tmp.resolve(name);
        assertTrue(ImageIO.write(img, "png", file.toFile()));
        return file;
    }

    /** predict --json's objects without their paths: indices, labels and probabilities. */
    private List<String> predictions(Path weights, List<Path> images) throws IOException {
        List<String> args = new ArrayList<>(List.of("predict", "--weights", weights.toString(), "--json", "--top-k", "5",
                "--device", "cpu", "--decode-threads", "1"));
        images.forEach(f -> args.add(f.toString()));
        Result r = run(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        List<String> out = new ArrayList<>();
        ObjectMapper m = new ObjectMapper();
        for (String line : r.out().lines().toList()) {
            JsonNode o = m.readTree(line);
            out.add(o.get("indices") + " " + o.get("labels") + " " + o.get("probabilities"));
        }
        assertEquals(images.size(), out.size(), r.out());
        return out;
    }

    /** The exported file predicts exactly as its checkpoint: the same heads, normalisation, preprocessing and names. */
    @Test
    void predictOnTheExportMatchesTheCheckpoint() throws IOException {
        Path ckpt = checkpoint();
        Path timm = tmp.resolve("four-heads.timm.safetensors");
        Result r = run("export", "--format", "timm", "--checkpoint", ckpt.toString(), "--out", timm.toString());
        assertEquals(0, r.code(), r.err());
        List<Path> images = List.of(image("a.png", 1), image("b.png", 2), image("c.png", 3));
        List<String> fromCheckpoint = predictions(ckpt, images);
        assertEquals(fromCheckpoint, predictions(timm, images));
        assertTrue(fromCheckpoint.get(0).contains("\"apple\""), "the recorded class names: " + fromCheckpoint.get(0));
        // The images differ, so equal lists are not an accident of a constant model.
        assertNotEquals(fromCheckpoint.get(0), fromCheckpoint.get(1));
    }

    /** checkpoint -> timm -> vit4j: the same weights, config, class names and normalisation; the timm file is timm's. */
    @Test
    void checkpointToTimmToVit4jKeepsEverything() throws IOException {
        Path ckpt = checkpoint();
        Path timm = tmp.resolve("m.timm.safetensors"), back = tmp.resolve("m.back.safetensors");
        Result r = run("export", "--format", "timm", "--checkpoint", ckpt.toString(), "--out", timm.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals("wrote " + timm + ": the timm model of " + ckpt + " under timm's names (metadata vit4j.config, "
                + "vit4j.classes, vit4j.normalization, timm.create_model)", r.out().strip());
        r = run("export", "--format", "vit4j", "--weights", timm.toString(), "--output", back.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals("wrote " + back + ": the timm model of " + timm + " as a vit4j checkpoint (weights, class names, "
                + "normalisation)", r.out().strip());

        SafeTensors.Contents original = SafeTensors.read(ckpt), exported = SafeTensors.read(timm);
        Map<String, String> meta = exported.metadata();
        assertEquals(Set.of("format", "vit4j.config", "vit4j.classes", "vit4j.normalization", "timm.create_model"),
                meta.keySet());
        assertEquals(original.metadata().get("config"), meta.get("vit4j.config"), "the checkpoint's config JSON");
        assertEquals(original.metadata().get("classes"), meta.get("vit4j.classes"));
        assertEquals(original.metadata().get("normalization"), meta.get("vit4j.normalization"));
        assertEquals("pt", meta.get("format"));
        JsonNode args = new ObjectMapper().readTree(meta.get("timm.create_model"));
        assertEquals("{\"model_name\":\"vit_tiny_patch16_224\",\"pretrained\":false,\"num_classes\":5,\"img_size\":32,"
                + "\"patch_size\":8,\"in_chans\":3,\"embed_dim\":64,\"depth\":2,\"num_heads\":4,\"mlp_ratio\":2.0,"
                + "\"global_pool\":\"token\"}", args.toString());
        // timm's shapes
        assertArrayEquals(new int[] {1, 1, 64}, exported.tensors().get("cls_token").shape());
        assertArrayEquals(new int[] {1, 17, 64}, exported.tensors().get("pos_embed").shape());
        assertArrayEquals(new int[] {64, 3, 8, 8}, exported.tensors().get("patch_embed.proj.weight").shape());
        assertArrayEquals(new int[] {192, 64}, exported.tensors().get("blocks.1.attn.qkv.weight").shape());

        Checkpoint a = Checkpoint.load(ckpt), b = Checkpoint.load(back);
        assertEquals(FOUR_HEADS, b.config(), "dropout included");
        assertEquals(a.config(), b.config());
        assertEquals(CLASSES, b.classes());
        assertArrayEquals(NORM.mean(), b.normalization().mean());
        assertArrayEquals(NORM.std(), b.normalization().std());
        assertEquals(0, b.epoch());
        assertEquals(0, b.step());
        assertEquals(a.tensors().keySet(), b.tensors().keySet(), "weights only, as the optimizer-free checkpoint had");
        a.tensors().forEach((name, e) -> {
            assertArrayEquals(e.shape(), b.tensors().get(name).shape(), name);
            assertArrayEquals(e.floats(), b.tensors().get(name).floats(), name);
        });
    }

    /** A trained checkpoint's optimizer state is left out of --format vit4j. */
    @Test
    void vit4jFormatDropsTheOptimizerState() throws IOException {
        Path ckpt = tmp.resolve("with-adamw.safetensors"), back = tmp.resolve("weights.safetensors");
        try (Backend backend = new CpuBackend(1); VisionTransformer model = VisionTransformer.create(backend, FOUR_HEADS, 3);
             AdamW adamw = new AdamW(backend, model.namedParameters(), 0.9f, 0.999f, 1e-8f, 0.05f)) {
            Checkpoint.save(ckpt, model, adamw, 4, "{}", CLASSES, NORM);
        }
        assertTrue(SafeTensors.read(ckpt).tensors().keySet().stream().anyMatch(n -> n.startsWith("optim.")));
        assertEquals(0, run("export", "--format", "vit4j", "--checkpoint", ckpt.toString(), "--out", back.toString()).code());
        Checkpoint b = Checkpoint.load(back);
        assertTrue(b.tensors().keySet().stream().allMatch(n -> n.startsWith("model.")), b.tensors().keySet().toString());
        assertEquals(0, b.epoch());
        assertEquals(FOUR_HEADS, b.config());
    }

    /** A bare timm file: heads inferred, said in one line; --heads gives the right ones, and the checkpoint keeps them. */
    @Test
    void bareTimmFileSaysItsHeadsAreInferred() throws IOException {
        Path bare = tmp.resolve("bare.safetensors"), out = tmp.resolve("out.safetensors");
        try (Backend backend = new CpuBackend(1); VisionTransformer model = VisionTransformer.create(backend, FOUR_HEADS, 7)) {
            TimmWeights.write(bare, model);
        }
        assertEquals(Set.of("format", "timm.create_model"), SafeTensors.read(bare).metadata().keySet());
        Result r = run("export", "--format", "vit4j", "--checkpoint", bare.toString(), "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        List<String> warnings = r.err().lines().filter(l -> l.contains("inferred")).toList();
        assertEquals(List.of("[WARN] " + bare + ": heads = 1 inferred from timm's 64-wide heads (the file records no "
                + "config; pass --heads to override)"), warnings, r.err());
        assertEquals(1, Checkpoint.load(out).config().heads());
        assertEquals(null, Checkpoint.load(out).classes());

        r = run("export", "--format", "vit4j", "--checkpoint", bare.toString(), "--out", out.toString(), "--heads", "4");
        assertEquals(0, r.code(), r.err());
        assertFalse(r.err().contains("inferred"), r.err());
        assertEquals(FOUR_HEADS.withDropout(0f, 0f), Checkpoint.load(out).config());
        assertEquals("wrote " + out + ": the timm model of " + bare + " as a vit4j checkpoint (weights only)", r.out().strip());
    }

    /** Bad input: one line naming the problem. */
    @Test
    void badInputIsOneLine() throws IOException {
        Path ckpt = checkpoint();
        Path timm = tmp.resolve("t.safetensors");
        assertEquals(List.of("vit4j export: error: --format must be timm, vit4j or vit-pytorch, got onnx"),
                run("export", "--format", "onnx", "--checkpoint", ckpt.toString(), "--out", timm.toString()).err().lines().toList());
        assertEquals(List.of("vit4j export: error: --out and --checkpoint name the same file " + ckpt + "; give each its own"),
                run("export", "--checkpoint", ckpt.toString(), "--out", ckpt.toString()).err().lines().toList());
        assertEquals(0, run("export", "--checkpoint", ckpt.toString(), "--out", timm.toString()).code());
        Result r = run("export", "--format", "vit4j", "--checkpoint", timm.toString(), "--out",
                tmp.resolve("x.safetensors").toString(), "--heads", "2");
        assertEquals(2, r.code());
        assertEquals(List.of("vit4j export: error: --heads 2 conflicts with " + timm + ", whose model has 4 heads "
                + "(recorded in the file)"), r.err().lines().toList());

        // metadata that contradicts the tensors: depth 3 recorded, 2 blocks stored
        SafeTensors.Contents c = SafeTensors.read(timm);
        Map<String, String> meta = new LinkedHashMap<>(c.metadata());
        meta.put("vit4j.config", meta.get("vit4j.config").replace("\"depth\":2", "\"depth\":3"));
        Path lying = tmp.resolve("lying.safetensors");
        SafeTensors.write(lying, c.tensors(), meta);
        r = run("predict", "--weights", lying.toString(), image("i.png", 9).toString());
        assertEquals(1, r.code());
        List<String> errors = r.err().lines().toList();
        assertEquals(1, errors.size(), r.err());
        assertTrue(errors.get(0).startsWith("vit4j predict: error: " + lying + ": vit4j metadata records the model "
                + "ViTConfig[imageSize=32, patchSize=8, channels=3, numClasses=5, dim=64, depth=3, heads=4"), errors.get(0));
        assertTrue(errors.get(0).contains(" but its tensors hold ViTConfig[imageSize=32, patchSize=8, channels=3, "
                + "numClasses=5, dim=64, depth=2, heads=4"), errors.get(0));

        meta.put("vit4j.config", c.metadata().get("vit4j.config"));
        meta.put("vit4j.classes", "[\"a\",\"b\"]");
        SafeTensors.write(lying, c.tensors(), meta);
        assertEquals(List.of("vit4j predict: error: " + lying + ": vit4j metadata names 2 classes but its model has 5"),
                run("predict", "--weights", lying.toString(), image("i.png", 9).toString()).err().lines().toList());
    }

    /**
     * train --init of a heads-4 export builds a heads-4 model (not the 1 the shapes suggest), and
     * --teacher reads it so too, neither with the inferred-heads warning.
     */
    @Test
    void initFromAnExportUsesItsRecordedHeads() throws IOException {
        Path data = tmp.resolve("mnist");
        CliTest.writeMnist(data, true, true);
        ViTConfig grey = new ViTConfig(28, 7, 1, 10, 64, 1, 4, 128, 0f, ViTConfig.Pool.CLS, ViTConfig.Head.LINEAR);
        Path ckpt = tmp.resolve("grey.ckpt.safetensors"), timm = tmp.resolve("grey.timm.safetensors");
        try (Backend backend = new CpuBackend(1); VisionTransformer model = VisionTransformer.create(backend, grey, 11)) {
            Checkpoint.save(ckpt, model, null, 1, null, null, Normalization.MNIST);
        }
        assertEquals(0, run("export", "--checkpoint", ckpt.toString(), "--out", timm.toString()).code());
        Path trained = tmp.resolve("trained.safetensors");
        Result r = run("train", "--data-dir", data.toString(), "--epochs", "1", "--batch-size", "50", "--no-progress",
                "--init", timm.toString(), "--checkpoint", trained.toString());
        assertEquals(0, r.code(), r.err());
        assertFalse(r.err().contains("inferred"), r.err());
        assertEquals(4, Checkpoint.load(trained).config().heads());
        assertEquals(grey.dim(), Checkpoint.load(trained).config().dim());

        // the same export as a --teacher: read with its recorded heads too, no guess announced
        r = run("train", "--data-dir", data.toString(), "--epochs", "1", "--batch-size", "50", "--no-progress",
                "--depth", "1", "--dim", "16", "--heads", "2", "--mlp-dim", "32", "--arch", "timm", "--pool", "cls",
                "--head", "linear", "--teacher", timm.toString(), "--checkpoint", tmp.resolve("student.safetensors").toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("distilling from " + timm), r.err());
        assertFalse(r.err().contains("inferred"), r.err());
    }

    /** A vit-pytorch export records its config too: 2 heads of 16, which the shapes cannot tell. */
    @Test
    void vitPytorchExportRecordsItsConfig() throws IOException {
        ViTConfig vp = new ViTConfig(28, 7, 1, 10, 32, 1, 2, 64, 0.1f, ViTConfig.Pool.MEAN, ViTConfig.Head.LINEAR, false,
                ViTConfig.Arch.VIT_PYTORCH, 16, 0f);
        Path ckpt = tmp.resolve("vp.ckpt.safetensors"), out = tmp.resolve("vp.safetensors");
        try (Backend backend = new CpuBackend(1); VisionTransformer model = VisionTransformer.create(backend, vp, 2)) {
            Checkpoint.save(ckpt, model, null, 1, null, List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9"),
                    Normalization.MNIST);
        }
        Result r = run("export", "--checkpoint", ckpt.toString(), "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals("wrote " + out + ": the vit-pytorch model of " + ckpt + " under vit-pytorch's names (metadata "
                + "vit4j.config, vit4j.classes, vit4j.normalization, vit_pytorch.ViT)", r.out().strip());
        WeightsFile file = WeightsFile.read(out, null);
        assertEquals(WeightsFile.Kind.VIT_PYTORCH, file.kind());
        assertEquals(vp, file.config());
        assertTrue(file.configRecorded());
        assertArrayEquals(Normalization.MNIST.mean(), file.normalization().mean());
        Path image = image("v.png", 4);
        assertEquals(predictions(ckpt, List.of(image)), predictions(out, List.of(image)));
    }

    /** Predictor.load of the export predicts as of the checkpoint: recorded heads, normalisation and class names. */
    @Test
    void predictorOfTheExportMatchesTheCheckpoint() throws IOException {
        Path ckpt = checkpoint();
        Path timm = tmp.resolve("p.timm.safetensors");
        assertEquals(0, run("export", "--format", "timm", "--checkpoint", ckpt.toString(), "--out", timm.toString()).code());
        Path image = image("p.png", 5);
        try (Backend backend = new CpuBackend(1);
             org.vit4j.inference.Predictor a = org.vit4j.inference.Predictor.load(backend, ckpt);
             org.vit4j.inference.Predictor b = org.vit4j.inference.Predictor.load(backend, timm)) {
            assertEquals(CLASSES, b.classes());
            assertEquals(a.predict(image, 5), b.predict(image, 5));
        }
    }

    /** eval of the export uses its recorded normalisation, as eval of the checkpoint does: the same loss. */
    @Test
    void evalOfTheExportMatchesTheCheckpoint() throws IOException {
        Path data = tmp.resolve("mnist");
        CliTest.writeMnist(data, true, true);
        ViTConfig grey = new ViTConfig(28, 7, 1, 10, 64, 1, 4, 128, 0f, ViTConfig.Pool.CLS, ViTConfig.Head.LINEAR);
        Path ckpt = tmp.resolve("e.ckpt.safetensors"), timm = tmp.resolve("e.timm.safetensors");
        try (Backend backend = new CpuBackend(1); VisionTransformer model = VisionTransformer.create(backend, grey, 13)) {
            Checkpoint.save(ckpt, model, null, 1, null, null, new Normalization(new float[] {0.9f}, new float[] {0.05f}));
        }
        assertEquals(0, run("export", "--checkpoint", ckpt.toString(), "--out", timm.toString()).code());
        Result a = run("eval", "--checkpoint", ckpt.toString(), "--data-dir", data.toString());
        Result b = run("eval", "--weights", timm.toString(), "--data-dir", data.toString());
        assertEquals(0, a.code(), a.err());
        assertEquals(0, b.code(), b.err());
        assertTrue(a.out().startsWith("mnist test: loss "), a.out());
        assertEquals(a.out().substring(0, a.out().indexOf('(')), b.out().substring(0, b.out().indexOf('(')));
    }
}
