package example;

import org.vit4j.backend.Backend;
import org.vit4j.backend.Backends;
import org.vit4j.data.Dataset;
import org.vit4j.data.DatasetSource;
import org.vit4j.data.DatasetSource.Split;
import org.vit4j.inference.Predictor;
import org.vit4j.nn.ViTConfig;
import org.vit4j.nn.VisionTransformer;
import org.vit4j.train.Checkpoint;
import org.vit4j.train.Evaluator;
import org.vit4j.train.Recipe;
import org.vit4j.train.TrainingListener;

import java.io.IOException;
import java.nio.file.Path;

/**
 * The README's library example, as a user's program: train the MNIST tutorial's ViT for one epoch,
 * save it, load it back, evaluate it, classify an image file (the first argument). The code between
 * the README markers is the README's, character for character (ReadmeExampleTest checks it and runs it).
 */
public final class TrainMnist {
    public static void main(String[] args) throws IOException {
        // README:begin
        Dataset train = DatasetSource.open("mnist", Split.TRAIN);   // downloaded once into ~/.cache/vit4j
        Dataset test = DatasetSource.open("mnist", Split.TEST);
        Path file = Path.of("mnist-vit.safetensors");
        try (Backend backend = Backends.auto()) {                   // CUDA where usable, else the CPU
            ViTConfig config = ViTConfig.builder().arch(ViTConfig.Arch.TUTORIAL_2020)
                    .imageSize(28).patchSize(7).channels(1).numClasses(10)
                    .dim(64).depth(6).heads(8).mlpDim(128).build();  // = Presets.get("mnist-tutorial").config(train)
            try (VisionTransformer model = VisionTransformer.create(backend, config, 0)) {
                Recipe recipe = Recipe.builder().epochs(1).batchSize(100).lr(3e-3f).build();
                recipe.fit(model, train, test, TrainingListener.onEpoch(r -> System.out.printf(
                        "epoch %d  train loss %.4f  test accuracy %.2f%%%n", r.epoch(), r.trainLoss(),
                        100 * r.testAccuracy())));
                Checkpoint.save(file, model, train);                 // weights, config, classes, normalisation
            }
            try (VisionTransformer model = Checkpoint.loadModel(backend, file)) {
                System.out.println("reloaded: " + Evaluator.evaluate(model, test, 500));
            }
            try (Predictor predictor = Predictor.load(backend, file)) {
                System.out.println(args[0] + ": " + predictor.predict(Path.of(args[0]), 3));
            }
        }
        // README:end
    }
}
