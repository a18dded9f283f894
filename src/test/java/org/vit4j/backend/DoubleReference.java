package org.vit4j.backend;

/**
 * Independent double-precision reference implementations of the {@link Backend} ops: plain loops
 * over {@code double[]} that follow the op contract's math literally, with no attempt at speed.
 * The gradient checks differentiate these by central finite differences, so they must be smooth
 * and accurate to near double precision.
 *
 * <p>Layouts (all row-major, flattened): see each method.
 */
public final class DoubleReference {
    private DoubleReference() {
    }

    // ----------------------------------------------------------------- special functions

    private static final double TWO_OVER_SQRT_PI = 2.0 / Math.sqrt(Math.PI);

    /**
     * erf to double accuracy: for |x| &lt; 6 the everywhere-convergent series of positive terms
     * {@code erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_n 2^n x^(2n+1) / (1*3*...*(2n+1))}
     * (no cancellation, so relative accuracy is a few ulps); for |x| &gt;= 6, |1 - erf| &lt; 3e-17
     * so {@code sign(x)} is exact in double.
     */
    public static double erf(double x) {
        if (Double.isNaN(x)) {
            return x;
        }
        double ax = Math.abs(x);
        if (ax >= 6) {
            return Math.signum(x);
        }
        double x2 = x * x;
        double term = x; // n = 0: x / 1
        double sum = term;
        for (int n = 1; n < 500; n++) {
            term *= 2 * x2 / (2 * n + 1);
            sum += term;
            if (Math.abs(term) < 1e-17 * Math.abs(sum)) {
                break;
            }
        }
        return TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
    }

    /** Exact GELU: {@code 0.5 x (1 + erf(x / sqrt 2))}. */
    public static double gelu(double x) {
        return 0.5 * x * (1 + erf(x / Math.sqrt(2.0)));
    }

    // ----------------------------------------------------------------- linear

    /** {@code y[rows,out] = x[rows,in] * w[out,in]^T + b[out]}; {@code b} may be null. */
    public static double[] linear(double[] x, double[] w, double[] b, int rows, int in, int out) {
        double[] y = new double[rows * out];
        for (int r = 0; r < rows; r++) {
            for (int o = 0; o < out; o++) {
                double s = b == null ? 0 : b[o];
                for (int k = 0; k < in; k++) {
                    s += x[r * in + k] * w[o * in + k];
                }
                y[r * out + o] = s;
            }
        }
        return y;
    }

    // ----------------------------------------------------------------- layer norm

    /** LayerNorm outputs: {@code y[rows*c]}, {@code mean[rows]}, {@code rstd[rows]}. */
    public record LayerNorm(double[] y, double[] mean, double[] rstd) {
    }

    /** LayerNorm over rows of {@code c}, biased variance, {@code rstd = 1/sqrt(var + eps)}. */
    public static LayerNorm layerNorm(double[] x, double[] gamma, double[] beta, double eps, int rows, int c) {
        double[] y = new double[rows * c];
        double[] mean = new double[rows];
        double[] rstd = new double[rows];
        for (int r = 0; r < rows; r++) {
            double s = 0;
            for (int j = 0; j < c; j++) {
                s += x[r * c + j];
            }
            double mu = s / c;
            double v = 0;
            for (int j = 0; j < c; j++) {
                double d = x[r * c + j] - mu;
                v += d * d;
            }
            v /= c;
            double rs = 1.0 / Math.sqrt(v + eps);
            for (int j = 0; j < c; j++) {
                y[r * c + j] = (x[r * c + j] - mu) * rs * gamma[j] + beta[j];
            }
            mean[r] = mu;
            rstd[r] = rs;
        }
        return new LayerNorm(y, mean, rstd);
    }

    // ----------------------------------------------------------------- attention

    /** Attention outputs: {@code out[B,N,D]} and {@code lse[B,heads,N]} (natural log). */
    public record Attention(double[] out, double[] lse) {
    }

    /**
     * Non-causal multi-head attention from packed {@code qkv[B,N,3D]}: Q in columns
     * {@code [0,D)}, K in {@code [D,2D)}, V in {@code [2D,3D)}, head {@code h} using columns
     * {@code h*hd .. h*hd+hd-1} of each; scores scaled by {@code 1/sqrt(hd)}; heads concatenated
     * in {@code out[B,N,D]}; {@code lse[b,h,i] = log sum_j exp(score_ij)}.
     */
    public static Attention attention(double[] qkv, int batch, int n, int d, int heads) {
        return attention(qkv, batch, n, d, heads, 1.0 / Math.sqrt(d / heads));
    }

    /** As {@link #attention(double[], int, int, int, int)} with the scores scaled by {@code scale}. */
    public static Attention attention(double[] qkv, int batch, int n, int d, int heads, double scale) {
        return attention(qkv, batch, n, d, heads, scale, 0f, 0L);
    }

    /**
     * With dropout on the attention weights: weight {@code (b, h, i, j)} kept where
     * {@link DropoutMask#keep} of {@code (seed, ((b * heads + h) * n + i) * n + j)} says so, and
     * scaled by {@code 1/(1 - dropout)}; {@code lse} stays that of the undropped scores.
     */
    public static Attention attention(double[] qkv, int batch, int n, int d, int heads, double scale, float dropout,
                                      long seed) {
        double keepScale = 1.0 / (1.0 - dropout);
        int hd = d / heads;
        int stride = 3 * d;
        double[] out = new double[batch * n * d];
        double[] lse = new double[batch * heads * n];
        double[] s = new double[n];
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < heads; h++) {
                for (int i = 0; i < n; i++) {
                    int qi = (b * n + i) * stride + h * hd;
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < n; j++) {
                        int kj = (b * n + j) * stride + d + h * hd;
                        double dot = 0;
                        for (int e = 0; e < hd; e++) {
                            dot += qkv[qi + e] * qkv[kj + e];
                        }
                        s[j] = dot * scale;
                        max = Math.max(max, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < n; j++) {
                        sum += Math.exp(s[j] - max);
                    }
                    double l = max + Math.log(sum);
                    lse[(b * heads + h) * n + i] = l;
                    int oi = (b * n + i) * d + h * hd;
                    for (int j = 0; j < n; j++) {
                        double p = Math.exp(s[j] - l);
                        if (dropout > 0) {
                            long index = (((long) b * heads + h) * n + i) * n + j;
                            p = DropoutMask.keep(seed, index, dropout) ? p * keepScale : 0;
                        }
                        int vj = (b * n + j) * stride + 2 * d + h * hd;
                        for (int e = 0; e < hd; e++) {
                            out[oi + e] += p * qkv[vj + e];
                        }
                    }
                }
            }
        }
        return new Attention(out, lse);
    }

    // ----------------------------------------------------------------- loss

    /**
     * Per-row cross-entropy {@code -sum_c t_c log softmax(z)_c} with PyTorch's label smoothing
     * {@code t_c = (1 - s) [c == label] + s / C}.
     */
    public static double[] crossEntropy(double[] logits, int[] labels, double smoothing, int rows, int classes) {
        double[] loss = new double[rows];
        for (int r = 0; r < rows; r++) {
            int o = r * classes;
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < classes; c++) {
                max = Math.max(max, logits[o + c]);
            }
            double sum = 0;
            for (int c = 0; c < classes; c++) {
                sum += Math.exp(logits[o + c] - max);
            }
            double lse = max + Math.log(sum);
            double l = 0;
            for (int c = 0; c < classes; c++) {
                double target = smoothing / classes + (c == labels[r] ? 1 - smoothing : 0);
                l -= target * (logits[o + c] - lse);
            }
            loss[r] = l;
        }
        return loss;
    }

    // ----------------------------------------------------------------- embedding and pooling

    /**
     * {@code images[B,C,H,W] -> patches[B, (H/p)*(W/p), C*p*p]}: patch {@code gy*(W/p)+gx}
     * (row-major grid), feature {@code (c*p + py)*p + px} = pixel {@code (c, gy*p+py, gx*p+px)}.
     */
    public static double[] patchify(double[] img, int batch, int ch, int height, int width, int p) {
        int gh = height / p, gw = width / p, feat = ch * p * p;
        double[] out = new double[batch * gh * gw * feat];
        for (int b = 0; b < batch; b++) {
            for (int gy = 0; gy < gh; gy++) {
                for (int gx = 0; gx < gw; gx++) {
                    int patchIndex = gy * gw + gx;
                    for (int c = 0; c < ch; c++) {
                        for (int py = 0; py < p; py++) {
                            for (int px = 0; px < p; px++) {
                                int f = (c * p + py) * p + px;
                                int src = ((b * ch + c) * height + gy * p + py) * width + gx * p + px;
                                out[(b * gh * gw + patchIndex) * feat + f] = img[src];
                            }
                        }
                    }
                }
            }
        }
        return out;
    }

    /** {@code out[b,0] = cls + pos[0]}, {@code out[b,1+i] = pt[b,i] + pos[1+i]}; cls[D], pos[P+1,D]. */
    public static double[] tokens(double[] pt, double[] cls, double[] pos, int batch, int patches, int d) {
        return tokens(pt, cls, null, pos, batch, patches, d);
    }

    /**
     * Class token (none when {@code cls} is null), then the distillation token when {@code dist}
     * is not null, then the patches; plus pos.
     */
    public static double[] tokens(double[] pt, double[] cls, double[] dist, double[] pos, int batch, int patches,
                                  int d) {
        int t = cls == null ? 0 : dist == null ? 1 : 2;
        int n = patches + t;
        double[] out = new double[batch * n * d];
        for (int b = 0; b < batch; b++) {
            for (int e = 0; e < d && t > 0; e++) {
                out[(b * n) * d + e] = cls[e] + pos[e];
                if (dist != null) {
                    out[(b * n + 1) * d + e] = dist[e] + pos[d + e];
                }
            }
            for (int i = 0; i < patches; i++) {
                for (int e = 0; e < d; e++) {
                    out[(b * n + t + i) * d + e] = pt[(b * patches + i) * d + e] + pos[(t + i) * d + e];
                }
            }
        }
        return out;
    }

    /** {@code out[b] = x[b,token]} for {@code x[B,N,D]}. */
    public static double[] token(double[] x, int batch, int n, int d, int token) {
        double[] out = new double[batch * d];
        for (int b = 0; b < batch; b++) {
            for (int e = 0; e < d; e++) {
                out[b * d + e] = x[(b * n + token) * d + e];
            }
        }
        return out;
    }

    /** {@code out[b] = x[b,0]} for {@code x[B,N,D]}. */
    public static double[] classToken(double[] x, int batch, int n, int d) {
        double[] out = new double[batch * d];
        for (int b = 0; b < batch; b++) {
            for (int e = 0; e < d; e++) {
                out[b * d + e] = x[(b * n) * d + e];
            }
        }
        return out;
    }

    /** {@code out[b] = mean over first <= t < N of x[b,t]}. */
    public static double[] meanPool(double[] x, int batch, int n, int d, int first) {
        double[] out = new double[batch * d];
        for (int b = 0; b < batch; b++) {
            for (int e = 0; e < d; e++) {
                double s = 0;
                for (int t = first; t < n; t++) {
                    s += x[(b * n + t) * d + e];
                }
                out[b * d + e] = s / (n - first);
            }
        }
        return out;
    }

    // ----------------------------------------------------------------- optimizer

    /**
     * One step of {@code torch.optim.AdamW} (single tensor, amsgrad off, maximize off), in place
     * on {@code p}, {@code m}, {@code v}: {@code p *= 1 - lr*wd}; {@code m = b1 m + (1-b1) g};
     * {@code v = b2 v + (1-b2) g^2}; {@code p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)}.
     */
    public static void adamw(double[] p, double[] g, double[] m, double[] v, double lr, double beta1, double beta2,
                      double eps, double wd, int step) {
        double bc1 = 1 - Math.pow(beta1, step);
        double bc2 = 1 - Math.pow(beta2, step);
        for (int i = 0; i < p.length; i++) {
            p[i] *= 1 - lr * wd;
            m[i] = beta1 * m[i] + (1 - beta1) * g[i];
            v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
            double denom = Math.sqrt(v[i]) / Math.sqrt(bc2) + eps;
            p[i] -= (lr / bc1) * m[i] / denom;
        }
    }
}
