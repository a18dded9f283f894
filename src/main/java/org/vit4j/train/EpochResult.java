package org.vit4j.train;

/**
 * What one epoch achieved.
 *
 * @param epoch           epochs completed so far, counting from 1
 * @param trainLoss       mean training loss over the epoch's examples
 * @param testLoss        mean cross-entropy on the evaluation set (no label smoothing)
 * @param testAccuracy    fraction of the evaluation set classified correctly
 * @param imagesPerSecond training throughput (forward, backward and optimizer; evaluation excluded)
 * @param seconds         wall-clock seconds of training in this epoch
 * @param learningRate    learning rate of the epoch's last step
 * @param trainAccuracy   fraction of the epoch's training examples whose logits' argmax was their label, taken
 *                        from each step's own forward (in training mode, on augmented images; the class head's
 *                        logits when distilling); NaN where not measured
 */
public record EpochResult(int epoch, double trainLoss, double testLoss, double testAccuracy,
                          double imagesPerSecond, double seconds, double learningRate, double trainAccuracy) {

    /** A result without the training accuracy. */
    public EpochResult(int epoch, double trainLoss, double testLoss, double testAccuracy, double imagesPerSecond,
                       double seconds, double learningRate) {
        this(epoch, trainLoss, testLoss, testAccuracy, imagesPerSecond, seconds, learningRate, Double.NaN);
    }
}
