package org.vit4j.io;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads and writes the safetensors format (Hugging Face's, as used by timm and PyTorch users):
 * an 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape and
 * byte range, then the raw little-endian data. F32 and I32 tensors are read and written; F16 and
 * BF16 tensors (half-precision checkpoints) are read and widened exactly to F32.
 */
public final class SafeTensors {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long MAX_HEADER = 100L << 20;

    /** A tensor held on the host: F32 data in {@code floats} or I32 data in {@code ints}. */
    public record Entry(String dtype, int[] shape, float[] floats, int[] ints) {
        public Entry {
            long n = 1;
            for (int d : shape) {
                n *= d;
            }
            int length = floats != null ? floats.length : ints != null ? ints.length : -1;
            if (length < n) {
                throw new IllegalArgumentException("tensor of shape " + java.util.Arrays.toString(shape) + " needs "
                        + n + " values, got " + (length < 0 ? "no data" : length));
            }
        }

        public static Entry f32(int[] shape, float[] data) {
            return new Entry("F32", shape.clone(), data, null);
        }

        public static Entry i32(int[] shape, int[] data) {
            return new Entry("I32", shape.clone(), null, data);
        }

        public long numel() {
            long n = 1;
            for (int d : shape) {
                n *= d;
            }
            return n;
        }
    }

    /** The tensors of a file, in file order, and its {@code __metadata__} strings. */
    public record Contents(Map<String, Entry> tensors, Map<String, String> metadata) {
    }

    private SafeTensors() {
    }

    public static Contents read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new IOException(file + ": no such file");
        }
        try (InputStream in = Files.newInputStream(file)) {
            return read(in, file.toString(), Files.size(file));
        }
    }

    /** Reads from a stream of {@code size} bytes; {@code source} names it in error messages. */
    public static Contents read(InputStream in, String source, long size) throws IOException {
        byte[] lengthBytes = in.readNBytes(8);
        if (lengthBytes.length < 8) {
            throw new IOException(source + ": not a safetensors file (shorter than its 8-byte header length)");
        }
        long headerLength = ByteBuffer.wrap(lengthBytes).order(ByteOrder.LITTLE_ENDIAN).getLong();
        if (headerLength <= 0 || headerLength > MAX_HEADER || 8 + headerLength > size) {
            throw new IOException(source + ": not a safetensors file or truncated (header length "
                    + headerLength + ", file size " + size + ")");
        }
        byte[] headerBytes = in.readNBytes((int) headerLength);
        Map<String, Object> header;
        try {
            header = JSON.readValue(headerBytes, new TypeReference<LinkedHashMap<String, Object>>() { });
        } catch (IOException e) {
            throw new IOException(source + ": safetensors header is not valid JSON: " + e.getMessage(), e);
        }
        if (header == null) {
            throw new IOException(source + ": safetensors header is not a JSON object");
        }
        long dataLength = size - 8 - headerLength;
        byte[] data = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, dataLength));
        if (data.length < dataLength) {
            throw new IOException(source + ": truncated (" + data.length + " of " + dataLength + " data bytes)");
        }
        ByteBuffer buffer = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        Map<String, Entry> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        // The format requires the tensors to cover the data section exactly, without overlap.
        java.util.TreeMap<Long, long[]> ranges = new java.util.TreeMap<>();
        for (Map.Entry<String, Object> e : header.entrySet()) {
            if (e.getKey().equals("__metadata__")) {
                if (!(e.getValue() instanceof Map<?, ?> m)) {
                    throw new IOException(source + ": __metadata__ must be a JSON object of strings");
                }
                for (Map.Entry<?, ?> kv : m.entrySet()) {
                    if (!(kv.getValue() instanceof String v)) {
                        throw new IOException(source + ": __metadata__ value of '" + kv.getKey() + "' is not a string");
                    }
                    metadata.put(String.valueOf(kv.getKey()), v);
                }
                continue;
            }
            Entry entry = parseEntry(source, e.getKey(), e.getValue(), buffer, ranges);
            tensors.put(e.getKey(), entry);
        }
        long expected = 0;
        for (long[] r : ranges.values()) {
            if (r[0] != expected) {
                throw new IOException(source + ": tensor data ranges " + (r[0] < expected ? "overlap" : "leave a gap")
                        + " at byte " + Math.min(r[0], expected) + " of the data section");
            }
            expected = r[1];
        }
        if (expected != data.length) {
            throw new IOException(source + ": " + (data.length - expected) + " data bytes belong to no tensor");
        }
        return new Contents(tensors, metadata);
    }

    private static Entry parseEntry(String source, String name, Object spec, ByteBuffer data,
                                    java.util.TreeMap<Long, long[]> ranges) throws IOException {
        if (!(spec instanceof Map<?, ?> m) || !(m.get("dtype") instanceof String dtype)
                || !(m.get("shape") instanceof List<?> shapeList) || !(m.get("data_offsets") instanceof List<?> offsets)
                || offsets.size() != 2 || !shapeList.stream().allMatch(SafeTensors::isWholeNumber)
                || !offsets.stream().allMatch(SafeTensors::isWholeNumber)) {
            throw new IOException(source + ": tensor '" + name + "' has a malformed header entry: " + spec);
        }
        int[] shape = new int[shapeList.size()];
        long numel = 1;
        for (int i = 0; i < shape.length; i++) {
            long d = ((Number) shapeList.get(i)).longValue();
            if (d < 0 || d > Integer.MAX_VALUE) {
                throw new IOException(source + ": tensor '" + name + "' has an invalid dimension " + d);
            }
            shape[i] = (int) d;
            numel = Math.multiplyExact(numel, d);
        }
        long begin = ((Number) offsets.get(0)).longValue();
        long end = ((Number) offsets.get(1)).longValue();
        if (begin < 0 || end < begin || end > data.capacity()) {
            throw new IOException(source + ": tensor '" + name + "' data range [" + begin + ", " + end
                    + ") lies outside the " + data.capacity() + " data bytes (truncated file?)");
        }
        if (end > begin && ranges.put(begin, new long[] {begin, end}) != null) {
            throw new IOException(source + ": tensor '" + name + "' overlaps another tensor's data at byte " + begin);
        }
        int width = switch (dtype) {
            case "F32", "I32" -> 4;
            case "F16", "BF16" -> 2;
            default -> throw new IOException(source + ": tensor '" + name + "' has dtype " + dtype
                    + "; only F32, I32, F16 and BF16 are supported");
        };
        if (end - begin != numel * width) {
            throw new IOException(source + ": tensor '" + name + "' of shape " + java.util.Arrays.toString(shape)
                    + " needs " + numel * width + " bytes but its range holds " + (end - begin));
        }
        ByteBuffer slice = data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        slice.position((int) begin).limit((int) end);
        if (width == 2) {
            java.nio.ShortBuffer halves = slice.slice().order(ByteOrder.LITTLE_ENDIAN).asShortBuffer();
            float[] f = new float[(int) numel];
            boolean bf16 = dtype.equals("BF16");
            for (int i = 0; i < f.length; i++) {
                short h = halves.get(i);
                f[i] = bf16 ? Float.intBitsToFloat((h & 0xffff) << 16) : halfToFloat(h);
            }
            return new Entry("F32", shape, f, null);
        }
        if (dtype.equals("F32")) {
            float[] f = new float[(int) numel];
            slice.slice().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(f);
            return new Entry(dtype, shape, f, null);
        }
        int[] v = new int[(int) numel];
        slice.slice().order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(v);
        return new Entry(dtype, shape, null, v);
    }

    /** IEEE 754 binary16 to float, exactly (every half value is a float). */
    static float halfToFloat(short h) {
        int sign = (h & 0x8000) << 16;
        int exp = (h >>> 10) & 0x1f;
        int mant = h & 0x3ff;
        if (exp == 0x1f) {                                  // infinity or NaN
            return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
        }
        if (exp == 0) {                                     // zero or subnormal: mant * 2^-24
            float v = mant * 0x1p-24f;
            return sign != 0 ? -v : v;
        }
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
    }

    private static boolean isWholeNumber(Object o) {
        return o instanceof Integer || o instanceof Long || o instanceof java.math.BigInteger;
    }

    /**
     * Writes atomically: into a temporary file beside {@code file}, forced to disk, then renamed
     * over it, so a crash mid-write never leaves a damaged file under the final name.
     */
    public static void write(Path file, Map<String, Entry> tensors, Map<String, String> metadata) throws IOException {
        Map<String, Object> header = new LinkedHashMap<>();
        long offset = 0;
        for (Map.Entry<String, Entry> e : tensors.entrySet()) {
            long bytes = e.getValue().numel() * 4;
            Map<String, Object> spec = new LinkedHashMap<>();
            spec.put("dtype", e.getValue().dtype());
            spec.put("shape", e.getValue().shape());
            spec.put("data_offsets", new long[] {offset, offset + bytes});
            header.put(e.getKey(), spec);
            offset += bytes;
        }
        if (metadata != null && !metadata.isEmpty()) {
            header.put("__metadata__", metadata);
        }
        byte[] json = JSON.writeValueAsBytes(header);
        int padded = (json.length + 7) / 8 * 8;           // the format aligns the data section to 8 bytes
        byte[] headerBytes = java.util.Arrays.copyOf(json, padded);
        java.util.Arrays.fill(headerBytes, json.length, padded, (byte) ' ');

        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, file.getFileName().toString(), ".tmp");
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
                 OutputStream out = java.nio.channels.Channels.newOutputStream(ch)) {
                ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded);
                out.write(len.array());
                out.write(headerBytes);
                for (Entry e : tensors.values()) {
                    ByteBuffer b = ByteBuffer.allocate((int) e.numel() * 4).order(ByteOrder.LITTLE_ENDIAN);
                    if (e.floats() != null) {
                        b.asFloatBuffer().put(e.floats(), 0, (int) e.numel());
                    } else {
                        b.asIntBuffer().put(e.ints(), 0, (int) e.numel());
                    }
                    out.write(b.array());
                }
                out.flush();
                ch.force(true);
            }
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

}
