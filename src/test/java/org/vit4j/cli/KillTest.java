package org.vit4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vit4j.io.AtomicFile;
import org.vit4j.train.Checkpoint;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * kill -9 of the real command line, in its own JVM, while it trains and while it writes a
 * checkpoint: the last checkpoint always loads, and a resume ends with exactly the checkpoint
 * (byte for byte) and metrics (each epoch once, the same losses) of a run never interrupted.
 * The uninterrupted run is in this JVM and the resumed ones in others, so the byte comparison is
 * also "same state, same bytes" across JVMs.
 */
class KillTest {
    private static final int EPOCHS = 3;

    @TempDir
    Path tmp;

    /** A model large enough (3 MB checkpoints) that a write lasts long enough to be caught. */
    private List<String> train(Path data, Path ckpt, Path metrics, boolean resume) {
        List<String> args = new ArrayList<>(List.of("train", "--data-dir", data.toString(), "--epochs",
                Integer.toString(EPOCHS), "--batch-size", "50", "--dim", "128", "--depth", "2", "--heads", "4",
                "--mlp-dim", "256", "--no-progress", "--device", "cpu", "--checkpoint", ckpt.toString(),
                "--metrics", metrics.toString()));
        if (resume) {
            args.addAll(List.of("--resume", ckpt.toString()));
        }
        return args;
    }

    private static Process start(List<String> args, Path log) throws IOException {
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules=jdk.incubator.vector", "-Xmx1g", "-cp", cp, Main.class.getName()));
        cmd.addAll(args);
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    private static int run(List<String> args, Path log) throws Exception {
        Process p = start(args, log);
        assertTrue(p.waitFor(5, TimeUnit.MINUTES), "finished");
        return p.exitValue();
    }

    private static List<Integer> epochs(Path metrics) throws IOException {
        List<Integer> out = new ArrayList<>();
        for (String line : Files.readAllLines(metrics)) {
            out.add(new ObjectMapper().readTree(line).get("epoch").asInt());
        }
        return out;
    }

    private static double epochSeconds(Path metrics, int epoch) throws IOException {
        for (String line : Files.readAllLines(metrics)) {
            var n = new ObjectMapper().readTree(line);
            if (n.get("epoch").asInt() == epoch) {
                return n.get("seconds").asDouble();
            }
        }
        throw new AssertionError("no epoch " + epoch + " in " + metrics);
    }

    private static String trainLoss(Path metrics, int epoch) throws IOException {
        for (String line : Files.readAllLines(metrics)) {
            var n = new ObjectMapper().readTree(line);
            if (n.get("epoch").asInt() == epoch) {
                return n.get("trainLoss").asText();
            }
        }
        return null;
    }

    @Test
    void killNineWhileTrainingAndWhileWritingTheCheckpoint() throws Exception {
        Path data = tmp.resolve("mnist");
        CliTest.writeMnist(data, true, true);
        Path refCkpt = tmp.resolve("ref/c.safetensors"), refMetrics = tmp.resolve("ref/m.jsonl");
        assertEquals(0, Main.run(train(data, refCkpt, refMetrics, false).toArray(String[]::new)));
        byte[] reference = Files.readAllBytes(refCkpt);
        // Attempt 0 kills a third of an epoch after epoch 1's record: timed from the reference run's
        // epoch 2 (in this JVM, warmed up; the child is no faster), so a faster CPU backend still
        // lands the kill inside epoch 2 rather than after the last epoch.
        long intoEpoch2Ms = Math.max(1, (long) (epochSeconds(refMetrics, 2) * 1000 / 3));

        int midWrite = 0;
        for (int attempt = 0; attempt < 3; attempt++) {
            Path dir = Files.createDirectories(tmp.resolve("crash" + attempt));
            Path ckpt = dir.resolve("c.safetensors"), metrics = dir.resolve("m.jsonl"), temp = AtomicFile.temporaryFor(ckpt);
            Process p = start(train(data, ckpt, metrics, false), dir.resolve("log"));
            boolean inWrite = attempt > 0;
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
            // Attempt 0: killed while it trains epoch 2; 1 and 2: the moment the epoch-2 checkpoint's write starts.
            while (p.isAlive() && System.nanoTime() < deadline) {
                boolean epoch1Done = Files.exists(ckpt);
                if (!inWrite && epoch1Done && Files.exists(metrics) && Files.size(metrics) > 0) {
                    Thread.sleep(intoEpoch2Ms);
                    break;
                }
                if (inWrite && epoch1Done && Files.exists(temp)) {
                    break;
                }
                Thread.onSpinWait();
            }
            assertTrue(p.isAlive(), "the run ended before it could be killed: " + Files.readString(dir.resolve("log")));
            p.destroyForcibly();                                    // SIGKILL
            p.waitFor();
            if (Files.exists(temp)) {
                midWrite++;
            }
            // Whatever it was doing, the last checkpoint is whole.
            Checkpoint last = Checkpoint.load(ckpt);
            assertTrue(last.epoch() >= 1 && last.epoch() < EPOCHS, "epoch " + last.epoch());

            assertEquals(0, run(train(data, ckpt, metrics, true), dir.resolve("resume.log")),
                    Files.readString(dir.resolve("resume.log")));
            assertArrayEquals(reference, Files.readAllBytes(ckpt), "attempt " + attempt + ": the final checkpoint is "
                    + "the uninterrupted run's, byte for byte");
            assertEquals(List.of(1, 2, 3), epochs(metrics), "each epoch once in the metrics");
            for (int e = 1; e <= EPOCHS; e++) {
                assertEquals(trainLoss(refMetrics, e), trainLoss(metrics, e), "epoch " + e + "'s loss");
            }
            assertTrue(!Files.exists(temp), "the crash's temporary file is gone");
        }
        System.out.println("KillTest: " + midWrite + " of 3 kills landed while a checkpoint was being written");
        assertTrue(midWrite >= 1, "at least one kill landed mid-write (" + midWrite + ")");
    }
}
