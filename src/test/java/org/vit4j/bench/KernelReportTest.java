package org.vit4j.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The kernel runner's table and JSON, from made-up results (the measuring needs a GPU). */
class KernelReportTest {
    @TempDir
    Path tmp;

    /** Peaks of 2000 GB/s, 50 TFLOP/s FP32, 400 TF32. */
    private static KernelReport report() {
        KernelReport r = new KernelReport(Map.of("name", "Test GPU"), Map.of("runs", 50),
                new Peaks(2000, 50, 400, 2L << 30, 8192), false);
        // 1 GB of compulsory traffic in 625 us: 1600 GB/s, 80% of the copy peak
        r.add(new KernelResult("layernorm.forward", "large", "R=65536 D=1024", new OpCost(0, 1e9, OpCost.Bound.MEMORY),
                new Stats(625, 620, 640, 619, 50), null, null, null));
        // 10 GFLOP in 1000 us: 10 TFLOP/s, 20% of 50; the baseline takes 2500 us: 2.5x
        r.add(new KernelResult("attention.forward", "vit-tiny-224", "B=128 N=197 D=192 H=3",
                new OpCost(1e10, 1e8, OpCost.Bound.COMPUTE), new Stats(1000, 990, 1010, 985, 50),
                new KernelResult.Baseline("unfused cuBLAS+softmax", new Stats(2500, 2400, 2600, 2390, 50), null),
                "unfused out matches", null));
        r.add(new KernelResult("softmax.forward", "large", "rows=65536 cols=1024", new OpCost(0, 5e8, OpCost.Bound.MEMORY),
                new Stats(300, 290, 310, 289, 50), KernelResult.Baseline.unavailable("cuDNN softmax",
                "cuDNN is not usable here: libcudnn.so.9: cannot open shared object file"), null, null));
        r.add(KernelResult.failed("attention.backward", "large", "B=32 N=577", new OpCost(1, 1, OpCost.Bound.COMPUTE),
                "out of memory"));
        return r;
    }

    @Test
    void tableShowsRatesPercentagesAndSpeedups() {
        String t = report().table();
        String[] lines = t.split("\n");
        assertTrue(lines[0].startsWith("op "), t);
        assertTrue(lines[1].startsWith("---"), t);
        String ln = lines[2];
        assertTrue(ln.contains("layernorm.forward") && ln.contains("625.0") && ln.contains("620.0-640.0")
                && ln.contains("1600 GB/s") && ln.contains("80.0%"), ln);
        String attn = lines[3];
        assertTrue(attn.contains("10.00 TFLOP/s") && attn.contains("20.0%") && attn.contains("unfused cuBLAS+softmax")
                && attn.contains("2500") && attn.contains("2.50x"), attn);
        assertTrue(lines[4].contains("cuDNN softmax") && lines[4].contains("n/a"), lines[4]);
        assertTrue(lines[5].contains("failed"), lines[5]);
        assertTrue(t.contains("notes:"), t);
        assertTrue(t.contains("cuDNN softmax unavailable: cuDNN is not usable here"), t);
        assertTrue(t.contains("attention.backward @ large: error: out of memory"), t);
        // every column starts at the same offset on every line: the header's
        int col = lines[0].indexOf("median us");
        assertEquals(' ', lines[2].charAt(col - 1));
    }

    @Test
    void tf32ReadsComputeAgainstTheTf32Peak() {
        KernelReport r = new KernelReport(Map.of(), Map.of(), new Peaks(2000, 50, 400, 1, 1), true);
        KernelResult x = new KernelResult("linear.forward", "s", "d", new OpCost(4e10, 0, OpCost.Bound.COMPUTE),
                new Stats(1000, 1000, 1000, 1000, 1), null, null, null);
        r.add(x);
        assertTrue(r.table().contains("10.0%"), r.table());   // 40 TFLOP/s of 400
        assertEquals(10, new Peaks(2000, 50, 400, 1, 1).percent(OpCost.Bound.COMPUTE, 40, true), 1e-9);
        assertEquals(80, new Peaks(2000, 50, 400, 1, 1).percent(OpCost.Bound.COMPUTE, 40, false), 1e-9);
    }

    @Test
    void jsonHasEveryFieldSideBySideReads() throws Exception {
        Path file = tmp.resolve("out/kernels.json");
        report().writeJson(file);
        JsonNode root = new ObjectMapper().readTree(file.toFile());
        assertEquals("vit4j", root.get("tool").asText());
        assertEquals("kernels", root.get("kind").asText());
        assertEquals("Test GPU", root.get("device").get("name").asText());
        assertEquals(2000, root.get("peaks").get("copyGBs").asDouble());
        JsonNode results = root.get("results");
        assertEquals(4, results.size());
        JsonNode ln = results.get(0);
        assertEquals("layernorm.forward", ln.get("op").asText());
        assertEquals("large", ln.get("shape").asText());
        assertEquals(625, ln.get("medianUs").asDouble());
        assertEquals(1600, ln.get("rate").asDouble(), 1e-9);
        assertEquals("GB/s", ln.get("rateUnit").asText());
        assertEquals(80, ln.get("percentOfPeak").asDouble(), 1e-9);
        assertEquals("memory", ln.get("bound").asText());
        assertFalse(ln.has("baseline"));
        JsonNode attn = results.get(1);
        assertEquals(2500, attn.get("baseline").get("medianUs").asDouble());
        assertEquals(2.5, attn.get("speedup").asDouble(), 1e-12);
        assertEquals("unfused out matches", attn.get("note").asText());
        JsonNode sm = results.get(2);
        assertTrue(sm.get("baseline").get("unavailable").asText().contains("libcudnn.so.9"));
        assertTrue(sm.get("speedup").isNull());
        assertEquals("out of memory", results.get(3).get("error").asText());
        assertFalse(results.get(3).has("medianUs"));
    }

    /** On the CUDA emulator: every time labelled emulated, no rate, percentage or speed-up, no peaks in the JSON. */
    @Test
    void emulatedTimesAreLabelledAndComparedWithNothing() throws Exception {
        KernelReport r = new KernelReport(Map.of("name", "vit4j emulated GPU (CPU, 2 workers)"), Map.of("runs", 5),
                new Peaks(0.5, 0.001, 0.001, 128L << 20, 1024), false, true);
        KernelReport real = report();
        real.results().forEach(r::add);
        assertTrue(r.emulated());
        assertFalse(real.emulated());
        assertTrue(r.peaksLine().startsWith("EMULATED device: no peaks"), r.peaksLine());
        assertFalse(r.peaksLine().contains("GB/s") || r.peaksLine().contains("TFLOP/s"), r.peaksLine());
        String t = r.table();
        String[] lines = t.split("\n");
        assertTrue(lines[0].startsWith("EMULATED device: times measured on the CPU"), t);
        assertTrue(lines[1].contains("emulated us") && lines[1].contains("emulated base us"), lines[1]);
        for (int i = 3; i <= 5; i++) {   // the three timed rows
            assertTrue(lines[i].contains("emulated"), lines[i]);
            assertFalse(lines[i].contains("%") || lines[i].contains("GB/s") || lines[i].contains("TFLOP/s")
                    || lines[i].contains("2.50x"), lines[i]);
        }
        assertTrue(lines[3].contains("625.0"), lines[3]);   // the time itself is shown
        assertTrue(r.line(r.results().get(1)).contains("emulated"), r.line(r.results().get(1)));

        Path file = tmp.resolve("emulated.json");
        r.writeJson(file);
        JsonNode root = new ObjectMapper().readTree(file.toFile());
        assertTrue(root.get("emulated").asBoolean());
        assertTrue(root.get("peaks").isNull());
        for (JsonNode row : root.get("results")) {
            assertTrue(row.get("emulated").asBoolean(), row.toString());
            assertFalse(row.has("rate") || row.has("percentOfPeak"), row.toString());
            assertTrue(!row.has("speedup") || row.get("speedup").isNull(), row.toString());
        }
        assertEquals(625, root.get("results").get(0).get("medianUs").asDouble());
        assertEquals(2500, root.get("results").get(1).get("baseline").get("medianUs").asDouble());
        // a real report has no such flag
        real.writeJson(file);
        assertFalse(new ObjectMapper().readTree(file.toFile()).has("emulated"));
    }

    @Test
    void numbersKeepThreeSignificantDigits() {
        assertEquals("1.23", KernelReport.num(1.234));
        assertEquals("12.35", KernelReport.num(12.345));
        assertEquals("123.5", KernelReport.num(123.45));
        assertEquals("12346", KernelReport.num(12345.6));
        assertEquals("1.0 GiB", KernelReport.bytes(1L << 30));
        assertEquals("100 MiB", KernelReport.bytes(100L << 20));
    }
}
