package org.vit4j.inference;

import org.vit4j.backend.Backend;
import org.vit4j.data.Cifar10;
import org.vit4j.data.EvalTransform;
import org.vit4j.data.Mnist;
import org.vit4j.data.Normalization;
import org.vit4j.nn.ViTConfig;
import org.vit4j.nn.VisionTransformer;
import org.vit4j.tensor.DType;
import org.vit4j.tensor.Shape;
import org.vit4j.tensor.Tensor;
import org.vit4j.train.Checkpoint;
import org.vit4j.train.WeightsFile;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * A model that classifies images: decoded files or {@link BufferedImage}s, preprocessed as the
 * model's training data was, run in evaluation mode, their top classes with softmax probabilities.
 *
 * <pre>{@code
 * try (Backend backend = Backends.auto();
 *      Predictor predictor = Predictor.load(backend, Path.of("mnist-vit.safetensors"))) {
 *     List<Prediction> top3 = predictor.predict(ImageIO.read(new File("digit.png")), 3);
 * }
 * }</pre>
 *
 * A vit4j checkpoint's images are resized to the model's size and normalised with its training
 * data's statistics, and its class names label the classes; a timm ViT's get timm's evaluation
 * preprocessing (shorter side resized to {@code crop / 0.9}, bicubic as Pillow, centre crop,
 * ImageNet statistics). A vit-pytorch file records no normalisation: build its predictor with
 * {@link #of(VisionTransformer, EvalTransform, List)}.
 */
public final class Predictor implements AutoCloseable {
    private final VisionTransformer model;
    private final EvalTransform transform;
    private final List<String> classes;
    private final boolean ownsModel;

    private Predictor(VisionTransformer model, EvalTransform transform, List<String> classes, boolean ownsModel) {
        this.model = Objects.requireNonNull(model, "model");
        this.transform = Objects.requireNonNull(transform, "transform");
        ViTConfig c = model.config();
        if (transform.channels() != c.channels() || transform.size() != c.imageSize()) {
            throw new IllegalArgumentException("the transform makes " + transform.channels() + "x" + transform.size()
                    + "x" + transform.size() + " images, the model takes " + c.channels() + "x" + c.imageSize() + "x"
                    + c.imageSize());
        }
        if (classes != null && classes.size() != c.numClasses()) {
            throw new IllegalArgumentException(classes.size() + " class names for a model of " + c.numClasses()
                    + " classes");
        }
        this.classes = classes == null ? null : List.copyOf(classes);
        this.ownsModel = ownsModel;
    }

    /**
     * A predictor with the model in {@code weights} (a vit4j checkpoint or a timm ViT; see the class
     * comment), which it owns and closes.
     *
     * @throws IOException if the file cannot be read or is not a model's
     * @throws IllegalArgumentException if the file does not say how its images were normalised
     */
    public static Predictor load(Backend backend, Path weights) throws IOException {
        WeightsFile file = WeightsFile.read(weights, null);
        ViTConfig c = file.config();
        EvalTransform transform;
        List<String> classes = null;
        // a timm file vit4j exported with its normalisation is preprocessed as the checkpoint it came from
        if (file.kind() == WeightsFile.Kind.TIMM && file.normalization() == null) {
            transform = EvalTransform.centerCrop(EvalTransform.timmResize(c.imageSize()), c.imageSize(),
                    EvalTransform.IMAGENET);
            classes = file.classes();
        } else {
            Normalization n = file.normalization() != null ? file.normalization()
                    : file.checkpoint() == null ? null : recordedNormalization(file.checkpoint());
            if (n == null || n.channels() != c.channels()) {
                throw new IllegalArgumentException(weights + " does not record how its images were normalised; "
                        + "build the predictor with Predictor.of(model, transform, classes)");
            }
            transform = EvalTransform.squash(c.imageSize(), n);
            classes = file.classes() != null || file.checkpoint() == null ? file.classes()
                    : recordedClasses(file.checkpoint(), c.numClasses());
        }
        VisionTransformer model = file.newModel(backend, weights);
        try {
            return new Predictor(model, transform, classes, true);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /**
     * A predictor of {@code model} (which stays the caller's) for images normalised with
     * {@code normalization} and resized to the model's size, labelled with {@code classes} (null:
     * the indices): the model just trained on a data set, with that data set's normalisation and classes.
     */
    public static Predictor of(VisionTransformer model, Normalization normalization, List<String> classes) {
        return new Predictor(model, EvalTransform.squash(model.config().imageSize(), normalization), classes, false);
    }

    /** A predictor of {@code model} (which stays the caller's) with its own preprocessing. */
    public static Predictor of(VisionTransformer model, EvalTransform transform, List<String> classes) {
        return new Predictor(model, transform, classes, false);
    }

    /** The model predictions come from. */
    public VisionTransformer model() {
        return model;
    }

    /** The class names, or null when classes are labelled by index. */
    public List<String> classes() {
        return classes;
    }

    /** The {@code k} most probable classes of {@code image}, most probable first. */
    public List<Prediction> predict(BufferedImage image, int k) {
        return predict(List.of(image), k).get(0);
    }

    /** The {@code k} most probable classes of the image in {@code file}, most probable first. */
    public List<Prediction> predict(Path file, int k) throws IOException {
        float[] x = transform.apply(file);
        return run(x, 1, k).get(0);
    }

    /** The {@code k} most probable classes of each image, in one forward pass. */
    public List<List<Prediction>> predict(List<BufferedImage> images, int k) {
        if (images.isEmpty()) {
            return List.of();
        }
        int per = transform.floatsPerImage();
        float[] x = new float[Math.multiplyExact(images.size(), per)];
        for (int i = 0; i < images.size(); i++) {
            transform.apply(images.get(i), x, i * per);
        }
        return run(x, images.size(), k);
    }

    private List<List<Prediction>> run(float[] x, int n, int k) {
        if (k < 1) {
            throw new IllegalArgumentException("k must be positive, got " + k);
        }
        ViTConfig c = model.config();
        Backend backend = model.backend();
        int classes = c.numClasses();
        float[] logits = new float[n * classes];
        boolean wasTraining = model.isTraining();
        model.train(false);
        try (Tensor input = backend.allocate(DType.F32, Shape.of(n, c.channels(), c.imageSize(), c.imageSize()))) {
            backend.upload(x, input);
            backend.download(model.forward(input), logits, 0);
        } finally {
            model.train(wasTraining);
        }
        List<List<Prediction>> out = new ArrayList<>(n);
        double[] p = new double[classes];
        for (int i = 0; i < n; i++) {
            softmax(logits, i * classes, classes, p);
            List<Prediction> top = new ArrayList<>();
            for (int j : topK(p, Math.min(k, classes))) {
                top.add(new Prediction(j, this.classes != null ? this.classes.get(j) : Integer.toString(j), p[j]));
            }
            out.add(List.copyOf(top));
        }
        return out;
    }

    /**
     * A checkpoint's normalisation; for checkpoints written before vit4j stored it, the fixed
     * statistics of the data set its training options name, when that has fixed ones; else null.
     */
    public static Normalization recordedNormalization(Checkpoint checkpoint) {
        if (checkpoint.normalization() != null) {
            return checkpoint.normalization();
        }
        String dataset = checkpoint.dataset();
        return dataset == null ? null : switch (dataset) {
            case "mnist" -> Normalization.MNIST;
            case "fashion-mnist" -> Normalization.FASHION_MNIST;
            case "cifar10" -> Normalization.CIFAR10;
            default -> null;
        };
    }

    /**
     * A checkpoint's class names; for older checkpoints, those of the data set its training
     * options name, when fixed and as many as the model's classes; else null.
     */
    public static List<String> recordedClasses(Checkpoint checkpoint, int numClasses) {
        if (checkpoint.classes() != null) {
            return checkpoint.classes();
        }
        String dataset = checkpoint.dataset();
        List<String> known = dataset == null ? null : switch (dataset) {
            case "mnist" -> Mnist.DIGIT_CLASSES;
            case "fashion-mnist" -> Mnist.FASHION_CLASSES;
            case "cifar10" -> Cifar10.CLASSES;
            default -> null;
        };
        return known != null && known.size() == numClasses ? known : null;
    }

    /** Softmax of {@code n} logits at {@code off} into {@code out}, in double, shifted by the maximum. */
    public static void softmax(float[] logits, int off, int n, double[] out) {
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < n; j++) {
            max = Math.max(max, logits[off + j]);
        }
        double sum = 0;
        for (int j = 0; j < n; j++) {
            out[j] = Math.exp(logits[off + j] - max);
            sum += out[j];
        }
        for (int j = 0; j < n; j++) {
            out[j] /= sum;
        }
    }

    /** Indices of the {@code k} largest values, largest first; ties go to the lower index. */
    public static int[] topK(double[] values, int k) {
        int[] top = new int[k];
        int filled = 0;
        for (int j = 0; j < values.length; j++) {
            int pos = filled;
            while (pos > 0 && values[top[pos - 1]] < values[j]) {
                pos--;
            }
            if (pos < k) {
                System.arraycopy(top, pos, top, pos + 1, Math.min(filled, k - 1) - pos);
                top[pos] = j;
                filled = Math.min(filled + 1, k);
            }
        }
        return Arrays.copyOf(top, filled);
    }

    /** Closes the model when this predictor loaded it. */
    @Override
    public void close() {
        if (ownsModel) {
            model.close();
        }
    }
}
