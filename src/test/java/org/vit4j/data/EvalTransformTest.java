package org.vit4j.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vit4j.io.SafeTensors;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link EvalTransform} against torchvision's evaluation transform on PIL images (Pillow 9.4,
 * fixtures made by {@code src/test/python/golden_eval_transform.py}): required bit-exact, both
 * the uint8 image after resize and crop and the normalised floats.
 */
class EvalTransformTest {
    private static final Path GOLDEN = Path.of("src/test/resources/golden/eval-transform");

    @TempDir
    Path tmp;

    @Test
    void matchesTorchvisionOnPillowBitForBit() throws IOException {
        SafeTensors.Contents golden = SafeTensors.read(GOLDEN.resolve("eval-transform.safetensors"));
        JsonNode cases = new ObjectMapper().readTree(golden.metadata().get("cases"));
        assertEquals(17, cases.size(), "cases in the fixture");
        for (JsonNode c : cases) {
            String name = c.get("name").asText();
            Normalization norm = new Normalization(floats(c.get("mean")), floats(c.get("std")));
            EvalTransform t = c.get("mode").asText().equals("center")
                    ? EvalTransform.centerCrop(c.get("resize").asInt(), c.get("crop").asInt(), norm)
                    : EvalTransform.squash(c.get("resize").asInt(), norm);
            BufferedImage image = ImageFiles.read(GOLDEN.resolve(c.get("file").asText()));
            float[] expected = golden.tensors().get(name).floats();
            assertEquals(t.floatsPerImage(), expected.length, name + ": output size");

            // uint8 first: the resize and crop, on Pillow's 0..255 scale.
            byte[] pixels = t.pixels(image);
            int plane = t.size() * t.size(), maxError = 0;
            for (int i = 0; i < pixels.length; i++) {
                int ch = i / plane;
                int want = (int) Math.round((expected[i] * (double) norm.std(ch) + norm.mean(ch)) * 255);
                maxError = Math.max(maxError, Math.abs((pixels[i] & 0xFF) - want));
            }
            assertEquals(0, maxError, name + ": max error on the 0..255 scale");

            // Then the floats: ToTensor and Normalize in the same float32 operations as PyTorch.
            float[] got = new float[expected.length + 3];
            t.apply(image, got, 3);
            assertArrayEquals(expected, Arrays.copyOfRange(got, 3, got.length), 0f, name + ": normalised floats");
        }
    }

    /** timm's own sizes (shorter side 263 -> 248, i.e. 259x248, crop 224), against the crop Pillow made. */
    @Test
    void matchesPillowAtTimmsSizes() throws IOException {
        EvalTransform timm = EvalTransform.centerCrop(248, 224, EvalTransform.IMAGENET);
        byte[] got = timm.pixels(ImageFiles.read(GOLDEN.resolve("smooth-263x251.png")));
        BufferedImage want = ImageFiles.read(GOLDEN.resolve("smooth-263x251.timm-248-224.png"));
        assertEquals(224, want.getWidth());
        assertArrayEquals(EvalTransform.planes(want, 3), got);
    }

    @Test
    void resizeAndCropArithmeticIsTorchvisions() {
        assertArrayEquals(new int[] {330, 248}, EvalTransform.resizedSize(500, 375, 248));
        assertArrayEquals(new int[] {248, 330}, EvalTransform.resizedSize(375, 500, 248));
        assertArrayEquals(new int[] {248, 248}, EvalTransform.resizedSize(640, 640, 248));
        assertArrayEquals(new int[] {24, 16}, EvalTransform.resizedSize(3, 2, 16));
        assertArrayEquals(new int[] {142, 5}, EvalTransform.resizedSize(200, 7, 5));
        // int(248 * 333 / 331) = int(249.49...) = 249: truncation, not rounding.
        assertArrayEquals(new int[] {249, 248}, EvalTransform.resizedSize(333, 331, 248));

        assertEquals(248, EvalTransform.timmResize(224));
        assertEquals(426, EvalTransform.timmResize(384));

        assertEquals(53, EvalTransform.cropOffset(330, 224));
        assertEquals(0, EvalTransform.cropOffset(224, 224));
        // (size - crop) / 2 of x.5 rounds half to even, as Python's round does.
        assertEquals(0, EvalTransform.cropOffset(225, 224));
        assertEquals(2, EvalTransform.cropOffset(227, 224));
        assertEquals(12, EvalTransform.cropOffset(249, 224));
        assertEquals(14, EvalTransform.cropOffset(253, 224));
        // A crop larger than the image: minus the zero padding before it (torchvision pads (d // 2, (d + 1) // 2)).
        assertEquals(-1, EvalTransform.cropOffset(12, 15));
        assertEquals(-2, EvalTransform.cropOffset(4, 9));
    }

    @Test
    void lumaIsPillows() {
        assertEquals(125, EvalTransform.luma(10, 200, 37));
        assertEquals(76, EvalTransform.luma(255, 0, 1));
        for (int v = 0; v < 256; v++) {
            assertEquals(v, EvalTransform.luma(v, v, v), "grey stays grey");
        }
    }

    @Test
    void resizingAWindowEqualsResizingAllThenCropping() {
        SplittableRandom rnd = new SplittableRandom(3);
        int[][] shapes = {{37, 23, 80, 51}, {61, 44, 17, 13}, {20, 20, 20, 9}, {9, 30, 9, 30}, {5, 1, 3, 7}};
        for (int[] s : shapes) {
            int inW = s[0], inH = s[1], outW = s[2], outH = s[3];
            byte[] src = new byte[2 * inW * inH];
            for (int i = 0; i < src.length; i++) {
                src[i] = (byte) rnd.nextInt(256);
            }
            byte[] full = PillowBicubic.resize(src, 2, inW, inH, outW, outH, 0, 0, outW, outH);
            int x0 = outW / 3, y0 = outH / 4, w = outW - x0 - outW / 5, h = outH - y0;
            byte[] window = PillowBicubic.resize(src, 2, inW, inH, outW, outH, x0, y0, w, h);
            for (int p = 0; p < 2; p++) {
                for (int y = 0; y < h; y++) {
                    for (int x = 0; x < w; x++) {
                        assertEquals(full[(p * outH + y0 + y) * outW + x0 + x], window[(p * h + y) * w + x],
                                Arrays.toString(s) + " at " + x + "," + y);
                    }
                }
            }
        }
        byte[] same = {1, 2, 3, 4, 5, 6};
        assertArrayEquals(same, PillowBicubic.resize(same, 1, 3, 2, 3, 2, 0, 0, 3, 2), "same size: a copy");
    }

    @Test
    void badFilesAreOneLineErrorsNamingTheFile() throws IOException {
        EvalTransform t = EvalTransform.centerCrop(8, 8, EvalTransform.IMAGENET);
        Path missing = tmp.resolve("missing.jpg");
        assertMessage(assertThrows(IOException.class, () -> t.apply(missing)), missing, "no such file");
        assertMessage(assertThrows(IOException.class, () -> t.apply(tmp)), tmp, "is a directory");
        Path empty = Files.createFile(tmp.resolve("empty.png"));
        assertMessage(assertThrows(IOException.class, () -> t.apply(empty)), empty, "empty file");
        Path text = Files.writeString(tmp.resolve("notes.jpg"), "this is not an image");
        assertMessage(assertThrows(IOException.class, () -> t.apply(text)), text, "cannot decode image");
        Path truncated = tmp.resolve("truncated.png");
        Files.write(truncated, Arrays.copyOf(Files.readAllBytes(GOLDEN.resolve("rgb-portrait-27x40.png")), 60));
        assertMessage(assertThrows(IOException.class, () -> t.apply(truncated)), truncated, "cannot decode image");
        Path cmyk = GOLDEN.resolve("cmyk-8x6.jpg");
        assertMessage(assertThrows(IOException.class, () -> t.apply(cmyk)), cmyk, "CMYK");
    }

    @Test
    void findsImagesRecursivelyInPathOrder() throws IOException {
        for (String name : new String[] {"b/2.PNG", "a/z.jpeg", "a/y/1.jpg", "c.png", ".hidden.png", "d/.x/e.png",
                "notes.txt", "img.bmp"}) {
            Path p = tmp.resolve(name);
            Files.createDirectories(p.getParent());
            Files.writeString(p, "x");
        }
        assertEquals(Arrays.asList(tmp.resolve("a/y/1.jpg"), tmp.resolve("a/z.jpeg"), tmp.resolve("b/2.PNG"),
                tmp.resolve("c.png")), ImageFiles.find(tmp));
    }

    @Test
    void rejectsBadSettings() {
        assertThrows(IllegalArgumentException.class, () -> EvalTransform.centerCrop(0, 224, EvalTransform.IMAGENET));
        assertThrows(IllegalArgumentException.class, () -> EvalTransform.squash(32,
                new Normalization(new float[] {0, 0}, new float[] {1, 1})));
    }

    private static void assertMessage(IOException e, Path file, String reason) {
        String msg = e.getMessage();
        assertTrue(msg.startsWith(file.toString()) && msg.contains(reason) && !msg.contains("\n"),
                "expected one line naming " + file + " and '" + reason + "', got: " + msg);
    }

    private static float[] floats(JsonNode array) {
        float[] f = new float[array.size()];
        for (int i = 0; i < f.length; i++) {
            f[i] = (float) array.get(i).asDouble();
        }
        return f;
    }
}
