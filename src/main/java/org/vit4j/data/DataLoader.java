package org.vit4j.data;

import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns a {@link Dataset} into mini-batches of normalised float images, prepared ahead of the
 * consumer by a background thread.
 *
 * <h2>Determinism</h2>
 * Everything random is a pure function of the seed and the epoch number, never of the run's
 * history, so a run resumed at epoch {@code e} sees exactly the batches an uninterrupted run would:
 * <ul>
 *   <li>the shuffle is a Fisher-Yates permutation driven by a {@link SplittableRandom} seeded from
 *       {@code (seed, epoch)};
 *   <li>the augmentation of the example at position {@code k} of an epoch's order is drawn from a
 *       {@link SplittableRandom} seeded from {@code (seed, epoch, k)}.
 * </ul>
 *
 * <h2>Normalisation and augmentation</h2>
 * Each pixel becomes {@code (pixel / 255 - mean[c]) / std[c]} with the dataset's
 * {@link Dataset#normalization()}. With {@code augment}, each training image is, as with
 * torchvision's {@code RandomCrop(size, padding=4)} then {@code RandomHorizontalFlip()}: padded by 4
 * pixels of raw value 0 on every side, cropped back to its size at a uniformly random offset
 * (0..8 in each direction), and mirrored left-right with probability 1/2. The padding is applied to
 * the raw image before normalisation, as torchvision does, so a padded pixel becomes
 * {@code (0 - mean[c]) / std[c]}, not 0.
 *
 * <h2>Resizing</h2>
 * With an image size other than the data's ({@link Builder#imageSize(int)}),
 * each image of a batch is resized when the batch is built, after the augmentation and before the
 * normalisation, as torchvision's {@code Resize(size)} of a PIL image does it: Pillow's bilinear
 * resample of the uint8 image ({@link PillowBicubic} with {@link PillowBicubic.Filter#BILINEAR},
 * bit for bit), so a 224-pixel model trains on 32-pixel CIFAR-10 without a 224-pixel copy of the
 * data set in memory.
 *
 * <h2>Threads</h2>
 * {@link #epoch(int)} starts a daemon thread that fills a queue of at most {@link #PREFETCH}
 * batches. An exception in that thread is rethrown to the consumer by the iterator, wrapped in a
 * {@link DataLoaderException} (errors are rethrown as they are). Only one epoch runs at a time:
 * starting another stops the previous one, and {@link #close()} stops the current one. An instance
 * is meant to be used from one consumer thread.
 */
public final class DataLoader implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(DataLoader.class);

    /** Batches prepared ahead of the consumer. */
    public static final int PREFETCH = 3;

    /** Zero padding, in pixels, of the random-crop augmentation. */
    public static final int CROP_PADDING = 4;

    private static final long SHUFFLE_SALT = 0x5348_5546_464C_4531L;
    private static final long AUGMENT_SALT = 0x4155_474D_454E_5431L;
    private static final long GOLDEN = 0x9E37_79B9_7F4A_7C15L;
    private static final AtomicInteger THREAD_IDS = new AtomicInteger();

    private final Dataset data;
    private final int batchSize;
    private final boolean shuffle;
    private final boolean augment;
    private final boolean dropLast;
    private final long seed;
    /** Side of the images batches hold when they are resized (else 0: the data's own size). */
    private final int imageSize;
    private final boolean resize;
    /** {@code lut[c][v]} = normalised value of raw pixel {@code v} in channel {@code c}. */
    private final float[][] lut;

    private Producer current;
    private boolean closed;
    /** Test hook, called in the worker thread before each batch is built. */
    private volatile IntConsumer beforeBatch;

    /** See {@link Builder}'s setters for the meaning of each value. */
    private DataLoader(Dataset data, int batchSize, boolean shuffle, boolean augment, boolean dropLast, long seed,
                       int imageSize) {
        this.data = Objects.requireNonNull(data, "data");
        if (batchSize <= 0) {
            throw new IllegalArgumentException("batch size must be at least 1, got " + batchSize);
        }
        this.resize = imageSize != 0 && (imageSize != data.height() || imageSize != data.width());
        if (imageSize < 0 || resize && data.height() != data.width()) {
            throw new IllegalArgumentException("cannot resize " + data.name() + "'s " + data.height() + "x" + data.width()
                    + " images to " + imageSize + "x" + imageSize + (imageSize < 0 ? "" : ": only square images are resized"));
        }
        this.imageSize = resize ? imageSize : 0;
        this.batchSize = batchSize;
        this.shuffle = shuffle;
        this.augment = augment;
        this.dropLast = dropLast;
        this.seed = seed;
        Normalization norm = data.normalization();
        lut = new float[data.channels()][256];
        for (int c = 0; c < data.channels(); c++) {
            for (int v = 0; v < 256; v++) {
                lut[c][v] = (v / 255f - norm.mean(c)) / norm.std(c);
            }
        }
        if (batchesPerEpoch() == 0) {
            LOG.warn("{} has {} examples, fewer than one batch of {}, and dropLast is set: epochs will be empty",
                    data.name(), data.size(), batchSize);
        }
    }

    /**
     * A loader of {@code data}, configured by name: {@code DataLoader.builder(train).batchSize(100)
     * .shuffle(true).seed(0).build()}. Defaults as PyTorch's {@code DataLoader}: batches of 1, in
     * dataset order, the last smaller batch kept; no augmentation, seed 0, the data's image size.
     */
    public static Builder builder(Dataset data) {
        return new Builder(data);
    }

    /** Builds a {@link DataLoader}; see {@link #builder(Dataset)}. */
    public static final class Builder {
        private final Dataset data;
        private int batchSize = 1;
        private boolean shuffle, augment, dropLast;
        private long seed;
        private int imageSize;

        private Builder(Dataset data) {
            this.data = Objects.requireNonNull(data, "data");
        }

        /** Examples per batch, at least 1. */
        public Builder batchSize(int batchSize) {
            this.batchSize = batchSize;
            return this;
        }

        /** Visit the examples in a seeded random order each epoch (else in dataset order). */
        public Builder shuffle(boolean shuffle) {
            this.shuffle = shuffle;
            return this;
        }

        /** Random crop (4-pixel padding) and horizontal flip, as torchvision's; meant for colour training data. */
        public Builder augment(boolean augment) {
            this.augment = augment;
            return this;
        }

        /** Drop the last batch of an epoch when it is smaller than the batch size. */
        public Builder dropLast(boolean dropLast) {
            this.dropLast = dropLast;
            return this;
        }

        /** Seed of the shuffle and the augmentation. */
        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /** Resize every (square) image to {@code imageSize x imageSize}, bilinear; 0 keeps the data's size. */
        public Builder imageSize(int imageSize) {
            this.imageSize = imageSize;
            return this;
        }

        /** The loader; {@link IllegalArgumentException} for a batch size below 1 or an impossible resize. */
        public DataLoader build() {
            return new DataLoader(data, batchSize, shuffle, augment, dropLast, seed, imageSize);
        }
    }

    /** The dataset batches are drawn from. */
    public Dataset dataset() {
        return data;
    }

    /** Side of the images in the batches when they are resized, else the data's height. */
    public int imageSize() {
        return resize ? imageSize : data.height();
    }

    /** Examples per (full) batch. */
    public int batchSize() {
        return batchSize;
    }

    /** Batches in one epoch: {@code ceil(N / batchSize)}, or {@code floor} with {@code dropLast}. */
    public int batchesPerEpoch() {
        int n = data.size();
        return dropLast ? n / batchSize : (n + batchSize - 1) / batchSize;
    }

    /**
     * The order in which an epoch visits the dataset: a permutation of {@code 0..N-1} that depends
     * only on {@code (seed, epoch)}, or the identity without shuffling.
     */
    public int[] order(int epoch) {
        checkEpoch(epoch);
        int n = data.size();
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        if (shuffle) {
            SplittableRandom rnd = new SplittableRandom(epochSeed(epoch, SHUFFLE_SALT));
            for (int i = n - 1; i > 0; i--) {
                int j = rnd.nextInt(i + 1);
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
        }
        return order;
    }

    /** Iterates over the batches of an epoch, prefetched in the background. See {@link #epoch(int, int)}. */
    public Iterator<Batch> epoch(int epoch) {
        return epoch(epoch, 0);
    }

    /**
     * Iterates over the batches of an epoch from batch {@code firstBatch} on (to resume a run in the
     * middle of an epoch), prefetched by a new background thread. Any epoch still running is stopped
     * first, and its iterator then throws {@link IllegalStateException}.
     *
     * @throws IllegalStateException if this loader is closed
     */
    public synchronized Iterator<Batch> epoch(int epoch, int firstBatch) {
        checkEpoch(epoch);
        if (closed) {
            throw new IllegalStateException("data loader is closed");
        }
        if (firstBatch < 0 || firstBatch > batchesPerEpoch()) {
            throw new IllegalArgumentException("first batch " + firstBatch + " is outside 0.." + batchesPerEpoch());
        }
        if (current != null) {
            current.stop();
        }
        current = new Producer(epoch, firstBatch);
        current.thread.start();
        return current;
    }

    /**
     * Builds one batch synchronously, in the calling thread; it is identical to the one the
     * iterator of {@link #epoch(int)} yields at that index.
     */
    public Batch batch(int epoch, int index) {
        Objects.checkIndex(index, batchesPerEpoch());
        return makeBatch(order(epoch), epoch, index);
    }

    /** Stops the background thread, if any, and waits briefly for it to end. Idempotent. */
    @Override
    public synchronized void close() {
        closed = true;
        if (current != null) {
            current.stop();
            current = null;
        }
    }

    /** The current worker thread, or null; for tests. */
    synchronized Thread workerThread() {
        return current == null ? null : current.thread;
    }

    /** Sets a hook run in the worker thread before each batch (receives the batch index); for tests. */
    void setBeforeBatchHook(IntConsumer hook) {
        beforeBatch = hook;
    }

    private static void checkEpoch(int epoch) {
        if (epoch < 0) {
            throw new IllegalArgumentException("epoch must be >= 0, got " + epoch);
        }
    }

    /** SplitMix64's finaliser: a bijective mix with good avalanche, so nearby inputs give unrelated seeds. */
    private static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58_476D_1CE4_E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D0_49BB_1331_11EBL;
        return z ^ (z >>> 31);
    }

    private long epochSeed(int epoch, long salt) {
        return mix64(mix64(seed ^ salt) + (epoch + 1L) * GOLDEN);
    }

    private Batch makeBatch(int[] order, int epoch, int index) {
        int n = data.size();
        int start = index * batchSize;
        int size = Math.min(batchSize, n - start);
        int img = resize ? data.channels() * imageSize * imageSize : data.imageSize();
        float[] images = new float[size * img];
        int[] labels = new int[size];
        int[] indices = new int[size];
        long augmentSeed = augment ? epochSeed(epoch, AUGMENT_SALT) : 0;
        for (int j = 0; j < size; j++) {
            int k = start + j;
            int example = order[k];
            indices[j] = example;
            labels[j] = data.label(example);
            if (augment) {
                SplittableRandom rnd = new SplittableRandom(mix64(augmentSeed + (k + 1L) * GOLDEN));
                int top = rnd.nextInt(2 * CROP_PADDING + 1);
                int left = rnd.nextInt(2 * CROP_PADDING + 1);
                boolean flip = rnd.nextBoolean();
                if (resize) {
                    writeResized(augmentedPixels(example, top - CROP_PADDING, left - CROP_PADDING, flip), images, j * img);
                } else {
                    writeAugmented(example, images, j * img, top - CROP_PADDING, left - CROP_PADDING, flip);
                }
            } else if (resize) {
                int from = example * data.imageSize();
                writeResized(java.util.Arrays.copyOfRange(data.pixels(), from, from + data.imageSize()), images, j * img);
            } else {
                writeNormalised(example, images, j * img);
            }
        }
        return new Batch(images, labels, size, indices);
    }

    private void writeNormalised(int example, float[] dst, int off) {
        byte[] px = data.pixels();
        int plane = data.height() * data.width();
        int src = example * data.imageSize();
        for (int c = 0; c < data.channels(); c++) {
            float[] l = lut[c];
            int o = off + c * plane;
            int s = src + c * plane;
            for (int p = 0; p < plane; p++) {
                dst[o + p] = l[px[s + p] & 0xFF];
            }
        }
    }

    /**
     * Output pixel (y, x) = padded source pixel (y + dy, x' + dx) with x' = x, or W-1-x when
     * flipped; outside the source it is the normalised value of raw 0. dy and dx are in
     * [-CROP_PADDING, CROP_PADDING].
     */
    private void writeAugmented(int example, float[] dst, int off, int dy, int dx, boolean flip) {
        byte[] px = data.pixels();
        int h = data.height();
        int w = data.width();
        int plane = h * w;
        int src = example * data.imageSize();
        for (int c = 0; c < data.channels(); c++) {
            float[] l = lut[c];
            float pad = l[0];
            for (int y = 0; y < h; y++) {
                int o = off + c * plane + y * w;
                int sy = y + dy;
                if (sy < 0 || sy >= h) {
                    java.util.Arrays.fill(dst, o, o + w, pad);
                    continue;
                }
                int row = src + c * plane + sy * w;
                for (int x = 0; x < w; x++) {
                    int sx = (flip ? w - 1 - x : x) + dx;
                    dst[o + x] = sx < 0 || sx >= w ? pad : l[px[row + sx] & 0xFF];
                }
            }
        }
    }

    /** The raw pixels {@link #writeAugmented} would normalise: the crop of the zero-padded image, maybe mirrored. */
    private byte[] augmentedPixels(int example, int dy, int dx, boolean flip) {
        byte[] px = data.pixels();
        int h = data.height(), w = data.width(), plane = h * w, src = example * data.imageSize();
        byte[] out = new byte[data.imageSize()];
        for (int c = 0; c < data.channels(); c++) {
            for (int y = 0; y < h; y++) {
                int sy = y + dy;
                if (sy < 0 || sy >= h) {
                    continue;                                   // padding: raw 0
                }
                int row = src + c * plane + sy * w, o = c * plane + y * w;
                for (int x = 0; x < w; x++) {
                    int sx = (flip ? w - 1 - x : x) + dx;
                    if (sx >= 0 && sx < w) {
                        out[o + x] = px[row + sx];
                    }
                }
            }
        }
        return out;
    }

    /** Resizes one image's raw planes to {@code imageSize} (Pillow's bilinear) and normalises them into {@code dst}. */
    private void writeResized(byte[] raw, float[] dst, int off) {
        int h = data.height(), w = data.width(), plane = imageSize * imageSize;
        byte[] big = PillowBicubic.resize(raw, data.channels(), w, h, imageSize, imageSize, 0, 0, imageSize, imageSize,
                PillowBicubic.Filter.BILINEAR);
        for (int c = 0; c < data.channels(); c++) {
            float[] l = lut[c];
            int o = off + c * plane;
            for (int p = 0; p < plane; p++) {
                dst[o + p] = l[big[c * plane + p] & 0xFF];
            }
        }
    }

    /** What the worker thread failed with, queued for the consumer. */
    private record Failure(Throwable error, int batch) {}

    private static final Object END = new Object();

    /** One epoch: the worker thread and the consumer's iterator over its queue. */
    private final class Producer implements Iterator<Batch>, Runnable {
        private final int epoch;
        private final int firstBatch;
        private final BlockingQueue<Object> queue = new ArrayBlockingQueue<>(PREFETCH);
        private final Thread thread;
        private volatile boolean stopped;
        private Batch next;
        private boolean finished;

        Producer(int epoch, int firstBatch) {
            this.epoch = epoch;
            this.firstBatch = firstBatch;
            thread = new Thread(this, "vit4j-dataloader-" + THREAD_IDS.incrementAndGet() + "-" + data.name()
                    + "-epoch-" + epoch);
            thread.setDaemon(true);
        }

        @Override
        public void run() {
            int b = firstBatch;
            try {
                int[] order = order(epoch);
                int count = batchesPerEpoch();
                for (; b < count && !stopped; b++) {
                    IntConsumer hook = beforeBatch;
                    if (hook != null) {
                        hook.accept(b);
                    }
                    queue.put(makeBatch(order, epoch, b));
                }
                queue.put(END);
            } catch (InterruptedException e) {
                // stop() interrupts a worker blocked on a full queue: just end.
            } catch (Throwable t) {
                if (!stopped) {
                    try {
                        queue.put(new Failure(t, b));
                    } catch (InterruptedException e) {
                        // stopped while reporting: nobody is listening any more
                    }
                }
            }
        }

        void stop() {
            stopped = true;
            thread.interrupt();
            queue.clear();
            try {
                thread.join(5_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (thread.isAlive()) {
                LOG.warn("data loader thread {} did not stop within 5 s", thread.getName());
            }
        }

        @Override
        public boolean hasNext() {
            if (next != null) {
                return true;
            }
            if (finished) {
                return false;
            }
            Object item;
            try {
                // Poll, not take: if the epoch is stopped while we wait, no item will ever come.
                do {
                    if (stopped) {
                        throw new IllegalStateException("epoch " + epoch + " of the data loader was stopped (the "
                                + "loader was closed or another epoch was started)");
                    }
                    item = queue.poll(100, TimeUnit.MILLISECONDS);
                } while (item == null);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for the next batch", e);
            }
            if (item == END) {
                finished = true;
                return false;
            }
            if (item instanceof Failure f) {
                finished = true;
                if (f.error() instanceof Error err) {
                    throw err;
                }
                throw new DataLoaderException("data loader thread failed preparing batch " + f.batch() + " of epoch "
                        + epoch + ": " + f.error(), f.error());
            }
            next = (Batch) item;
            return true;
        }

        @Override
        public Batch next() {
            if (!hasNext()) {
                throw new NoSuchElementException("epoch " + epoch + " has no more batches");
            }
            Batch b = next;
            next = null;
            return b;
        }
    }

    /** A failure of the background thread, rethrown in the consumer; the cause is the original exception. */
    public static final class DataLoaderException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        DataLoaderException(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
