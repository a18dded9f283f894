package org.vit4j.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vit4j.backend.Backend;
import org.vit4j.backend.cpu.CpuBackend;
import org.vit4j.io.SafeTensors;
import org.vit4j.nn.TimmWeights;
import org.vit4j.nn.ViTConfig;
import org.vit4j.nn.VisionTransformer;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link WeightsFile}: a timm file's recorded config and data, or its config inferred when it records none. */
class WeightsFileTest {
    /** DeiT-style: distilled, 2 heads of 16 (the shapes alone would not give a head count: 32 is not a multiple of 64). */
    private static final ViTConfig DISTILLED = new ViTConfig(16, 4, 3, 3, 32, 1, 2, 64, 0.2f, ViTConfig.Pool.CLS,
            ViTConfig.Head.LINEAR, true);

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    private Map<String, SafeTensors.Entry> export(Map<String, String> metadata) throws IOException {
        Path file = tmp.resolve("m.safetensors");
        try (Backend backend = new CpuBackend(1); VisionTransformer model = VisionTransformer.create(backend, DISTILLED, 5)) {
            TimmWeights.write(file, model, metadata);
        }
        return SafeTensors.read(file).tensors();
    }

    @Test
    void recordedConfigClassesAndNormalisationAreUsed() throws IOException {
        Map<String, SafeTensors.Entry> tensors = export(Map.of(WeightsFile.CONFIG, JSON.writeValueAsString(DISTILLED), WeightsFile.CLASSES, "[\"x\",\"y\",\"z\"]",
                WeightsFile.NORMALIZATION, "{\"mean\":[0.1,0.2,0.3],\"std\":[0.4,0.5,0.6]}"));
        WeightsFile file = WeightsFile.read(tmp.resolve("m.safetensors"), null);
        assertEquals(DISTILLED, file.config());
        assertTrue(file.configRecorded());
        assertEquals(WeightsFile.Kind.TIMM, file.kind());
        assertNull(file.checkpoint());
        assertEquals(List.of("x", "y", "z"), file.classes());
        assertArrayEquals(new float[] {0.1f, 0.2f, 0.3f}, file.normalization().mean());
        assertArrayEquals(new float[] {0.4f, 0.5f, 0.6f}, file.normalization().std());
        assertArrayEquals(tensors.get("dist_token").floats(), file.tensors().get("dist_token").floats());
        assertArrayEquals(new int[] {32}, file.tensors().get("dist_token").shape(), "vit4j's shape");
        assertEquals(Map.of(WeightsFile.CONFIG, JSON.writeValueAsString(DISTILLED), WeightsFile.CLASSES, "[\"x\",\"y\",\"z\"]",
                WeightsFile.NORMALIZATION, "{\"mean\":[0.1,0.2,0.3],\"std\":[0.4,0.5,0.6]}"), file.exportMetadata());
    }

    /** Without a config the heads cannot be inferred at this width: the message says to give them. */
    @Test
    void noRecordedConfigNeedsHeads() throws IOException {
        export(Map.of());
        Path path = tmp.resolve("m.safetensors");
        IOException e = assertThrows(IOException.class, () -> WeightsFile.read(path, null));
        assertEquals(path + ": cannot tell the number of heads of a dim-32 model from its shapes; give it (e.g. --heads)",
                e.getMessage());
        WeightsFile file = WeightsFile.read(path, 2);
        assertEquals(DISTILLED.withDropout(0f, 0f), file.config());
        assertFalse(file.configRecorded());
        assertNull(file.classes());
        assertNull(file.normalization());
    }

    /** vit4j's first exports wrote the config's toString under vit4j.config: read as no config, not as an error. */
    @Test
    void legacyToStringConfigCountsAsNone() throws IOException {
        export(Map.of(WeightsFile.CONFIG, DISTILLED.toString()));
        WeightsFile file = WeightsFile.read(tmp.resolve("m.safetensors"), 2);
        assertFalse(file.configRecorded());
        assertEquals(DISTILLED.withDropout(0f, 0f), file.config());
    }

    @Test
    void unreadableRecordedConfigIsOneLine() throws IOException {
        export(Map.of(WeightsFile.CONFIG, "{\"dim\": 32"));
        Path path = tmp.resolve("m.safetensors");
        IOException e = assertThrows(IOException.class, () -> WeightsFile.read(path, null));
        assertTrue(e.getMessage().startsWith(path + ": vit4j metadata has an unreadable model config: "), e.getMessage());
        assertEquals(1, e.getMessage().lines().count(), e.getMessage());

        Map<String, String> meta = new LinkedHashMap<>();
        meta.put(WeightsFile.CONFIG, JSON.writeValueAsString(DISTILLED));
        meta.put(WeightsFile.NORMALIZATION, "{\"mean\":[0.1],\"std\":[0.4]}");
        export(meta);
        e = assertThrows(IOException.class, () -> WeightsFile.read(path, null));
        assertEquals(path + ": vit4j metadata's normalisation has 1 channels but its model takes 3", e.getMessage());

        // JSON spread over lines stays one line in the message
        meta.put(WeightsFile.NORMALIZATION, "{\n\"mean\": 1}");
        export(meta);
        e = assertThrows(IOException.class, () -> WeightsFile.read(path, null));
        assertEquals(path + ": vit4j metadata has a bad normalisation '{\\u000a\"mean\": 1}': no 'mean' array", e.getMessage());
        meta.remove(WeightsFile.NORMALIZATION);
        meta.put(WeightsFile.CLASSES, "{\n}");
        export(meta);
        e = assertThrows(IOException.class, () -> WeightsFile.read(path, null));
        assertEquals(path + ": vit4j metadata's class names are not a JSON array: '{\\u000a}'", e.getMessage());
    }
}
