package org.vit4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** Loads the real MNIST files when the shared data folder is present (skipped otherwise). */
class RealMnistTest {
    private static final Path DIR = Path.of("..", "shared", "data", "mnist");

    @Test
    void loadsRealMnist() throws IOException {
        assumeTrue(Files.isDirectory(DIR), "no real MNIST at " + DIR.toAbsolutePath());
        Dataset train = Mnist.load(DIR, true, "mnist");
        assertEquals(60000, train.size());
        assertEquals(28, train.height());
        assertEquals(28, train.width());
        assertArrayEquals(new int[] {5, 0, 4, 1, 9}, Arrays.copyOf(train.labels(), 5));
        Dataset test = Mnist.load(DIR, false, "mnist");
        assertEquals(10000, test.size());
        assertArrayEquals(new int[] {7, 2, 1, 0, 4}, Arrays.copyOf(test.labels(), 5));
        // The well-known statistics come out of the pixels we read.
        Normalization stats = Normalization.of(train);
        assertEquals(0.1307, stats.mean(0), 5e-4);
        assertEquals(0.3081, stats.std(0), 5e-4);
    }
}
