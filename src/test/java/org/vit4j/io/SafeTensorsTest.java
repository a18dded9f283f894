package org.vit4j.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The safetensors reader and writer: round trips, layout, another writer's files, corrupt input. */
class SafeTensorsTest {
    private static final Path GOLDEN = Path.of("src/test/resources/golden");

    @TempDir
    Path dir;

    // ------------------------------------------------------------------ round trip and layout

    private static Map<String, SafeTensors.Entry> sample() {
        Map<String, SafeTensors.Entry> t = new LinkedHashMap<>();
        t.put("weights", SafeTensors.Entry.f32(new int[] {2, 3},
                new float[] {1.5f, -0f, Float.MIN_VALUE, Float.MAX_VALUE, Float.NaN, Float.NEGATIVE_INFINITY}));
        t.put("labels", SafeTensors.Entry.i32(new int[] {3}, new int[] {0, -7, Integer.MAX_VALUE}));
        t.put("scalar", SafeTensors.Entry.f32(new int[] {}, new float[] {3.25f}));
        t.put("odd", SafeTensors.Entry.f32(new int[] {1, 1, 3}, new float[] {1, 2, 3}));
        return t;
    }

    @Test
    void roundTripF32AndI32WithMetadata() throws IOException {
        Path file = dir.resolve("t.safetensors");
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", "test");
        meta.put("config", "{\"a\": [1, 2], \"b\": \"quoted \\\" string\"}");
        meta.put("unicode", "größe µ 学习");
        SafeTensors.write(file, sample(), meta);

        SafeTensors.Contents c = SafeTensors.read(file);
        assertEquals(meta, c.metadata());
        assertEquals(List.of("weights", "labels", "scalar", "odd"), List.copyOf(c.tensors().keySet()), "file order kept");

        SafeTensors.Entry w = c.tensors().get("weights");
        assertEquals("F32", w.dtype());
        assertArrayEquals(new int[] {2, 3}, w.shape());
        assertNull(w.ints());
        float[] expected = sample().get("weights").floats();
        for (int i = 0; i < expected.length; i++) {
            assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(w.floats()[i]), "element " + i);
        }

        SafeTensors.Entry l = c.tensors().get("labels");
        assertEquals("I32", l.dtype());
        assertArrayEquals(new int[] {3}, l.shape());
        assertArrayEquals(new int[] {0, -7, Integer.MAX_VALUE}, l.ints());
        assertNull(l.floats());

        SafeTensors.Entry s = c.tensors().get("scalar");
        assertArrayEquals(new int[] {}, s.shape());
        assertEquals(1, s.numel());
        assertArrayEquals(new float[] {3.25f}, s.floats());
        assertArrayEquals(new float[] {1, 2, 3}, c.tensors().get("odd").floats());
    }

    @Test
    void noMetadataAndEmptyTensor() throws IOException {
        Path file = dir.resolve("plain.safetensors");
        Map<String, SafeTensors.Entry> t = new LinkedHashMap<>();
        t.put("empty", SafeTensors.Entry.f32(new int[] {0, 4}, new float[0]));
        t.put("x", SafeTensors.Entry.f32(new int[] {2}, new float[] {1, 2}));
        SafeTensors.write(file, t, null);
        SafeTensors.Contents c = SafeTensors.read(file);
        assertTrue(c.metadata().isEmpty());
        assertEquals(0, c.tensors().get("empty").numel());
        assertArrayEquals(new float[] {1, 2}, c.tensors().get("x").floats());
        String header = header(Files.readAllBytes(file));
        assertTrue(!header.contains("__metadata__"), header);
    }

    /** The header as written: 8-byte LE length, padded JSON, data contiguous in header order. */
    @Test
    void layoutIsAlignedAndContiguous() throws Exception {
        Path file = dir.resolve("layout.safetensors");
        for (int extra = 0; extra < 9; extra++) {
            // Metadata of growing length moves the header size through every residue mod 8.
            SafeTensors.write(file, sample(), Map.of("pad", "x".repeat(extra)));
            byte[] bytes = Files.readAllBytes(file);
            long n = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            assertEquals(0, n % 8, "header length " + n + " must keep the data 8-byte aligned");
            assertEquals(8 + n + (6 + 3 + 1 + 3) * 4, bytes.length);
            String json = new String(bytes, 8, (int) n, StandardCharsets.UTF_8);
            assertTrue(json.startsWith("{"), json);
            String padding = json.substring(json.lastIndexOf('}') + 1);
            assertTrue(padding.isBlank() && padding.length() < 8, "padding is fewer than 8 trailing spaces: '" + padding + "'");
            @SuppressWarnings("unchecked")
            Map<String, Object> h = new ObjectMapper().readValue(json, Map.class);
            long expectedBegin = 0;
            for (String name : List.of("weights", "labels", "scalar", "odd")) {
                @SuppressWarnings("unchecked")
                List<Number> off = (List<Number>) ((Map<String, Object>) h.get(name)).get("data_offsets");
                assertEquals(expectedBegin, off.get(0).longValue(), name);
                expectedBegin = off.get(1).longValue();
            }
            assertEquals(bytes.length - 8 - n, expectedBegin);
            // Little-endian data: the first float of "weights" is 1.5f.
            assertEquals(1.5f, ByteBuffer.wrap(bytes, (int) (8 + n), 4).order(ByteOrder.LITTLE_ENDIAN).getFloat());
        }
    }

    @Test
    void writeReplacesAndLeavesNoTemporaryFile() throws IOException {
        Path file = dir.resolve("w.safetensors");
        Files.write(file, new byte[1 << 20]);
        SafeTensors.write(file, sample(), null);
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(List.of(file), s.toList());
        }
        assertEquals(4, SafeTensors.read(file).tensors().size());
    }

    @Test
    void writeCreatesMissingFolders() throws IOException {
        Path file = dir.resolve("a/b/c.safetensors");
        SafeTensors.write(file, sample(), null);
        assertEquals(4, SafeTensors.read(file).tensors().size());
    }

    // ------------------------------------------------------------------ another writer's files

    /**
     * The golden fixtures are written by {@code src/test/python/golden_vit.py} (struct + json, with
     * the tensors from PyTorch): compact JSON, header order unlike ours, {@code __metadata__} last.
     */
    @Test
    void readsFilesFromThePythonWriter() throws IOException {
        SafeTensors.Contents c = SafeTensors.read(GOLDEN.resolve("mnist-tutorial.safetensors"));
        Map<String, SafeTensors.Entry> t = c.tensors();
        assertArrayEquals(new int[] {8, 1, 28, 28}, t.get("input.images").shape());
        assertEquals("F32", t.get("input.images").dtype());
        assertEquals(8 * 28 * 28, t.get("input.images").floats().length);
        assertEquals("I32", t.get("input.labels").dtype());
        assertArrayEquals(new int[] {0, 1, 9, 9, 1, 2, 8, 8}, t.get("input.labels").ints());
        assertArrayEquals(new int[] {64, 49}, t.get("param.patch_embed.proj.weight").shape());
        assertArrayEquals(new int[] {17, 64}, t.get("param.pos_embed").shape());
        assertArrayEquals(new int[] {64}, t.get("param.cls_token").shape());
        assertArrayEquals(new int[] {192, 64}, t.get("param.blocks.5.attn.qkv.weight").shape());
        assertArrayEquals(new int[] {8, 10}, t.get("out.logits").shape());
        assertArrayEquals(new int[] {1}, t.get("out.loss").shape());
        float loss = t.get("out.loss").floats()[0];
        assertTrue(loss > 1 && loss < 4, "a cross-entropy over 10 classes near ln 10: " + loss);
        assertEquals(164, t.size(), "164 tensors (the header has 165 keys with __metadata__)");
        assertEquals("0.0", c.metadata().get("labelSmoothing"));
        assertTrue(c.metadata().get("config").contains("\"patchSize\":7"), c.metadata().toString());

        SafeTensors.Contents other = SafeTensors.read(GOLDEN.resolve("mnist-linear-mean.safetensors"));
        assertArrayEquals(new int[] {10, 64}, other.tensors().get("param.head.weight").shape());
        assertEquals("0.1", other.metadata().get("labelSmoothing"));
    }

    @Test
    void readsFromAStream() throws IOException {
        Path file = dir.resolve("s.safetensors");
        SafeTensors.write(file, sample(), Map.of("k", "v"));
        byte[] bytes = Files.readAllBytes(file);
        SafeTensors.Contents c = SafeTensors.read(new ByteArrayInputStream(bytes), "memory", bytes.length);
        assertEquals("v", c.metadata().get("k"));
        assertArrayEquals(new int[] {0, -7, Integer.MAX_VALUE}, c.tensors().get("labels").ints());
    }

    // ------------------------------------------------------------------ corrupt input

    private static String header(byte[] file) {
        long n = ByteBuffer.wrap(file, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        return new String(file, 8, (int) n, StandardCharsets.UTF_8);
    }

    /** A file with the given header JSON (its length written honestly) and data bytes. */
    private Path raw(String name, String json, int dataBytes) throws IOException {
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Path file = dir.resolve(name);
        Files.write(file, b.array());
        return file;
    }

    private static IOException fails(Path file, String... fragments) {
        IOException e = assertThrows(IOException.class, () -> SafeTensors.read(file));
        String msg = e.getMessage();
        assertTrue(msg.contains(file.toString()), "the message names the file: " + msg);
        for (String f : fragments) {
            assertTrue(msg.contains(f), "expected '" + f + "' in: " + msg);
        }
        return e;
    }

    @Test
    void missingFile() {
        fails(dir.resolve("absent.safetensors"), "no such file");
    }

    @Test
    void shorterThanTheLengthField() throws IOException {
        Path file = dir.resolve("short.safetensors");
        Files.write(file, new byte[] {1, 2, 3, 4, 5});
        fails(file, "shorter than its 8-byte header length");
        Files.write(file, new byte[0]);
        fails(file, "shorter than");
    }

    @Test
    void headerLengthBeyondTheFile() throws IOException {
        Path file = dir.resolve("long-header.safetensors");
        ByteBuffer b = ByteBuffer.allocate(8 + 10).order(ByteOrder.LITTLE_ENDIAN).putLong(1000);
        Files.write(file, b.array());
        fails(file, "header length 1000", "file size 18");
        // Zero, negative (a huge u64) and absurd lengths.
        for (long n : new long[] {0, -1, Long.MAX_VALUE, 1L << 40}) {
            Files.write(file, ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN).putLong(n).array());
            fails(file, "header length");
        }
    }

    @Test
    void headerIsNotJson() throws IOException {
        fails(raw("bad-json.safetensors", "{\"x\": {\"dtype\": \"F32\", ", 0), "not valid JSON");
        fails(raw("not-object.safetensors", "[1, 2, 3]", 0), "not valid JSON");
        fails(raw("binary.safetensors", "\u0000\u0001garbage", 0), "not valid JSON");
    }

    @Test
    void malformedEntry() throws IOException {
        fails(raw("no-dtype.safetensors", "{\"x\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4),
                "'x'", "malformed header entry");
        fails(raw("not-map.safetensors", "{\"x\": 5}", 0), "'x'", "malformed header entry");
        fails(raw("one-offset.safetensors", "{\"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", 4),
                "'x'", "malformed header entry");
    }

    @Test
    void dataOffsetsOutOfRange() throws IOException {
        fails(raw("beyond.safetensors", "{\"x\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 8),
                "'x'", "data range [0, 16)", "outside the 8 data bytes");
        fails(raw("negative.safetensors", "{\"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", 8),
                "'x'", "outside");
        fails(raw("reversed.safetensors", "{\"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 4]}}", 8),
                "'x'", "outside");
    }

    @Test
    void sizeDoesNotMatchShape() throws IOException {
        fails(raw("size.safetensors", "{\"x\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 20]}}", 24),
                "'x'", "[2, 3]", "needs 24 bytes", "holds 20");
        fails(raw("size-i32.safetensors", "{\"y\": {\"dtype\": \"I32\", \"shape\": [2], \"data_offsets\": [0, 12]}}", 12),
                "'y'", "needs 8 bytes");
    }

    @Test
    void unsupportedDtype() throws IOException {
        for (String dtype : new String[] {"F64", "I64", "U8", "BOOL"}) {
            fails(raw(dtype + ".safetensors", "{\"x\": {\"dtype\": \"" + dtype + "\", \"shape\": [2], \"data_offsets\": [0, 4]}}", 4),
                    "'x'", "dtype '" + dtype + "'", "only F32, I32, F16 and BF16");
        }
        fails(raw("f16-size.safetensors", "{\"x\": {\"dtype\": \"F16\", \"shape\": [3], \"data_offsets\": [0, 4]}}", 4),
                "'x'", "needs 6 bytes");
    }

    /** Half-precision files (timm and Hugging Face publish some) widen exactly to F32. */
    @Test
    void halfPrecisionTensorsWidenToFloat() throws IOException {
        short[] f16 = {0x3C00, (short) 0xC000, 0x7BFF, 0x0001, (short) 0x8400, 0x7C00, (short) 0xFC00, 0x3555, 0};
        float[] f16Values = {1f, -2f, 65504f, 0x1p-24f, -0x1p-14f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY,
                0.33325195f, 0f};
        short[] bf16 = {0x3F80, (short) 0xC049, 0x7F80, 0x0001};
        float[] bf16Values = {1f, -3.140625f, Float.POSITIVE_INFINITY, Float.intBitsToFloat(0x00010000)};
        String json = "{\"h\": {\"dtype\": \"F16\", \"shape\": [9], \"data_offsets\": [0, 18]}, "
                + "\"b\": {\"dtype\": \"BF16\", \"shape\": [2, 2], \"data_offsets\": [18, 26]}}";
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        ByteBuffer buf = ByteBuffer.allocate(8 + h.length + 26).order(ByteOrder.LITTLE_ENDIAN);
        buf.putLong(h.length).put(h);
        for (short v : f16) {
            buf.putShort(v);
        }
        for (short v : bf16) {
            buf.putShort(v);
        }
        Path file = dir.resolve("half.safetensors");
        Files.write(file, buf.array());
        Map<String, SafeTensors.Entry> t = SafeTensors.read(file).tensors();
        assertEquals("F32", t.get("h").dtype());
        assertArrayEquals(f16Values, t.get("h").floats());
        assertArrayEquals(new int[] {2, 2}, t.get("b").shape());
        assertArrayEquals(bf16Values, t.get("b").floats());

        // Every one of the 65,536 half values against the definition (-1)^s 2^(e-15) (1 + m/1024).
        for (int bits = 0; bits < 0x10000; bits++) {
            int sign = bits >>> 15, e = (bits >>> 10) & 0x1f, m = bits & 0x3ff;
            float actual = SafeTensors.halfToFloat((short) bits);
            if (e == 0x1f) {
                assertEquals(m == 0, Float.isInfinite(actual), "bits " + bits);
                assertEquals(m != 0, Float.isNaN(actual), "bits " + bits);
                continue;
            }
            double expected = (sign == 1 ? -1 : 1) * (e == 0 ? Math.scalb(m / 1024.0, -14) : Math.scalb(1 + m / 1024.0, e - 15));
            assertEquals(expected, actual, 0.0, "half bits 0x" + Integer.toHexString(bits));
            assertEquals(sign == 1, (Float.floatToRawIntBits(actual) >>> 31) == 1, "sign of 0x" + Integer.toHexString(bits));
        }
    }

    @Test
    void truncatedData() throws IOException {
        Path good = dir.resolve("good.safetensors");
        SafeTensors.write(good, sample(), Map.of("k", "v"));
        byte[] all = Files.readAllBytes(good);
        Path cut = dir.resolve("cut.safetensors");
        Files.write(cut, java.util.Arrays.copyOf(all, all.length - 1));
        fails(cut, "truncated");
        // Cut inside the header: reported as a header length beyond the file.
        Files.write(cut, java.util.Arrays.copyOf(all, 40));
        fails(cut, "truncated", "header length");
    }

    @Test
    void streamShorterThanDeclared() {
        byte[] bytes = ByteBuffer.allocate(8 + 2).order(ByteOrder.LITTLE_ENDIAN).putLong(2).put((byte) '{').put((byte) '}')
                .array();
        // The caller claims 100 bytes, the stream has 10: the missing data must be noticed.
        IOException e = assertThrows(IOException.class,
                () -> SafeTensors.read(new ByteArrayInputStream(bytes), "stream", 100));
        assertTrue(e.getMessage().startsWith("stream: "), e.getMessage());
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
    }

    // ------------------------------------------------------------------ header values of the wrong type or range

    /** Header values of the wrong JSON type must be an IOException, not a ClassCastException or NPE. */
    @Test
    void wrongJsonTypesAreIOExceptions() throws IOException {
        fails(raw("shape-string.safetensors", "{\"x\": {\"dtype\": \"F32\", \"shape\": [\"a\"], \"data_offsets\": [0, 4]}}", 4),
                "'x'");
        fails(raw("offset-string.safetensors", "{\"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [\"0\", 4]}}", 4),
                "'x'");
        fails(raw("null.safetensors", "null", 0));
    }

    /** A dimension must be a non-negative int: neither [-1, -1] nor [2^32 + 1] may read as a 1-element tensor. */
    @Test
    void badDimensionsAreRejected() throws IOException {
        fails(raw("negative-dims.safetensors", "{\"x\": {\"dtype\": \"F32\", \"shape\": [-1, -1], \"data_offsets\": [0, 4]}}", 4),
                "'x'");
        fails(raw("huge-dim.safetensors", "{\"x\": {\"dtype\": \"F32\", \"shape\": [4294967297], \"data_offsets\": [0, 4]}}", 4),
                "'x'");
    }

    /** The tensors must cover the data section exactly: no overlap, no gap, no bytes left over. */
    @Test
    void dataRangesMustTileTheDataSection() throws IOException {
        String f32 = "{\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": ";
        fails(raw("overlap.safetensors", "{\"a\": " + f32 + "[0, 4]}, \"b\": " + f32 + "[0, 4]}}", 4), "overlaps");
        fails(raw("gap.safetensors", "{\"a\": " + f32 + "[4, 8]}}", 8), "gap");
        fails(raw("leftover.safetensors", "{\"a\": " + f32 + "[0, 4]}}", 8), "belong to no tensor");
        fails(raw("bad-metadata.safetensors", "{\"a\": " + f32 + "[0, 4]}, \"__metadata__\": {\"k\": 1}}", 4),
                "not a string");
    }

    // ------------------------------------------------------------------ numbers that do not fit

    /** 2^64 + k must not read as k: every dimension and offset that does not fit is named with its file and field. */
    @Test
    void numbersBeyond64BitsAreRejected() throws IOException {
        String big = "18446744073709551620";                 // 2^64 + 4
        fails(raw("dim-2^64.safetensors", "{\"x\": {\"dtype\": \"F32\", \"shape\": [" + big + "], \"data_offsets\": [0, 16]}}", 16),
                "'x'", "shape[0] = " + big, "does not fit in 64 bits");
        fails(raw("end-2^64.safetensors", "{\"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, " + big + "]}}", 4),
                "'x'", "data_offsets[1] = " + big, "does not fit");
        fails(raw("begin-neg.safetensors", "{\"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-18446744073709551612, 4]}}", 4),
                "'x'", "data_offsets[0]", "is negative");
        fails(raw("float-dim.safetensors", "{\"x\": {\"dtype\": \"F32\", \"shape\": [1.0], \"data_offsets\": [0, 4]}}", 4),
                "'x'", "shape[0] is not a whole number");
    }

    /** A shape whose product overflows (here 2^62 x 4 bytes wraps to 0 in a long) names the file and tensor. */
    @Test
    void shapeProductsThatOverflowAreRejected() throws IOException {
        fails(raw("product.safetensors", "{\"x\": {\"dtype\": \"F32\", \"shape\": [2147483647, 2147483647, 2147483647, 2147483647],"
                + " \"data_offsets\": [0, 0]}}", 0), "'x'", "more than 2147483639 values");
        fails(raw("product2.safetensors", "{\"x\": {\"dtype\": \"F32\", \"shape\": [1073741824, 4], \"data_offsets\": [0, 0]}}", 0),
                "'x'", "more than 2147483639 values");
        // A zero dimension makes an empty tensor, however large the others.
        Path empty = raw("zero.safetensors", "{\"x\": {\"dtype\": \"F32\", \"shape\": [2147483647, 0], \"data_offsets\": [0, 0]}}", 0);
        assertEquals(0, SafeTensors.read(empty).tensors().get("x").numel());
    }

    @Test
    void duplicateNamesAreRejected() throws IOException {
        String f32 = "{\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": ";
        fails(raw("dup.safetensors", "{\"a\": " + f32 + "[0, 4]}, \"a\": " + f32 + "[4, 8]}}", 8), "'a' twice");
        fails(raw("dup-meta.safetensors", "{\"__metadata__\": {\"k\": \"1\", \"k\": \"2\"}}", 0), "'k' twice");
    }

    /** The format's header limit is enforced before anything is read into memory. */
    @Test
    void headerOverTheFormatsLimitIsRejected() throws IOException {
        Path file = dir.resolve("huge-header.safetensors");
        try (var raf = new java.io.RandomAccessFile(file.toFile(), "rw")) {
            raf.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(SafeTensors.MAX_HEADER + 8).array());
            raf.setLength(8 + SafeTensors.MAX_HEADER + 8);        // sparse: costs no disk
        }
        fails(file, "header length " + (SafeTensors.MAX_HEADER + 8), "at most " + SafeTensors.MAX_HEADER);
    }

    /** Tensors larger than the 1 MiB I/O chunk, and F16 across chunk boundaries, round-trip exactly. */
    @Test
    void tensorsLargerThanOneChunk() throws IOException {
        int n = (1 << 20) / 4 * 3 + 5;
        float[] big = new float[n];
        int[] ints = new int[n];
        for (int i = 0; i < n; i++) {
            big[i] = i * 0.25f - 7;
            ints[i] = i * 31 - 5;
        }
        Map<String, SafeTensors.Source> t = new LinkedHashMap<>();
        t.put("odd", SafeTensors.Entry.f32(new int[] {3}, new float[] {1, 2, 3}));
        t.put("big", SafeTensors.Entry.f32(new int[] {n}, big));
        t.put("deferred", new SafeTensors.Deferred(new int[] {n}, () -> big));
        t.put("ints", SafeTensors.Entry.i32(new int[] {n}, ints));
        Path file = dir.resolve("big.safetensors");
        SafeTensors.write(file, t, null);
        SafeTensors.Contents c = SafeTensors.read(file);
        assertArrayEquals(big, c.tensors().get("big").floats());
        assertArrayEquals(big, c.tensors().get("deferred").floats());
        assertArrayEquals(ints, c.tensors().get("ints").ints());
        // Only what is asked for is read; the rest is still checked and skipped.
        SafeTensors.Contents some = SafeTensors.read(file, name -> name.equals("ints"));
        assertEquals(List.of("ints"), List.copyOf(some.tensors().keySet()));
        assertArrayEquals(ints, some.tensors().get("ints").ints());

        // F16 values spanning several chunks.
        int halves = (1 << 20) + 3;
        String json = "{\"h\": {\"dtype\": \"F16\", \"shape\": [" + halves + "], \"data_offsets\": [0, " + 2 * halves + "]}}";
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + 2 * halves).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        for (int i = 0; i < halves; i++) {
            b.putShort((short) 0x3C00);                           // 1.0
        }
        Path half = dir.resolve("half-big.safetensors");
        Files.write(half, b.array());
        float[] ones = SafeTensors.read(half).tensors().get("h").floats();
        assertEquals(halves, ones.length);
        for (float f : ones) {
            assertEquals(1f, f);
        }
    }

    /**
     * Offsets past 2 GiB: a sparse file whose first tensor spans 2^31 + 8 bytes of zeros (no disk
     * used), then a tensor with known values. Read with a name filter, so only the small one is
     * held in memory.
     */
    @Test
    void offsetsBeyondTwoGibibytes() throws IOException {
        long padFloats = ((1L << 31) + 8) / 4;
        String json = "{\"pad\": {\"dtype\": \"F32\", \"shape\": [" + padFloats + "], \"data_offsets\": [0, " + padFloats * 4
                + "]}, \"tail\": {\"dtype\": \"I32\", \"shape\": [3], \"data_offsets\": [" + padFloats * 4 + ", "
                + (padFloats * 4 + 12) + "]}}";
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        Path file = dir.resolve("sparse.safetensors");
        try (var raf = new java.io.RandomAccessFile(file.toFile(), "rw")) {
            raf.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).array());
            raf.write(h);
            raf.seek(8 + h.length + padFloats * 4);
            raf.write(ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN).putInt(7).putInt(-1).putInt(1 << 30).array());
        }
        assertTrue(Files.size(file) > (1L << 31), "the file is over 2 GiB");
        SafeTensors.Contents c = SafeTensors.read(file, "tail"::equals);
        assertArrayEquals(new int[] {7, -1, 1 << 30}, c.tensors().get("tail").ints());
        // Cut one byte short: the last tensor's range now lies outside the data.
        try (var raf = new java.io.RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(raf.length() - 1);
        }
        fails(file, "'tail'", "outside", "truncated");
    }

    /** The metadata is written sorted by key, so any map of the same entries gives the same bytes. */
    @Test
    void sameContentSameBytes() throws IOException {
        Map<String, String> a = new LinkedHashMap<>();
        a.put("b", "2");
        a.put("a", "1");
        a.put("c", "3");
        Map<String, String> b = new java.util.TreeMap<>(a);
        Path fa = dir.resolve("a.safetensors"), fb = dir.resolve("b.safetensors");
        SafeTensors.write(fa, sample(), a);
        SafeTensors.write(fb, sample(), b);
        assertArrayEquals(Files.readAllBytes(fa), Files.readAllBytes(fb));
        assertTrue(header(Files.readAllBytes(fa)).contains("\"__metadata__\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\"}"),
                header(Files.readAllBytes(fa)));
    }

    /** A write that fails part-way leaves the previous file and no temporary file. */
    @Test
    void interruptedWriteKeepsThePreviousFile() throws IOException {
        Path file = dir.resolve("keep.safetensors");
        SafeTensors.write(file, sample(), Map.of("v", "1"));
        byte[] before = Files.readAllBytes(file);
        for (long cut : new long[] {0, 1, 8, 9, before.length / 2, before.length - 1}) {
            IOException e = assertThrows(IOException.class, () -> SafeTensors.write(file, sample(), Map.of("v", "2"),
                    ch -> FaultyChannel.failingAfter(ch, cut)));
            assertTrue(e.getMessage().contains("injected"), e.getMessage());
            assertArrayEquals(before, Files.readAllBytes(file), "cut at " + cut);
            assertEquals(List.of(file), listDir(), "no temporary file after a cut at " + cut);
        }
    }

    private List<Path> listDir() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.sorted().toList();
        }
    }

    /**
     * Large headers cost a bounded multiple of their size: 20 MB of small tensor entries, and a
     * 20 MB metadata string (a tree-model JSON parse needed over ten times its size).
     */
    @Test
    void largeHeadersCostABoundedMultipleOfTheirSize() throws IOException {
        StringBuilder many = new StringBuilder("{");
        for (int i = 0; many.length() < 20_000_000; i++) {
            many.append(i == 0 ? "" : ",").append("\"t").append(i).append("\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}");
        }
        many.append('}');
        String big = "{\"__metadata__\":{\"k\":\"" + "x".repeat(20_000_000) + "\"}}";
        for (String json : List.of(many.toString(), big)) {
            Path file = raw("large-header.safetensors", json, 0);
            long size = Files.size(file);
            SafeTensors.Contents[] kept = new SafeTensors.Contents[1];
            Runtime rt = Runtime.getRuntime();
            System.gc();
            long before = rt.totalMemory() - rt.freeMemory();
            org.vit4j.testing.Allocations.Result r = org.vit4j.testing.Allocations.measure(
                    () -> kept[0] = SafeTensors.read(file));
            assertNull(r.thrown());
            System.gc();
            long retained = rt.totalMemory() - rt.freeMemory() - before;
            double ratio = (double) r.bytes() / size;
            System.out.printf("header of %d bytes: %.1f bytes allocated, %.1f retained per header byte (%d tensors)%n",
                    size, ratio, (double) retained / size, kept[0].tensors().size());
            // Allocation counts garbage too; what the result keeps is less.
            assertTrue(ratio < 16, "allocated " + r.bytes() + " bytes for a " + size + "-byte header");
        }
        String deep = "{\"x\":{\"dtype\":\"F32\",\"shape\":[" + "1,".repeat(64) + "1],\"data_offsets\":[0,4]}}";
        fails(raw("rank.safetensors", deep, 4), "'x'", "shape has more than 64 values");
    }
}
