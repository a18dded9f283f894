package org.vit4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.vit4j.data.MnistTest.assertMessage;

import java.util.List;
import org.junit.jupiter.api.Test;

class DatasetTest {
    private static final List<String> AB = List.of("a", "b");

    @Test
    void normalizationOfComputesPerChannelStatistics() {
        // Two 1x2 images, 2 channels: channel 0 is {0, 255, 255, 0} -> mean 0.5, std 0.5;
        // channel 1 is constant 51 -> mean 0.2 and std falls back to 1.
        byte[] px = {0, (byte) 255, 51, 51, (byte) 255, 0, 51, 51};
        Dataset ds = new Dataset("t", 2, 1, 2, px, new int[] {0, 1}, AB, null);
        Normalization n = ds.normalization();
        assertEquals(0.5f, n.mean(0), 1e-6f);
        assertEquals(0.5f, n.std(0), 1e-6f);
        assertEquals(0.2f, n.mean(1), 1e-6f);
        assertEquals(1f, n.std(1));
        assertEquals(n, Normalization.of(ds));
    }

    @Test
    void normalizationConstantsAndValueSemantics() {
        assertArrayEquals(new float[] {0.4914f, 0.4822f, 0.4465f}, Normalization.CIFAR10.mean());
        assertArrayEquals(new float[] {0.2470f, 0.2435f, 0.2616f}, Normalization.CIFAR10.std());
        assertEquals(0.1307f, Normalization.MNIST.mean(0));
        assertEquals(0.3081f, Normalization.MNIST.std(0));
        assertEquals(0.2860f, Normalization.FASHION_MNIST.mean(0));
        assertEquals(0.3530f, Normalization.FASHION_MNIST.std(0));
        float[] mean = {0.1f};
        Normalization n = new Normalization(mean, new float[] {0.3f});
        mean[0] = 9f; // defensive copy
        n.mean()[0] = 9f;
        assertEquals(0.1f, n.mean(0));
        assertEquals(new Normalization(new float[] {0.1f}, new float[] {0.3f}), n);
        assertEquals(new Normalization(new float[] {0.1f}, new float[] {0.3f}).hashCode(), n.hashCode());
        assertNotEquals(Normalization.MNIST, n);
        assertThrows(IllegalArgumentException.class, () -> new Normalization(new float[] {0}, new float[] {0}));
        assertThrows(IllegalArgumentException.class, () -> new Normalization(new float[] {0}, new float[] {1, 1}));
    }

    @Test
    void constructorValidates() {
        IllegalArgumentException size = assertThrows(IllegalArgumentException.class,
                () -> new Dataset("t", 1, 2, 2, new byte[7], new int[] {0, 1}, AB, Normalization.MNIST));
        assertMessage(size, "need 8 pixel bytes, got 7");
        IllegalArgumentException label = assertThrows(IllegalArgumentException.class,
                () -> new Dataset("t", 1, 2, 2, new byte[8], new int[] {0, 2}, AB, Normalization.MNIST));
        assertMessage(label, "label 2 of image 1");
        IllegalArgumentException channels = assertThrows(IllegalArgumentException.class,
                () -> new Dataset("t", 1, 2, 2, new byte[8], new int[] {0, 1}, AB, Normalization.CIFAR10));
        assertMessage(channels, "normalisation has 3");
        assertThrows(IllegalArgumentException.class,
                () -> new Dataset("t", 1, 2, 2, new byte[0], new int[0], AB, Normalization.MNIST));
    }

    @Test
    void subsetCopiesARange() {
        byte[] px = {1, 2, 3, 4, 5, 6};
        Dataset ds = new Dataset("t", 1, 1, 2, px, new int[] {0, 1, 1}, AB, Normalization.MNIST);
        Dataset sub = ds.subset(1, 3);
        assertEquals(2, sub.size());
        assertArrayEquals(new byte[] {3, 4, 5, 6}, sub.pixels());
        assertArrayEquals(new int[] {1, 1}, sub.labels());
        assertEquals(Normalization.MNIST, sub.normalization());
        assertEquals(AB, sub.classes());
        assertEquals(2, ds.imageSize());
    }
}
