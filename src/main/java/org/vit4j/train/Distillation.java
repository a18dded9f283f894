package org.vit4j.train;

import org.vit4j.backend.Backend;
import org.vit4j.data.Batch;
import org.vit4j.data.DataLoader;
import org.vit4j.io.SafeTensors;
import org.vit4j.nn.VisionTransformer;
import org.vit4j.tensor.DType;
import org.vit4j.tensor.Shape;
import org.vit4j.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * DeiT's hard-label distillation (Touvron et al., 2021, section 5.2): a distilled student's class
 * head learns the true labels, its distillation head the teacher's predicted class,
 * <pre>
 *   loss = (1 - alpha) * CE(class logits, labels, smoothing) + alpha * CE(distillation logits, argmax teacher)
 * </pre>
 * with alpha = 1/2 in the paper. The teacher's prediction comes from a {@link Teacher}: a vit4j
 * model run on the same (augmented) batch, as DeiT does, or a file of logits computed beforehand
 * for every training example (cheaper, but blind to augmentation).
 */
public final class Distillation implements AutoCloseable {
    /** The paper's weight of the distillation term. */
    public static final float DEFAULT_ALPHA = 0.5f;

    /** Tensor name of the logits in a teacher-logits file. */
    public static final String LOGITS = "logits";

    /** Where the teacher's predicted class for each example of a batch comes from. */
    public interface Teacher extends AutoCloseable {
        /**
         * Writes the teacher's predicted class for each example of {@code batch} into {@code out}.
         *
         * @param images the batch's images, already on the backend ([B, C, H, W])
         */
        void predict(Batch batch, Tensor images, int[] out);

        @Override
        default void close() {
        }
    }

    private final Backend backend;
    private final Teacher teacher;
    private final float alpha;
    private final Tensor teacherLabels;
    private final Tensor distLosses;
    private final Tensor dDist;
    private final int[] teacherHost;
    private final float[] lossHost;

    /** Takes ownership of {@code teacher}. */
    public Distillation(Backend backend, Teacher teacher, float alpha, int maxBatch, int numClasses) {
        if (!(alpha >= 0 && alpha <= 1)) {
            throw new IllegalArgumentException("distillation alpha must be in [0, 1], got " + alpha);
        }
        this.backend = backend;
        this.teacher = teacher;
        this.alpha = alpha;
        this.teacherLabels = backend.allocate(DType.I32, Shape.of(maxBatch));
        this.distLosses = backend.allocate(maxBatch);
        this.dDist = backend.allocate(maxBatch, numClasses);
        this.teacherHost = new int[maxBatch];
        this.lossHost = new float[maxBatch];
    }

    public float alpha() {
        return alpha;
    }

    /**
     * One distillation step's loss and gradients for a student in distillation training: writes
     * {@code dClass} (the class head's gradient, given the per-example class losses already
     * computed into {@code classLosses} by the caller) and back-propagates both heads.
     *
     * @return the mean of the per-example combined losses
     */
    public double lossAndBackward(VisionTransformer student, Batch batch, Tensor images, Tensor labels, float smoothing,
                           Tensor classLogits, Tensor classLosses, float[] classLossHost, Tensor dClass) {
        int b = batch.size();
        teacher.predict(batch, images, teacherHost);
        Tensor yt = teacherLabels.view(Shape.of(b));
        backend.upload(teacherHost, 0, yt);
        Tensor distLogits = student.distillationLogits();
        Tensor losses = distLosses.view(Shape.of(b));
        Tensor dd = dDist.view(distLogits.shape());
        backend.crossEntropyForward(classLogits, labels, smoothing, classLosses);
        backend.crossEntropyForward(distLogits, yt, 0f, losses);
        backend.crossEntropyBackward(classLogits, labels, smoothing, (1 - alpha) / b, dClass);
        backend.crossEntropyBackward(distLogits, yt, 0f, alpha / b, dd);
        student.backward(dClass, dd);
        backend.download(classLosses, classLossHost, 0);
        backend.download(losses, lossHost, 0);
        double sum = 0;
        for (int i = 0; i < b; i++) {
            sum += (1 - alpha) * classLossHost[i] + alpha * lossHost[i];
        }
        return sum / b;
    }

    @Override
    public void close() {
        try {
            teacher.close();
        } finally {
            teacherLabels.close();
            distLosses.close();
            dDist.close();
        }
    }

    /** The index of the largest of {@code classes} values from {@code offset} (the first on ties, as argmax). */
    static int argmax(float[] logits, int offset, int classes) {
        int best = 0;
        for (int c = 1; c < classes; c++) {
            if (logits[offset + c] > logits[offset + best]) {
                best = c;
            }
        }
        return best;
    }

    /**
     * A vit4j model as the teacher, run in evaluation mode on the student's batch. It must take
     * the same images and predict the same classes. The caller keeps ownership of {@code model}.
     */
    public static Teacher modelTeacher(VisionTransformer model, int numClasses) {
        if (model.config().numClasses() != numClasses) {
            throw new IllegalArgumentException("the teacher predicts " + model.config().numClasses()
                    + " classes, the student " + numClasses);
        }
        return new Teacher() {
            private float[] host = new float[0];

            @Override
            public void predict(Batch batch, Tensor images, int[] out) {
                var s = images.shape();
                var c = model.config();
                if (s.dim(1) != c.channels() || s.dim(2) != c.imageSize()) {
                    throw new IllegalArgumentException("the teacher takes " + c.channels() + "x" + c.imageSize() + "x"
                            + c.imageSize() + " images, the student's batch is " + s);
                }
                model.train(false);
                Tensor logits = model.forward(images);
                int n = Math.toIntExact(logits.numel());
                if (host.length < n) {
                    host = new float[n];
                }
                model.backend().download(logits, host, 0);
                for (int i = 0; i < batch.size(); i++) {
                    out[i] = argmax(host, i * numClasses, numClasses);
                }
            }
        };
    }

    /**
     * Teacher logits computed beforehand, {@code [examples, classes]} in training-set order (see
     * {@link #writeTeacherLogits}); batches must carry their example indices.
     */
    public static Teacher logitsTeacher(Path file, int examples, int numClasses) throws IOException {
        SafeTensors.Entry e = SafeTensors.read(file).tensors().get(LOGITS);
        if (e == null || e.floats() == null || e.shape().length != 2) {
            throw new IOException(file + ": not a teacher-logits file: needs an F32 tensor '" + LOGITS
                    + "' [examples, classes]");
        }
        if (e.shape()[0] != examples || e.shape()[1] != numClasses) {
            throw new IOException(file + ": teacher logits are [" + e.shape()[0] + ", " + e.shape()[1]
                    + "], the training set needs [" + examples + ", " + numClasses + "]");
        }
        float[] logits = e.floats();
        for (int i = 0; i < logits.length; i++) {
            if (!Float.isFinite(logits[i])) {
                throw new IOException(file + ": teacher logit " + i / numClasses + "," + i % numClasses + " is " + logits[i]
                        + "; a teacher's logits must be finite");
            }
        }
        int[] predicted = new int[examples];
        for (int i = 0; i < examples; i++) {
            predicted[i] = argmax(e.floats(), i * numClasses, numClasses);
        }
        return (batch, images, out) -> {
            int[] idx = batch.indices();
            if (idx == null) {
                throw new IllegalStateException("teacher logits need batches that carry their example indices");
            }
            for (int i = 0; i < batch.size(); i++) {
                out[i] = predicted[idx[i]];
            }
        };
    }

    /**
     * Writes {@code model}'s logits for every example {@code loader} visits, in data-set order
     * ({@code loader} must not shuffle), as a teacher-logits file.
     */
    public static void writeTeacherLogits(VisionTransformer model, DataLoader loader, Path file) throws IOException {
        Backend backend = model.backend();
        var c = model.config();
        int n = loader.dataset().size();
        float[] all = new float[Math.multiplyExact(n, c.numClasses())];
        model.train(false);
        try (Tensor images = backend.allocate(DType.F32,
                Shape.of(loader.batchSize(), c.channels(), c.imageSize(), c.imageSize()))) {
            int done = 0;
            for (Iterator<Batch> it = loader.epoch(0); it.hasNext(); ) {
                Batch batch = it.next();
                Tensor x = images.view(Shape.of(batch.size(), c.channels(), c.imageSize(), c.imageSize()));
                backend.upload(batch.images(), x);
                Tensor logits = model.forward(x);
                float[] host = backend.toArray(logits);
                int[] idx = batch.indices();
                for (int i = 0; i < batch.size(); i++) {
                    int example = idx != null ? idx[i] : done + i;
                    System.arraycopy(host, i * c.numClasses(), all, example * c.numClasses(), c.numClasses());
                }
                done += batch.size();
            }
        }
        Map<String, SafeTensors.Entry> tensors = new LinkedHashMap<>();
        tensors.put(LOGITS, SafeTensors.Entry.f32(new int[] {n, c.numClasses()}, all));
        SafeTensors.write(file, tensors, Map.of("format", "vit4j-teacher-logits-1", "examples", Integer.toString(n)));
    }
}
