package org.vit4j.cli;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.vit4j.data.Dataset;
import org.vit4j.data.DatasetSource;
import org.vit4j.data.ImageFolder;
import org.vit4j.data.Normalization;
import org.vit4j.data.StratifiedSample;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;

/** Where the data comes from, shared by {@code train} and {@code eval}. */
final class DataOptions {
    private static final Logger LOG = LoggerFactory.getLogger(DataOptions.class);

    @Option(names = "--dataset", description = "mnist, fashion-mnist, cifar10 or imagefolder (default: the preset's; "
            + "for eval, the one the checkpoint was trained on).")
    String dataset;

    @Option(names = "--data-dir", paramLabel = "DIR",
            description = "Folder with the data set's files; without it, mnist, fashion-mnist and cifar10 are downloaded to ~/.cache/vit4j.")
    Path dataDir;

    @Option(names = "--mirror", paramLabel = "URL", description = "Download mnist, fashion-mnist or cifar10 from this "
            + "folder before the built-in mirrors: an http:, https: or file: URL where the data set's files lie under "
            + "their usual names. The files are checked against the usual MD5 sums and cached as without it "
            + "(default: $" + DatasetSource.MIRROR_ENV + ").")
    String mirror;

    @Option(names = "--limit-train", paramLabel = "N", description = "Use only N training images (quick runs): a "
            + "random sample drawn with --seed, each class in proportion to its share of the split.")
    Integer limitTrain;

    @Option(names = "--limit-test", paramLabel = "N", description = "Use only N test images, sampled as --limit-train "
            + "(eval: with seed 0).")
    Integer limitTest;

    @Option(names = "--skip-bad-images", description = "With --dataset imagefolder: leave out images that cannot be "
            + "decoded (truncated, corrupt), with a count in the log, instead of stopping at the first.")
    boolean skipBadImages;

    /** Seed of the --limit-* samples: the command's run seed (set before loading). */
    long sampleSeed;

    /** The training split loaded last: the test split takes its normalisation and is compared with its classes. */
    private Dataset trainSet;

    /** Checks of these options alone (for data set {@code name}), before anything is read. */
    void requireOptions(String name) {
        requireSource();
        if (skipBadImages && !ImageFolder.NAME.equalsIgnoreCase(name.trim())) {
            throw new IllegalArgumentException("--skip-bad-images applies to --dataset imagefolder; " + name
                    + " is not a folder of image files");
        }
    }

    /** The checks that need no data set name: the mirror and the limits. */
    void requireSource() {
        if (mirror != null && dataDir != null) {
            throw new IllegalArgumentException("--mirror and --data-dir exclude each other: --data-dir reads the files "
                    + "from a folder and downloads nothing");
        }
        source();
        if (limitTrain != null && limitTrain < 1) {
            throw new IllegalArgumentException("--limit-train must be positive, got " + limitTrain);
        }
        if (limitTest != null && limitTest < 1) {
            throw new IllegalArgumentException("--limit-test must be positive, got " + limitTest);
        }
    }

    /** One split, sampled as --limit-train or --limit-test ask; an image folder's test split takes the training split's normalisation. */
    Dataset load(String name, boolean train) throws IOException {
        return load(name, train, train || trainSet == null ? null : trainSet.normalization());
    }

    /**
     * One split, sampled as --limit-train or --limit-test ask.
     *
     * @param folderNormalization what an image folder is normalised with ({@code null}: its training
     *     split's statistics); known statistics spare decoding the training split for the test split
     */
    Dataset load(String name, boolean train, Normalization folderNormalization) throws IOException {
        requireOptions(name);
        Integer limit = train ? limitTrain : limitTest;
        StratifiedSample sample = limit == null ? null : new StratifiedSample(limit, sampleSeed);
        Dataset d = source().load(name, dataDir, train, skipBadImages, sample, folderNormalization);
        if (train) {
            trainSet = d;
        } else if (trainSet != null) {
            StratifiedSample.coverageWarning(trainSet, d, "--limit-train", "--limit-test").ifPresent(LOG::warn);
        }
        return d;
    }

    /** The default source, with the mirror of --mirror or $VIT4J_MIRROR first when there is one (and data to download). */
    private DatasetSource source() {
        DatasetSource source = DatasetSource.defaults();
        if (dataDir != null) {
            return source;
        }
        String env = System.getenv(DatasetSource.MIRROR_ENV);
        return withMirror(source, mirror, env == null || env.isBlank() ? null : env);
    }

    /** {@code source} with the option's mirror, else the environment's, else none: the option wins. */
    static DatasetSource withMirror(DatasetSource source, String option, String environment) {
        if (option != null) {
            return source.withMirror(option, "--mirror");
        }
        return environment == null ? source : source.withMirror(environment, DatasetSource.MIRROR_ENV);
    }
}
