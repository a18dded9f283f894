package org.vit4j.backend.cuda;

import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.JCudaDriver;
import jcuda.nvrtc.JNvrtc;
import jcuda.nvrtc.nvrtcProgram;
import jcuda.nvrtc.nvrtcResult;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

import static org.vit4j.backend.cuda.CudaException.check;
import static org.vit4j.backend.cuda.CudaException.checkNvrtc;

/**
 * Every {@code kernels/*.cu} of the jar, compiled by NVRTC for the running GPU and loaded as
 * modules. Where NVRTC knows the GPU's architecture it emits CUBIN (no driver JIT at load);
 * otherwise PTX for the newest architecture it knows, which the driver JIT-compiles. Compiled
 * images are cached on disk under a key of the source hash, the options, the architecture and
 * the NVRTC version, so a second start compiles nothing. On the CUDA emulator nothing is cached
 * here: its "images" are the emulator's own (host code it keeps in its own cache), and they must
 * never land in, or be read from, the cache a real GPU uses.
 */
public final class KernelLibrary implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(KernelLibrary.class);

    /** The kernel sources, resources under {@code org/vit4j/kernels/}. */
    public static final List<String> SOURCES = List.of("elementwise.cu", "layernorm.cu", "gelu.cu",
            "softmax_cross_entropy.cu", "adamw.cu", "patch_embed.cu", "attention.cu", "softmax.cu");

    /** Headers the sources include, given to NVRTC as header sources (resources beside them). */
    public static final List<String> HEADERS = List.of("dropout_hash.cuh", "warp.cuh");

    /** NVRTC options besides the architecture: accurate math (the CPU reference is exact-erf, expf). */
    static final List<String> OPTIONS = List.of("--std=c++17", "--fmad=true", "-default-device");

    private final CudaDevice device;
    private final List<CUmodule> modules = new ArrayList<>();
    private final Map<String, CUfunction> functions = new HashMap<>();
    private final Map<String, Integer> staticShared = new java.util.concurrent.ConcurrentHashMap<>();
    private final long compileMillis;
    private final int compiled;

    private KernelLibrary(CudaDevice device, Path requestedCacheDir) {
        this.device = device;
        Path cacheDir = cacheFor(device.emulated(), requestedCacheDir);
        device.makeCurrent();
        JNvrtc.setExceptionsEnabled(false);
        long start = System.nanoTime();
        int fresh = 0;
        Target target = target(device.computeCapability());
        List<String> options = new ArrayList<>(OPTIONS);
        options.add("--gpu-architecture=" + target.arch());
        String nvrtc = nvrtcVersionString();
        String[] headers = HEADERS.stream().map(KernelLibrary::readSource).toArray(String[]::new);
        String headerText = String.join("\0", headers);
        for (String file : SOURCES) {
            String source = readSource(file);
            String key = cacheKey(source + "\0" + headerText, options, nvrtc);
            Path cached = cacheDir == null ? null
                    : cacheDir.resolve(file.replace(".cu", "") + "-" + key
                    + (target.cubin() ? ".cubin" : ".ptx"));
            byte[] image = cached != null && Files.isRegularFile(cached) ? readCache(cached) : null;
            if (image == null) {
                image = compile(file, source, headers, options, target.cubin());
                fresh++;
                if (cached != null) {
                    writeCache(cached, image);
                }
            }
            CUmodule module = new CUmodule();
            check(JCudaDriver.cuModuleLoadData(module, image), "cuModuleLoadData(" + file + ")");
            modules.add(module);
            for (String kernel : entryPoints(source)) {
                CUfunction f = new CUfunction();
                check(JCudaDriver.cuModuleGetFunction(f, module, kernel), "cuModuleGetFunction(" + kernel + ")");
                functions.put(kernel, f);
            }
        }
        this.compileMillis = (System.nanoTime() - start) / 1_000_000;
        this.compiled = fresh;
        if (device.emulated()) {
            LOG.info("CUDA kernels ready in {} ms on the EMULATED device: {} files compiled by the emulator's NVRTC {} "
                    + "(no vit4j kernel cache; the emulator keeps its own)", compileMillis, fresh, nvrtc);
        } else {
            LOG.info("CUDA kernels ready in {} ms: {} of {} files compiled by NVRTC {}, the rest from the cache {}",
                    compileMillis, fresh, SOURCES.size(), nvrtc, cacheDir);
        }
    }

    /** The kernel cache to use: none on the emulator, whatever was asked for; elsewhere {@code requested} (may be null). */
    static Path cacheFor(boolean emulated, Path requested) {
        return emulated ? null : requested;
    }

    /** Compiles (or loads from {@code cacheDir}, which may be null for no cache) every kernel for {@code device}. */
    public static KernelLibrary load(CudaDevice device, Path cacheDir) {
        return new KernelLibrary(device, cacheDir);
    }

    /** The kernel {@code name}; fails naming it when no source defines it. */
    public CUfunction function(String name) {
        CUfunction f = functions.get(name);
        if (f == null) {
            throw new IllegalStateException("no CUDA kernel named " + name + " in " + SOURCES);
        }
        return f;
    }

    /** Static shared memory of kernel {@code name}, which counts against the same 48 KiB as the dynamic. */
    int staticSharedBytes(String name) {
        return staticShared.computeIfAbsent(name, k -> {
            int[] bytes = new int[1];
            check(JCudaDriver.cuFuncGetAttribute(bytes,
                    jcuda.driver.CUfunction_attribute.CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, function(k)),
                    "cuFuncGetAttribute(" + k + ", shared size)");
            return bytes[0];
        });
    }

    /** Wall-clock milliseconds of the last load (compiles and cache reads). */
    public long compileMillis() {
        return compileMillis;
    }

    /** Source files NVRTC compiled in the last load (0 when everything came from the cache). */
    public int compiledFiles() {
        return compiled;
    }

    record Target(String arch, boolean cubin) {
    }

    /** CUBIN for the device's own architecture when NVRTC supports it, else PTX for the newest it does. */
    static Target target(int computeCapability) {
        int[] count = new int[1];
        checkNvrtc(JNvrtc.nvrtcGetNumSupportedArchs(count), "nvrtcGetNumSupportedArchs");
        int[] archs = new int[count[0]];
        checkNvrtc(JNvrtc.nvrtcGetSupportedArchs(archs), "nvrtcGetSupportedArchs");
        int best = -1;
        for (int a : archs) {
            if (a == computeCapability) {
                return new Target("sm_" + a, true);
            }
            if (a < computeCapability) {
                best = Math.max(best, a);
            }
        }
        if (best < 0) {
            throw new CudaException("NVRTC " + nvrtcVersionString() + " supports none of the architectures up to sm_"
                    + computeCapability, nvrtcResult.NVRTC_ERROR_INVALID_OPTION);
        }
        return new Target("compute_" + best, false);
    }

    private static byte[] compile(String file, String source, String[] headers, List<String> options, boolean cubin) {
        nvrtcProgram program = new nvrtcProgram();
        checkNvrtc(JNvrtc.nvrtcCreateProgram(program, source, file, headers.length, headers,
                HEADERS.toArray(new String[0])), "nvrtcCreateProgram(" + file + ")");
        try {
            int result = JNvrtc.nvrtcCompileProgram(program, options.size(), options.toArray(new String[0]));
            String[] log = new String[1];
            JNvrtc.nvrtcGetProgramLog(program, log);
            if (result != nvrtcResult.NVRTC_SUCCESS) {
                throw new CudaException("nvrtcCompileProgram(" + file + ", " + options + ") failed: "
                        + nvrtcResult.stringFor(result) + "\n" + log[0], result);
            }
            if (log[0] != null && !log[0].isBlank()) {
                LOG.warn("NVRTC warnings for {}:\n{}", file, log[0]);
            }
            if (cubin) {
                long[] size = new long[1];
                checkNvrtc(JNvrtc.nvrtcGetCUBINSize(program, size), "nvrtcGetCUBINSize(" + file + ")");
                byte[] image = new byte[Math.toIntExact(size[0])];
                checkNvrtc(JNvrtc.nvrtcGetCUBIN(program, image), "nvrtcGetCUBIN(" + file + ")");
                return image;
            }
            String[] ptx = new String[1];
            checkNvrtc(JNvrtc.nvrtcGetPTX(program, ptx), "nvrtcGetPTX(" + file + ")");
            // cuModuleLoadData wants a NUL-terminated PTX string.
            return (ptx[0] + '\0').getBytes(StandardCharsets.US_ASCII);
        } finally {
            JNvrtc.nvrtcDestroyProgram(program);
        }
    }

    /** The {@code extern "C" __global__} entry points a source defines. */
    static List<String> entryPoints(String source) {
        List<String> names = new ArrayList<>();
        java.util.regex.Matcher m = java.util.regex.Pattern
                .compile("extern\\s+\"C\"\\s+__global__\\s+(?:__launch_bounds__\\s*\\([^)]*\\)\\s+)?void\\s+(?:__launch_bounds__\\s*\\([^)]*\\)\\s+)?(\\w+)\\s*\\(")
                .matcher(source);
        while (m.find()) {
            names.add(m.group(1));
        }
        return names;
    }

    static String readSource(String file) {
        try (InputStream in = KernelLibrary.class.getResourceAsStream("/org/vit4j/kernels/" + file)) {
            if (in == null) {
                throw new IllegalStateException("kernel source " + file + " is missing from the jar (org/vit4j/kernels/)");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read kernel source " + file, e);
        }
    }

    /** SHA-256 over the source, the options (architecture included) and the NVRTC version; 16 hex digits. */
    static String cacheKey(String source, List<String> options, String nvrtcVersion) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(source.getBytes(StandardCharsets.UTF_8));
            sha.update((byte) 0);
            sha.update(String.join(" ", options).getBytes(StandardCharsets.UTF_8));
            sha.update((byte) 0);
            sha.update(nvrtcVersion.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(sha.digest(), 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    /** The NVRTC library's version, e.g. {@code 12.6}. */
    public static String nvrtcVersionString() {
        int[] major = new int[1], minor = new int[1];
        checkNvrtc(JNvrtc.nvrtcVersion(major, minor), "nvrtcVersion");
        return major[0] + "." + minor[0];
    }

    private static byte[] readCache(Path file) {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            LOG.warn("cannot read cached kernel {}: {}; compiling again", file, e.getMessage());
            return null;
        }
    }

    /** Atomic: a temporary file renamed over the final name, so a concurrent start never reads half a file. */
    private static void writeCache(Path file, byte[] image) {
        try {
            Files.createDirectories(file.getParent());
            // AtomicFile, not Files.createTempFile: the cached file gets the umask's permissions, not 0600.
            try (org.vit4j.io.AtomicFile out = org.vit4j.io.AtomicFile.open(file)) {
                java.nio.ByteBuffer bytes = java.nio.ByteBuffer.wrap(image);
                while (bytes.hasRemaining()) {
                    out.channel().write(bytes);
                }
                out.commit();
            }
        } catch (IOException e) {
            LOG.warn("cannot cache compiled kernel at {}: {}", file, e.getMessage());
        }
    }

    @Override
    public void close() {
        device.makeCurrent();
        for (CUmodule m : modules) {
            JCudaDriver.cuModuleUnload(m);
        }
        modules.clear();
        functions.clear();
    }
}
