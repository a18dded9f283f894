package org.vit4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vit4j.backend.Backend;
import org.vit4j.backend.cpu.CpuBackend;
import org.vit4j.data.Normalization;
import org.vit4j.nn.ViTConfig;
import org.vit4j.nn.VisionTransformer;
import org.vit4j.train.Checkpoint;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import javax.imageio.ImageIO;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code vit4j export} through {@link Main#run}: a checkpoint under timm's names and back, and
 * what {@code predict} makes of the exported file (the recorded config, classes and
 * normalisation, not what the shapes suggest).
 */
class ExportCommandTest {
    /** 4 heads of width 16: timm's 64-wide heads would make it one head, which is not this model. */
    static final ViTConfig FOUR_HEADS = new ViTConfig(32, 8, 3, 5, 64, 2, 4, 128, 0.1f, ViTConfig.Pool.CLS,
            ViTConfig.Head.LINEAR);
    static final List<String> CLASSES = List.of("apple", "bee", "cat", "dog", "eel");
    static final Normalization NORM = new Normalization(new float[] {0.3f, 0.4f, 0.5f}, new float[] {0.2f, 0.25f, 0.3f});

    @TempDir
    Path tmp;
    private PrintStream savedOut;
    private PrintStream savedErr;

    @BeforeEach
    void save() {
        savedOut = System.out;
        savedErr = System.err;
    }

    @AfterEach
    void restore() {
        System.setOut(savedOut);
        System.setErr(savedErr);
    }

    record Result(int code, String out, String err) {
    }

    private Result run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = Main.run(args);
        } finally {
            System.out.flush();
            System.err.flush();
            System.setOut(savedOut);
            System.setErr(savedErr);
        }
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

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
}
