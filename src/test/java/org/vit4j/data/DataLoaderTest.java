package org.vit4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class DataLoaderTest {
    private static final int C = 3;
    private static final int H = 5;
    private static final int W = 6;
    private static final Normalization NORM =
            new Normalization(new float[] {0.5f, 0.25f, 0.1f}, new float[] {0.2f, 0.3f, 0.4f});

    /** n images with label = index, pixels from a fixed pattern. */
    static Dataset dataset(int n) {
        int[] labels = IntStream.range(0, n).toArray();
        List<String> classes = IntStream.range(0, n).mapToObj(Integer::toString).collect(Collectors.toList());
        return new Dataset("test", C, H, W, TestFiles.pattern(n * C * H * W, 7), labels, classes, NORM);
    }

    private static List<Batch> drain(Iterator<Batch> it) {
        List<Batch> out = new ArrayList<>();
        while (it.hasNext()) {
            out.add(it.next());
        }
        assertThrows(java.util.NoSuchElementException.class, it::next);
        return out;
    }

    private static int[] labelsOf(List<Batch> batches) {
        return batches.stream().flatMapToInt(b -> Arrays.stream(b.labels())).toArray();
    }

    private static float normalised(byte pixel, int c) {
        return ((pixel & 0xFF) / 255f - NORM.mean(c)) / NORM.std(c);
    }

    @Test
    void everyExampleOncePerEpochWithPartialLastBatch() {
        Dataset ds = dataset(10);
        try (DataLoader loader = DataLoader.builder(ds).batchSize(4).shuffle(true).seed(42).build()) {
            assertEquals(3, loader.batchesPerEpoch());
            for (int epoch = 0; epoch < 3; epoch++) {
                List<Batch> batches = drain(loader.epoch(epoch));
                assertEquals(List.of(4, 4, 2), batches.stream().map(Batch::size).collect(Collectors.toList()));
                int[] seen = labelsOf(batches);
                assertArrayEquals(loader.order(epoch), seen);
                int[] sorted = seen.clone();
                Arrays.sort(sorted);
                assertArrayEquals(IntStream.range(0, 10).toArray(), sorted);
                assertEquals(2 * C * H * W, batches.get(2).images().length);
            }
        }
    }

    @Test
    void dropLastDropsThePartialBatch() {
        try (DataLoader loader = DataLoader.builder(dataset(10)).batchSize(4).shuffle(true).dropLast(true).seed(1).build()) {
            assertEquals(2, loader.batchesPerEpoch());
            List<Batch> batches = drain(loader.epoch(0));
            assertEquals(2, batches.size());
            assertEquals(8, new HashSet<>(Arrays.stream(labelsOf(batches)).boxed().toList()).size());
        }
        try (DataLoader loader = DataLoader.builder(dataset(3)).batchSize(4).dropLast(true).seed(1).build()) {
            assertEquals(0, loader.batchesPerEpoch());
            assertFalse(loader.epoch(0).hasNext());
        }
    }

    @Test
    void orderDependsOnlyOnSeedAndEpoch() {
        Dataset ds = dataset(50);
        try (DataLoader a = DataLoader.builder(ds).batchSize(8).shuffle(true).augment(true).seed(123).build();
                DataLoader b = DataLoader.builder(ds).batchSize(8).shuffle(true).augment(true).seed(123).build();
                DataLoader other = DataLoader.builder(ds).batchSize(8).shuffle(true).augment(true).seed(124).build()) {
            // b skips epochs 0..4, like a resumed run: epoch 5 must match exactly, pixels included.
            drain(a.epoch(0));
            List<Batch> fromA = drain(a.epoch(5));
            List<Batch> fromB = drain(b.epoch(5));
            assertEquals(fromA.size(), fromB.size());
            for (int i = 0; i < fromA.size(); i++) {
                assertArrayEquals(fromA.get(i).labels(), fromB.get(i).labels());
                assertArrayEquals(fromA.get(i).images(), fromB.get(i).images());
            }
            assertFalse(Arrays.equals(a.order(5), a.order(6)), "epochs should be shuffled differently");
            assertFalse(Arrays.equals(a.order(5), other.order(5)), "seeds should shuffle differently");
            assertFalse(Arrays.equals(drain(a.epoch(6)).get(0).images(), fromA.get(0).images()));
        }
    }

    @Test
    void withoutShuffleTheOrderIsTheDatasetOrder() {
        try (DataLoader loader = DataLoader.builder(dataset(7)).batchSize(3).seed(9).build()) {
            assertArrayEquals(IntStream.range(0, 7).toArray(), labelsOf(drain(loader.epoch(4))));
        }
    }

    @Test
    void imagesAreNormalisedPerChannel() {
        Dataset ds = dataset(5);
        try (DataLoader loader = DataLoader.builder(ds).batchSize(2).shuffle(true).seed(5).build()) {
            int img = C * H * W;
            for (Batch b : drain(loader.epoch(0))) {
                for (int j = 0; j < b.size(); j++) {
                    int example = b.labels()[j];
                    for (int c = 0; c < C; c++) {
                        for (int p = 0; p < H * W; p++) {
                            byte raw = ds.pixels()[example * img + c * H * W + p];
                            assertEquals(normalised(raw, c), b.images()[j * img + c * H * W + p], 1e-6f);
                        }
                    }
                }
            }
        }
    }

    @Test
    void iteratorMatchesSynchronousBatchesAndCanResumeMidEpoch() {
        try (DataLoader loader = DataLoader.builder(dataset(20)).batchSize(6).shuffle(true).augment(true).seed(77).build()) {
            List<Batch> all = drain(loader.epoch(3));
            for (int i = 0; i < all.size(); i++) {
                Batch sync = loader.batch(3, i);
                assertArrayEquals(all.get(i).images(), sync.images());
                assertArrayEquals(all.get(i).labels(), sync.labels());
            }
            List<Batch> resumed = drain(loader.epoch(3, 2));
            assertEquals(2, resumed.size());
            assertArrayEquals(all.get(2).images(), resumed.get(0).images());
            assertArrayEquals(all.get(3).labels(), resumed.get(1).labels());
        }
    }

    /**
     * Every augmented image must be some crop (offset -4..4 in each direction, zero padded) of its
     * source, optionally mirrored; over many examples several offsets and both flips must occur.
     */
    @Test
    void augmentationIsAPaddedCropAndFlip() {
        int n = 64;
        Dataset ds = dataset(n);
        Set<String> seen = new HashSet<>();
        try (DataLoader loader = DataLoader.builder(ds).batchSize(16).shuffle(true).augment(true).seed(3).build()) {
            for (Batch b : drain(loader.epoch(1))) {
                for (int j = 0; j < b.size(); j++) {
                    float[] out = Arrays.copyOfRange(b.images(), j * C * H * W, (j + 1) * C * H * W);
                    String match = findTransform(ds, b.labels()[j], out);
                    assertNotNull(match, "augmented example " + b.labels()[j] + " is no padded crop/flip of it");
                    seen.add(match);
                }
            }
        }
        assertTrue(seen.size() > 10, "expected varied crops, saw " + seen);
        assertTrue(seen.stream().anyMatch(s -> s.endsWith("flip")));
        assertTrue(seen.stream().anyMatch(s -> s.endsWith("noflip")));
    }

    private static String findTransform(Dataset ds, int example, float[] out) {
        int img = C * H * W;
        for (int dy = -4; dy <= 4; dy++) {
            for (int dx = -4; dx <= 4; dx++) {
                for (boolean flip : new boolean[] {false, true}) {
                    boolean ok = true;
                    for (int c = 0; c < C && ok; c++) {
                        for (int y = 0; y < H && ok; y++) {
                            for (int x = 0; x < W && ok; x++) {
                                int sy = y + dy;
                                int sx = (flip ? W - 1 - x : x) + dx;
                                // torchvision semantics: pad the raw image with 0, then normalise.
                                byte raw = sy < 0 || sy >= H || sx < 0 || sx >= W ? 0
                                        : ds.pixels()[example * img + c * H * W + sy * W + sx];
                                ok = out[c * H * W + y * W + x] == normalised(raw, c);
                            }
                        }
                    }
                    if (ok) {
                        return dy + "," + dx + "," + (flip ? "flip" : "noflip");
                    }
                }
            }
        }
        return null;
    }

    @Test
    void paddingIsRawZeroNormalised() {
        // All-white images: any padded pixel is (0 - mean) / std, distinct from white's value.
        byte[] px = new byte[32 * C * H * W];
        Arrays.fill(px, (byte) 255);
        Dataset ds = new Dataset("white", C, H, W, px, new int[32], List.of("x"), NORM);
        boolean sawPadding = false;
        try (DataLoader loader = DataLoader.builder(ds).batchSize(32).augment(true).seed(11).build()) {
            float[] images = loader.batch(0, 0).images();
            for (int i = 0; i < images.length; i++) {
                int c = (i / (H * W)) % C;
                float pad = -NORM.mean(c) / NORM.std(c);
                float white = (1f - NORM.mean(c)) / NORM.std(c);
                assertTrue(images[i] == pad || images[i] == white, "value " + images[i]);
                sawPadding |= images[i] == pad;
            }
        }
        assertTrue(sawPadding);
    }

    @Test
    void workerExceptionsReachTheConsumer() {
        try (DataLoader loader = DataLoader.builder(dataset(10)).batchSize(2).shuffle(true).build()) {
            loader.setBeforeBatchHook(i -> {
                if (i == 2) {
                    throw new IllegalStateException("boom at batch " + i);
                }
            });
            Iterator<Batch> it = loader.epoch(0);
            assertNotNull(it.next());
            assertNotNull(it.next());
            DataLoader.DataLoaderException e = assertThrows(DataLoader.DataLoaderException.class, it::hasNext);
            assertTrue(e.getCause() instanceof IllegalStateException);
            assertEquals("boom at batch 2", e.getCause().getMessage());
            assertTrue(e.getMessage().contains("batch 2 of epoch 0"), e.getMessage());
            assertFalse(it.hasNext());
        }
    }

    @Test
    void closeStopsTheWorkerThread() throws InterruptedException {
        DataLoader loader = DataLoader.builder(dataset(100)).batchSize(1).shuffle(true).build();
        Iterator<Batch> it = loader.epoch(0);
        assertTrue(it.hasNext());
        Thread worker = loader.workerThread();
        assertNotNull(worker);
        assertTrue(worker.isDaemon());
        // Let it fill the queue and block: it must not run ahead by more than PREFETCH batches.
        Thread.sleep(100);
        assertTrue(worker.isAlive());
        loader.close();
        assertFalse(worker.isAlive());
        assertNull(loader.workerThread());
        it.next(); // the batch already taken by hasNext() is still delivered
        assertThrows(IllegalStateException.class, it::hasNext);
        assertThrows(IllegalStateException.class, () -> loader.epoch(1));
        loader.close(); // idempotent
    }

    @Test
    void startingAnEpochStopsThePreviousOne() {
        try (DataLoader loader = DataLoader.builder(dataset(100)).batchSize(1).shuffle(true).build()) {
            Iterator<Batch> first = loader.epoch(0);
            assertTrue(first.hasNext());
            Thread firstWorker = loader.workerThread();
            Iterator<Batch> second = loader.epoch(1);
            assertFalse(firstWorker.isAlive());
            first.next();
            assertThrows(IllegalStateException.class, first::hasNext);
            assertEquals(100, drain(second).size());
        }
    }

    @Test
    void rejectsBadArguments() {
        Dataset ds = dataset(4);
        assertThrows(IllegalArgumentException.class, () -> DataLoader.builder(ds).batchSize(0).build());
        try (DataLoader loader = DataLoader.builder(ds).batchSize(2).build()) {
            assertThrows(IllegalArgumentException.class, () -> loader.epoch(-1));
            assertThrows(IllegalArgumentException.class, () -> loader.epoch(0, 3));
            assertThrows(IndexOutOfBoundsException.class, () -> loader.batch(0, 2));
        }
    }
}
