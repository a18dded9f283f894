package org.vit4j.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.vit4j.io.SafeTensors;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The training-time resize against torchvision's {@code Resize} of a PIL image (Pillow 9.4's
 * bilinear resample, fixture by {@code src/test/python/golden_resize.py}): bit for bit, both the
 * uint8 image and, through the {@link DataLoader}, the normalised floats of
 * {@code Resize(224), ToTensor(), Normalize(0.5, 0.5, 0.5)} on a CIFAR-sized image.
 */
class ResizeTest {
    private static final Path GOLDEN = Path.of("src/test/resources/golden/resize/bilinear.safetensors");
    private static final Normalization HALF = new Normalization(new float[] {0.5f, 0.5f, 0.5f},
            new float[] {0.5f, 0.5f, 0.5f});

    @Test
    void bilinearMatchesPillowBitForBit() throws IOException {
        SafeTensors.Contents golden = SafeTensors.read(GOLDEN);
        JsonNode cases = new ObjectMapper().readTree(golden.metadata().get("cases"));
        assertEquals(4, cases.size());
        for (JsonNode c : cases) {
            String name = c.get(0).asText();
            int ch = c.get(1).asInt(), h = c.get(2).asInt(), w = c.get(3).asInt(), nh = c.get(4).asInt(), nw = c.get(5).asInt();
            byte[] src = bytes(golden.tensors().get(name + ".in").ints());
            byte[] got = PillowBicubic.resize(src, ch, w, h, nw, nh, 0, 0, nw, nh, PillowBicubic.Filter.BILINEAR);
            SafeTensors.Entry out = golden.tensors().get(name + ".out");
            byte[] expected = out != null ? bytes(out.ints()) : fromHalfNormalised(golden.tensors().get(name + ".normalized").floats());
            assertArrayEquals(expected, got, name);
            // the bicubic filter is another function: the fixture tells them apart
            byte[] cubic = PillowBicubic.resize(src, ch, w, h, nw, nh, 0, 0, nw, nh, PillowBicubic.Filter.BICUBIC);
            assertTrue(!Arrays.equals(expected, cubic), name + ": bicubic must differ from Pillow's bilinear");
        }
    }

    /** The DataLoader resizes each image as it builds the batch: 32 px CIFAR to 224 px floats, as torchvision gives them. */
    @Test
    void dataLoaderResizesThenNormalisesAsTorchvision() throws IOException {
        SafeTensors.Contents golden = SafeTensors.read(GOLDEN);
        byte[] src = bytes(golden.tensors().get("cifar-32-to-224.in").ints());
        float[] expected = golden.tensors().get("cifar-32-to-224.normalized").floats();
        byte[] two = new byte[2 * src.length];
        System.arraycopy(src, 0, two, 0, src.length);
        System.arraycopy(src, 0, two, src.length, src.length);
        Dataset d = new Dataset("cifar10", 3, 32, 32, two, new int[] {3, 7}, List.of("0", "1", "2", "3", "4", "5", "6",
                "7", "8", "9"), HALF);
        try (DataLoader loader = DataLoader.builder(d).batchSize(2).imageSize(224).build()) {
            assertEquals(224, loader.imageSize());
            Batch b = loader.batch(0, 0);
            assertEquals(3 * 224 * 224, b.imageSize());
            assertArrayEquals(expected, Arrays.copyOfRange(b.images(), 0, expected.length), 0f, "first image");
            assertArrayEquals(expected, Arrays.copyOfRange(b.images(), expected.length, 2 * expected.length), 0f,
                    "second image");
            assertArrayEquals(new int[] {3, 7}, b.labels());
        }
    }

    /**
     * With augmentation the crop and flip apply to the 32-pixel image, then the resize: the same
     * as resizing what the non-resizing loader's augmentation produces (compared on the raw scale).
     */
    @Test
    void augmentationComesBeforeTheResize() {
        int n = 3;
        byte[] px = TestFiles.pattern(n * 3 * 8 * 8, 11);
        Normalization unit = new Normalization(new float[] {0f, 0f, 0f}, new float[] {1f / 255, 1f / 255, 1f / 255});
        Dataset d = new Dataset("small", 3, 8, 8, px, new int[] {0, 1, 2}, List.of("a", "b", "c"), unit);
        try (DataLoader small = DataLoader.builder(d).batchSize(n).shuffle(true).augment(true).seed(5).build();
             DataLoader big = DataLoader.builder(d).batchSize(n).shuffle(true).augment(true).seed(5).imageSize(20).build()) {
            Batch s = small.batch(1, 0), b = big.batch(1, 0);
            assertArrayEquals(s.labels(), b.labels(), "same order");
            for (int i = 0; i < n; i++) {
                byte[] raw = new byte[3 * 64];
                for (int k = 0; k < raw.length; k++) {
                    raw[k] = (byte) Math.round(s.images()[i * raw.length + k]);   // unit normalisation: raw values
                }
                byte[] resized = PillowBicubic.resize(raw, 3, 8, 8, 20, 20, 0, 0, 20, 20, PillowBicubic.Filter.BILINEAR);
                for (int k = 0; k < resized.length; k++) {
                    assertEquals(resized[k] & 0xFF, b.images()[i * resized.length + k], 1e-3, "image " + i + " value " + k);
                }
            }
        }
    }

    @Test
    void onlySquareImagesAreResized() {
        Dataset d = new Dataset("wide", 1, 4, 6, new byte[24], new int[] {0}, List.of("a"), null);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DataLoader.builder(d).batchSize(1).imageSize(8).build());
        assertTrue(e.getMessage().contains("only square images are resized"), e.getMessage());
    }

    private static byte[] bytes(int[] v) {
        byte[] b = new byte[v.length];
        for (int i = 0; i < v.length; i++) {
            b[i] = (byte) v[i];
        }
        return b;
    }

    /** x = (v / 255 - 0.5) / 0.5 back to v: (x * 0.5 + 0.5) * 255, within rounding of an integer. */
    private static byte[] fromHalfNormalised(float[] x) {
        byte[] b = new byte[x.length];
        for (int i = 0; i < x.length; i++) {
            b[i] = (byte) Math.round((x[i] * 0.5 + 0.5) * 255);
        }
        return b;
    }
}
