package org.vit4j.data;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Objects;

/**
 * Preprocessing of one image for a model at evaluation time, as torchvision does it on a PIL
 * image, so that a model trained or published with PyTorch sees the same input here:
 *
 * <ol>
 *   <li>Colour: {@code convert('RGB')} for 3-channel models (grey replicated, alpha dropped,
 *       palettes expanded), {@code convert('L')} for 1-channel models (Pillow's integer ITU-R
 *       601-2 luma).
 *   <li>Resize with Pillow's bicubic filter ({@link PillowBicubic}, bit-exact): either
 *       {@code Resize(resize)}, the shorter side to {@code resize} and the longer side to
 *       {@code int(resize * long / short)}, or, {@link #squash squashing}, both sides to the
 *       model's size.
 *   <li>{@code CenterCrop(crop)}: top {@code int(round((h - crop) / 2.0))} (Python rounds halves
 *       to even), left likewise; where the crop is larger than the image, zero padding as
 *       torchvision adds it.
 *   <li>{@code ToTensor} and {@code Normalize}: {@code (v / 255 - mean[c]) / std[c]} in float,
 *       the same operations in the same order as PyTorch, hence the same floats.
 * </ol>
 *
 * timm's evaluation transform for ImageNet models is {@link #centerCrop centerCrop(248, 224,
 * IMAGENET)} (resize {@code floor(224 / 0.9)}, timm's default crop fraction for ViTs).
 * Instances are immutable and thread-safe.
 */
public final class EvalTransform {
    /** The ImageNet statistics torchvision and timm use by default. */
    public static final Normalization IMAGENET = new Normalization(
            new float[] {0.485f, 0.456f, 0.406f}, new float[] {0.229f, 0.224f, 0.225f});

    /** timm's default evaluation crop fraction for ViTs: the image is resized to crop / 0.9. */
    public static final double TIMM_CROP_PCT = 0.9;

    private final boolean keepAspect;
    private final int resize;
    private final int crop;
    private final Normalization normalization;
    /** {@code lut[c][v]}: the normalised value of raw pixel {@code v} in channel {@code c}. */
    private final float[][] lut;

    private EvalTransform(boolean keepAspect, int resize, int crop, Normalization normalization) {
        Objects.requireNonNull(normalization, "normalization");
        if (resize < 1 || crop < 1) {
            throw new IllegalArgumentException("resize and crop must be positive, got " + resize + " and " + crop);
        }
        int channels = normalization.channels();
        if (channels != 1 && channels != 3) {
            throw new IllegalArgumentException("images have 1 or 3 channels; the normalisation has " + channels);
        }
        this.keepAspect = keepAspect;
        this.resize = resize;
        this.crop = crop;
        this.normalization = normalization;
        this.lut = new float[channels][256];
        for (int c = 0; c < channels; c++) {
            for (int v = 0; v < 256; v++) {
                lut[c][v] = (v / 255f - normalization.mean(c)) / normalization.std(c);
            }
        }
    }

    /**
     * torchvision's {@code Resize(resize)} (shorter side), {@code CenterCrop(crop)},
     * {@code ToTensor()}, {@code Normalize(mean, std)}; the channel count is the normalisation's.
     */
    public static EvalTransform centerCrop(int resize, int crop, Normalization normalization) {
        return new EvalTransform(true, resize, crop, normalization);
    }

    /**
     * Both sides resized to {@code size} ({@code Resize((size, size))}, aspect ratio not kept),
     * no crop: for models trained on images already of their input size, where the training data
     * was never cropped.
     */
    public static EvalTransform squash(int size, Normalization normalization) {
        return new EvalTransform(false, size, size, normalization);
    }

    /** timm's resize for a crop: {@code floor(crop / 0.9)}, e.g. 248 for 224. */
    public static int timmResize(int crop) {
        return (int) Math.floor(crop / TIMM_CROP_PCT);
    }

    /** Channels of the output: 1 or 3. */
    public int channels() {
        return normalization.channels();
    }

    /** Side of the square output. */
    public int size() {
        return crop;
    }

    /** Floats per preprocessed image, {@code C * size * size}. */
    public int floatsPerImage() {
        return channels() * crop * crop;
    }

    public Normalization normalization() {
        return normalization;
    }

    /**
     * The size torchvision's {@code Resize(shorter)} gives a {@code width x height} image:
     * {@code {newWidth, newHeight}}.
     */
    public static int[] resizedSize(int width, int height, int shorter) {
        if (width < 1 || height < 1 || shorter < 1) {
            throw new IllegalArgumentException("cannot resize a " + width + "x" + height + " image to " + shorter);
        }
        // Python's int(size * long / short): an exact product, one correctly rounded division, truncation.
        if (width <= height) {
            return new int[] {shorter, (int) ((double) ((long) shorter * height) / width)};
        }
        return new int[] {(int) ((double) ((long) shorter * width) / height), shorter};
    }

    /**
     * Where torchvision's {@code CenterCrop} starts along one axis of length {@code size}:
     * {@code int(round((size - crop) / 2.0))} with Python's round-half-to-even; negative (minus
     * the zero padding before the image) when the crop is larger.
     */
    public static int cropOffset(int size, int crop) {
        if (crop > size) {
            return -((crop - size) / 2);
        }
        return (int) Math.rint((size - crop) / 2.0);
    }

    /** Decodes {@code file} and preprocesses it: {@link #floatsPerImage()} floats, CHW. */
    public float[] apply(Path file) throws IOException {
        float[] out = new float[floatsPerImage()];
        apply(file, out, 0);
        return out;
    }

    /** Decodes {@code file} and writes the preprocessed image into {@code dst} at {@code offset}. */
    public void apply(Path file, float[] dst, int offset) throws IOException {
        ImageFiles.read(file, image -> {
            apply(image, dst, offset);
            return null;
        });
    }

    /** Preprocesses a decoded image into {@code dst} at {@code offset}. */
    public void apply(BufferedImage image, float[] dst, int offset) {
        Objects.checkFromIndexSize(offset, floatsPerImage(), dst.length);
        byte[] pixels = pixels(image);
        for (int c = 0, i = 0; c < channels(); c++) {
            float[] table = lut[c];
            for (int p = 0; p < crop * crop; p++, i++) {
                dst[offset + i] = table[pixels[i] & 0xFF];
            }
        }
    }

    /**
     * The uint8 image after colour conversion, resize and crop, before normalisation: CHW,
     * {@code size x size}, padding as 0.
     */
    public byte[] pixels(BufferedImage image) {
        int width = image.getWidth(), height = image.getHeight();
        int channels = channels();
        byte[] planes = planes(image, channels);
        int newW, newH;
        if (keepAspect) {
            int[] s = resizedSize(width, height, resize);
            newW = s[0];
            newH = s[1];
        } else {
            newW = newH = resize;
        }
        int top = cropOffset(newH, crop), left = cropOffset(newW, crop);
        // The part of the resized image the crop covers; the rest of the crop is padding.
        int y0 = Math.max(0, top), y1 = Math.min(newH, top + crop);
        int x0 = Math.max(0, left), x1 = Math.min(newW, left + crop);
        int winW = x1 - x0, winH = y1 - y0;
        byte[] window = PillowBicubic.resize(planes, channels, width, height, newW, newH, x0, y0, winW, winH);
        if (winW == crop && winH == crop) {
            return window;
        }
        byte[] out = new byte[channels * crop * crop];
        for (int c = 0; c < channels; c++) {
            for (int y = 0; y < winH; y++) {
                System.arraycopy(window, (c * winH + y) * winW, out, (c * crop + y0 - top + y) * crop + x0 - left, winW);
            }
        }
        return out;
    }

    /** The image as uint8 planes: R, G, B for 3 channels, Pillow's 'L' for 1. */
    static byte[] planes(BufferedImage image, int channels) {
        int width = image.getWidth(), height = image.getHeight();
        int plane = width * height;
        byte[] rgb = new byte[3 * plane];
        boolean grey = ImageFolder.writeImage(image, rgb, 0, width, height);
        if (channels == 3) {
            return rgb;
        }
        if (grey) {
            return Arrays.copyOf(rgb, plane);
        }
        byte[] l = new byte[plane];
        for (int i = 0; i < plane; i++) {
            l[i] = (byte) luma(rgb[i] & 0xFF, rgb[plane + i] & 0xFF, rgb[2 * plane + i] & 0xFF);
        }
        return l;
    }

    /**
     * Pillow's RGB to 'L': ITU-R 601-2 weights (0.299, 0.587, 0.114) in 16-bit fixed point,
     * summing to 65536 so grey stays grey, rounded half up.
     */
    static int luma(int r, int g, int b) {
        return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
    }

    @Override
    public String toString() {
        String geometry = keepAspect
                ? "shorter side resized to " + resize + " (bicubic), centre crop " + crop
                : "resized to " + resize + "x" + resize + " (bicubic), no crop";
        return geometry + ", " + (channels() == 3 ? "RGB" : "grey") + ", normalised with mean "
                + Arrays.toString(normalization.mean()) + " std " + Arrays.toString(normalization.std());
    }
}
