package org.vit4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vit4j.data.MnistTest.assertMessage;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vit4j.testing.Allocations;

class ImageFolderTest {
    @TempDir
    Path root;

    private static final int W = 4;
    private static final int H = 3;

    /** A colour image whose pixel (x, y) is (seed + x, seed + 10 * y, seed + x + y) mod 256. */
    static BufferedImage colour(int seed, int w, int h) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int r = (seed + x) & 0xFF;
                int g = (seed + 10 * y) & 0xFF;
                int b = (seed + x + y) & 0xFF;
                img.setRGB(x, y, r << 16 | g << 8 | b);
            }
        }
        return img;
    }

    static BufferedImage grey(int seed, int w, int h) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                img.getRaster().setSample(x, y, 0, (seed + 7 * x + 3 * y) & 0xFF);
            }
        }
        return img;
    }

    static BufferedImage uniform(int rgb, int w, int h) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                img.setRGB(x, y, rgb);
            }
        }
        return img;
    }

    private Path write(String relative, BufferedImage img, String format) throws IOException {
        Path file = root.resolve(relative);
        Files.createDirectories(file.getParent());
        assertTrue(ImageIO.write(img, format, file.toFile()), "no ImageIO writer for " + format);
        return file;
    }

    /** The expected colour planes of {@link #colour}. */
    private static byte[] colourPlanes(int seed) {
        byte[] p = new byte[3 * H * W];
        for (int y = 0; y < H; y++) {
            for (int x = 0; x < W; x++) {
                p[y * W + x] = (byte) (seed + x);
                p[H * W + y * W + x] = (byte) (seed + 10 * y);
                p[2 * H * W + y * W + x] = (byte) (seed + x + y);
            }
        }
        return p;
    }

    private static byte[] image(Dataset ds, int i) {
        byte[] out = new byte[ds.imageSize()];
        System.arraycopy(ds.pixels(), i * ds.imageSize(), out, 0, out.length);
        return out;
    }

    @Test
    void readsColourPngsInSortedOrder() throws IOException {
        // Written out of order, with upper-case extensions and a non-image file mixed in.
        write("train/dog/b.png", colour(50, W, H), "png");
        write("train/dog/a.PNG", colour(40, W, H), "png");
        write("train/cat/z.png", colour(10, W, H), "png");
        Files.writeString(root.resolve("train/cat/notes.txt"), "not an image");
        write("test/cat/x.png", colour(100, W, H), "png");
        write("test/dog/y.png", colour(200, W, H), "png");

        Dataset train = ImageFolder.load(root, true);
        assertEquals(List.of("cat", "dog"), train.classes());
        assertEquals(3, train.size());
        assertEquals(3, train.channels());
        assertEquals(H, train.height());
        assertEquals(W, train.width());
        assertEquals("imagefolder", train.name());
        assertArrayEquals(new int[] {0, 1, 1}, train.labels());
        assertArrayEquals(colourPlanes(10), image(train, 0));
        assertArrayEquals(colourPlanes(40), image(train, 1)); // a.PNG before b.png
        assertArrayEquals(colourPlanes(50), image(train, 2));
        assertEquals(Normalization.of(train), train.normalization());

        Dataset test = ImageFolder.load(root, false);
        assertArrayEquals(new int[] {0, 1}, test.labels());
        assertArrayEquals(colourPlanes(100), image(test, 0));
        assertArrayEquals(colourPlanes(200), image(test, 1));
        // The test split is normalised with the training split's statistics.
        assertEquals(train.normalization(), test.normalization());
    }

    @Test
    void testSplitComputesTrainStatisticsWhenLoadedAlone() throws IOException {
        write("train/a/1.png", colour(0, W, H), "png");
        write("train/b/1.png", colour(77, W, H), "png");
        write("val/a/1.png", colour(5, W, H), "png");
        write("val/b/1.png", colour(6, W, H), "png");
        Dataset test = ImageFolder.load(root, false); // before any train load: falls back to val/
        assertArrayEquals(colourPlanes(5), image(test, 0));
        Normalization expected = Normalization.of(ImageFolder.load(root, true));
        assertEquals(expected, test.normalization());
        Normalization given = new Normalization(new float[] {0.5f, 0.5f, 0.5f}, new float[] {0.2f, 0.2f, 0.2f});
        assertSame(given, ImageFolder.load(root, false, given).normalization());
    }

    @Test
    void greyImagesGiveOneChannel() throws IOException {
        write("train/0/a.png", grey(1, W, H), "png");
        write("train/1/b.png", grey(2, W, H), "png");
        write("test/0/a.png", grey(3, W, H), "png");
        write("test/1/a.png", grey(4, W, H), "png");
        Dataset ds = ImageFolder.load(root, true);
        assertEquals(1, ds.channels());
        for (int i = 0; i < 2; i++) {
            for (int y = 0; y < H; y++) {
                for (int x = 0; x < W; x++) {
                    assertEquals((byte) (i + 1 + 7 * x + 3 * y), ds.pixels()[i * H * W + y * W + x]);
                }
            }
        }
    }

    @Test
    void mixedGreyAndColourGiveThreeChannels() throws IOException {
        write("train/a/grey.png", grey(9, W, H), "png");
        write("train/b/colour.png", colour(1, W, H), "png");
        write("test/a/1.png", grey(1, W, H), "png");
        write("test/b/1.png", grey(1, W, H), "png");
        Dataset ds = ImageFolder.load(root, true);
        assertEquals(3, ds.channels());
        byte[] g = image(ds, 0);
        for (int c = 0; c < 3; c++) {
            for (int y = 0; y < H; y++) {
                for (int x = 0; x < W; x++) {
                    assertEquals((byte) (9 + 7 * x + 3 * y), g[c * H * W + y * W + x], "channel " + c);
                }
            }
        }
        assertArrayEquals(colourPlanes(1), image(ds, 1));
    }

    @Test
    void readsJpegs() throws IOException {
        write("train/red/a.jpg", uniform(0xC86432, 16, 16), "jpeg");
        write("train/blue/b.JPEG", uniform(0x1E3CC8, 16, 16), "jpeg");
        write("test/red/a.jpg", uniform(0xC86432, 16, 16), "jpeg");
        write("test/blue/a.jpg", uniform(0x1E3CC8, 16, 16), "jpeg");
        Dataset ds = ImageFolder.load(root, true);
        assertEquals(List.of("blue", "red"), ds.classes());
        assertEquals(3, ds.channels());
        // JPEG is lossy: a flat colour comes back within a few levels.
        int[][] expected = {{0x1E, 0x3C, 0xC8}, {0xC8, 0x64, 0x32}};
        for (int i = 0; i < 2; i++) {
            byte[] img = image(ds, i);
            for (int c = 0; c < 3; c++) {
                for (int p = 0; p < 256; p++) {
                    int v = img[c * 256 + p] & 0xFF;
                    assertTrue(Math.abs(v - expected[i][c]) <= 4, "image " + i + " channel " + c + ": " + v);
                }
            }
        }
    }

    @Test
    void greyJpegsGiveOneChannel() throws IOException {
        BufferedImage img = new BufferedImage(8, 8, BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 0; y < 8; y++) {
            for (int x = 0; x < 8; x++) {
                img.getRaster().setSample(x, y, 0, 90);
            }
        }
        write("train/a/1.jpg", img, "jpeg");
        write("train/b/1.jpg", img, "jpeg");
        Dataset ds = ImageFolder.load(root, true);
        assertEquals(1, ds.channels());
        for (byte b : ds.pixels()) {
            assertTrue(Math.abs((b & 0xFF) - 90) <= 2, "value " + (b & 0xFF));
        }
    }

    @Test
    void manyImagesDecodedInParallelKeepTheirOrder() throws IOException {
        for (int i = 0; i < 120; i++) {
            write(String.format("train/c%d/img%03d.png", i % 3, i), colour(i, W, H), "png");
        }
        Dataset ds = ImageFolder.load(root, true);
        assertEquals(120, ds.size());
        int k = 0;
        for (int c = 0; c < 3; c++) {
            for (int i = c; i < 120; i += 3) {
                assertEquals(c, ds.label(k));
                assertArrayEquals(colourPlanes(i), image(ds, k), "image " + k);
                k++;
            }
        }
    }

    @Test
    void mixedSizesAreRejected() throws IOException {
        write("train/a/1.png", colour(0, W, H), "png");
        Path odd = write("train/b/2.png", colour(0, 5, 7), "png");
        IOException e = assertThrows(IOException.class, () -> ImageFolder.load(root, true));
        assertMessage(e, odd.toString(), "5x7", "4x3", "1.png", "same size");
    }

    @Test
    void unreadableImage() throws IOException {
        write("train/a/1.png", colour(0, W, H), "png");
        Path bad = root.resolve("train/b/broken.png");
        Files.createDirectories(bad.getParent());
        Files.writeString(bad, "this is not a PNG");
        IOException e = assertThrows(IOException.class, () -> ImageFolder.load(root, true));
        assertMessage(e, bad.toString(), "cannot decode image");
    }

    @Test
    void firstBadFileIsReportedDeterministically() throws IOException {
        for (int i = 0; i < 40; i++) {
            write(String.format("train/a/%02d.png", i), colour(i, W, H), "png");
        }
        for (int i : new int[] {13, 27, 35}) {
            Files.writeString(root.resolve(String.format("train/a/%02d.png", i)), "garbage");
        }
        for (int attempt = 0; attempt < 3; attempt++) {
            IOException e = assertThrows(IOException.class, () -> ImageFolder.load(root, true));
            assertMessage(e, "13.png");
        }
    }

    @Test
    void testSplitWithDifferentClasses() throws IOException {
        write("train/cat/1.png", colour(0, W, H), "png");
        write("train/dog/1.png", colour(0, W, H), "png");
        write("test/cat/1.png", colour(0, W, H), "png");
        write("test/bird/1.png", colour(0, W, H), "png");
        IOException e = assertThrows(IOException.class, () -> ImageFolder.load(root, false));
        assertMessage(e, root.resolve("test").toString(), "different classes", "[dog]", "[bird]");
    }

    @Test
    void emptyClassDirectory() throws IOException {
        write("train/cat/1.png", colour(0, W, H), "png");
        Files.createDirectories(root.resolve("train/dog"));
        Files.writeString(root.resolve("train/dog/readme.txt"), "x");
        IOException e = assertThrows(IOException.class, () -> ImageFolder.load(root, true));
        assertMessage(e, root.resolve("train/dog").toString(), "contains no images");
    }

    @Test
    void missingSplits() throws IOException {
        IOException noTrain = assertThrows(IOException.class, () -> ImageFolder.load(root, true));
        assertMessage(noTrain, root.toString(), "no train/ directory");
        write("train/cat/1.png", colour(0, W, H), "png");
        IOException noTest = assertThrows(IOException.class, () -> ImageFolder.load(root, false));
        assertMessage(noTest, "neither a test/ nor a val/");
        Files.createDirectories(root.resolve("test"));
        IOException noClasses = assertThrows(IOException.class, () -> ImageFolder.load(root, false));
        assertMessage(noClasses, root.resolve("test").toString(), "no class subdirectories");
    }

    // ------------------------------------------------------------------ damaged and hostile images

    /** A JPEG missing its last 20% decodes (with warnings) in ImageIO: here it is an error naming it. */
    @Test
    void truncatedJpegIsAnError() throws IOException {
        write("train/a/1.jpg", colour(1, 64, 48), "jpg");
        Path cut = root.resolve("train/a/2.jpg");
        Files.write(cut, BadImages.truncated(BadImages.encoded("jpg", 64, 48, 3), 0.8));
        write("train/b/1.jpg", colour(5, 64, 48), "jpg");
        IOException e = assertThrows(IOException.class, () -> ImageFolder.load(root, true));
        assertMessage(e, cut.toString(), "truncated or corrupt image", "Missing EOI marker");
        e = assertThrows(IOException.class, () -> ImageFiles.read(cut));
        assertMessage(e, cut.toString(), "truncated or corrupt");
    }

    /** With skipBadImages, undecodable files are left out (labels stay with their images); wrong sizes still fail. */
    @Test
    void badImagesAreSkippedOnlyWhenAsked() throws IOException {
        Files.createDirectories(root.resolve("train/a"));
        Files.write(root.resolve("train/a/0.png"), BadImages.truncated(BadImages.encoded("png", W, H, 1), 0.5));
        write("train/a/1.png", colour(1, W, H), "png");
        Files.writeString(root.resolve("train/a/2.png"), "not a PNG");
        write("train/b/1.png", colour(7, W, H), "png");
        Files.createDirectories(root.resolve("train/c"));
        Files.write(root.resolve("train/c/1.jpg"), BadImages.truncated(BadImages.encoded("jpg", 64, 48, 2), 0.9));
        write("train/c/2.png", colour(9, W, H), "png");
        assertThrows(IOException.class, () -> ImageFolder.load(root, true, null, false));
        Dataset ds = ImageFolder.load(root, true, null, true);
        assertEquals(3, ds.size());
        assertArrayEquals(new int[] {0, 1, 2}, ds.labels());
        assertArrayEquals(colourPlanes(1), image(ds, 0));
        assertArrayEquals(colourPlanes(7), image(ds, 1));
        assertArrayEquals(colourPlanes(9), image(ds, 2));

        Path odd = write("train/b/2.png", colour(3, W + 1, H), "png");
        IOException e = assertThrows(IOException.class, () -> ImageFolder.load(root, true, null, true));
        assertMessage(e, odd.toString(), "same size");
    }

    /**
     * An image whose header claims 20000 x 20000 pixels is refused from its header, before the
     * 1.2 GB raster a decoder would allocate for it.
     */
    @Test
    void enormousImagesAreRefusedBeforeDecoding() throws IOException {
        Path bomb = root.resolve("bomb.png");
        Files.write(bomb, BadImages.pngClaiming(20000, 20000));
        Allocations.Result r = Allocations.measure(() -> ImageFiles.read(bomb));
        assertTrue(r.thrown() instanceof IOException, String.valueOf(r.thrown()));
        assertMessage((IOException) r.thrown(), bomb.toString(), "20000x20000", "larger than the 89478485");
        assertTrue(r.bytes() < 20_000_000, "allocated " + r.bytes());
        // Under the limit the header is believed and the file decoded (here found truncated, as it is).
        Files.write(bomb, BadImages.pngClaiming(300, 200));
        assertMessage(assertThrows(IOException.class, () -> ImageFiles.read(bomb)), bomb.toString(), "truncated");
    }
}
