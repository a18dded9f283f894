package org.vit4j.cli;

import org.vit4j.cli.CliRun.Result;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vit4j.io.SafeTensors;
import org.vit4j.train.Checkpoint;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The command line through {@link Main#run}, on generated MNIST-format files: train, metrics,
 * checkpoint, eval, resume, and one-line errors for bad input.
 */
class CliTest {
    private static Result run(List<String> args) {
        return CliRun.run(args);
    }

    private static final int TRAIN = 200;
    private static final int TEST = 100;
    /** A tiny model: patch 7 (the preset's), 16 tokens, dim 16, one block. */
    private static final List<String> TINY = List.of("--depth", "1", "--dim", "16", "--heads", "2", "--mlp-dim", "32");

    @TempDir
    Path tmp;
    private Path data;


    @BeforeEach
    void setUp() throws IOException {
        data = tmp.resolve("mnist");
        writeMnist(data, true, true);
    }

    // ------------------------------------------------------------------ data

    /** MNIST-format files: training split gzipped, test split raw (both are accepted). */
    static void writeMnist(Path dir, boolean train, boolean test) throws IOException {
        Files.createDirectories(dir);
        if (train) {
            writeSplit(dir, "train", TRAIN, 1, true);
        }
        if (test) {
            writeSplit(dir, "t10k", TEST, 2, false);
        }
    }

    /** Digit-like images: label k is a bright bar at row 2k+4 with noise, so the data is learnable. */
    private static void writeSplit(Path dir, String prefix, int n, long seed, boolean gzip) throws IOException {
        SplittableRandom rnd = new SplittableRandom(seed);
        byte[] pixels = new byte[n * 28 * 28];
        byte[] labels = new byte[n];
        for (int i = 0; i < n; i++) {
            int label = i % 10;
            labels[i] = (byte) label;
            for (int r = 0; r < 28; r++) {
                for (int c = 0; c < 28; c++) {
                    int v = (r == 2 * label + 4 || r == 2 * label + 5) && c > 3 && c < 24 ? 220 : 10;
                    v += rnd.nextInt(30);
                    pixels[i * 784 + r * 28 + c] = (byte) Math.min(255, v);
                }
            }
        }
        byte[] images = ByteBuffer.allocate(16 + pixels.length).putInt(0x803).putInt(n).putInt(28).putInt(28)
                .put(pixels).array();
        byte[] labelFile = ByteBuffer.allocate(8 + n).putInt(0x801).putInt(n).put(labels).array();
        String suffix = gzip ? ".gz" : "";
        Files.write(dir.resolve(prefix + "-images-idx3-ubyte" + suffix), gzip ? gzip(images) : images);
        Files.write(dir.resolve(prefix + "-labels-idx1-ubyte" + suffix), gzip ? gzip(labelFile) : labelFile);
    }

    private static byte[] gzip(byte[] data) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(bos)) {
            gz.write(data);
        }
        return bos.toByteArray();
    }

    // ------------------------------------------------------------------ running

    private Result run(String... args) {
        return run(List.of(args));
    }

    /** {@code train} on the generated data with the tiny model; {@code more} are option-value pairs that override or add. */
    private List<String> train(String... more) {
        List<String> args = new ArrayList<>(List.of("train", "--data-dir", data.toString(), "--batch-size", "50",
                "--no-progress"));
        args.addAll(TINY);
        for (int i = 0; i < more.length; i += 2) {
            int at = args.indexOf(more[i]);
            if (at >= 0) {
                args.set(at + 1, more[i + 1]);      // picocli rejects a repeated option
            } else {
                args.add(more[i]);
                args.add(more[i + 1]);
            }
        }
        return args;
    }

    /**
     * A failed command: the expected non-zero exit code, exactly one error line on stderr,
     * "vit4j CMD: error: ...", that contains every fragment, and no stack trace.
     */
    private void assertFails(Result r, int code, String command, String... fragments) {
        String context = "exit " + r.code() + "\nstdout:\n" + r.out() + "\nstderr:\n" + r.err();
        assertEquals(code, r.code(), context);
        List<String> errors = r.errorLines();
        assertEquals(1, errors.size(), "exactly one line on stderr besides log lines; " + context);
        String line = errors.get(0);
        assertTrue(line.startsWith("vit4j " + command + ": error: "), context);
        for (String f : fragments) {
            assertTrue(line.contains(f), "expected '" + f + "' in the error line: " + line);
        }
        assertFalse(r.err().contains("\tat "), "no stack trace: " + r.err());
        assertFalse(r.out().lines().anyMatch(l -> l.startsWith("epoch ")), "nothing trained: " + r.out());
    }

    // ------------------------------------------------------------------ train, eval, resume

    @Test
    void trainEvalResume() throws IOException {
        Path metrics = tmp.resolve("out/m.jsonl");
        Path ckpt = tmp.resolve("out/c.safetensors");
        Result r = run(train("--epochs", "1", "--metrics", metrics.toString(), "--checkpoint", ckpt.toString()));
        assertEquals(0, r.code(), r.err());
        List<String> epochLines = r.outLines().stream().filter(l -> l.startsWith("epoch ")).toList();
        assertEquals(1, epochLines.size(), r.out());
        assertTrue(epochLines.get(0).startsWith("epoch 1/1 "), epochLines.get(0));
        assertTrue(epochLines.get(0).contains("test acc"), epochLines.get(0));
        assertTrue(r.out().contains("final test accuracy"), r.out());

        List<String> lines = Files.readAllLines(metrics);
        assertEquals(1, lines.size(), "one JSON line per epoch");
        JsonNode epoch1 = new ObjectMapper().readTree(lines.get(0));
        for (String field : List.of("epoch", "trainLoss", "testLoss", "testAccuracy", "imagesPerSecond", "seconds")) {
            assertTrue(epoch1.has(field) && epoch1.get(field).isNumber(), field + " in " + lines.get(0));
        }
        assertEquals(1, epoch1.get("epoch").asInt());
        double acc = epoch1.get("testAccuracy").asDouble();
        assertTrue(acc >= 0 && acc <= 1, lines.get(0));
        assertTrue(epoch1.get("trainLoss").asDouble() > 0);
        assertTrue(epoch1.get("imagesPerSecond").asDouble() > 0);

        Checkpoint c = Checkpoint.load(ckpt);
        assertEquals(1, c.epoch());
        assertEquals(TRAIN / 50, c.step());
        assertEquals(16, c.config().dim());
        assertEquals(28, c.config().imageSize());
        assertTrue(c.training().contains("\"batchSize\":50"), c.training());

        // eval with the training run's test batch size reproduces the logged accuracy exactly.
        r = run("eval", "--checkpoint", ckpt.toString(), "--data-dir", data.toString(), "--batch-size", "50");
        assertEquals(0, r.code(), r.err());
        Matcher m = Pattern.compile("accuracy (\\d+\\.\\d\\d)%").matcher(r.out());
        assertTrue(m.find(), r.out());
        assertEquals(String.format(Locale.ROOT, "%.2f", 100 * acc), m.group(1), r.out());
        assertTrue(r.out().contains("(" + TEST + " images, checkpoint after epoch 1)"), r.out());
        // ...and with its default batch size too (here, the whole test set in one batch).
        r = run("eval", "--checkpoint", ckpt.toString(), "--data-dir", data.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("accuracy"), r.out());

        // Resume: only epoch 2 runs, the metrics file gets its second line, the checkpoint moves on.
        r = run(train("--epochs", "2", "--resume", ckpt.toString(), "--metrics", metrics.toString(),
                "--checkpoint", ckpt.toString()));
        assertEquals(0, r.code(), r.err());
        epochLines = r.outLines().stream().filter(l -> l.startsWith("epoch ")).toList();
        assertEquals(1, epochLines.size(), r.out());
        assertTrue(epochLines.get(0).startsWith("epoch 2/2 "), epochLines.get(0));
        lines = Files.readAllLines(metrics);
        assertEquals(2, lines.size(), "resume appends");
        JsonNode resumed = new ObjectMapper().readTree(lines.get(1));
        assertEquals(2, resumed.get("epoch").asInt());
        assertEquals(lines.get(0), Files.readAllLines(metrics).get(0), "the first line is kept");
        assertEquals(2, Checkpoint.load(ckpt).epoch());
        assertEquals(2 * TRAIN / 50, Checkpoint.load(ckpt).step());

        // The same two epochs in one go give the same epoch-2 numbers and the same weights.
        Path straightMetrics = tmp.resolve("straight/m.jsonl");
        Path straightCkpt = tmp.resolve("straight/c.safetensors");
        r = run(train("--epochs", "2", "--metrics", straightMetrics.toString(), "--checkpoint", straightCkpt.toString()));
        assertEquals(0, r.code(), r.err());
        List<String> straight = Files.readAllLines(straightMetrics);
        assertEquals(2, straight.size());
        JsonNode s2 = new ObjectMapper().readTree(straight.get(1));
        for (String field : List.of("epoch", "trainLoss", "testLoss", "testAccuracy", "learningRate")) {
            assertEquals(s2.get(field).asText(), resumed.get(field).asText(), field);
        }
        SafeTensors.Contents a = SafeTensors.read(ckpt), b = SafeTensors.read(straightCkpt);
        assertEquals(a.tensors().keySet(), b.tensors().keySet());
        a.tensors().forEach((name, e) -> assertArrayEquals(e.floats(), b.tensors().get(name).floats(), name));
    }

    @Test
    void metricsWithoutResumeStartAfresh() throws IOException {
        Path metrics = tmp.resolve("m.jsonl");
        Files.writeString(metrics, "{\"old\":true}\n");
        Result r = run(train("--epochs", "1", "--metrics", metrics.toString()));
        assertEquals(0, r.code(), r.err());
        List<String> lines = Files.readAllLines(metrics);
        assertEquals(1, lines.size(), "a new run truncates the metrics file: " + lines);
        assertTrue(lines.get(0).contains("\"epoch\":1"), lines.get(0));
    }

    @Test
    void infoAndHelp() {
        Result r = run("info");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("java:") && r.out().contains("cpu:") && r.out().contains("cuda:"), r.out());

        r = run("--help");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("Usage: vit4j"), r.out());
        assertTrue(r.out().contains("train") && r.out().contains("eval") && r.out().contains("info")
                && r.out().contains("predict"), r.out());

        r = run("train", "--help");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("--data-dir") && r.out().contains("--resume") && r.out().contains("--teacher"), r.out());

        r = run("predict", "--help");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("--weights") && r.out().contains("--labels"), r.out());

        r = run("--version");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("vit4j "), r.out());
    }

    // ------------------------------------------------------------------ bad input

    @Test
    void patchSizeThatDoesNotDivideTheImage() {
        assertFails(run(train("--patch-size", "5")), 2, "train", "patch size 5", "28");
    }

    @Test
    void dimNotDivisibleByHeads() {
        assertFails(run(train("--heads", "3")), 2, "train", "dim 16", "heads 3");
    }

    @Test
    void missingDataFolder() {
        Path nowhere = tmp.resolve("nowhere");
        Result r = run("train", "--data-dir", nowhere.toString(), "--epochs", "1");
        assertFails(r, 1, "train", nowhere.toString(), "does not exist");
    }

    @Test
    void missingFiles() throws IOException {
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        assertFails(run("train", "--data-dir", empty.toString()), 1, "train", "missing mnist training files",
                "train-images-idx3-ubyte");
        // Training files present, test files missing.
        Path half = tmp.resolve("half");
        writeMnist(half, true, false);
        assertFails(run("train", "--data-dir", half.toString()), 1, "train", "missing mnist test files",
                "t10k-images-idx3-ubyte");
        assertFails(run("eval", "--checkpoint", tmp.resolve("c.safetensors").toString(), "--data-dir", empty.toString()),
                1, "eval");
    }

    @Test
    void corruptIdxFile() throws IOException {
        Path images = data.resolve("train-images-idx3-ubyte.gz");
        byte[] bad = ByteBuffer.allocate(16 + 784).putInt(0x1234).putInt(1).putInt(28).putInt(28).array();
        Files.write(images, gzip(bad));
        assertFails(run(train("--epochs", "1")), 1, "train", images.toString(), "magic number");
    }

    @Test
    void resumeWithAnotherConfig() {
        Path ckpt = tmp.resolve("c.safetensors");
        Result r = run(train("--epochs", "1", "--checkpoint", ckpt.toString()));
        assertEquals(0, r.code(), r.err());
        List<String> args = new ArrayList<>(List.of("train", "--data-dir", data.toString(), "--batch-size", "50",
                "--depth", "1", "--dim", "32", "--heads", "2", "--mlp-dim", "32", "--epochs", "2",
                "--resume", ckpt.toString()));
        assertFails(run(args), 1, "train", "config does not match", "dim 16 in the checkpoint vs 32 requested");
    }

    @Test
    void resumeFromAMissingCheckpoint() {
        Path ckpt = tmp.resolve("absent.safetensors");
        assertFails(run(train("--epochs", "1", "--resume", ckpt.toString())), 1, "train", ckpt.toString());
        assertFails(run("eval", "--checkpoint", ckpt.toString(), "--data-dir", data.toString()), 1, "eval",
                ckpt.toString(), "no such file");
    }

    @Test
    void unknownDataset() {
        assertFails(run(train("--dataset", "imagenet")), 2, "train", "unknown dataset 'imagenet'", "mnist");
    }

    @Test
    void unknownPreset() {
        assertFails(run(train("--model", "vit-huge")), 2, "train", "unknown model preset 'vit-huge'", "mnist-tutorial");
    }

    @Test
    void cudaIsUnavailable() {
        Result r = run(train("--epochs", "1", "--device", "cuda"));
        assertNotEquals(0, r.code());
        assertFails(r, r.code(), "train", "cuda");
        // The reason, not just the device name, is given.
        String line = r.errorLines().get(0);
        assertTrue(line.length() > "vit4j train: error: --device cuda: ".length() + 10, line);
        assertFails(run(train("--device", "tpu")), 2, "train", "unknown device 'tpu'");
    }

    @Test
    void nonPositiveBatchSize() {
        assertFails(run(train("--batch-size", "-5")), 2, "train", "--batch-size", "-5");
        assertFails(run(train("--batch-size", "0")), 2, "train", "--batch-size");
    }

    @Test
    void otherBadOptions() {
        assertFails(run(train("--lr", "0")), 2, "train", "--lr");
        assertFails(run(train("--dropout", "1.5")), 2, "train", "dropout", "1.5");
        assertFails(run(train("--limit-train", "0")), 2, "train", "--limit-train");
        assertFails(run(train("--label-smoothing", "1")), 2, "train", "--label-smoothing must be in [0, 1), got 1.0");
        assertFails(run(train("--clip-grad", "-1")), 2, "train", "--clip-grad must be >= 0", "-1.0");
        assertFails(run(train("--schedule", "linear")), 2, "train", "--schedule", "linear");
        assertFails(run(train("--epochs", "-1")), 2, "train", "epochs");
        assertFails(run(train("--epochs", "0")), 2, "train", "--epochs must be positive");
        assertFails(run(train("--weight-decay", "-1")), 2, "train", "--weight-decay", "-1");
        assertFails(run(train("--epochs", "2", "--warmup", "5", "--schedule", "cosine")), 2, "train", "--warmup", "5");
        assertFails(run(train("--warmup", "-1")), 2, "train", "--warmup");
        assertFails(run(train("--pool", "max")), 2, "train", "pool must be one of [cls, mean]", "'max'");
        assertFails(run(train("--head", "conv")), 2, "train", "head must be one of [linear, mlp]", "'conv'");
        assertFails(run(train("--checkpoint", tmp.toString())), 2, "train", "--checkpoint", "is a directory");
    }

    @Test
    void initStartsFromAnotherRunsWeights() {
        Path ckpt = tmp.resolve("pre.safetensors");
        assertEquals(0, run(train("--epochs", "1", "--checkpoint", ckpt.toString())).code());
        // The file gives the model's shape: no --dim etc. needed, repeating them is fine.
        List<String> args = new ArrayList<>(List.of("train", "--data-dir", data.toString(), "--batch-size", "50",
                "--no-progress", "--epochs", "1", "--init", ckpt.toString(), "--dim", "16"));
        Result r = run(args);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("initialised from " + ckpt), r.err());
        assertTrue(r.out().contains("epoch 1/1"), r.out());

        assertFails(run(train("--epochs", "1", "--init", ckpt.toString(), "--dim", "32")), 2, "train",
                "--dim 32 conflicts with", "whose model has 16");
        assertFails(run(train("--epochs", "2", "--init", ckpt.toString(), "--resume", ckpt.toString())), 2, "train",
                "--init and --resume exclude each other");
        assertFails(run(train("--epochs", "1", "--init", tmp.resolve("none.safetensors").toString())), 1, "train",
                "no such file");
    }

    /**
     * DeiT distillation from the command line: a teacher run, its logits on the training split,
     * then students distilled from the teacher's checkpoint and from its logits, one with frozen
     * blocks; and the errors of a wrong setup.
     */
    @Test
    void distillFromATeacherAndFreezeBlocks() throws IOException {
        Path teacherCkpt = tmp.resolve("teacher.safetensors");
        assertEquals(0, run(train("--epochs", "1", "--checkpoint", teacherCkpt.toString())).code());
        Path logits = tmp.resolve("teacher-logits.safetensors");
        Result r = run("eval", "--checkpoint", teacherCkpt.toString(), "--data-dir", data.toString(), "--split", "train",
                "--save-logits", logits.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("mnist train: loss"), r.out());
        assertArrayEquals(new int[] {TRAIN, 10}, SafeTensors.read(logits).tensors().get("logits").shape());

        Path student = tmp.resolve("student.safetensors");
        r = run(train("--epochs", "1", "--arch", "timm", "--pool", "cls", "--head", "linear", "--teacher", teacherCkpt.toString(),
                "--checkpoint", student.toString(), "--depth", "2", "--freeze-blocks", "1"));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("distilling from " + teacherCkpt), r.err());
        assertTrue(r.err().contains("froze the embeddings and the first 1 of 2 blocks"), r.err());
        Checkpoint c = Checkpoint.load(student);
        assertTrue(c.config().distilled(), c.config().toString());
        assertTrue(c.tensors().containsKey("model.head_dist.weight"), c.tensors().keySet().toString());
        assertFalse(c.tensors().containsKey("optim.m.blocks.0.attn.qkv.weight"), "frozen: no optimizer state");
        assertTrue(c.tensors().containsKey("optim.m.blocks.1.attn.qkv.weight"));

        r = run(train("--epochs", "1", "--arch", "timm", "--pool", "cls", "--head", "linear", "--teacher-logits",
                logits.toString()));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("final test accuracy"), r.out());

        assertFails(run(train("--epochs", "1", "--teacher", teacherCkpt.toString())), 2, "train",
                "distilled (DeiT) model needs arch=timm, pool=cls and head=linear");
        assertFails(run(train("--epochs", "1", "--arch", "timm", "--pool", "cls", "--head", "linear", "--teacher", teacherCkpt.toString(),
                "--teacher-logits", logits.toString())), 2, "train", "exclude each other");
        assertFails(run(train("--epochs", "1", "--freeze-blocks", "2")), 2, "train",
                "--freeze-blocks must be between 0 and the model's depth 1");
        assertFails(run(train("--epochs", "1", "--init", teacherCkpt.toString(), "--teacher-logits", logits.toString())),
                2, "train", "needs a student with a distillation token", "holds a model without one");
        assertFails(run("eval", "--checkpoint", teacherCkpt.toString(), "--data-dir", data.toString(), "--split", "val"),
                2, "eval", "--split must be test or train");
    }

    /**
     * A vit-pytorch state_dict in safetensors works where weights files do: eval (its config
     * inferred from the shapes), train --init (the model stays vit-pytorch's), and predict, which
     * resizes to the model's size and needs the normalisation vit-pytorch does not record.
     */
    @Test
    void vitPytorchWeightsForEvalInitAndPredict() throws IOException {
        org.vit4j.nn.ViTConfig c = new org.vit4j.nn.ViTConfig(28, 7, 1, 10, 16, 1, 2, 32, 0f,
                org.vit4j.nn.ViTConfig.Pool.CLS, org.vit4j.nn.ViTConfig.Head.LINEAR, false,
                org.vit4j.nn.ViTConfig.Arch.VIT_PYTORCH, 64, 0f);
        Path vp = tmp.resolve("vit-pytorch.safetensors");
        try (org.vit4j.backend.Backend b = new org.vit4j.backend.cpu.CpuBackend(1);
             org.vit4j.nn.VisionTransformer model = org.vit4j.nn.VisionTransformer.create(b, c, 3)) {
            org.vit4j.nn.VitPytorchWeights.write(vp, model);
        }
        Result r = run("eval", "--weights", vp.toString(), "--data-dir", data.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("(" + TEST + " images, vit-pytorch ViT)"), r.out());

        Path ckpt = tmp.resolve("from-vp.safetensors");
        r = run(train("--epochs", "1", "--init", vp.toString(), "--checkpoint", ckpt.toString(), "--depth", "1",
                "--dim", "16", "--heads", "2", "--mlp-dim", "32"));
        assertEquals(0, r.code(), r.err());
        assertEquals(c, Checkpoint.load(ckpt).config(), "the checkpoint keeps the vit-pytorch model");
        assertFails(run(train("--epochs", "1", "--init", vp.toString(), "--arch", "timm")), 2, "train",
                "--arch timm conflicts with", "vit-pytorch");

        Path img = tmp.resolve("digit.png");
        java.awt.image.BufferedImage bi = new java.awt.image.BufferedImage(20, 20, java.awt.image.BufferedImage.TYPE_BYTE_GRAY);
        javax.imageio.ImageIO.write(bi, "png", img.toFile());
        r = run("predict", "--weights", vp.toString(), img.toString());
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("is a vit-pytorch state_dict, which does not say how its images were normalised; "
                + "give the training data's --mean and --std"), r.err());
        r = run("predict", "--weights", vp.toString(), "--mean", "0.1307", "--std", "0.3081", "--top-k", "3", img.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("resized to 28x28 (bicubic), no crop"), r.err());
        assertEquals(4, r.out().lines().count(), r.out());
    }

    /** A vit-pytorch model trained by vit4j goes back to vit-pytorch's names with export; timm's names refuse it. */
    @Test
    void exportWritesVitPytorchAndTimmNames() throws IOException {
        Path ckpt = tmp.resolve("vp.safetensors");
        assertEquals(0, run(train("--model", "mnist-vit-pytorch", "--epochs", "1", "--checkpoint", ckpt.toString())).code());
        Path out = tmp.resolve("state_dict.safetensors");
        Result r = run("export", "--checkpoint", ckpt.toString(), "--output", out.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("under vit-pytorch's names"), r.out());
        java.util.Map<String, SafeTensors.Entry> sd = SafeTensors.read(out).tensors();
        assertTrue(sd.containsKey("transformer.layers.0.0.to_qkv.weight") && sd.containsKey("mlp_head.weight"), sd.keySet()
                .toString());
        Checkpoint c = Checkpoint.load(ckpt);
        try (org.vit4j.backend.Backend b = new org.vit4j.backend.cpu.CpuBackend(1);
             org.vit4j.nn.VisionTransformer back = org.vit4j.nn.VitPytorchWeights.read(b, out, null)) {
            assertEquals(c.config().withDropout(0f, 0f), back.config());
            back.namedParameters().forEach((name, p) -> assertArrayEquals(c.tensors().get("model." + name).floats(),
                    b.toArray(p.value()), name));
        }
        assertFails(run("export", "--checkpoint", ckpt.toString(), "--output", out.toString(), "--format", "timm"), 2,
                "export", "only arch=timm models have a timm counterpart");
        assertFails(run("export", "--checkpoint", ckpt.toString(), "--output", out.toString(), "--format", "onnx"), 2,
                "export", "--format must be timm, vit4j or vit-pytorch");
    }

    @Test
    void resumeOfAFinishedRunSaysSo() {
        Path ckpt = tmp.resolve("done.safetensors");
        assertEquals(0, run(train("--epochs", "1", "--checkpoint", ckpt.toString())).code());
        assertFails(run(train("--epochs", "1", "--resume", ckpt.toString())), 2, "train", "already holds 1 epochs",
                "raise --epochs");
    }

    @Test
    void unknownOptionIsAUsageError() {
        List<String> args = train();
        args.add("--bogus");
        Result r = run(args);
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("--bogus"), r.err());
    }

    /** Sanity of the generated files themselves (so the tests above fail for the right reason). */
    @Test
    void generatedFilesHaveTheMnistLayout() throws IOException {
        byte[] labels = Files.readAllBytes(data.resolve("t10k-labels-idx1-ubyte"));
        assertEquals(8 + TEST, labels.length);
        assertEquals(0x801, ByteBuffer.wrap(labels).getInt());
        assertArrayEquals(new byte[] {0, 1, 2}, Arrays.copyOfRange(labels, 8, 11));
    }

    // ------------------------------------------------------------------ issue 12: found at start, never late

    /** A test split of 14x14 images against a 28x28 training split: refused before epoch 1, naming both shapes. */
    @Test
    void testSplitOfAnotherImageSizeIsFoundAtStart() throws IOException {
        byte[] images = ByteBuffer.allocate(16 + 3 * 14 * 14).putInt(0x803).putInt(3).putInt(14).putInt(14).array();
        byte[] labels = ByteBuffer.allocate(8 + 3).putInt(0x801).putInt(3).put(new byte[] {0, 1, 2}).array();
        Files.write(data.resolve("t10k-images-idx3-ubyte"), images);
        Files.write(data.resolve("t10k-labels-idx1-ubyte"), labels);
        assertFails(run(train("--epochs", "1")), 1, "train", "test split's images", "1x14x14",
                "training split's are 1x28x28");
    }

    /** Output locations that cannot be written are found before any data is read. */
    @Test
    void unwritableOutputsAreFoundAtStart() throws IOException {
        Path file = Files.writeString(tmp.resolve("plain.txt"), "x");
        Path underFile = file.resolve("c.safetensors");
        assertFails(run(train("--epochs", "1", "--checkpoint", underFile.toString())), 1, "train",
                "--checkpoint " + underFile, "cannot be written", file.toString());
        Path metricsUnder = file.resolve("m.jsonl");
        assertFails(run(train("--epochs", "1", "--metrics", metricsUnder.toString())), 1, "train",
                "--metrics " + metricsUnder, "cannot be written", file.toString());
        assertFails(run(train("--epochs", "1", "--metrics", tmp.resolve("same").toString(), "--checkpoint",
                tmp.resolve("same").toString())), 2, "train", "--metrics and --checkpoint name the same file");
        assertFalse(Files.exists(tmp.resolve("same")));
        // /proc takes no new files, not even from root.
        Path proc = Path.of("/proc/self/vit4j-ckpt.safetensors");
        if (Files.isDirectory(proc.getParent())) {
            assertFails(run(train("--epochs", "1", "--checkpoint", proc.toString())), 1, "train",
                    "--checkpoint " + proc, "cannot be written");
        }
        // A read-only directory (where this user's permissions are enforced: not for root).
        Path ro = Files.createDirectories(tmp.resolve("ro"));
        ro.toFile().setWritable(false, false);
        try {
            if (!Files.isWritable(ro)) {
                assertFails(run(train("--epochs", "1", "--checkpoint", ro.resolve("c.safetensors").toString())), 1,
                        "train", "cannot be written", "permission denied");
            }
        } finally {
            ro.toFile().setWritable(true, false);
        }
    }

    @Test
    void valuesThatCannotWorkAreRefused() {
        assertFails(run(train("--lr", "Infinity")), 2, "train", "--lr must be a finite number", "Infinity");
        assertFails(run(train("--lr", "NaN")), 2, "train", "--lr must be a finite number");
        assertFails(run(train("--weight-decay", "Infinity")), 2, "train", "--weight-decay must be a finite number");
        assertFails(run(train("--clip-grad", "Infinity")), 2, "train", "--clip-grad must be a finite number");
        assertFails(run(train("--label-smoothing", "NaN")), 2, "train", "--label-smoothing must be a finite number");
        assertFails(run(train("--distill-alpha", "2")), 2, "train", "distillation alpha must be in [0, 1]");
        assertFails(run(train("--dim", "0")), 2, "train", "--dim must be positive");
        List<String> skip = train("--epochs", "1");
        skip.add("--skip-bad-images");
        assertFails(run(skip), 2, "train", "--skip-bad-images applies to --dataset imagefolder");
        assertFails(run(train("--epochs", "2147483647", "--batch-size", "1")), 2, "train", "optimizer steps",
                "more than the 2147483647");
        assertFails(run("eval", "--checkpoint", tmp.resolve("x").toString(), "--batch-size", "0"), 2, "eval",
                "--batch-size must be positive");
    }

    /** A batch larger than the data set trains as the whole data set in one batch, without huge buffers. */
    @Test
    void batchSizeBeyondTheDataSetTrains() {
        Result r = run(train("--epochs", "1", "--batch-size", "2147483647"));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("epoch 1/1"), r.out());
    }

    /** Checkpoints whose values cannot be a run's state are refused by eval, naming the file and the reason. */
    @Test
    void evalRefusesImpossibleCheckpoints() throws IOException {
        Path ckpt = tmp.resolve("c.safetensors");
        assertEquals(0, run(train("--epochs", "1", "--checkpoint", ckpt.toString())).code());
        SafeTensors.Contents good = SafeTensors.read(ckpt);
        java.util.Map<String, String> meta = new java.util.LinkedHashMap<>(good.metadata());
        meta.put("epoch", "-5");
        Path negative = tmp.resolve("negative.safetensors");
        SafeTensors.write(negative, good.tensors(), meta);
        assertFails(run("eval", "--checkpoint", negative.toString(), "--data-dir", data.toString()), 1, "eval",
                negative.toString(), "negative epoch -5");
        java.util.Map<String, SafeTensors.Entry> nan = new java.util.LinkedHashMap<>();
        good.tensors().forEach((name, e) -> {
            float[] f = e.floats().clone();
            if (name.startsWith("model.")) {
                Arrays.fill(f, Float.NaN);
            }
            nan.put(name, SafeTensors.Entry.f32(e.shape(), f));
        });
        Path nans = tmp.resolve("nan.safetensors");
        SafeTensors.write(nans, nan, good.metadata());
        assertFails(run("eval", "--checkpoint", nans.toString(), "--data-dir", data.toString()), 1, "eval",
                nans.toString(), "holds NaN");
    }

    /** A resumed run keeps its data set and recipe: another one is refused with the reason, a missing option defaults to the record. */
    @Test
    void resumeKeepsTheRecordedDataAndRecipe() throws IOException {
        Path ckpt = tmp.resolve("c.safetensors");
        assertEquals(0, run(train("--epochs", "1", "--checkpoint", ckpt.toString(), "--depth", "2",
                "--freeze-blocks", "1", "--lr", "0.002")).code());
        // Another data set of the same name and shape: the fingerprint tells them apart.
        Path other = tmp.resolve("other");
        writeMnist(other, true, true);
        byte[] images = Files.readAllBytes(other.resolve("t10k-images-idx3-ubyte"));
        images[100] ^= 1;
        Files.delete(other.resolve("train-images-idx3-ubyte.gz"));
        Files.write(other.resolve("train-images-idx3-ubyte"), rewrite(images, TRAIN));
        List<String> resume = train("--epochs", "2", "--resume", ckpt.toString(), "--depth", "2");
        List<String> otherData = new ArrayList<>(resume);
        otherData.set(otherData.indexOf("--data-dir") + 1, other.toString());
        assertFails(run(otherData), 2, "train", ckpt.toString(), "this training set has " + TRAIN, "--data-dir");
        assertFails(run(train("--epochs", "2", "--resume", ckpt.toString(), "--depth", "2", "--limit-train", "100")), 2,
                "train", "this training set has 100", "--limit-train");
        assertFails(run(train("--epochs", "2", "--resume", ckpt.toString(), "--depth", "2", "--dataset", "fashion-mnist")),
                2, "train", "--dataset fashion-mnist differs from the mnist");
        assertFails(run(train("--epochs", "2", "--resume", ckpt.toString(), "--depth", "2", "--freeze-blocks", "0")), 2,
                "train", "--freeze-blocks 0 differs from the 1");
        assertFails(run(train("--epochs", "2", "--resume", ckpt.toString(), "--depth", "2", "--lr", "0.003")), 2,
                "train", "--lr 0.003 differs from the 0.002");
        // Without the options, the recorded ones apply (the frozen blocks and the learning rate included).
        Result r = run(resume);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("epoch 2/2"), r.out());
    }

    /** MNIST images of {@link #writeSplit}'s train split built from other pixels: same count, other content. */
    private static byte[] rewrite(byte[] testImages, int n) {
        byte[] pixels = Arrays.copyOfRange(testImages, 16, 16 + Math.min(n, TEST) * 784);
        ByteBuffer b = ByteBuffer.allocate(16 + n * 784).putInt(0x803).putInt(n).putInt(28).putInt(28);
        for (int i = 0; i < n; i++) {
            b.put(pixels, (i % TEST) * 784, 784);
        }
        return b.array();
    }

    /**
     * After a crash the metrics file holds what the run wrote after its last checkpoint (a record
     * of the next epoch, half a line) or lacks the checkpoint's epoch; a resume leaves each epoch
     * exactly once, and its stale temporary file is removed.
     */
    @Test
    void resumeAfterACrashLeavesEachEpochOnce() throws IOException {
        Path metrics = tmp.resolve("m.jsonl");
        Path ckpt = tmp.resolve("c.safetensors");
        assertEquals(0, run(train("--epochs", "1", "--metrics", metrics.toString(), "--checkpoint", ckpt.toString())).code());
        byte[] epoch1 = Files.readAllBytes(ckpt);
        assertEquals(0, run(train("--epochs", "2", "--resume", ckpt.toString(), "--metrics", metrics.toString(),
                "--checkpoint", ckpt.toString())).code());
        List<String> straight = Files.readAllLines(metrics);
        assertEquals(2, straight.size());

        // The epoch-2 checkpoint was lost (its write failed), its record and half a line were written.
        Files.write(ckpt, epoch1);
        Files.writeString(metrics, straight.get(0) + "\n" + straight.get(1) + "\n{\"epoch\":3,\"trainLo",
                java.nio.charset.StandardCharsets.UTF_8);
        Files.write(org.vit4j.io.AtomicFile.temporaryFor(ckpt), new byte[1000]);
        Result r = run(train("--epochs", "2", "--resume", ckpt.toString(), "--metrics", metrics.toString(),
                "--checkpoint", ckpt.toString()));
        assertEquals(0, r.code(), r.err());
        List<String> lines = Files.readAllLines(metrics);
        assertEquals(2, lines.size(), lines.toString());
        assertEquals(straight.get(0), lines.get(0));
        assertEquals(epochField(straight.get(1), "trainLoss"), epochField(lines.get(1), "trainLoss"), "bit-exact epoch 2");
        assertFalse(Files.exists(org.vit4j.io.AtomicFile.temporaryFor(ckpt)), "the leftover temporary file is gone");

        // A crash after the epoch-1 checkpoint but before its metrics line: the record comes back from the checkpoint.
        Files.write(ckpt, epoch1);
        Files.writeString(metrics, "");
        r = run(train("--epochs", "2", "--resume", ckpt.toString(), "--metrics", metrics.toString(),
                "--checkpoint", ckpt.toString()));
        assertEquals(0, r.code(), r.err());
        lines = Files.readAllLines(metrics);
        assertEquals(2, lines.size(), lines.toString());
        assertEquals(1, new ObjectMapper().readTree(lines.get(0)).get("epoch").asInt());
        assertTrue(lines.get(0).contains("\"restored\":true"), lines.get(0));
        assertEquals(epochField(straight.get(0), "trainLoss"), epochField(lines.get(0), "trainLoss"));
        assertEquals(2, new ObjectMapper().readTree(lines.get(1)).get("epoch").asInt());
    }

    private static String epochField(String line, String field) throws IOException {
        return new ObjectMapper().readTree(line).get(field).asText();
    }
}
