package org.vit4j.nn;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.vit4j.backend.Backend;
import org.vit4j.backend.cpu.CpuBackend;
import org.vit4j.io.SafeTensors;
import org.vit4j.tensor.DType;
import org.vit4j.tensor.Shape;
import org.vit4j.tensor.Tensor;
import org.vit4j.train.WeightsFile;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * vit4j against timm itself: {@code src/test/python/golden_timm.py} creates timm's
 * {@code vit_tiny_patch16_224} and {@code deit_tiny_distilled_patch16_224} with random weights
 * and saves weights (timm's names, F16), a batch and timm's logits. Loaded through
 * {@link TimmWeights} with the config inferred from the shapes, the same batch must give the same
 * logits: max relative error below 1e-4 in FP32 (the bound), against timm's float64
 * logits; for the distilled model each head too.
 *
 * <p>The fixtures are made on a machine with timm (the GPU machine) and kept beside the
 * repository in {@code ../shared/golden/timm} (see {@link #fixture}); where they are not, this
 * test is skipped, saying so.
 */
public class TimmGoldenTest {
    /** The acceptance bound: relative error of the logits in FP32. */
    public static final double TOLERANCE = 1e-4;
    /** System property naming the fixtures' folder, when they are elsewhere than the two below. */
    public static final String DIR_PROPERTY = "vit4j.timmGolden";
    static final Path DIR = Path.of("src/test/resources/golden/timm");
    /** The fixtures kept beside the repository (25 MB, too big to commit), see its README. */
    static final Path SHARED_DIR = Path.of("../shared/golden/timm");

    /**
     * The fixture of timm model {@code model}: in {@value #DIR_PROPERTY} when set, else in
     * {@code src/test/resources/golden/timm} when that folder exists, else in
     * {@code ../shared/golden/timm}. It may not exist (the test then says where it looked).
     */
    public static Path fixture(String model) {
        String dir = System.getProperty(DIR_PROPERTY);
        Path folder = dir != null && !dir.isBlank() ? Path.of(dir) : Files.isDirectory(DIR) ? DIR : SHARED_DIR;
        return folder.resolve(model + ".safetensors");
    }

    @ParameterizedTest
    @ValueSource(strings = {"vit_tiny_patch16_224", "deit_tiny_distilled_patch16_224"})
    void logitsMatchTimm(String model) throws IOException {
        Path file = fixture(model);
        Assumptions.assumeTrue(Files.isRegularFile(file), "no timm fixture " + file
                + ": run src/test/python/golden_timm.py where timm is installed (the GPU machine)");
        try (Backend backend = new CpuBackend()) {
            Map<String, Double> errors = compare(backend, file, TOLERANCE);
            System.out.printf(Locale.ROOT, "timm golden %s on %s: %s%n", model, backend.name(), errors);
        }
    }

    /**
     * The fixture's model written by vit4j under timm's names ({@code vit4j export --format timm}),
     * read back as any timm file is (its recorded config) and run on the fixture's batch: timm's
     * logits at the same tolerance. The export holds the fixture's values exactly (F16 widened to
     * F32), so the logits are the directly loaded model's bit for bit.
     */
    @ParameterizedTest
    @ValueSource(strings = {"vit_tiny_patch16_224", "deit_tiny_distilled_patch16_224"})
    void exportedModelReproducesTimmLogits(String model, @TempDir Path tmp) throws IOException {
        Path file = fixture(model);
        Assumptions.assumeTrue(Files.isRegularFile(file), "no timm fixture " + file
                + ": run src/test/python/golden_timm.py where timm is installed (the GPU machine)");
        Map<String, SafeTensors.Entry> fixture = SafeTensors.read(file).tensors();
        Path bare = tmp.resolve(model + ".safetensors"), exported = tmp.resolve(model + ".vit4j-export.safetensors");
        SafeTensors.write(bare, weights(fixture), Map.of("format", "pt"));
        try (Backend backend = new CpuBackend()) {
            WeightsFile.read(bare, null).write(WeightsFile.Format.TIMM, exported, backend, bare);
            WeightsFile back = WeightsFile.read(exported, null);
            assertTrue(back.configRecorded(), "the export records its config");
            assertEquals(TimmWeights.inferConfig(weights(fixture), null, file), back.config());
            Map<String, SafeTensors.Entry> written = SafeTensors.read(exported).tensors();
            assertEquals(weights(fixture).keySet(), written.keySet(), "timm's names, no more, no fewer");
            weights(fixture).forEach((name, e) -> {
                assertArrayEquals(e.shape(), written.get(name).shape(), name);
                assertArrayEquals(e.floats(), written.get(name).floats(), name);
            });
            Map<String, Double> direct = compare(backend, file, TOLERANCE);
            Map<String, Double> errors;
            try (VisionTransformer m = back.newModel(backend, exported)) {
                errors = compare(backend, m, file, fixture, TOLERANCE);
            }
            assertEquals(direct, errors, "the exported model's errors are the fixture's own");
            System.out.printf(Locale.ROOT, "timm golden %s exported and reloaded on %s: %s%n", model, backend.name(), errors);
        }
    }

    /** The fixture's weights ({@code param.<timm name>}) under their timm names. */
    private static Map<String, SafeTensors.Entry> weights(Map<String, SafeTensors.Entry> fixture) {
        Map<String, SafeTensors.Entry> weights = new LinkedHashMap<>();
        fixture.forEach((name, e) -> {
            if (name.startsWith("param.")) {
                weights.put(name.substring("param.".length()), e);
            }
        });
        return weights;
    }

    /**
     * Loads the fixture's weights into a model on {@code backend} (config inferred as for any timm
     * file), runs its batch in evaluation mode and asserts each stored output within
     * {@code tolerance}; returns the relative errors by output name. Public for the native tier.
     */
    public static Map<String, Double> compare(Backend backend, Path file, double tolerance) throws IOException {
        Map<String, SafeTensors.Entry> t = SafeTensors.read(file).tensors();
        Map<String, SafeTensors.Entry> weights = weights(t);
        ViTConfig config = TimmWeights.inferConfig(weights, null, file);
        try (VisionTransformer model = new VisionTransformer(backend, config)) {
            TimmWeights.load(model, weights, file);
            return compare(backend, model, file, t, tolerance);
        }
    }

    /** Runs the fixture's batch ({@code t}, read from {@code file}) through {@code model} and checks its outputs. */
    private static Map<String, Double> compare(Backend backend, VisionTransformer model, Path file,
                                               Map<String, SafeTensors.Entry> t, double tolerance) {
        ViTConfig config = model.config();
        Map<String, Double> errors = new LinkedHashMap<>();
        model.train(false);
        SafeTensors.Entry images = t.get("input.images");
        try (Tensor x = backend.allocate(DType.F32, Shape.of(images.shape()))) {
            backend.upload(images.floats(), x);
            float[] logits = backend.toArray(model.forward(x));
            errors.put("logits", check(file, "out.logits64", logits, t, tolerance));
            errors.put("logits vs timm float32", relErr(logits, t.get("out.logits").floats()));
            if (config.distilled()) {
                model.distillationTraining(true);
                errors.put("head", check(file, "out.head", backend.toArray(model.forward(x)), t, tolerance));
                errors.put("head_dist", check(file, "out.head_dist",
                        backend.toArray(model.distillationLogits()), t, tolerance));
                model.distillationTraining(false);
            }
        }
        return errors;
    }

    private static double check(Path file, String name, float[] actual, Map<String, SafeTensors.Entry> t,
                                double tolerance) {
        SafeTensors.Entry expected = t.get(name);
        assertTrue(expected != null, file + " lacks " + name);
        assertEquals(expected.floats().length, actual.length, name + " size");
        double err = relErr(actual, expected.floats());
        assertTrue(err < tolerance, String.format(Locale.ROOT, "%s %s: relative error %.3e >= %.0e", file, name,
                err, tolerance));
        return err;
    }

    /** max |a - b| / max |b|. */
    static double relErr(float[] a, float[] b) {
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            num = Math.max(num, Math.abs((double) a[i] - b[i]));
            den = Math.max(den, Math.abs((double) b[i]));
        }
        return num / den;
    }
}
