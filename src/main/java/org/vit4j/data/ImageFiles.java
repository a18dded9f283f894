package org.vit4j.data;

import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.FileVisitOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import javax.imageio.ImageIO;

/** Finding and decoding image files, with one-line errors that name the file. */
public final class ImageFiles {
    private ImageFiles() {
    }

    /**
     * Decodes an image with {@link ImageIO} (PNG, JPEG, BMP, GIF; the first frame of an animated
     * GIF).
     *
     * @throws IOException naming the file and the reason: missing, a directory, unreadable,
     *     empty, not an image ImageIO can decode, CMYK, or without pixels
     */
    public static BufferedImage read(Path file) throws IOException {
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
        BufferedImage img;
        try {
            img = ImageIO.read(file.toFile());
        } catch (IOException | RuntimeException e) {
            // ImageIO's decoders throw unchecked exceptions on some corrupt files, too.
            String why = e.getMessage() == null || e.getMessage().isBlank() ? e.toString() : e.getMessage();
            throw new IOException(file + ": cannot decode image: " + why, e);
        }
        if (img == null) {
            throw new IOException(file + ": cannot decode image: no ImageIO decoder recognises its content"
                    + " (not a PNG, JPEG, BMP or GIF file?)");
        }
        if (img.getColorModel().getColorSpace().getType() == ColorSpace.TYPE_CMYK) {
            // Java decodes CMYK JPEGs, but not the way Pillow converts them (Adobe's inverted
            // channels, its own CMYK->RGB formula): refuse rather than predict on wrong colours.
            throw new IOException(file + ": CMYK images are not supported; convert it to RGB first");
        }
        if (img.getWidth() < 1 || img.getHeight() < 1) {
            throw new IOException(file + ": image has no pixels (" + img.getWidth() + "x" + img.getHeight() + ")");
        }
        return img;
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
