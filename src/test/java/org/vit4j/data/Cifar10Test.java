package org.vit4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.vit4j.data.MnistTest.assertMessage;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class Cifar10Test {
    @TempDir
    Path dir;

    /** Writes the five training batches (batch b has b records) and a 2-record test batch; returns all pixels. */
    static byte[][] writeAll(Path folder) throws IOException {
        Files.createDirectories(folder);
        byte[] train = new byte[15 * Cifar10.IMAGE_BYTES];
        int[] trainLabels = new int[15];
        int k = 0;
        for (int b = 1; b <= 5; b++) {
            int[] labels = new int[b];
            byte[] pixels = TestFiles.pattern(b * Cifar10.IMAGE_BYTES, b);
            for (int i = 0; i < b; i++) {
                labels[i] = (b + i) % 10;
                trainLabels[k + i] = labels[i];
            }
            System.arraycopy(pixels, 0, train, k * Cifar10.IMAGE_BYTES, pixels.length);
            k += b;
            Files.write(folder.resolve("data_batch_" + b + ".bin"), TestFiles.cifarRecords(labels, pixels));
        }
        byte[] test = TestFiles.pattern(2 * Cifar10.IMAGE_BYTES, 99);
        Files.write(folder.resolve("test_batch.bin"), TestFiles.cifarRecords(new int[] {9, 0}, test));
        byte[] labelBytes = new byte[15];
        for (int i = 0; i < 15; i++) {
            labelBytes[i] = (byte) trainLabels[i];
        }
        return new byte[][] {train, labelBytes, test};
    }

    @Test
    void readsTrainAndTestSplits() throws IOException {
        byte[][] expected = writeAll(dir);
        Dataset train = Cifar10.load(dir, true);
        assertEquals(15, train.size());
        assertEquals(3, train.channels());
        assertEquals(32, train.height());
        assertEquals(32, train.width());
        assertArrayEquals(expected[0], train.pixels());
        for (int i = 0; i < 15; i++) {
            assertEquals(expected[1][i], train.label(i));
        }
        assertEquals(Cifar10.CLASSES, train.classes());
        assertEquals("truck", train.classes().get(9));
        assertEquals(Normalization.CIFAR10, train.normalization());
        assertEquals("cifar10", train.name());

        Dataset test = Cifar10.load(dir, false);
        assertArrayEquals(new int[] {9, 0}, test.labels());
        assertArrayEquals(expected[2], test.pixels());
        // Record 0, pixel (y=1, x=2) of the green plane.
        assertEquals(expected[2][1024 + 32 + 2], test.pixels()[1024 + 32 + 2]);
    }

    @Test
    void findsFilesInTheArchiveSubfolder() throws IOException {
        byte[][] expected = writeAll(dir.resolve(Cifar10.SUBFOLDER));
        assertArrayEquals(expected[2], Cifar10.load(dir, false).pixels());
        assertEquals(15, Cifar10.load(dir, true).size());
    }

    @Test
    void badLength() throws IOException {
        writeAll(dir);
        Path file = dir.resolve("data_batch_2.bin");
        byte[] data = Files.readAllBytes(file);
        Files.write(file, Arrays.copyOf(data, data.length - 1));
        IOException e = assertThrows(IOException.class, () -> Cifar10.load(dir, true));
        assertMessage(e, file.toString(), "length 6145", "multiple of the 3073-byte");
    }

    @Test
    void emptyFile() throws IOException {
        writeAll(dir);
        Files.write(dir.resolve("test_batch.bin"), new byte[0]);
        IOException e = assertThrows(IOException.class, () -> Cifar10.load(dir, false));
        assertMessage(e, "test_batch.bin", "length 0");
    }

    @Test
    void badLabel() throws IOException {
        writeAll(dir);
        Path file = dir.resolve("data_batch_3.bin");
        byte[] data = Files.readAllBytes(file);
        data[Cifar10.RECORD_BYTES] = 10; // label of record 1
        Files.write(file, data);
        IOException e = assertThrows(IOException.class, () -> Cifar10.load(dir, true));
        assertMessage(e, file.toString(), "record 1 has label 10", "expected 0..9");
    }

    @Test
    void missingFile() throws IOException {
        writeAll(dir);
        Files.delete(dir.resolve("data_batch_4.bin"));
        IOException e = assertThrows(IOException.class, () -> Cifar10.load(dir, true));
        assertMessage(e, dir.toString(), Cifar10.SUBFOLDER, "data_batch_1.bin", "missing from " + dir + ": data_batch_4.bin");
        Files.delete(dir.resolve("test_batch.bin"));
        IOException test = assertThrows(IOException.class, () -> Cifar10.load(dir, false));
        assertMessage(test, "test_batch.bin");
    }
}
