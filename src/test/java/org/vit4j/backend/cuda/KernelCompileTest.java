package org.vit4j.backend.cuda;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every {@code kernels/*.cu} compiles with {@code nvcc} for sm_80 (A100) and sm_90 (H100/H200),
 * with warnings shown, when nvcc is on the PATH; and the sources list of {@link KernelLibrary}
 * matches the folder. This is the unit tier's check of the kernels: running them needs a GPU
 * (the native tier).
 */
class KernelCompileTest {
    private static final Path KERNELS = Path.of("kernels");

    static Stream<String> sources() {
        return KernelLibrary.SOURCES.stream();
    }

    @Test
    void everyKernelFileIsListedAndShipped() throws IOException {
        List<String> files = new ArrayList<>();
        try (Stream<Path> s = Files.list(KERNELS)) {
            s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".cu")).sorted().forEach(files::add);
        }
        assertEquals(KernelLibrary.SOURCES.stream().sorted().toList(), files, "KernelLibrary.SOURCES vs kernels/*.cu");
        List<String> headers = new ArrayList<>();
        try (Stream<Path> s = Files.list(KERNELS)) {
            s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".cuh")).sorted().forEach(headers::add);
        }
        assertEquals(KernelLibrary.HEADERS.stream().sorted().toList(), headers, "KernelLibrary.HEADERS vs kernels/*.cuh");
        java.util.regex.Pattern include = java.util.regex.Pattern.compile("(?m)^\\s*#\\s*include\\s*(\\S+)");
        for (String file : concat(KernelLibrary.SOURCES, KernelLibrary.HEADERS)) {
            String shipped = KernelLibrary.readSource(file);
            assertEquals(Files.readString(KERNELS.resolve(file)), shipped, file + " in the jar resources");
            if (file.endsWith(".cu")) {
                assertTrue(!KernelLibrary.entryPoints(shipped).isEmpty(), file + " defines no extern \"C\" __global__ kernel");
            }
            // NVRTC compiles without system headers: only our own headers, which it is given.
            java.util.regex.Matcher m = include.matcher(shipped);
            while (m.find()) {
                String name = m.group(1);
                assertTrue(name.startsWith("\"") && KernelLibrary.HEADERS.contains(name.substring(1, name.length() - 1)),
                        file + ": #include " + name + " is not one of KernelLibrary.HEADERS " + KernelLibrary.HEADERS);
            }
        }
    }

    private static List<String> concat(List<String> a, List<String> b) {
        List<String> out = new ArrayList<>(a);
        out.addAll(b);
        return out;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("sources")
    void compilesWithNvcc(String file) throws Exception {
        String nvcc = findOnPath("nvcc");
        Assumptions.assumeTrue(nvcc != null, "nvcc is not on the PATH: kernel compile check skipped");
        for (String arch : List.of("sm_80", "sm_90")) {
            Path out = Files.createTempFile("vit4j-" + file, ".ptx");
            try {
                Process p = new ProcessBuilder(nvcc, "-arch=" + arch, "-ptx", "-std=c++17", "-Werror=all-warnings",
                        "-o", out.toString(), KERNELS.resolve(file).toString()).redirectErrorStream(true).start();
                String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                assertTrue(p.waitFor(120, TimeUnit.SECONDS), "nvcc timed out on " + file);
                if (!log.isBlank()) {
                    System.out.println("nvcc " + arch + " " + file + ":\n" + log);
                }
                assertEquals(0, p.exitValue(), "nvcc -arch=" + arch + " " + file + " failed:\n" + log);
                String ptx = Files.readString(out);
                for (String kernel : KernelLibrary.entryPoints(Files.readString(KERNELS.resolve(file)))) {
                    assertTrue(ptx.contains(".entry " + kernel + "("), file + ": no unmangled PTX entry " + kernel);
                }
            } finally {
                Files.deleteIfExists(out);
            }
        }
    }

    private static String findOnPath(String exe) {
        String path = System.getenv("PATH");
        if (path == null) {
            return null;
        }
        for (String dir : path.split(File.pathSeparator)) {
            File f = new File(dir, exe);
            if (f.canExecute()) {
                return f.getPath();
            }
        }
        return null;
    }
}
