package org.vit4j.cli;

import org.vit4j.cli.CliRun.Result;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vit4j.train.Presets;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What a command-line user sees: one line for bad usage, the preset table, progress lines when
 * not on a terminal, option mistakes named before any data is read, the metrics records, and no
 * library warnings.
 */
class CliBehaviourTest {
    private static Result run(List<String> args) {
        return CliRun.run(args);
    }

    /** A tiny model: patch 7 (the preset's), 16 tokens, dim 16, one block. */
    private static final List<String> TINY = List.of("--depth", "1", "--dim", "16", "--heads", "2", "--mlp-dim", "32");

    @TempDir
    Path tmp;
    private Path data;

    @BeforeEach
    void setUp() throws IOException {
        data = tmp.resolve("mnist");
        CliTest.writeMnist(data, true, true);      // 200 training images, 100 test
    }

    private Result run(String... args) {
        return run(List.of(args));
    }

    private List<String> train(String... more) {
        List<String> args = new ArrayList<>(List.of("train", "--data-dir", data.toString(), "--batch-size", "50",
                "--device", "cpu"));
        args.addAll(TINY);
        args.addAll(List.of(more));
        return args;
    }

    /** Exactly {@code line} on stderr, nothing on stdout, exit code 2. */
    private static void assertUsageError(Result r, String line) {
        String context = "exit " + r.code() + "\nstdout:\n" + r.out() + "\nstderr:\n" + r.err();
        assertEquals(2, r.code(), context);
        assertEquals(List.of(line), r.err().lines().toList(), context);
        assertEquals("", r.out(), context);
    }

    // ------------------------------------------------------------------ bad usage: one line

    @Test
    void badValueUnknownOptionAndMissingValuePrintOneLine() {
        assertUsageError(run("train", "--epochs", "abc"),
                "vit4j train: error: invalid value for option '--epochs': 'abc' is not an int (see vit4j train --help)");
        assertUsageError(run("train", "--lr", "fast"),
                "vit4j train: error: invalid value for option '--lr': 'fast' is not a float (see vit4j train --help)");
        assertUsageError(run("train", "--bogus"),
                "vit4j train: error: unknown option: '--bogus' (see vit4j train --help)");
        assertUsageError(run("train", "--epochs"),
                "vit4j train: error: missing required parameter for option '--epochs' (<epochs>) (see vit4j train --help)");
        assertUsageError(run("eval", "--batch-size", "x"),
                "vit4j eval: error: invalid value for option '--batch-size': 'x' is not an int (see vit4j eval --help)");
        assertUsageError(run("bench", "train", "--steps", "many"), "vit4j bench train: error: invalid value for option "
                + "'--steps': 'many' is not an int (see vit4j bench train --help)");
        assertUsageError(run("nosuch"), "vit4j: error: unmatched argument at index 0: 'nosuch' (see vit4j --help)");
    }

    // ------------------------------------------------------------------ presets

    @Test
    void presetsAreListedByPresetsAndTrainHelp() {
        Result r = run("presets");
        assertEquals(0, r.code(), r.err());
        List<String> lines = r.out().lines().toList();
        assertEquals(List.of("name", "arch", "image/patch", "dim", "depth", "heads", "mlp", "epochs", "batch", "lr"),
                List.of(lines.get(0).trim().split("\\s+")));
        assertEquals(2 + Presets.names().size(), lines.size(), r.out());
        assertEquals(List.of("mnist-tutorial", "tutorial-2020", "28/7", "64", "6", "8", "128", "25", "100", "0.003"),
                List.of(lines.get(2).trim().split("\\s+")));
        assertEquals(List.of("vit-base-patch16-224", "timm", "224/16", "768", "12", "12", "3072", "10", "64", "0.0001"),
                List.of(lines.get(2 + Presets.names().indexOf("vit-base-patch16-224")).trim().split("\\s+")));
        for (int i = 0; i < Presets.names().size(); i++) {
            Presets.Preset p = Presets.get(Presets.names().get(i));
            String[] cells = lines.get(2 + i).trim().split("\\s+");
            assertEquals(p.name(), cells[0]);
            assertEquals(p.arch(), cells[1]);
            assertTrue(cells[2].endsWith("/" + p.patchSize()), lines.get(2 + i));
            assertEquals(p.epochs(), Integer.parseInt(cells[7]));
            assertEquals(p.lr(), Float.parseFloat(cells[9]));
        }

        Result help = run("train", "--help");
        assertEquals(0, help.code(), help.err());
        assertTrue(help.out().contains("Presets (--model), with the defaults the options above override:\n" + r.out()),
                help.out());
        // The table is printed as is, not wrapped at the usage width.
        assertTrue(help.out().lines().anyMatch(l -> l.equals(lines.get(2))), help.out());
    }

    // ------------------------------------------------------------------ progress lines

    private static final Pattern PROGRESS = Pattern.compile(
            "epoch (\\d+)/(\\d+)  step (\\d+)/(\\d+)  (\\d+)%  (\\d+) img/s  loss (\\d+\\.\\d{4})  ETA (\\d+):(\\d\\d)");

    /** Not on a terminal (output captured): a line at each tenth of the epoch, here every one of its 4 steps. */
    @Test
    void progressLinesWhenNotATerminal() {
        Result r = run(train("--epochs", "2"));
        assertEquals(0, r.code(), r.err());
        List<Matcher> lines = r.out().lines().map(PROGRESS::matcher).filter(Matcher::matches).toList();
        assertEquals(8, lines.size(), r.out());
        for (int i = 0; i < 8; i++) {
            Matcher m = lines.get(i);
            assertEquals(i / 4 + 1, Integer.parseInt(m.group(1)), m.group());
            assertEquals("2", m.group(2));
            assertEquals(i % 4 + 1, Integer.parseInt(m.group(3)), m.group());
            assertEquals("4", m.group(4));
            assertEquals(25 * (i % 4 + 1), Integer.parseInt(m.group(5)), m.group());
            assertTrue(Integer.parseInt(m.group(6)) > 0, m.group());
            double loss = Double.parseDouble(m.group(7));
            assertTrue(loss > 0 && loss < 10, m.group());
        }
        assertEquals("0:00", lines.get(3).group(8) + ":" + lines.get(3).group(9), "nothing left at 100%");
        // The 100% line's running loss is the epoch's training loss.
        Matcher epoch1 = Pattern.compile("epoch 1/2  train loss (\\d+\\.\\d{4})").matcher(r.out());
        assertTrue(epoch1.find(), r.out());
        assertEquals(epoch1.group(1), lines.get(3).group(7));

        Result quiet = run(train("--epochs", "1", "--no-progress"));
        assertEquals(0, quiet.code(), quiet.err());
        assertFalse(quiet.out().contains(" step "), quiet.out());
    }

    /** With many steps, the interval prints before the next tenth: here 3 s a step against a 10 s interval. */
    @Test
    void progressLinesEveryIntervalOrTenth() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        AtomicLong now = new AtomicLong();
        ProgressListener.Lines lines = new ProgressListener.Lines(new PrintStream(bytes, true, StandardCharsets.UTF_8),
                3, 10, 995, TimeUnit.SECONDS.toNanos(10), now::get);
        lines.onEpochStart(2, 100);
        for (int i = 0; i < 100; i++) {
            now.addAndGet(TimeUnit.SECONDS.toNanos(3));
            lines.onBatchEnd(2, i, i < 99 ? 1.0 : 0.5);
        }
        List<String> printed = bytes.toString(StandardCharsets.UTF_8).lines().toList();
        // A tenth is 10 steps (30 s), the interval 4 steps (12 s): lines after steps 4, 8, 10 (a tenth), 14, ...
        List<Integer> steps = printed.stream().map(l -> {
            Matcher m = PROGRESS.matcher(l);
            assertTrue(m.matches(), l);
            return Integer.parseInt(m.group(3));
        }).toList();
        assertEquals(List.of(4, 8, 10, 14, 18, 20, 24, 28, 30, 34, 38, 40, 44, 48, 50, 54, 58, 60, 64, 68, 70, 74, 78, 80,
                84, 88, 90, 94, 98, 100), steps);
        assertEquals("epoch 2/3  step 4/100  4%  3 img/s  loss 1.0000  ETA 4:47", printed.get(0));
        // 40 images in 12 s: 955 left at 0.3 s each.
        // The last batch holds 5 images: the loss is the mean over images, 995 of them in 300 s.
        assertEquals("epoch 2/3  step 100/100  100%  3 img/s  loss 0.9975  ETA 0:00", printed.get(printed.size() - 1));
        assertEquals("1:02:05", ProgressListener.Lines.duration(3725));
    }

    // ------------------------------------------------------------------ checked before any data is read

    /** With a data folder that does not exist, a bad option is still what the error names. */
    @Test
    void optionsAreCheckedBeforeTheDataIsRead() {
        String nowhere = tmp.resolve("nowhere").toString();
        String[][] cases = {
                {"--warmup 30 --epochs 2", "--warmup must be between 0 and the 2 epochs, got 30"},
                {"--schedule linear", "--schedule must be constant or cosine, got 'linear'"},
                {"--epochs 0", "--epochs must be positive, got 0"},
                {"--clip-grad -1", "--clip-grad must be >= 0 and finite, got -1.0"},
                {"--pool max", "pool must be one of [cls, mean], got 'max'"},
                {"--arch resnet", "arch must be one of [timm, vit-pytorch, tutorial-2020], got 'resnet'"},
                {"--dim 16 --heads 3", "dim 16 is not divisible by heads 3"},
                {"--image-size 30", "patch size 7 does not divide the image size 30 (patches must tile the image)"},
                {"--model vit-base-patch16-224 --patch-size 15",
                        "patch size 15 does not divide the image size 224 (patches must tile the image)"},
                {"--distilled", "a distilled (DeiT) model needs arch=timm, pool=cls and head=linear, got "
                        + "arch=tutorial-2020, pool=cls, head=mlp"},
                {"--freeze-blocks 7", "--freeze-blocks must be between 0 and the model's depth 6, got 7"},
                {"--device tpu", "unknown device 'tpu': expected auto, cpu or cuda"},
                {"--dataset imagenet", "unknown dataset 'imagenet'; valid names: mnist, fashion-mnist, cifar10, "
                        + "imagefolder"},
        };
        for (String[] c : cases) {
            List<String> args = new ArrayList<>(List.of("train", "--data-dir", nowhere));
            args.addAll(List.of(c[0].split(" ")));
            Result r = run(args);
            assertEquals(2, r.code(), c[0] + ": " + r.err());
            assertEquals(List.of("vit4j train: error: " + c[1]), r.errorLines(), c[0]);
            assertFalse(r.err().contains("[INFO] Loaded"), "no data read for " + c[0] + ": " + r.err());
        }
        // The options right, the missing folder is the error.
        Result r = run("train", "--data-dir", nowhere, "--warmup", "2", "--epochs", "2");
        assertEquals(1, r.code(), r.err());
        assertEquals(List.of("vit4j train: error: mnist data directory " + nowhere + " does not exist"), r.errorLines());
    }

    // ------------------------------------------------------------------ metrics records

    @Test
    void metricsRecordsHoldTimeTrainAccuracyAndTheFloatsOwnDecimals() throws IOException {
        Path metrics = tmp.resolve("m.jsonl");
        Instant before = Instant.now().minusMillis(1);
        Result r = run(train("--epochs", "2", "--lr", "0.003", "--no-progress", "--metrics", metrics.toString()));
        Instant after = Instant.now();
        assertEquals(0, r.code(), r.err());
        List<String> lines = Files.readAllLines(metrics);
        assertEquals(2, lines.size());
        Instant previous = before;
        for (int i = 0; i < 2; i++) {
            String line = lines.get(i);
            JsonNode n = new ObjectMapper().readTree(line);
            assertEquals(i + 1, n.get("epoch").asInt());
            assertTrue(line.contains(",\"learningRate\":0.003,"), "the float's decimal: " + line);
            Instant time = Instant.parse(n.get("time").asText());
            assertTrue(n.get("time").asText().endsWith("Z"), line);
            assertTrue(!time.isBefore(previous) && !time.isAfter(after), line);
            previous = time;
            double acc = n.get("trainAccuracy").asDouble();
            // 200 images: a whole number of them right.
            assertEquals(Math.round(acc * 200), acc * 200, 1e-9, line);
            assertTrue(acc >= 0 && acc <= 1, line);
            assertTrue(n.get("trainLoss").isDouble() && n.get("testAccuracy").isDouble(), line);
        }
        // The generated data is learnable: after two epochs the training accuracy is above chance.
        assertTrue(new ObjectMapper().readTree(lines.get(1)).get("trainAccuracy").asDouble() > 0.1, lines.get(1));
    }

    // ------------------------------------------------------------------ no library warnings

    /** A CLI JVM of its own, without the Vector API module (so netlib fails to load VectorBLAS): no warning of it. */
    @Test
    void noLibraryWarningsReachTheUser() throws Exception {
        for (List<String> args : List.of(List.of("info"), train("--epochs", "1", "--no-progress"))) {
            String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
            List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-Xmx512m", "-cp", cp, Main.class.getName()));
            cmd.addAll(args);
            Path log = tmp.resolve("child.log");
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            assertTrue(p.waitFor(3, TimeUnit.MINUTES), "finished");
            String output = Files.readString(log);
            assertEquals(0, p.exitValue(), output);
            assertTrue(output.contains(args.get(0).equals("info") ? "cpu:" : "final test accuracy"), output);
            assertFalse(output.contains("Failed to load"), output);
            assertFalse(output.contains("SLF4J"), output);
            assertFalse(output.contains("WARNING"), output);
        }
    }
}
