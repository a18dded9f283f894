package org.vit4j.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bench reports are written like any new file: with the umask's permissions, not a temporary file's 0600. */
class ReportPermissionsTest {
    @TempDir
    Path tmp;

    @Test
    void aReportHasTheUmasksPermissions() throws IOException {
        assumeTrue(FileSystems.getDefault().supportedFileAttributeViews().contains("posix"), "no POSIX permissions");
        Path plain = tmp.resolve("plain");
        try (OutputStream out = Files.newOutputStream(plain)) {
            out.write(1);
        }
        Path report = tmp.resolve("out/report.json");
        KernelReport.writeJson(report, Map.of("tool", "vit4j", "n", 3));
        assertEquals(Files.getPosixFilePermissions(plain), Files.getPosixFilePermissions(report));
        assertEquals(3, new ObjectMapper().readTree(report.toFile()).get("n").asInt());
        KernelReport.writeJson(report, Map.of("n", 4));          // replaced: the same again
        assertEquals(Files.getPosixFilePermissions(plain), Files.getPosixFilePermissions(report));
        assertEquals(4, new ObjectMapper().readTree(report.toFile()).get("n").asInt());
    }
}
