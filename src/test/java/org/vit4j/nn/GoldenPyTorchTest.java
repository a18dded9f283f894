package org.vit4j.nn;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.vit4j.backend.Backend;
import org.vit4j.backend.cpu.CpuBackend;
import org.vit4j.io.SafeTensors;
import org.vit4j.tensor.DType;
import org.vit4j.tensor.Shape;
import org.vit4j.tensor.Tensor;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CPU backend against PyTorch: {@code src/test/python/golden_vit.py} builds the same ViT in
 * PyTorch 1.13, and its fixtures hold the initial weights, one batch, the logits, the loss and
 * every parameter gradient. Two independently written systems must agree.
 */
public class GoldenPyTorchTest {
    /**
     * Max relative error per tensor (max |ours - torch| / max |torch|). Both sides compute in
     * float32 with different summation orders (BLAS blocking against PyTorch's kernels), so each
     * reduction of length K carries up to about K * 2^-24 relative error; the longest here (K = 136
     * rows for weight gradients) gives ~1e-6 per layer, compounded through 6 blocks of backward.
     * Measured: 1.2e-6 worst over all tensors. 2e-5 leaves a >10x margin and is still orders of
     * magnitude below what a wrong formula, a transposed weight or a mis-scaled gradient produces.
     */
    private static final double TOLERANCE = 2e-5;

    @ParameterizedTest
    @ValueSource(strings = {"mnist-tutorial", "mnist-linear-mean", "mnist-tutorial-2020"})
    void matchesPyTorch(String fixture) throws Exception {
        try (Backend backend = new CpuBackend()) {
            compare(backend, fixture, TOLERANCE);
        }
    }

    /**
     * Runs the fixture's batch through a model on {@code backend} loaded with the fixture's weights
     * and asserts logits, loss and every parameter gradient within {@code tolerance} (max relative
     * error per tensor). Public for the native tier, which runs it on the CUDA backend.
     */
    public static void compare(Backend backend, String fixture, double tolerance) throws Exception {
        SafeTensors.Contents golden = SafeTensors.read(Path.of("src/test/resources/golden/" + fixture + ".safetensors"));
        Map<String, SafeTensors.Entry> t = golden.tensors();
        ViTConfig config = new ObjectMapper().readValue(golden.metadata().get("config"), ViTConfig.class);
        float smoothing = Float.parseFloat(golden.metadata().get("labelSmoothing"));

        try (VisionTransformer model = new VisionTransformer(backend, config)) {
            for (Map.Entry<String, Parameter> e : model.namedParameters().entrySet()) {
                SafeTensors.Entry w = t.get("param." + e.getKey());
                assertTrue(w != null, "fixture lacks param." + e.getKey());
                assertArrayEquals(e.getValue().shape().dims(), w.shape(), "shape of " + e.getKey());
                backend.upload(w.floats(), e.getValue().value());
            }
            long fixtureParams = t.keySet().stream().filter(k -> k.startsWith("param.")).count();
            assertEquals(fixtureParams, model.namedParameters().size(), "parameter count");

            SafeTensors.Entry images = t.get("input.images");
            SafeTensors.Entry labels = t.get("input.labels");
            int batch = images.shape()[0];
            try (Tensor x = backend.allocate(DType.F32, Shape.of(images.shape()));
                 Tensor y = backend.allocate(DType.I32, Shape.of(batch));
                 Tensor losses = backend.allocate(batch);
                 Tensor dLogits = backend.allocate(batch, config.numClasses())) {
                backend.upload(images.floats(), x);
                backend.upload(labels.ints(), y);
                Tensor logits = model.forward(x);
                backend.crossEntropyForward(logits, y, smoothing, losses);
                double loss = 0;
                for (float l : backend.toArray(losses)) {
                    loss += l / batch;
                }
                backend.crossEntropyBackward(logits, y, smoothing, 1f / batch, dLogits);
                model.backward(dLogits);

                assertClose("logits", t.get("out.logits").floats(), backend.toArray(logits), tolerance);
                assertEquals(t.get("out.loss").floats()[0], loss, tolerance * Math.abs(loss), "loss");
                double worst = 0;
                String worstName = "";
                for (Map.Entry<String, Parameter> e : model.namedParameters().entrySet()) {
                    double err = assertClose("grad " + e.getKey(), t.get("grad." + e.getKey()).floats(),
                            backend.toArray(e.getValue().grad()), tolerance);
                    if (err > worst) {
                        worst = err;
                        worstName = e.getKey();
                    }
                }
                System.out.printf("golden %s on %s: loss %.7f (torch %.7f), worst gradient relative error %.2e (%s)%n",
                        fixture, backend.description(), loss, t.get("out.loss").floats()[0], worst, worstName);
            }
        }
    }

    private static double assertClose(String what, float[] expected, float[] actual, double tolerance) {
        assertEquals(expected.length, actual.length, what + " size");
        double maxRef = 0, maxErr = 0;
        for (int i = 0; i < expected.length; i++) {
            maxRef = Math.max(maxRef, Math.abs(expected[i]));
            maxErr = Math.max(maxErr, Math.abs(expected[i] - actual[i]));
        }
        double rel = maxErr / Math.max(maxRef, 1e-30);
        assertTrue(rel <= tolerance, () -> String.format("%s: relative error %.3e > %.1e (expected %s..., got %s...)",
                what, rel, tolerance, Arrays.toString(Arrays.copyOf(expected, 4)), Arrays.toString(Arrays.copyOf(actual, 4))));
        return rel;
    }
}
