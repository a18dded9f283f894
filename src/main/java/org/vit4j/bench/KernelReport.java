package org.vit4j.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What {@code vit4j bench kernels} measured: the device, the settings, the measured peaks and
 * one {@link KernelResult} per op and shape; as a readable table and as JSON (the input of
 * {@code benchmarks/side_by_side.py}).
 *
 * <p>On the CUDA emulator ({@link #emulated()}) the times are the emulator's, on the CPU: the
 * table says so in its header and on every row, the JSON carries {@code "emulated": true} at the
 * top and in every result, and nothing is compared with anything (no achieved rate, percentage
 * of the peaks or speed-up over the baseline; the peaks line says they are not a GPU's).
 */
public final class KernelReport {
    private final Map<String, Object> device;
    private final Map<String, Object> settings;
    private final Peaks peaks;
    private final boolean tf32;
    private final boolean emulated;
    private final List<KernelResult> results = new ArrayList<>();

    public KernelReport(Map<String, Object> device, Map<String, Object> settings, Peaks peaks, boolean tf32) {
        this(device, settings, peaks, tf32, false);
    }

    /** {@code emulated}: measured on the CUDA emulator, whose times are not a GPU's. */
    public KernelReport(Map<String, Object> device, Map<String, Object> settings, Peaks peaks, boolean tf32,
                        boolean emulated) {
        this.device = new LinkedHashMap<>(device);
        this.settings = new LinkedHashMap<>(settings);
        this.peaks = peaks;
        this.tf32 = tf32;
        this.emulated = emulated;
    }

    /** Measured on the CUDA emulator: the times are the CPU's, compared with nothing. */
    public boolean emulated() {
        return emulated;
    }

    public void add(KernelResult r) {
        results.add(r);
    }

    public List<KernelResult> results() {
        return List.copyOf(results);
    }

    public Peaks peaks() {
        return peaks;
    }

    /** The peaks as one paragraph. */
    public String peaksLine() {
        if (emulated) {
            return String.format(Locale.ROOT,
                    "EMULATED device: no peaks (the copy and the SGEMM %d^3 ran on the emulator, %s read + write; "
                            + "its times are the CPU's, not a GPU's, and nothing is compared with them)",
                    peaks.gemmSize(), bytes(peaks.copyBytes()));
        }
        return String.format(Locale.ROOT,
                "peaks measured here: copy %.0f GB/s (%s read + write), SGEMM %d^3 FP32 %.1f TFLOP/s, TF32 %.1f TFLOP/s",
                peaks.copyGBs(), bytes(peaks.copyBytes()), peaks.gemmSize(), peaks.sgemmTflops(), peaks.tf32Tflops());
    }

    /** The results as an aligned table, one line per op and shape. */
    public String table() {
        TextTable t = new TextTable(headers());
        for (KernelResult r : results) {
            t.row(row(r));
        }
        StringBuilder notes = new StringBuilder();
        for (KernelResult r : results) {
            if (r.note() != null || r.error() != null
                    || (r.baseline() != null && r.baseline().unavailable() != null)) {
                notes.append("  ").append(r.op()).append(" @ ").append(r.shape()).append(": ");
                List<String> parts = new ArrayList<>();
                if (r.error() != null) {
                    parts.add("error: " + r.error());
                }
                if (r.baseline() != null && r.baseline().unavailable() != null) {
                    parts.add(r.baseline().name() + " unavailable: " + r.baseline().unavailable());
                }
                if (r.note() != null) {
                    parts.add(r.note());
                }
                notes.append(String.join("; ", parts)).append('\n');
            }
        }
        String header = emulated ? "EMULATED device: times measured on the CPU by the CUDA emulator, not on a GPU; "
                + "no rates, percentages of peak or speed-ups\n" : "";
        return header + t.render() + (notes.length() > 0 ? "notes:\n" + notes : "");
    }

    /** The table's columns; on the emulator the time columns say whose times they are. */
    String[] headers() {
        return emulated
                ? new String[] {"op", "shape", "dims", "emulated us", "emulated p10-p90", "achieved", "% peak",
                        "baseline", "emulated base us", "speed-up"}
                : new String[] {"op", "shape", "dims", "median us", "p10-p90 us", "achieved", "% peak",
                        "baseline", "base us", "speed-up"};
    }

    /** The cells of one table row (also printed as each result arrives). */
    Object[] row(KernelResult r) {
        String median = "-", spread = "-", achieved = "-", percent = "-";
        if (r.timeUs() != null) {
            median = num(r.timeUs().median());
            spread = num(r.timeUs().p10()) + "-" + num(r.timeUs().p90());
        }
        if (r.timeUs() != null && emulated) {
            achieved = "emulated";
        } else if (r.timeUs() != null) {
            achieved = String.format(Locale.ROOT, r.cost().bound() == OpCost.Bound.COMPUTE ? "%.2f %s" : "%.0f %s",
                    r.rate(), r.cost().bound().unit());
            double p = peaks.percent(r.cost().bound(), r.rate(), tf32);
            percent = Double.isNaN(p) ? "-" : String.format(Locale.ROOT, "%.1f%%", p);
        } else if (r.error() != null) {
            median = "failed";
        }
        String baseline = "", baseUs = "", speedup = "";
        if (r.baseline() != null) {
            baseline = r.baseline().name();
            baseUs = r.baseline().timeUs() != null ? num(r.baseline().timeUs().median()) : "n/a";
            speedup = emulated ? "-" : Double.isNaN(r.speedup()) ? "" : String.format(Locale.ROOT, "%.2fx", r.speedup());
        }
        return new Object[] {r.op(), r.shape(), r.dims(), median, spread, achieved, percent, baseline, baseUs, speedup};
    }

    /** One result as a table line with the header's columns, for progress output. */
    public String line(KernelResult r) {
        TextTable t = new TextTable(headers());
        t.row(row(r));
        String[] lines = t.render().split("\n");
        return lines[lines.length - 1];
    }

    /** Microseconds with 3 significant digits at least, no exponent. */
    static String num(double us) {
        if (us >= 1000) {
            return String.format(Locale.ROOT, "%.0f", us);
        }
        if (us >= 100) {
            return String.format(Locale.ROOT, "%.1f", us);
        }
        return String.format(Locale.ROOT, "%.2f", us);
    }

    static String bytes(long b) {
        return b >= 1L << 30 ? String.format(Locale.ROOT, "%.1f GiB", b / (double) (1L << 30))
                : String.format(Locale.ROOT, "%.0f MiB", b / (double) (1L << 20));
    }

    /** The report as JSON-ready maps and lists. */
    public Map<String, Object> toJson() {
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("tool", "vit4j");
        root.put("kind", "kernels");
        root.put("date", java.time.OffsetDateTime.now().withNano(0).toString());
        if (emulated) {
            // side_by_side.py refuses such a file: the emulator's times are compared with nothing
            root.put("emulated", true);
        }
        root.put("device", device);
        root.put("settings", settings);
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("copyGBs", peaks.copyGBs());
        p.put("copyBytes", peaks.copyBytes());
        p.put("sgemmTflops", peaks.sgemmTflops());
        p.put("tf32Tflops", peaks.tf32Tflops());
        p.put("gemmSize", peaks.gemmSize());
        root.put("peaks", emulated ? null : p);   // the emulator's copy and SGEMM times are no device's limits
        List<Object> rs = new ArrayList<>();
        for (KernelResult r : results) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("op", r.op());
            m.put("shape", r.shape());
            m.put("dims", r.dims());
            m.put("flops", r.cost().flops());
            m.put("bytes", r.cost().bytes());
            m.put("bound", r.cost().bound().name().toLowerCase(Locale.ROOT));
            if (emulated) {
                m.put("emulated", true);
            }
            if (r.timeUs() != null) {
                putStats(m, "", r.timeUs());
                if (!emulated) {
                    m.put("rate", r.rate());
                    m.put("rateUnit", r.cost().bound().unit());
                    m.put("percentOfPeak", finiteOrNull(peaks.percent(r.cost().bound(), r.rate(), tf32)));
                }
            }
            if (r.baseline() != null) {
                Map<String, Object> b = new LinkedHashMap<>();
                b.put("name", r.baseline().name());
                if (r.baseline().timeUs() != null) {
                    putStats(b, "", r.baseline().timeUs());
                }
                if (r.baseline().unavailable() != null) {
                    b.put("unavailable", r.baseline().unavailable());
                }
                m.put("baseline", b);
                m.put("speedup", emulated ? null : finiteOrNull(r.speedup()));
            }
            if (r.note() != null) {
                m.put("note", r.note());
            }
            if (r.error() != null) {
                m.put("error", r.error());
            }
            rs.add(m);
        }
        root.put("results", rs);
        return root;
    }

    private static void putStats(Map<String, Object> m, String prefix, Stats s) {
        m.put(prefix + "medianUs", s.median());
        m.put(prefix + "p10Us", s.p10());
        m.put(prefix + "p90Us", s.p90());
        m.put(prefix + "minUs", s.min());
        m.put(prefix + "runs", s.runs());
    }

    private static Double finiteOrNull(double v) {
        return Double.isFinite(v) ? v : null;
    }

    public void writeJson(Path file) throws IOException {
        writeJson(file, toJson());
    }

    /** Pretty-printed JSON, written whole at once ({@link org.vit4j.io.AtomicFile}). */
    static void writeJson(Path file, Map<String, Object> json) throws IOException {
        ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        Path abs = file.toAbsolutePath();
        if (abs.getParent() != null) {
            Files.createDirectories(abs.getParent());
        }
        // AtomicFile, not Files.createTempFile: the report gets the umask's permissions, not 0600.
        try (org.vit4j.io.AtomicFile out = org.vit4j.io.AtomicFile.open(abs)) {
            // Bytes, not writeValue(stream): Jackson would close the stream, and with it the channel, before the commit.
            java.nio.ByteBuffer bytes = java.nio.ByteBuffer.wrap(mapper.writeValueAsBytes(json));
            while (bytes.hasRemaining()) {
                out.channel().write(bytes);
            }
            out.commit();
        }
    }
}
