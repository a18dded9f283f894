package org.vit4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vit4j.data.MnistTest.assertMessage;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** --limit-train / --limit-test: seeded samples with each class in proportion, and image folders decode only those. */
class StratifiedSampleTest {
    @TempDir
    Path root;

    /** Labels sorted by class, as an image folder lists them: counts[c] images of class c. */
    private static int[] classSorted(int... counts) {
        int[] labels = new int[Arrays.stream(counts).sum()];
        int at = 0;
        for (int c = 0; c < counts.length; c++) {
            for (int i = 0; i < counts[c]; i++) {
                labels[at++] = c;
            }
        }
        return labels;
    }

    private static int[] perClass(int[] labels, int[] indices, int classes) {
        int[] n = new int[classes];
        for (int i : indices) {
            n[labels[i]]++;
        }
        return n;
    }

    @Test
    void eachClassGetsItsShareWithLargestRemainderRounding() {
        int[] labels = classSorted(50, 30, 20);
        assertArrayEquals(new int[] {5, 3, 2}, perClass(labels, new StratifiedSample(10, 0).indices(labels, 3), 3));
        // 3.5, 2.1 and 1.4: floors 3, 2, 1 and the one left over to the largest remainder, class 0
        assertArrayEquals(new int[] {4, 2, 1}, perClass(labels, new StratifiedSample(7, 0).indices(labels, 3), 3));
        // 29.5, 17.7, 11.8: 29 + 17 + 11 = 57, the remaining two to classes 1 and 2 (.7, .8 beat .5)
        assertArrayEquals(new int[] {29, 18, 12}, perClass(labels, new StratifiedSample(59, 3).indices(labels, 3), 3));
        // The first 10 of this split would all be class 0.
        int[] first = new int[10];
        Arrays.setAll(first, i -> i);
        assertArrayEquals(new int[] {10, 0, 0}, perClass(labels, first, 3));
        // A class absent from the split gets nothing; the sample still has its size.
        int[] gap = classSorted(6, 0, 4);
        assertArrayEquals(new int[] {3, 0, 2}, perClass(gap, new StratifiedSample(5, 1).indices(gap, 3), 3));
    }

    @Test
    void indicesAreDistinctIncreasingAndDeterministicForASeed() {
        int[] labels = classSorted(40, 25, 35);
        int[] a = new StratifiedSample(30, 7).indices(labels, 3);
        assertEquals(30, a.length);
        for (int i = 1; i < a.length; i++) {
            assertTrue(a[i] > a[i - 1], "increasing and distinct: " + Arrays.toString(a));
        }
        assertTrue(a[0] >= 0 && a[a.length - 1] < labels.length);
        assertArrayEquals(a, new StratifiedSample(30, 7).indices(labels, 3));
        int[] b = new StratifiedSample(30, 8).indices(labels, 3);
        assertFalse(Arrays.equals(a, b), "another seed, another sample");
        assertArrayEquals(perClass(labels, a, 3), perClass(labels, b, 3), "the same shares whatever the seed");
        // Not just the first images of each class.
        assertNotEquals(List.of(0, 1, 2), List.of(a[0], a[1], a[2]));
    }

    @Test
    void aSplitNoLargerThanTheSampleIsTakenWhole() {
        int[] labels = classSorted(3, 2);
        assertArrayEquals(new int[] {0, 1, 2, 3, 4}, new StratifiedSample(5, 0).indices(labels, 2));
        assertArrayEquals(new int[] {0, 1, 2, 3, 4}, new StratifiedSample(99, 0).indices(labels, 2));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new StratifiedSample(0, 0));
        assertEquals("a sample needs at least one image, got 0", e.getMessage());
    }

    @Test
    void equalRemaindersAreSharedOutBySeedNotByClassIndex() {
        int[] labels = classSorted(10, 10, 10, 10, 10, 10, 10, 10, 10, 10);
        Set<Set<Integer>> classSets = new HashSet<>();
        for (long seed = 0; seed < 8; seed++) {
            int[] n = perClass(labels, new StratifiedSample(5, seed).indices(labels, 10), 10);
            Set<Integer> covered = new HashSet<>();
            for (int c = 0; c < 10; c++) {
                assertTrue(n[c] <= 1, Arrays.toString(n));
                if (n[c] == 1) {
                    covered.add(c);
                }
            }
            assertEquals(5, covered.size());
            classSets.add(covered);
        }
        assertTrue(classSets.size() > 1, "the seed decides which five classes: " + classSets);
    }

    @Test
    void applyCopiesTheChosenRows() {
        int[] labels = classSorted(6, 4);
        byte[] pixels = TestFiles.pattern(labels.length * 2, 3);
        Dataset d = new Dataset("t", 1, 1, 2, pixels, labels, List.of("a", "b"), null);
        StratifiedSample sample = new StratifiedSample(5, 11);
        Dataset s = sample.apply(d);
        int[] idx = sample.indices(labels, 2);
        assertEquals(5, s.size());
        for (int i = 0; i < idx.length; i++) {
            assertEquals(labels[idx[i]], s.label(i));
            assertArrayEquals(Arrays.copyOfRange(pixels, 2 * idx[i], 2 * idx[i] + 2),
                    Arrays.copyOfRange(s.pixels(), 2 * i, 2 * i + 2));
        }
        assertEquals(d.normalization(), s.normalization(), "the split's statistics are kept");
        assertSame(d, new StratifiedSample(10, 0).apply(d), "nothing to drop: the same dataset");
    }

    @Test
    void warnsWhenTheSplitsCoverDifferentClasses() {
        List<String> names = List.of("cat", "dog", "fox");
        Dataset train = new Dataset("t", 1, 1, 1, new byte[2], new int[] {0, 1}, names, null);
        Dataset test = new Dataset("t", 1, 1, 1, new byte[3], new int[] {0, 1, 2}, names, null);
        assertEquals(Optional.of("the training images (2) cover 2 of the 3 classes and the test images (3) 3; tested "
                        + "but never trained: fox (raise --limit-train)"),
                StratifiedSample.coverageWarning(train, test, "--limit-train", "--limit-test"));
        assertEquals(Optional.of("the training images (3) cover 3 of the 3 classes and the test images (2) 2; trained "
                        + "but never tested: fox (raise --limit-test)"),
                StratifiedSample.coverageWarning(test, train, "--limit-train", "--limit-test"));
        assertEquals(Optional.empty(), StratifiedSample.coverageWarning(test, test, "--limit-train", "--limit-test"));
    }

    // ------------------------------------------------------------------ image folders

    /** root/train/a/00..09.png and root/train/b/00..09.png, each image its own colour; root/test likewise with 2 per class. */
    private void writeFolder() throws IOException {
        for (String split : List.of("train", "test")) {
            for (String cls : List.of("a", "b")) {
                for (int i = 0; i < (split.equals("train") ? 10 : 2); i++) {
                    Path f = root.resolve(split).resolve(cls).resolve(String.format("%02d.png", i));
                    Files.createDirectories(f.getParent());
                    ImageIO.write(ImageFolderTest.uniform((cls.equals("a") ? 0x100000 : 0x200000) + i, 2, 2), "png",
                            f.toFile());
                }
            }
        }
    }

    @Test
    void anImageFolderDecodesOnlyTheFilesTheSampleTakes() throws IOException {
        writeFolder();
        // train/a/03.png is not an image; the listing puts it at index 3 (a/00..a/09, then b/00..b/09).
        Path corrupt = root.resolve("train/a/03.png");
        Files.write(corrupt, "not a png".getBytes());
        int[] labels = classSorted(10, 10);
        Long without = null;
        Long with = null;
        for (long seed = 0; seed < 50 && (without == null || with == null); seed++) {
            boolean takesIt = Arrays.stream(new StratifiedSample(4, seed).indices(labels, 2)).anyMatch(i -> i == 3);
            if (takesIt && with == null) {
                with = seed;
            } else if (!takesIt && without == null) {
                without = seed;
            }
        }
        assertTrue(without != null && with != null);

        Dataset d = ImageFolder.load(root, true, null, false, new StratifiedSample(4, without));
        assertEquals(4, d.size());
        assertArrayEquals(new int[] {2, 2}, perClass(d.labels(), new int[] {0, 1, 2, 3}, 2));
        int[] idx = new StratifiedSample(4, without).indices(labels, 2);
        for (int i = 0; i < 4; i++) {
            // a uniform colour: red 0x10 (class a) or 0x20 (class b), blue the file's number
            int file = idx[i] % 10;
            assertEquals(file, d.pixels()[i * 12 + 8] & 0xFF, "image " + i + " is file " + idx[i]);
            assertEquals(idx[i] < 10 ? 0x10 : 0x20, d.pixels()[i * 12] & 0xFF);
        }
        Long seedWith = with;
        IOException e = assertThrows(IOException.class,
                () -> ImageFolder.load(root, true, null, false, new StratifiedSample(4, seedWith)));
        assertMessage(e, corrupt.toString());
        // The whole split reads the corrupt file too.
        assertThrows(IOException.class, () -> ImageFolder.load(root, true, null, false, null));
    }

    @Test
    void aSampledTestSplitWithGivenStatisticsDecodesNoTrainingImage() throws IOException {
        writeFolder();
        // Every training image broken: the test split must not need them when its statistics are given.
        List<Path> broken = new ArrayList<>();
        try (var s = Files.walk(root.resolve("train"))) {
            s.filter(Files::isRegularFile).forEach(broken::add);
        }
        for (Path p : broken) {
            Files.write(p, new byte[] {1});
        }
        Normalization norm = new Normalization(new float[] {0.25f, 0.5f, 0.75f}, new float[] {0.1f, 0.2f, 0.3f});
        Dataset test = DatasetSource.defaults().load("imagefolder", root, false, false, new StratifiedSample(2, 5), norm);
        assertEquals(2, test.size());
        assertArrayEquals(new int[] {1, 1}, perClass(test.labels(), new int[] {0, 1}, 2));
        assertEquals(norm, test.normalization());
    }
}
