package org.vit4j.data;

/**
 * Pillow's {@code Image.resize(size, Image.BICUBIC)} on 8-bit images, bit for bit: the resize
 * torchvision's {@code Resize} applies to a PIL image, hence the one timm's evaluation transform
 * uses. The same resampler with Pillow's bilinear filter ({@link Filter#BILINEAR}, the triangle
 * on (-1, 1)) is torchvision's default {@code Resize} of a PIL image, which training transforms
 * such as {@code Resize(224)} of CIFAR-10 use.
 *
 * <p>Pillow resamples separably, first along rows (only when the width changes), then along
 * columns (only when the height changes), rounding and clipping to uint8 after each pass. For
 * each output index it evaluates the cubic kernel (a = -0.5) at the input sample centres, with
 * the support widened by the downscale factor (so downscaling averages, i.e. antialiases),
 * normalises the weights to sum 1, and turns them into 22-bit fixed point (32 bits less 8 for
 * the pixel and 2 for overflow of negative lobes). Every step below keeps Pillow's arithmetic and
 * its order (double precision for the weights, 32-bit integers for the sums), which is what
 * makes the result identical rather than merely close.
 */
public final class PillowBicubic {
    /** Fractional bits of the fixed-point weights. */
    static final int PRECISION_BITS = 32 - 8 - 2;

    /** Pillow's resampling filters: the kernel and its support before scaling. */
    public enum Filter {
        /** Keys' cubic, a = -0.5, non-zero on (-2, 2). */
        BICUBIC(2.0),
        /** The triangle {@code 1 - |x|} on (-1, 1). */
        BILINEAR(1.0);

        final double support;

        Filter(double support) {
            this.support = support;
        }

        double at(double x) {
            return this == BICUBIC ? cubic(x) : triangle(x);
        }
    }

    private PillowBicubic() {
    }

    /** Keys' cubic convolution kernel with a = -0.5, written as Pillow evaluates it. */
    static double cubic(double x) {
        final double a = -0.5;
        if (x < 0.0) {
            x = -x;
        }
        if (x < 1.0) {
            return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        }
        if (x < 2.0) {
            return (((x - 5) * x + 8) * x - 4) * a;
        }
        return 0.0;
    }

    /** Pillow's {@code bilinear_filter}. */
    static double triangle(double x) {
        if (x < 0.0) {
            x = -x;
        }
        return x < 1.0 ? 1.0 - x : 0.0;
    }

    /**
     * The weights of one axis: output index {@code i} reads {@code count[i]} inputs from
     * {@code first[i]} on, weighted by {@code weights[i * taps + j]} (22-bit fixed point).
     */
    record Weights(int taps, int[] first, int[] count, int[] weights) {
    }

    /** Pillow's {@code precompute_coeffs} and {@code normalize_coeffs_8bpc} for {@code in -> out} samples. */
    static Weights weights(int inSize, int outSize) {
        return weights(inSize, outSize, Filter.BICUBIC);
    }

    static Weights weights(int inSize, int outSize, Filter filter) {
        // Pillow takes the box as floats; (float) inSize - 0f is exact for any image size.
        double scale = (double) inSize / outSize;
        double filterScale = Math.max(scale, 1.0);
        double support = filter.support * filterScale;
        int taps = (int) Math.ceil(support) * 2 + 1;
        int[] first = new int[outSize];
        int[] count = new int[outSize];
        int[] fixed = new int[outSize * taps];
        double[] k = new double[taps];
        for (int xx = 0; xx < outSize; xx++) {
            double center = (xx + 0.5) * scale;
            double ss = 1.0 / filterScale;
            // (int) truncates toward zero, as C's cast does; "+ 0.5" is Pillow's rounding.
            int xmin = (int) (center - support + 0.5);
            if (xmin < 0) {
                xmin = 0;
            }
            int xmax = (int) (center + support + 0.5);
            if (xmax > inSize) {
                xmax = inSize;
            }
            xmax -= xmin;
            double ww = 0.0;
            for (int x = 0; x < xmax; x++) {
                double w = filter.at((x + xmin - center + 0.5) * ss);
                k[x] = w;
                ww += w;
            }
            for (int x = 0; x < xmax; x++) {
                double w = ww != 0.0 ? k[x] / ww : k[x];
                fixed[xx * taps + x] = w < 0
                        ? (int) (-0.5 + w * (1 << PRECISION_BITS))
                        : (int) (0.5 + w * (1 << PRECISION_BITS));
            }
            first[xx] = xmin;
            count[xx] = xmax;
        }
        return new Weights(taps, first, count, fixed);
    }

    /** A fixed-point sum rounded (the initial half was added by the caller) and clipped to 0..255. */
    private static int clip8(int sum) {
        int v = sum >> PRECISION_BITS;
        return v < 0 ? 0 : Math.min(v, 255);
    }

    /**
     * Resizes {@code planes} uint8 planes of {@code inW x inH} (plane-major, row-major) to
     * {@code outW x outH} and returns only the window {@code [x0, x0 + w) x [y0, y0 + h)} of the
     * result, as {@code planes} planes of {@code w x h}. Each output pixel depends only on the
     * input, so computing just the window (a centre crop) gives the same values as resizing
     * everything and cropping afterwards.
     */
    public static byte[] resize(byte[] src, int planes, int inW, int inH, int outW, int outH,
                                int x0, int y0, int w, int h) {
        return resize(src, planes, inW, inH, outW, outH, x0, y0, w, h, Filter.BICUBIC);
    }

    /** {@link #resize(byte[], int, int, int, int, int, int, int, int, int)} with {@code filter}. */
    public static byte[] resize(byte[] src, int planes, int inW, int inH, int outW, int outH,
                                int x0, int y0, int w, int h, Filter filter) {
        if (inW < 1 || inH < 1 || outW < 1 || outH < 1 || planes < 1) {
            throw new IllegalArgumentException("cannot resize " + planes + " planes of " + inW + "x" + inH + " to "
                    + outW + "x" + outH);
        }
        if (x0 < 0 || y0 < 0 || w < 1 || h < 1 || x0 + w > outW || y0 + h > outH) {
            throw new IllegalArgumentException("window " + w + "x" + h + " at (" + x0 + ", " + y0
                    + ") is not inside the " + outW + "x" + outH + " output");
        }
        if ((long) planes * inW * inH > src.length) {
            throw new IllegalArgumentException(planes + " planes of " + inW + "x" + inH + " need "
                    + (long) planes * inW * inH + " bytes, got " + src.length);
        }
        boolean horizontal = outW != inW;
        boolean vertical = outH != inH;
        Weights wy = vertical ? weights(inH, outH, filter) : null;
        // Rows of the input the window needs: those the vertical weights touch, or the window's own.
        int rowFirst = vertical ? wy.first()[y0] : y0;
        int rowEnd = vertical ? wy.first()[y0 + h - 1] + wy.count()[y0 + h - 1] : y0 + h;
        int rows = rowEnd - rowFirst;

        // Horizontal pass: input rows [rowFirst, rowEnd) -> window columns, uint8.
        byte[] tmp = new byte[planes * rows * w];
        if (horizontal) {
            Weights wx = weights(inW, outW, filter);
            int taps = wx.taps();
            int[] k = wx.weights();
            for (int p = 0; p < planes; p++) {
                for (int r = 0; r < rows; r++) {
                    int srcRow = (p * inH + rowFirst + r) * inW;
                    int dstRow = (p * rows + r) * w;
                    for (int x = 0; x < w; x++) {
                        int xx = x0 + x;
                        int xmin = wx.first()[xx];
                        int n = wx.count()[xx];
                        int kOff = xx * taps;
                        int sum = 1 << (PRECISION_BITS - 1);
                        for (int j = 0; j < n; j++) {
                            sum += (src[srcRow + xmin + j] & 0xFF) * k[kOff + j];
                        }
                        tmp[dstRow + x] = (byte) clip8(sum);
                    }
                }
            }
        } else {
            for (int p = 0; p < planes; p++) {
                for (int r = 0; r < rows; r++) {
                    System.arraycopy(src, (p * inH + rowFirst + r) * inW + x0, tmp, (p * rows + r) * w, w);
                }
            }
        }
        if (!vertical) {
            return tmp;
        }

        // Vertical pass: window rows from the horizontally resampled rows.
        byte[] out = new byte[planes * h * w];
        int taps = wy.taps();
        int[] k = wy.weights();
        // Whole rows at a time (the same integer sums as Pillow's, in another order): contiguous
        // loops the JIT vectorises.
        int[] sums = new int[w];
        for (int p = 0; p < planes; p++) {
            for (int y = 0; y < h; y++) {
                int yy = y0 + y;
                int ymin = wy.first()[yy] - rowFirst;
                int n = wy.count()[yy];
                java.util.Arrays.fill(sums, 1 << (PRECISION_BITS - 1));
                for (int j = 0; j < n; j++) {
                    int weight = k[yy * taps + j];
                    int row = (p * rows + ymin + j) * w;
                    for (int x = 0; x < w; x++) {
                        sums[x] += (tmp[row + x] & 0xFF) * weight;
                    }
                }
                int dstRow = (p * h + y) * w;
                for (int x = 0; x < w; x++) {
                    out[dstRow + x] = (byte) clip8(sums[x]);
                }
            }
        }
        return out;
    }
}
