package org.vit4j.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;

/** A channel that passes the first {@code limit} bytes through, then fails as a full disk or a dying process would. */
public final class FaultyChannel implements WritableByteChannel {
    private final WritableByteChannel out;
    private final long limit;
    private long written;

    private FaultyChannel(WritableByteChannel out, long limit) {
        this.out = out;
        this.limit = limit;
    }

    /** Wraps {@code out}: byte {@code limit} and later ones are not written, the write throws instead. */
    public static WritableByteChannel failingAfter(WritableByteChannel out, long limit) {
        return new FaultyChannel(out, limit);
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
        long room = limit - written;
        if (room <= 0) {
            throw new IOException("injected fault at byte " + written);
        }
        if (src.remaining() > room) {
            ByteBuffer part = src.duplicate();
            part.limit(part.position() + (int) room);
            int n = out.write(part);
            src.position(src.position() + n);
            written += n;
            return n;
        }
        int n = out.write(src);
        written += n;
        return n;
    }

    @Override
    public boolean isOpen() {
        return out.isOpen();
    }

    @Override
    public void close() throws IOException {
        out.close();
    }
}
