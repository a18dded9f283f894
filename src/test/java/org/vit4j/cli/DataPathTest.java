package org.vit4j.cli;

import org.vit4j.cli.CliRun.Result;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vit4j.backend.Backend;
import org.vit4j.backend.Backends;
import org.vit4j.data.DataLoader;
import org.vit4j.data.Dataset;
import org.vit4j.data.DatasetSource;
import org.vit4j.data.Mnist;
import org.vit4j.data.Normalization;
import org.vit4j.io.CacheDirectory;
import org.vit4j.io.SafeTensors;
import org.vit4j.nn.VisionTransformer;
import org.vit4j.train.Evaluation;
import org.vit4j.train.Evaluator;
import org.vit4j.train.WeightsFile;

/**
 * A newcomer's data path at the command line: --mirror and VIT4J_MIRROR, the download cache,
 * stratified --limit-train / --limit-test, eval's defaults from the checkpoint, and the
 * permissions of the files written.
 */
class DataPathTest {
    private static Result run(List<String> args) {
        return CliRun.run(args);
    }

    private static final Path REAL_MNIST = Path.of("..", "shared", "data", "mnist");
    private static final List<String> TINY = List.of("--depth", "1", "--dim", "16", "--heads", "2", "--mlp-dim", "32",
            "--batch-size", "50", "--no-progress");

    @TempDir
    Path tmp;
    private Path data;
    private String savedCache;

    @BeforeEach
    void setUp() throws IOException {
        data = tmp.resolve("mnist");
        CliTest.writeMnist(data, true, true);
        savedCache = System.getProperty(CacheDirectory.PROPERTY);
        System.setProperty(CacheDirectory.PROPERTY, tmp.resolve("cache").toString());
    }

    @AfterEach
    void restore() {
        if (savedCache == null) {
            System.clearProperty(CacheDirectory.PROPERTY);
        } else {
            System.setProperty(CacheDirectory.PROPERTY, savedCache);
        }
    }

    private static Result run(String... args) {
        return run(List.of(args));
    }

    private static List<String> train(String... more) {
        List<String> a = new ArrayList<>(List.of("train"));
        a.addAll(TINY);
        a.addAll(List.of(more));
        return a;
    }

    private static List<String> args(List<String> first, String... more) {
        List<String> a = new ArrayList<>(first);
        a.addAll(List.of(more));
        return a;
    }

    private static void assertOk(Result r) {
        assertEquals(0, r.code(), r.context());
    }

    /** Exactly one error line, the expected one, and nothing trained or evaluated. */
    private static void assertError(Result r, int code, String line) {
        assertEquals(code, r.code(), r.context());
        assertEquals(List.of(line), r.errorLines(), r.context());
        assertFalse(r.out().contains("epoch ") || r.out().contains("accuracy"), r.context());
    }

    // ------------------------------------------------------------------ --mirror

    @Test
    void aBadMirrorIsOneLineBeforeAnythingIsRead() {
        assertError(run(train("--mirror", "ftp://127.0.0.1/mnist/")), 2,
                "vit4j train: error: --mirror 'ftp://127.0.0.1/mnist/' is not an http:, https: or file: URL (scheme ftp:); "
                        + "give the folder that holds the data set's files, e.g. http://host:8000/ or file:///data/mnist/");
        // Before the checkpoint is read: that file does not exist, and its error would come first otherwise.
        assertError(run("eval", "--checkpoint", tmp.resolve("missing.safetensors").toString(), "--mirror", "not a url"), 2,
                "vit4j eval: error: --mirror 'not a url' is not a URL (Illegal character in path); give the folder that "
                        + "holds the data set's files, e.g. http://host:8000/ or file:///data/mnist/");
        assertError(run(train("--mirror", "http://127.0.0.1:9/", "--data-dir", data.toString())), 2,
                "vit4j train: error: --mirror and --data-dir exclude each other: --data-dir reads the files from a "
                        + "folder and downloads nothing");
    }

    @Test
    void theOptionWinsOverTheEnvironment() {
        DatasetSource source = DatasetSource.defaults();
        List<String> builtIn = DatasetSource.MNIST.mirrors();
        assertEquals(args(List.of("http://option/"), builtIn.toArray(String[]::new)),
                DataOptions.withMirror(source, "http://option", "http://env/").remotes().get("mnist").mirrors());
        assertEquals(args(List.of("http://env/"), builtIn.toArray(String[]::new)),
                DataOptions.withMirror(source, null, "http://env/").remotes().get("mnist").mirrors());
        assertEquals("https://env/cifar/", DataOptions.withMirror(source, null, "https://env/cifar/")
                .remotes().get("cifar10").mirrors().get(0));
        assertSame(source, DataOptions.withMirror(source, null, null));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DataOptions.withMirror(source, null, "ftp://env/"));
        assertTrue(e.getMessage().startsWith("VIT4J_MIRROR 'ftp://env/' is not an http:, https: or file: URL"),
                e.getMessage());
    }

    /** Serves ../shared/data/mnist on loopback, recording each request. */
    private static final class MnistServer implements AutoCloseable {
        final HttpServer server;
        final List<String> requests = java.util.Collections.synchronizedList(new ArrayList<>());

        MnistServer() throws IOException {
            server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
            server.createContext("/", exchange -> {
                requests.add(exchange.getRequestMethod() + " " + exchange.getRequestURI().getPath());
                Path f = REAL_MNIST.resolve(exchange.getRequestURI().getPath().substring(1));
                if (!Files.isRegularFile(f)) {
                    exchange.sendResponseHeaders(404, -1);
                } else {
                    byte[] body = Files.readAllBytes(f);
                    exchange.sendResponseHeaders(200, body.length);
                    try (OutputStream o = exchange.getResponseBody()) {
                        o.write(body);
                    }
                }
                exchange.close();
            });
            server.start();
        }

        String url() {
            return "http://127.0.0.1:" + server.getAddress().getPort() + "/";
        }

        @Override
        public void close() {
            server.stop(0);
        }
    }

    /**
     * The README's newcomer run against a mirror: the four MNIST files are downloaded once (MD5
     * checked against the built-in sums), then a second command finds them in the cache and asks
     * nothing. Needs the real MNIST files, which the mirror serves.
     */
    @Test
    void theMirrorFillsTheCacheOnceAndTheFilesWrittenHonourTheUmask() throws IOException {
        assumeTrue(Files.isDirectory(REAL_MNIST), "no real MNIST at " + REAL_MNIST.toAbsolutePath());
        Path ckpt = tmp.resolve("run/ckpt.safetensors");
        Path metrics = tmp.resolve("run/metrics.jsonl");
        try (MnistServer mirror = new MnistServer()) {
            Result r = run(train("--mirror", mirror.url(), "--epochs", "1", "--limit-train", "200",
                    "--limit-test", "100", "--checkpoint", ckpt.toString(), "--metrics", metrics.toString()));
            assertOk(r);
            assertEquals(List.of("GET /train-images-idx3-ubyte.gz", "GET /train-labels-idx1-ubyte.gz",
                    "GET /t10k-images-idx3-ubyte.gz", "GET /t10k-labels-idx1-ubyte.gz"), mirror.requests);
            assertTrue(r.err().contains("[INFO] Downloading " + mirror.url() + "train-images-idx3-ubyte.gz (9719462 "
                    + "bytes) to "), r.err());
            // The shared copies were gzipped again: accepted by the MD5 of the original files' content.
            assertTrue(r.err().contains("[INFO] Downloaded " + mirror.url() + "t10k-labels-idx1-ubyte.gz (4540 bytes, "
                    + "a copy gzipped again: MD5 of the content verified)"), r.err());
            Path cached = tmp.resolve("cache/mnist");
            for (String f : List.of("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                    "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")) {
                assertArrayEquals(Files.readAllBytes(REAL_MNIST.resolve(f)), Files.readAllBytes(cached.resolve(f)), f);
            }
            try (var s = Files.list(cached)) {
                assertEquals(4, s.count(), "the four files and nothing else");
            }

            Result again = run("eval", "--checkpoint", ckpt.toString(), "--mirror", mirror.url(), "--limit-test", "100");
            assertOk(again);
            assertTrue(again.out().startsWith("mnist test: loss "), again.context());
            assertTrue(again.out().contains("(100 images, checkpoint after epoch 1)"), again.context());
            assertEquals(4, mirror.requests.size(), "a cache hit asks nothing: " + mirror.requests);

            if (FileSystems.getDefault().supportedFileAttributeViews().contains("posix")) {
                Path plain = tmp.resolve("plain");
                try (OutputStream o = Files.newOutputStream(plain)) {
                    o.write(1);
                }
                var fresh = Files.getPosixFilePermissions(plain);
                for (Path p : List.of(ckpt, metrics, cached.resolve("train-images-idx3-ubyte.gz"))) {
                    assertEquals(fresh, Files.getPosixFilePermissions(p), p + " has a new file's permissions");
                }
            }
        }
    }

    // ------------------------------------------------------------------ --limit-train / --limit-test

    @Test
    void limitsAreStratifiedSeededAndAResumeTakesTheSameSample() {
        Path ckpt = tmp.resolve("s.safetensors");
        Result r = run(train("--data-dir", data.toString(), "--epochs", "1", "--limit-train", "100",
                "--limit-test", "50", "--seed", "5", "--checkpoint", ckpt.toString()));
        assertOk(r);
        assertTrue(r.err().contains("[INFO] Taking 100 of the 200 mnist training images (stratified by class, seed 5)"),
                r.err());
        assertTrue(r.err().contains("[INFO] Taking 50 of the 100 mnist test images (stratified by class, seed 5)"),
                r.err());
        assertFalse(r.err().contains("[WARN]"), "both samples cover all ten classes: " + r.err());
        // The resumed run draws its sample with the recorded seed: the same images, so its fingerprint matches.
        Result resumed = run(train("--data-dir", data.toString(), "--epochs", "2", "--limit-train", "100",
                "--limit-test", "50", "--resume", ckpt.toString(), "--checkpoint", ckpt.toString()));
        assertOk(resumed);
        assertTrue(resumed.out().contains("epoch 2/2"), resumed.context());
        // Another seed, another sample: the fingerprint differs and the resume is refused.
        Result other = run(train("--data-dir", data.toString(), "--epochs", "1", "--limit-train", "100",
                "--seed", "6", "--checkpoint", tmp.resolve("o.safetensors").toString()));
        assertOk(other);
        assertNotEquals(trainData(ckpt), trainData(tmp.resolve("o.safetensors")));
    }

    private static String trainData(Path ckpt) {
        try {
            String training = org.vit4j.train.Checkpoint.load(ckpt).training();
            return new com.fasterxml.jackson.databind.ObjectMapper().readTree(training).get("trainData").asText();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void aSampleWithoutEveryClassIsWarnedAbout() {
        Result r = run(train("--data-dir", data.toString(), "--epochs", "1", "--limit-train", "4",
                "--limit-test", "30", "--seed", "1"));
        assertOk(r);
        List<String> warnings = r.err().lines().filter(l -> l.startsWith("[WARN]")).toList();
        assertEquals(1, warnings.size(), r.err());
        assertTrue(warnings.get(0).matches("\\[WARN\\] the training images \\(4\\) cover 4 of the 10 classes and the "
                + "test images \\(30\\) 10; tested but never trained: \\d, \\d, \\d, \\d, \\d, \\d \\(raise --limit-train\\)"),
                warnings.get(0));
    }

    // ------------------------------------------------------------------ eval's defaults

    private static final Pattern EPOCH = Pattern.compile("test loss (\\d+\\.\\d{4})  test acc (\\d+\\.\\d{2})%");
    private static final Pattern EVAL = Pattern.compile("loss (\\d+\\.\\d{4})  accuracy (\\d+\\.\\d{2})%");

    /**
     * eval with only --checkpoint: the data set the run recorded, from the cache, normalised with
     * the statistics the checkpoint recorded, which may differ from the data set's own.
     */
    @Test
    void evalDefaultsToTheRecordedDataSetAndNormalisation() throws IOException {
        Path cached = tmp.resolve("cache/mnist");
        CliTest.writeMnist(cached, true, true);
        Path ckpt = tmp.resolve("e.safetensors");
        Result trained = run(train("--epochs", "1", "--checkpoint", ckpt.toString()));
        assertOk(trained);
        Matcher m = EPOCH.matcher(trained.out());
        assertTrue(m.find(), trained.out());

        Result r = run("eval", "--checkpoint", ckpt.toString(), "--batch-size", "50");
        assertOk(r);
        Matcher e = EVAL.matcher(r.out());
        assertTrue(r.out().startsWith("mnist test: ") && e.find(), r.context());
        assertEquals(m.group(1) + " " + m.group(2), e.group(1) + " " + e.group(2), "the run's own last evaluation");
        assertTrue(r.err().contains("[INFO] evaluating on mnist, the data set " + ckpt + " was trained on"), r.err());

        // The same model recorded with other statistics: eval must normalise with those.
        Normalization other = new Normalization(new float[] {0.4f}, new float[] {0.2f});
        Path renormalised = tmp.resolve("other.safetensors");
        SafeTensors.Contents c = SafeTensors.read(ckpt);
        Map<String, String> meta = new LinkedHashMap<>(c.metadata());
        meta.put("normalization", "{\"mean\":[0.4],\"std\":[0.2]}");
        SafeTensors.write(renormalised, c.tensors(), meta);
        Result r2 = run("eval", "--checkpoint", renormalised.toString(), "--batch-size", "50");
        assertOk(r2);
        assertTrue(r2.err().contains("[INFO] normalising with the mean [0.4] and std [0.2] recorded in " + renormalised
                + ", as the model was trained"), r2.err());
        Matcher e2 = EVAL.matcher(r2.out());
        assertTrue(e2.find(), r2.context());
        assertEquals(expectedLoss(renormalised, cached, other), e2.group(1));
        assertNotEquals(e.group(1), e2.group(1), "other statistics, another loss");
    }

    /** The test loss of a checkpoint's model on the test split normalised with {@code n}, computed here. */
    private static String expectedLoss(Path ckpt, Path dir, Normalization n) throws IOException {
        Dataset test = Mnist.load(dir, false, "mnist").withNormalization(n);
        try (Backend backend = Backends.create("cpu");
             VisionTransformer model = WeightsFile.read(ckpt, null).newModel(backend, ckpt);
             DataLoader loader = DataLoader.builder(test).batchSize(50).imageSize(28).build();
             Evaluator evaluator = new Evaluator(backend, model)) {
            Evaluation e = evaluator.evaluate(loader);
            return String.format(Locale.ROOT, "%.4f", e.loss());
        }
    }

    /**
     * A run on an image folder: eval finds the folder's data set in the checkpoint and its training
     * statistics too, so it decodes no training image (here every one is broken after training).
     */
    @Test
    void evalOfAnImageFolderRunNeedsOnlyItsTestImages() throws IOException {
        Path folder = tmp.resolve("folder");
        for (String split : List.of("train", "test")) {
            for (int c = 0; c < 2; c++) {
                for (int i = 0; i < 6; i++) {
                    Path f = folder.resolve(split).resolve("c" + c).resolve(i + ".png");
                    Files.createDirectories(f.getParent());
                    java.awt.image.BufferedImage img = new java.awt.image.BufferedImage(14, 14,
                            java.awt.image.BufferedImage.TYPE_BYTE_GRAY);
                    for (int y = 0; y < 14; y++) {
                        for (int x = 0; x < 14; x++) {
                            img.getRaster().setSample(x, y, 0, (c == 0 ? x < 7 : x >= 7) ? 200 + i : 20 + 3 * y);
                        }
                    }
                    javax.imageio.ImageIO.write(img, "png", f.toFile());
                }
            }
        }
        Path ckpt = tmp.resolve("f.safetensors");
        assertOk(run(train("--dataset", "imagefolder", "--data-dir", folder.toString(), "--epochs", "1",
                "--checkpoint", ckpt.toString())));
        try (var s = Files.walk(folder.resolve("train"))) {
            for (Path p : s.filter(Files::isRegularFile).toList()) {
                Files.write(p, new byte[] {0});
            }
        }
        Result r = run("eval", "--checkpoint", ckpt.toString(), "--data-dir", folder.toString());
        assertOk(r);
        assertTrue(r.out().startsWith("imagefolder test: loss ") && r.out().contains("(12 images"), r.context());
        assertError(run("eval", "--checkpoint", ckpt.toString()), 2, "vit4j eval: error: " + ckpt
                + " was trained on an image folder; give that folder with --data-dir DIR (DIR/test/<class>/<images>)");
    }
}
