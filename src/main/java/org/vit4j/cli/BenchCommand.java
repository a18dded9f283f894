package org.vit4j.cli;

import org.vit4j.backend.Backend;
import org.vit4j.backend.BackendUnavailableException;
import org.vit4j.backend.Backends;
import org.vit4j.backend.cuda.CudaBackend;
import org.vit4j.bench.KernelBench;
import org.vit4j.bench.KernelReport;
import org.vit4j.bench.TrainBench;
import org.vit4j.bench.TrainResult;
import org.vit4j.bench.VitShape;
import org.vit4j.train.Presets;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * {@code vit4j bench}: {@code kernels} (every CUDA op against the GPU's measured limits and a
 * baseline) and {@code train} (training throughput of a preset, on the CPU or the GPU). Runs on
 * its own too, before it is a subcommand of {@link Main}:
 * {@code java -cp vit4j-cli.jar org.vit4j.cli.BenchCommand train --model mnist-tutorial}.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Benchmarks: CUDA kernels against the hardware's limits, and training throughput.",
        subcommands = {BenchCommand.Kernels.class, BenchCommand.Train.class, CommandLine.HelpCommand.class})
public final class BenchCommand {

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs {@code bench} with {@link Main}'s error handling: one line, exit 1 (2 for bad input). */
    public static int run(String... args) {
        Main.quietLibraryLogging();
        CommandLine cli = new CommandLine(new BenchCommand());
        cli.setParameterExceptionHandler(Main::badUsage);
        cli.setExecutionExceptionHandler((ex, cmd, parseResult) -> {
            cmd.getErr().println("vit4j " + cmd.getCommandName() + ": error: " + Main.describe(ex));
            if (Boolean.getBoolean("vit4j.stacktrace")) {
                ex.printStackTrace(cmd.getErr());
            }
            return ex instanceof IllegalArgumentException ? 2 : 1;
        });
        return cli.execute(args);
    }

    /** {@code vit4j bench kernels}: needs a GPU; says why not in one line where there is none. */
    @Command(name = "kernels", mixinStandardHelpOptions = true, sortOptions = false,
            description = {"Time every CUDA op, forward and backward, at ViT shapes and at large shapes: median over "
                    + "many runs (CUDA events, L2 flushed before each, fresh random inputs), FLOPs and bytes counted "
                    + "by hand, achieved TFLOP/s or GB/s as a percentage of this GPU's measured copy bandwidth and "
                    + "SGEMM throughput, beside a baseline (cuDNN softmax and convolution, the unfused "
                    + "cuBLAS + softmax attention).",
                    "Shape sets: mnist-tutorial, cifar10-vit, cifar10-vit-tiny, vit-tiny-224, vit-base-224 (every op at "
                            + "that model's training shapes), large (memory-bound ops on 64M elements, attention at "
                            + "vit-base-384's 577 tokens), vit-base-384."})
    static final class Kernels implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Option(names = "--shapes", split = ",", paramLabel = "NAME",
                description = "Shape sets to run, comma-separated (default: the five ViT shapes and large).")
        List<String> shapes;
        @Option(names = "--ops", paramLabel = "REGEX", defaultValue = "",
                description = "Only ops whose name contains a match, e.g. 'attention|softmax' (default: all).")
        String ops;
        @Option(names = "--warmup", defaultValue = "10", description = "Untimed runs per op (default: ${DEFAULT-VALUE}).")
        int warmup;
        @Option(names = "--runs", defaultValue = "50", description = "Timed runs per op (default: ${DEFAULT-VALUE}).")
        int runs;
        @Option(names = "--seed", defaultValue = "0", description = "Seed of the random inputs.")
        long seed;
        @Option(names = "--tf32", description = "TF32 tensor cores for the GEMMs (vit4j's, the unfused baseline's, cuDNN's).")
        boolean tf32;
        @Option(names = "--no-baselines", description = "Time vit4j's ops only.")
        boolean noBaselines;
        @Option(names = "--quick", description = "A smoke run: mnist-tutorial shapes, 2 warm-up and 5 timed runs, "
                + "small peak measurements.")
        boolean quick;
        @Option(names = "--json", paramLabel = "FILE", description = "Also write the results as JSON.")
        Path json;

        @Override
        public Integer call() throws IOException {
            List<String> sets = shapes != null ? shapes : quick ? List.of("mnist-tutorial") : null;
            KernelBench.Settings defaults = KernelBench.Settings.defaults();
            KernelBench.Settings settings;
            try {
                settings = new KernelBench.Settings(quick ? 2 : warmup, quick ? 5 : runs, seed, tf32,
                        sets != null ? sets : defaults.shapes(), Pattern.compile(ops), !noBaselines,
                        quick ? 64L << 20 : defaults.copyBytes(), quick ? 2048 : defaults.gemmSize());
            } catch (IllegalArgumentException e) {
                // a bad shape name, run count or pattern (PatternSyntaxException is one)
                return badInput(spec, e instanceof PatternSyntaxException p
                        ? "--ops: " + p.getDescription() + " in '" + ops + "'" : e.getMessage());
            }
            CudaBackend cuda;
            try {
                cuda = Backends.cuda();
            } catch (BackendUnavailableException e) {
                spec.commandLine().getErr().println("vit4j bench kernels: error: " + e.getMessage()
                        + " (bench kernels needs an NVIDIA GPU; bench train runs on the CPU too)");
                return 1;
            }
            try (cuda) {
                KernelReport report = KernelBench.run(cuda, settings, System.out);
                System.out.println();
                System.out.println(report.peaksLine());
                System.out.print(report.table());
                if (json != null) {
                    report.writeJson(json);
                    System.out.println("wrote " + json);
                }
            }
            return 0;
        }
    }

    /** {@code vit4j bench train}: images/s and ms per step of a preset's training step. */
    @Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
            description = "Training throughput of a preset's model on synthetic data of its data set's shape: "
                    + "images/s and ms per step of the real training step after warm-up, and the step split into "
                    + "upload, forward, backward and optimizer (separate, synchronised steps).")
    static final class Train implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Option(names = "--model", paramLabel = "PRESET", defaultValue = "mnist-tutorial",
                description = "Model and recipe preset (default: ${DEFAULT-VALUE}).")
        String preset;
        @Option(names = "--batch-size", paramLabel = "B", description = "Images per step (default: the preset's).")
        Integer batchSize;
        @Option(names = "--device", defaultValue = "auto", description = "auto, cpu or cuda (default: ${DEFAULT-VALUE}).")
        String device;
        @Option(names = "--warmup", defaultValue = "5", description = "Untimed steps first (default: ${DEFAULT-VALUE}).")
        int warmup;
        @Option(names = "--steps", defaultValue = "20", description = "Timed steps (default: ${DEFAULT-VALUE}).")
        int steps;
        @Option(names = "--seed", defaultValue = "0", description = "Seed of the model and the synthetic data.")
        long seed;
        @Option(names = "--tf32", description = "TF32 tensor cores for the GEMMs (CUDA only).")
        boolean tf32;
        @Option(names = "--json", paramLabel = "FILE", description = "Also write the result as JSON.")
        Path json;

        @Override
        public Integer call() throws IOException {
            Presets.Preset p;
            try {
                p = Presets.get(preset);
                TrainBench.DataShape.of(p.dataset());
            } catch (IllegalArgumentException e) {
                return badInput(spec, e.getMessage());
            }
            int batch = batchSize != null ? batchSize : p.batchSize();
            if (batch < 1 || warmup < 0 || steps < 1) {
                return badInput(spec, "need --batch-size >= 1, --warmup >= 0 and --steps >= 1; got --batch-size "
                        + batch + ", --warmup " + warmup + ", --steps " + steps);
            }
            try (Backend backend = Backends.create(device)) {
                if (tf32) {
                    if (!(backend instanceof CudaBackend cuda)) {
                        throw new IllegalArgumentException("--tf32 needs the CUDA backend; this run is on " + backend.name());
                    }
                    cuda.setTf32(true);
                }
                TrainResult r = TrainBench.run(backend, p, batch, warmup, steps, seed, System.out);
                System.out.print(r.summary());
                if (json != null) {
                    r.writeJson(json);
                    System.out.println("wrote " + json);
                }
            }
            return 0;
        }
    }

    /**
     * Bad input in one line and exit code 2, as {@link Main} reports it; handled here so that the
     * command behaves the same in any {@link CommandLine}, {@link Main}'s or a bare one.
     */
    static int badInput(CommandSpec spec, String message) {
        spec.commandLine().getErr().println("vit4j bench " + spec.name() + ": error: " + message);
        return 2;
    }

    /** Shape names for messages. */
    static List<String> shapeNames() {
        List<String> names = new ArrayList<>();
        VitShape.VIT.forEach(s -> names.add(s.name()));
        names.add(KernelBench.LARGE);
        return names;
    }
}
