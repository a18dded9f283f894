package org.vit4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vit4j.backend.Backend;
import org.vit4j.backend.cpu.CpuBackend;
import org.vit4j.data.BadImages;
import org.vit4j.data.EvalTransform;
import org.vit4j.data.Normalization;
import org.vit4j.nn.TimmWeights;
import org.vit4j.nn.ViTConfig;
import org.vit4j.nn.VisionTransformer;
import org.vit4j.tensor.Tensor;
import org.vit4j.train.Checkpoint;
import picocli.CommandLine;

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
import java.util.stream.IntStream;
import javax.imageio.ImageIO;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code vit4j predict} through picocli (as {@link Main} runs it) on a tiny random timm model
 * and a tiny vit4j checkpoint: the printed classes and probabilities are the model's on the
 * preprocessed images, whatever the batching; unreadable images are reported and skipped.
 */
class PredictCommandTest {
    /** A timm-style ViT: 32 px, patch 8, 10 classes, dim 16, 2 heads (not timm's 64-wide: --heads 2). */
    private static final ViTConfig TIMM = new ViTConfig(32, 8, 3, 10, 16, 1, 2, 32, 0f, ViTConfig.Pool.CLS,
            ViTConfig.Head.LINEAR);
    /** A vit4j model for 28 px grey images with an MLP head. */
    private static final ViTConfig GREY = new ViTConfig(28, 7, 1, 4, 16, 1, 2, 32, 0f, ViTConfig.Pool.MEAN,
            ViTConfig.Head.MLP);

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

    private record Result(int code, String out, String err) {
        /** stderr without log lines. */
        List<String> errors() {
            return err.lines().filter(l -> l.startsWith("vit4j ")).toList();
        }
    }

    private Result run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        int code;
        try {
            CommandLine cli = new CommandLine(new PredictCommand());
            // As Main.run does once predict is one of its subcommands.
            cli.setExecutionExceptionHandler((ex, cmd, parseResult) -> {
                cmd.getErr().println("vit4j " + cmd.getCommandName() + ": error: " + Main.describe(ex));
                return ex instanceof IllegalArgumentException ? 2 : 1;
            });
            code = cli.execute(args);
        } finally {
            System.setOut(savedOut);
            System.setErr(savedErr);
        }
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private Path timmFile() throws IOException {
        Path file = tmp.resolve("tiny-timm.safetensors");
        try (Backend backend = new CpuBackend(2); VisionTransformer model = VisionTransformer.create(backend, TIMM, 5)) {
            TimmWeights.write(file, model);
        }
        return file;
    }

    /** A random image with some structure (so classes differ between images), PNG or JPEG by the name. */
    private Path image(String name, int w, int h, boolean grey, long seed) throws IOException {
        SplittableRandom rnd = new SplittableRandom(seed);
        BufferedImage img = new BufferedImage(w, h, grey ? BufferedImage.TYPE_BYTE_GRAY : BufferedImage.TYPE_INT_RGB);
        int base = rnd.nextInt(0xFFFFFF);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int v = (x * 255 / w) << (8 * rnd.nextInt(3));
                img.setRGB(x, y, (base ^ v ^ rnd.nextInt(0x202020)) & 0xFFFFFF);
            }
        }
        Path file = tmp.resolve(name);
        Files.createDirectories(file.getParent());
        String format = name.endsWith(".png") ? "png" : "jpg";
        assertTrue(ImageIO.write(img, format, file.toFile()));
        return file;
    }

    /** Probabilities the model gives each image, one at a time, straight from EvalTransform. */
    private static double[][] reference(ViTConfig config, Path weights, boolean checkpoint, EvalTransform t,
                                        List<Path> files) throws IOException {
        try (Backend backend = new CpuBackend(2);
             VisionTransformer model = checkpoint ? new VisionTransformer(backend, config)
                     : TimmWeights.read(backend, weights, config.heads());
             Tensor x = backend.allocate(1, config.channels(), config.imageSize(), config.imageSize())) {
            if (checkpoint) {
                Checkpoint.load(weights).loadInto(model, weights);
            }
            model.train(false);
            double[][] p = new double[files.size()][config.numClasses()];
            for (int i = 0; i < files.size(); i++) {
                backend.upload(t.apply(files.get(i)), x);
                org.vit4j.inference.Predictor.softmax(backend.toArray(model.forward(x)), 0, config.numClasses(), p[i]);
            }
            return p;
        }
    }

    private static List<JsonNode> json(String out) throws IOException {
        ObjectMapper m = new ObjectMapper();
        List<JsonNode> nodes = new ArrayList<>();
        for (String line : out.lines().toList()) {
            nodes.add(m.readTree(line));
        }
        return nodes;
    }

    @Test
    void timmModelTopClassesMatchTheModelInAnyBatching() throws IOException {
        Path weights = timmFile();
        List<Path> files = List.of(image("a.png", 40, 30, false, 1), image("b.jpg", 31, 45, false, 2),
                image("c.png", 32, 32, true, 3), image("d.png", 64, 50, false, 4), image("e.png", 33, 90, false, 5));
        double[][] want = reference(TIMM, weights, false,
                EvalTransform.centerCrop(EvalTransform.timmResize(32), 32, EvalTransform.IMAGENET), files);

        for (String batch : new String[] {"1", "2", "32"}) {
            List<String> args = new ArrayList<>(List.of("--weights", weights.toString(), "--heads", "2", "--json",
                    "--top-k", "3", "--device", "cpu", "--batch-size", batch, "--decode-threads", "2"));
            files.forEach(f -> args.add(f.toString()));
            Result r = run(args.toArray(String[]::new));
            assertEquals(0, r.code(), r.err());
            List<JsonNode> got = json(r.out());
            assertEquals(files.size(), got.size(), r.out());
            for (int i = 0; i < files.size(); i++) {
                JsonNode o = got.get(i);
                assertEquals(files.get(i).toString(), o.get("path").asText());
                double[] p = want[i];
                int[] top = IntStream.range(0, p.length).boxed()
                        .sorted((a, b) -> Double.compare(p[b], p[a])).mapToInt(Integer::intValue).limit(3).toArray();
                int[] indices = new int[3];
                for (int j = 0; j < 3; j++) {
                    indices[j] = o.get("indices").get(j).asInt();
                    assertEquals(p[indices[j]], o.get("probabilities").get(j).asDouble(), 1e-5, "batch " + batch);
                    assertEquals(Integer.toString(indices[j]), o.get("labels").get(j).asText(), "no names: indices");
                }
                assertArrayEquals(top, indices, "batch " + batch + ", image " + i);
            }
        }
    }

    @Test
    void textOutputWithLabelsAndDirectories() throws IOException {
        Path weights = timmFile();
        image("dir/b/2.png", 40, 30, false, 1);
        image("dir/a.jpg", 30, 40, false, 2);
        image("dir/.hidden.png", 30, 40, false, 3);
        Files.writeString(tmp.resolve("dir/readme.txt"), "not an image");
        Path labels = Files.writeString(tmp.resolve("labels.txt"),
                String.join("\n", IntStream.range(0, 10).mapToObj(i -> "label " + i).toList()) + "\n\n");
        Result r = run("--weights", weights.toString(), "--heads", "2", "--labels", labels.toString(), "--top-k", "2",
                "--device", "cpu", tmp.resolve("dir").toString());
        assertEquals(0, r.code(), r.err());
        List<String> lines = r.out().lines().toList();
        assertEquals(6, lines.size(), r.out());
        assertEquals(tmp.resolve("dir/a.jpg").toString(), lines.get(0));
        assertEquals(tmp.resolve("dir/b/2.png").toString(), lines.get(3));
        for (int i : new int[] {1, 2, 4, 5}) {
            assertTrue(lines.get(i).matches("  [01]\\.\\d{4}  label \\d"), lines.get(i));
        }
        double first = Double.parseDouble(lines.get(1).trim().split(" +")[0]);
        double second = Double.parseDouble(lines.get(2).trim().split(" +")[0]);
        assertTrue(first >= second, r.out());
    }

    @Test
    void unreadableImagesAreReportedAndTheOthersPredicted() throws IOException {
        Path weights = timmFile();
        Path good1 = image("good1.png", 40, 30, false, 1);
        Path broken = Files.writeString(tmp.resolve("broken.jpg"), "not a JPEG");
        Path missing = tmp.resolve("missing.png");
        Path good2 = image("good2.png", 30, 40, false, 2);
        Path empty = Files.createDirectories(tmp.resolve("empty-dir"));
        Result r = run("--weights", weights.toString(), "--heads", "2", "--device", "cpu", "--batch-size", "2",
                good1.toString(), broken.toString(), missing.toString(), good2.toString(), empty.toString());
        assertEquals(1, r.code(), r.err());
        List<String> errors = r.errors();
        assertEquals(3, errors.size(), r.err());
        assertTrue(errors.get(0).startsWith("vit4j predict: error: " + empty + ": no images"), errors.get(0));
        assertTrue(errors.get(1).startsWith("vit4j predict: error: " + broken + ": cannot decode image"), errors.get(1));
        assertEquals("vit4j predict: error: " + missing + ": no such file", errors.get(2));
        List<String> paths = r.out().lines().filter(l -> !l.startsWith(" ")).toList();
        assertEquals(List.of(good1.toString(), good2.toString()), paths);
        assertEquals(2 * 6, r.out().lines().count(), "top 5 of each good image");
    }

    /**
     * A JPEG missing its last 20%, a decompression bomb (a PNG claiming 20000 x 20000) and images of
     * extreme aspect ratios among good ones: each bad one is one reported failure, the rest are predicted.
     */
    @Test
    void damagedAndEnormousImagesAreReportedAndTheOthersPredicted() throws IOException {
        Path weights = timmFile();
        Path good1 = image("good1.png", 40, 30, false, 1);
        Path cut = Files.write(tmp.resolve("cut.jpg"), BadImages.truncated(BadImages.encoded("jpg", 64, 48, 1), 0.8));
        Path bomb = Files.write(tmp.resolve("bomb.png"), BadImages.pngClaiming(20000, 20000));
        Path thin = image("thin.png", 1, 5000, false, 3);
        Path wide = image("wide.png", 5000, 1, false, 4);
        Path good2 = image("good2.jpg", 30, 40, false, 2);
        Result r = run("--weights", weights.toString(), "--heads", "2", "--device", "cpu", "--batch-size", "2",
                good1.toString(), cut.toString(), bomb.toString(), thin.toString(), wide.toString(), good2.toString());
        assertEquals(1, r.code(), r.err());
        List<String> errors = r.errors();
        assertEquals(2, errors.size(), r.err());
        assertTrue(errors.get(0).startsWith("vit4j predict: error: " + cut + ": truncated or corrupt image"), errors.get(0));
        assertTrue(errors.get(1).startsWith("vit4j predict: error: " + bomb + ": image of 20000x20000"), errors.get(1));
        List<String> paths = r.out().lines().filter(l -> !l.startsWith(" ")).toList();
        assertEquals(List.of(good1.toString(), thin.toString(), wide.toString(), good2.toString()), paths);
    }

    @Test
    void vit4jCheckpointUsesItsClassNamesAndNormalisation() throws IOException {
        Path ckpt = tmp.resolve("grey.safetensors");
        List<String> classes = List.of("zero", "one", "two", "three");
        Normalization norm = new Normalization(new float[] {0.25f}, new float[] {0.5f});
        try (Backend backend = new CpuBackend(2); VisionTransformer model = VisionTransformer.create(backend, GREY, 9)) {
            Checkpoint.save(ckpt, model, null, 3, "{\"dataset\":\"imagefolder\"}", classes, norm);
        }
        // Colour and other sizes too: converted to grey and squashed to 28x28, as the training images were.
        List<Path> files = List.of(image("x.png", 28, 28, true, 1), image("y.png", 56, 40, false, 2));
        double[][] want = reference(GREY, ckpt, true, EvalTransform.squash(28, norm), files);

        Result r = run("--weights", ckpt.toString(), "--json", "--top-k", "9", "--device", "cpu",
                files.get(0).toString(), files.get(1).toString());
        assertEquals(0, r.code(), r.err());
        List<JsonNode> got = json(r.out());
        for (int i = 0; i < files.size(); i++) {
            JsonNode o = got.get(i);
            assertEquals(4, o.get("indices").size(), "--top-k is capped at the class count");
            double sum = 0;
            for (int j = 0; j < 4; j++) {
                int c = o.get("indices").get(j).asInt();
                assertEquals(classes.get(c), o.get("labels").get(j).asText());
                assertEquals(want[i][c], o.get("probabilities").get(j).asDouble(), 1e-5);
                sum += o.get("probabilities").get(j).asDouble();
            }
            assertEquals(1.0, sum, 1e-9);
        }

        // An old checkpoint (no normalisation) from an image folder cannot guess its statistics.
        try (Backend backend = new CpuBackend(2); VisionTransformer model = VisionTransformer.create(backend, GREY, 9)) {
            Checkpoint.save(ckpt, model, null, 3, "{\"dataset\":\"imagefolder\"}");
        }
        r = run("--weights", ckpt.toString(), "--device", "cpu", files.get(0).toString());
        assertEquals(2, r.code(), r.err());
        assertTrue(r.errors().get(0).contains("--mean and --std"), r.err());
        r = run("--weights", ckpt.toString(), "--device", "cpu", "--mean", "0.25", "--std", "0.5", files.get(0).toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().lines().skip(1).allMatch(l -> l.matches("  [01]\\.\\d{4}  \\d")), r.out());
    }

    @Test
    void anotherCropRunsTheModelAtThatResolution() throws IOException {
        Path weights = timmFile();
        Path img = image("a.png", 70, 50, false, 1);
        Result r = run("--weights", weights.toString(), "--heads", "2", "--device", "cpu", "--crop", "48",
                "--resize", "52", "--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5", img.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals(6, r.out().lines().count(), r.out());
        r = run("--weights", weights.toString(), "--heads", "2", "--device", "cpu", "--crop", "50", img.toString());
        assertEquals(2, r.code());
        assertTrue(r.errors().get(0).contains("--crop 50 does not fit the model"), r.err());
    }

    @Test
    void badSettingsAreOneLineErrors() throws IOException {
        Path weights = timmFile();
        Path img = image("a.png", 40, 30, false, 1);
        Path labels = Files.writeString(tmp.resolve("labels.txt"), "cat\ndog\n");
        Result r = run("--weights", weights.toString(), "--heads", "2", "--labels", labels.toString(), img.toString());
        assertEquals(1, r.code());
        assertEquals(List.of("vit4j predict: error: " + labels + ": 2 labels (one per line), but the model in " + weights
                + " has 10 classes"), r.errors());

        r = run("--weights", weights.toString(), "--heads", "2", "--mean", "0.5,0.5", img.toString());
        assertEquals(2, r.code());
        assertTrue(r.errors().get(0).contains("--mean has 2"), r.err());

        Path notWeights = Files.writeString(tmp.resolve("w.safetensors"), "nonsense");
        r = run("--weights", notWeights.toString(), img.toString());
        assertEquals(1, r.code());
        assertEquals(1, r.errors().size(), r.err());
        assertTrue(r.errors().get(0).startsWith("vit4j predict: error: " + notWeights), r.err());

        r = run("--weights", weights.toString(), img.toString());
        assertEquals(1, r.code());
        assertTrue(r.errors().get(0).contains("--heads"), "dim 16 is not a multiple of 64: " + r.err());
    }

    @Test
    void topKKeepsTheLargestInOrderAndTiesByIndex() {
        assertArrayEquals(new int[] {3, 1, 0}, org.vit4j.inference.Predictor.topK(new double[] {0.2, 0.3, 0.1, 0.4, 0.2}, 3));
        assertArrayEquals(new int[] {0, 4}, org.vit4j.inference.Predictor.topK(new double[] {0.2, 0.1, 0.1, 0.1, 0.2}, 2));
        assertArrayEquals(new int[] {1, 0}, org.vit4j.inference.Predictor.topK(new double[] {0.4, 0.6}, 5));
    }
}
