package org.vit4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vit4j.backend.Backends;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code vit4j bench} through a bare {@code new CommandLine(new BenchCommand())}, as the lead wires it into Main. */
class BenchCommandTest {
    @TempDir
    Path tmp;

    private PrintStream savedOut;
    private ByteArrayOutputStream out;
    private StringWriter err;

    @BeforeEach
    void captureOut() {
        savedOut = System.out;
        out = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
    }

    @AfterEach
    void restoreOut() {
        System.setOut(savedOut);
    }

    private int run(String... args) {
        err = new StringWriter();
        CommandLine cli = new CommandLine(new BenchCommand());
        cli.setErr(new PrintWriter(err, true));
        return cli.execute(args);
    }

    private String stdout() {
        return out.toString(StandardCharsets.UTF_8);
    }

    /** Exactly one error line, "vit4j bench SUB: error: ...", containing every fragment; no stack trace. */
    private void assertOneLineError(String sub, String... fragments) {
        List<String> lines = err.toString().lines().filter(l -> !l.isBlank()).toList();
        assertEquals(1, lines.size(), err.toString());
        assertTrue(lines.get(0).startsWith("vit4j bench " + sub + ": error: "), lines.get(0));
        for (String f : fragments) {
            assertTrue(lines.get(0).contains(f), "'" + f + "' in " + lines.get(0));
        }
        assertFalse(err.toString().contains("\tat "), err.toString());
    }

    @Test
    void trainOnTheCpuWritesJson() throws Exception {
        Path json = tmp.resolve("train.json");
        int code = run("train", "--model", "mnist-tutorial", "--batch-size", "8", "--device", "cpu", "--warmup", "1",
                "--steps", "2", "--json", json.toString());
        assertEquals(0, code, err + stdout());
        assertTrue(stdout().contains("images/s"), stdout());
        JsonNode r = new ObjectMapper().readTree(json.toFile());
        assertEquals("mnist-tutorial", r.get("model").asText());
        assertEquals("cpu", r.get("backend").asText());
        assertEquals(8, r.get("batchSize").asInt());
        assertEquals(213_642, r.get("parameters").asLong());      // the 2020 tutorial ViT: no qkv bias
        double ips = r.get("imagesPerSecond").asDouble();
        assertTrue(ips > 0 && Double.isFinite(ips), r.toString());
        for (String phase : List.of("upload", "forward", "backward", "optimizer")) {
            assertTrue(r.get("phasesMs").get(phase).get("median").asDouble() >= 0, phase);
        }
    }

    @Test
    void unknownPresetIsBadInput() {
        assertEquals(2, run("train", "--model", "vit-huge", "--device", "cpu"));
        assertOneLineError("train", "unknown model preset 'vit-huge'", "mnist-tutorial", "cifar10-vit");
    }

    @Test
    void nonsenseCountsAreBadInput() {
        assertEquals(2, run("train", "--steps", "0", "--device", "cpu"));
        assertOneLineError("train", "--steps 0");
        assertEquals(2, run("train", "--batch-size", "-1", "--device", "cpu"));
        assertOneLineError("train", "--batch-size -1");
        assertEquals(2, run("kernels", "--shapes", "vit-huge"));
        assertOneLineError("kernels", "unknown shape 'vit-huge'", "vit-tiny-224");
        assertEquals(2, run("kernels", "--ops", "(unclosed"));
        assertOneLineError("kernels", "--ops", "(unclosed");
    }

    @Test
    void tf32NeedsTheGpu() {
        Assumptions.assumeTrue(Backends.cudaStatus().startsWith("unavailable"), "a GPU is usable here");
        int code = new CommandLine(new BenchCommand()).setErr(new PrintWriter(err = new StringWriter(), true))
                .setExecutionExceptionHandler((ex, cmd, parse) -> {
                    cmd.getErr().println("vit4j bench " + cmd.getCommandName() + ": error: " + ex.getMessage());
                    return 2;
                }).execute("train", "--device", "cpu", "--tf32", "--steps", "1", "--warmup", "0");
        assertEquals(2, code);
        assertOneLineError("train", "--tf32 needs the CUDA backend");
    }

    /** Without a GPU: exit 1 and the reason CUDA cannot be used, in one line; with one, skipped. */
    @Test
    void kernelsWithoutAGpuSaysWhy() {
        String status = Backends.cudaStatus();
        Assumptions.assumeTrue(status.startsWith("unavailable"), "a GPU is usable here: " + status);
        assertEquals(1, run("kernels", "--quick"));
        assertOneLineError("kernels", "CUDA is not usable here", "needs an NVIDIA GPU");
        assertTrue(err.toString().contains(status.substring("unavailable: CUDA is not usable here: ".length())),
                err + " vs " + status);
    }

    @Test
    void helpNamesEveryShapeSet() {
        StringWriter help = new StringWriter();
        new CommandLine(new BenchCommand()).getSubcommands().get("kernels").usage(new PrintWriter(help));
        for (String shape : BenchCommand.shapeNames()) {
            assertTrue(help.toString().contains(shape), shape + " in\n" + help);
        }
        assertEquals(2, run());   // a subcommand is required
    }
}
