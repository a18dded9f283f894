package org.vit4j.data;

import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.file.FileVisitOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.Semaphore;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;

/**
 * Finding and decoding image files, with one-line errors that name the file.
 *
 * <p>Decoding is guarded against damaged and hostile files: a decoder's warning (a truncated or
 * corrupt JPEG decodes with warnings, not errors) is an error; the size is read from the header and
 * an image of more than {@link #maxPixels()} pixels is refused before any pixel is decoded; and the
 * images being decoded at once (on a thread pool) share a memory budget of a quarter of the heap,
 * so many large images in parallel wait for each other instead of exhausting it.
 */
public final class ImageFiles {
    /** Pillow's decompression-bomb limit, {@code Image.MAX_IMAGE_PIXELS}: 1 GiB of 24-bit pixels / 4. */
    public static final long DEFAULT_MAX_PIXELS = 89_478_485L;
    /** System property that overrides {@link #DEFAULT_MAX_PIXELS}. */
    public static final String MAX_PIXELS_PROPERTY = "vit4j.maxImagePixels";
    /** Heap bytes a decoded pixel may cost here: the decoder's raster (up to 4 bytes) and our RGB planes (3). */
    private static final int BYTES_PER_PIXEL = 8;

    /** The heap that decodes in flight may use, in KiB (a semaphore counts ints). */
    private static final int BUDGET_KIB = (int) Math.min(Integer.MAX_VALUE, Runtime.getRuntime().maxMemory() / 4 / 1024);
    private static final Semaphore BUDGET = new Semaphore(BUDGET_KIB, true);

    private ImageFiles() {
    }

    /** Work on a decoded image, done while its memory is still reserved. */
    @FunctionalInterface
    public interface Use<T> {
        T apply(BufferedImage image) throws IOException;
    }

    /** The largest image, in pixels, that is decoded: {@value #MAX_PIXELS_PROPERTY}, else Pillow's limit. */
    public static long maxPixels() {
        return Long.getLong(MAX_PIXELS_PROPERTY, DEFAULT_MAX_PIXELS);
    }

    /**
     * Decodes an image with {@link ImageIO} (PNG, JPEG, BMP, GIF; the first frame of an animated
     * GIF).
     *
     * @throws IOException naming the file and the reason: missing, a directory, unreadable,
     *     empty, not an image ImageIO can decode, truncated or corrupt, larger than
     *     {@link #maxPixels()}, CMYK, or without pixels
     */
    public static BufferedImage read(Path file) throws IOException {
        return read(file, image -> image);
    }

    /**
     * Decodes {@code file} and applies {@code use} to it with the image's memory reserved from
     * the shared budget, released when {@code use} returns: what {@code use} keeps must be small.
     */
    public static <T> T read(Path file, Use<T> use) throws IOException {
        if (!Files.exists(file)) {
            throw new IOException(file + ": no such file");
        }
        if (Files.isDirectory(file)) {
            throw new IOException(file + ": is a directory, not an image");
        }
        if (!Files.isReadable(file)) {
            throw new IOException(file + ": cannot read the file (permission denied)");
        }
        if (Files.size(file) == 0) {
            throw new IOException(file + ": empty file (0 bytes)");
        }
        try (ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
            if (in == null) {
                throw new IOException(file + ": cannot read the file");
            }
            return decode(in, file.toString(), maxPixels(), use);
        }
    }

    /** Decodes an image held in memory, as {@link #read(Path)} does a file; {@code source} names it in errors. */
    public static BufferedImage decode(byte[] bytes, String source, long maxPixels) throws IOException {
        if (bytes.length == 0) {
            throw new IOException(source + ": empty file (0 bytes)");
        }
        try (ImageInputStream in = ImageIO.createImageInputStream(new ByteArrayInputStream(bytes))) {
            return decode(in, source, maxPixels, image -> image);
        }
    }

    private static <T> T decode(ImageInputStream in, String source, long maxPixels, Use<T> use) throws IOException {
        Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
        if (!readers.hasNext()) {
            throw new IOException(source + ": cannot decode image: no ImageIO decoder recognises its content"
                    + " (not a PNG, JPEG, BMP or GIF file?)");
        }
        ImageReader reader = readers.next();
        if (reader.getFormatName().equalsIgnoreCase("jpeg")) {
            requireJpegSegmentsFit(in, source);
        }
        List<String> warnings = new ArrayList<>();
        // The first warning already makes the file an error: stop there. A truncated progressive JPEG
        // otherwise warns once per remaining scan, each scan decoded (and allocated) again.
        reader.addIIOReadWarningListener((r, warning) -> {
            if (warnings.isEmpty()) {
                warnings.add(warning);
            }
            r.abort();
        });
        try {
            reader.setInput(in, true, true);
            long width, height;
            try {
                width = reader.getWidth(0);
                height = reader.getHeight(0);
            } catch (IOException | RuntimeException e) {
                throw new IOException(source + ": cannot decode image: " + why(e), e);
            }
            if (width < 1 || height < 1) {
                throw new IOException(source + ": image has no pixels (" + width + "x" + height + ")");
            }
            if (width * height > maxPixels) {
                throw new IOException(source + ": image of " + width + "x" + height + " = " + width * height
                        + " pixels is larger than the " + maxPixels + " decoded here (-D" + MAX_PIXELS_PROPERTY
                        + " raises the limit)");
            }
            int kib = (int) Math.min(BUDGET_KIB, (width * height * BYTES_PER_PIXEL + 1023) / 1024);
            try {
                BUDGET.acquire(kib);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted while waiting to decode " + source);
            }
            try {
                BufferedImage img;
                try {
                    img = reader.read(0);
                } catch (IOException | RuntimeException e) {
                    // ImageIO's decoders throw unchecked exceptions on some corrupt files, too.
                    throw new IOException(source + ": cannot decode image: " + why(e), e);
                }
                if (!warnings.isEmpty()) {
                    throw new IOException(source + ": truncated or corrupt image: " + String.join("; ", warnings));
                }
                if (img.getColorModel().getColorSpace().getType() == ColorSpace.TYPE_CMYK) {
                    // Java decodes CMYK JPEGs, but not the way Pillow converts them (Adobe's inverted
                    // channels, its own CMYK->RGB formula): refuse rather than predict on wrong colours.
                    throw new IOException(source + ": CMYK images are not supported; convert it to RGB first");
                }
                if (img.getWidth() < 1 || img.getHeight() < 1) {
                    throw new IOException(source + ": image has no pixels (" + img.getWidth() + "x" + img.getHeight() + ")");
                }
                return use.apply(img);
            } finally {
                BUDGET.release(kib);
            }
        } finally {
            reader.dispose();
        }
    }

    /**
     * The JPEG header's segments, up to the first scan, must lie within the file: the JDK's
     * decoder meets a segment cut short with a long, allocating retry loop, so a truncated header
     * is refused here first. The stream is left where it was.
     */
    private static void requireJpegSegmentsFit(ImageInputStream in, String source) throws IOException {
        in.mark();
        try {
            if (in.read() != 0xFF || in.read() != 0xD8) {
                return;                                     // not JPEG after all: the decoder will say so
            }
            while (true) {
                int b = in.read();
                if (b < 0) {
                    throw new IOException(source + ": truncated or corrupt image: the JPEG header ends early");
                }
                if (b != 0xFF) {
                    throw new IOException(source + ": truncated or corrupt image: no JPEG marker where one belongs");
                }
                int marker;
                do {
                    marker = in.read();
                } while (marker == 0xFF);
                if (marker < 0) {
                    throw new IOException(source + ": truncated or corrupt image: the JPEG header ends early");
                }
                if (marker == 0xD8 || marker == 0xD9 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
                    continue;                               // markers without a length
                }
                int hi = in.read(), lo = in.read();
                if (lo < 0) {
                    throw new IOException(source + ": truncated or corrupt image: the JPEG header ends early");
                }
                int length = hi << 8 | lo;
                if (length < 2 || in.skipBytes(length - 2) < length - 2) {
                    throw new IOException(source + ": truncated or corrupt image: JPEG segment 0x"
                            + Integer.toHexString(marker).toUpperCase(java.util.Locale.ROOT) + " of " + length
                            + " bytes runs past the end of the file");
                }
                if (marker == 0xDA) {
                    return;                                 // start of scan: the entropy-coded data follows
                }
            }
        } finally {
            in.reset();
        }
    }

    private static String why(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof EOFException) {
                return (e.getMessage() == null || e == t ? "" : e.getMessage() + ": ") + "the file ends early (truncated)";
            }
        }
        String msg = e.getMessage();
        return msg == null || msg.isBlank() ? e.toString() : msg;
    }

    /**
     * The images under {@code dir}, recursively: files with one of {@link ImageFolder#EXTENSIONS}
     * (any case), hidden names skipped, ordered by relative path with {@code /} separators so
     * the order is the same on every file system. Empty when there are none.
     */
    public static List<Path> find(Path dir) throws IOException {
        List<Path> found = new ArrayList<>();
        try (Stream<Path> s = Files.walk(dir, FileVisitOption.FOLLOW_LINKS)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                if (!p.equals(dir) && !Files.isDirectory(p) && ImageFolder.isImageName(dir.relativize(p))) {
                    found.add(p);
                }
            }
        }
        found.sort((a, b) -> ImageFolder.relative(dir, a).compareTo(ImageFolder.relative(dir, b)));
        return found;
    }
}
