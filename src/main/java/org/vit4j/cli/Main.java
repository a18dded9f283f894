package org.vit4j.cli;

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
        return cli.execute(args);
    }

    static String describe(Throwable ex) {
        String msg = ex.getMessage();
        if (msg == null || msg.isBlank()) {
            msg = ex.getClass().getSimpleName();
        }
        return msg;
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"vit4j " + (v == null ? "(development build)" : v)};
        }
    }
}
