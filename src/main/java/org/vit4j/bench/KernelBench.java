package org.vit4j.bench;

import org.vit4j.backend.cuda.Cublas;
import org.vit4j.backend.cuda.CudaBackend;
import org.vit4j.backend.cuda.CudaDevice;
import org.vit4j.backend.cuda.CudaTensor;
import org.vit4j.backend.cuda.Cudnn;
import org.vit4j.backend.cuda.DeviceAttributes;
import org.vit4j.backend.cuda.EventTimer;
import org.vit4j.backend.cuda.KernelLibrary;
import org.vit4j.backend.cuda.RowSoftmax;
import org.vit4j.backend.cuda.UnfusedAttention;
import org.vit4j.tensor.DType;
import org.vit4j.tensor.Shape;
import org.vit4j.tensor.Tensor;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * {@code vit4j bench kernels}: every CUDA op, forward and backward, timed against the hardware's
 * limits and a baseline.
 *
 * <p>Method (the same for every op and every baseline):
 * <ol>
 *   <li>Peaks first, on this GPU: a large device-to-device copy (bytes read + written per second)
 *       and a large cuBLAS SGEMM, FP32 and TF32 ({@link Peaks}).</li>
 *   <li>Inputs: fresh random data (standard normal from the seed, labels uniform), uploaded once
 *       per shape, never zeros; outputs and scratch allocated once per shape.</li>
 *   <li>Warm-up runs (first-launch costs, scratch allocation, cuDNN's algorithm search), then
 *       {@code runs} timed runs. Before each run the L2 cache is flushed by writing a scratch
 *       buffer twice its size ({@code cuMemsetD32Async}), so every op starts from DRAM as in a
 *       training step, where the activations of one layer have long left the L2 when its
 *       backward runs. Each run is bracketed by CUDA events on the stream ({@link EventTimer});
 *       the runs are queued back to back and read once at the end.</li>
 *   <li>The median time (p10 and p90 beside it), the FLOPs and bytes counted by hand
 *       ({@link OpCost}), the achieved TFLOP/s or GB/s and that as a percentage of the peak.</li>
 *   <li>The baseline, timed the same way: cuDNN where it has the op (softmax, the patch embedding
 *       as a strided convolution), the unfused cuBLAS + softmax path for attention. The unfused
 *       attention's outputs are also compared with the fused kernel's (the note column).</li>
 * </ol>
 */
public final class KernelBench implements AutoCloseable {
    /** The shape-set name of the large shapes (64M-element memory-bound ops, 577-token attention). */
    public static final String LARGE = "large";
    static final int LARGE_ROWS = 65536;
    static final int LARGE_COLS = 1024;     // 64M elements
    static final int LARGE_CLASSES = 1000;
    private static final float LN_EPS = 1e-6f;

    /**
     * @param warmup    untimed runs before timing each op
     * @param runs      timed runs of each op (median, p10, p90 over these)
     * @param seed      seed of the random inputs
     * @param tf32      TF32 GEMMs (vit4j's linear layers, the unfused attention, cuDNN's convolution)
     * @param shapes    shape sets to run: names of {@link VitShape#VIT} and/or {@link #LARGE}
     * @param ops       only ops whose name matches (find) this pattern
     * @param baselines time the baselines too
     * @param copyBytes bytes of the peak copy's source (the copy moves twice that)
     * @param gemmSize  n of the peak n x n x n SGEMM
     */
    public record Settings(int warmup, int runs, long seed, boolean tf32, List<String> shapes, Pattern ops,
                           boolean baselines, long copyBytes, int gemmSize) {
        public Settings {
            if (warmup < 0 || runs < 1) {
                throw new IllegalArgumentException("--warmup must be >= 0 and --runs >= 1, got " + warmup + ", " + runs);
            }
            for (String s : shapes) {
                if (!s.equals(LARGE)) {
                    VitShape.named(s);   // fails naming the known ones
                }
            }
        }

        /** Every ViT shape and the large set, 10 warm-up and 50 timed runs, 1 GiB copy, 8192^3 GEMM. */
        public static Settings defaults() {
            List<String> all = new ArrayList<>();
            VitShape.VIT.forEach(s -> all.add(s.name()));
            all.add(LARGE);
            return new Settings(10, 50, 0, false, all, Pattern.compile(""), true, 1L << 30, 8192);
        }
    }

    private final CudaBackend backend;
    private final CudaDevice device;
    private final Settings settings;
    private final PrintStream log;
    private final Cublas cublas;
    private final RowSoftmax softmax;
    private final EventTimer timer;
    private final Tensor flush;
    private final long flushBytes;
    private Cudnn cudnn;
    private String cudnnUnavailable;
    private float[] pool = new float[0];
    private long uploads;
    private int flushValue;
    private KernelReport report;

    private KernelBench(CudaBackend backend, Settings settings, PrintStream log) {
        this.backend = backend;
        this.device = backend.device();
        this.settings = settings;
        this.log = log;
        backend.setTf32(settings.tf32());
        this.softmax = new RowSoftmax(backend);
        int l2 = DeviceAttributes.l2CacheBytes(device);
        this.flushBytes = 2L * (l2 > 0 ? l2 : 32 << 20);
        this.cublas = new Cublas(device);
        EventTimer events = null;
        try {
            cublas.setTf32(settings.tf32());
            events = new EventTimer(device, Math.max(settings.runs(), 10));
            this.flush = backend.allocate((int) (flushBytes / 4));
        } catch (RuntimeException | Error e) {
            if (events != null) {
                events.close();
            }
            cublas.close();
            throw e;
        }
        this.timer = events;
        if (settings.baselines()) {
            try {
                cudnn = Cudnn.open(backend);
            } catch (RuntimeException | LinkageError e) {
                // missing library, a missing symbol, or cudnnCreate failing (sub-libraries not found)
                cudnnUnavailable = oneLine(e);
            }
        }
    }

    /** Measures the peaks, then every selected op; prints each result as it comes. */
    public static KernelReport run(CudaBackend backend, Settings settings, PrintStream log) {
        KernelBench bench = new KernelBench(backend, settings, log);
        KernelReport report;
        try {
            report = bench.runAll();
        } catch (RuntimeException | Error e) {
            try {
                bench.close();
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        try {
            bench.close();
        } catch (RuntimeException e) {
            // after a sticky device fault every call fails; the results measured before it still count
            log.println("# warning: releasing the benchmark's buffers failed: " + oneLine(e));
        }
        return report;
    }

    private KernelReport runAll() {
        log.println("# " + backend.description() + ", NVRTC " + KernelLibrary.nvrtcVersionString() + ", L2 flush "
                + KernelReport.bytes(flushBytes) + ", " + settings.warmup() + " warm-up + " + settings.runs()
                + " timed runs per op" + (cudnn != null ? ", cuDNN " + cudnn.version()
                : settings.baselines() ? ", no cuDNN (" + cudnnUnavailable + ")" : ", baselines off"));
        Peaks peaks = measurePeaks();
        report = new KernelReport(deviceJson(), settingsJson(), peaks, settings.tf32(), device.emulated());
        log.println("# " + report.peaksLine());
        log.println(String.join("  ", report.headers()));
        for (String name : settings.shapes()) {
            if (name.equals(LARGE)) {
                runLarge();
            } else {
                runVit(VitShape.named(name), name);
            }
        }
        return report;
    }

    // ================================================================= timing

    /** One thing to time: {@code prepare} (untimed, may be null) before the flush, then {@code body}. */
    private record Work(Runnable prepare, Runnable body) {
    }

    /** Warm-up, then {@code runs} runs each after an L2 flush, each between two events; microseconds. */
    private Stats time(Work work, int warmup, int runs) {
        for (int i = 0; i < warmup; i++) {
            if (work.prepare() != null) {
                work.prepare().run();
            }
            flushL2();
            work.body().run();
        }
        for (int i = 0; i < runs; i++) {
            if (work.prepare() != null) {
                work.prepare().run();
            }
            flushL2();
            timer.start(i);
            work.body().run();
            timer.stop(i);
        }
        return Stats.of(timer.elapsedMicros(runs));
    }

    private Stats time(Work work) {
        return time(work, settings.warmup(), settings.runs());
    }

    /** Overwrites a buffer twice the L2's size, evicting whatever the last op left there. */
    private void flushL2() {
        backend.fill(flush, ++flushValue);
    }

    // ================================================================= peaks

    private Peaks measurePeaks() {
        int warmup = Math.min(settings.warmup(), 3);
        int runs = Math.min(settings.runs(), 10);
        long copyFloats = Math.min(settings.copyBytes(), device.totalMemory() / 8) / 4;
        double copyGBs;
        try (Tensor src = backend.allocate(DType.F32, Shape.of(Math.toIntExact(copyFloats)));
             Tensor dst = backend.allocate(DType.F32, Shape.of(Math.toIntExact(copyFloats)))) {
            backend.fill(src, 1f);
            Stats t = time(new Work(null, () -> backend.copy(src, dst)), warmup, runs);
            copyGBs = OpCost.copy(copyFloats).bytes() / (t.median() * 1e-6) / 1e9;
        }
        int n = settings.gemmSize();
        double fp32, tf32;
        boolean wasTf32 = cublas.tf32();
        try (Tensor a = backend.allocate(n, n); Tensor b = backend.allocate(n, n); Tensor c = backend.allocate(n, n)) {
            upload(a);
            upload(b);
            Runnable gemm = () -> cublas.gemm(false, false, n, n, n, false, ptr(a), n, ptr(b), n, ptr(c), n);
            double flops = OpCost.gemm(n, n, n).flops();
            cublas.setTf32(false);
            fp32 = flops / (time(new Work(null, gemm), warmup, runs).median() * 1e-6) / 1e12;
            cublas.setTf32(true);
            tf32 = flops / (time(new Work(null, gemm), warmup, runs).median() * 1e-6) / 1e12;
        } finally {
            cublas.setTf32(wasTf32);
        }
        return new Peaks(copyGBs, fp32, tf32, 8 * copyFloats, n);
    }

    // ================================================================= cases

    /** Tensors of one shape set, freed together. */
    private final class Scope implements AutoCloseable {
        private final List<Tensor> tensors = new ArrayList<>();
        private final List<AutoCloseable> others = new ArrayList<>();

        Tensor zeros(int... dims) {
            Tensor t = backend.allocate(dims);
            tensors.add(t);
            return t;
        }

        Tensor random(int... dims) {
            Tensor t = zeros(dims);
            upload(t);
            return t;
        }

        Tensor labels(int batch, int classes) {
            Tensor t = backend.allocate(DType.I32, Shape.of(batch));
            tensors.add(t);
            backend.upload(HostRandom.labels(batch, classes, settings.seed() + uploads++), t);
            return t;
        }

        <T extends AutoCloseable> T own(T resource) {
            others.add(resource);
            return resource;
        }

        @Override
        public void close() {
            backend.synchronize();
            for (int i = others.size() - 1; i >= 0; i--) {
                try {
                    others.get(i).close();
                } catch (Exception e) {
                    log.println("# warning: closing " + others.get(i) + ": " + e.getMessage());
                }
            }
            tensors.forEach(Tensor::close);
        }
    }

    /** Uploads standard-normal values into {@code t}: a slice of a seeded pool, a different slice each time. */
    private void upload(Tensor t) {
        int n = Math.toIntExact(t.numel());
        if (pool.length < n) {
            pool = HostRandom.normal(Math.max(n + (1 << 20), 1 << 22), settings.seed());
        }
        int offset = (int) ((++uploads * 1_000_003L) % (pool.length - n + 1));
        backend.upload(pool, offset, t);
    }

    private boolean selected(String op) {
        return settings.ops().matcher(op).find();
    }

    /** Times {@code op} and its baseline (either may be null) and adds the result. */
    private void measure(String op, String shape, String dims, OpCost cost, Work work, String baselineName,
                         Work baseline, String baselineUnavailable, java.util.function.Supplier<String> note) {
        if (!selected(op)) {
            return;
        }
        KernelResult result;
        try {
            Stats t = time(work);
            KernelResult.Baseline base = null;
            if (baselineName != null && settings.baselines()) {
                if (baseline == null) {
                    base = KernelResult.Baseline.unavailable(baselineName, baselineUnavailable);
                } else {
                    try {
                        base = new KernelResult.Baseline(baselineName, time(baseline), null);
                    } catch (RuntimeException | LinkageError e) {
                        base = KernelResult.Baseline.unavailable(baselineName, oneLine(e));
                    }
                }
            }
            String remark = null;
            if (note != null) {
                try {
                    remark = note.get();
                } catch (RuntimeException e) {
                    remark = "comparison with the baseline failed: " + oneLine(e);
                }
            }
            result = new KernelResult(op, shape, dims, cost, t, base, remark, null);
        } catch (RuntimeException | LinkageError e) {
            result = KernelResult.failed(op, shape, dims, cost, oneLine(e));
        }
        report.add(result);
        log.println(report.line(result));
    }

    private void measure(String op, String shape, String dims, OpCost cost, Work work) {
        measure(op, shape, dims, cost, work, null, null, null, null);
    }

    private static String oneLine(Throwable e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return m.strip().lines().findFirst().orElse(m);
    }

    // ================================================================= ViT shapes

    private void runVit(VitShape s, String name) {
        int b = s.batch(), n = s.tokens(), d = s.dim(), h = s.heads(), m = s.mlp(), c = s.classes();
        int rows = Math.toIntExact(s.rows());
        String rd = "R=" + rows + " D=" + d;
        try (Scope scope = new Scope()) {
            layerNorm(scope, name, rows, d, rd);
            gelu(scope, name, rows, m, "R=" + rows + " M=" + m);
            attention(scope, s, name);
            softmaxOps(scope, name, b * h * n, n, "rows=B*H*N=" + (b * h * n) + " cols=N=" + n);
            linear(scope, name, rows, d, 3 * d, rd + " -> 3D");
            patchEmbed(scope, s, name);
            crossEntropy(scope, name, b, c);
            add(scope, name, rows, d, rd);
            adamw(scope, name, Math.toIntExact(s.parameters()));
        }
    }

    private void runLarge() {
        String name = LARGE;
        int rows = LARGE_ROWS, cols = LARGE_COLS;
        String dims = "R=" + rows + " D=" + cols;
        try (Scope scope = new Scope()) {
            layerNorm(scope, name, rows, cols, dims);
        }
        try (Scope scope = new Scope()) {
            gelu(scope, name, rows, cols, "n=" + (long) rows * cols);
        }
        try (Scope scope = new Scope()) {
            softmaxOps(scope, name, rows, cols, "rows=" + rows + " cols=" + cols);
        }
        try (Scope scope = new Scope()) {
            add(scope, name, rows, cols, "n=" + (long) rows * cols);
        }
        try (Scope scope = new Scope()) {
            adamw(scope, name, rows * cols);
        }
        try (Scope scope = new Scope()) {
            crossEntropy(scope, name, rows, LARGE_CLASSES);
        }
        try (Scope scope = new Scope()) {
            attention(scope, VitShape.VIT_BASE_384, name + " " + VitShape.VIT_BASE_384.name());
        }
    }

    private void layerNorm(Scope scope, String shape, int rows, int d, String dims) {
        if (!selected("layernorm.forward") && !selected("layernorm.backward")) {
            return;
        }
        Tensor x = scope.random(rows, d), gamma = scope.random(d), beta = scope.random(d);
        Tensor y = scope.zeros(rows, d), mean = scope.zeros(rows), rstd = scope.zeros(rows);
        Tensor dy = scope.random(rows, d), dx = scope.zeros(rows, d), dGamma = scope.zeros(d), dBeta = scope.zeros(d);
        Runnable forward = () -> backend.layerNormForward(x, gamma, beta, LN_EPS, y, mean, rstd);
        measure("layernorm.forward", shape, dims, OpCost.layerNormForward(rows, d), new Work(null, forward));
        forward.run();   // the statistics the backward reads
        measure("layernorm.backward", shape, dims, OpCost.layerNormBackward(rows, d),
                new Work(null, () -> backend.layerNormBackward(dy, x, gamma, mean, rstd, dx, dGamma, dBeta)));
    }

    private void gelu(Scope scope, String shape, int rows, int m, String dims) {
        if (!selected("gelu.forward") && !selected("gelu.backward")) {
            return;
        }
        Tensor x = scope.random(rows, m), y = scope.zeros(rows, m), dy = scope.random(rows, m), dx = scope.zeros(rows, m);
        long elems = (long) rows * m;
        measure("gelu.forward", shape, dims, OpCost.geluForward(elems), new Work(null, () -> backend.geluForward(x, y)));
        measure("gelu.backward", shape, dims, OpCost.geluBackward(elems),
                new Work(null, () -> backend.geluBackward(dy, x, dx)));
    }

    /** The fused kernel against the unfused cuBLAS + softmax path, with the two compared. */
    private void attention(Scope scope, VitShape s, String shape) {
        if (!selected("attention.")) {
            return;
        }
        int b = s.batch(), n = s.tokens(), d = s.dim(), h = s.heads(), hd = s.headDim();
        String dims = s.label();
        Tensor qkv = scope.random(b, n, 3 * d), out = scope.zeros(b, n, d), lse = scope.zeros(b, h, n);
        Tensor dout = scope.random(b, n, d), dqkv = scope.zeros(b, n, 3 * d);
        Runnable forward = () -> backend.attentionForward(qkv, h, out, lse);
        Runnable backward = () -> backend.attentionBackward(dout, qkv, out, lse, h, dqkv);

        UnfusedAttention unfused = null;
        String unavailable = null;
        if (settings.baselines()) {
            try {
                unfused = scope.own(new UnfusedAttention(backend, cublas, b, n, h, hd));
                // the same inputs, in the head-major layout the unfused path reads
                float[] host = backend.toArray(qkv);
                for (int part = 0; part < 3; part++) {
                    Tensor dst = part == 0 ? unfused.q() : part == 1 ? unfused.k() : unfused.v();
                    backend.upload(headMajor(host, b, n, h, hd, 3 * d, part * d), dst);
                }
                backend.upload(headMajor(backend.toArray(dout), b, n, h, hd, d, 0), unfused.dOut());
            } catch (RuntimeException e) {
                unavailable = oneLine(e);   // e.g. out of memory for the N x N matrices
                unfused = null;
            }
        }
        UnfusedAttention base = unfused;
        String baseName = "unfused cuBLAS+softmax";
        Work fusedForward = new Work(null, forward);
        Work fusedBackward = new Work(null, backward);
        Work fusedBoth = new Work(null, () -> {
            forward.run();
            backward.run();
        });
        OpCost fwd = OpCost.attentionForward(b, n, d, h), bwd = OpCost.attentionBackward(b, n, d, h);
        boolean tf32 = settings.tf32();
        measure("attention.forward", shape, dims, fwd, fusedForward, baseName,
                base == null ? null : new Work(null, base::forward), unavailable,
                base == null ? null : () -> compare("out", backend.toArray(out), fromHeadMajor(
                        backend.toArray(base.out()), b, n, h, hd), tf32));
        forward.run();
        if (base != null) {
            base.forward();
        }
        measure("attention.backward", shape, dims, bwd, fusedBackward, baseName,
                base == null ? null : new Work(null, base::backward), unavailable,
                base == null ? null : () -> {
                    float[] fused = backend.toArray(dqkv);
                    float[] mine = new float[fused.length];
                    scatterHeadMajor(backend.toArray(base.dq()), mine, b, n, h, hd, 3 * d, 0);
                    scatterHeadMajor(backend.toArray(base.dk()), mine, b, n, h, hd, 3 * d, d);
                    scatterHeadMajor(backend.toArray(base.dv()), mine, b, n, h, hd, 3 * d, 2 * d);
                    return compare("dqkv", fused, mine, tf32);
                });
        measure("attention.forward+backward", shape, dims, fwd.plus(bwd), fusedBoth, baseName,
                base == null ? null : new Work(null, () -> {
                    base.forward();
                    base.backward();
                }), unavailable, null);
    }

    /** Columns {@code [offset, offset + D)} of {@code src[B, N, width]} as {@code [B*H, N, hd]}. */
    static float[] headMajor(float[] src, int b, int n, int h, int hd, int width, int offset) {
        float[] out = new float[b * h * n * hd];
        for (int i = 0; i < b; i++) {
            for (int t = 0; t < n; t++) {
                for (int head = 0; head < h; head++) {
                    System.arraycopy(src, (i * n + t) * width + offset + head * hd, out, ((i * h + head) * n + t) * hd, hd);
                }
            }
        }
        return out;
    }

    /** {@code [B*H, N, hd]} back to {@code [B, N, H*hd]}. */
    static float[] fromHeadMajor(float[] src, int b, int n, int h, int hd) {
        float[] out = new float[b * n * h * hd];
        scatterHeadMajor(src, out, b, n, h, hd, h * hd, 0);
        return out;
    }

    static void scatterHeadMajor(float[] src, float[] dst, int b, int n, int h, int hd, int width, int offset) {
        for (int i = 0; i < b; i++) {
            for (int t = 0; t < n; t++) {
                for (int head = 0; head < h; head++) {
                    System.arraycopy(src, ((i * h + head) * n + t) * hd, dst, (i * n + t) * width + offset + head * hd, hd);
                }
            }
        }
    }

    /** Max |a - b| relative to max |a|: the unfused path must compute the same thing as the fused one. */
    static String compare(String what, float[] expected, float[] actual, boolean tf32) {
        double maxDiff = 0, maxAbs = 0;
        for (int i = 0; i < expected.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs((double) expected[i] - actual[i]));
            maxAbs = Math.max(maxAbs, Math.abs(expected[i]));
        }
        double rel = maxDiff / Math.max(maxAbs, 1e-30);
        double tolerance = tf32 ? 2e-2 : 1e-4;
        return String.format(Locale.ROOT, "unfused %s %s the fused kernel's: max |diff| / max |value| = %.1e%s",
                what, rel <= tolerance ? "matches" : "DIFFERS FROM", rel,
                rel <= tolerance ? "" : " (tolerance " + tolerance + ")");
    }

    private void softmaxOps(Scope scope, String shape, int rows, int cols, String dims) {
        if (!selected("softmax.")) {
            return;
        }
        Tensor x = scope.random(rows, cols), y = scope.zeros(rows, cols), dy = scope.random(rows, cols);
        Tensor dx = scope.zeros(rows, cols);
        Cudnn.Softmax ref = null;
        String unavailable = cudnnUnavailable;
        Tensor refY = null, refDx = null;
        if (cudnn != null && settings.baselines()) {
            try {
                ref = scope.own(cudnn.softmax(rows, cols));
                refY = scope.zeros(rows, cols);
                refDx = scope.zeros(rows, cols);
            } catch (RuntimeException | LinkageError e) {
                unavailable = oneLine(e);
            }
        }
        Cudnn.Softmax base = ref;
        Tensor baseY = refY, baseDx = refDx;
        measure("softmax.forward", shape, dims, OpCost.softmaxForward(rows, cols),
                new Work(null, () -> softmax.forward(x, y, 1f)), "cuDNN softmax",
                base == null ? null : new Work(null, () -> base.forward(x, baseY)), unavailable,
                base == null ? null : () -> compareNote("cuDNN", backend.toArray(y), backend.toArray(baseY)));
        softmax.forward(x, y, 1f);
        measure("softmax.backward", shape, dims, OpCost.softmaxBackward(rows, cols),
                new Work(null, () -> softmax.backward(y, dy, dx, 1f)), "cuDNN softmax",
                base == null ? null : new Work(null, () -> base.backward(y, dy, baseDx)), unavailable,
                base == null ? null : () -> compareNote("cuDNN", backend.toArray(dx), backend.toArray(baseDx)));
    }

    private static String compareNote(String who, float[] mine, float[] theirs) {
        double maxDiff = 0, maxAbs = 0;
        for (int i = 0; i < mine.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs((double) mine[i] - theirs[i]));
            maxAbs = Math.max(maxAbs, Math.abs(theirs[i]));
        }
        return String.format(Locale.ROOT, "vs %s: max |diff| / max |value| = %.1e", who,
                maxDiff / Math.max(maxAbs, 1e-30));
    }

    private void linear(Scope scope, String shape, int rows, int in, int out, String dims) {
        if (!selected("linear.")) {
            return;
        }
        Tensor x = scope.random(rows, in), w = scope.random(out, in), bias = scope.random(out), y = scope.zeros(rows, out);
        Tensor dy = scope.random(rows, out), dx = scope.zeros(rows, in), dw = scope.zeros(out, in), db = scope.zeros(out);
        measure("linear.forward", shape, dims, OpCost.linearForward(rows, in, out),
                new Work(null, () -> backend.linearForward(x, w, bias, y)));
        measure("linear.backward", shape, dims, OpCost.linearBackward(rows, in, out),
                new Work(null, () -> backend.linearBackward(dy, x, w, dx, dw, db)));
    }

    /** vit4j's patch embedding (patchify + GEMM + bias) against cuDNN's strided convolution. */
    private void patchEmbed(Scope scope, VitShape s, String shape) {
        if (!selected("patch_embed.forward")) {
            return;
        }
        int b = s.batch(), ch = s.channels(), size = s.imageSize(), p = s.patch(), d = s.dim();
        int patches = (size / p) * (size / p), k = ch * p * p;
        Tensor images = scope.random(b, ch, size, size), cols = scope.zeros(b, patches, k);
        Tensor w = scope.random(d, k), bias = scope.random(d), tokens = scope.zeros(b, patches, d);
        Runnable mine = () -> {
            backend.patchifyForward(images, p, cols);
            backend.linearForward(cols, w, bias, tokens);
        };
        Cudnn.PatchConvolution conv = null;
        String unavailable = cudnnUnavailable;
        Tensor convOut = null;
        if (cudnn != null && settings.baselines()) {
            try {
                conv = scope.own(cudnn.patchConvolution(b, ch, size, p, d, settings.tf32()));
                convOut = scope.zeros(b, d, size / p, size / p);
            } catch (RuntimeException | LinkageError e) {
                unavailable = oneLine(e);
            }
        }
        Cudnn.PatchConvolution base = conv;
        Tensor baseOut = convOut;
        measure("patch_embed.forward", shape, "B=" + b + " " + size + "x" + size + "x" + ch + " p=" + p + " D=" + d,
                OpCost.patchEmbedForward(b, ch, size, p, d), new Work(null, mine), "cuDNN conv2d",
                base == null ? null : new Work(null, () -> base.forward(images, w, bias, baseOut)), unavailable,
                base == null ? null : () -> {
                    // cuDNN writes [B, D, g, g]; vit4j [B, g*g, D]
                    float[] theirs = backend.toArray(baseOut), ours = backend.toArray(tokens);
                    float[] theirsTokens = new float[ours.length];
                    for (int i = 0; i < b; i++) {
                        for (int c = 0; c < d; c++) {
                            for (int t = 0; t < patches; t++) {
                                theirsTokens[(i * patches + t) * d + c] = theirs[(i * d + c) * patches + t];
                            }
                        }
                    }
                    return compareNote("cuDNN (algo " + base.algorithm() + ")", ours, theirsTokens);
                });
    }

    private void crossEntropy(Scope scope, String shape, int batch, int classes) {
        if (!selected("cross_entropy.")) {
            return;
        }
        Tensor logits = scope.random(batch, classes), labels = scope.labels(batch, classes);
        Tensor losses = scope.zeros(batch), dlogits = scope.zeros(batch, classes);
        String dims = "B=" + batch + " C=" + classes;
        measure("cross_entropy.forward", shape, dims, OpCost.crossEntropyForward(batch, classes),
                new Work(null, () -> backend.crossEntropyForward(logits, labels, 0.1f, losses)));
        measure("cross_entropy.backward", shape, dims, OpCost.crossEntropyBackward(batch, classes),
                new Work(null, () -> backend.crossEntropyBackward(logits, labels, 0.1f, 1f / batch, dlogits)));
    }

    private void add(Scope scope, String shape, int rows, int cols, String dims) {
        if (!selected("residual_add")) {
            return;
        }
        Tensor a = scope.random(rows, cols), b = scope.random(rows, cols), out = scope.zeros(rows, cols);
        measure("residual_add", shape, dims, OpCost.add((long) rows * cols), new Work(null, () -> backend.add(a, b, out)));
    }

    /**
     * One AdamW update of P parameters as one flat tensor. AdamW zeroes the gradient it consumed,
     * so a fixed random gradient is copied back in before each run, outside the timed region.
     */
    private void adamw(Scope scope, String shape, int params) {
        if (!selected("adamw.step")) {
            return;
        }
        Tensor p = scope.random(params), g0 = scope.random(params), g = scope.zeros(params);
        Tensor m = scope.random(params), v = scope.zeros(params);
        backend.fill(v, 1e-4f);   // a second moment is positive
        int[] step = {0};
        measure("adamw.step", shape, "P=" + params, OpCost.adamwStep(params),
                new Work(() -> backend.copy(g0, g),
                        () -> backend.adamwStep(p, g, m, v, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.05f, ++step[0])));
    }

    // ================================================================= context

    private static jcuda.driver.CUdeviceptr ptr(Tensor t) {
        return ((CudaTensor) t).pointer();
    }

    private Map<String, Object> deviceJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", device.name());
        m.put("emulated", device.emulated());
        m.put("computeCapability", device.computeCapability());
        m.put("memoryBytes", device.totalMemory());
        m.put("multiprocessors", DeviceAttributes.multiprocessors(device));
        m.put("l2Bytes", DeviceAttributes.l2CacheBytes(device));
        m.put("driverCudaVersion", device.driverVersion());
        m.put("nvrtc", KernelLibrary.nvrtcVersionString());
        m.put("cudnn", cudnn != null ? cudnn.version() : null);
        m.put("description", backend.description());
        return m;
    }

    private Map<String, Object> settingsJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("warmup", settings.warmup());
        m.put("runs", settings.runs());
        m.put("seed", settings.seed());
        m.put("tf32", settings.tf32());
        m.put("shapes", settings.shapes());
        m.put("ops", settings.ops().pattern());
        m.put("baselines", settings.baselines());
        m.put("l2FlushBytes", flushBytes);
        m.put("java", System.getProperty("java.vm.name") + " " + Runtime.version());
        return m;
    }

    @Override
    public void close() {
        try {
            backend.synchronize();
        } finally {
            try {
                if (cudnn != null) {
                    cudnn.close();
                }
            } finally {
                flush.close();
                timer.close();
                cublas.close();
            }
        }
    }
}
