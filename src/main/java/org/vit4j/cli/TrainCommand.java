package org.vit4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.vit4j.backend.Backend;
import org.vit4j.backend.Backends;
import org.vit4j.data.DataLoader;
import org.vit4j.data.Dataset;
import org.vit4j.io.SafeTensors;
import org.vit4j.nn.Pretrained;
import org.vit4j.nn.ViTConfig;
import org.vit4j.nn.VisionTransformer;
import org.vit4j.optim.AdamW;
import org.vit4j.optim.LearningRateSchedule;
import org.vit4j.train.Checkpoint;
import org.vit4j.train.Distillation;
import org.vit4j.train.EpochResult;
import org.vit4j.train.MetricsFile;
import org.vit4j.train.Presets;
import org.vit4j.train.Trainer;
import org.vit4j.train.TrainingListener;
import org.vit4j.train.WeightsFile;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code vit4j train}: trains a ViT, evaluating after every epoch. */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Train a Vision Transformer. Defaults come from the --model preset (mnist-tutorial).")
final class TrainCommand implements Callable<Integer> {
    private static final Logger LOG = LoggerFactory.getLogger(TrainCommand.class);

    @Mixin
    DataOptions data;

    @Option(names = "--model", paramLabel = "PRESET", defaultValue = "mnist-tutorial",
            description = "Model and recipe preset (default: ${DEFAULT-VALUE}); the options below override its fields.")
    String preset;

    @Option(names = "--patch-size", description = "Patch side in pixels.")
    Integer patchSize;
    @Option(names = "--dim", description = "Token width.")
    Integer dim;
    @Option(names = "--depth", description = "Transformer blocks.")
    Integer depth;
    @Option(names = "--heads", description = "Attention heads (must divide --dim).")
    Integer heads;
    @Option(names = "--mlp-dim", description = "MLP hidden width.")
    Integer mlpDim;
    @Option(names = "--dropout", description = "Dropout probability (attention projection and MLP).")
    Float dropout;
    @Option(names = "--emb-dropout", description = "Dropout after the position embedding (default: the preset's; "
            + "for timm presets --dropout).")
    Float embDropout;
    @Option(names = "--arch", description = "timm, vit-pytorch or tutorial-2020 (default: the preset's).")
    String arch;
    @Option(names = "--dim-head", description = "Attention head width, vit-pytorch only (default: 64, its own); "
            + "other architectures use dim / heads.")
    Integer dimHead;
    @Option(names = "--image-size", paramLabel = "N", description = "Resize the images to N x N for training and "
            + "evaluation, bilinear as torchvision's Resize (default: the preset's, else the data's own size).")
    Integer imageSize;
    @Option(names = "--pool", description = "cls or mean.")
    String pool;
    @Option(names = "--head", description = "mlp (Linear-GELU-Linear) or linear (LayerNorm-Linear).")
    String head;

    @Option(names = "--epochs", description = "Training epochs.")
    Integer epochs;
    @Option(names = "--batch-size", description = "Training batch size.")
    Integer batchSize;
    @Option(names = "--lr", description = "Peak learning rate.")
    Float lr;
    @Option(names = "--weight-decay", description = "AdamW weight decay on weight matrices (0 = Adam).")
    Float weightDecay;
    @Option(names = "--warmup", description = "Linear warmup epochs.")
    Integer warmup;
    @Option(names = "--schedule", description = "constant or cosine (after warmup).")
    String schedule;
    @Option(names = "--label-smoothing", description = "Label smoothing of the training loss (default: the preset's).")
    Float labelSmoothing;
    @Option(names = "--clip-grad", defaultValue = "0", paramLabel = "NORM", description = "Clip gradients to this global L2 norm; 0 = off (default).")
    double clipGrad;
    @Option(names = "--augment", negatable = true, description = "Random crop (4 px padding) and horizontal flip; on by default for colour data.")
    Boolean augment;

    @Option(names = "--device", defaultValue = "auto", description = "auto, cpu or cuda (default: ${DEFAULT-VALUE}).")
    String device;
    @Option(names = "--seed", defaultValue = "0", description = "Seed for initialisation, data order, augmentation and dropout.")
    long seed;
    @Option(names = "--metrics", paramLabel = "FILE.jsonl", description = "Append one JSON record per epoch to this file.")
    Path metrics;
    @Option(names = "--checkpoint", paramLabel = "FILE", description = "Write a checkpoint (safetensors) after every epoch.")
    Path checkpoint;
    @Option(names = "--resume", paramLabel = "FILE", description = "Continue the run saved in this checkpoint.")
    Path resume;
    @Option(names = "--init", paramLabel = "FILE",
            description = "Start from pretrained weights: a vit4j checkpoint, or a timm or vit-pytorch ViT in safetensors. The file "
                    + "gives the model's shape; the head is replaced when the class count differs, and the position "
                    + "embedding resampled when the image size does.")
    Path init;
    @Option(names = "--reset-head", description = "With --init: start the head afresh even when the class count "
            + "matches (new classes).")
    boolean resetHead;
    @Option(names = "--freeze-blocks", paramLabel = "N", defaultValue = "0",
            description = "Fine-tune only the top: freeze the patch and position embeddings, the class token and the "
                    + "first N blocks (default: ${DEFAULT-VALUE}, nothing frozen).")
    int freezeBlocks;

    @Option(names = "--distilled", description = "Give a new model DeiT's distillation token and head (needs "
            + "--pool cls --head linear).")
    boolean distilled;
    @Option(names = "--teacher", paramLabel = "FILE", description = "DeiT hard distillation from this teacher: a vit4j "
            + "checkpoint or a timm file, run on every training batch. Implies --distilled.")
    Path teacher;
    @Option(names = "--teacher-logits", paramLabel = "FILE", description = "DeiT hard distillation from the teacher's "
            + "logits for every training image, in data-set order (vit4j eval --split train --save-logits). "
            + "Implies --distilled.")
    Path teacherLogits;
    @Option(names = "--distill-alpha", defaultValue = "0.5", description = "Weight of the distillation loss "
            + "(default: ${DEFAULT-VALUE}, as in DeiT).")
    float distillAlpha;
    @Option(names = "--progress", negatable = true, description = "Progress bar (default: on when the output is a terminal).")
    Boolean progress;

    @Override
    public Integer call() throws Exception {
        Presets.Preset p = Presets.get(preset);
        String datasetName = data.dataset != null ? data.dataset : p.dataset();
        Dataset trainSet = normalized(data.load(datasetName, true), p);
        Dataset testSet = normalized(data.load(datasetName, false), p);
        if (trainSet.height() != trainSet.width()) {
            throw new IllegalArgumentException("images are " + trainSet.height() + "x" + trainSet.width()
                    + "; vit4j's ViT takes square images");
        }
        int size = imageSize != null ? imageSize : p.imageSize() > 0 ? p.imageSize() : trainSet.height();
        if (size < 1) {
            throw new IllegalArgumentException("--image-size must be positive, got " + size);
        }
        Map<String, SafeTensors.Entry> pretrained = null;
        ViTConfig config;
        if (init != null) {
            if (resume != null) {
                throw new IllegalArgumentException("--init and --resume exclude each other: --resume continues a run, "
                        + "--init starts a new one from pretrained weights");
            }
            WeightsFile file = WeightsFile.read(init, heads);
            ViTConfig base = file.config();
            pretrained = file.tensors();
            requireSame("--patch-size", patchSize, base.patchSize());
            requireSame("--dim", dim, base.dim());
            requireSame("--depth", depth, base.depth());
            requireSame("--heads", heads, base.heads());
            requireSame("--mlp-dim", mlpDim, base.mlpDim());
            requireSame("--pool", pool == null ? null : ViTConfig.Pool.parse(pool), base.pool());
            requireSame("--head", head == null ? null : ViTConfig.Head.parse(head), base.head());
            requireSame("--arch", arch == null ? null : ViTConfig.Arch.parse(arch), base.arch());
            requireSame("--dim-head", dimHead, base.dimHead());
            if (distillation() && !base.distilled()) {
                throw new IllegalArgumentException("distillation needs a student with a distillation token; " + init
                        + " holds a model without one (start from a distilled model such as deit_*_distilled, or "
                        + "train a new one without --init)");
            }
            float drop = or(dropout, p.dropout());
            // timm's one drop rate covers the embedding; vit-pytorch's emb_dropout is its own, 0 by default
            float emb = or(embDropout, base.arch() == ViTConfig.Arch.TIMM ? drop : 0f);
            config = base.withInput(size, trainSet.channels()).withNumClasses(trainSet.numClasses())
                    .withDropout(drop, emb);
        } else {
            ViTConfig.Arch a = ViTConfig.Arch.parse(or(arch, p.arch()));
            int d = or(dim, p.dim()), h = or(heads, p.heads());
            float drop = or(dropout, p.dropout());
            config = new ViTConfig(size, or(patchSize, p.patchSize()), trainSet.channels(),
                    trainSet.numClasses(), d, or(depth, p.depth()), h, or(mlpDim, p.mlpDim()), drop,
                    ViTConfig.Pool.parse(or(pool, p.pool())), ViTConfig.Head.parse(or(head, p.head())),
                    distilled || distillation(), a, dimHead != null ? dimHead : p.dimHead(d, h, a),
                    or(embDropout, p.embDropout() != null ? p.embDropout() : drop));
        }
        if (teacher != null && teacherLogits != null) {
            throw new IllegalArgumentException("--teacher and --teacher-logits exclude each other: give one teacher");
        }
        if (freezeBlocks < 0 || freezeBlocks > config.depth()) {
            throw new IllegalArgumentException("--freeze-blocks must be between 0 and the model's depth "
                    + config.depth() + ", got " + freezeBlocks);
        }
        int totalEpochs = or(epochs, p.epochs());
        int batch = or(batchSize, p.batchSize());
        float peakLr = or(lr, p.lr());
        float wd = or(weightDecay, p.weightDecay());
        int warmupEpochs = or(warmup, p.warmup());
        String sched = or(schedule, p.schedule()).toLowerCase(Locale.ROOT);
        float smoothing = or(labelSmoothing, p.labelSmoothing());
        if (batch < 1) {
            throw new IllegalArgumentException("--batch-size must be positive, got " + batch);
        }
        if (totalEpochs < 1) {
            throw new IllegalArgumentException("--epochs must be positive, got " + totalEpochs);
        }
        if (!(peakLr > 0)) {
            throw new IllegalArgumentException("--lr must be positive, got " + peakLr);
        }
        if (!(wd >= 0)) {
            throw new IllegalArgumentException("--weight-decay must be >= 0, got " + wd);
        }
        if (warmupEpochs < 0 || warmupEpochs > totalEpochs) {
            throw new IllegalArgumentException("--warmup must be between 0 and --epochs (" + totalEpochs + "), got "
                    + warmupEpochs);
        }
        if (checkpoint != null && java.nio.file.Files.isDirectory(checkpoint)) {
            throw new IllegalArgumentException("--checkpoint " + checkpoint + " is a directory; give a file name");
        }
        boolean augmentOn = augment != null ? augment : p.augment() != null ? p.augment() : trainSet.channels() == 3;
        if (size != trainSet.height()) {
            LOG.info("resizing the {}x{} images to {}x{} for training and evaluation (bilinear, as torchvision's Resize)",
                    trainSet.height(), trainSet.width(), size, size);
        }

        Map<String, Object> training = new LinkedHashMap<>();
        training.put("dataset", datasetName);
        training.put("epochs", totalEpochs);
        training.put("batchSize", batch);
        training.put("lr", peakLr);
        training.put("weightDecay", wd);
        training.put("warmup", warmupEpochs);
        training.put("schedule", sched);
        training.put("labelSmoothing", smoothing);
        training.put("clipGrad", clipGrad);
        training.put("augment", augmentOn);
        if (size != trainSet.height()) {
            training.put("resize", size);
        }
        training.put("seed", seed);
        training.put("freezeBlocks", freezeBlocks);
        if (distillation()) {
            training.put("teacher", String.valueOf(teacher != null ? teacher : teacherLogits));
            training.put("distillAlpha", distillAlpha);
        }
        String trainingJson = new ObjectMapper().writeValueAsString(training);

        try (Backend backend = Backends.create(device);
             DataLoader trainLoader = new DataLoader(trainSet, batch, true, augmentOn, false, seed, size);
             DataLoader testLoader = new DataLoader(testSet, batch, false, false, false, seed, size);
             VisionTransformer model = VisionTransformer.create(backend, config, seed);
             VisionTransformer teacherModel = teacher == null ? null : loadTeacher(backend, config);
             AdamW optimizer = AdamW.withDefaults(backend, freeze(model), wd)) {
            int startEpoch = 0;
            if (pretrained != null) {
                List<String> replaced = Pretrained.load(model, pretrained, init, true, resetHead);
                LOG.info("initialised from {}{}", init, replaced.isEmpty() ? ""
                        : "; new head for " + config.numClasses() + " classes (" + String.join(", ", replaced) + ")");
            }
            if (resume != null) {
                Checkpoint ckpt = Checkpoint.load(resume);
                ckpt.loadInto(model, resume);
                ckpt.loadInto(optimizer, model, resume);
                startEpoch = ckpt.epoch();
                if (startEpoch >= totalEpochs) {
                    throw new IllegalArgumentException(resume + " already holds " + startEpoch
                            + " epochs; nothing to train with --epochs " + totalEpochs + " (raise --epochs to continue)");
                }
                LOG.info("resumed from {} after epoch {} (step {})", resume, ckpt.epoch(), ckpt.step());
            }
            long stepsPerEpoch = trainLoader.batchesPerEpoch();
            LearningRateSchedule lrs = switch (sched) {
                case "constant" -> LearningRateSchedule.warmupConstant(peakLr, warmupEpochs * stepsPerEpoch);
                case "cosine" -> LearningRateSchedule.warmupCosine(peakLr, warmupEpochs * stepsPerEpoch,
                        Math.max(1, totalEpochs * stepsPerEpoch), 0f);
                default -> throw new IllegalArgumentException("--schedule must be constant or cosine, got " + sched);
            };
            LOG.info("{} on {}: {} train / {} test images, {} classes; model {} ({} parameters); backend {}",
                    preset, datasetName, trainSet.size(), testSet.size(), trainSet.numClasses(), config,
                    model.parameterCount(), backend.description());
            try (Trainer trainer = new Trainer(backend, model, optimizer, lrs, batch,
                    new Trainer.Settings(totalEpochs, smoothing, clipGrad, seed));
                 MetricsFile metricsFile = metrics == null ? null : new MetricsFile(metrics, resume != null);
                 ProgressListener bar = ProgressListener.create(progress)) {
                if (distillation()) {
                    Distillation.Teacher t = teacherModel != null
                            ? Distillation.modelTeacher(teacherModel, config.numClasses())
                            : Distillation.logitsTeacher(teacherLogits, trainSet.size(), config.numClasses());
                    trainer.distillFrom(new Distillation(backend, t, distillAlpha, batch, config.numClasses()));
                    LOG.info("distilling from {} (alpha {})", teacher != null ? teacher : teacherLogits, distillAlpha);
                }
                if (bar != null) {
                    trainer.addListener(bar);
                }
                trainer.addListener(new EpochPrinter(totalEpochs));
                if (metricsFile != null) {
                    trainer.addListener(metricsFile);
                }
                if (checkpoint != null) {
                    trainer.addListener(new TrainingListener() {
                        @Override
                        public void onEpochEnd(EpochResult r) {
                            try {
                                Checkpoint.save(checkpoint, model, optimizer, r.epoch(), trainingJson,
                                        trainSet.classes(), trainSet.normalization());
                            } catch (IOException e) {
                                throw new UncheckedIOException("cannot write checkpoint " + checkpoint + ": " + e.getMessage(), e);
                            }
                        }
                    });
                }
                List<EpochResult> results = trainer.fit(trainLoader, testLoader, startEpoch);
                if (!results.isEmpty()) {
                    EpochResult last = results.get(results.size() - 1);
                    System.out.printf(Locale.ROOT, "final test accuracy %.2f%% after %d epochs%n",
                            100 * last.testAccuracy(), last.epoch());
                }
            }
        }
        return 0;
    }

    /** The data with the recipe's normalisation when it has one for that many channels (its Normalize(...)). */
    private static Dataset normalized(Dataset d, Presets.Preset p) {
        return p.normalization() != null && p.normalization().channels() == d.channels()
                ? d.withNormalization(p.normalization()) : d;
    }

    private boolean distillation() {
        return teacher != null || teacherLogits != null;
    }

    /** Freezes what --freeze-blocks asks for; returns the parameters left to train. */
    private Map<String, org.vit4j.nn.Parameter> freeze(VisionTransformer model) {
        model.freeze(freezeBlocks);
        if (freezeBlocks > 0) {
            LOG.info("froze the embeddings and the first {} of {} blocks", freezeBlocks, model.config().depth());
        }
        return model.trainableParameters();
    }

    /** The --teacher model: a weights file ({@link WeightsFile}), which must take the student's images and classes. */
    private VisionTransformer loadTeacher(Backend backend, ViTConfig student) throws IOException {
        VisionTransformer t = WeightsFile.read(teacher, null).newModel(backend, teacher);
        ViTConfig c = t.config();
        if (c.channels() != student.channels() || c.imageSize() != student.imageSize()
                || c.numClasses() != student.numClasses()) {
            t.close();
            throw new IllegalArgumentException("teacher " + teacher + " takes " + c.channels() + "x" + c.imageSize() + "x"
                    + c.imageSize() + " images and predicts " + c.numClasses() + " classes; the student's data has "
                    + student.channels() + "x" + student.imageSize() + "x" + student.imageSize() + " and "
                    + student.numClasses());
        }
        return t;
    }

    /** With --init the file defines the model's shape: an option may repeat it, not change it. */
    private void requireSame(String option, Object given, Object fromFile) {
        if (given != null && !given.equals(fromFile)) {
            throw new IllegalArgumentException(option + " " + given + " conflicts with " + init + ", whose model has "
                    + fromFile);
        }
    }

    private static <T> T or(T value, T fallback) {
        return value != null ? value : fallback;
    }

    /** One line per epoch on standard output. */
    private static final class EpochPrinter implements TrainingListener {
        private final int totalEpochs;

        EpochPrinter(int totalEpochs) {
            this.totalEpochs = totalEpochs;
        }

        @Override
        public void onEpochEnd(EpochResult r) {
            System.out.printf(Locale.ROOT,
                    "epoch %d/%d  train loss %.4f  test loss %.4f  test acc %.2f%%  %.0f img/s  %.1f s  lr %.2e%n",
                    r.epoch(), totalEpochs, r.trainLoss(), r.testLoss(), 100 * r.testAccuracy(),
                    r.imagesPerSecond(), r.seconds(), r.learningRate());
            System.out.flush();
        }
    }
}
