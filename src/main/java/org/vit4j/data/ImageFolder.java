package org.vit4j.data;

import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.file.FileVisitOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reader for a folder of images sorted into one subdirectory per class, like torchvision's
 * {@code ImageFolder}:
 *
 * <pre>
 * root/train/&lt;class&gt;/*.png|jpg|jpeg     training split
 * root/test/&lt;class&gt;/*                  test split (or root/val/&lt;class&gt;/* when there is no test/)
 * </pre>
 *
 * <ul>
 *   <li>The classes are the subdirectory names of {@code root/train}, sorted by name; a label is an
 *       index into that list. The test split must have exactly the same class directories.
 *   <li>Images are found recursively under each class directory, by extension ({@code .png},
 *       {@code .jpg}, {@code .jpeg}, any case), and ordered by relative path, so the order and hence
 *       the labels never depend on the file system. Other files, and names starting with a dot
 *       (e.g. macOS {@code ._x.jpg} metadata), are ignored. A class directory without images is an
 *       error.
 *   <li>All images must have the same size; nothing is resized. The dataset has one channel if
 *       every image is greyscale, else three (greyscale images are then replicated to R, G and B).
 *       Alpha is dropped.
 *   <li>Images are decoded with {@link ImageIO} on all cores.
 *   <li>The normalisation is {@link Normalization#of(Dataset)} of the <em>training</em> split, for
 *       both splits. Loading the test split therefore needs the training statistics: pass them with
 *       {@link #load(Path, boolean, Normalization)}, or let this class compute them, which decodes
 *       the training images once per JVM (the result is remembered for as long as the training
 *       folder's file list, sizes and modification times stay the same).
 * </ul>
 */
public final class ImageFolder {
    private static final Logger LOG = LoggerFactory.getLogger(ImageFolder.class);

    /** Dataset name given to image folders. */
    public static final String NAME = "imagefolder";

    /** File extensions (lower case, without the dot) read as images. */
    public static final Set<String> EXTENSIONS = Set.of("png", "jpg", "jpeg");

    /** Training-split statistics computed so far, so that loading test after train decodes train once. */
    private static final Map<SplitKey, Normalization> TRAIN_STATS = new ConcurrentHashMap<>();

    private ImageFolder() {}

    /**
     * Loads one split, with the training split's normalisation.
     *
     * @throws IOException if a directory is missing, the splits' classes differ, a class has no
     *     images, an image cannot be decoded, or the images differ in size
     */
    public static Dataset load(Path root, boolean train) throws IOException {
        return load(root, train, null);
    }

    /**
     * Loads one split.
     *
     * @param normalization statistics to use, normally the training split's
     *     ({@code trainSet.normalization()}); {@code null} computes them from the training split
     */
    public static Dataset load(Path root, boolean train, Normalization normalization) throws IOException {
        return load(root, train, normalization, false);
    }

    /**
     * Loads one split; with {@code skipBadImages}, images that cannot be decoded (truncated,
     * corrupt, not images) are left out and counted in the log instead of failing the load.
     * Images of another size than the others are an error either way.
     */
    public static Dataset load(Path root, boolean train, Normalization normalization, boolean skipBadImages)
            throws IOException {
        return load(root, train, normalization, skipBadImages, null);
    }

    /**
     * Loads one split, or a stratified sample of it: the files are chosen from the listing and only
     * those are decoded. A sample of the training split without given statistics is normalised with
     * the sample's own.
     *
     * @param sample the images to take, {@code null} for all
     */
    public static Dataset load(Path root, boolean train, Normalization normalization, boolean skipBadImages,
            StratifiedSample sample) throws IOException {
        Objects.requireNonNull(root, "root");
        DataFiles.requireDirectory(root, "image folder");
        Path trainDir = root.resolve("train");
        if (!Files.isDirectory(trainDir)) {
            throw new IOException("image folder " + root + " has no train/ directory; expected the layout "
                    + "root/train/<class>/<images> and root/test/<class>/<images> (or root/val/...)");
        }
        List<String> classes = classDirs(trainDir);
        if (train) {
            Split all = scan(trainDir, classes);
            Split split = sampled(all, sample, classes.size());
            Dataset ds = decode(split, classes, normalization, skipBadImages);
            if (normalization == null && split == all) {
                TRAIN_STATS.put(split.key(), ds.normalization());
            }
            return ds;
        }
        Path testDir = testDir(root);
        List<String> testClasses = classDirs(testDir);
        if (!testClasses.equals(classes)) {
            Set<String> missing = new TreeSet<>(classes);
            missing.removeAll(testClasses);
            Set<String> extra = new TreeSet<>(testClasses);
            extra.removeAll(classes);
            throw new IOException(testDir + " has different classes from " + trainDir + ": missing from the test split "
                    + missing + ", not in the training split " + extra + "; both splits need the same class directories");
        }
        Split split = sampled(scan(testDir, classes), sample, classes.size());
        if (normalization == null) {
            normalization = trainNormalization(trainDir, classes, skipBadImages);
        }
        return decode(split, classes, normalization, skipBadImages);
    }

    /** The training split's class names, sorted, without decoding anything. */
    public static List<String> classes(Path root) throws IOException {
        DataFiles.requireDirectory(root.resolve("train"), "image folder training split");
        return classDirs(root.resolve("train"));
    }

    private static Path testDir(Path root) throws IOException {
        for (String name : List.of("test", "val")) {
            Path dir = root.resolve(name);
            if (Files.isDirectory(dir)) {
                return dir;
            }
        }
        throw new IOException("image folder " + root + " has neither a test/ nor a val/ directory for evaluation");
    }

    private static Normalization trainNormalization(Path trainDir, List<String> classes, boolean skipBadImages)
            throws IOException {
        Split split = scan(trainDir, classes);
        Normalization cached = TRAIN_STATS.get(split.key());
        if (cached != null) {
            return cached;
        }
        LOG.info("Decoding the training split {} to compute the normalisation for the test split", trainDir);
        Normalization norm = decode(split, classes, null, skipBadImages).normalization();
        TRAIN_STATS.put(split.key(), norm);
        return norm;
    }

    /** Sorted names of the non-hidden subdirectories of a split. */
    private static List<String> classDirs(Path splitDir) throws IOException {
        List<String> names;
        try (Stream<Path> s = Files.list(splitDir)) {
            names = s.filter(Files::isDirectory)
                    .map(p -> p.getFileName().toString())
                    .filter(n -> !n.startsWith("."))
                    .sorted()
                    .collect(Collectors.toList());
        }
        if (names.isEmpty()) {
            throw new IOException(splitDir + " has no class subdirectories; expected " + splitDir
                    + "/<class>/<images>");
        }
        return names;
    }

    /** The image files of one split in load order, their labels, and a fingerprint of the listing. */
    private record Split(Path dir, List<Path> files, int[] labels, SplitKey key) {}

    /** Identifies a split's content cheaply: where it is and what its files are. */
    private record SplitKey(Path dir, int count, long totalBytes, long maxModified, int pathsHash) {}

    private static Split scan(Path splitDir, List<String> classes) throws IOException {
        List<Path> files = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        long totalBytes = 0;
        long maxModified = 0;
        int pathsHash = 1;
        int skipped = 0;
        for (int c = 0; c < classes.size(); c++) {
            Path classDir = splitDir.resolve(classes.get(c));
            List<Path> found = new ArrayList<>();
            try (Stream<Path> s = Files.walk(classDir, FileVisitOption.FOLLOW_LINKS)) {
                for (Path p : (Iterable<Path>) s::iterator) {
                    if (p.equals(classDir) || Files.isDirectory(p)) {
                        continue;
                    }
                    if (isImageName(classDir.relativize(p))) {
                        found.add(p);
                    } else {
                        skipped++;
                    }
                }
            }
            if (found.isEmpty()) {
                throw new IOException("class directory " + classDir + " contains no images (files ending in .png, "
                        + ".jpg or .jpeg)");
            }
            // Relative path with '/' separators: the same order on every OS and file system.
            found.sort((a, b) -> relative(classDir, a).compareTo(relative(classDir, b)));
            for (Path p : found) {
                BasicFileAttributes attrs = Files.readAttributes(p, BasicFileAttributes.class);
                totalBytes += attrs.size();
                maxModified = Math.max(maxModified, attrs.lastModifiedTime().toMillis());
                pathsHash = 31 * pathsHash + (classes.get(c) + "/" + relative(classDir, p)).hashCode();
                files.add(p);
                labels.add(c);
            }
        }
        if (skipped > 0) {
            LOG.debug("Ignored {} non-image or hidden files under {}", skipped, splitDir);
        }
        int[] labelArray = labels.stream().mapToInt(Integer::intValue).toArray();
        Path real = splitDir.toRealPath();
        return new Split(splitDir, List.copyOf(files), labelArray,
                new SplitKey(real, files.size(), totalBytes, maxModified, pathsHash));
    }

    /** The files of a split that a sample takes (the split itself when it takes all). */
    private static Split sampled(Split split, StratifiedSample sample, int numClasses) {
        if (sample == null || sample.size() >= split.files().size()) {
            return split;
        }
        int[] take = sample.indices(split.labels(), numClasses);
        List<Path> files = new ArrayList<>(take.length);
        int[] labels = new int[take.length];
        for (int i = 0; i < take.length; i++) {
            files.add(split.files().get(take[i]));
            labels[i] = split.labels()[take[i]];
        }
        LOG.info("Taking {} of the {} images under {} (stratified by class, seed {})", take.length,
                split.files().size(), split.dir(), sample.seed());
        return new Split(split.dir(), List.copyOf(files), labels, split.key());
    }

    static boolean isImageName(Path relative) {
        for (Path part : relative) {
            if (part.toString().startsWith(".")) {
                return false;
            }
        }
        String name = relative.getFileName().toString();
        int dot = name.lastIndexOf('.');
        return dot >= 0 && EXTENSIONS.contains(name.substring(dot + 1).toLowerCase(Locale.ROOT));
    }

    static String relative(Path base, Path p) {
        StringBuilder sb = new StringBuilder();
        for (Path part : base.relativize(p)) {
            if (sb.length() > 0) {
                sb.append('/');
            }
            sb.append(part);
        }
        return sb.toString();
    }

    /** An image whose size differs from the split's: a data set error, never skipped as a bad image. */
    private static final class WrongSize extends IOException {
        private static final long serialVersionUID = 1L;

        WrongSize(String message) {
            super(message);
        }
    }

    /**
     * Decodes every file of a split into one NCHW array. The work is spread over all cores; each
     * image is written straight into its own slot, so the result does not depend on scheduling. When
     * images fail, the error reported is the one of the first failing file in load order (workers take
     * indices in increasing order and skip only those after a known failure), so it is deterministic.
     * With {@code skipBad}, files that do not decode are dropped instead (their slots compacted away).
     */
    private static Dataset decode(Split split, List<String> classes, Normalization normalization, boolean skipBad)
            throws IOException {
        long start = System.nanoTime();
        List<Path> files = split.files();
        final int count = files.size();
        int n = count;
        IOException[] failures = new IOException[n];
        // The first image that decodes sets the size of all.
        int ref = 0;
        int[] size = null;
        for (; ref < n && size == null; ref++) {
            try {
                size = ImageFiles.read(files.get(ref), img -> new int[] {img.getWidth(), img.getHeight()});
            } catch (IOException e) {
                if (!skipBad) {
                    throw e;
                }
                failures[ref] = e;
            }
        }
        if (size == null) {
            throw new IOException(split.dir() + ": none of its " + n + " images could be decoded; the first: "
                    + failures[0].getMessage());
        }
        Path firstFile = files.get(ref - 1);
        int width = size[0];
        int height = size[1];
        int plane = width * height;
        long total = (long) n * 3 * plane;
        if (total > Integer.MAX_VALUE - 16) {
            throw new IOException(split.dir() + ": " + n + " images of " + width + "x" + height
                    + " are too many to hold in memory at once (" + total + " bytes)");
        }
        // Decoded as RGB planes first; collapsed to one plane at the end if every image was grey.
        final byte[] decoded = new byte[(int) total];
        byte[] rgb = decoded;
        AtomicBoolean allGrey = new AtomicBoolean(true);

        AtomicInteger firstFailure = new AtomicInteger(Integer.MAX_VALUE);
        AtomicInteger next = new AtomicInteger(ref - 1);
        int threads = Math.max(1, Math.min(Runtime.getRuntime().availableProcessors(), n - ref + 1));
        LOG.info("Decoding {} images ({} classes) from {} with {} threads", n, classes.size(), split.dir(), threads);
        Runnable worker = () -> {
            while (true) {
                int i = next.getAndIncrement();
                if (i >= count || (!skipBad && i > firstFailure.get())) {
                    return;
                }
                Path file = files.get(i);
                try {
                    boolean grey = ImageFiles.read(file, img -> {
                        if (img.getWidth() != width || img.getHeight() != height) {
                            throw new WrongSize(file + " is " + img.getWidth() + "x" + img.getHeight()
                                    + " pixels (width x height) but " + firstFile + " is " + width + "x" + height
                                    + "; all images must have the same size (resize them beforehand)");
                        }
                        return writeImage(img, decoded, i * 3 * plane, width, height);
                    });
                    if (!grey) {
                        allGrey.set(false);
                    }
                } catch (IOException e) {
                    failures[i] = e;
                    if (!skipBad || e instanceof WrongSize) {
                        firstFailure.accumulateAndGet(i, Math::min);
                    }
                }
            }
        };
        ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "vit4j-image-decode");
            t.setDaemon(true);
            return t;
        });
        try {
            List<Future<?>> futures = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                futures.add(pool.submit(worker));
            }
            for (Future<?> f : futures) {
                f.get();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while decoding images in " + split.dir());
        } catch (ExecutionException e) {
            // Workers catch IOException themselves, so this is an Error (e.g. out of memory) or a bug.
            if (e.getCause() instanceof Error err) {
                throw err;
            }
            throw new IllegalStateException("image decoding failed in " + split.dir(), e.getCause());
        } finally {
            pool.shutdownNow();
        }
        int failed = firstFailure.get();
        if (failed != Integer.MAX_VALUE) {
            throw failures[failed];
        }
        int[] labels = split.labels();
        int skipped = 0;
        for (IOException f : failures) {
            skipped += f != null ? 1 : 0;
        }
        if (skipped > 0) {
            IOException firstBad = null;
            int kept = 0;
            int[] keptLabels = new int[n - skipped];
            for (int i = 0; i < n; i++) {
                if (failures[i] == null) {
                    System.arraycopy(rgb, i * 3 * plane, rgb, kept * 3 * plane, 3 * plane);
                    keptLabels[kept++] = labels[i];
                } else if (firstBad == null) {
                    firstBad = failures[i];
                }
            }
            rgb = Arrays.copyOf(rgb, kept * 3 * plane);
            labels = keptLabels;
            LOG.warn("Skipped {} of {} images under {} that could not be decoded (--skip-bad-images); the first: {}",
                    skipped, n, split.dir(), firstBad.getMessage());
            n = kept;
        }

        int channels = allGrey.get() ? 1 : 3;
        byte[] pixels = rgb;
        if (channels == 1) {
            pixels = new byte[n * plane];
            for (int i = 0; i < n; i++) {
                System.arraycopy(rgb, i * 3 * plane, pixels, i * plane, plane);
            }
        }
        Dataset ds = new Dataset(NAME, channels, height, width, pixels, labels, classes, normalization);
        LOG.info("Decoded {} images of {}x{}x{} from {} in {} ms", n, channels, height, width, split.dir(),
                (System.nanoTime() - start) / 1_000_000);
        return ds;
    }

    /**
     * True for grey images, with or without alpha (8- or 16-bit, or fewer bits). Their samples are
     * read from the raster: {@code getRGB} would pass them through a linear-to-sRGB conversion and
     * change the values.
     */
    private static boolean isGrey(BufferedImage img) {
        ColorModel cm = img.getColorModel();
        return !(cm instanceof IndexColorModel) && cm.getNumColorComponents() == 1
                && cm.getColorSpace().getType() == ColorSpace.TYPE_GRAY;
    }

    /**
     * True for 8-bit RGB images without a palette (JPEG, PNG, BMP). Their samples are read from
     * the raster as they are, as Pillow does: {@code getRGB} would convert colours from an
     * embedded ICC profile, and is several times slower.
     */
    private static boolean isRgb8(BufferedImage img) {
        ColorModel cm = img.getColorModel();
        if (cm instanceof IndexColorModel || cm.getNumColorComponents() != 3
                || cm.getColorSpace().getType() != ColorSpace.TYPE_RGB || img.getRaster().getNumBands() < 3) {
            return false;
        }
        for (int c = 0; c < 3; c++) {
            if (cm.getComponentSize(c) != 8) {
                return false;
            }
        }
        return true;
    }

    /** Writes an image as three planes at {@code off}; returns whether it was greyscale. */
    static boolean writeImage(BufferedImage img, byte[] dst, int off, int width, int height) {
        int plane = width * height;
        int[] row = new int[width];
        if (isGrey(img)) {
            Raster raster = img.getRaster();
            int bits = img.getColorModel().getComponentSize(0);
            int max = (1 << bits) - 1;
            for (int y = 0; y < height; y++) {
                raster.getSamples(0, y, width, 1, 0, row);
                int o = off + y * width;
                for (int x = 0; x < width; x++) {
                    int v = bits == 8 ? row[x] : (row[x] * 255 + max / 2) / max;
                    byte b = (byte) v;
                    dst[o + x] = b;
                    dst[o + plane + x] = b;
                    dst[o + 2 * plane + x] = b;
                }
            }
            return true;
        }
        if (isRgb8(img)) {
            Raster raster = img.getRaster();
            for (int c = 0; c < 3; c++) {
                for (int y = 0; y < height; y++) {
                    raster.getSamples(0, y, width, 1, c, row);
                    int o = off + c * plane + y * width;
                    for (int x = 0; x < width; x++) {
                        dst[o + x] = (byte) row[x];
                    }
                }
            }
            return false;
        }
        for (int y = 0; y < height; y++) {
            img.getRGB(0, y, width, 1, row, 0, width);
            int o = off + y * width;
            for (int x = 0; x < width; x++) {
                int argb = row[x];
                dst[o + x] = (byte) (argb >> 16);
                dst[o + plane + x] = (byte) (argb >> 8);
                dst[o + 2 * plane + x] = (byte) argb;
            }
        }
        return false;
    }
}
