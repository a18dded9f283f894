package org.vit4j.cli;

import org.vit4j.data.Dataset;
import org.vit4j.data.DatasetSource;
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

    Dataset load(String name, boolean train) throws IOException {
        Dataset d = DatasetSource.open(name, dataDir, train);
        Integer limit = train ? limitTrain : limitTest;
        if (limit != null) {
            if (limit < 1) {
                throw new IllegalArgumentException("--limit-" + (train ? "train" : "test") + " must be positive, got " + limit);
            }
            d = d.subset(0, Math.min(limit, d.size()));
        }
        return d;
    }
}
