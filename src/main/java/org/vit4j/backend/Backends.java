package org.vit4j.backend;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.vit4j.backend.cpu.CpuBackend;
import org.vit4j.backend.cuda.CudaBackend;
import org.vit4j.io.CacheDirectory;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Chooses a backend by name: {@code auto}, {@code cpu} or {@code cuda}. */
public final class Backends {
    private static final Logger LOG = LoggerFactory.getLogger(Backends.class);
    /** The environment variable without which the CUDA emulator reports no device. */
    public static final String EMULATOR_ENV = "VIT4J_EMULATOR";
    private static final Pattern MISSING_LIBRARY =
            Pattern.compile("(lib[\\w.+-]+\\.so[.\\d]*): cannot open shared object file[^\\n]*");
    private static final Pattern MISSING_SYMBOL = Pattern.compile("(undefined symbol: \\S+|version `[^']+' not found)");

    /** Why CUDA failed to load in this JVM; JCuda's classes cannot be initialised again after that. */
    private static volatile String loadFailure;

    private Backends() {
    }

    /**
     * The CUDA backend when a usable GPU is present, else the CPU backend, logging why in one line.
     * The CUDA emulator (native-tests/emulator) is picked only where it was asked for on purpose:
     * its stand-in libraries on the library path and {@value #EMULATOR_ENV}=1 (without that the
     * stand-in driver reports no device; this checks the variable once more, on the Java side).
     */
    public static Backend auto() {
        CudaBackend cuda;
        try {
            cuda = cuda();
        } catch (BackendUnavailableException e) {
            LOG.info("using the CPU backend: {}", e.getMessage());
            return new CpuBackend();
        }
        if (cuda.device().emulated() && !emulatorRequested(System.getenv(EMULATOR_ENV))) {
            String name = cuda.device().name();
            cuda.close();
            LOG.info("using the CPU backend: the CUDA device is the emulator ({}) and {} is not 1", name, EMULATOR_ENV);
            return new CpuBackend();
        }
        logIfEmulated(cuda);
        return cuda;
    }

    static boolean emulatorRequested(String envValue) {
        return "1".equals(envValue);
    }

    private static void logIfEmulated(CudaBackend cuda) {
        if (cuda.device().emulated()) {
            LOG.warn("using an EMULATED CUDA device, {}: kernels run on the CPU through native-tests/emulator's "
                    + "stand-in libraries ({}=1), correct but slow, and its timings are not a GPU's",
                    cuda.device().name(), EMULATOR_ENV);
        }
    }

    public static Backend create(String device) {
        return switch (device.toLowerCase(Locale.ROOT)) {
            case "auto" -> auto();
            case "cpu" -> new CpuBackend();
            case "cuda", "gpu" -> {
                try {
                    CudaBackend cuda = cuda();
                    logIfEmulated(cuda);
                    yield cuda;
                } catch (BackendUnavailableException e) {
                    throw new BackendUnavailableException("device cuda was asked for, but " + e.getMessage(), e);
                }
            }
            default -> throw new IllegalArgumentException(
                    "unknown device '" + device + "': expected auto, cpu or cuda");
        };
    }

    /**
     * GPU 0, with compiled kernels cached under {@code <cache>/kernels}; a
     * {@link BackendUnavailableException} with a one-line reason where CUDA cannot run.
     */
    public static CudaBackend cuda() {
        if (loadFailure != null) {
            throw new BackendUnavailableException("CUDA is not usable here: " + loadFailure);
        }
        try {
            return CudaBackend.open(0, CacheDirectory.root().resolve("kernels"));
        } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
            loadFailure = reason(e);
            throw new BackendUnavailableException("CUDA is not usable here: " + loadFailure, e);
        } catch (RuntimeException e) {
            throw new BackendUnavailableException("CUDA is not usable here: " + reason(e), e);
        }
    }

    /**
     * One line for a failure to reach CUDA. JCuda's {@code UnsatisfiedLinkError} spans dozens of
     * lines (nested stack traces of each way it tried to load its JNI library); what a user needs
     * is the library the system could not open, e.g. {@code libcuda.so.1} where there is no driver.
     */
    static String reason(Throwable e) {
        String msg = e.getMessage() == null ? "" : e.getMessage();
        Matcher lib = MISSING_LIBRARY.matcher(msg);
        if (lib.find()) {
            String kind = lib.group(1).startsWith("libcuda.") ? "no NVIDIA driver" : "a CUDA library is missing";
            return kind + " (" + lib.group() + ")";
        }
        Matcher sym = MISSING_SYMBOL.matcher(msg);
        if (sym.find()) {
            return "incompatible CUDA library (" + sym.group() + ")";
        }
        String first = msg.strip().lines().findFirst().orElse("");
        return first.isEmpty() ? e.getClass().getSimpleName() : first;
    }

    /** One line on whether CUDA can be used here, and why not. */
    public static String cudaStatus() {
        try (CudaBackend cuda = cuda()) {
            if (cuda.device().emulated()) {
                return "EMULATED: " + cuda.description() + "; the emulator's NVRTC "
                        + org.vit4j.backend.cuda.KernelLibrary.nvrtcVersionString()
                        + " compiled and loaded all kernels for the CPU in " + cuda.kernels().compileMillis()
                        + " ms (no vit4j kernel cache on the emulator)";
            }
            return cuda.description() + ", NVRTC " + org.vit4j.backend.cuda.KernelLibrary.nvrtcVersionString()
                    + "; all kernels compiled and loaded in " + cuda.kernels().compileMillis() + " ms ("
                    + cuda.kernels().compiledFiles() + " of " + org.vit4j.backend.cuda.KernelLibrary.SOURCES.size()
                    + " files compiled now, the rest from the cache)";
        } catch (BackendUnavailableException e) {
            return "unavailable: " + e.getMessage();
        }
    }
}
