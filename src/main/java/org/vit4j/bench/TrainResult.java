package org.vit4j.bench;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * What {@code vit4j bench train} measured.
 *
 * @param model           preset name
 * @param dataset         the data set whose shape the synthetic batches have
 * @param backend         {@code cpu} or {@code cuda}
 * @param device          the backend's description (device, threads, BLAS, GEMM precision)
 * @param blas            the CPU backend's GEMMs ({@code JNIBLAS}: native, {@code VectorGemm}: vit4j's pure Java, {@code JavaBLAS});
 *                        null on other backends
 * @param config          the model's shape
 * @param parameters      parameter count
 * @param batchSize       images per step
 * @param warmup          untimed steps
 * @param steps           timed steps
 * @param stepMs          wall-clock milliseconds per real {@code Trainer.step}
 * @param imagesPerSecond images over the total time of the timed steps
 * @param phaseMs         milliseconds per phase (upload, forward, backward, optimizer), measured in separate, synchronised steps
 * @param firstLoss       loss of the first step (a sanity check: about ln(classes) at the start)
 * @param lastLoss        loss of the last timed step
 * @param flopsPerImage   FLOPs of one image's forward, loss and backward, as {@link TrainBench#flopsPerImage} counts them
 * @param flopsPerStep    FLOPs of one step: {@code batchSize * flopsPerImage} plus the AdamW update
 */
public record TrainResult(String model, String dataset, String backend, String device, String blas, String config,
                          long parameters, int batchSize, int warmup, int steps, Stats stepMs, double imagesPerSecond,
                          Map<String, Stats> phaseMs, double firstLoss, double lastLoss, double flopsPerImage,
                          double flopsPerStep) {

    /** The achieved rate over the timed steps: steps per second times {@link #flopsPerStep}, in GFLOP/s. */
    public double gflopsPerSecond() {
        return imagesPerSecond / batchSize * flopsPerStep / 1e9;
    }

    /** A few readable lines. */
    public String summary() {
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "%s, batch %d, %s%n", model, batchSize, device));
        s.append(String.format(Locale.ROOT, "  step      %8.2f ms median (p10 %.2f, p90 %.2f)   %.1f images/s, "
                        + "%.1f GFLOP/s (%.1f MFLOP per image)%n", stepMs.median(), stepMs.p10(), stepMs.p90(),
                imagesPerSecond, gflopsPerSecond(), flopsPerImage / 1e6));
        double sum = 0;
        StringBuilder parts = new StringBuilder();
        for (Map.Entry<String, Stats> e : phaseMs.entrySet()) {
            sum += e.getValue().median();
            parts.append(String.format(Locale.ROOT, "  %-9s %8.2f ms median (p10 %.2f, p90 %.2f)%n", e.getKey(),
                    e.getValue().median(), e.getValue().p10(), e.getValue().p90()));
        }
        s.append(parts);
        s.append(String.format(Locale.ROOT, "  phases   %9.2f ms in all (separate steps, each phase synchronised)%n", sum));
        s.append(String.format(Locale.ROOT, "  loss %.4f (first step) -> %.4f (last timed step)%n", firstLoss, lastLoss));
        return s.toString();
    }

    public Map<String, Object> toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("tool", "vit4j");
        m.put("kind", "train");
        m.put("date", java.time.OffsetDateTime.now().withNano(0).toString());
        m.put("model", model);
        m.put("dataset", dataset);
        m.put("backend", backend);
        m.put("device", device);
        m.put("blas", blas);
        m.put("config", config);
        m.put("parameters", parameters);
        m.put("batchSize", batchSize);
        m.put("warmupSteps", warmup);
        m.put("steps", steps);
        m.put("imagesPerSecond", imagesPerSecond);
        m.put("flopsPerImage", flopsPerImage);
        m.put("flopsPerStep", flopsPerStep);
        m.put("gflopsPerSecond", gflopsPerSecond());
        m.put("msPerStep", stats(stepMs));
        Map<String, Object> phases = new LinkedHashMap<>();
        phaseMs.forEach((k, v) -> phases.put(k, stats(v)));
        m.put("phasesMs", phases);
        m.put("firstLoss", firstLoss);
        m.put("lastLoss", lastLoss);
        m.put("java", System.getProperty("java.vm.name") + " " + Runtime.version());
        m.put("cpus", Runtime.getRuntime().availableProcessors());
        return m;
    }

    private static Map<String, Object> stats(Stats s) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("median", s.median());
        m.put("p10", s.p10());
        m.put("p90", s.p90());
        m.put("min", s.min());
        m.put("runs", s.runs());
        return m;
    }

    public void writeJson(Path file) throws IOException {
        KernelReport.writeJson(file, toJson());
    }
}
