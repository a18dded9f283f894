package org.vit4j.nativetests;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.vit4j.backend.cuda.CudaBackend;
import org.vit4j.nn.GoldenPyTorchTest;
import org.vit4j.nn.TimmGoldenTest;
import org.vit4j.nn.VitPytorchGoldenTest;

import java.nio.file.Files;
import java.nio.file.Path;

/** The CUDA backend against the PyTorch, timm and vit-pytorch golden fixtures, in FP32 and TF32 GEMM modes. */
class CudaGoldenTest {
    /** FP32: as the CPU backend's tolerance; only summation orders differ from PyTorch. */
    private static final double FP32_TOLERANCE = 2e-5;
    /**
     * TF32 rounds GEMM inputs to 10 mantissa bits (relative 2^-11 = 4.9e-4 per product), with
     * FP32 accumulation; errors partly cancel over a reduction and compound through 6 blocks of
     * forward and backward. 2e-2 bounds that and still fails on any wrong formula (O(1) errors).
     */
    private static final double TF32_TOLERANCE = 2e-2;

    @ParameterizedTest
    @ValueSource(strings = {"mnist-tutorial", "mnist-linear-mean", "mnist-tutorial-2020"})
    void fp32(String fixture) throws Exception {
        try (CudaBackend cuda = Gpu.open()) {
            GoldenPyTorchTest.compare(cuda, fixture, FP32_TOLERANCE);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"mnist-tutorial", "mnist-linear-mean", "mnist-tutorial-2020"})
    void tf32(String fixture) throws Exception {
        try (CudaBackend cuda = Gpu.open()) {
            cuda.setTf32(true);
            GoldenPyTorchTest.compare(cuda, fixture, TF32_TOLERANCE);
        }
    }

    /**
     * vit-pytorch's own ViT (the tutorial call, and pool='mean' with dim_head 16): logits, loss
     * and every gradient against its float64 values, in FP32, with the CPU backend's tolerances
     * doubled for cuBLAS's other summation orders.
     */
    @ParameterizedTest
    @ValueSource(strings = {"vitpytorch_mean_dimhead16", "vitpytorch_mnist_tutorial"})
    void vitPytorchFp32(String fixture) throws Exception {
        Path file = VitPytorchGoldenTest.find(fixture);
        try (CudaBackend cuda = Gpu.open()) {
            System.out.println("vit-pytorch golden " + fixture + " on cuda: " + VitPytorchGoldenTest.compare(cuda, file,
                    2 * VitPytorchGoldenTest.LOGITS_TOLERANCE, 2 * VitPytorchGoldenTest.GRAD_TOLERANCE));
        }
    }

    /** timm's ViT-Tiny and DeiT-Tiny (distilled) at 224 px: logits within the 1e-4 in FP32. */
    @ParameterizedTest
    @ValueSource(strings = {"vit_tiny_patch16_224", "deit_tiny_distilled_patch16_224"})
    void timmFp32(String model) throws Exception {
        Path file = TimmGoldenTest.fixture(model);
        Gpu.assume(Files.isRegularFile(file), "no timm fixture " + file.toAbsolutePath()
                + ": run src/test/python/golden_timm.py where timm is installed, or set -D"
                + TimmGoldenTest.DIR_PROPERTY + "=DIR");
        try (CudaBackend cuda = Gpu.open()) {
            System.out.println("timm golden " + model + " on cuda: " + TimmGoldenTest.compare(cuda, file,
                    TimmGoldenTest.TOLERANCE));
        }
    }
}
