package org.vit4j.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vit4j.backend.Backend;
import org.vit4j.backend.cpu.CpuBackend;
import org.vit4j.data.Batch;
import org.vit4j.data.DataLoader;
import org.vit4j.data.Dataset;
import org.vit4j.data.EvalTransform;
import org.vit4j.data.Normalization;
import org.vit4j.io.SafeTensors;
import org.vit4j.nn.Parameter;
import org.vit4j.nn.ViTConfig;
import org.vit4j.nn.VisionTransformer;
import org.vit4j.optim.AdamW;
import org.vit4j.optim.LearningRateSchedule;
import org.vit4j.tensor.Shape;
import org.vit4j.tensor.Tensor;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Checkpoints: exact round trip, bit-identical resume, atomic replacement, and clear errors. */
class CheckpointTest {

    /**
     * Checkpoints written before DeiT support have no "distilled" field, and those from before the
     * architecture fields none of arch, dimHead and embDropout: they load as what they were,
     * non-distilled timm models with heads dim / heads wide and embedding dropout = dropout.
     */
    @Test
    void configsWithoutTheDistilledFieldStillLoad() throws IOException {
        String old = "{\"imageSize\":28,\"patchSize\":7,\"channels\":1,\"numClasses\":10,\"dim\":64,\"depth\":6,"
                + "\"heads\":8,\"mlpDim\":128,\"dropout\":0.0,\"pool\":\"cls\",\"head\":\"mlp\"}";
        Path file = dir.resolve("old.safetensors");
        Map<String, SafeTensors.Entry> weights = new LinkedHashMap<>();
        VisionTransformer.parameterShapes(ViTConfig.mnistTimm()).forEach((name, shape) -> weights.put("model." + name,
                SafeTensors.Entry.f32(shape, new float[Math.toIntExact(Shape.of(shape).numel())])));
        SafeTensors.write(file, weights, Map.of("format", Checkpoint.FORMAT, "config", old, "epoch", "1", "step", "5"));
        assertEquals(ViTConfig.mnistTimm(), Checkpoint.load(file).config());
        String withDropout = old.replace("\"dropout\":0.0", "\"dropout\":0.25");
        SafeTensors.write(file, weights, Map.of("format", Checkpoint.FORMAT, "config", withDropout, "epoch", "1", "step", "5"));
        assertEquals(0.25f, Checkpoint.load(file).config().embDropout(), "a timm model's one rate covered the embedding");
    }

    /** The architecture fields survive the JSON round trip. */
    @Test
    void architectureFieldsRoundTrip() throws IOException {
        ViTConfig vp = new ViTConfig(16, 4, 3, 5, 24, 2, 3, 40, 0.1f, ViTConfig.Pool.MEAN, ViTConfig.Head.LINEAR, false,
                ViTConfig.Arch.VIT_PYTORCH, 16, 0.05f);
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        String text = json.writeValueAsString(vp);
        assertTrue(text.contains("\"arch\":\"vit-pytorch\""), text);
        assertEquals(vp, json.readValue(text, ViTConfig.class));
        assertEquals(ViTConfig.mnistTutorial(), json.readValue(json.writeValueAsString(ViTConfig.mnistTutorial()),
                ViTConfig.class));
    }

    /** The shapes a weights file is checked against before a model is built are the model's own. */
    @Test
    void parameterShapesAreTheModelsOwn() {
        try (Backend backend = new CpuBackend(1)) {
            for (ViTConfig c : List.of(CONFIG, ViTConfig.mnistTutorial(),
                    new ViTConfig(8, 4, 3, 5, 16, 2, 2, 24, 0f, ViTConfig.Pool.CLS, ViTConfig.Head.LINEAR, true),
                    new ViTConfig(12, 3, 1, 2, 8, 1, 1, 8, 0f, ViTConfig.Pool.MEAN, ViTConfig.Head.LINEAR),
                    // vit-pytorch: patch LayerNorms, no qkv bias, heads x dimHead wide; mean pooling has no class token
                    new ViTConfig(16, 4, 3, 5, 24, 2, 3, 40, 0.1f, ViTConfig.Pool.MEAN, ViTConfig.Head.LINEAR, false,
                            ViTConfig.Arch.VIT_PYTORCH, 16, 0.05f),
                    new ViTConfig(16, 4, 3, 5, 24, 1, 1, 40, 0f, ViTConfig.Pool.CLS, ViTConfig.Head.LINEAR, false,
                            ViTConfig.Arch.VIT_PYTORCH, 24, 0f))) {
                try (VisionTransformer model = new VisionTransformer(backend, c)) {
                    Map<String, int[]> expected = VisionTransformer.parameterShapes(c);
                    assertEquals(List.copyOf(model.namedParameters().keySet()), List.copyOf(expected.keySet()), c.toString());
                    model.namedParameters().forEach((name, p) -> assertArrayEquals(p.shape().dims(), expected.get(name), name));
                }
            }
        }
        ViTConfig huge = new ViTConfig(8, 4, 1, 2, 1 << 20, 1, 1, 8, 0f, ViTConfig.Pool.CLS, ViTConfig.Head.MLP);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> VisionTransformer.parameterShapes(huge));
        assertTrue(e.getMessage().contains("attn.qkv.weight"), e.getMessage());
    }

    private static final ViTConfig CONFIG = TinyTrainingTest.tinyConfig(0.1f, ViTConfig.Pool.CLS, ViTConfig.Head.MLP);
    private static final int BATCH = 32;

    @TempDir
    Path dir;

    // ------------------------------------------------------------------ helpers

    /** 250 training images (7 full batches of 32 and one of 26) and 96 test images. */
    private static Dataset trainSet() {
        return TinyTrainingTest.stripes("ckpt-train", 250, 11, 30);
    }

    private static Dataset testSet(Dataset train) {
        return TinyTrainingTest.stripes("ckpt-test", 96, 12, 30).withNormalization(train.normalization());
    }

    /** Every parameter's bits, by name. */
    private static Map<String, int[]> bits(Backend backend, Map<String, ?> tensors) {
        Map<String, int[]> out = new LinkedHashMap<>();
        tensors.forEach((name, t) -> {
            Tensor tensor = t instanceof Parameter p ? p.value() : (Tensor) t;
            float[] f = backend.toArray(tensor);
            int[] b = new int[f.length];
            for (int i = 0; i < f.length; i++) {
                b[i] = Float.floatToIntBits(f[i]);
            }
            out.put(name, b);
        });
        return out;
    }

    private static void assertBitsEqual(Map<String, int[]> expected, Map<String, int[]> actual, String what) {
        assertEquals(expected.keySet(), actual.keySet(), what + ": names");
        expected.forEach((name, e) -> assertArrayEquals(e, actual.get(name), what + " '" + name + "' differs"));
    }

    private static boolean anyBitsDiffer(Map<String, int[]> a, Map<String, int[]> b) {
        for (String name : a.keySet()) {
            if (!java.util.Arrays.equals(a.get(name), b.get(name))) {
                return true;
            }
        }
        return false;
    }

    /** The schedule of a 2-epoch run: warmup over the first half epoch, cosine to 1e-5 at the end. */
    private static LearningRateSchedule schedule(int stepsPerEpoch) {
        return LearningRateSchedule.warmupCosine(3e-3f, stepsPerEpoch / 2, 2L * stepsPerEpoch, 1e-5f);
    }

    private static Recipe settings(int epochs) {
        // Label smoothing and clipping on, so every option of the step is exercised.
        return Recipe.builder().epochs(epochs).labelSmoothing(0.1f).clipGrad(1.0).seed(42).build();
    }

    private static AdamW adamW(Backend backend, VisionTransformer model) {
        return AdamW.withDefaults(backend, model.namedParameters(), 0.05f);
    }

    private static void assertSameMetrics(EpochResult expected, EpochResult actual) {
        assertEquals(expected.epoch(), actual.epoch(), "epoch");
        // Bit-for-bit: a resumed run is the same computation, not an approximation of it.
        assertEquals(Double.doubleToLongBits(expected.trainLoss()), Double.doubleToLongBits(actual.trainLoss()),
                "train loss of epoch " + expected.epoch() + ": " + expected.trainLoss() + " vs " + actual.trainLoss());
        assertEquals(Double.doubleToLongBits(expected.testLoss()), Double.doubleToLongBits(actual.testLoss()),
                "test loss of epoch " + expected.epoch());
        assertEquals(Double.doubleToLongBits(expected.testAccuracy()), Double.doubleToLongBits(actual.testAccuracy()),
                "test accuracy of epoch " + expected.epoch());
        assertEquals(Double.doubleToLongBits(expected.learningRate()), Double.doubleToLongBits(actual.learningRate()),
                "learning rate of epoch " + expected.epoch());
    }

    /** A model with a few AdamW steps behind it, so that the moments and the step count are non-trivial. */
    private static void trainSteps(Backend backend, VisionTransformer model, AdamW optimizer, int steps) {
        Dataset train = trainSet();
        try (DataLoader loader = DataLoader.builder(train).batchSize(BATCH).shuffle(true).seed(3).build();
             Trainer trainer = new Trainer(backend, model, optimizer, LearningRateSchedule.constant(1e-3f), BATCH,
                     settings(1))) {
            for (int i = 0; i < steps; i++) {
                Batch b = loader.batch(0, i);
                trainer.step(b, 1e-3f);
            }
        }
    }

    private Path saveTrained(Backend backend, String name) throws IOException {
        Path file = dir.resolve(name);
        try (VisionTransformer model = VisionTransformer.create(backend, CONFIG, 1);
             AdamW optimizer = adamW(backend, model)) {
            trainSteps(backend, model, optimizer, 2);
            Checkpoint.save(file, model, optimizer, 1, "{\"note\":\"test\"}");
        }
        return file;
    }

    // ------------------------------------------------------------------ (a) round trip

    @Test
    void roundTripIsBitExact() throws IOException {
        Path file = dir.resolve("round-trip.safetensors");
        String training = "{\"lr\":0.001,\"seed\":3}";
        try (Backend backend = new CpuBackend(2);
             VisionTransformer model = VisionTransformer.create(backend, CONFIG, 1);
             AdamW optimizer = adamW(backend, model)) {
            trainSteps(backend, model, optimizer, 3);
            assertEquals(3, optimizer.stepCount());
            Checkpoint.save(file, model, optimizer, 7, training);

            Checkpoint ckpt = Checkpoint.load(file);
            assertEquals(CONFIG, ckpt.config());
            assertEquals(7, ckpt.epoch());
            assertEquals(3, ckpt.step());
            assertEquals(training, ckpt.training());
            long expectedTensors = 3L * model.namedParameters().size();
            assertEquals(expectedTensors, ckpt.tensors().size(), "model weights plus two moments per parameter");

            // A fresh model from another seed and a fresh optimizer: everything must come from the file.
            try (VisionTransformer fresh = VisionTransformer.create(backend, CONFIG, 99);
                 AdamW freshOpt = adamW(backend, fresh)) {
                assertTrue(anyBitsDiffer(bits(backend, model.namedParameters()), bits(backend, fresh.namedParameters())));
                ckpt.loadInto(fresh, file);
                ckpt.loadInto(freshOpt, fresh, file);
                assertBitsEqual(bits(backend, model.namedParameters()), bits(backend, fresh.namedParameters()), "weight");
                assertBitsEqual(bits(backend, optimizer.firstMoments()), bits(backend, freshOpt.firstMoments()), "first moment");
                assertBitsEqual(bits(backend, optimizer.secondMoments()), bits(backend, freshOpt.secondMoments()), "second moment");
                assertEquals(3, freshOpt.stepCount());
                // The moments really were non-zero (else the comparison above proves little).
                float[] v = backend.toArray(optimizer.secondMoments().values().iterator().next());
                boolean nonZero = false;
                for (float x : v) {
                    nonZero |= x != 0f;
                }
                assertTrue(nonZero, "second moments after 3 steps");
            }
        }
    }

    @Test
    void weightsOnlyCheckpointHasNoOptimizerState() throws IOException {
        Path file = dir.resolve("weights.safetensors");
        try (Backend backend = new CpuBackend(2);
             VisionTransformer model = VisionTransformer.create(backend, CONFIG, 1);
             AdamW optimizer = adamW(backend, model)) {
            Checkpoint.save(file, model, null, 0, null);
            Checkpoint ckpt = Checkpoint.load(file);
            assertEquals(0, ckpt.step());
            assertNull(ckpt.training());
            assertEquals(model.namedParameters().size(), ckpt.tensors().size());
            ckpt.loadInto(model, file);
            IOException e = assertThrows(IOException.class, () -> ckpt.loadInto(optimizer, model, file));
            assertTrue(e.getMessage().contains("holds weights only, no optimizer state"), e.getMessage());
        }
    }

    @Test
    void classNamesAndNormalizationRoundTrip() throws IOException {
        Path file = dir.resolve("with-data.safetensors");
        List<String> classes = new ArrayList<>();
        for (int i = 0; i < CONFIG.numClasses(); i++) {
            classes.add("class \"" + i + "\", ü");
        }
        Normalization norm = new Normalization(new float[] {0.1307f}, new float[] {0.3081f});
        assertEquals(1, CONFIG.channels());
        try (Backend backend = new CpuBackend(2);
             VisionTransformer model = VisionTransformer.create(backend, CONFIG, 1)) {
            Checkpoint.save(file, model, null, 1, null, classes, norm);
            Checkpoint ckpt = Checkpoint.load(file);
            assertEquals(classes, ckpt.classes());
            assertEquals(norm, ckpt.normalization());

            // Written without them (as before they existed): both absent, the checkpoint still loads.
            Checkpoint.save(file, model, null, 1, null);
            ckpt = Checkpoint.load(file);
            assertNull(ckpt.classes());
            assertNull(ckpt.normalization());
            ckpt.loadInto(model, file);

            // Metadata that does not fit the model is a clear error.
            Checkpoint.save(file, model, null, 1, null, classes.subList(0, 2), null);
            IOException e = assertThrows(IOException.class, () -> Checkpoint.load(file));
            assertTrue(e.getMessage().contains("names 2 classes but its model has " + CONFIG.numClasses()), e.getMessage());
            Checkpoint.save(file, model, null, 1, null, null, EvalTransform.IMAGENET);
            e = assertThrows(IOException.class, () -> Checkpoint.load(file));
            assertTrue(e.getMessage().contains("normalisation has 3 channels but its model takes 1"), e.getMessage());
        }
    }

    // ------------------------------------------------------------------ (b) resume

    /**
     * Two epochs straight against one epoch, a checkpoint, and a second epoch in a fresh model,
     * optimizer and trainer: final weights, moments and every epoch's metrics must agree bit for
     * bit. Dropout 0.1 (its masks depend on the step count), label smoothing 0.1, gradient clipping,
     * AdamW with weight decay, a warmup + cosine schedule (depends on the step count) and a partial
     * last batch make every piece of restored state matter.
     */
    @Test
    void resumeIsBitIdentical() throws IOException {
        Dataset train = trainSet();
        Dataset test = testSet(train);
        Path file = dir.resolve("resume.safetensors");
        try (Backend backend = new CpuBackend(2)) {
            int stepsPerEpoch;
            List<EpochResult> straight;
            Map<String, int[]> straightWeights, straightM, straightV;
            int straightSteps;
            try (VisionTransformer model = VisionTransformer.create(backend, CONFIG, 42);
                 AdamW optimizer = adamW(backend, model);
                 DataLoader trainLoader = DataLoader.builder(train).batchSize(BATCH).shuffle(true).seed(42).build();
                 DataLoader testLoader = DataLoader.builder(test).batchSize(BATCH).seed(42).build()) {
                stepsPerEpoch = trainLoader.batchesPerEpoch();
                assertEquals(8, stepsPerEpoch);
                try (Trainer trainer = new Trainer(backend, model, optimizer, schedule(stepsPerEpoch), BATCH, settings(2))) {
                    straight = trainer.fit(trainLoader, testLoader, 0);
                }
                straightWeights = bits(backend, model.namedParameters());
                straightM = bits(backend, optimizer.firstMoments());
                straightV = bits(backend, optimizer.secondMoments());
                straightSteps = optimizer.stepCount();
            }
            assertEquals(2, straight.size());
            assertEquals(16, straightSteps);

            // First leg: epoch 1 only, then a checkpoint.
            EpochResult firstLeg;
            try (VisionTransformer model = VisionTransformer.create(backend, CONFIG, 42);
                 AdamW optimizer = adamW(backend, model);
                 DataLoader trainLoader = DataLoader.builder(train).batchSize(BATCH).shuffle(true).seed(42).build();
                 DataLoader testLoader = DataLoader.builder(test).batchSize(BATCH).seed(42).build();
                 Trainer trainer = new Trainer(backend, model, optimizer, schedule(stepsPerEpoch), BATCH, settings(1))) {
                List<EpochResult> r = trainer.fit(trainLoader, testLoader, 0);
                assertEquals(1, r.size());
                firstLeg = r.get(0);
                Checkpoint.save(file, model, optimizer, firstLeg.epoch(), null);
            }
            assertSameMetrics(straight.get(0), firstLeg);

            // Second leg: everything fresh (the model even from another seed), state from the file.
            Checkpoint ckpt = Checkpoint.load(file);
            assertEquals(1, ckpt.epoch());
            assertEquals(stepsPerEpoch, ckpt.step());
            List<EpochResult> secondLeg;
            try (VisionTransformer model = VisionTransformer.create(backend, CONFIG, 7);
                 AdamW optimizer = adamW(backend, model);
                 DataLoader trainLoader = DataLoader.builder(train).batchSize(BATCH).shuffle(true).seed(42).build();
                 DataLoader testLoader = DataLoader.builder(test).batchSize(BATCH).seed(42).build()) {
                ckpt.loadInto(model, file);
                ckpt.loadInto(optimizer, model, file);
                try (Trainer trainer = new Trainer(backend, model, optimizer, schedule(stepsPerEpoch), BATCH, settings(2))) {
                    secondLeg = trainer.fit(trainLoader, testLoader, ckpt.epoch());
                }
                assertEquals(1, secondLeg.size(), "only epoch 2 runs");
                assertSameMetrics(straight.get(1), secondLeg.get(0));
                assertEquals(straightSteps, optimizer.stepCount());
                assertBitsEqual(straightWeights, bits(backend, model.namedParameters()), "weight after resume");
                assertBitsEqual(straightM, bits(backend, optimizer.firstMoments()), "first moment after resume");
                assertBitsEqual(straightV, bits(backend, optimizer.secondMoments()), "second moment after resume");
            }

            // Control: resuming the weights without the optimizer state does NOT reproduce the run, so
            // the comparisons above are sensitive to the restored moments and step count.
            try (VisionTransformer model = VisionTransformer.create(backend, CONFIG, 7);
                 AdamW optimizer = adamW(backend, model);
                 DataLoader trainLoader = DataLoader.builder(train).batchSize(BATCH).shuffle(true).seed(42).build();
                 DataLoader testLoader = DataLoader.builder(test).batchSize(BATCH).seed(42).build()) {
                ckpt.loadInto(model, file);
                try (Trainer trainer = new Trainer(backend, model, optimizer, schedule(stepsPerEpoch), BATCH, settings(2))) {
                    trainer.fit(trainLoader, testLoader, ckpt.epoch());
                }
                assertTrue(anyBitsDiffer(straightWeights, bits(backend, model.namedParameters())),
                        "a resume without optimizer state should diverge");
            }
        }
    }

    /** The dropout masks are really in play: the same step with another seed gives another loss. */
    @Test
    void dropoutDependsOnTheSeed() {
        Dataset train = trainSet();
        try (Backend backend = new CpuBackend(2);
             DataLoader loader = DataLoader.builder(train).batchSize(BATCH).build()) {
            Batch batch = loader.batch(0, 0);
            double[] losses = new double[3];
            long[] seeds = {1, 1, 2};
            for (int i = 0; i < 3; i++) {
                try (VisionTransformer model = VisionTransformer.create(backend, CONFIG, 5);
                     AdamW optimizer = adamW(backend, model);
                     Trainer trainer = new Trainer(backend, model, optimizer, LearningRateSchedule.constant(1e-3f), BATCH,
                             Recipe.builder().epochs(1).seed(seeds[i]).build())) {
                    losses[i] = trainer.step(batch, 1e-3f);
                }
            }
            assertEquals(losses[0], losses[1], 0.0, "same seed, same step: same dropout masks");
            assertNotEquals(losses[0], losses[2], "another seed should draw other dropout masks");
        }
    }

    // ------------------------------------------------------------------ (c) atomic write

    private List<String> listDir() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void saveReplacesTheFileAtomically() throws IOException {
        Path file = dir.resolve("ckpt.safetensors");
        // A pre-existing, larger file under the name: it must be replaced wholesale, not overwritten in place.
        byte[] junk = new byte[3 << 20];
        java.util.Arrays.fill(junk, (byte) 0x5A);
        Files.write(file, junk);
        Object inodeBefore = inode(file);
        try (Backend backend = new CpuBackend(2);
             VisionTransformer model = VisionTransformer.create(backend, CONFIG, 1);
             AdamW optimizer = adamW(backend, model)) {
            try (InputStream oldReader = Files.newInputStream(file)) {
                Checkpoint.save(file, model, optimizer, 1, null);
                // A reader that opened the old file still sees the old file, whole: a rename, not a rewrite.
                assertArrayEquals(junk, oldReader.readAllBytes());
            }
            assertEquals(List.of("ckpt.safetensors"), listDir(), "no temporary files may be left behind");
            if (inodeBefore != null) {
                assertNotEquals(inodeBefore, inode(file), "the file should be a new one renamed over the old");
            }
            // Exactly the checkpoint's bytes: 8-byte length, header, data; nothing of the old file after them.
            long header = java.nio.ByteBuffer.wrap(Files.readAllBytes(file), 0, 8)
                    .order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
            long data = 3 * 4 * model.parameterCount();
            assertEquals(8 + header + data, Files.size(file));
            Checkpoint.load(file).loadInto(model, file);

            // Saving again over a checkpoint: still one file, now the newer epoch.
            Checkpoint.save(file, model, optimizer, 2, null);
            assertEquals(List.of("ckpt.safetensors"), listDir());
            assertEquals(2, Checkpoint.load(file).epoch());
        }
    }

    @Test
    void failedSaveLeavesNoTemporaryFile() throws IOException {
        // The target name is taken by a non-empty directory: the final rename must fail.
        Path target = dir.resolve("taken.safetensors");
        Files.createDirectories(target);
        Files.writeString(target.resolve("keep.txt"), "x");
        try (Backend backend = new CpuBackend(2);
             VisionTransformer model = VisionTransformer.create(backend, CONFIG, 1)) {
            assertThrows(IOException.class, () -> Checkpoint.save(target, model, null, 1, null));
        }
        assertEquals(List.of("taken.safetensors"), listDir(), "the temporary file must be removed after a failure");
        assertTrue(Files.isRegularFile(target.resolve("keep.txt")));
    }

    private static Object inode(Path file) {
        try {
            return Files.getAttribute(file, "unix:ino");
        } catch (UnsupportedOperationException | IllegalArgumentException | IOException e) {
            return null;
        }
    }

    // ------------------------------------------------------------------ (d) errors

    @Test
    void configMismatchNamesTheFields() throws IOException {
        try (Backend backend = new CpuBackend(2)) {
            Path file = saveTrained(backend, "dim16.safetensors");
            Checkpoint ckpt = Checkpoint.load(file);
            ViTConfig other = new ViTConfig(8, 4, 1, 4, 24, 1, 2, 32, 0.1f, ViTConfig.Pool.CLS, ViTConfig.Head.MLP);
            try (VisionTransformer model = VisionTransformer.create(backend, other, 1)) {
                IOException e = assertThrows(IOException.class, () -> ckpt.loadInto(model, file));
                String msg = e.getMessage();
                assertTrue(msg.contains("config does not match"), msg);
                assertTrue(msg.contains(file.toString()), "names the file: " + msg);
                assertTrue(msg.contains("dim 16 in the checkpoint vs 24 requested"), msg);
                assertTrue(msg.contains("depth 2 in the checkpoint vs 1 requested"), msg);
                assertFalse(msg.contains("heads"), "fields that agree are not listed: " + msg);
                assertFalse(msg.contains("mlpDim"), msg);
            }
            // Enum and float fields too.
            ViTConfig pool = new ViTConfig(8, 4, 1, 4, 16, 2, 2, 32, 0f, ViTConfig.Pool.MEAN, ViTConfig.Head.MLP);
            IOException e = assertThrows(IOException.class, () -> ckpt.requireConfig(pool, file));
            assertTrue(e.getMessage().contains("pool cls in the checkpoint vs mean requested"), e.getMessage());
            assertTrue(e.getMessage().contains("dropout 0.1 in the checkpoint vs 0.0 requested"), e.getMessage());
            ckpt.requireConfig(CONFIG, file);
        }
    }

    @Test
    void safetensorsWithoutFormatIsNotACheckpoint() throws IOException {
        Path file = dir.resolve("plain.safetensors");
        SafeTensors.write(file, Map.of("weight", SafeTensors.Entry.f32(new int[] {2}, new float[] {1, 2})), null);
        IOException e = assertThrows(IOException.class, () -> Checkpoint.load(file));
        assertTrue(e.getMessage().contains("not a vit4j checkpoint"), e.getMessage());
        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());

        SafeTensors.write(file, Map.of("weight", SafeTensors.Entry.f32(new int[] {2}, new float[] {1, 2})),
                Map.of("format", "pt"));
        e = assertThrows(IOException.class, () -> Checkpoint.load(file));
        assertTrue(e.getMessage().contains("not a vit4j checkpoint"), e.getMessage());
        assertTrue(e.getMessage().contains("pt"), "says what the format is: " + e.getMessage());
    }

    @Test
    void truncatedCheckpointFails() throws IOException {
        try (Backend backend = new CpuBackend(2)) {
            Path file = saveTrained(backend, "full.safetensors");
            byte[] all = Files.readAllBytes(file);
            // Cut in the data section, in the header, and in the 8-byte length.
            for (int keep : new int[] {all.length - 4, all.length / 2, 100, 5}) {
                Path cut = dir.resolve("cut-" + keep + ".safetensors");
                Files.write(cut, java.util.Arrays.copyOf(all, keep));
                IOException e = assertThrows(IOException.class, () -> Checkpoint.load(cut), "cut at " + keep);
                assertTrue(e.getMessage().contains(cut.toString()), e.getMessage());
                assertTrue(e.getMessage().contains("truncated") || e.getMessage().contains("shorter"),
                        "cut at " + keep + ": " + e.getMessage());
            }
        }
    }

    @Test
    void missingFileFails() {
        Path file = dir.resolve("nope.safetensors");
        IOException e = assertThrows(IOException.class, () -> Checkpoint.load(file));
        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("no such file"), e.getMessage());
    }

    @Test
    void missingOrExtraOrMisshapenTensorFails() throws IOException {
        try (Backend backend = new CpuBackend(2)) {
            Path file = saveTrained(backend, "good.safetensors");
            SafeTensors.Contents good = SafeTensors.read(file);

            // A weight missing: found when the file is read, before any model is built for it.
            Map<String, SafeTensors.Entry> t = new LinkedHashMap<>(good.tensors());
            assertTrue(t.remove("model.head.fc2.bias") != null);
            Path missing = dir.resolve("missing.safetensors");
            SafeTensors.write(missing, t, good.metadata());
            IOException e = assertThrows(IOException.class, () -> Checkpoint.load(missing));
            assertTrue(e.getMessage().contains("lacks tensor 'model.head.fc2.bias'"), e.getMessage());
            assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());

            // A moment missing.
            Map<String, SafeTensors.Entry> t2 = new LinkedHashMap<>(good.tensors());
            t2.remove("optim.v.cls_token");
            Path noMoment = dir.resolve("no-moment.safetensors");
            SafeTensors.write(noMoment, t2, good.metadata());
            e = assertThrows(IOException.class, () -> Checkpoint.load(noMoment));
            assertTrue(e.getMessage().contains("lacks tensor 'optim.v.cls_token'"), e.getMessage());

            // An extra weight the model does not have, and a moment of a parameter it does not have.
            for (String name : List.of("model.blocks.9.norm1.weight", "optim.m.blocks.9.norm1.weight", "junk")) {
                Map<String, SafeTensors.Entry> t3 = new LinkedHashMap<>(good.tensors());
                t3.put(name, SafeTensors.Entry.f32(new int[] {16}, new float[16]));
                Path extra = dir.resolve("extra.safetensors");
                SafeTensors.write(extra, t3, good.metadata());
                e = assertThrows(IOException.class, () -> Checkpoint.load(extra));
                assertTrue(e.getMessage().contains("'" + name + "'"), e.getMessage());
            }

            // A weight of the wrong shape, and one of the wrong dtype.
            Map<String, SafeTensors.Entry> t4 = new LinkedHashMap<>(good.tensors());
            t4.put("model.cls_token", SafeTensors.Entry.f32(new int[] {4, 4}, new float[16]));
            Path shape = dir.resolve("shape.safetensors");
            SafeTensors.write(shape, t4, good.metadata());
            e = assertThrows(IOException.class, () -> Checkpoint.load(shape));
            assertTrue(e.getMessage().contains("'model.cls_token'") && e.getMessage().contains("[4, 4]"), e.getMessage());

            t4.put("model.cls_token", SafeTensors.Entry.i32(new int[] {16}, new int[16]));
            SafeTensors.write(shape, t4, good.metadata());
            e = assertThrows(IOException.class, () -> Checkpoint.load(shape));
            assertTrue(e.getMessage().contains("'model.cls_token'") && e.getMessage().contains("I32"), e.getMessage());
        }
    }

    /** Values that cannot be a run's state: a NaN or infinite weight or moment, a negative second moment or epoch. */
    @Test
    void impossibleValuesAreRejected() throws IOException {
        try (Backend backend = new CpuBackend(2)) {
            Path file = saveTrained(backend, "values.safetensors");
            SafeTensors.Contents good = SafeTensors.read(file);
            record Bad(String tensor, float value, String fragment) { }
            for (Bad bad : List.of(new Bad("model.head.fc2.weight", Float.NaN, "holds NaN at index 3"),
                    new Bad("optim.m.pos_embed", Float.POSITIVE_INFINITY, "holds Infinity"),
                    new Bad("optim.v.cls_token", -1e-3f, "never negative"))) {
                Map<String, SafeTensors.Entry> t = new LinkedHashMap<>(good.tensors());
                float[] f = t.get(bad.tensor()).floats().clone();
                f[3] = bad.value();
                t.put(bad.tensor(), SafeTensors.Entry.f32(t.get(bad.tensor()).shape(), f));
                Path damaged = dir.resolve("damaged.safetensors");
                SafeTensors.write(damaged, t, good.metadata());
                IOException e = assertThrows(IOException.class, () -> Checkpoint.load(damaged), bad.toString());
                assertTrue(e.getMessage().contains(damaged.toString()) && e.getMessage().contains("'" + bad.tensor() + "'")
                        && e.getMessage().contains(bad.fragment()), e.getMessage());
            }
            for (String[] kv : new String[][] {{"epoch", "-5"}, {"step", "-1"}}) {
                Map<String, String> meta = new LinkedHashMap<>(good.metadata());
                meta.put(kv[0], kv[1]);
                Path neg = dir.resolve("negative.safetensors");
                SafeTensors.write(neg, good.tensors(), meta);
                IOException e = assertThrows(IOException.class, () -> Checkpoint.load(neg));
                assertTrue(e.getMessage().contains("negative " + kv[0] + " " + kv[1]), e.getMessage());
            }
        }
    }

    /** Resuming needs the optimizer state of exactly the parameters the run trained. */
    @Test
    void optimizerStateMustMatchWhatIsTrained() throws IOException {
        try (Backend backend = new CpuBackend(2);
             VisionTransformer model = VisionTransformer.create(backend, CONFIG, 1)) {
            model.freeze(1);
            try (AdamW frozen = AdamW.withDefaults(backend, model.trainableParameters(), 0f)) {
                Path file = dir.resolve("frozen.safetensors");
                Checkpoint.save(file, model, frozen, 1, "{\"freezeBlocks\":1}");
                Checkpoint ckpt = Checkpoint.load(file);
                try (VisionTransformer all = new VisionTransformer(backend, CONFIG);
                     AdamW everything = adamW(backend, all)) {
                    IOException e = assertThrows(IOException.class, () -> ckpt.loadInto(everything, all, file));
                    assertTrue(e.getMessage().contains("frozen then, trained now: blocks.0.attn.proj.bias"), e.getMessage());
                    assertTrue(e.getMessage().contains("resume with the run's --freeze-blocks 1"), e.getMessage());
                }
                Path weightsOnly = dir.resolve("weights.safetensors");
                Checkpoint.save(weightsOnly, model, null, 1, null);
                IOException e = assertThrows(IOException.class,
                        () -> Checkpoint.load(weightsOnly).loadInto(frozen, model, weightsOnly));
                assertTrue(e.getMessage().contains("weights only") && e.getMessage().contains("--init"), e.getMessage());
                ckpt.loadInto(frozen, model, file);
            }
        }
    }

    @Test
    void malformedMetadataFails() throws IOException {
        try (Backend backend = new CpuBackend(2)) {
            Path file = saveTrained(backend, "meta.safetensors");
            SafeTensors.Contents good = SafeTensors.read(file);
            List<Map<String, String>> bad = new ArrayList<>();
            Map<String, String> m = new LinkedHashMap<>(good.metadata());
            m.put("config", "{\"imageSize\": 8");
            bad.add(m);
            m = new LinkedHashMap<>(good.metadata());
            m.remove("config");
            bad.add(m);
            m = new LinkedHashMap<>(good.metadata());
            m.put("config", good.metadata().get("config").replace("\"heads\":2", "\"heads\":3"));
            bad.add(m);
            m = new LinkedHashMap<>(good.metadata());
            m.put("epoch", "one");
            bad.add(m);
            m = new LinkedHashMap<>(good.metadata());
            m.remove("step");
            bad.add(m);
            for (Map<String, String> meta : bad) {
                Path f = dir.resolve("bad-meta.safetensors");
                SafeTensors.write(f, good.tensors(), meta);
                IOException e = assertThrows(IOException.class, () -> Checkpoint.load(f), meta.toString());
                assertTrue(e.getMessage().contains(f.toString()), e.getMessage());
                assertTrue(e.getMessage().contains("config") || e.getMessage().contains("epoch or step"), e.getMessage());
            }
        }
    }

    // ------------------------------------------------------------------ fault injection

    /** Where a write is cut: the edges of the length field and the header, each tensor's edges, and evenly between. */
    private static java.util.SortedSet<Long> cutPoints(Path complete) throws IOException {
        byte[] bytes = Files.readAllBytes(complete);
        long header = java.nio.ByteBuffer.wrap(bytes, 0, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
        java.util.SortedSet<Long> cuts = new java.util.TreeSet<>(List.of(0L, 1L, 7L, 8L, 9L, 8 + header - 1, 8 + header,
                8 + header + 1, (long) bytes.length - 1));
        com.fasterxml.jackson.databind.JsonNode h = new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(new String(bytes, 8, (int) header, java.nio.charset.StandardCharsets.UTF_8));
        h.fields().forEachRemaining(e -> {
            if (e.getValue().has("data_offsets")) {
                long begin = 8 + header + e.getValue().get("data_offsets").get(0).asLong();
                cuts.addAll(List.of(begin - 1, begin, begin + 1));
            }
        });
        for (int i = 1; i < 64; i++) {
            cuts.add(bytes.length * (long) i / 64);
        }
        cuts.removeIf(c -> c < 0 || c >= bytes.length);
        return cuts;
    }

    /**
     * A checkpoint write interrupted at every one of ~150 byte offsets (the channel fails there, as
     * a full disk or a dying process would): each time the previous checkpoint is the file's
     * exact content, no temporary file is left, and a run resumed from it is bit-exact with one
     * that was never interrupted.
     */
    @Test
    void interruptedCheckpointWritesKeepThePreviousOneAndResumeBitExact() throws IOException {
        Dataset train = trainSet();
        Dataset test = testSet(train);
        Path file = dir.resolve("ckpt.safetensors");
        try (Backend backend = new CpuBackend(2)) {
            Map<String, int[]> straightWeights;
            EpochResult straightEpoch2;
            int steps;
            try (VisionTransformer model = VisionTransformer.create(backend, CONFIG, 42);
                 AdamW optimizer = adamW(backend, model);
                 DataLoader trainLoader = DataLoader.builder(train).batchSize(BATCH).shuffle(true).seed(42).build();
                 DataLoader testLoader = DataLoader.builder(test).batchSize(BATCH).seed(42).build()) {
                steps = trainLoader.batchesPerEpoch();
                try (Trainer trainer = new Trainer(backend, model, optimizer, schedule(steps), BATCH, settings(2))) {
                    straightEpoch2 = trainer.fit(trainLoader, testLoader, 0).get(1);
                }
                straightWeights = bits(backend, model.namedParameters());
            }

            byte[] previous;
            int cuts = 0;
            try (VisionTransformer model = VisionTransformer.create(backend, CONFIG, 42);
                 AdamW optimizer = adamW(backend, model);
                 DataLoader trainLoader = DataLoader.builder(train).batchSize(BATCH).shuffle(true).seed(42).build();
                 DataLoader testLoader = DataLoader.builder(test).batchSize(BATCH).seed(42).build()) {
                try (Trainer trainer = new Trainer(backend, model, optimizer, schedule(steps), BATCH, settings(1))) {
                    EpochResult r = trainer.fit(trainLoader, testLoader, 0).get(0);
                    Checkpoint.save(file, model, optimizer, r, "{}", train.classes(), train.normalization());
                }
                previous = Files.readAllBytes(file);
                try (Trainer trainer = new Trainer(backend, model, optimizer, schedule(steps), BATCH, settings(2))) {
                    trainer.fit(trainLoader, testLoader, 1);
                }
                for (long cut : cutPoints(writeComplete(model, optimizer, train))) {
                    IOException e = assertThrows(IOException.class, () -> Checkpoint.save(file, model, optimizer, 2, null,
                            "{}", train.classes(), train.normalization(),
                            ch -> org.vit4j.io.FaultyChannel.failingAfter(ch, cut)), "cut at " + cut);
                    assertTrue(e.getMessage().contains("injected fault at byte " + cut), e.getMessage());
                    assertArrayEquals(previous, Files.readAllBytes(file), "the previous checkpoint, whole, after a cut at " + cut);
                    assertEquals(List.of("complete.safetensors", "ckpt.safetensors").stream().sorted().toList(), listDir(),
                            "no temporary file after a cut at " + cut);
                    cuts++;
                }
            }
            assertTrue(cuts > 100, cuts + " cut points");
            Checkpoint ckpt = Checkpoint.load(file);
            assertEquals(1, ckpt.epoch());
            try (VisionTransformer model = VisionTransformer.create(backend, CONFIG, 7);
                 AdamW optimizer = adamW(backend, model);
                 DataLoader trainLoader = DataLoader.builder(train).batchSize(BATCH).shuffle(true).seed(42).build();
                 DataLoader testLoader = DataLoader.builder(test).batchSize(BATCH).seed(42).build()) {
                ckpt.loadInto(model, file);
                ckpt.loadInto(optimizer, model, file);
                List<EpochResult> resumed;
                try (Trainer trainer = new Trainer(backend, model, optimizer, schedule(steps), BATCH, settings(2))) {
                    resumed = trainer.fit(trainLoader, testLoader, ckpt.epoch());
                }
                assertSameMetrics(straightEpoch2, resumed.get(0));
                assertBitsEqual(straightWeights, bits(backend, model.namedParameters()), "weights after the resume");
            }
        }
    }

    /** The complete epoch-2 file, written beside the target, for its layout. */
    private Path writeComplete(VisionTransformer model, AdamW optimizer, Dataset train) throws IOException {
        Path complete = dir.resolve("complete.safetensors");
        Checkpoint.save(complete, model, optimizer, 2, null, "{}", train.classes(), train.normalization(),
                java.util.function.UnaryOperator.identity());
        return complete;
    }

    /**
     * Same state, same bytes: two saves of one state are identical, and the metadata has a fixed
     * order (a Map.of here once made the normalisation's fields change order between JVM runs;
     * KillTest compares files written by different JVMs).
     */
    @Test
    void theSameStateGivesTheSameBytes() throws IOException {
        Normalization norm = new Normalization(new float[] {0.25f}, new float[] {0.5f});
        try (Backend backend = new CpuBackend(2);
             VisionTransformer model = VisionTransformer.create(backend, CONFIG, 3);
             AdamW optimizer = adamW(backend, model)) {
            trainSteps(backend, model, optimizer, 1);
            Path a = dir.resolve("a.safetensors"), b = dir.resolve("b.safetensors");
            EpochResult r = new EpochResult(1, 0.5, 0.25, 0.75, 123.0, 4.5, 1e-3);
            Checkpoint.save(a, model, optimizer, r, "{\"seed\":0}", List.of("a", "b", "c", "d"), norm);
            EpochResult otherTiming = new EpochResult(1, 0.5, 0.25, 0.75, 999.0, 0.1, 1e-3);
            Checkpoint.save(b, model, optimizer, otherTiming, "{\"seed\":0}", List.of("a", "b", "c", "d"), norm);
            assertArrayEquals(Files.readAllBytes(a), Files.readAllBytes(b), "timings are not state");
            Map<String, String> meta = SafeTensors.read(a).metadata();
            assertEquals(List.of("classes", "config", "epoch", "format", "normalization", "result", "step", "training"),
                    List.copyOf(meta.keySet()), "metadata sorted by key");
            assertEquals("{\"mean\":[0.25],\"std\":[0.5]}", meta.get("normalization"));
            assertEquals("{\"epoch\":1,\"trainLoss\":0.5,\"testLoss\":0.25,\"testAccuracy\":0.75,\"learningRate\":0.001,"
                    + "\"restored\":true}", meta.get("result"));
        }
    }
}
