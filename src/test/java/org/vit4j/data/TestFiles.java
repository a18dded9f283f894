package org.vit4j.data;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Map;
import java.util.zip.GZIPOutputStream;

/** Builders for small dataset files used by the tests. */
final class TestFiles {
    private TestFiles() {}

    static byte[] idxImages(int magic, int count, int rows, int cols, byte[] pixels) {
        ByteBuffer b = ByteBuffer.allocate(16 + pixels.length);
        b.putInt(magic).putInt(count).putInt(rows).putInt(cols).put(pixels);
        return b.array();
    }

    static byte[] idxImages(int count, int rows, int cols, byte[] pixels) {
        return idxImages(Mnist.IMAGES_MAGIC, count, rows, cols, pixels);
    }

    static byte[] idxLabels(int magic, int count, byte[] labels) {
        ByteBuffer b = ByteBuffer.allocate(8 + labels.length);
        b.putInt(magic).putInt(count).put(labels);
        return b.array();
    }

    static byte[] idxLabels(byte... labels) {
        return idxLabels(Mnist.LABELS_MAGIC, labels.length, labels);
    }

    static byte[] gzip(byte[] data) {
        try {
            ByteArrayOutputStream bos = new ByteArrayOutputStream();
            try (GZIPOutputStream gz = new GZIPOutputStream(bos)) {
                gz.write(data);
            }
            return bos.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String md5(byte[] data) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(data));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** A deterministic pseudo-random byte pattern. */
    static byte[] pattern(int n, int salt) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 31 + salt * 17 + (i >> 3));
        }
        return b;
    }

    /** CIFAR records: label byte then 3072 pixel bytes each. */
    static byte[] cifarRecords(int[] labels, byte[] pixels) {
        ByteBuffer b = ByteBuffer.allocate(labels.length * Cifar10.RECORD_BYTES);
        for (int i = 0; i < labels.length; i++) {
            b.put((byte) labels[i]).put(pixels, i * Cifar10.IMAGE_BYTES, Cifar10.IMAGE_BYTES);
        }
        return b.array();
    }

    /** A ustar archive (not gzipped) with the given regular files, plus a directory entry for the first's folder. */
    static byte[] tar(Map<String, byte[]> files) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        boolean dirWritten = false;
        for (var e : files.entrySet()) {
            String name = e.getKey();
            int slash = name.lastIndexOf('/');
            if (!dirWritten && slash > 0) {
                out.writeBytes(tarHeader(name.substring(0, slash + 1), 0, '5'));
                dirWritten = true;
            }
            byte[] data = e.getValue();
            out.writeBytes(tarHeader(name, data.length, '0'));
            out.writeBytes(data);
            int pad = (512 - data.length % 512) % 512;
            out.writeBytes(new byte[pad]);
        }
        out.writeBytes(new byte[1024]);
        return out.toByteArray();
    }

    static byte[] tarHeader(String name, long size, char type) {
        byte[] h = new byte[512];
        put(h, 0, name);
        put(h, 100, "0000644");
        put(h, 108, "0000000");
        put(h, 116, "0000000");
        put(h, 124, String.format("%011o", size));
        put(h, 136, String.format("%011o", 0));
        h[156] = (byte) type;
        put(h, 257, "ustar");
        put(h, 263, "00");
        for (int i = 148; i < 156; i++) {
            h[i] = ' ';
        }
        int sum = 0;
        for (byte b : h) {
            sum += b & 0xFF;
        }
        put(h, 148, String.format("%06o", sum));
        h[154] = 0;
        h[155] = ' ';
        return h;
    }

    private static void put(byte[] h, int off, String s) {
        byte[] b = s.getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(b, 0, h, off, b.length);
    }
}
