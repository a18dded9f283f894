package org.vit4j.benchmarks;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.vit4j.backend.cpu.CpuBackend;
import org.vit4j.tensor.DType;
import org.vit4j.tensor.Shape;
import org.vit4j.tensor.Tensor;

import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * Each {@link CpuBackend} op, forward and backward, at the training shapes of a ViT
 * ({@link ModelShape}: {@code -p shape=mnist-tutorial} or {@code -p shape=cifar10-vit-tiny}).
 * Inputs are Gaussian (fixed seed); every tensor is allocated once per trial in {@code @Setup},
 * as the training loop does, so a measurement is one op call and nothing else (except
 * {@link #adamwStep}, see there). The backend uses every core ({@code new CpuBackend()}).
 *
 * <p>With B batch, N tokens, D dim, H heads, M MLP width, C classes, R = B*N rows, P parameters,
 * the work per call, counted by hand (float32, 4 bytes; bytes are the compulsory traffic: each
 * input read once, each output written once, accumulated gradients read and written), is:
 * <pre>
 * op                   shape                                  FLOPs                  bytes
 * linearForward        x[R,D] W[3D,D] b[3D] -> y[R,3D] (qkv)  2*R*D*3D + R*3D        4*(R*D + 3D*D + 3D + R*3D)
 * linearBackward       dx = dy W, dW += dy^T x, db += sum dy  4*R*D*3D + R*3D        4*(R*3D + R*D + 3D*D + R*D + 2*3D*D + 2*3D)
 * layerNormForward     x[R,D] -> y, mean[R], rstd[R]          ~8*R*D                 4*(2*R*D + 2*D + 2*R)
 * layerNormBackward    dy, x -> dx, dGamma += , dBeta +=      ~12*R*D                4*(3*R*D + 2*R + D + 4*D)
 * geluForward          x[R,M] -> y                            (erf: ~25/elem) R*M    4*2*R*M
 * geluBackward         dy, x -> dx                            (~35/elem) R*M         4*3*R*M
 * attentionForward     qkv[B,N,3D] -> out[B,N,D], lse[B,H,N]  4*B*N*N*D (QK^T, PV)   4*(R*3D + R*D + B*H*N)
 * attentionBackward    dout, qkv, out, lse -> dqkv            10*B*N*N*D (S recomputed, dP, dV, dK, dQ)
 *                                                                                    4*(R*D + R*3D + R*D + B*H*N + R*3D)
 * crossEntropyForward  logits[B,C], labels[B] -> losses[B]    ~4*B*C                 4*(B*C + 2*B)
 * crossEntropyBackward logits, labels -> dlogits[B,C]         ~5*B*C                 4*(2*B*C + B)
 * adamwStep            p, g, m, v [P] (+ the copy of g)       ~12*P                  4*8*P (+ 4*2*P for the copy)
 * gradCopy             the copy alone, g[P] <- g0[P]          0                      4*2*P
 * </pre>
 * GFLOP/s = FLOPs / (us/op * 1e3), GB/s = bytes / (us/op * 1e3). {@link Report} runs the
 * benchmarks and prints these next to JMH's table; the numbers above are in {@link OpCost}.
 * The matmul-heavy ops (linear, attention) are the ones to read in GFLOP/s; the elementwise and
 * normalisation ops are memory- or latency-bound and are better read in GB/s, though at the
 * tutorial's tiny shapes the tensors fit in cache and the fork/join overhead of splitting a
 * 10-100 us op over the cores is a large part of the time.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector"})
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
public class CpuOpsBenchmark {

    static final long SEED = 42;

    /** The backend, the shape and a seeded random source; each op's state adds its tensors. */
    @State(Scope.Benchmark)
    public abstract static class OpState {
        @Param({ModelShape.TUTORIAL, ModelShape.CIFAR})
        public String shape;

        CpuBackend backend;
        ModelShape s;
        private Random random;

        @Setup(Level.Trial)
        public final void openBackend() {
            backend = new CpuBackend();
            s = ModelShape.of(shape);
            random = new Random(SEED);
            allocate();
            System.out.println("# " + backend.description() + "; shape " + s);
        }

        /** Allocates and fills this op's tensors, once per trial. */
        abstract void allocate();

        @TearDown(Level.Trial)
        public final void closeBackend() {
            backend.close();
        }

        /** A tensor of Gaussian values with standard deviation {@code std}. */
        final Tensor randn(float std, int... dims) {
            Tensor t = backend.allocate(dims);
            float[] values = new float[Math.toIntExact(t.numel())];
            for (int i = 0; i < values.length; i++) {
                values[i] = (float) (random.nextGaussian() * std);
            }
            backend.upload(values, t);
            return t;
        }

        final Tensor zeros(int... dims) {
            return backend.allocate(dims);
        }

        /** Random class labels in {@code [0, classes)}. */
        final Tensor labels(int batch, int classes) {
            Tensor t = backend.allocate(DType.I32, Shape.of(batch));
            int[] y = new int[batch];
            for (int i = 0; i < batch; i++) {
                y[i] = random.nextInt(classes);
            }
            backend.upload(y, t);
            return t;
        }
    }

    /** The attention block's qkv projection: x[R,D] -> [R,3D] (the largest Linear per block but the MLP's). */
    public static class LinearState extends OpState {
        Tensor x, weight, bias, y, dy, dx, dWeight, dBias;

        @Override
        void allocate() {
            int rows = s.rows(), in = s.dim(), out = 3 * s.dim();
            x = randn(1f, rows, in);
            weight = randn(0.02f, out, in);
            bias = randn(0.02f, out);
            y = zeros(rows, out);
            dy = randn(1f, rows, out);
            dx = zeros(rows, in);
            dWeight = zeros(out, in);
            dBias = zeros(out);
        }
    }

    /** LayerNorm over [R,D] (the pre-norm of every attention and MLP sub-block). */
    public static class LayerNormState extends OpState {
        Tensor x, gamma, beta, y, mean, rstd, dy, dx, dGamma, dBeta;

        @Override
        void allocate() {
            int rows = s.rows(), d = s.dim();
            x = randn(1f, rows, d);
            gamma = zeros(d);
            backend.fill(gamma, 1f);
            beta = zeros(d);
            y = zeros(rows, d);
            mean = zeros(rows);
            rstd = zeros(rows);
            dy = randn(1f, rows, d);
            dx = zeros(rows, d);
            dGamma = zeros(d);
            dBeta = zeros(d);
            backend.layerNormForward(x, gamma, beta, 1e-5f, y, mean, rstd);   // mean, rstd for backward
        }
    }

    /** GELU over the MLP's hidden activations [R,M]. */
    public static class GeluState extends OpState {
        Tensor x, y, dy, dx;

        @Override
        void allocate() {
            int rows = s.rows(), m = s.mlp();
            x = randn(1f, rows, m);
            y = zeros(rows, m);
            dy = randn(1f, rows, m);
            dx = zeros(rows, m);
        }
    }

    /** Multi-head self-attention on the packed qkv [B,N,3D]. */
    public static class AttentionState extends OpState {
        Tensor qkv, out, lse, dout, dqkv;
        int heads;

        @Override
        void allocate() {
            int b = s.batch(), n = s.tokens(), d = s.dim();
            heads = s.heads();
            qkv = randn(1f, b, n, 3 * d);
            out = zeros(b, n, d);
            lse = zeros(b, heads, n);
            dout = randn(1f, b, n, d);
            dqkv = zeros(b, n, 3 * d);
            backend.attentionForward(qkv, heads, out, lse);   // out, lse for backward
        }
    }

    /** Softmax cross-entropy of logits [B,C] (the tutorial trains without label smoothing). */
    public static class CrossEntropyState extends OpState {
        Tensor logits, labels, losses, dlogits;
        float scale;

        @Override
        void allocate() {
            int b = s.batch(), c = s.classes();
            logits = randn(1f, b, c);
            labels = labels(b, c);
            losses = zeros(b);
            dlogits = zeros(b, c);
            scale = 1f / b;
        }
    }

    /**
     * One AdamW update of all the model's parameters as one flat tensor of P floats. AdamW
     * zeroes the gradient it consumed, and with zero gradients the moments decay into
     * denormals (slow on x86), so each call first copies a fixed Gaussian gradient back in;
     * {@link #gradCopy} measures that copy alone, to subtract. The real optimizer makes one
     * call per parameter tensor (~100 calls for the tutorial model), which adds per-call
     * overhead this flat call does not have.
     */
    public static class AdamWState extends OpState {
        Tensor param, grad, grad0, m, v;
        int step;

        @Override
        void allocate() {
            int p = Math.toIntExact(s.modelParameterCount());
            if (p != s.parameterCount()) {
                System.err.println("note: the model has " + p + " parameters, ModelShape's formula (used by Report) says "
                        + s.parameterCount());
            }
            param = randn(0.02f, p);
            grad0 = randn(1e-3f, p);
            grad = zeros(p);
            backend.copy(grad0, grad);
            m = zeros(p);
            v = zeros(p);
            step = 0;
        }
    }

    // ================================================================= linear (qkv)

    @Benchmark
    public void linearForward(LinearState st) {
        st.backend.linearForward(st.x, st.weight, st.bias, st.y);
    }

    @Benchmark
    public void linearBackward(LinearState st) {
        st.backend.linearBackward(st.dy, st.x, st.weight, st.dx, st.dWeight, st.dBias);
    }

    // ================================================================= LayerNorm

    @Benchmark
    public void layerNormForward(LayerNormState st) {
        st.backend.layerNormForward(st.x, st.gamma, st.beta, 1e-5f, st.y, st.mean, st.rstd);
    }

    @Benchmark
    public void layerNormBackward(LayerNormState st) {
        st.backend.layerNormBackward(st.dy, st.x, st.gamma, st.mean, st.rstd, st.dx, st.dGamma, st.dBeta);
    }

    // ================================================================= GELU

    @Benchmark
    public void geluForward(GeluState st) {
        st.backend.geluForward(st.x, st.y);
    }

    @Benchmark
    public void geluBackward(GeluState st) {
        st.backend.geluBackward(st.dy, st.x, st.dx);
    }

    // ================================================================= attention

    @Benchmark
    public void attentionForward(AttentionState st) {
        st.backend.attentionForward(st.qkv, st.heads, st.out, st.lse);
    }

    @Benchmark
    public void attentionBackward(AttentionState st) {
        st.backend.attentionBackward(st.dout, st.qkv, st.out, st.lse, st.heads, st.dqkv);
    }

    // ================================================================= loss

    @Benchmark
    public void crossEntropyForward(CrossEntropyState st) {
        st.backend.crossEntropyForward(st.logits, st.labels, 0f, st.losses);
    }

    @Benchmark
    public void crossEntropyBackward(CrossEntropyState st) {
        st.backend.crossEntropyBackward(st.logits, st.labels, 0f, st.scale, st.dlogits);
    }

    // ================================================================= optimizer

    /** Gradient copy + one AdamW step over every parameter (Adam's defaults, the tutorial's lr 3e-3). */
    @Benchmark
    public void adamwStep(AdamWState st) {
        st.backend.copy(st.grad0, st.grad);
        st.backend.adamwStep(st.param, st.grad, st.m, st.v, 3e-3f, 0.9f, 0.999f, 1e-8f, 0f, ++st.step);
    }

    /** The gradient copy {@link #adamwStep} makes before each step, alone. */
    @Benchmark
    public void gradCopy(AdamWState st) {
        st.backend.copy(st.grad0, st.grad);
    }
}
