package org.vit4j.io;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Predicate;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;

/**
 * Reads and writes the safetensors format (Hugging Face's, as used by timm and PyTorch users):
 * an 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape and
 * byte range, then the raw little-endian data. F32 and I32 tensors are read and written; F16 and
 * BF16 tensors (half-precision checkpoints) are read and widened exactly to F32.
 *
 * <p>Nothing in a file is trusted for memory: the header is parsed as a stream into compact
 * records and checked whole (every number in range, every product exact, the ranges tiling the
 * data section) before any tensor is allocated, so a file never costs more than its tensors,
 * widened to 4 bytes a value, plus a bounded multiple of its header. Data is streamed in chunks
 * in both directions, so files of any size are read and written with the tensors' own memory
 * (one tensor may hold at most {@link #MAX_ELEMENTS} values, a Java array's limit).
 */
public final class SafeTensors {
    /** The format's own limit on the header (the reference implementation's, 100 MB). */
    public static final long MAX_HEADER = 100_000_000L;
    /** Values in one tensor: the most one Java array holds. */
    public static final long MAX_ELEMENTS = Integer.MAX_VALUE - 8;

    private static final JsonFactory JSON = JsonFactory.builder()
            // No symbol table: a header of a million distinct names must not fill (or overflow) one.
            .disable(JsonFactory.Feature.CANONICALIZE_FIELD_NAMES)
            .disable(JsonFactory.Feature.INTERN_FIELD_NAMES)
            .build();
    private static final int CHUNK = 1 << 20;
    /** Dimensions of one tensor at most (PyTorch's limit is lower): a header is not a place to store a list. */
    static final int MAX_RANK = 64;

    /** What {@link #write} takes: a tensor whose values may be produced only when it is written. */
    public sealed interface Source permits Entry, Deferred {
        String dtype();

        int[] shape();

        default long numel() {
            return SafeTensors.numel(shape());
        }
    }

    /** A tensor held on the host: F32 data in {@code floats} or I32 data in {@code ints}. */
    public record Entry(String dtype, int[] shape, float[] floats, int[] ints) implements Source {
        public Entry {
            long n = SafeTensors.numel(shape);
            int length = floats != null ? floats.length : ints != null ? ints.length : -1;
            if (length < n) {
                throw new IllegalArgumentException("tensor of shape " + Arrays.toString(shape) + " needs "
                        + n + " values, got " + (length < 0 ? "no data" : length));
            }
        }

        public static Entry f32(int[] shape, float[] data) {
            return new Entry("F32", shape.clone(), data, null);
        }

        public static Entry i32(int[] shape, int[] data) {
            return new Entry("I32", shape.clone(), null, data);
        }
    }

    /**
     * An F32 tensor whose values {@code values} gives when the writer reaches it, so that a large
     * file needs only one tensor's host copy at a time.
     */
    public record Deferred(int[] shape, Supplier<float[]> values) implements Source {
        public Deferred {
            shape = shape.clone();
            SafeTensors.numel(shape);
        }

        @Override
        public String dtype() {
            return "F32";
        }
    }

    /** The tensors of a file, in file order, and its {@code __metadata__} strings. */
    public record Contents(Map<String, Entry> tensors, Map<String, String> metadata) {
    }

    private SafeTensors() {
    }

    /** The product of the dimensions; they must be non-negative and the product at most {@link #MAX_ELEMENTS}. */
    static long numel(int[] shape) {
        for (int d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
            }
        }
        long n = saturatedProduct(shape);
        if (n > MAX_ELEMENTS) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " has more than "
                    + MAX_ELEMENTS + " values, the most one tensor holds");
        }
        return n;
    }

    /** The product of non-negative dimensions, or MAX_ELEMENTS + 1 where it is larger: it never wraps. */
    private static long saturatedProduct(int[] dims) {
        long n = 1;
        for (int d : dims) {
            if (d == 0) {
                return 0;
            }
        }
        for (int d : dims) {
            n *= d;                                         // exact: n <= MAX_ELEMENTS + 1 < 2^31 and d < 2^31
            if (n > MAX_ELEMENTS) {
                n = MAX_ELEMENTS + 1;
            }
        }
        return n;
    }

    public static Contents read(Path file) throws IOException {
        return read(file, name -> true);
    }

    /**
     * Reads the tensors whose name {@code wanted} accepts (all of them are checked; the others are
     * skipped, not read) and the metadata.
     */
    public static Contents read(Path file, Predicate<String> wanted) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new IOException(file + ": no such file");
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return read(ch, file.toString(), ch.size(), wanted);
        }
    }

    /** Reads from a stream of {@code size} bytes; {@code source} names it in error messages. */
    public static Contents read(InputStream in, String source, long size) throws IOException {
        return read(Channels.newChannel(in), source, size, name -> true);
    }

    /** The layout of one tensor as the header gives it, checked. */
    private record Spec(int index, String name, String dtype, int[] shape, long begin, long end) {
    }

    private static Contents read(ReadableByteChannel in, String source, long size, Predicate<String> wanted)
            throws IOException {
        ByteBuffer lengthBytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        if (readFully(in, lengthBytes) < 8) {
            throw new IOException(source + ": not a safetensors file (shorter than its 8-byte header length)");
        }
        long headerLength = lengthBytes.flip().getLong();
        if (headerLength <= 0 || headerLength > MAX_HEADER || headerLength > size - 8) {
            throw new IOException(source + ": not a safetensors file or truncated (header length "
                    + Long.toUnsignedString(headerLength) + ", file size " + size
                    + (headerLength > MAX_HEADER && headerLength <= size - 8 ? "; the format allows at most "
                    + MAX_HEADER + " header bytes" : "") + ")");
        }
        byte[] headerBytes = readBytes(in, (int) headerLength);
        if (headerBytes.length < headerLength) {
            throw new IOException(source + ": truncated (the header length is " + headerLength + " bytes, only "
                    + headerBytes.length + " follow)");
        }
        long dataLength = size - 8 - headerLength;
        Map<String, String> metadata = new LinkedHashMap<>();
        List<Spec> specs = parseHeader(headerBytes, source, dataLength, metadata);

        // The format requires the tensors to cover the data section exactly, without overlap.
        List<Spec> byOffset = new ArrayList<>(specs);
        byOffset.sort(Comparator.comparingLong(Spec::begin).thenComparingLong(Spec::end));
        long expected = 0;
        for (Spec s : byOffset) {
            if (s.begin() == s.end()) {
                continue;                                   // an empty tensor takes no bytes
            }
            if (s.begin() != expected) {
                throw new IOException(source + ": tensor " + IoErrors.quote(s.name()) + " "
                        + (s.begin() < expected ? "overlaps another tensor's data" : "leaves a gap in the data section")
                        + " at byte " + Math.min(s.begin(), expected) + " of the data section");
            }
            expected = s.end();
        }
        ByteBuffer chunk = ByteBuffer.allocate((int) Math.min(CHUNK, Math.max(8, dataLength))).order(ByteOrder.LITTLE_ENDIAN);
        if (expected != dataLength) {
            if (!(in instanceof FileChannel)) {
                // A stream's declared size may be wrong: a short stream is truncated, not over-long.
                long got = skipUpTo(in, dataLength, chunk);
                if (got < dataLength) {
                    throw new IOException(source + ": truncated (" + got + " of " + dataLength + " data bytes)");
                }
            }
            throw new IOException(source + ": " + (dataLength - expected) + " data bytes belong to no tensor");
        }

        Entry[] read = new Entry[specs.size()];
        long position = 0;
        for (Spec s : byOffset) {
            long bytes = s.end() - s.begin();
            if (!wanted.test(s.name())) {
                skip(in, bytes, chunk, source);
            } else {
                read[s.index()] = readTensor(in, s, chunk, source);
            }
            position += bytes;
        }
        if (position != dataLength) {
            throw new AssertionError("read " + position + " of " + dataLength + " data bytes");
        }
        Map<String, Entry> tensors = new LinkedHashMap<>();
        for (Spec s : specs) {
            if (read[s.index()] != null) {
                tensors.put(s.name(), read[s.index()]);
            }
        }
        return new Contents(tensors, metadata);
    }

    /** The header's tensor records in header order, each checked against the data section; fills {@code metadata}. */
    private static List<Spec> parseHeader(byte[] header, String source, long dataLength, Map<String, String> metadata)
            throws IOException {
        List<Spec> specs = new ArrayList<>();
        Map<String, Boolean> names = new java.util.HashMap<>();
        try (JsonParser p = JSON.createParser(header)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new IOException(source + ": safetensors header is not valid JSON: not a JSON object");
            }
            boolean sawMetadata = false;
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                JsonToken value = p.nextToken();
                if (name.equals("__metadata__")) {
                    if (sawMetadata) {
                        throw new IOException(source + ": safetensors header has two __metadata__ objects");
                    }
                    sawMetadata = true;
                    if (value != JsonToken.START_OBJECT) {
                        throw new IOException(source + ": __metadata__ must be a JSON object of strings");
                    }
                    while (p.nextToken() == JsonToken.FIELD_NAME) {
                        String key = p.currentName();
                        if (p.nextToken() != JsonToken.VALUE_STRING) {
                            throw new IOException(source + ": __metadata__ value of " + IoErrors.quote(key) + " is not a string");
                        }
                        if (metadata.put(key, p.getText()) != null) {
                            throw new IOException(source + ": __metadata__ names " + IoErrors.quote(key) + " twice");
                        }
                    }
                    continue;
                }
                if (names.put(name, Boolean.TRUE) != null) {
                    throw new IOException(source + ": safetensors header names tensor " + IoErrors.quote(name) + " twice");
                }
                specs.add(parseSpec(p, value, source, name, dataLength, specs.size()));
            }
            if (p.currentToken() != JsonToken.END_OBJECT) {
                throw new IOException(source + ": safetensors header is not valid JSON: unexpected " + p.currentToken());
            }
        } catch (IOException e) {
            if (e.getMessage() != null && e.getMessage().startsWith(source + ": ")) {
                throw e;
            }
            throw new IOException(source + ": safetensors header is not valid JSON: " + firstLine(e.getMessage()), e);
        } catch (RuntimeException e) {
            throw new IOException(source + ": safetensors header is not valid JSON: " + e, e);
        }
        return specs;
    }

    private static Spec parseSpec(JsonParser p, JsonToken value, String source, String name, long dataLength, int index)
            throws IOException {
        String what = source + ": tensor " + IoErrors.quote(name) + "";
        if (value != JsonToken.START_OBJECT) {
            p.skipChildren();
            throw new IOException(what + " has a malformed header entry: expected an object with dtype, shape and"
                    + " data_offsets, got " + value);
        }
        String dtype = null;
        long[] shape = null;
        long[] offsets = null;
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String field = p.currentName();
            JsonToken t = p.nextToken();
            switch (field) {
                case "dtype" -> {
                    if (t != JsonToken.VALUE_STRING) {
                        throw new IOException(what + " has a malformed header entry: dtype is not a string");
                    }
                    String text = p.getText();
                    // The four known names as constants: a million entries need not hold a million copies.
                    dtype = switch (text) {
                        case "F32" -> "F32";
                        case "I32" -> "I32";
                        case "F16" -> "F16";
                        case "BF16" -> "BF16";
                        default -> text;
                    };
                }
                case "shape" -> shape = longs(p, t, what, "shape", MAX_RANK);
                case "data_offsets" -> offsets = longs(p, t, what, "data_offsets", 2);
                default -> p.skipChildren();
            }
        }
        if (dtype == null || shape == null || offsets == null || offsets.length != 2) {
            throw new IOException(what + " has a malformed header entry: needs dtype, shape and data_offsets [begin,"
                    + " end]" + (offsets != null && offsets.length != 2 ? " (data_offsets has " + offsets.length
                    + " values)" : ""));
        }
        int width = switch (dtype) {
            case "F32", "I32" -> 4;
            case "F16", "BF16" -> 2;
            default -> throw new IOException(what + " has dtype " + IoErrors.quote(dtype) + "; only F32, I32, F16 and BF16 are supported");
        };
        int[] dims = new int[shape.length];
        long numel = 1;
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] > Integer.MAX_VALUE) {
                throw new IOException(what + " has an invalid dimension shape[" + i + "] = " + shape[i]
                        + " (at most " + Integer.MAX_VALUE + ")");
            }
            dims[i] = (int) shape[i];
        }
        numel = saturatedProduct(dims);
        long begin = offsets[0], end = offsets[1];
        if (end < begin || end > dataLength) {
            throw new IOException(what + " data range [" + begin + ", " + end + ") lies outside the " + dataLength
                    + " data bytes (truncated file?)");
        }
        if (numel > MAX_ELEMENTS) {
            throw new IOException(what + " of shape " + Arrays.toString(dims) + " has more than " + MAX_ELEMENTS
                    + " values, the most one tensor holds");
        }
        if (end - begin != numel * width) {
            throw new IOException(what + " of shape " + Arrays.toString(dims) + " needs " + numel * width
                    + " bytes but its range holds " + (end - begin));
        }
        return new Spec(index, name, dtype, dims, begin, end);
    }

    /** An array of at most {@code max} non-negative whole numbers that fit in a signed 64-bit integer. */
    private static long[] longs(JsonParser p, JsonToken t, String what, String field, int max) throws IOException {
        if (t != JsonToken.START_ARRAY) {
            throw new IOException(what + " has a malformed header entry: " + field + " is not an array");
        }
        long[] values = new long[Math.min(max, 4)];
        int n = 0;
        for (JsonToken v = p.nextToken(); v != JsonToken.END_ARRAY; v = p.nextToken()) {
            if (v != JsonToken.VALUE_NUMBER_INT) {
                throw new IOException(what + " has a malformed header entry: " + field + "[" + n + "] is "
                        + (v == JsonToken.VALUE_NUMBER_FLOAT ? "not a whole number: " + p.getText() : "not a number"));
            }
            if (p.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
                BigInteger big = p.getBigIntegerValue();
                throw new IOException(what + ": " + field + "[" + n + "] = " + big + (big.signum() < 0
                        ? " is negative" : " does not fit in 64 bits") + (field.equals("shape")
                        ? "; it is an invalid dimension" : "; it lies outside the data section"));
            }
            long x = p.getLongValue();
            if (x < 0) {
                throw new IOException(what + ": " + field + "[" + n + "] = " + x + " is negative" + (field.equals("shape")
                        ? "; it is an invalid dimension" : "; the data range lies outside the data section"));
            }
            if (n == max) {
                throw new IOException(what + " has a malformed header entry: " + field + " has more than " + max
                        + " values");
            }
            if (n == values.length) {
                values = Arrays.copyOf(values, Math.min(max, n * 2));
            }
            values[n++] = x;
        }
        return n == values.length ? values : Arrays.copyOf(values, n);
    }

    private static Entry readTensor(ReadableByteChannel in, Spec s, ByteBuffer chunk, String source) throws IOException {
        int n = (int) (s.end() - s.begin()) / (s.dtype().equals("F16") || s.dtype().equals("BF16") ? 2 : 4);
        float[] f = s.dtype().equals("I32") ? null : new float[n];
        int[] v = s.dtype().equals("I32") ? new int[n] : null;
        boolean bf16 = s.dtype().equals("BF16");
        boolean half = bf16 || s.dtype().equals("F16");
        int width = half ? 2 : 4;
        int done = 0;
        while (done < n) {
            int count = Math.min(n - done, chunk.capacity() / width);
            chunk.clear().limit(count * width);
            if (readFully(in, chunk) < count * width) {
                throw new IOException(source + ": truncated (the data of tensor " + IoErrors.quote(s.name()) + " is cut short)");
            }
            chunk.flip();
            if (half) {
                for (int i = 0; i < count; i++) {
                    short h = chunk.getShort();
                    f[done + i] = bf16 ? Float.intBitsToFloat((h & 0xffff) << 16) : halfToFloat(h);
                }
            } else if (f != null) {
                chunk.asFloatBuffer().get(f, done, count);
            } else {
                chunk.asIntBuffer().get(v, done, count);
            }
            done += count;
        }
        return f != null ? new Entry("F32", s.shape(), f, null) : new Entry("I32", s.shape(), null, v);
    }

    private static void skip(ReadableByteChannel in, long bytes, ByteBuffer chunk, String source) throws IOException {
        if (in instanceof FileChannel fc) {
            if (fc.position() + bytes > fc.size()) {
                throw new IOException(source + ": truncated (data cut short)");
            }
            fc.position(fc.position() + bytes);
        } else if (skipUpTo(in, bytes, chunk) < bytes) {
            throw new IOException(source + ": truncated (data cut short)");
        }
    }

    /** Reads and drops up to {@code bytes} bytes; returns how many there were. */
    private static long skipUpTo(ReadableByteChannel in, long bytes, ByteBuffer chunk) throws IOException {
        long done = 0;
        while (done < bytes) {
            chunk.clear().limit((int) Math.min(chunk.capacity(), bytes - done));
            int got = readFully(in, chunk);
            done += got;
            if (got < chunk.limit()) {
                break;
            }
        }
        return done;
    }

    /** Reads until {@code b} is full or the input ends; returns the bytes read. */
    private static int readFully(ReadableByteChannel in, ByteBuffer b) throws IOException {
        int total = 0;
        while (b.hasRemaining()) {
            int got = in.read(b);
            if (got < 0) {
                break;
            }
            total += got;
        }
        return total;
    }

    /** Up to {@code n} bytes, allocated as they arrive (a stream's declared size is not trusted). */
    private static byte[] readBytes(ReadableByteChannel in, int n) throws IOException {
        if (in instanceof FileChannel fc && fc.size() - fc.position() >= n) {
            ByteBuffer b = ByteBuffer.allocate(n);
            readFully(in, b);
            return Arrays.copyOf(b.array(), b.position());
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(Math.min(n, 1 << 16));
        ByteBuffer b = ByteBuffer.allocate(Math.min(n, 1 << 16));
        while (out.size() < n) {
            b.clear().limit(Math.min(b.capacity(), n - out.size()));
            int got = readFully(in, b);
            out.write(b.array(), 0, got);
            if (got < b.limit()) {
                break;
            }
        }
        return out.toByteArray();
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
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

    /**
     * Writes atomically ({@link AtomicFile}): the tensors in {@code tensors}' order, the metadata
     * sorted by key, so the same tensors and metadata always give the same bytes.
     */
    public static void write(Path file, Map<String, ? extends Source> tensors, Map<String, String> metadata)
            throws IOException {
        write(file, tensors, metadata, UnaryOperator.identity());
    }

    /**
     * As {@link #write(Path, Map, Map)}, every byte going through {@code through(channel)}: a
     * wrapper of the file's channel (fault-injection tests interrupt writes with one).
     */
    public static void write(Path file, Map<String, ? extends Source> tensors, Map<String, String> metadata,
                             UnaryOperator<WritableByteChannel> through) throws IOException {
        byte[] header = header(tensors, metadata);
        try (AtomicFile out = AtomicFile.open(file)) {
            WritableByteChannel ch = through.apply(out.channel());
            ByteBuffer b = ByteBuffer.allocate(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
            b.putLong(header.length);
            writeFully(ch, b.flip());
            writeFully(ch, ByteBuffer.wrap(header));
            for (Source s : tensors.values()) {
                int n = (int) s.numel();
                float[] floats = null;
                int[] ints = null;
                if (s instanceof Entry e) {
                    floats = e.floats();
                    ints = e.ints();
                } else {
                    floats = ((Deferred) s).values().get();
                    if (floats.length < n) {
                        throw new IllegalArgumentException("tensor of shape " + Arrays.toString(s.shape()) + " needs "
                                + n + " values, got " + floats.length);
                    }
                }
                for (int done = 0; done < n; ) {
                    int count = Math.min(n - done, CHUNK / 4);
                    b.clear();
                    if (floats != null) {
                        b.asFloatBuffer().put(floats, done, count);
                    } else {
                        b.asIntBuffer().put(ints, done, count);
                    }
                    b.limit(count * 4);
                    writeFully(ch, b);
                    done += count;
                }
            }
            out.commit();
        }
    }

    /** The header JSON, padded with spaces to a multiple of 8 bytes (the format aligns the data section). */
    private static byte[] header(Map<String, ? extends Source> tensors, Map<String, String> metadata) throws IOException {
        ByteArrayOutputStream json = new ByteArrayOutputStream();
        try (JsonGenerator g = JSON.createGenerator(json)) {
            g.writeStartObject();
            long offset = 0;
            for (Map.Entry<String, ? extends Source> e : tensors.entrySet()) {
                Source s = e.getValue();
                if (!s.dtype().equals("F32") && !s.dtype().equals("I32")) {
                    throw new IllegalArgumentException("tensor " + IoErrors.quote(e.getKey()) + ": only F32 and I32 are written");
                }
                long bytes = s.numel() * 4;
                g.writeObjectFieldStart(e.getKey());
                g.writeStringField("dtype", s.dtype());
                g.writeArrayFieldStart("shape");
                for (int d : s.shape()) {
                    g.writeNumber(d);
                }
                g.writeEndArray();
                g.writeArrayFieldStart("data_offsets");
                g.writeNumber(offset);
                g.writeNumber(offset + bytes);
                g.writeEndArray();
                g.writeEndObject();
                offset += bytes;
            }
            if (metadata != null && !metadata.isEmpty()) {
                g.writeObjectFieldStart("__metadata__");
                for (Map.Entry<String, String> e : new TreeMap<>(metadata).entrySet()) {
                    g.writeStringField(e.getKey(), e.getValue());
                }
                g.writeEndObject();
            }
            g.writeEndObject();
        }
        int length = json.size();
        int padded = (length + 7) / 8 * 8;
        byte[] out = Arrays.copyOf(json.toByteArray(), padded);
        Arrays.fill(out, length, padded, (byte) ' ');
        if (padded > MAX_HEADER) {
            throw new IOException("safetensors header of " + padded + " bytes exceeds the format's " + MAX_HEADER);
        }
        return out;
    }

    private static void writeFully(WritableByteChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            if (ch.write(b) == 0 && b.hasRemaining()) {
                Thread.onSpinWait();
            }
        }
    }
}
