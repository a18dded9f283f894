package org.vit4j.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A real safetensors file of 2.25 GiB written and read back (the sparse-file test in
 * SafeTensorsTest covers the reading side without disk): nine 256 MiB tensors produced one at a
 * time from one array, then the tensors past 2 GiB read back with a name filter, so the heap
 * holds a few hundred MiB. Skipped where the disk has less than three times the file free.
 */
class LargeFileTest {
    @TempDir
    Path dir;

    @Test
    void writesAndReadsAFileLargerThanTwoGibibytes() throws IOException {
        int n = 64 << 20;                                   // 256 MiB of floats per tensor
        int tensors = 9;
        assumeTrue(Files.getFileStore(dir).getUsableSpace() > 3L * tensors * 4 * n, "not enough free disk");
        float[] values = new float[n];
        for (int i = 0; i < n; i += 4099) {
            values[i] = i;
        }
        Map<String, SafeTensors.Source> t = new LinkedHashMap<>();
        for (int k = 0; k < tensors; k++) {
            t.put("t" + k, new SafeTensors.Deferred(new int[] {n / 1024, 1024}, () -> values));
        }
        t.put("tail", SafeTensors.Entry.i32(new int[] {2}, new int[] {42, -42}));
        Path file = dir.resolve("large.safetensors");
        long start = System.nanoTime();
        SafeTensors.write(file, t, Map.of("format", "test"));
        double writeSeconds = (System.nanoTime() - start) / 1e9;
        try {
            long size = Files.size(file);
            assertTrue(size > (9L << 28), "a file of " + size + " bytes");
            start = System.nanoTime();
            SafeTensors.Contents c = SafeTensors.read(file, name -> name.equals("t8") || name.equals("tail"));
            double readSeconds = (System.nanoTime() - start) / 1e9;
            float[] last = c.tensors().get("t8").floats();
            for (int i = 0; i < n; i += 4099) {
                assertEquals(i, last[i], 0f, "t8[" + i + "]");
            }
            assertEquals(-42, c.tensors().get("tail").ints()[1]);
            System.out.printf("LargeFileTest: wrote %.2f GiB in %.1f s, read the last 256 MiB past offset %d in %.1f s%n",
                    size / (double) (1L << 30), writeSeconds, 8L * 4 * n, readSeconds);
        } finally {
            Files.deleteIfExists(file);
        }
    }
}
