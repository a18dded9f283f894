package org.vit4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.vit4j.backend.Backend;
import org.vit4j.backend.Backends;
import org.vit4j.data.DataLoader;
import org.vit4j.data.Dataset;
import org.vit4j.data.DatasetSource;
import org.vit4j.io.IoErrors;
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
import org.vit4j.train.Recipe;
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
        modelTransformer = PresetsCommand.TrainHelpFooter.class,
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
    @Option(names = "--clip-grad", paramLabel = "NORM", description = "Clip gradients to this global L2 norm; 0 = off (default).")
    Double clipGrad;
    @Option(names = "--augment", negatable = true, description = "Random crop (4 px padding) and horizontal flip; on by default for colour data.")
    Boolean augment;

    @Option(names = "--device", defaultValue = "auto", description = "auto, cpu or cuda (default: ${DEFAULT-VALUE}).")
    String device;
    @Option(names = "--seed", description = "Seed for initialisation, data order, augmentation and dropout (default: 0).")
    Long seed;
    @Option(names = "--metrics", paramLabel = "FILE.jsonl", description = "Write one JSON record per epoch to this "
            + "file (a resumed run keeps the records up to its checkpoint's epoch and appends).")
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
    @Option(names = "--freeze-blocks", paramLabel = "N",
            description = "Fine-tune only the top: freeze the patch and position embeddings, the class token and the "
                    + "first N blocks (default: 0, nothing frozen).")
    Integer freezeBlocks;

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
    @Option(names = "--distill-alpha", description = "Weight of the distillation loss (default: 0.5, as in DeiT).")
    Float distillAlpha;
    @Option(names = "--progress", negatable = true, description = "Progress bar (default: on a terminal; elsewhere "
            + "a progress line every 10 s or tenth of an epoch; --no-progress: neither).")
    Boolean progress;

    @Override
    public Integer call() throws Exception {
        // The phases run in this order so that every mistake in the options is named before any
        // data is read, and everything that can be known is checked before the first step.
        Presets.Preset p = Presets.get(preset);
        requireOptions();
        data.requireSource();
        Inputs inputs = readInputs();
        ResolvedOptions options = resolveRecipe(p, inputs);
        // The model's options on a stand-in of the input (its image size where already known).
        modelConfig(p, inputs, options, standInShape(p, inputs, options));
        TrainingData d = loadData(p, inputs, options);
        ViTConfig config = modelConfig(p, inputs, options, d.shape());
        Plan plan = plan(options, d, config);
        train(inputs, options, d, config, plan);
        return 0;
    }

    /** The run to continue and the weights to start from, read; the files to write, checked. */
    private record Inputs(Checkpoint resumed, JsonNode recorded, WeightsFile initFile) {
    }

    private Inputs readInputs() throws IOException {
        Checkpoint resumed = resume == null ? null : Checkpoint.load(resume);
        JsonNode recorded = resumed == null ? null : recordedRecipe(resumed);
        WeightsFile initFile = init == null ? null : WeightsFile.read(init, heads);
        if (teacherLogits != null && !java.nio.file.Files.isRegularFile(teacherLogits)) {
            throw new IOException(teacherLogits + ": no such file (--teacher-logits)");
        }
        Outputs.requireDistinct(metrics, "--metrics", checkpoint, "--checkpoint");
        Outputs.requireDistinct(metrics, "--metrics", resume, "--resume");
        Outputs.requireDistinct(metrics, "--metrics", init, "--init");
        Outputs.requireDistinct(checkpoint, "--checkpoint", teacher, "--teacher");
        Outputs.requireDistinct(checkpoint, "--checkpoint", teacherLogits, "--teacher-logits");
        if (checkpoint != null) {
            Outputs.requireReplaceable(checkpoint, "--checkpoint");
        }
        if (metrics != null) {
            Outputs.requireAppendable(metrics, "--metrics");
        }
        return new Inputs(resumed, recorded, initFile);
    }

    /**
     * The training options, each from the option, the resumed run's record or the preset: the
     * library's {@link Recipe} and what the CLI adds to it.
     *
     * @param imageSize the side images are resized to; null: the data's own
     */
    private record ResolvedOptions(String dataset, Recipe recipe, int frozenBlocks, float distillAlpha,
                                   Integer imageSize) {
    }

    /** The names {@link Recipe}'s messages start with, and the options that give those values. */
    private static final Map<String, String> RECIPE_OPTIONS = Map.of("epochs", "--epochs", "batch size", "--batch-size",
            "learning rate", "--lr", "weight decay", "--weight-decay", "warmup", "--warmup", "schedule", "--schedule",
            "label smoothing", "--label-smoothing", "gradient clipping norm", "--clip-grad");

    /** {@link Recipe}'s error with the option in place of the value's name. */
    private static IllegalArgumentException optionError(IllegalArgumentException e) {
        String message = String.valueOf(e.getMessage());
        for (Map.Entry<String, String> o : RECIPE_OPTIONS.entrySet()) {
            if (message.startsWith(o.getKey() + " ")) {
                return new IllegalArgumentException(o.getValue() + message.substring(o.getKey().length()), e);
            }
        }
        return e;
    }

    /** Every training option resolved and checked, from the options and the resumed run alone. */
    private ResolvedOptions resolveRecipe(Presets.Preset p, Inputs in) {
        JsonNode recorded = in.recorded();
        String datasetName = recipe("--dataset", data.dataset == null ? null : data.dataset.trim().toLowerCase(Locale.ROOT),
                recorded, "dataset", n -> n.asText().trim().toLowerCase(Locale.ROOT), p.dataset());
        if (!DatasetSource.NAMES.contains(datasetName)) {
            throw new IllegalArgumentException("unknown dataset '" + datasetName + "'; valid names: "
                    + String.join(", ", DatasetSource.NAMES));
        }
        data.requireOptions(datasetName);
        int totalEpochs = or(epochs, recorded != null && recorded.has("epochs") ? recorded.get("epochs").asInt() : null,
                p.epochs());
        int batch = recipe("--batch-size", batchSize, recorded, "batchSize", JsonNode::asInt, p.batchSize());
        float peakLr = recipe("--lr", lr, recorded, "lr", n -> Float.parseFloat(n.asText()), p.lr());
        float wd = recipe("--weight-decay", weightDecay, recorded, "weightDecay", n -> Float.parseFloat(n.asText()), p.weightDecay());
        int warmupEpochs = recipe("--warmup", warmup, recorded, "warmup", JsonNode::asInt, p.warmup());
        String sched = recipe("--schedule", schedule == null ? null : schedule.toLowerCase(Locale.ROOT), recorded,
                "schedule", JsonNode::asText, p.schedule().toLowerCase(Locale.ROOT));
        float smoothing = recipe("--label-smoothing", labelSmoothing, recorded, "labelSmoothing", n -> Float.parseFloat(n.asText()),
                p.labelSmoothing());
        double clip = recipe("--clip-grad", clipGrad, recorded, "clipGrad", JsonNode::asDouble, 0.0);
        Boolean augmentOn = recipe("--[no-]augment", augment, recorded, "augment", JsonNode::asBoolean, p.augment());
        long runSeed = recipe("--seed", seed, recorded, "seed", JsonNode::asLong, 0L);
        int frozen = recipe("--freeze-blocks", freezeBlocks, recorded, "freezeBlocks", JsonNode::asInt, 0);
        float alpha = recipe("--distill-alpha", distillAlpha, recorded, "distillAlpha", n -> Float.parseFloat(n.asText()),
                Distillation.DEFAULT_ALPHA);
        if (recorded != null && recorded.has("teacher") != distillation()) {
            throw new IllegalArgumentException(resume + ": the run " + (distillation() ? "was not distilled; leave out "
                    + "--teacher and --teacher-logits" : "was distilled from " + recorded.get("teacher").asText()
                    + "; give its --teacher or --teacher-logits again") + " to resume it");
        }
        Recipe recipe;
        try {
            recipe = new Recipe(totalEpochs, batch, peakLr, wd, warmupEpochs, Recipe.Schedule.parse(sched), smoothing,
                    clip, augmentOn, runSeed);
        } catch (IllegalArgumentException e) {
            throw optionError(e);
        }
        if (!(alpha >= 0 && alpha <= 1)) {
            throw new IllegalArgumentException("distillation alpha must be in [0, 1], got " + alpha);
        }
        Integer size = recipe("--image-size", imageSize, recorded, "resize", JsonNode::asInt,
                p.imageSize() > 0 ? p.imageSize() : null);
        if (size != null && size < 1) {
            throw new IllegalArgumentException("--image-size must be positive, got " + size);
        }
        if (in.resumed() != null && in.resumed().epoch() >= totalEpochs) {
            throw new IllegalArgumentException(resume + " already holds " + in.resumed().epoch()
                    + " epochs; nothing to train with --epochs " + totalEpochs + " (raise --epochs to continue)");
        }
        return new ResolvedOptions(datasetName, recipe, frozen, alpha, size);
    }

    /** The model's input: image side, channels, classes. */
    private record InputShape(int imageSize, int channels, int classes) {
    }

    /**
     * An input the model options can be checked on before the data is read: the recipe's image size
     * where it has one, else one patch (which any patch size tiles); the resumed or initial model's
     * own channels and classes, else any.
     */
    private InputShape standInShape(Presets.Preset p, Inputs in, ResolvedOptions r) {
        ViTConfig c = in.resumed() != null ? in.resumed().config() : in.initFile() != null ? in.initFile().config() : null;
        if (in.resumed() != null) {
            return new InputShape(r.imageSize() != null ? r.imageSize() : c.imageSize(), c.channels(), c.numClasses());
        }
        int patch = c != null ? c.patchSize() : or(patchSize, p.patchSize());
        return new InputShape(r.imageSize() != null ? r.imageSize() : patch, c != null ? c.channels() : 1,
                c != null ? c.numClasses() : 2);
    }

    /** Both splits, read and checked against each other and against the resumed run's record. */
    private record TrainingData(Dataset train, Dataset test, int imageSize) {
        InputShape shape() {
            return new InputShape(imageSize, train.channels(), train.numClasses());
        }
    }

    private TrainingData loadData(Presets.Preset p, Inputs in, ResolvedOptions r) throws IOException {
        data.sampleSeed = r.recipe().seed();              // --limit-* samples are part of the run
        Dataset trainSet = normalized(data.load(r.dataset(), true), p);
        Dataset testSet = normalized(data.load(r.dataset(), false), p);
        requireSameImages(trainSet, testSet);
        if (trainSet.height() != trainSet.width()) {
            throw new IllegalArgumentException("images are " + trainSet.height() + "x" + trainSet.width()
                    + "; vit4j's ViT takes square images");
        }
        if (in.resumed() != null) {
            requireSameData(in.recorded(), trainSet);
        }
        return new TrainingData(trainSet, testSet, r.imageSize() != null ? r.imageSize() : trainSet.height());
    }

    /** The model to train on {@code input}: the --init file's, the resumed run's or the preset's, with the options. */
    private ViTConfig modelConfig(Presets.Preset p, Inputs in, ResolvedOptions r, InputShape input) throws IOException {
        int size = input.imageSize();
        ViTConfig config;
        if (in.initFile() != null) {
            ViTConfig base = in.initFile().config();
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
            config = base.withInput(size, input.channels()).withNumClasses(input.classes())
                    .withDropout(drop, emb);
        } else if (in.resumed() != null) {
            // The checkpoint gives the shape; options may repeat it (requireConfig names any change).
            ViTConfig c = in.resumed().config();
            ViTConfig.Arch a = arch == null ? c.arch() : ViTConfig.Arch.parse(arch);
            int d = or(dim, c.dim()), h = or(heads, c.heads());
            // outside vit-pytorch the head width follows dim and heads (a changed one is then named below)
            int hd = dimHead != null ? dimHead : a == ViTConfig.Arch.VIT_PYTORCH ? c.dimHead() : d / h;
            config = new ViTConfig(size, or(patchSize, c.patchSize()), input.channels(),
                    input.classes(), d, or(depth, c.depth()), h,
                    or(mlpDim, c.mlpDim()), or(dropout, c.dropout()), pool == null ? c.pool() : ViTConfig.Pool.parse(pool),
                    head == null ? c.head() : ViTConfig.Head.parse(head), c.distilled() || distilled || distillation(),
                    a, hd, or(embDropout, c.embDropout()));
            in.resumed().requireConfig(config, resume);
        } else {
            ViTConfig.Arch a = ViTConfig.Arch.parse(or(arch, p.arch()));
            int d = or(dim, p.dim()), h = or(heads, p.heads());
            float drop = or(dropout, p.dropout());
            config = new ViTConfig(size, or(patchSize, p.patchSize()), input.channels(),
                    input.classes(), d, or(depth, p.depth()), h, or(mlpDim, p.mlpDim()), drop,
                    ViTConfig.Pool.parse(or(pool, p.pool())), ViTConfig.Head.parse(or(head, p.head())),
                    distilled || distillation(), a, dimHead != null ? dimHead : p.dimHead(d, h, a),
                    or(embDropout, p.embDropout() != null ? p.embDropout() : drop));
        }
        if (r.frozenBlocks() < 0 || r.frozenBlocks() > config.depth()) {
            throw new IllegalArgumentException("--freeze-blocks must be between 0 and the model's depth "
                    + config.depth() + ", got " + r.frozenBlocks());
        }
        return config;
    }

    /**
     * What depends on the data's size, checked; the recipe as the checkpoint records it.
     *
     * @param learningRates the recipe's learning rate at every step on the training data
     * @param augment       the recipe's augmentation, or its default for the data's channels
     * @param trainingJson  the training options a checkpoint records, for a resume to continue them
     */
    private record Plan(int trainBatch, int testBatch, LearningRateSchedule learningRates, boolean augment,
                        String trainingJson) {
    }

    private Plan plan(ResolvedOptions r, TrainingData d, ViTConfig config) throws IOException {
        Dataset trainSet = d.train(), testSet = d.test();
        Recipe recipe = r.recipe();
        // Buffers hold at most one split's worth: a --batch-size beyond the data set trains the same.
        int trainBatch = recipe.trainBatch(trainSet);
        int testBatch = Math.min(recipe.batchSize(), testSet.size());
        Sizes.requireBatchFits(config, Math.max(trainBatch, testBatch), "--batch-size");
        LearningRateSchedule learningRates = recipe.learningRates(trainSet);
        int size = d.imageSize();
        if (size != trainSet.height()) {
            LOG.info("resizing the {}x{} images to {}x{} for training and evaluation (bilinear, as torchvision's Resize)",
                    trainSet.height(), trainSet.width(), size, size);
        }
        boolean augmentOn = recipe.augments(trainSet);

        Map<String, Object> training = new LinkedHashMap<>();
        training.put("dataset", r.dataset());
        training.put("epochs", recipe.epochs());
        training.put("batchSize", recipe.batchSize());
        training.put("lr", recipe.lr());
        training.put("weightDecay", recipe.weightDecay());
        training.put("warmup", recipe.warmupEpochs());
        training.put("schedule", recipe.schedule().toString());
        training.put("labelSmoothing", recipe.labelSmoothing());
        training.put("clipGrad", recipe.clipGrad());
        training.put("augment", augmentOn);
        if (size != trainSet.height()) {
            training.put("resize", size);
        }
        training.put("seed", recipe.seed());
        training.put("freezeBlocks", r.frozenBlocks());
        if (distillation()) {
            training.put("teacher", String.valueOf(teacher != null ? teacher : teacherLogits));
            training.put("distillAlpha", r.distillAlpha());
        }
        training.put("trainImages", trainSet.size());
        training.put("trainData", trainSet.fingerprint());
        return new Plan(trainBatch, testBatch, learningRates, augmentOn, new ObjectMapper().writeValueAsString(training));
    }

    /** Builds the model (from --init or --resume where given) and trains it, printing a line per epoch. */
    private void train(Inputs in, ResolvedOptions r, TrainingData d, ViTConfig config, Plan plan)
            throws IOException {
        Dataset trainSet = d.train(), testSet = d.test();
        Checkpoint resumed = in.resumed();
        Map<String, SafeTensors.Entry> pretrained = in.initFile() == null ? null : in.initFile().tensors();
        Recipe recipe = r.recipe();
        int trainBatch = plan.trainBatch();
        int totalEpochs = recipe.epochs();
        try (Backend backend = Backends.create(device);
             DataLoader trainLoader = DataLoader.builder(trainSet).batchSize(trainBatch).shuffle(true)
                     .augment(plan.augment()).seed(recipe.seed()).imageSize(d.imageSize()).build();
             DataLoader testLoader = DataLoader.builder(testSet).batchSize(plan.testBatch()).seed(recipe.seed())
                     .imageSize(d.imageSize()).build();
             VisionTransformer model = VisionTransformer.create(backend, config, recipe.seed());
             VisionTransformer teacherModel = teacher == null ? null : loadTeacher(backend, config);
             AdamW optimizer = AdamW.withDefaults(backend, freeze(model, r.frozenBlocks()), recipe.weightDecay())) {
            int startEpoch = 0;
            if (pretrained != null) {
                List<String> replaced = Pretrained.load(model, pretrained, init, true, resetHead);
                LOG.info("initialised from {}{}", init, replaced.isEmpty() ? ""
                        : "; new head for " + config.numClasses() + " classes (" + String.join(", ", replaced) + ")");
            }
            if (resumed != null) {
                resumed.loadInto(model, resume);
                resumed.loadInto(optimizer, model, resume);
                startEpoch = resumed.epoch();
                LOG.info("resumed from {} after epoch {} (step {})", resume, resumed.epoch(), resumed.step());
            }
            if (checkpoint != null) {
                // The new file and its temporary copy beside the last one.
                Outputs.requireSpace(checkpoint, Checkpoint.fileSize(model, optimizer), "--checkpoint");
            }
            LOG.info("{} on {}: {} train / {} test images, {} classes; model {} ({} parameters); backend {}",
                    preset, r.dataset(), trainSet.size(), testSet.size(), trainSet.numClasses(), config,
                    model.parameterCount(), backend.description());
            try (Trainer trainer = new Trainer(backend, model, optimizer, plan.learningRates(), trainBatch, recipe);
                 MetricsFile metricsFile = metrics == null ? null : new MetricsFile(metrics,
                         resumed == null ? -1 : resumed.epoch(), resumed == null ? null : resumed.result());
                 ProgressListener bar = ProgressListener.create(progress, totalEpochs, trainBatch, trainSet.size())) {
                if (distillation()) {
                    Distillation.Teacher t = teacherModel != null
                            ? Distillation.modelTeacher(teacherModel, config.numClasses())
                            : Distillation.logitsTeacher(teacherLogits, trainSet.size(), config.numClasses());
                    trainer.distillFrom(new Distillation(backend, t, r.distillAlpha(), trainBatch, config.numClasses()));
                    LOG.info("distilling from {} (alpha {})", teacher != null ? teacher : teacherLogits, r.distillAlpha());
                }
                if (bar != null) {
                    trainer.addListener(bar);
                }
                // The checkpoint first: an epoch's line and metrics record only follow a durable checkpoint.
                if (checkpoint != null) {
                    trainer.addListener(new TrainingListener() {
                        @Override
                        public void onEpochEnd(EpochResult result) {
                            try {
                                Checkpoint.save(checkpoint, model, optimizer, result, plan.trainingJson(),
                                        trainSet.classes(), trainSet.normalization());
                            } catch (IOException e) {
                                throw new UncheckedIOException("cannot write checkpoint " + checkpoint + ": "
                                        + IoErrors.describe(e), e);
                            }
                        }
                    });
                }
                trainer.addListener(new EpochPrinter(totalEpochs));
                if (metricsFile != null) {
                    trainer.addListener(metricsFile);
                }
                List<EpochResult> results = trainer.fit(trainLoader, testLoader, startEpoch);
                if (!results.isEmpty()) {
                    EpochResult last = results.get(results.size() - 1);
                    System.out.printf(Locale.ROOT, "final test accuracy %.2f%% after %d epoch%s%n",
                            100 * last.testAccuracy(), last.epoch(), last.epoch() == 1 ? "" : "s");
                }
            }
        }
    }

    /** Checks of the options on their own, before anything is read. */
    private void requireOptions() {
        // Backends.create names a bad device too, but only once the data is read.
        if (!List.of("auto", "cpu", "cuda", "gpu").contains(device.toLowerCase(Locale.ROOT))) {
            throw new IllegalArgumentException("unknown device '" + device + "': expected auto, cpu or cuda");
        }
        if (init != null && resume != null) {
            throw new IllegalArgumentException("--init and --resume exclude each other: --resume continues a run, "
                    + "--init starts a new one from pretrained weights");
        }
        if (teacher != null && teacherLogits != null) {
            throw new IllegalArgumentException("--teacher and --teacher-logits exclude each other: give one teacher");
        }
        finite("--lr", lr);
        finite("--weight-decay", weightDecay);
        finite("--label-smoothing", labelSmoothing);
        finite("--dropout", dropout);
        finite("--distill-alpha", distillAlpha);
        if (clipGrad != null && !Double.isFinite(clipGrad)) {
            throw new IllegalArgumentException("--clip-grad must be a finite number, got " + clipGrad);
        }
        if (dropout != null && !(dropout >= 0 && dropout < 1)) {
            throw new IllegalArgumentException("dropout must be in [0, 1), got " + dropout);
        }
        if (freezeBlocks != null && freezeBlocks < 0) {
            throw new IllegalArgumentException("--freeze-blocks must be between 0 and the model's depth, got "
                    + freezeBlocks);
        }
        for (Object[] o : new Object[][] {{"--patch-size", patchSize}, {"--dim", dim}, {"--depth", depth},
                {"--heads", heads}, {"--mlp-dim", mlpDim}}) {
            if (o[1] != null && (Integer) o[1] < 1) {
                throw new IllegalArgumentException(o[0] + " must be positive, got " + o[1]);
            }
        }
    }

    private static void finite(String option, Float value) {
        if (value != null && !Float.isFinite(value)) {
            throw new IllegalArgumentException(option + " must be a finite number, got " + value);
        }
    }

    /** The training options a checkpoint recorded (an empty object for checkpoints without them). */
    private JsonNode recordedRecipe(Checkpoint ckpt) throws IOException {
        if (ckpt.training() == null) {
            return new ObjectMapper().createObjectNode();
        }
        try {
            JsonNode n = new ObjectMapper().readTree(ckpt.training());
            if (n == null || !n.isObject()) {
                throw new IOException(resume + ": checkpoint's training options are not a JSON object");
            }
            return n;
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IOException(resume + ": checkpoint has unreadable training options: " + e.getOriginalMessage(), e);
        }
    }

    /**
     * A recipe value: the option, else what the resumed run recorded, else the default. A resumed
     * run continues its recipe bit for bit, so an option that differs from the record is refused.
     */
    private <T> T recipe(String option, T given, JsonNode recorded, String key, java.util.function.Function<JsonNode, T> read,
                         T fallback) {
        JsonNode node = recorded == null ? null : recorded.get(key);
        T was = node == null || node.isNull() ? null : read.apply(node);
        if (given != null && was != null && !given.equals(was)) {
            throw new IllegalArgumentException(option + " " + given + " differs from the " + was + " that the run in "
                    + resume + " was trained with; a resumed run keeps its recipe (leave " + option
                    + " out, or start a new run from its weights with --init)");
        }
        return given != null ? given : was != null ? was : fallback;
    }

    /** A resumed run must train on the data its checkpoint recorded (where it did record them). */
    private void requireSameData(JsonNode recorded, Dataset trainSet) {
        JsonNode images = recorded.get("trainImages"), fingerprint = recorded.get("trainData");
        boolean sameCount = images == null || images.asInt() == trainSet.size();
        boolean sameData = fingerprint == null || fingerprint.asText().equals(trainSet.fingerprint());
        if (!sameCount || !sameData) {
            throw new IllegalArgumentException(resume + ": the run trained on " + (images == null ? "other" : images.asInt())
                    + " images (" + (fingerprint == null ? "no fingerprint" : fingerprint.asText()) + "), this training set"
                    + " has " + trainSet.size() + " (" + trainSet.fingerprint() + "); resume with the same --dataset,"
                    + " --data-dir and --limit-train");
        }
    }

    /** The test split must hold images of the training split's shape and classes. */
    private void requireSameImages(Dataset train, Dataset test) throws IOException {
        String where = data.dataDir != null ? " in " + data.dataDir : "";
        if (train.channels() != test.channels() || train.height() != test.height() || train.width() != test.width()) {
            throw new IOException("the test split's images" + where + " are " + test.channels() + "x" + test.height() + "x"
                    + test.width() + " but the training split's are " + train.channels() + "x" + train.height() + "x"
                    + train.width() + "; both splits must hold images of one shape");
        }
        if (!train.classes().equals(test.classes())) {
            throw new IOException("the test split" + where + " has the classes " + test.classes()
                    + " but the training split " + train.classes() + "; both splits need the same classes");
        }
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
    private static Map<String, org.vit4j.nn.Parameter> freeze(VisionTransformer model, int blocks) {
        model.freeze(blocks);
        if (blocks > 0) {
            LOG.info("froze the embeddings and the first {} of {} blocks", blocks, model.config().depth());
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

    private static <T> T or(T value, T second, T fallback) {
        return value != null ? value : second != null ? second : fallback;
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
