package org.vit4j.nn;

/**
 * Resizes a learned position embedding to another patch grid, for fine-tuning at a new image
 * resolution, as timm's {@code resample_abs_pos_embed} does: the class token's row is kept, the
 * grid rows are resampled by bicubic interpolation with antialiasing
 * ({@code F.interpolate(mode="bicubic", align_corners=False, antialias=True)}, whose kernel is
 * PIL's: cubic convolution with a = -0.5, widened by the scale factor when shrinking).
 */
public final class PositionEmbeddings {
    private static final double A = -0.5;

    private PositionEmbeddings() {
    }

    /**
     * @param pos     {@code [prefix + oldH*oldW, dim]}, row-major
     * @param prefix  leading rows that are not grid positions (1: the class token)
     * @return {@code [prefix + newH*newW, dim]}
     */
    public static float[] resample(float[] pos, int prefix, int oldH, int oldW, int newH, int newW, int dim) {
        if (pos.length != (long) (prefix + oldH * oldW) * dim) {
            throw new IllegalArgumentException("position embedding of " + pos.length + " values is not [" + prefix
                    + " + " + oldH + "x" + oldW + ", " + dim + "]");
        }
        if (oldH < 1 || oldW < 1 || newH < 1 || newW < 1) {
            throw new IllegalArgumentException("grids must be at least 1x1: " + oldH + "x" + oldW + " -> " + newH + "x" + newW);
        }
        float[] out = new float[(prefix + newH * newW) * dim];
        System.arraycopy(pos, 0, out, 0, prefix * dim);
        Weights wy = weights(oldH, newH), wx = weights(oldW, newW);
        // Separable: along x into [oldH, newW, dim] in double, then along y.
        double[] rows = new double[oldH * newW * dim];
        for (int y = 0; y < oldH; y++) {
            for (int x = 0; x < newW; x++) {
                for (int k = 0; k < wx.count[x]; k++) {
                    double w = wx.weight[x][k];
                    int src = (prefix + y * oldW + wx.first[x] + k) * dim, dst = (y * newW + x) * dim;
                    for (int d = 0; d < dim; d++) {
                        rows[dst + d] += w * pos[src + d];
                    }
                }
            }
        }
        for (int y = 0; y < newH; y++) {
            for (int x = 0; x < newW; x++) {
                int dst = (prefix + y * newW + x) * dim;
                for (int d = 0; d < dim; d++) {
                    double v = 0;
                    for (int k = 0; k < wy.count[y]; k++) {
                        v += wy.weight[y][k] * rows[((wy.first[y] + k) * newW + x) * dim + d];
                    }
                    out[dst + d] = (float) v;
                }
            }
        }
        return out;
    }

    /** For each output index, the first input index, the number of taps, and their normalised weights. */
    private record Weights(int[] first, int[] count, double[][] weight) {
    }

    private static Weights weights(int in, int out) {
        double scale = (double) in / out;
        double support = scale >= 1 ? 2 * scale : 2.0;          // bicubic's support is 2, widened when shrinking
        double invScale = scale >= 1 ? 1 / scale : 1.0;
        int[] first = new int[out], count = new int[out];
        double[][] weight = new double[out][];
        for (int i = 0; i < out; i++) {
            double center = scale * (i + 0.5);
            int lo = Math.max((int) (center - support + 0.5), 0);
            int hi = Math.min((int) (center + support + 0.5), in);
            double[] w = new double[hi - lo];
            double total = 0;
            for (int j = lo; j < hi; j++) {
                w[j - lo] = cubic((j - center + 0.5) * invScale);
                total += w[j - lo];
            }
            for (int j = 0; j < w.length; j++) {
                w[j] = total != 0 ? w[j] / total : 0;
            }
            first[i] = lo;
            count[i] = w.length;
            weight[i] = w;
        }
        return new Weights(first, count, weight);
    }

    /** Keys' cubic convolution kernel with a = -0.5 (PIL's bicubic). */
    private static double cubic(double x) {
        x = Math.abs(x);
        if (x < 1) {
            return ((A + 2) * x - (A + 3)) * x * x + 1;
        }
        if (x < 2) {
            return (((x - 5) * x + 8) * x - 4) * A;
        }
        return 0;
    }
}
