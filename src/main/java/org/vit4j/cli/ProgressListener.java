package org.vit4j.cli;

import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.vit4j.train.TrainingListener;

import java.io.PrintStream;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * Progress through each epoch's batches: a bar with the running training loss on a terminal,
 * else ({@link Lines}) a plain line now and then, so that a log shows the run is alive.
 */
abstract class ProgressListener implements TrainingListener, AutoCloseable {
    /** How often {@link Lines} prints at most, unless a tenth of the epoch passes sooner. */
    static final long LINE_INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(10);

    /**
     * The bar when {@code wanted} (or, when null, when standard output is a terminal); plain lines on
     * standard output when null and it is not one; nothing ({@code null}) when not {@code wanted}.
     */
    static ProgressListener create(Boolean wanted, int totalEpochs, int batchSize, int trainImages) {
        if (Boolean.FALSE.equals(wanted)) {
            return null;
        }
        if (wanted != null || System.console() != null) {
            return new Bar();
        }
        return new Lines(System.out, totalEpochs, batchSize, trainImages, LINE_INTERVAL_NANOS, System::nanoTime);
    }

    /** Ends a bar left open by a failed epoch. */
    @Override
    public void close() {
    }

    /** A progress bar over the epoch's batches. */
    static final class Bar extends ProgressListener {
        private ProgressBar bar;
        private double lossSum;
        private int batches;

        @Override
        public void onEpochStart(int epoch, int batchesInEpoch) {
            lossSum = 0;
            batches = 0;
            bar = new ProgressBarBuilder().setTaskName("epoch " + epoch).setInitialMax(batchesInEpoch)
                    .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(250).continuousUpdate().build();
        }

        @Override
        public void onBatchEnd(int epoch, int batch, double loss) {
            lossSum += loss;
            batches++;
            bar.step();
            bar.setExtraMessage(String.format(Locale.ROOT, "loss %.4f", lossSum / batches));
        }

        @Override
        public void onTrainEnd(int epoch) {
            close();
        }

        @Override
        public void close() {
            if (bar != null) {
                bar.close();
                bar = null;
            }
        }
    }

    /**
     * A line per {@code interval} or per tenth of the epoch, whichever comes first:
     * {@code epoch 1/25  step 120/600  20%  1534 img/s  loss 0.4123  ETA 0:31}, with the
     * epoch's throughput and mean loss so far and the time left of its training.
     */
    static final class Lines extends ProgressListener {
        private final PrintStream out;
        private final int totalEpochs;
        private final int batchSize;
        private final int trainImages;
        private final long intervalNanos;
        private final LongSupplier clock;
        private int steps;
        private long start;
        private long lastLine;
        private int nextPercent;
        private long images;
        private double lossSum;

        /** {@code clock} gives nanoseconds (as {@link System#nanoTime}); a test's can step at will. */
        Lines(PrintStream out, int totalEpochs, int batchSize, int trainImages, long intervalNanos, LongSupplier clock) {
            this.out = out;
            this.totalEpochs = totalEpochs;
            this.batchSize = batchSize;
            this.trainImages = trainImages;
            this.intervalNanos = intervalNanos;
            this.clock = clock;
        }

        @Override
        public void onEpochStart(int epoch, int batches) {
            steps = batches;
            start = clock.getAsLong();
            lastLine = start;
            nextPercent = 10;
            images = 0;
            lossSum = 0;
        }

        @Override
        public void onBatchEnd(int epoch, int batch, double loss) {
            int done = batch + 1;
            // Every batch is full but the epoch's last.
            long seen = Math.min((long) done * batchSize, trainImages);
            lossSum += loss * (seen - images);
            images = seen;
            long now = clock.getAsLong();
            int percent = (int) (100L * done / Math.max(1, steps));
            if (now - lastLine < intervalNanos && percent < nextPercent) {
                return;
            }
            lastLine = now;
            nextPercent = (percent / 10 + 1) * 10;
            double seconds = (now - start) / 1e9;
            double perImage = seconds / Math.max(1, images);
            out.printf(Locale.ROOT, "epoch %d/%d  step %d/%d  %d%%  %.0f img/s  loss %.4f  ETA %s%n", epoch, totalEpochs,
                    done, steps, percent, seconds > 0 ? images / seconds : 0.0, lossSum / Math.max(1, images),
                    duration(Math.round(perImage * (trainImages - images))));
            out.flush();
        }

        /** {@code m:ss}, or {@code h:mm:ss} from an hour. */
        static String duration(long seconds) {
            long h = seconds / 3600, m = seconds / 60 % 60, s = seconds % 60;
            return h > 0 ? String.format(Locale.ROOT, "%d:%02d:%02d", h, m, s) : String.format(Locale.ROOT, "%d:%02d", m, s);
        }
    }
}
