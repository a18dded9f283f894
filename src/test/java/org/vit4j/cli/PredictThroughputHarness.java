package org.vit4j.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;
import org.vit4j.backend.Backend;
import org.vit4j.backend.Backends;
import org.vit4j.backend.cpu.CpuBackend;
import org.vit4j.data.EvalTransform;
import org.vit4j.data.ImageFiles;
import org.vit4j.nn.TimmWeights;
import org.vit4j.nn.ViTConfig;
import org.vit4j.nn.VisionTransformer;
import org.vit4j.tensor.Tensor;
import picocli.CommandLine;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import javax.imageio.ImageIO;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Throughput of {@code vit4j predict} for a {@code vit_tiny_patch16_224}-shaped timm model (random
 * weights: speed does not depend on them). Not a unit test: it runs only when asked for,
 * e.g. on the CPU with 512 images:
 * <pre>
 * mvn -o -q test -Dtest=PredictThroughputHarness -Dvit4j.predict.images=512 \
 *     [-Dvit4j.predict.device=cpu|cuda|auto] [-Dvit4j.predict.batch=32] [-Dvit4j.predict.threads=N] \
 *     [-Dvit4j.predict.dir=DIR]
 * </pre>
 * It writes the timm file and N photo-like 500x375 JPEGs (the usual ImageNet validation size),
 * or takes the first N images under {@code DIR} (e.g. CIFAR-10 JPEGs, which are only 32x32),
 * then prints images/s for (1) decoding and preprocessing alone, on one thread and on the
 * pool, (2) the model alone on preprocessed batches and (3) {@code predict} end to end, which
 * overlaps the two.
 */
@EnabledIfSystemProperty(named = "vit4j.predict.images", matches = "\\d+")
class PredictThroughputHarness {
    private static final ViTConfig VIT_TINY = new ViTConfig(224, 16, 3, 1000, 192, 12, 3, 768, 0f,
            ViTConfig.Pool.CLS, ViTConfig.Head.LINEAR);

    @TempDir
    Path tmp;

    @Test
    void measure() throws Exception {
        int n = Integer.getInteger("vit4j.predict.images");
        String device = System.getProperty("vit4j.predict.device", "cpu");
        int batch = Integer.getInteger("vit4j.predict.batch", 32);
        int threads = Integer.getInteger("vit4j.predict.threads", Runtime.getRuntime().availableProcessors());
        String dir = System.getProperty("vit4j.predict.dir");

        Path weights = tmp.resolve("vit_tiny_patch16_224.safetensors");
        try (Backend cpu = new CpuBackend(); VisionTransformer model = VisionTransformer.create(cpu, VIT_TINY, 0)) {
            TimmWeights.write(weights, model);
        }
        List<Path> files = dir != null ? ImageFiles.find(Path.of(dir)) : jpegs(n, threads);
        files = files.subList(0, Math.min(n, files.size()));
        n = files.size();
        report("%d images (%s), batch %d, device %s, %d decode threads, %d cores", n,
                dir != null ? "from " + dir : "500x375 JPEGs", batch, device, threads,
                Runtime.getRuntime().availableProcessors());

        // (1) Decoding and preprocessing alone.
        EvalTransform transform = EvalTransform.centerCrop(248, 224, EvalTransform.IMAGENET);
        for (Path f : files.subList(0, Math.min(n, 16))) {
            transform.apply(f); // JIT warm-up
        }
        long t0 = System.nanoTime();
        for (Path f : files) {
            transform.apply(f);
        }
        double single = seconds(t0);
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            t0 = System.nanoTime();
            List<Future<float[]>> done = new ArrayList<>();
            for (Path f : files) {
                done.add(pool.submit(() -> transform.apply(f)));
            }
            for (Future<float[]> f : done) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
        double pooled = seconds(t0);
        report("decode + preprocess: %.1f images/s on 1 thread, %.1f images/s on %d threads",
                n / single, n / pooled, threads);

        // (2) The model alone, one warm-up batch first.
        try (Backend backend = Backends.create(device);
             VisionTransformer model = TimmWeights.read(backend, weights, null);
             Tensor x = backend.allocate(batch, 3, 224, 224)) {
            model.train(false);
            float[] input = new float[batch * transform.floatsPerImage()];
            for (int i = 0; i < batch; i++) {
                transform.apply(files.get(i % n), input, i * transform.floatsPerImage());
            }
            backend.upload(input, x);
            backend.toArray(model.forward(x));
            int batches = Math.max(1, n / batch);
            t0 = System.nanoTime();
            for (int b = 0; b < batches; b++) {
                backend.upload(input, x);
                backend.toArray(model.forward(x));
            }
            report("model alone: %.1f images/s (%d batches of %d on %s)", batches * batch / seconds(t0), batches,
                    batch, backend.description());
        }

        // (3) predict end to end, its output discarded.
        PredictCommand predict = new PredictCommand();
        List<String> args = new ArrayList<>(List.of("--weights", weights.toString(), "--device", device,
                "--batch-size", Integer.toString(batch), "--decode-threads", Integer.toString(threads), "--json"));
        files.forEach(f -> args.add(f.toString()));
        PrintStream out = System.out;
        System.setOut(new PrintStream(OutputStream.nullOutputStream()));
        int code;
        try {
            code = new CommandLine(predict).execute(args.toArray(String[]::new));
        } finally {
            System.setOut(out);
        }
        assertEquals(0, code);
        PredictCommand.Throughput t = predict.throughput;
        report("predict end to end: %.1f images/s (%d images in %.2f s; model %.2f s of it)",
                t.imagesPerSecond(), t.images(), t.seconds(), t.modelSeconds());
    }

    /** Photo-like JPEGs: smooth colour fields, edges and grain, different for every index. */
    private List<Path> jpegs(int n, int threads) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<Path>> files = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                int index = i;
                files.add(pool.submit(() -> jpeg(index)));
            }
            List<Path> out = new ArrayList<>();
            for (Future<Path> f : files) {
                out.add(f.get());
            }
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    private Path jpeg(int index) {
        int w = 500, h = 375;
        SplittableRandom rnd = new SplittableRandom(index);
        double fx = 0.005 + 0.03 * rnd.nextDouble(), fy = 0.005 + 0.03 * rnd.nextDouble();
        int edge = rnd.nextInt(w);
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        int[] row = new int[w];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int r = (int) (128 + 100 * Math.sin(x * fx + y * fy)) + rnd.nextInt(9) - 4;
                int g = (int) (128 + 100 * Math.cos(y * fy * 2)) + (x > edge ? 40 : -40);
                int b = (x * 255 / w + y * 255 / h) / 2 + rnd.nextInt(9) - 4;
                row[x] = clamp(r) << 16 | clamp(g) << 8 | clamp(b);
            }
            img.setRGB(0, y, w, 1, row, 0, w);
        }
        Path file = tmp.resolve(String.format(Locale.ROOT, "img-%05d.jpg", index));
        try {
            ImageIO.write(img, "jpg", file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return file;
    }

    private static int clamp(int v) {
        return Math.max(0, Math.min(255, v));
    }

    private static double seconds(long start) {
        return (System.nanoTime() - start) / 1e9;
    }

    private static void report(String format, Object... args) {
        System.out.printf(Locale.ROOT, "predict throughput: " + format + "%n", args);
        System.out.flush();
    }
}
