package org.vit4j.cli;

import org.vit4j.io.IoErrors;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code vit4j} command line: {@code train}, {@code eval}, {@code predict}, {@code export}, {@code bench}, {@code presets}, {@code info}. */
@Command(name = "vit4j", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Train, evaluate and run Vision Transformers on the CPU or an NVIDIA GPU.",
        subcommands = {TrainCommand.class, EvalCommand.class, PredictCommand.class, ExportCommand.class, BenchCommand.class,
                PresetsCommand.class, InfoCommand.class, CommandLine.HelpCommand.class})
public final class Main {

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the command line and returns its exit code (0 ok, 1 failure, 2 bad usage). */
    public static int run(String... args) {
        quietLibraryLogging();
        CommandLine cli = new CommandLine(new Main());
        cli.setParameterExceptionHandler(Main::badUsage);
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
     * A value picocli cannot parse, an unknown option or a missing value: one line naming it and
     * where the usage is, not the whole usage (which buries the line that matters), exit code 2.
     */
    static int badUsage(CommandLine.ParameterException ex, String[] args) {
        CommandLine cmd = ex.getCommandLine();
        String name = cmd.getCommandSpec().qualifiedName();
        String message = ex.getMessage() == null ? "bad usage" : ex.getMessage().strip();
        if (!message.isEmpty()) {
            message = Character.toLowerCase(message.charAt(0)) + message.substring(1);
        }
        cmd.getErr().println(name + ": error: " + message.replaceAll("\\s*\\R\\s*", "; ") + " (see " + name + " --help)");
        return 2;
    }

    /** Held so that java.util.logging, which keeps loggers weakly, does not drop the level set on it. */
    private static final java.util.logging.Logger NETLIB_LOG = java.util.logging.Logger.getLogger("dev.ludovic.netlib");

    /**
     * netlib logs through java.util.logging, as warnings on stderr, each BLAS it tried and could
     * not load (VectorBLAS without the Vector API module, JNIBLAS without a native BLAS) before it
     * settles on one that works: noise for a CLI user, who sees the BLAS in use in {@code vit4j info}.
     * Set before netlib's first use, which logs once per JVM.
     */
    static void quietLibraryLogging() {
        NETLIB_LOG.setLevel(java.util.logging.Level.SEVERE);
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
