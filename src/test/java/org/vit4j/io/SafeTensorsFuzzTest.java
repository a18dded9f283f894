package org.vit4j.io;

import com.code_intelligence.jazzer.junit.FuzzTest;
import org.vit4j.testing.Untrusted;
import org.vit4j.train.Checkpoint;

import java.io.ByteArrayInputStream;
import java.nio.file.Path;

/**
 * Untrusted safetensors bytes, as a file and as a checkpoint. In the unit tier the committed
 * corpus (src/test/resources/org/vit4j/io/SafeTensorsFuzzTestInputs) runs as regression cases; with
 * JAZZER_FUZZ=1 Jazzer fuzzes (see .ci/run).
 */
class SafeTensorsFuzzTest {
    /** Headers and tensors are held compactly: a bounded multiple of the input, widened F16, and the parser's buffers. */
    static long bound(byte[] data) {
        return 16L * data.length + (1 << 20);
    }

    @FuzzTest(maxDuration = "30s")
    void safetensors(byte[] data) {
        Untrusted.check("SafeTensors.read", bound(data), () -> {
            SafeTensors.Contents c = SafeTensors.read(new ByteArrayInputStream(data), "fuzz", data.length);
            if (Checkpoint.FORMAT.equals(c.metadata().get("format"))) {
                Checkpoint.of(c, Path.of("fuzz"));
            }
        });
    }
}
