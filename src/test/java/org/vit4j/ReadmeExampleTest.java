package org.vit4j;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vit4j.data.Dataset;
import org.vit4j.data.Mnist;

import javax.imageio.ImageIO;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The README's library example is the code of {@code examples/library-user}'s {@code TrainMnist},
 * character for character, and that code compiles against the library alone and runs: it trains
 * one epoch, saves, reloads (the reloaded model's accuracy is the trained one's), and predicts.
 * It runs in a child JVM in a temporary folder, with a download cache that holds a slice of MNIST
 * (real digits from {@code ../shared/data/mnist} when present, else drawn at random).
 */
class ReadmeExampleTest {
    static final Path EXAMPLE = Path.of("examples/library-user/src/main/java/example/TrainMnist.java");
    static final Path MNIST = Path.of("../shared/data/mnist");
    static final int TRAIN = 1000, TEST = 300;

    @Test
    void theReadmeShowsTheExampleVerbatim() throws IOException {
        String readme = Files.readString(Path.of("README.md"));
        Matcher block = Pattern.compile("<!-- " + Pattern.quote(EXAMPLE.toString()) + " -->\\s*```java\\n(.*?)```",
                Pattern.DOTALL).matcher(readme);
        assertTrue(block.find(), "README.md has no java block after <!-- " + EXAMPLE + " -->");
        assertEquals(dedent(exampleRegion()), dedent(block.group(1)));
    }

    @Test
    void theExampleCompilesAgainstTheLibraryAndRuns(@TempDir Path dir) throws Exception {
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        // the library's classes and dependencies, not the tests' (the example must not need them)
        String libraryCp = String.join(java.io.File.pathSeparator, List.of(cp.split(java.io.File.pathSeparator)).stream()
                .filter(e -> !e.endsWith("test-classes")).toList());
        Path classes = Files.createDirectories(dir.resolve("classes"));
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int rc = javac.run(null, null, err, "-Werror", "-classpath", libraryCp, "-d", classes.toString(),
                EXAMPLE.toString());
        assertEquals(0, rc, "the example does not compile: " + err);

        Path cache = Files.createDirectories(dir.resolve("cache/mnist"));
        Dataset[] splits = slices(cache);
        Path work = Files.createDirectories(dir.resolve("work"));
        Path digit = work.resolve("digit.png");
        ImageIO.write(image(splits[1], 0), "png", digit.toFile());

        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "-cp", classes + java.io.File.pathSeparator + libraryCp,
                "example.TrainMnist", digit.toString());
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(work.toFile()).redirectErrorStream(true);
        pb.environment().put("VIT4J_CACHE", dir.resolve("cache").toString());
        pb.environment().remove("VIT4J_EMULATOR");
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(10, TimeUnit.MINUTES));
        assertEquals(0, p.exitValue(), out);

        Matcher epoch = Pattern.compile("(?m)^epoch 1  train loss (\\d+\\.\\d{4})  test accuracy (\\d+\\.\\d{2})%$")
                .matcher(out);
        assertTrue(epoch.find(), out);
        assertTrue(Double.parseDouble(epoch.group(1)) > 0, out);
        // the reloaded model is the trained one: the same accuracy on the same test set
        Matcher reloaded = Pattern.compile("(?m)^reloaded: loss \\d+\\.\\d{4}, accuracy (\\d+\\.\\d{2})% on "
                + TEST + " images$").matcher(out);
        assertTrue(reloaded.find(), out);
        assertEquals(epoch.group(2), reloaded.group(1), out);
        // three classes of the checkpoint's names, most probable first
        Matcher predicted = Pattern.compile("(?m)^" + Pattern.quote(digit.toString())
                + ": \\[(\\d) (\\d\\.\\d{4}), (\\d) (\\d\\.\\d{4}), (\\d) (\\d\\.\\d{4})\\]$").matcher(out);
        assertTrue(predicted.find(), out);
        assertTrue(Double.parseDouble(predicted.group(2)) >= Double.parseDouble(predicted.group(4)), out);
        assertTrue(Files.size(work.resolve("mnist-vit.safetensors")) > 4 * 200_000, "checkpoint missing");
    }

    /** The code between the markers, without the marker lines. */
    static String exampleRegion() throws IOException {
        String src = Files.readString(EXAMPLE);
        int begin = src.indexOf("// README:begin\n"), end = src.indexOf("// README:end");
        assertTrue(begin >= 0 && end > begin, EXAMPLE + " has no README markers");
        return src.substring(begin + "// README:begin\n".length(), src.lastIndexOf('\n', end) + 1);
    }

    /** Lines without their common indentation. */
    static String dedent(String text) {
        List<String> lines = List.of(text.split("\n", -1));
        int indent = lines.stream().filter(l -> !l.isBlank()).mapToInt(l -> l.length() - l.stripLeading().length())
                .min().orElse(0);
        List<String> out = new ArrayList<>();
        for (String l : lines) {
            out.add(l.isBlank() ? "" : l.substring(indent));
        }
        return String.join("\n", out).strip();
    }

    /** A train and a test slice of MNIST, written as the cache's four IDX files. */
    static Dataset[] slices(Path cache) throws IOException {
        Dataset[] out = new Dataset[2];
        String[][] names = {{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"},
                {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}};
        for (int s = 0; s < 2; s++) {
            int n = s == 0 ? TRAIN : TEST;
            byte[] pixels;
            int[] labels;
            if (Files.isDirectory(MNIST)) {
                Dataset d = Mnist.load(MNIST, s == 0, "mnist");
                pixels = java.util.Arrays.copyOf(d.pixels(), n * 784);
                labels = java.util.Arrays.copyOf(d.labels(), n);
            } else {
                SplittableRandom r = new SplittableRandom(s);
                pixels = new byte[n * 784];
                labels = new int[n];
                for (int i = 0; i < n; i++) {
                    labels[i] = r.nextInt(10);
                    for (int j = 0; j < 784; j++) {
                        pixels[i * 784 + j] = (byte) r.nextInt(256);
                    }
                }
            }
            try (DataOutputStream o = new DataOutputStream(gzip(cache.resolve(names[s][0])))) {
                o.writeInt(0x803);
                o.writeInt(n);
                o.writeInt(28);
                o.writeInt(28);
                o.write(pixels);
            }
            try (DataOutputStream o = new DataOutputStream(gzip(cache.resolve(names[s][1])))) {
                o.writeInt(0x801);
                o.writeInt(n);
                for (int l : labels) {
                    o.writeByte(l);
                }
            }
            out[s] = Mnist.load(cache, s == 0, "mnist");
        }
        return out;
    }

    private static OutputStream gzip(Path file) throws IOException {
        return new GZIPOutputStream(Files.newOutputStream(file));
    }

    private static BufferedImage image(Dataset d, int i) {
        BufferedImage img = new BufferedImage(28, 28, BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 0; y < 28; y++) {
            for (int x = 0; x < 28; x++) {
                int v = d.pixels()[i * 784 + y * 28 + x] & 0xFF;
                img.getRaster().setSample(x, y, 0, v);
            }
        }
        return img;
    }
}
