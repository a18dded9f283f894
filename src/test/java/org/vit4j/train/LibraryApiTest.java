package org.vit4j.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vit4j.backend.Backend;
import org.vit4j.backend.cpu.CpuBackend;
import org.vit4j.data.DataLoader;
import org.vit4j.data.Dataset;
import org.vit4j.inference.Prediction;
import org.vit4j.inference.Predictor;
import org.vit4j.nn.ViTConfig;
import org.vit4j.nn.VisionTransformer;
import org.vit4j.optim.AdamW;
import org.vit4j.tensor.Tensor;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The library's short paths (builders, {@link Recipe#fit}, one-call save, load and predict) are the long ones. */
class LibraryApiTest {

    @Test
    void configBuilderSpeaksVitPytorchAndDefaultsAsEachLibrary() {
        ViTConfig tutorial = ViTConfig.builder().arch(ViTConfig.Arch.TUTORIAL_2020).imageSize(28).patchSize(7)
                .channels(1).numClasses(10).dim(64).depth(6).heads(8).mlpDim(128).build();
        assertEquals(ViTConfig.mnistTutorial(), tutorial);
        assertEquals(Presets.MNIST_TUTORIAL.config(28, 1, 10), tutorial);
        assertEquals(tutorial, tutorial.toBuilder().build());
        assertEquals(5, tutorial.toBuilder().numClasses(5).build().numClasses());

        ViTConfig vp = ViTConfig.builder().arch(ViTConfig.Arch.VIT_PYTORCH).imageSize(28).patchSize(7).channels(1)
                .numClasses(10).dim(64).depth(6).heads(8).mlpDim(128).dropout(0.1f).build();
        assertEquals(64, vp.dimHead());                         // vit-pytorch's own default
        assertEquals(0f, vp.embDropout());                      // its emb_dropout is separate, 0 by default
        ViTConfig timm = ViTConfig.builder().imageSize(32).patchSize(4).numClasses(10).dim(96).depth(2).heads(3)
                .mlpDim(192).dropout(0.1f).build();
        assertEquals(3, timm.channels());
        assertEquals(32, timm.dimHead());
        assertEquals(0.1f, timm.embDropout());                  // timm's one drop rate
        assertEquals(ViTConfig.Head.LINEAR, timm.head());

        var e = assertThrows(IllegalArgumentException.class, () -> ViTConfig.builder().imageSize(28).patchSize(7)
                .numClasses(10).dim(64).depth(1).heads(6).mlpDim(8).build());
        assertEquals("dim 64 is not divisible by heads 6", e.getMessage());
    }

    @Test
    void dataLoaderBuilderNamesEachSetting() {
        Dataset d = TinyTrainingTest.stripes("s", 50, 1, 10);
        try (DataLoader plain = DataLoader.builder(d).build();
             DataLoader shuffled = DataLoader.builder(d).batchSize(8).shuffle(true).dropLast(true).seed(7).build();
             DataLoader same = DataLoader.builder(d).batchSize(8).shuffle(true).seed(7).build();
             DataLoader other = DataLoader.builder(d).batchSize(8).shuffle(true).seed(8).build()) {
            assertEquals(1, plain.batchSize());
            int[] identity = new int[50];
            Arrays.setAll(identity, i -> i);
            assertArrayEquals(identity, plain.order(0));
            assertArrayEquals(same.order(3), shuffled.order(3));       // the order depends on (seed, epoch)
            assertFalse(Arrays.equals(other.order(3), shuffled.order(3)));
            assertFalse(Arrays.equals(identity, shuffled.order(3)));
            int[] sorted = shuffled.order(3).clone();
            Arrays.sort(sorted);
            assertArrayEquals(identity, sorted);
            assertEquals(6, shuffled.batchesPerEpoch());
        }
    }

    @Test
    void recipesCheckTheirValuesAndCarryThePresets() {
        Recipe r = Recipe.of(Presets.MNIST_TUTORIAL);
        assertEquals(Presets.MNIST_TUTORIAL.epochs(), r.epochs());
        assertEquals(Presets.MNIST_TUTORIAL.batchSize(), r.batchSize());
        assertEquals(Presets.MNIST_TUTORIAL.lr(), r.lr());
        assertEquals(3, r.toBuilder().epochs(3).build().epochs());
        var e = assertThrows(IllegalArgumentException.class, () -> Recipe.builder().epochs(2).warmupEpochs(3).build());
        assertEquals("warmup must be between 0 and the 2 epochs, got 3", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Recipe.builder().lr(Float.NaN).build());
        assertEquals("learning rate must be positive and finite, got NaN", e.getMessage());
        assertEquals(Recipe.Schedule.COSINE, Recipe.Schedule.parse("Cosine"));
    }

    /** fit(...) is the Trainer loop it stands for: the same losses, bit for bit, and the same weights. */
    @Test
    void fitIsTheTrainerLoop() {
        Dataset train = TinyTrainingTest.stripes("train", 96, 3, 40), test = TinyTrainingTest.stripes("test", 40, 4, 40);
        ViTConfig c = TinyTrainingTest.tinyConfig(0.1f, ViTConfig.Pool.MEAN, ViTConfig.Head.LINEAR);
        Recipe recipe = Recipe.builder().epochs(2).batchSize(16).lr(3e-3f).weightDecay(0.01f).warmupEpochs(1)
                .schedule(Recipe.Schedule.COSINE).labelSmoothing(0.1f).clipGrad(1.0).seed(11).build();
        try (Backend backend = new CpuBackend();
             VisionTransformer a = VisionTransformer.create(backend, c, 5);
             VisionTransformer b = VisionTransformer.create(backend, c, 5)) {
            List<Integer> batches = new ArrayList<>();
            List<EpochResult> viaFit = recipe.fit(a, train, test, new TrainingListener() {
                @Override
                public void onEpochStart(int epoch, int n) {
                    batches.add(n);
                }
            });
            assertEquals(List.of(6, 6), batches);
            List<EpochResult> viaTrainer;
            try (DataLoader tl = DataLoader.builder(train).batchSize(16).shuffle(true).seed(11).build();
                 DataLoader vl = DataLoader.builder(test).batchSize(16).seed(11).build();
                 AdamW adam = AdamW.withDefaults(backend, b.trainableParameters(), 0.01f);
                 Trainer t = new Trainer(backend, b, adam, recipe.learningRates(train), 16,
                         Recipe.builder().epochs(2).labelSmoothing(0.1f).clipGrad(1.0).seed(11).build())) {
                viaTrainer = t.fit(tl, vl, 0);
            }
            for (int i = 0; i < 2; i++) {
                assertEquals(viaTrainer.get(i).trainLoss(), viaFit.get(i).trainLoss(), 0.0);
                assertEquals(viaTrainer.get(i).testLoss(), viaFit.get(i).testLoss(), 0.0);
            }
            a.namedParameters().forEach((name, p) -> assertArrayEquals(backend.toArray(b.namedParameters().get(name).value()),
                    backend.toArray(p.value()), name));
            assertEquals(viaFit.get(1).testAccuracy(), Evaluator.evaluate(a, test, 7).accuracy(), 0.0);
        }
    }

    /** Save, loadModel and Predictor.load give the model that was trained, with its classes. */
    @Test
    void savedModelsLoadAndPredictInOneCall(@TempDir Path dir) throws Exception {
        Dataset train = TinyTrainingTest.stripes("train", 32, 3, 40);
        ViTConfig c = TinyTrainingTest.tinyConfig(0f, ViTConfig.Pool.CLS, ViTConfig.Head.MLP);
        Path file = dir.resolve("m.safetensors");
        List<BufferedImage> images = List.of(image(train, 0), image(train, 1), image(train, 2));
        try (Backend backend = new CpuBackend(); VisionTransformer model = VisionTransformer.create(backend, c, 2)) {
            Checkpoint.save(file, model, train);
            List<List<Prediction>> before;
            try (Predictor p = Predictor.of(model, train.normalization(), train.classes())) {
                before = p.predict(images, 4);
            }
            // the same probabilities as the model's own forward pass on the loader's batch
            float[] logits = new float[3 * 4];
            try (DataLoader l = DataLoader.builder(train.subset(0, 3)).batchSize(3).build();
                 Tensor x = backend.allocate(3, 1, 8, 8)) {
                backend.upload(l.batch(0, 0).images(), x);
                model.train(false);
                backend.download(model.forward(x), logits, 0);
            }
            double[] p = new double[4];
            for (int i = 0; i < 3; i++) {
                Predictor.softmax(logits, 4 * i, 4, p);
                assertEquals(4, before.get(i).size());
                for (Prediction pr : before.get(i)) {
                    assertEquals(p[pr.index()], pr.probability(), 1e-6);
                    assertEquals(TinyTrainingTest.CLASSES.get(pr.index()), pr.label());
                }
                assertTrue(before.get(i).get(0).probability() >= before.get(i).get(1).probability());
            }
            try (VisionTransformer loaded = Checkpoint.loadModel(backend, file);
                 Predictor fromFile = Predictor.load(backend, file)) {
                assertEquals(c, loaded.config());
                loaded.namedParameters().forEach((name, q) -> assertArrayEquals(
                        backend.toArray(model.namedParameters().get(name).value()), backend.toArray(q.value()), name));
                assertEquals(before, fromFile.predict(images, 4));
                assertEquals(TinyTrainingTest.CLASSES, fromFile.classes());
            }
        }
    }

    private static BufferedImage image(Dataset d, int i) {
        BufferedImage img = new BufferedImage(8, 8, BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 0; y < 8; y++) {
            for (int x = 0; x < 8; x++) {
                img.getRaster().setSample(x, y, 0, d.pixels()[i * 64 + y * 8 + x] & 0xFF);
            }
        }
        return img;
    }
}
