package org.vit4j.backend.cuda;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What can be checked of the CUDA backend without a GPU: every kernel the launchers name exists
 * in the sources, the entry-point parser, and the compile cache key.
 */
class CudaBackendSourcesTest {

    @Test
    void everyLaunchedKernelIsDefined() throws Exception {
        Set<String> defined = new HashSet<>();
        for (String file : KernelLibrary.SOURCES) {
            defined.addAll(KernelLibrary.entryPoints(KernelLibrary.readSource(file)));
        }
        Set<String> launched = new TreeSet<>();
        for (String javaFile : List.of("CudaBackend.java", "AttentionLaunch.java", "RowSoftmax.java")) {
            String src = Files.readString(Path.of("src/main/java/org/vit4j/backend/cuda", javaFile));
            Matcher m = Pattern.compile("\"(\\w+_f32)\"").matcher(src);
            while (m.find()) {
                launched.add(m.group(1));
            }
        }
        assertTrue(launched.size() > 20, "found the launchers' kernel names: " + launched);
        Set<String> missing = new TreeSet<>(launched);
        missing.removeAll(defined);
        assertTrue(missing.isEmpty(), "kernels launched but defined in no kernels/*.cu: " + missing);
    }

    /**
     * Each launcher passes the kernel's parameters in order and of the right kind (pointer, int,
     * 64-bit, float): a mismatch would read garbage on the GPU, so it is caught here, without one.
     */
    @Test
    void launchersPassTheKernelsParameters() throws Exception {
        java.util.Map<String, List<String>> kinds = new java.util.HashMap<>();
        Pattern kernel = Pattern.compile("extern\\s+\"C\"\\s+__global__\\s+(?:__launch_bounds__\\s*\\([^)]*\\)\\s+)?void\\s+"
                + "(?:__launch_bounds__\\s*\\([^)]*\\)\\s+)?(\\w+)\\s*\\(([^)]*)\\)");
        for (String file : KernelLibrary.SOURCES) {
            Matcher m = kernel.matcher(KernelLibrary.readSource(file));
            while (m.find()) {
                List<String> k = new java.util.ArrayList<>();
                for (String param : m.group(2).split(",")) {
                    k.add(param.contains("*") ? "ptr" : param.contains("long long") ? "l"
                            : param.contains("float") ? "f" : param.contains("int") ? "i" : "?" + param.strip());
                }
                kinds.put(m.group(1), k);
            }
        }
        int checked = 0;
        for (String launcher : List.of("CudaBackend.java", "RowSoftmax.java")) {
            int before = checked;
            checked += checkLaunches(Files.readString(Path.of("src/main/java/org/vit4j/backend/cuda", launcher)), kinds);
            assertTrue(checked > before, "no launch found in " + launcher);
        }
        assertTrue(checked >= 27, "launchers checked: " + checked);
    }

    /** Checks every {@code launch("name")...run()} chain in {@code java}; returns how many. */
    private static int checkLaunches(String java, java.util.Map<String, List<String>> kinds) {
        Matcher launch = Pattern.compile("launch\\((\"\\w+\"|kernel)[^;]*?\\)((?:\\s*\\.(?:ptr|i|l|f|grid|block|shared)\\([^;]*?\\))*)"
                + "\\s*\\.run\\(\\)", Pattern.DOTALL).matcher(java);
        int checked = 0;
        while (launch.find()) {
            List<String> passed = new java.util.ArrayList<>();
            Matcher arg = Pattern.compile("\\.(ptr|i|l|f)\\(").matcher(launch.group(2));
            while (arg.find()) {
                passed.add(arg.group(1));
            }
            // the dropout launcher names its kernel in a variable: both directions share a signature
            List<String> names = launch.group(1).equals("kernel")
                    ? List.of("dropout_forward_f32", "dropout_backward_f32")
                    : List.of(launch.group(1).replace("\"", ""));
            for (String name : names) {
                assertEquals(kinds.get(name), passed, "arguments of " + name);
                checked++;
            }
        }
        return checked;
    }

    @Test
    void entryPointsAreTheExternCKernels() {
        String src = """
                __device__ float helper(float x) { return x; }
                extern "C" __global__ void first_f32(const float* x, float* y, long long n) { }
                extern "C" __global__ __launch_bounds__(256) void second_f32(int a) { }
                __global__ void mangled(int a) { }
                """;
        assertEquals(List.of("first_f32", "second_f32"), KernelLibrary.entryPoints(src));
    }

    @Test
    void cacheKeyChangesWithSourceOptionsAndCompilerVersion() {
        List<String> opts = List.of("--std=c++17", "--gpu-architecture=sm_90");
        String key = KernelLibrary.cacheKey("a", opts, "13.0");
        assertEquals(16, key.length());
        assertEquals(key, KernelLibrary.cacheKey("a", opts, "13.0"));
        assertNotEquals(key, KernelLibrary.cacheKey("b", opts, "13.0"));
        assertNotEquals(key, KernelLibrary.cacheKey("a", List.of("--std=c++17", "--gpu-architecture=sm_80"), "13.0"));
        assertNotEquals(key, KernelLibrary.cacheKey("a", opts, "12.6"));
    }
}
