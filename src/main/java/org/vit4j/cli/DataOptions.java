package org.vit4j.cli;

import org.vit4j.data.Dataset;
import org.vit4j.data.DatasetSource;
import org.vit4j.data.ImageFolder;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;

/** Where the data comes from, shared by {@code train} and {@code eval}. */
final class DataOptions {
    @Option(names = "--dataset", description = "mnist, fashion-mnist, cifar10 or imagefolder (default: the preset's).")
    String dataset;

    @Option(names = "--data-dir", paramLabel = "DIR",
            description = "Folder with the data set's files; without it, mnist, fashion-mnist and cifar10 are downloaded to ~/.cache/vit4j.")
    Path dataDir;

    @Option(names = "--limit-train", paramLabel = "N", description = "Use only the first N training images (quick runs).")
    Integer limitTrain;

    @Option(names = "--limit-test", paramLabel = "N", description = "Use only the first N test images.")
    Integer limitTest;

    @Option(names = "--skip-bad-images", description = "With --dataset imagefolder: leave out images that cannot be "
            + "decoded (truncated, corrupt), with a count in the log, instead of stopping at the first.")
    boolean skipBadImages;

    /** Checks of these options alone (for data set {@code name}), before anything is read. */
    void requireOptions(String name) {
        if (limitTrain != null && limitTrain < 1) {
            throw new IllegalArgumentException("--limit-train must be positive, got " + limitTrain);
        }
        if (limitTest != null && limitTest < 1) {
            throw new IllegalArgumentException("--limit-test must be positive, got " + limitTest);
        }
        if (skipBadImages && !ImageFolder.NAME.equalsIgnoreCase(name.trim())) {
            throw new IllegalArgumentException("--skip-bad-images applies to --dataset imagefolder; " + name
                    + " is not a folder of image files");
        }
    }

    Dataset load(String name, boolean train) throws IOException {
        requireOptions(name);
        Dataset d = DatasetSource.open(name, dataDir, train, skipBadImages);
        Integer limit = train ? limitTrain : limitTest;
        if (limit != null) {
            d = d.subset(0, Math.min(limit, d.size()));
        }
        return d;
    }
}
