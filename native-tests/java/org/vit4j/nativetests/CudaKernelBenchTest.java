package org.vit4j.nativetests;

import org.junit.jupiter.api.Test;
import org.vit4j.backend.cuda.CudaBackend;
import org.vit4j.bench.KernelBench;
import org.vit4j.bench.KernelReport;
import org.vit4j.bench.KernelResult;

import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A short run of {@code vit4j bench kernels} (the mnist-tutorial shapes, 5 runs): every op timed,
 * the peaks plausible (on the CUDA emulator instead: every time labelled emulated, no peaks or
 * speed-ups), the unfused attention baseline computing what the fused kernel does, and each cuDNN
 * baseline either timed or unavailable with its reason.
 */
class CudaKernelBenchTest {

    @Test
    void quickRunTimesEveryOpAndItsBaseline() {
        KernelReport report;
        try (CudaBackend backend = Gpu.open()) {
            report = KernelBench.run(backend, new KernelBench.Settings(2, 5, 0, false, List.of("mnist-tutorial"),
                    Pattern.compile(""), true, 64L << 20, 1024), System.out);
        }
        System.out.println(report.peaksLine());
        System.out.print(report.table());
        if (report.emulated()) {
            // the CUDA emulator: CPU times, labelled so and compared with nothing
            assertTrue(report.peaksLine().startsWith("EMULATED"), report.peaksLine());
            assertTrue(report.table().startsWith("EMULATED"), report.table());
            Map<String, Object> json = report.toJson();
            assertEquals(true, json.get("emulated"), json.toString());
            assertNull(json.get("peaks"), json.toString());
            for (Object row : (List<?>) json.get("results")) {
                Map<?, ?> r = (Map<?, ?>) row;
                assertEquals(true, r.get("emulated"), r.toString());
                assertFalse(r.containsKey("percentOfPeak") || r.get("speedup") != null, r.toString());
            }
        } else {
            assertTrue(report.peaks().copyGBs() > 50, report.peaksLine());
            assertTrue(report.peaks().sgemmTflops() > 0.5, report.peaksLine());
        }
        List<KernelResult> results = report.results();
        assertEquals(16, results.size(), report.table());
        for (KernelResult r : results) {
            assertNull(r.error(), r.op() + ": " + r.error());
            assertNotNull(r.timeUs(), r.op());
            assertTrue(r.timeUs().median() > 0 && Double.isFinite(r.rate()), r.op());
            if (r.baseline() != null) {
                assertTrue(r.baseline().timeUs() != null || r.baseline().unavailable() != null, r.op());
            }
        }
        for (String op : List.of("attention.forward", "attention.backward")) {
            KernelResult r = results.stream().filter(x -> x.op().equals(op)).findFirst().orElseThrow();
            assertNotNull(r.baseline().timeUs(), op + " unfused baseline: " + r.baseline().unavailable());
            assertTrue(r.note().contains("matches"), op + ": " + r.note());
        }
    }
}
