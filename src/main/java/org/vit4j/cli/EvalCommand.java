package org.vit4j.cli;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.vit4j.backend.Backend;
import org.vit4j.backend.Backends;
import org.vit4j.data.DataLoader;
import org.vit4j.data.Dataset;
import org.vit4j.data.Normalization;
import org.vit4j.nn.ViTConfig;
import org.vit4j.nn.VisionTransformer;
import org.vit4j.train.Checkpoint;
import org.vit4j.train.Distillation;
import org.vit4j.train.Evaluation;
import org.vit4j.train.Evaluator;
import org.vit4j.train.WeightsFile;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code vit4j eval}: test loss and accuracy of a checkpoint or a timm or vit-pytorch weights file. */
@Command(name = "eval", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Evaluate a model on a data set's test (or training) split: a vit4j checkpoint, or a timm or "
                + "vit-pytorch ViT in safetensors (its shape inferred from the tensors).")
final class EvalCommand implements Callable<Integer> {
    private static final Logger LOG = LoggerFactory.getLogger(EvalCommand.class);

    @Option(names = {"--checkpoint", "--weights"}, required = true, paramLabel = "FILE",
            description = "Checkpoint written by vit4j train, or a timm or vit-pytorch safetensors file.")
    Path checkpoint;

    @Mixin
    DataOptions data;

    @Option(names = "--batch-size", defaultValue = "500", description = "Evaluation batch size (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--device", defaultValue = "auto", description = "auto, cpu or cuda (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--split", defaultValue = "test", description = "test or train (default: ${DEFAULT-VALUE}).")
    String split;

    @Option(names = "--heads", paramLabel = "N", description = "Attention heads of a timm or vit-pytorch model whose "
            + "heads are not 64 wide.")
    Integer heads;

    @Option(names = "--save-logits", paramLabel = "FILE", description = "Also write the model's logits for every image "
            + "of the split, in data-set order: with --split train, a teacher for vit4j train --teacher-logits.")
    Path saveLogits;

    @Override
    public Integer call() throws Exception {
        if (batchSize < 1) {
            throw new IllegalArgumentException("--batch-size must be positive, got " + batchSize);
        }
        boolean train = switch (split.toLowerCase(Locale.ROOT)) {
            case "test" -> false;
            case "train" -> true;
            default -> throw new IllegalArgumentException("--split must be test or train, got " + split);
        };
        data.requireSource();
        WeightsFile file = WeightsFile.read(checkpoint, heads);
        Checkpoint ckpt = file.checkpoint();
        ViTConfig c = file.config();
        Outputs.requireDistinct(saveLogits, "--save-logits", checkpoint, "--checkpoint");
        if (saveLogits != null) {
            Outputs.requireReplaceable(saveLogits, "--save-logits");
        }
        Dataset test = evaluationData(file, train);
        String name = test.name();
        if (test.channels() != c.channels() || test.numClasses() != c.numClasses() || test.height() != test.width()) {
            throw new IllegalArgumentException(name + " images are " + test.channels() + "x" + test.height() + "x"
                    + test.width() + " with " + test.numClasses() + " classes, but the model in " + checkpoint + " takes "
                    + c.channels() + "x" + c.imageSize() + "x" + c.imageSize() + " with " + c.numClasses() + " classes");
        }
        if (test.height() != c.imageSize()) {
            LOG.info("resizing the {}x{} images to the model's {}x{} (bilinear, as torchvision's Resize)", test.height(),
                    test.width(), c.imageSize(), c.imageSize());
        }
        int batch = Math.min(batchSize, test.size());
        Sizes.requireBatchFits(c, batch, "--batch-size");
        try (Backend backend = Backends.create(device);
             VisionTransformer model = file.newModel(backend, checkpoint);
             DataLoader loader = DataLoader.builder(test).batchSize(batch).imageSize(c.imageSize()).build();
             Evaluator evaluator = new Evaluator(backend, model)) {
            Evaluation e = evaluator.evaluate(loader);
            if (saveLogits != null) {
                Distillation.writeTeacherLogits(model, loader, saveLogits);
            }
            System.out.printf(Locale.ROOT, "%s " + split.toLowerCase(Locale.ROOT) + ": loss %.4f  accuracy %.2f%%  (%d images, %s)%n",
                    name, e.loss(), 100 * e.accuracy(), e.examples(),
                    ckpt != null ? "checkpoint after epoch " + ckpt.epoch() : file.kind().toString());
        }
        return 0;
    }

    /**
     * The split to evaluate on: of the data set named by --dataset, else of the one the checkpoint's
     * run trained on (mnist for weights files, which record none), normalised as the model was
     * trained when the file (a checkpoint or an export) recorded how.
     */
    Dataset evaluationData(WeightsFile file, boolean train) throws java.io.IOException {
        Checkpoint ckpt = file.checkpoint();
        String name = data.dataset;
        if (name == null) {
            name = ckpt != null ? recordedDataset(ckpt) : null;
            if (name == null) {
                name = "mnist";
                LOG.info("{} records no data set; evaluating on mnist (--dataset to choose another)", checkpoint);
            } else if (name.equals(org.vit4j.data.ImageFolder.NAME) && data.dataDir == null) {
                throw new IllegalArgumentException(checkpoint + " was trained on an image folder; give that folder "
                        + "with --data-dir DIR (DIR/test/<class>/<images>)");
            } else {
                LOG.info("evaluating on {}, the data set {} was trained on", name, checkpoint);
            }
        }
        Normalization recorded = file.normalization();              // a checkpoint's or an export's
        // The recorded statistics also spare an image folder decoding its training split for them.
        Dataset d = data.load(name, train, recorded);
        if (recorded != null && recorded.channels() == d.channels()) {
            if (!recorded.equals(d.normalization())) {
                LOG.info("normalising with the mean {} and std {} recorded in {}, as the model was trained",
                        java.util.Arrays.toString(recorded.mean()), java.util.Arrays.toString(recorded.std()), checkpoint);
            }
            d = d.withNormalization(recorded);
        }
        return d;
    }

    /** The data set a checkpoint's training options name, or null when they name none. */
    private String recordedDataset(Checkpoint ckpt) throws java.io.IOException {
        if (ckpt.training() == null) {
            return null;
        }
        com.fasterxml.jackson.databind.JsonNode options;
        try {
            options = new com.fasterxml.jackson.databind.ObjectMapper().readTree(ckpt.training());
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new java.io.IOException(checkpoint + ": checkpoint has unreadable training options ("
                    + e.getOriginalMessage() + "); name the data set with --dataset", e);
        }
        String d = options == null ? null : options.path("dataset").asText(null);
        return d == null || d.isBlank() ? null : d.trim().toLowerCase(Locale.ROOT);
    }
}
