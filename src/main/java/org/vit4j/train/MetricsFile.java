package org.vit4j.train;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.time.temporal.ChronoUnit;

/**
 * Appends one JSON object per epoch to a JSON-lines file, flushed after each line: the epoch,
 * the UTC time of the record, the losses and accuracies, the throughput and the learning rate.
 *
 * <p>A resumed run's file holds each epoch once: opening it for a run resumed after epoch
 * {@code E} cuts it after the last complete record of an epoch up to {@code E} (dropping what a
 * crashed or failed run wrote after its last checkpoint, and a half-written line), and puts back
 * epoch {@code E}'s record from the checkpoint when a crash between the checkpoint and the
 * metrics line lost it (without its timings: see {@link #stateLine}).
 */
public final class MetricsFile implements TrainingListener, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(MetricsFile.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Path path;
    private final FileChannel out;

    /** A new run's metrics file: emptied, or created. */
    public MetricsFile(Path path) throws IOException {
        this(path, -1, null);
    }

    /**
     * The metrics file of a run resumed after epoch {@code resumedEpoch} ({@code -1}: a new run,
     * the file is emptied); {@code resumedRecord} is that epoch's line as the checkpoint holds it, or null.
     */
    public MetricsFile(Path path, int resumedEpoch, String resumedRecord) throws IOException {
        this.path = path;
        Files.createDirectories(path.toAbsolutePath().getParent());
        this.out = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
        try {
            if (resumedEpoch < 0) {
                out.truncate(0);
            } else {
                resume(resumedEpoch, resumedRecord);
            }
            out.position(out.size());
        } catch (IOException | RuntimeException e) {
            out.close();
            throw e;
        }
    }

    /** The JSON line of a record (without the newline), with the time it is written at. */
    public static String line(EpochResult r) {
        return line(r, Instant.now());
    }

    /**
     * The JSON line of a record written at {@code time}: its fields, {@code "time"} (ISO-8601 UTC,
     * milliseconds) after the epoch.
     */
    public static String line(EpochResult r, Instant time) {
        ObjectNode n = JSON.createObjectNode();
        n.put("epoch", r.epoch());
        n.put("time", time.truncatedTo(ChronoUnit.MILLIS).toString());
        putState(n, r);
        n.put("imagesPerSecond", r.imagesPerSecond());
        n.put("seconds", r.seconds());
        return n.toString();
    }

    /**
     * A record without its timings, {@code "restored": true} in their place: what a checkpoint
     * stores, as the same state must give the same checkpoint bytes.
     */
    public static String stateLine(EpochResult r) {
        ObjectNode n = JSON.createObjectNode();
        n.put("epoch", r.epoch());
        putState(n, r);
        n.put("restored", true);
        return n.toString();
    }

    /**
     * The fields that are the run's state. The learning rate is a float, written as the float's
     * own shortest decimal (0.003, not the 0.003000000026 of its widened double).
     */
    private static void putState(ObjectNode n, EpochResult r) {
        n.put("trainLoss", r.trainLoss());
        if (!Double.isNaN(r.trainAccuracy())) {
            n.put("trainAccuracy", r.trainAccuracy());
        }
        n.put("testLoss", r.testLoss());
        n.put("testAccuracy", r.testAccuracy());
        n.put("learningRate", (float) r.learningRate());
    }

    private void resume(int epoch, String record) throws IOException {
        long size = out.size();
        if (size > Integer.MAX_VALUE) {
            throw new IOException(path + ": a metrics file of " + size + " bytes is not one of vit4j's");
        }
        ByteBuffer all = ByteBuffer.allocate((int) size);
        while (all.hasRemaining() && out.read(all, all.position()) >= 0) {
            // positional reads until the buffer is full or the file ends
        }
        String text = new String(all.array(), 0, all.position(), StandardCharsets.UTF_8);
        long keep = 0;
        int lastEpoch = 0;
        int dropped = 0;
        int start = 0;
        while (start < text.length()) {
            int nl = text.indexOf('\n', start);
            Integer e = nl < 0 ? null : epochOf(text.substring(start, nl));
            if (e == null || e > epoch || e <= lastEpoch) {
                dropped = (int) text.substring(start).lines().count();
                break;
            }
            lastEpoch = e;
            start = nl + 1;
            keep = text.substring(0, start).getBytes(StandardCharsets.UTF_8).length;
        }
        out.truncate(keep);
        if (dropped > 0) {
            LOG.info("{}: dropped {} line(s) after epoch {}, written after the checkpoint the run resumes from", path,
                    dropped, lastEpoch);
        }
        if (lastEpoch < epoch && record != null && Integer.valueOf(epoch).equals(epochOf(record))) {
            out.write(ByteBuffer.wrap((record + "\n").getBytes(StandardCharsets.UTF_8)), keep);
            LOG.info("{}: restored epoch {}'s record from the checkpoint", path, epoch);
        }
    }

    /** The epoch of a complete record line, or null for anything else. */
    private static Integer epochOf(String line) {
        try {
            JsonNode n = JSON.readTree(line);
            return n != null && n.path("epoch").isInt() ? n.get("epoch").asInt() : null;
        } catch (JsonProcessingException e) {
            return null;
        }
    }

    @Override
    public void onEpochEnd(EpochResult result) {
        try {
            ByteBuffer b = ByteBuffer.wrap((line(result) + "\n").getBytes(StandardCharsets.UTF_8));
            while (b.hasRemaining()) {
                out.write(b);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write metrics to " + path + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() throws IOException {
        out.close();
    }
}
