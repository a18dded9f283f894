package org.vit4j.cli;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.vit4j.backend.Backend;
import org.vit4j.backend.Backends;
import org.vit4j.data.DataLoader;
import org.vit4j.data.Dataset;
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
        WeightsFile file = WeightsFile.read(checkpoint, heads);
        Checkpoint ckpt = file.checkpoint();
        ViTConfig c = file.config();
        Outputs.requireDistinct(saveLogits, "--save-logits", checkpoint, "--checkpoint");
        if (saveLogits != null) {
            Outputs.requireReplaceable(saveLogits, "--save-logits");
        }
        // The data set the checkpoint's run trained on, unless another is named.
        String name = data.dataset != null ? data.dataset : ckpt != null ? recordedDataset(ckpt) : "mnist";
        Dataset test = data.load(name, train);
        if (file.normalization() != null && file.normalization().channels() == test.channels()) {
            test = test.withNormalization(file.normalization());          // as the model was trained (checkpoint or export)
        }
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

    /** The data set a checkpoint's training options name, or mnist (the default preset's) without them. */
    private static String recordedDataset(Checkpoint ckpt) {
        try {
            String d = ckpt.training() == null ? null
                    : new com.fasterxml.jackson.databind.ObjectMapper().readTree(ckpt.training()).path("dataset").asText(null);
            return d != null ? d : "mnist";
        } catch (java.io.IOException e) {
            return "mnist";
        }
    }
}
