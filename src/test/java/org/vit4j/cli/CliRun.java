package org.vit4j.cli;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

/** The command line run in this JVM through {@link Main#run}, its standard output and error captured. */
final class CliRun {
    private CliRun() {
    }

    /** What a run returned and printed. */
    record Result(int code, String out, String err) {
        List<String> outLines() {
            return out.lines().toList();
        }

        /**
         * What the command printed on stderr apart from log lines: vit4j's SLF4J lines ("[INFO] ...",
         * "[WARN] ...") and java.util.logging's two-line records.
         */
        List<String> errorLines() {
            return err.lines().filter(l -> !l.isBlank()
                    && !l.matches("^\\[(TRACE|DEBUG|INFO|WARN)\\] .*")
                    && !l.matches("^(SEVERE|WARNING|INFO|CONFIG|FINE): .*")
                    && !l.matches("^[A-Z][a-z]{2} \\d{1,2}, \\d{4} \\d{1,2}:\\d{2}:\\d{2} [AP]M .*")).toList();
        }

        /** Exit code and both outputs, for assertion messages. */
        String context() {
            return "exit " + code + "\nstdout:\n" + out + "\nstderr:\n" + err;
        }
    }

    static Result run(List<String> args) {
        return run(args.toArray(String[]::new));
    }

    static Result run(String... args) {
        PrintStream savedOut = System.out, savedErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = Main.run(args);
        } finally {
            System.out.flush();
            System.err.flush();
            System.setOut(savedOut);
            System.setErr(savedErr);
        }
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }
}
