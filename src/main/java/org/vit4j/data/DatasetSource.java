package org.vit4j.data;

import org.vit4j.io.CacheDirectory;
import org.vit4j.io.IoErrors;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Finds a dataset by name and loads it, downloading it first when needed.
 *
 * <p>With a data directory the files are read from there and nothing is downloaded. Without one,
 * MNIST, Fashion-MNIST and CIFAR-10 live in a cache, {@code <cache>/<dataset>/}, where {@code <cache>}
 * is the system property {@value #CACHE_PROPERTY}, else the environment variable {@value #CACHE_ENV},
 * else {@code ~/.cache/vit4j}. Missing files are downloaded from the same mirrors as torchvision and
 * checked against the same MD5 checksums (CIFAR-10 uses the binary archive, whose MD5 is the one
 * published on the CIFAR page); a file that fails the check is deleted and the error reported.
 * Files already in the cache are trusted: they only get there after passing the check.
 *
 * <p>The static {@link #open} uses the built-in mirrors; an instance made with
 * {@link #DatasetSource(Path, Map)} can point elsewhere (a local mirror, or a test server), and
 * {@link #withMirror} puts one more mirror before them (the command line's {@code --mirror} or
 * {@value #MIRROR_ENV}): a folder, served over HTTP or as a {@code file:} URL, that holds the data
 * set's files under the same names. Its files are checked against the same MD5 sums.
 */
public final class DatasetSource {
    private static final Logger LOG = LoggerFactory.getLogger(DatasetSource.class);

    /** Names accepted by {@link #open}. */
    public static final List<String> NAMES = List.of("mnist", "fashion-mnist", "cifar10", "imagefolder");

    /** System property that overrides the cache root. */
    public static final String CACHE_PROPERTY = CacheDirectory.PROPERTY;
    /** Environment variable that overrides the cache root (the system property wins). */
    public static final String CACHE_ENV = CacheDirectory.ENV;

    /** Environment variable naming a mirror tried before the built-in ones (the command line's --mirror wins). */
    public static final String MIRROR_ENV = "VIT4J_MIRROR";

    /** The archive CIFAR-10 is downloaded as. */
    public static final String CIFAR10_ARCHIVE = "cifar-10-binary.tar.gz";

    /**
     * Where to download a dataset's files from.
     *
     * @param mirrors base URLs, each ending in {@code /}, tried in order
     * @param md5 file name (appended to a mirror URL) to its hex MD5
     * @param contentMd5 for gzipped files, file name to the hex MD5 of the decompressed content: a
     *     mirror may hold a copy gzipped again (other gzip bytes, the same data), which is accepted
     *     when its content matches; may be empty
     */
    public record Remote(List<String> mirrors, Map<String, String> md5, Map<String, String> contentMd5) {
        private static final Pattern HEX32 = Pattern.compile("[0-9a-fA-F]{32}");

        /** @throws IllegalArgumentException if there is no mirror or a checksum is not 32 hex digits */
        public Remote {
            mirrors = List.copyOf(mirrors);
            md5 = Map.copyOf(md5);
            contentMd5 = Map.copyOf(contentMd5);
            if (mirrors.isEmpty()) {
                throw new IllegalArgumentException("a remote needs at least one mirror");
            }
            for (Map<String, String> sums : List.of(md5, contentMd5)) {
                for (var e : sums.entrySet()) {
                    if (!HEX32.matcher(e.getValue()).matches()) {
                        throw new IllegalArgumentException("bad MD5 for " + e.getKey() + ": " + e.getValue());
                    }
                }
            }
        }

        /** A remote whose files are checked by their own MD5 only. */
        public Remote(List<String> mirrors, Map<String, String> md5) {
            this(mirrors, md5, Map.of());
        }
    }

    /**
     * MNIST: torchvision's mirror (yann.lecun.com no longer serves the files) and its checksums,
     * and those of the four original IDX files, for mirrors whose copies were gzipped again.
     */
    public static final Remote MNIST = new Remote(List.of("https://ossci-datasets.s3.amazonaws.com/mnist/"), Map.of(
            "train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"), Map.of(
            "train-images-idx3-ubyte.gz", "6bbc9ace898e44ae57da46a324031adb",
            "train-labels-idx1-ubyte.gz", "a25bea736e30d166cdddb491f175f624",
            "t10k-images-idx3-ubyte.gz", "2646ac647ad5339dbf082846283269ea",
            "t10k-labels-idx1-ubyte.gz", "27ae3e4e09519cfbb04c329615203637"));

    /** Fashion-MNIST: Zalando's S3 bucket, torchvision's checksums. */
    public static final Remote FASHION_MNIST = new Remote(
            List.of("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"), Map.of(
            "train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"));

    /** CIFAR-10, binary version, from the dataset authors' page (the MD5 published there). */
    public static final Remote CIFAR10 = new Remote(List.of("https://www.cs.toronto.edu/~kriz/"),
            Map.of(CIFAR10_ARCHIVE, "c32a1d4ab5d03f1284b67883e8d87530"));

    private final Path cacheRoot;
    private final Map<String, Remote> remotes;
    private final Downloader downloader;

    /**
     * A source with its own cache and mirrors.
     *
     * @param cacheRoot folder that holds one subfolder per dataset
     * @param remotes per dataset name ({@code "mnist"}, {@code "fashion-mnist"}, {@code "cifar10"}),
     *     where to download it from; a dataset without an entry cannot be downloaded
     */
    public DatasetSource(Path cacheRoot, Map<String, Remote> remotes) {
        this(cacheRoot, remotes, new Downloader());
    }

    DatasetSource(Path cacheRoot, Map<String, Remote> remotes, Downloader downloader) {
        this.cacheRoot = Objects.requireNonNull(cacheRoot, "cacheRoot");
        this.remotes = Map.copyOf(remotes);
        this.downloader = Objects.requireNonNull(downloader, "downloader");
    }

    /** The default source: {@link #defaultCacheRoot()} and the public mirrors. */
    public static DatasetSource defaults() {
        return new DatasetSource(defaultCacheRoot(),
                Map.of("mnist", MNIST, "fashion-mnist", FASHION_MNIST, "cifar10", CIFAR10));
    }

    /** A data set's two halves. */
    public enum Split {
        TRAIN, TEST
    }

    /**
     * A split of {@code dataset} ({@code mnist}, {@code fashion-mnist} or {@code cifar10}) from the
     * download cache, downloaded and checked first if it is not there yet.
     */
    public static Dataset open(String dataset, Split split) throws IOException {
        return open(dataset, null, split == Split.TRAIN);
    }

    /** A split of {@code dataset} read from the files in {@code dataDir} (nothing is downloaded). */
    public static Dataset open(String dataset, Path dataDir, Split split) throws IOException {
        return open(dataset, Objects.requireNonNull(dataDir, "dataDir"), split == Split.TRAIN);
    }

    /**
     * Loads a dataset split with the default source.
     *
     * @param dataset one of {@link #NAMES} (case-insensitive)
     * @param dataDir folder with the files; {@code null} to use (and fill) the download cache, which
     *     is not possible for {@code "imagefolder"}
     * @param train the training split, else the test split
     * @throws IllegalArgumentException if the name is unknown, or {@code imagefolder} has no dataDir
     * @throws IOException if the files are missing or bad, or the download fails
     */
    public static Dataset open(String dataset, Path dataDir, boolean train) throws IOException {
        return defaults().load(dataset, dataDir, train);
    }

    /** As {@link #open(String, Path, boolean)}; an image folder's undecodable images are skipped if asked. */
    public static Dataset open(String dataset, Path dataDir, boolean train, boolean skipBadImages) throws IOException {
        return defaults().load(dataset, dataDir, train, skipBadImages);
    }

    /** As {@link #load(String, Path, boolean)}; an image folder's undecodable images are skipped if asked. */
    public Dataset load(String dataset, Path dataDir, boolean train, boolean skipBadImages) throws IOException {
        return load(dataset, dataDir, train, skipBadImages, null, null);
    }

    /**
     * As {@link #load(String, Path, boolean, boolean)}, and only a stratified sample of the split if
     * asked: an image folder decodes only the files the sample takes, the other data sets copy only
     * its images.
     *
     * @param sample the images to take, {@code null} for the whole split
     * @param folderNormalization the statistics an image folder's split is normalised with (its
     *     training split's, or what a checkpoint recorded); {@code null} computes them, as
     *     {@link ImageFolder#load(Path, boolean, Normalization)} does; other data sets ignore it
     */
    public Dataset load(String dataset, Path dataDir, boolean train, boolean skipBadImages, StratifiedSample sample,
            Normalization folderNormalization) throws IOException {
        if (dataDir != null && canonicalName(dataset).equals(ImageFolder.NAME)) {
            return ImageFolder.load(dataDir, train, folderNormalization, skipBadImages, sample);
        }
        Dataset d = load(dataset, dataDir, train);
        if (sample == null || sample.size() >= d.size()) {
            return d;
        }
        LOG.info("Taking {} of the {} {} {} images (stratified by class, seed {})", sample.size(), d.size(), d.name(),
                train ? "training" : "test", sample.seed());
        return sample.apply(d);
    }

    /** As {@link #open}, with this source's cache and mirrors. */
    public Dataset load(String dataset, Path dataDir, boolean train) throws IOException {
        String name = canonicalName(dataset);
        if (dataDir != null) {
            return read(name, dataDir, train);
        }
        if (name.equals("imagefolder")) {
            throw new IllegalArgumentException("the imagefolder dataset needs a data directory (--data-dir DIR, "
                    + "with DIR/train/<class>/<images> and DIR/test/<class>/<images>)");
        }
        Path dir = cacheDir(name);
        ensureDownloaded(name, dir, train);
        return read(name, dir, train);
    }

    /**
     * This source with {@code mirror} tried before every dataset's own mirrors.
     *
     * @param mirror base URL as {@link #mirrorUrl} accepts it
     * @param origin what named it, for the error message (an option or an environment variable)
     * @throws IllegalArgumentException if the URL is not an http:, https: or file: URL
     */
    public DatasetSource withMirror(String mirror, String origin) {
        String base = mirrorUrl(mirror, origin);
        Map<String, Remote> prefixed = new LinkedHashMap<>();
        for (var e : remotes.entrySet()) {
            List<String> mirrors = new ArrayList<>();
            mirrors.add(base);
            mirrors.addAll(e.getValue().mirrors());
            prefixed.put(e.getKey(), new Remote(mirrors, e.getValue().md5(), e.getValue().contentMd5()));
        }
        return new DatasetSource(cacheRoot, prefixed, downloader);
    }

    /**
     * Checks a mirror's base URL, before anything is downloaded: an absolute {@code http:} or
     * {@code https:} URL with a host, or a {@code file:} URL. Returns it ending in {@code /}, so that
     * file names resolve inside it.
     *
     * @param origin what named the URL ({@code --mirror}, {@value #MIRROR_ENV}), named in the error
     * @throws IllegalArgumentException with a one-line message naming the URL and the problem
     */
    public static String mirrorUrl(String url, String origin) {
        Objects.requireNonNull(url, "url");
        String shown = IoErrors.quote(url);
        URI uri;
        try {
            uri = new URI(url.trim());
        } catch (java.net.URISyntaxException e) {
            throw new IllegalArgumentException(origin + " " + shown + " is not a URL (" + e.getReason()
                    + "); give the folder that holds the data set's files, e.g. http://host:8000/ or file:///data/mnist/");
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        switch (scheme) {
            case "http", "https" -> {
                if (uri.getHost() == null) {
                    throw new IllegalArgumentException(origin + " " + shown + " has no host; give e.g. http://host:8000/");
                }
            }
            case "file" -> {
                if (uri.getPath() == null || uri.getPath().isEmpty()) {
                    throw new IllegalArgumentException(origin + " " + shown + " has no path; give e.g. file:///data/mnist/");
                }
            }
            default -> throw new IllegalArgumentException(origin + " " + shown + " is not an http:, https: or file: URL"
                    + (scheme.isEmpty() ? "" : " (scheme " + scheme + ":)")
                    + "; give the folder that holds the data set's files, e.g. http://host:8000/ or file:///data/mnist/");
        }
        String text = uri.toString();
        return text.endsWith("/") ? text : text + "/";
    }

    /** The cache root: {@link CacheDirectory#root()}. */
    public static Path defaultCacheRoot() {
        return CacheDirectory.root();
    }

    /** Per dataset name, where this source downloads it from. */
    public Map<String, Remote> remotes() {
        return remotes;
    }

    /** The folder this source caches a dataset in. */
    public Path cacheDir(String dataset) {
        return cacheRoot.resolve(canonicalName(dataset));
    }

    private static String canonicalName(String dataset) {
        Objects.requireNonNull(dataset, "dataset");
        String name = dataset.trim().toLowerCase(Locale.ROOT);
        if (!NAMES.contains(name)) {
            throw new IllegalArgumentException("unknown dataset '" + dataset + "'; valid names: "
                    + String.join(", ", NAMES));
        }
        return name;
    }

    private static Dataset read(String name, Path dir, boolean train) throws IOException {
        switch (name) {
            case "mnist":
            case "fashion-mnist":
                return Mnist.load(dir, train, name);
            case "cifar10":
                return Cifar10.load(dir, train);
            case "imagefolder":
                return ImageFolder.load(dir, train);
            default:
                throw new AssertionError(name);
        }
    }

    private void ensureDownloaded(String name, Path dir, boolean train) throws IOException {
        if (name.equals("cifar10")) {
            if (Cifar10.locate(dir, train) == null) {
                downloadCifar10(dir, train);
            }
            return;
        }
        List<String> wantedFiles = new ArrayList<>();
        for (String base : Mnist.fileNames(train)) {
            wantedFiles.add(base + ".gz");
        }
        for (String base : Mnist.fileNames(train)) {
            if (Mnist.find(dir, base) == null) {
                fetch(name, base + ".gz", dir, "a folder that contains " + String.join(" and ", wantedFiles)
                        + " (gzipped or not)");
            }
        }
    }

    private void downloadCifar10(Path dir, boolean train) throws IOException {
        String hint = "a folder that contains " + String.join(", ", Cifar10.fileNames(train))
                + " (extracted from " + CIFAR10_ARCHIVE + ")";
        Path archive = dir.resolve(CIFAR10_ARCHIVE);
        if (!Files.isRegularFile(archive)) {
            fetch("cifar10", CIFAR10_ARCHIVE, dir, hint);
        }
        Set<String> wanted = new HashSet<>(Cifar10.fileNames(true));
        wanted.addAll(Cifar10.fileNames(false));
        wanted.add("batches.meta.txt");
        Path dest = dir.resolve(Cifar10.SUBFOLDER);
        LOG.info("Extracting {} to {}", archive, dest);
        Set<String> got = Tar.extract(archive, wanted, dest);
        List<String> missing = new ArrayList<>();
        for (String f : Cifar10.fileNames(true)) {
            if (!got.contains(f)) {
                missing.add(f);
            }
        }
        for (String f : Cifar10.fileNames(false)) {
            if (!got.contains(f)) {
                missing.add(f);
            }
        }
        if (!missing.isEmpty()) {
            throw new IOException(archive + ": the archive does not contain " + String.join(", ", missing));
        }
        // The extracted batches are what we read; the 170 MB archive is no longer needed.
        Files.delete(archive);
    }

    /** Downloads one file of a dataset into {@code dir}, trying each mirror. */
    private void fetch(String name, String file, Path dir, String hint) throws IOException {
        Remote remote = remotes.get(name);
        String md5 = remote == null ? null : remote.md5().get(file);
        if (md5 == null) {
            throw new IOException(name + " file " + file + " is not in " + dir + " and no download location is "
                    + "configured for it; pass --data-dir DIR pointing at " + hint);
        }
        Map<String, IOException> failures = new LinkedHashMap<>();
        for (String mirror : remote.mirrors()) {
            String url = mirror.endsWith("/") ? mirror + file : mirror + "/" + file;
            try {
                downloader.download(URI.create(url), dir.resolve(file), md5, remote.contentMd5().get(file));
                return;
            } catch (Downloader.ChecksumException e) {
                LOG.warn(e.getMessage());
                failures.put(url, e);
            } catch (IOException e) {
                LOG.warn("Download of {} failed: {}", url, e.toString());
                failures.put(url, e);
            }
        }
        StringBuilder msg = new StringBuilder();
        for (var e : failures.entrySet()) {
            if (msg.length() > 0) {
                msg.append("; ");
            }
            msg.append(msg.length() == 0 ? "Download of " : "download of ").append(e.getKey()).append(" failed");
            if (e.getValue() instanceof Downloader.ChecksumException) {
                msg.append(": ").append(e.getValue().getMessage());
            } else {
                msg.append(" (").append(describe(e.getValue())).append(')');
            }
        }
        msg.append(". Without internet access, pass --mirror URL (or set " + MIRROR_ENV + ") naming a server or "
                + "file: folder that holds ").append(file).append(", or fetch the files elsewhere and pass --data-dir DIR "
                + "pointing at ").append(hint);
        throw new IOException(msg.toString(), failures.values().iterator().next());
    }

    /**
     * Class and message of an exception, or of the first cause that has a message: the HTTP
     * client's {@code ConnectException} often has none itself.
     */
    private static String describe(Throwable e) {
        String text = e.getClass().getSimpleName();
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t.getMessage() != null && !t.getMessage().isBlank()) {
                return text + ": " + t.getMessage();
            }
        }
        return e instanceof java.net.ConnectException ? text + ": could not connect to the server" : text;
    }
}
