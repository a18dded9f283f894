package org.vit4j.cli;

import org.vit4j.bench.TextTable;
import org.vit4j.bench.TrainBench;
import org.vit4j.train.Presets;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code vit4j presets}: the {@code --model} presets and their defaults, the same table that
 * {@code vit4j train --help} ends with (both built from {@link Presets} by {@link #table()}).
 */
@Command(name = "presets", mixinStandardHelpOptions = true,
        description = "List the model and recipe presets of train --model, with their defaults.")
final class PresetsCommand implements Callable<Integer> {

    @Override
    public Integer call() {
        System.out.print(table());
        return 0;
    }

    /** One row per preset: name, architecture, image/patch side, shape and recipe. */
    static String table() {
        TextTable t = new TextTable("name", "arch", "image/patch", "dim", "depth", "heads", "mlp", "epochs", "batch", "lr");
        for (String name : Presets.names()) {
            Presets.Preset p = Presets.get(name);
            t.row(p.name(), p.arch(), imageSize(p) + "/" + p.patchSize(), p.dim(), p.depth(), p.heads(), p.mlpDim(),
                    p.epochs(), p.batchSize(), learningRate(p.lr()));
        }
        return t.render();
    }

    /** The side the preset trains at: its resize, else its data set's images (MNIST 28, CIFAR-10 32). */
    private static int imageSize(Presets.Preset p) {
        return p.imageSize() > 0 ? p.imageSize() : TrainBench.DataShape.of(p.dataset()).imageSize();
    }

    /** The float as written in the preset (0.003, 1e-4), not its widened double. */
    private static String learningRate(float lr) {
        String s = new java.math.BigDecimal(Float.toString(lr)).stripTrailingZeros().toPlainString();
        return s.length() <= 6 ? s : String.format(Locale.ROOT, "%.0e", lr).replace("e-0", "e-");
    }

    /**
     * Ends {@code train --help} with the table, rendered as is: picocli would wrap a footer at the
     * usage width, and the table is wider.
     */
    static final class TrainHelpFooter implements CommandLine.IModelTransformer {
        @Override
        public CommandLine.Model.CommandSpec transform(CommandLine.Model.CommandSpec spec) {
            spec.usageMessage().sectionMap().put(CommandLine.Model.UsageMessageSpec.SECTION_KEY_FOOTER,
                    help -> String.format("%nPresets (--model), with the defaults the options above override:%n") + table());
            return spec;
        }
    }
}
