package org.vit4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vit4j.data.MnistTest.assertMessage;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DatasetSourceTest {
    @TempDir
    Path cache;

    private HttpServer server;
    private final Map<String, byte[]> served = new ConcurrentHashMap<>();
    private final AtomicInteger requests = new AtomicInteger();

    private static final byte[] PIXELS = TestFiles.pattern(4 * 3 * 2, 1);
    private static final byte[] LABELS = {7, 2, 1, 0};

    @BeforeEach
    void startServer() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", exchange -> {
            requests.incrementAndGet();
            byte[] body = served.get(exchange.getRequestURI().getPath());
            if (body == null) {
                exchange.sendResponseHeaders(404, -1);
            } else {
                exchange.sendResponseHeaders(200, body.length);
                try (OutputStream out = exchange.getResponseBody()) {
                    out.write(body);
                }
            }
            exchange.close();
        });
        server.start();
    }

    @AfterEach
    void stopServer() {
        server.stop(0);
    }

    private String base(String path) {
        return "http://127.0.0.1:" + server.getAddress().getPort() + path;
    }

    /** Serves gzipped MNIST-format test files under /mnist/ and returns their MD5s. */
    private Map<String, String> serveMnistTestSplit() {
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("t10k-images-idx3-ubyte.gz", TestFiles.gzip(TestFiles.idxImages(4, 3, 2, PIXELS)));
        files.put("t10k-labels-idx1-ubyte.gz", TestFiles.gzip(TestFiles.idxLabels(LABELS)));
        Map<String, String> md5 = new LinkedHashMap<>();
        files.forEach((name, data) -> {
            served.put("/mnist/" + name, data);
            md5.put(name, TestFiles.md5(data));
        });
        return md5;
    }

    private DatasetSource source(String dataset, DatasetSource.Remote remote) {
        return new DatasetSource(cache, Map.of(dataset, remote));
    }

    private List<Path> cacheFiles() throws IOException {
        try (Stream<Path> s = Files.walk(cache)) {
            return s.filter(Files::isRegularFile).toList();
        }
    }

    @Test
    void downloadsVerifiesAndCaches() throws IOException {
        Map<String, String> md5 = serveMnistTestSplit();
        DatasetSource src = source("mnist", new DatasetSource.Remote(List.of(base("/mnist/")), md5));
        Dataset ds = src.load("mnist", null, false);
        assertArrayEquals(PIXELS, ds.pixels());
        assertArrayEquals(new int[] {7, 2, 1, 0}, ds.labels());
        assertTrue(Files.isRegularFile(cache.resolve("mnist/t10k-images-idx3-ubyte.gz")));
        assertEquals(2, cacheFiles().size(), "no temporary files may be left: " + cacheFiles());
        int before = requests.get();
        src.load("MNIST", null, false); // cached: no new request
        assertEquals(before, requests.get());
    }

    @Test
    void triesTheNextMirror() throws IOException {
        Map<String, String> md5 = serveMnistTestSplit();
        DatasetSource src = source("mnist", new DatasetSource.Remote(List.of(base("/gone/"), base("/mnist/")), md5));
        assertEquals(4, src.load("mnist", null, false).size());
    }

    @Test
    void checksumMismatchDeletesAndReports() throws IOException {
        Map<String, String> md5 = new LinkedHashMap<>(serveMnistTestSplit());
        md5.put("t10k-images-idx3-ubyte.gz", "0123456789abcdef0123456789abcdef");
        DatasetSource src = source("mnist", new DatasetSource.Remote(List.of(base("/mnist/")), md5));
        IOException e = assertThrows(IOException.class, () -> src.load("mnist", null, false));
        assertMessage(e, "checksum mismatch", base("/mnist/t10k-images-idx3-ubyte.gz"),
                "expected MD5 0123456789abcdef0123456789abcdef", "deleted", "--data-dir");
        assertFalse(Files.exists(cache.resolve("mnist/t10k-images-idx3-ubyte.gz")));
        assertTrue(cacheFiles().isEmpty(), "nothing may be left behind: " + cacheFiles());
    }

    @Test
    void offlineErrorTellsTheUserWhatToDo() throws IOException {
        Map<String, String> md5 = serveMnistTestSplit();
        String url = base("/mnist/");
        server.stop(0); // nothing listens on the port any more
        DatasetSource src = source("mnist", new DatasetSource.Remote(List.of(url), md5));
        IOException e = assertThrows(IOException.class, () -> src.load("mnist", null, false));
        assertMessage(e, "Download of " + url + "t10k-images-idx3-ubyte.gz failed", "--data-dir DIR",
                "--mirror URL", "VIT4J_MIRROR", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz");
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertTrue(cacheFiles().isEmpty(), "nothing may be left behind: " + cacheFiles());
    }

    @Test
    void httpErrorsAreReported() {
        DatasetSource src = source("fashion-mnist", new DatasetSource.Remote(List.of(base("/nothing/")),
                Map.of("train-images-idx3-ubyte.gz", "0123456789abcdef0123456789abcdef")));
        IOException e = assertThrows(IOException.class, () -> src.load("fashion-mnist", null, true));
        assertMessage(e, "HTTP status 404", "--data-dir");
    }

    @Test
    void downloadsAndExtractsCifar10() throws IOException {
        Path staging = cache.resolveSibling(cache.getFileName() + "-staging");
        byte[][] expected = Cifar10Test.writeAll(staging);
        Map<String, byte[]> members = new LinkedHashMap<>();
        for (String name : new String[] {"batches.meta.txt", "data_batch_1.bin", "data_batch_2.bin",
                "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin", "readme.html"}) {
            Path f = staging.resolve(name);
            members.put("cifar-10-batches-bin/" + name, Files.exists(f) ? Files.readAllBytes(f) : new byte[] {1, 2});
        }
        byte[] archive = TestFiles.gzip(TestFiles.tar(members));
        served.put("/kriz/cifar-10-binary.tar.gz", archive);
        DatasetSource src = source("cifar10", new DatasetSource.Remote(List.of(base("/kriz/")),
                Map.of("cifar-10-binary.tar.gz", TestFiles.md5(archive))));

        Dataset test = src.load("cifar10", null, false);
        assertArrayEquals(expected[2], test.pixels());
        Dataset train = src.load("cifar10", null, true);
        assertArrayEquals(expected[0], train.pixels());
        assertEquals(1, requests.get(), "the archive is downloaded once");
        assertFalse(Files.exists(cache.resolve("cifar10/cifar-10-binary.tar.gz")), "archive removed after extraction");
        assertFalse(Files.exists(cache.resolve("cifar10/cifar-10-batches-bin/readme.html")), "only wanted members");
        assertTrue(Files.exists(cache.resolve("cifar10/cifar-10-batches-bin/batches.meta.txt")));
    }

    @Test
    void corruptArchiveIsReported() throws IOException {
        byte[] archive = TestFiles.gzip(new byte[] {'n', 'o', 't', ' ', 'a', ' ', 't', 'a', 'r'});
        byte[] padded = TestFiles.gzip(java.util.Arrays.copyOf("garbage header".getBytes(), 512));
        Path dir = cache.resolve("x");
        Files.createDirectories(dir);
        Files.write(dir.resolve("short.tar.gz"), archive);
        Files.write(dir.resolve("bad.tar.gz"), padded);
        IOException shortErr = assertThrows(IOException.class,
                () -> Tar.extract(dir.resolve("short.tar.gz"), java.util.Set.of("a"), dir.resolve("out")));
        assertMessage(shortErr, "short.tar.gz", "truncated tar archive");
        IOException badErr = assertThrows(IOException.class,
                () -> Tar.extract(dir.resolve("bad.tar.gz"), java.util.Set.of("a"), dir.resolve("out")));
        assertMessage(badErr, "bad.tar.gz", "corrupt tar header");
    }

    @Test
    void explicitDataDirIsReadDirectly() throws IOException {
        Path dir = cache.resolve("mine");
        Files.createDirectories(dir);
        Files.write(dir.resolve("t10k-images-idx3-ubyte"), TestFiles.idxImages(4, 3, 2, PIXELS));
        Files.write(dir.resolve("t10k-labels-idx1-ubyte"), TestFiles.idxLabels(LABELS));
        Dataset ds = DatasetSource.open("fashion-mnist", dir, false);
        assertEquals("fashion-mnist", ds.name());
        assertEquals(Normalization.FASHION_MNIST, ds.normalization());
        IOException e = assertThrows(IOException.class, () -> DatasetSource.open("mnist", dir, true));
        assertMessage(e, "train-images-idx3-ubyte");
    }

    @Test
    void badNamesAndMissingImageFolderDir() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DatasetSource.open("imagenet", cache, true));
        assertMessage(e, "unknown dataset 'imagenet'", "mnist, fashion-mnist, cifar10, imagefolder");
        IllegalArgumentException folder = assertThrows(IllegalArgumentException.class,
                () -> DatasetSource.open("imagefolder", null, true));
        assertMessage(folder, "imagefolder", "--data-dir");
    }

    @Test
    void cacheRootCanBeOverridden() {
        String old = System.getProperty(DatasetSource.CACHE_PROPERTY);
        try {
            System.setProperty(DatasetSource.CACHE_PROPERTY, cache.toString());
            assertEquals(cache, DatasetSource.defaultCacheRoot());
            assertEquals(cache.resolve("cifar10"), DatasetSource.defaults().cacheDir("cifar10"));
            System.clearProperty(DatasetSource.CACHE_PROPERTY);
            if (System.getenv(DatasetSource.CACHE_ENV) == null) {
                assertEquals(Path.of(System.getProperty("user.home"), ".cache", "vit4j"),
                        DatasetSource.defaultCacheRoot());
            }
        } finally {
            if (old == null) {
                System.clearProperty(DatasetSource.CACHE_PROPERTY);
            } else {
                System.setProperty(DatasetSource.CACHE_PROPERTY, old);
            }
        }
    }

    @Test
    void builtInRemotesUseTorchvisionChecksums() {
        assertEquals("f68b3c2dcbeaaa9fbdd348bbdeb94873", DatasetSource.MNIST.md5().get("train-images-idx3-ubyte.gz"));
        assertEquals(List.of("https://ossci-datasets.s3.amazonaws.com/mnist/"), DatasetSource.MNIST.mirrors());
        assertEquals(4, DatasetSource.FASHION_MNIST.md5().size());
        assertEquals("c32a1d4ab5d03f1284b67883e8d87530", DatasetSource.CIFAR10.md5().get("cifar-10-binary.tar.gz"));
        assertThrows(IllegalArgumentException.class,
                () -> new DatasetSource.Remote(List.of("http://x/"), Map.of("f", "not-hex")));
        assertThrows(IllegalArgumentException.class, () -> new DatasetSource.Remote(new ArrayList<>(), Map.of()));
    }

    // ------------------------------------------------------------------ --mirror / VIT4J_MIRROR

    /** A second server standing for a built-in mirror, counting its own requests. */
    private static final class CountingServer implements AutoCloseable {
        final HttpServer server;
        final Map<String, byte[]> files = new ConcurrentHashMap<>();
        final List<String> requested = java.util.Collections.synchronizedList(new ArrayList<>());

        CountingServer() throws IOException {
            server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
            server.createContext("/", exchange -> {
                requested.add(exchange.getRequestMethod() + " " + exchange.getRequestURI().getPath());
                byte[] body = files.get(exchange.getRequestURI().getPath());
                if (body == null) {
                    exchange.sendResponseHeaders(404, -1);
                } else {
                    exchange.sendResponseHeaders(200, body.length);
                    try (OutputStream out = exchange.getResponseBody()) {
                        out.write(body);
                    }
                }
                exchange.close();
            });
            server.start();
        }

        String url(String path) {
            return "http://127.0.0.1:" + server.getAddress().getPort() + path;
        }

        @Override
        public void close() {
            server.stop(0);
        }
    }

    /** Both MNIST splits in the files' gzipped form, by file name. */
    private static Map<String, byte[]> mnistFiles() {
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("train-images-idx3-ubyte.gz", TestFiles.gzip(TestFiles.idxImages(4, 3, 2, TestFiles.pattern(24, 5))));
        files.put("train-labels-idx1-ubyte.gz", TestFiles.gzip(TestFiles.idxLabels((byte) 3, (byte) 1, (byte) 4, (byte) 1)));
        files.put("t10k-images-idx3-ubyte.gz", TestFiles.gzip(TestFiles.idxImages(4, 3, 2, PIXELS)));
        files.put("t10k-labels-idx1-ubyte.gz", TestFiles.gzip(TestFiles.idxLabels(LABELS)));
        return files;
    }

    private static Map<String, String> md5s(Map<String, byte[]> files) {
        Map<String, String> md5 = new LinkedHashMap<>();
        files.forEach((name, data) -> md5.put(name, TestFiles.md5(data)));
        return md5;
    }

    /** A URL on which nothing listens: a port bound and released again. */
    private static String unreachable() throws IOException {
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return "http://127.0.0.1:" + s.getLocalPort() + "/mnist/";
        }
    }

    @Test
    void mirrorIsTriedFirstAndACacheHitMakesNoRequest() throws IOException {
        Map<String, byte[]> files = mnistFiles();
        files.forEach((name, data) -> served.put("/m/" + name, data));
        try (CountingServer builtIn = new CountingServer()) {
            files.forEach((name, data) -> builtIn.files.put("/mnist/" + name, data));
            DatasetSource src = source("mnist", new DatasetSource.Remote(List.of(builtIn.url("/mnist/")), md5s(files)))
                    .withMirror(base("/m"), "--mirror");
            assertEquals(List.of(base("/m/"), builtIn.url("/mnist/")), src.remotes().get("mnist").mirrors());
            Dataset train = src.load("mnist", null, true);
            Dataset test = src.load("mnist", null, false);
            assertArrayEquals(new int[] {3, 1, 4, 1}, train.labels());
            assertArrayEquals(PIXELS, test.pixels());
            assertEquals(4, requests.get(), "one request per file, to the mirror");
            assertEquals(List.of(), builtIn.requested, "the built-in mirror is not asked when the mirror has the files");
            assertEquals(4, cacheFiles().size(), "the four files, and no temporary file: " + cacheFiles());
            for (String name : files.keySet()) {
                assertArrayEquals(files.get(name), Files.readAllBytes(cache.resolve("mnist").resolve(name)), name);
            }

            // A second run (a new source on the same cache) finds everything there.
            DatasetSource again = source("mnist", new DatasetSource.Remote(List.of(builtIn.url("/mnist/")), md5s(files)))
                    .withMirror(base("/m/"), "--mirror");
            assertArrayEquals(PIXELS, again.load("mnist", null, false).pixels());
            assertEquals(4, again.load("mnist", null, true).size());
            assertEquals(4, requests.get(), "a cache hit makes no request");
            assertEquals(List.of(), builtIn.requested);
        }
    }

    @Test
    void aFileTheMirrorLacksComesFromTheBuiltInMirror() throws IOException {
        Map<String, byte[]> files = mnistFiles();
        served.put("/m/t10k-images-idx3-ubyte.gz", files.get("t10k-images-idx3-ubyte.gz"));
        try (CountingServer builtIn = new CountingServer()) {
            files.forEach((name, data) -> builtIn.files.put("/mnist/" + name, data));
            DatasetSource src = source("mnist", new DatasetSource.Remote(List.of(builtIn.url("/mnist/")), md5s(files)))
                    .withMirror(base("/m/"), "--mirror");
            assertArrayEquals(LABELS_AS_INTS, src.load("mnist", null, false).labels());
            assertEquals(2, requests.get(), "both files asked of the mirror first");
            assertEquals(List.of("GET /mnist/t10k-labels-idx1-ubyte.gz"), builtIn.requested);
        }
    }

    private static final int[] LABELS_AS_INTS = {7, 2, 1, 0};

    @Test
    void aCorruptFileFromTheMirrorIsRefusedAndDeleted() throws IOException {
        Map<String, byte[]> files = mnistFiles();
        files.forEach((name, data) -> served.put("/m/" + name, data));
        byte[] corrupt = files.get("t10k-images-idx3-ubyte.gz").clone();
        corrupt[corrupt.length / 2] ^= 0x5A;
        served.put("/m/t10k-images-idx3-ubyte.gz", corrupt);
        String builtIn = unreachable();
        DatasetSource src = source("mnist", new DatasetSource.Remote(List.of(builtIn), md5s(files)))
                .withMirror(base("/m/"), "--mirror");
        IOException e = assertThrows(IOException.class, () -> src.load("mnist", null, false));
        assertMessage(e, "Download of " + base("/m/t10k-images-idx3-ubyte.gz") + " failed: checksum mismatch for "
                + base("/m/t10k-images-idx3-ubyte.gz") + ": expected MD5 " + TestFiles.md5(files.get("t10k-images-idx3-ubyte.gz"))
                + ", got " + TestFiles.md5(corrupt) + " (" + corrupt.length + " bytes); the downloaded file was deleted",
                "download of " + builtIn + "t10k-images-idx3-ubyte.gz failed (", "--mirror URL", "--data-dir DIR");
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertTrue(cacheFiles().isEmpty(), "nothing may be left behind: " + cacheFiles());
    }

    @Test
    void aFileUrlMirrorIsAFolderOfTheFiles() throws IOException {
        Map<String, byte[]> files = mnistFiles();
        Path folder = Files.createDirectories(cache.resolveSibling(cache.getFileName() + "-mirror"));
        for (var f : files.entrySet()) {
            Files.write(folder.resolve(f.getKey()), f.getValue());
        }
        DatasetSource src = source("mnist", new DatasetSource.Remote(List.of(unreachable()), md5s(files)))
                .withMirror(folder.toUri().toString(), "VIT4J_MIRROR");
        assertArrayEquals(PIXELS, src.load("mnist", null, false).pixels());
        assertArrayEquals(files.get("t10k-labels-idx1-ubyte.gz"),
                Files.readAllBytes(cache.resolve("mnist/t10k-labels-idx1-ubyte.gz")));
    }

    @Test
    void aBadMirrorUrlIsRefusedBeforeAnythingIsRead() {
        DatasetSource src = source("mnist", new DatasetSource.Remote(List.of(base("/mnist/")),
                md5s(mnistFiles())));
        String[][] cases = {
            {"ftp://127.0.0.1/mnist/", "--mirror 'ftp://127.0.0.1/mnist/' is not an http:, https: or file: URL "
                    + "(scheme ftp:); give the folder that holds the data set's files, e.g. http://host:8000/ or "
                    + "file:///data/mnist/"},
            {"127.0.0.1 8000", "--mirror '127.0.0.1 8000' is not a URL (Illegal character in path); give the folder "
                    + "that holds the data set's files, e.g. http://host:8000/ or file:///data/mnist/"},
            {"/data/mnist", "--mirror '/data/mnist' is not an http:, https: or file: URL; give the folder that "
                    + "holds the data set's files, e.g. http://host:8000/ or file:///data/mnist/"},
            {"http:///mnist/", "--mirror 'http:///mnist/' has no host; give e.g. http://host:8000/"},
        };
        for (String[] c : cases) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> src.withMirror(c[0], "--mirror"));
            assertEquals(c[1], e.getMessage());
        }
        assertEquals(0, requests.get());
        assertEquals("http://127.0.0.1:8000/", DatasetSource.mirrorUrl("http://127.0.0.1:8000", "--mirror"));
        assertEquals("file:/data/mnist/", DatasetSource.mirrorUrl("file:/data/mnist", "--mirror"));
    }

    /** Two gzip members, each half the data: the same content as {@link TestFiles#gzip}, other bytes. */
    private static byte[] gzippedAgain(byte[] data) {
        byte[] a = TestFiles.gzip(java.util.Arrays.copyOfRange(data, 0, data.length / 2));
        byte[] b = TestFiles.gzip(java.util.Arrays.copyOfRange(data, data.length / 2, data.length));
        byte[] both = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, both, a.length, b.length);
        return both;
    }

    @Test
    void aMirrorsCopyGzippedAgainIsCheckedByItsContent() throws IOException {
        byte[] images = TestFiles.idxImages(4, 3, 2, PIXELS);
        byte[] labels = TestFiles.idxLabels(LABELS);
        Map<String, String> md5 = Map.of("t10k-images-idx3-ubyte.gz", TestFiles.md5(TestFiles.gzip(images)),
                "t10k-labels-idx1-ubyte.gz", TestFiles.md5(TestFiles.gzip(labels)));
        Map<String, String> contentMd5 = Map.of("t10k-images-idx3-ubyte.gz", TestFiles.md5(images),
                "t10k-labels-idx1-ubyte.gz", TestFiles.md5(labels));
        byte[] again = gzippedAgain(images);
        assertFalse(TestFiles.md5(again).equals(md5.get("t10k-images-idx3-ubyte.gz")), "other bytes");
        served.put("/m/t10k-images-idx3-ubyte.gz", again);
        served.put("/m/t10k-labels-idx1-ubyte.gz", gzippedAgain(labels));
        DatasetSource src = new DatasetSource(cache, Map.of("mnist",
                new DatasetSource.Remote(List.of(unreachable()), md5, contentMd5))).withMirror(base("/m/"), "--mirror");
        assertArrayEquals(PIXELS, src.load("mnist", null, false).pixels());
        assertArrayEquals(again, Files.readAllBytes(cache.resolve("mnist/t10k-images-idx3-ubyte.gz")));

        // Other content, gzipped or not, is refused: by neither checksum.
        Files.delete(cache.resolve("mnist/t10k-images-idx3-ubyte.gz"));
        byte[] other = images.clone();
        other[other.length - 1] ^= 1;
        byte[] otherGz = gzippedAgain(other);
        served.put("/m/t10k-images-idx3-ubyte.gz", otherGz);
        IOException e = assertThrows(IOException.class, () -> src.load("mnist", null, false));
        assertMessage(e, "checksum mismatch for " + base("/m/t10k-images-idx3-ubyte.gz") + ": expected MD5 "
                + md5.get("t10k-images-idx3-ubyte.gz") + " (or " + TestFiles.md5(images) + " of its decompressed content), got "
                + TestFiles.md5(otherGz) + " (content " + TestFiles.md5(other) + ") (" + otherGz.length
                + " bytes); the downloaded file was deleted");
        served.put("/m/t10k-images-idx3-ubyte.gz", images);      // not gzip at all
        IOException raw = assertThrows(IOException.class, () -> src.load("mnist", null, false));
        assertMessage(raw, "expected MD5 " + md5.get("t10k-images-idx3-ubyte.gz") + " (or " + TestFiles.md5(images)
                + " of its decompressed content), got " + TestFiles.md5(images) + " (" + images.length + " bytes)");
        assertFalse(Files.exists(cache.resolve("mnist/t10k-images-idx3-ubyte.gz")));
    }

    @Test
    void theBuiltInMnistRemoteKnowsTheOriginalFilesContent() {
        assertEquals("6bbc9ace898e44ae57da46a324031adb", DatasetSource.MNIST.contentMd5().get("train-images-idx3-ubyte.gz"));
        assertEquals(DatasetSource.MNIST.md5().keySet(), DatasetSource.MNIST.contentMd5().keySet());
        assertEquals(Map.of(), DatasetSource.FASHION_MNIST.contentMd5());
    }
}
