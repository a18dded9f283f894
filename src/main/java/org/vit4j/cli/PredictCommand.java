package org.vit4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.vit4j.backend.Backend;
import org.vit4j.backend.Backends;
import org.vit4j.data.EvalTransform;
import org.vit4j.data.ImageFiles;
import org.vit4j.data.ImageFolder;
import org.vit4j.data.Normalization;
import org.vit4j.inference.Predictor;
import org.vit4j.io.SafeTensors;
import org.vit4j.nn.Pretrained;
import org.vit4j.nn.ViTConfig;
import org.vit4j.nn.VisionTransformer;
import org.vit4j.tensor.DType;
import org.vit4j.tensor.Shape;
import org.vit4j.tensor.Tensor;
import org.vit4j.train.Checkpoint;
import org.vit4j.train.WeightsFile;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@code vit4j predict}: the top classes of images under a timm ViT or a vit4j checkpoint.
 * Images are decoded and preprocessed on a thread pool while the model runs the batch before.
 */
@Command(name = "predict", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Classify images with a Vision Transformer: a timm or vit-pytorch ViT in safetensors, or a vit4j "
                + "checkpoint. "
                + "Prints each image's path and its top classes with their probabilities.",
                "A timm model's images are preprocessed as timm evaluates: the shorter side resized to 248 (bicubic, "
                        + "as Pillow), a centre crop of 224, ImageNet mean and std. A vit4j checkpoint's (or a file vit4j "
                        + "exported with its normalisation) are resized to the model's size and normalised with its "
                        + "training data's statistics; a vit-pytorch model's are resized to its size and need --mean "
                        + "and --std."})
final class PredictCommand implements Callable<Integer> {
    private static final Logger LOG = LoggerFactory.getLogger(PredictCommand.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The largest --resize and --crop: the side of an image of Pillow's pixel limit. */
    private static final int MAX_SIDE = (int) Math.sqrt(ImageFiles.DEFAULT_MAX_PIXELS);

    @Option(names = "--weights", required = true, paramLabel = "FILE",
            description = "A timm or vit-pytorch ViT in safetensors (its shape inferred from the tensors) or a checkpoint "
                    + "written by vit4j train.")
    Path weights;

    @Option(names = "--labels", paramLabel = "FILE",
            description = "Class names, one per line, as many as the model has classes (default: the names a vit4j "
                    + "checkpoint carries, else the class indices).")
    Path labels;

    @Option(names = "--top-k", defaultValue = "5", paramLabel = "K", description = "Classes shown per image (default: ${DEFAULT-VALUE}).")
    int topK;

    @Option(names = "--batch-size", defaultValue = "32", description = "Images per forward pass (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--device", defaultValue = "auto", description = "auto, cpu or cuda (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--resize", paramLabel = "N",
            description = "Resize the shorter side to N (bicubic) before the centre crop (default: floor(crop / 0.9), "
                    + "248 for a 224-pixel model). With --resize or --crop, a vit4j checkpoint's images are "
                    + "preprocessed this way too instead of resized to the model's size.")
    Integer resize;

    @Option(names = "--crop", paramLabel = "N",
            description = "Centre crop side (default: the model's image size). Another size runs the model at that "
                    + "resolution, its position embedding resampled as timm does; N must be a multiple of the patch size.")
    Integer crop;

    @Option(names = "--mean", split = ",", paramLabel = "M,M,M",
            description = "Per-channel mean, in 0..1 (default: ImageNet's 0.485,0.456,0.406, or a vit4j checkpoint's).")
    float[] mean;

    @Option(names = "--std", split = ",", paramLabel = "S,S,S",
            description = "Per-channel standard deviation (default: ImageNet's 0.229,0.224,0.225, or a vit4j checkpoint's).")
    float[] std;

    @Option(names = "--heads", paramLabel = "N",
            description = "Attention heads of a timm or vit-pytorch model that records no config (default: a head "
                    + "width of 64, both libraries' own; a file vit4j exported records its heads).")
    Integer heads;

    @Option(names = "--json", description = "One JSON object per image (path, indices, labels, probabilities) instead of text.")
    boolean json;

    @Option(names = "--decode-threads", paramLabel = "N",
            description = "Threads that decode and preprocess images (default: the number of cores).")
    Integer decodeThreads;

    @Parameters(paramLabel = "IMAGE", arity = "1..*",
            description = "Image files (PNG, JPEG, BMP, GIF) or directories, searched recursively for .png, .jpg and .jpeg.")
    List<Path> images;

    /** How the last {@link #call()} went, for the throughput harness. */
    Throughput throughput;
    private int predicted;
    private int failed;
    private long modelNanos;
    private final AtomicLong preprocessNanos = new AtomicLong();

    /**
     * Images predicted and failed, wall time, time in the model (forward and logits download)
     * and the decode-and-preprocess time summed over the pool's threads.
     */
    record Throughput(int images, int failed, double seconds, double modelSeconds, double preprocessSeconds,
                      int threads) {
        double imagesPerSecond() {
            return images / Math.max(seconds, 1e-9);
        }

        double modelImagesPerSecond() {
            return images / Math.max(modelSeconds, 1e-9);
        }

        /** All threads together, as if preprocessing alone ran on the pool. */
        double preprocessImagesPerSecond() {
            return (images + failed) / Math.max(preprocessSeconds, 1e-9) * threads;
        }
    }

    /** What the weights file says: the model, and what a vit4j checkpoint knows about its data. */
    private record Source(Path file, ViTConfig config, Map<String, SafeTensors.Entry> tensors, Checkpoint ckpt,
                          List<String> classes, Normalization normalization, WeightsFile.Kind kind) {
        boolean checkpoint() {
            return ckpt != null;
        }
    }

    @Override
    public Integer call() throws Exception {
        if (topK < 1) {
            throw new IllegalArgumentException("--top-k must be positive, got " + topK);
        }
        if (batchSize < 1) {
            throw new IllegalArgumentException("--batch-size must be positive, got " + batchSize);
        }
        int threads = decodeThreads != null ? decodeThreads : Runtime.getRuntime().availableProcessors();
        if (threads < 1) {
            throw new IllegalArgumentException("--decode-threads must be positive, got " + threads);
        }
        Source source = readWeights();
        EvalTransform transform = transform(source);
        ViTConfig config = source.config();
        if (transform.size() != config.imageSize()) {
            try {
                config = config.withInput(transform.size(), config.channels()).withDropout(0f, 0f);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--crop " + transform.size() + " does not fit the model: " + e.getMessage(), e);
            }
            LOG.info("running the {}-pixel model at {} pixels: its position embedding is resampled as timm does",
                    source.config().imageSize(), transform.size());
        }
        List<String> classNames = classNames(source, config.numClasses());

        List<Path> files = new ArrayList<>();
        failed = expand(files);
        // Buffers for at most the images there are: a huge --batch-size predicts the same.
        batchSize = Math.max(1, Math.min(batchSize, files.size()));
        Sizes.requireBatchFits(config, batchSize, "--batch-size");
        ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "vit4j-predict-preprocess");
            t.setDaemon(true);
            return t;
        });
        try (Backend backend = Backends.create(device);
             VisionTransformer model = new VisionTransformer(backend, config)) {
            Pretrained.load(model, source.tensors(), weights, false);
            model.train(false);
            LOG.info("model {} from {} ({} parameters) on {}; images: {}", config, weights, model.parameterCount(),
                    backend.description(), transform);
            long start = System.nanoTime();
            predict(model, transform, files, pool, classNames);
            throughput = new Throughput(predicted, failed, (System.nanoTime() - start) / 1e9, modelNanos / 1e9,
                    preprocessNanos.get() / 1e9, threads);
        } finally {
            pool.shutdownNow();
        }
        LOG.info(String.format(Locale.ROOT, "predicted %d images%s in %.2f s: %.1f images/s (model alone %.1f images/s; "
                        + "decoding and preprocessing %.1f images/s on %d threads)", predicted,
                failed > 0 ? " (" + failed + " failed)" : "", throughput.seconds(), throughput.imagesPerSecond(),
                throughput.modelImagesPerSecond(), throughput.preprocessImagesPerSecond(), threads));
        return failed > 0 ? 1 : 0;
    }

    /**
     * Runs the model over {@code files} in batches and prints the results. Two batches are in
     * flight on the pool, so the next one is decoded while the model runs this one.
     */
    private void predict(VisionTransformer model, EvalTransform transform, List<Path> files, ExecutorService pool,
                         List<String> classNames) throws IOException {
        Backend backend = model.backend();
        ViTConfig c = model.config();
        int perImage = transform.floatsPerImage();
        float[] batchHost = new float[batchSize * perImage];
        float[] logits = new float[batchSize * c.numClasses()];
        int k = Math.min(topK, c.numClasses());
        try (Tensor input = backend.allocate(DType.F32, Shape.of(batchSize, c.channels(), c.imageSize(), c.imageSize()))) {
            Deque<List<Future<float[]>>> queue = new ArrayDeque<>();
            int submitted = 0;
            while (queue.size() < 2 && submitted < files.size()) {
                queue.add(submit(pool, files, submitted, transform));
                submitted = Math.min(files.size(), submitted + batchSize);
            }
            int batchStart = 0;
            while (!queue.isEmpty()) {
                List<Future<float[]>> batch = queue.poll();
                if (submitted < files.size()) {
                    queue.add(submit(pool, files, submitted, transform));
                    submitted = Math.min(files.size(), submitted + batchSize);
                }
                List<Path> ok = gather(batch, files.subList(batchStart, batchStart + batch.size()), batchHost, perImage);
                batchStart += batch.size();
                if (ok.isEmpty()) {
                    continue;
                }
                long t0 = System.nanoTime();
                Tensor x = input.view(Shape.of(ok.size(), c.channels(), c.imageSize(), c.imageSize()));
                backend.upload(batchHost, x);
                backend.download(model.forward(x), logits, 0);
                modelNanos += System.nanoTime() - t0;
                System.out.print(format(ok, logits, c.numClasses(), k, classNames));
                System.out.flush();
                predicted += ok.size();
            }
        }
    }

    /**
     * Waits for a batch's images, in order, packing those that decoded into {@code batchHost}
     * and reporting the others on stderr; returns the files packed.
     */
    private List<Path> gather(List<Future<float[]>> batch, List<Path> files, float[] batchHost, int perImage)
            throws IOException {
        List<Path> ok = new ArrayList<>();
        for (int i = 0; i < batch.size(); i++) {
            try {
                System.arraycopy(batch.get(i).get(), 0, batchHost, ok.size() * perImage, perImage);
                ok.add(files.get(i));
            } catch (ExecutionException e) {
                if (e.getCause() instanceof Error err) {
                    throw err;
                }
                // One image's failure, whatever it is, is that image's: reported, and the run goes on.
                System.err.println("vit4j predict: error: " + (e.getCause() instanceof IOException io ? io.getMessage()
                        : files.get(i) + ": cannot preprocess image: " + e.getCause()));
                failed++;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted while preprocessing " + files.get(i));
            }
        }
        return ok;
    }

    /** Queues the decoding and preprocessing of the batch that starts at file {@code from}. */
    private List<Future<float[]>> submit(ExecutorService pool, List<Path> files, int from, EvalTransform transform) {
        List<Future<float[]>> batch = new ArrayList<>();
        for (Path file : files.subList(from, Math.min(files.size(), from + batchSize))) {
            batch.add(pool.submit(() -> {
                long t0 = System.nanoTime();
                try {
                    return transform.apply(file);
                } finally {
                    preprocessNanos.addAndGet(System.nanoTime() - t0);
                }
            }));
        }
        return batch;
    }

    /**
     * The weights as vit4j tensors, with the model's config and what the file records of its data
     * (a checkpoint, or a file vit4j exported: the class names and normalisation).
     */
    private Source readWeights() throws IOException {
        WeightsFile file = WeightsFile.read(weights, heads);
        Checkpoint ckpt = file.checkpoint();
        return new Source(weights, file.config(), file.tensors(), ckpt, file.classes(), file.normalization(),
                file.kind());
    }

    private EvalTransform transform(Source source) {
        int channels = source.config().channels();
        Normalization norm = normalization(source, channels);
        // timm's own models come with timm's evaluation crop; vit4j's (trained, or exported with
        // their normalisation) and vit-pytorch's are resized to the model's size, as trained
        boolean timmPreprocessing = source.kind() == WeightsFile.Kind.TIMM && source.normalization() == null;
        if (!timmPreprocessing && resize == null && crop == null) {
            return EvalTransform.squash(source.config().imageSize(), norm);
        }
        int side = crop != null ? crop : source.config().imageSize();
        if (side < 1 || side > MAX_SIDE) {
            throw new IllegalArgumentException("--crop must be between 1 and " + MAX_SIDE + ", got " + side);
        }
        int shorter = resize != null ? resize : EvalTransform.timmResize(side);
        if (shorter < 1 || shorter > MAX_SIDE) {
            throw new IllegalArgumentException("--resize must be between 1 and " + MAX_SIDE + ", got " + shorter);
        }
        return EvalTransform.centerCrop(shorter, side, norm);
    }

    private Normalization normalization(Source source, int channels) {
        Normalization fallback = source.normalization() != null ? source.normalization()
                : source.checkpoint() ? checkpointNormalization(source)
                : source.kind() == WeightsFile.Kind.TIMM ? EvalTransform.IMAGENET : null;
        float[] m = mean != null ? mean : fallback == null ? null : fallback.mean();
        float[] s = std != null ? std : fallback == null ? null : fallback.std();
        if (m == null || s == null) {
            throw new IllegalArgumentException(weights + (source.kind() == WeightsFile.Kind.VIT_PYTORCH
                    ? " is a vit-pytorch state_dict, which does not say how its images were normalised"
                    : " records no normalisation (a checkpoint from before vit4j stored it, trained on an image folder)")
                    + "; give the training data's --mean and --std");
        }
        if (m.length != channels || s.length != channels) {
            throw new IllegalArgumentException("the model takes " + channels + "-channel images, but --mean has "
                    + m.length + " and --std " + s.length + " values");
        }
        return new Normalization(m, s);
    }

    /** A checkpoint's normalisation, said when it is the one of the data set it names (older checkpoints). */
    private static Normalization checkpointNormalization(Source source) {
        Normalization n = Predictor.recordedNormalization(source.ckpt());
        if (n != null && source.ckpt().normalization() == null) {
            LOG.info("{} records no normalisation; using {}'s statistics", source.file(), source.ckpt().dataset());
        }
        return n;
    }

    /**
     * --labels, else a checkpoint's class names (for older checkpoints, those of the data set its
     * training options name, when fixed), else null: indices are printed.
     */
    private List<String> classNames(Source source, int numClasses) throws IOException {
        if (labels == null) {
            return source.classes() != null || !source.checkpoint() ? source.classes()
                    : Predictor.recordedClasses(source.ckpt(), numClasses);
        }
        if (!Files.isRegularFile(labels)) {
            throw new IOException(labels + ": no such file (--labels)");
        }
        List<String> lines = new ArrayList<>(Files.readAllLines(labels, StandardCharsets.UTF_8));
        while (!lines.isEmpty() && lines.get(lines.size() - 1).isBlank()) {
            lines.remove(lines.size() - 1);
        }
        if (lines.size() != numClasses) {
            throw new IOException(labels + ": " + lines.size() + " labels (one per line), but the model in " + weights
                    + " has " + numClasses + " classes");
        }
        return List.copyOf(lines);
    }

    /** The image files in argument order, directories expanded; returns how many arguments failed. */
    private int expand(List<Path> files) throws IOException {
        int failed = 0;
        for (Path p : images) {
            if (Files.isDirectory(p)) {
                List<Path> found = ImageFiles.find(p);
                if (found.isEmpty()) {
                    System.err.println("vit4j predict: error: " + p + ": no images (" + String.join(", ",
                            ImageFolder.EXTENSIONS.stream().sorted().map(e -> "." + e).toList()) + ") in this directory");
                    failed++;
                }
                files.addAll(found);
            } else {
                // Missing and unreadable files are reported in order with the others, by the decoder.
                files.add(p);
            }
        }
        return failed;
    }

    /** The results of one batch: text lines or one JSON object per image. */
    private String format(List<Path> files, float[] logits, int classes, int k, List<String> names) throws IOException {
        StringBuilder sb = new StringBuilder();
        double[] p = new double[classes];
        for (int i = 0; i < files.size(); i++) {
            Predictor.softmax(logits, i * classes, classes, p);
            int[] top = Predictor.topK(p, k);
            if (json) {
                ObjectNode o = JSON.createObjectNode();
                o.put("path", files.get(i).toString());
                ArrayNode idx = o.putArray("indices"), lab = o.putArray("labels"), prob = o.putArray("probabilities");
                for (int c : top) {
                    idx.add(c);
                    lab.add(names != null ? names.get(c) : Integer.toString(c));
                    prob.add(p[c]);
                }
                sb.append(JSON.writeValueAsString(o)).append('\n');
            } else {
                sb.append(files.get(i)).append('\n');
                for (int c : top) {
                    sb.append(String.format(Locale.ROOT, "  %.4f  %s%n", p[c], names != null ? names.get(c) : c));
                }
            }
        }
        return sb.toString();
    }
}
