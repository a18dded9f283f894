package org.vit4j.cli;

import org.vit4j.io.IoErrors;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code vit4j} command line: {@code train}, {@code eval}, {@code predict}, {@code export}, {@code bench}, {@code info}. */
@Command(name = "vit4j", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Train, evaluate and run Vision Transformers on the CPU or an NVIDIA GPU.",
        subcommands = {TrainCommand.class, EvalCommand.class, PredictCommand.class, ExportCommand.class, BenchCommand.class,
                InfoCommand.class, CommandLine.HelpCommand.class})
public final class Main {

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the command line and returns its exit code (0 ok, 1 failure, 2 bad usage). */
    public static int run(String... args) {
        CommandLine cli = new CommandLine(new Main());
        cli.setExecutionExceptionHandler((ex, cmd, parseResult) -> {
            // Bad input is reported in one line; a stack trace is for bugs, and only with --debug-like logging.
            cmd.getErr().println("vit4j " + cmd.getCommandName() + ": error: " + describe(ex));
            if (Boolean.getBoolean("vit4j.stacktrace")) {
                ex.printStackTrace(cmd.getErr());
            }
            return ex instanceof IllegalArgumentException ? 2 : 1;
        });
        try {
            return cli.execute(args);
        } catch (OutOfMemoryError | StackOverflowError e) {
            // Thrown past picocli's handler, which takes only Exceptions: still one line, not a trace.
            System.err.println("vit4j: error: " + (e instanceof OutOfMemoryError
                    ? "out of memory (" + e.getMessage() + "): give the JVM more heap (-Xmx) or use a smaller --batch-size"
                    : "stack overflow: an input nests too deeply"));
            if (Boolean.getBoolean("vit4j.stacktrace")) {
                e.printStackTrace();
            }
            return 1;
        }
    }

    /**
     * The one line for a failure: the message of the expected kinds (bad input, I/O, a state the
     * run cannot continue from), with the reason the JDK leaves out of file-system exceptions; for
     * anything else, a bug, its class too.
     */
    static String describe(Throwable ex) {
        Throwable t = ex;
        // Wrappers that only carry the real failure (listeners, the data loader's thread).
        while ((t instanceof java.io.UncheckedIOException || t instanceof org.vit4j.data.DataLoader.DataLoaderException)
                && t.getCause() != null && (t.getMessage() == null || t.getMessage().isBlank()
                || t instanceof org.vit4j.data.DataLoader.DataLoaderException)) {
            t = t.getCause();
        }
        if (t instanceof java.io.IOException || t instanceof IllegalArgumentException || t instanceof IllegalStateException
                || t instanceof java.io.UncheckedIOException || t instanceof UnsupportedOperationException
                || t instanceof org.vit4j.backend.BackendUnavailableException
                || t instanceof org.vit4j.backend.cuda.CudaException) {
            return IoErrors.describe(t);
        }
        return "internal error: " + t + " (a bug: please report it; -Dvit4j.stacktrace=true prints where it happened)";
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"vit4j " + (v == null ? "(development build)" : v)};
        }
    }
}
