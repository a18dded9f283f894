package org.vit4j.cli;

import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.vit4j.train.TrainingListener;

import java.util.Locale;

/** A progress bar over each epoch's batches, showing the running training loss. */
final class ProgressListener implements TrainingListener, AutoCloseable {
    private ProgressBar bar;
    private double lossSum;
    private int batches;

    /** A listener when {@code wanted} (or, when null, when standard output is a terminal), else null. */
    static ProgressListener create(Boolean wanted) {
        boolean on = wanted != null ? wanted : System.console() != null;
        return on ? new ProgressListener() : null;
    }

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
