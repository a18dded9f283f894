package org.vit4j.backend.cuda;

import com.sun.jna.Library;
import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;
import org.vit4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * The few cuDNN functions the kernel benchmark's baselines need (softmax, and the patch embedding
 * as a strided convolution), bound through JNA: JCudnn 12.6 is not on Maven Central, and cuDNN 9
 * keeps its C API stable across CUDA 12 and 13 ({@code libcudnn.so.9} either way). cuDNN is
 * optional: where the library is missing {@link #open} throws an {@link IllegalStateException}
 * with the one-line reason, which the benchmark prints in the baseline column.
 *
 * <p>The library is {@code libcudnn.so.9}, found by the dynamic linker ({@code LD_LIBRARY_PATH}),
 * or the file named by {@code -Dvit4j.cudnn=PATH}. cuDNN works through the CUDA runtime, which
 * uses the context current on the calling thread: the primary context {@link CudaDevice} made
 * current, so cuDNN and vit4j share the device, its memory and (through {@code cudnnSetStream})
 * its stream. Every status is checked; a failure throws {@link CudaException} naming the call.
 */
public final class Cudnn implements AutoCloseable {
    /** System property naming the cuDNN library file, instead of {@code libcudnn.so.9}. */
    public static final String LIBRARY_PROPERTY = "vit4j.cudnn";

    // cudnn_graph.h / cudnn_ops.h / cudnn_cnn.h enum values (cuDNN 9, unchanged since 7 for these)
    static final int TENSOR_NCHW = 0;
    static final int DATA_FLOAT = 0;
    static final int SOFTMAX_ACCURATE = 1;
    static final int SOFTMAX_MODE_INSTANCE = 0;
    static final int CROSS_CORRELATION = 1;
    static final int DEFAULT_MATH = 0;
    static final int FMA_MATH = 3;

    /**
     * cudnnConvolutionFwdAlgoPerf_t: {int algo; int status; float time; size_t memory;
     * int determinism; int mathType; int reserved[3];} = 44 bytes, aligned to 8: 48.
     */
    static final int PERF_BYTES = 48;
    static final int PERF_ALGO = 0;
    static final int PERF_STATUS = 4;
    static final int PERF_TIME = 8;
    static final int PERF_MEMORY = 16;

    /** The C API, as declared in cuDNN 9's headers (size_t is 64-bit: {@code long}). */
    interface Api extends Library {
        long cudnnGetVersion();

        String cudnnGetErrorString(int status);

        int cudnnCreate(PointerByReference handle);

        int cudnnDestroy(Pointer handle);

        int cudnnSetStream(Pointer handle, Pointer stream);

        int cudnnCreateTensorDescriptor(PointerByReference desc);

        int cudnnSetTensor4dDescriptor(Pointer desc, int format, int dataType, int n, int c, int h, int w);

        int cudnnDestroyTensorDescriptor(Pointer desc);

        int cudnnCreateFilterDescriptor(PointerByReference desc);

        int cudnnSetFilter4dDescriptor(Pointer desc, int dataType, int format, int k, int c, int h, int w);

        int cudnnDestroyFilterDescriptor(Pointer desc);

        int cudnnCreateConvolutionDescriptor(PointerByReference desc);

        int cudnnSetConvolution2dDescriptor(Pointer desc, int padH, int padW, int strideH, int strideW,
                                            int dilationH, int dilationW, int mode, int computeType);

        int cudnnSetConvolutionMathType(Pointer desc, int mathType);

        int cudnnDestroyConvolutionDescriptor(Pointer desc);

        int cudnnFindConvolutionForwardAlgorithm(Pointer handle, Pointer xDesc, Pointer wDesc, Pointer convDesc,
                                                 Pointer yDesc, int requested, IntByReference returned, Pointer perf);

        int cudnnGetConvolutionForwardWorkspaceSize(Pointer handle, Pointer xDesc, Pointer wDesc, Pointer convDesc,
                                                    Pointer yDesc, int algo, LongByReference bytes);

        int cudnnConvolutionForward(Pointer handle, Pointer alpha, Pointer xDesc, Pointer x, Pointer wDesc, Pointer w,
                                    Pointer convDesc, int algo, Pointer workspace, long workspaceBytes, Pointer beta,
                                    Pointer yDesc, Pointer y);

        int cudnnAddTensor(Pointer handle, Pointer alpha, Pointer aDesc, Pointer a, Pointer beta, Pointer cDesc, Pointer c);

        int cudnnSoftmaxForward(Pointer handle, int algo, int mode, Pointer alpha, Pointer xDesc, Pointer x,
                                Pointer beta, Pointer yDesc, Pointer y);

        int cudnnSoftmaxBackward(Pointer handle, int algo, int mode, Pointer alpha, Pointer yDesc, Pointer y,
                                 Pointer dyDesc, Pointer dy, Pointer beta, Pointer dxDesc, Pointer dx);
    }

    private static Api api;
    private static String loadFailure;

    private final CudaBackend backend;
    private final Pointer handle;
    private final Memory one = floats(1f);
    private final Memory zero = floats(0f);

    private Cudnn(CudaBackend backend, Api lib) {
        this.backend = backend;
        backend.device().makeCurrent();
        PointerByReference h = new PointerByReference();
        check(lib.cudnnCreate(h), "cudnnCreate");
        this.handle = h.getValue();
        try {
            check(lib.cudnnSetStream(handle, new Pointer(NativeAddress.ofHandle(backend.device().stream()))),
                    "cudnnSetStream");
        } catch (RuntimeException e) {
            lib.cudnnDestroy(handle);
            throw e;
        }
    }

    /** cuDNN on {@code backend}'s device and stream; {@link IllegalStateException} with the reason where it cannot load. */
    public static Cudnn open(CudaBackend backend) {
        return new Cudnn(backend, library());
    }

    /** The library, loaded once per JVM; a failure is remembered and reported the same way each time. */
    static synchronized Api library() {
        if (api != null) {
            return api;
        }
        if (loadFailure == null) {
            String name = System.getProperty(LIBRARY_PROPERTY, "libcudnn.so.9");
            try {
                api = Native.load(name, Api.class);
                return api;
            } catch (UnsatisfiedLinkError e) {
                loadFailure = loadFailureReason(name, e);
            }
        }
        throw new IllegalStateException("cuDNN is not usable here: " + loadFailure);
    }

    /** One line for a failed load: JNA's message lists every path it tried, over many lines. */
    static String loadFailureReason(String library, Throwable e) {
        String msg = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        java.util.regex.Matcher m = java.util.regex.Pattern
                .compile("(lib[\\w.+-]+\\.so[.\\d]*): cannot open shared object file[^\\n]*").matcher(msg);
        if (m.find()) {
            return m.group();
        }
        String first = msg.strip().lines().findFirst().orElse("").strip();
        return first.isEmpty() ? library + " could not be loaded" : first;
    }

    /** cuDNN's version, e.g. 91000 for 9.10.0. */
    public long version() {
        return api.cudnnGetVersion();
    }

    private void check(int status, String call) {
        check(api, status, call);
    }

    private static void check(Api lib, int status, String call) {
        if (status != 0) {
            throw new CudaException(call + " failed: " + lib.cudnnGetErrorString(status) + " (" + status + ")", status);
        }
    }

    private static Memory floats(float value) {
        Memory m = new Memory(4);
        m.setFloat(0, value);
        return m;
    }

    private static Pointer device(Tensor t) {
        return new Pointer(NativeAddress.of(CudaBackend.ptr(t)));
    }

    // ================================================================= descriptors

    /** An NCHW float32 tensor descriptor. */
    private final class TensorDesc implements AutoCloseable {
        final Pointer desc;

        TensorDesc(int n, int c, int h, int w) {
            PointerByReference ref = new PointerByReference();
            check(api.cudnnCreateTensorDescriptor(ref), "cudnnCreateTensorDescriptor");
            desc = ref.getValue();
            try {
                check(api.cudnnSetTensor4dDescriptor(desc, TENSOR_NCHW, DATA_FLOAT, n, c, h, w),
                        "cudnnSetTensor4dDescriptor(" + n + "x" + c + "x" + h + "x" + w + ")");
            } catch (RuntimeException e) {
                close();
                throw e;
            }
        }

        @Override
        public void close() {
            api.cudnnDestroyTensorDescriptor(desc);
        }
    }

    // ================================================================= softmax

    /**
     * cuDNN's softmax over the last dimension of a {@code [rows, cols]} tensor: descriptor
     * {@code N = rows, C = cols, H = W = 1}, {@code CUDNN_SOFTMAX_MODE_INSTANCE}, the accurate
     * (max-subtracting) algorithm.
     */
    public final class Softmax implements AutoCloseable {
        private final TensorDesc desc;

        Softmax(int rows, int cols) {
            desc = new TensorDesc(rows, cols, 1, 1);
        }

        public void forward(Tensor x, Tensor y) {
            check(api.cudnnSoftmaxForward(handle, SOFTMAX_ACCURATE, SOFTMAX_MODE_INSTANCE, one, desc.desc, device(x),
                    zero, desc.desc, device(y)), "cudnnSoftmaxForward");
        }

        public void backward(Tensor y, Tensor dy, Tensor dx) {
            check(api.cudnnSoftmaxBackward(handle, SOFTMAX_ACCURATE, SOFTMAX_MODE_INSTANCE, one, desc.desc, device(y),
                    desc.desc, device(dy), zero, desc.desc, device(dx)), "cudnnSoftmaxBackward");
        }

        @Override
        public void close() {
            desc.close();
        }
    }

    public Softmax softmax(int rows, int cols) {
        backend.device().makeCurrent();
        return new Softmax(rows, cols);
    }

    // ================================================================= patch embedding

    /**
     * The patch embedding as PyTorch runs it: {@code Conv2d(C, D, kernel p, stride p)} on
     * {@code images[B, C, H, W]} into {@code [B, D, H/p, W/p]} (NCHW), then the bias added. The
     * algorithm is the fastest {@code cudnnFindConvolutionForwardAlgorithm} measures (PyTorch's
     * {@code cudnn.benchmark = True}); {@code tf32} allows tensor-core TF32 math, else FMA only.
     */
    public final class PatchConvolution implements AutoCloseable {
        private final List<AutoCloseable> parts = new ArrayList<>();
        private final TensorDesc x;
        private final TensorDesc y;
        private final TensorDesc bias;
        private final Pointer filter;
        private final Pointer conv;
        private final int algo;
        private final Tensor workspace;
        private final long workspaceBytes;

        PatchConvolution(int batch, int channels, int imageSize, int patch, int dim, boolean tf32) {
            int grid = imageSize / patch;
            try {
                x = part(new TensorDesc(batch, channels, imageSize, imageSize));
                y = part(new TensorDesc(batch, dim, grid, grid));
                bias = part(new TensorDesc(1, dim, 1, 1));
                PointerByReference ref = new PointerByReference();
                check(api.cudnnCreateFilterDescriptor(ref), "cudnnCreateFilterDescriptor");
                filter = ref.getValue();
                parts.add(() -> api.cudnnDestroyFilterDescriptor(filter));
                check(api.cudnnSetFilter4dDescriptor(filter, DATA_FLOAT, TENSOR_NCHW, dim, channels, patch, patch),
                        "cudnnSetFilter4dDescriptor");
                check(api.cudnnCreateConvolutionDescriptor(ref), "cudnnCreateConvolutionDescriptor");
                conv = ref.getValue();
                parts.add(() -> api.cudnnDestroyConvolutionDescriptor(conv));
                check(api.cudnnSetConvolution2dDescriptor(conv, 0, 0, patch, patch, 1, 1, CROSS_CORRELATION, DATA_FLOAT),
                        "cudnnSetConvolution2dDescriptor");
                check(api.cudnnSetConvolutionMathType(conv, tf32 ? DEFAULT_MATH : FMA_MATH), "cudnnSetConvolutionMathType");
                int requested = 8;
                Memory perf = new Memory((long) PERF_BYTES * requested);
                IntByReference returned = new IntByReference();
                check(api.cudnnFindConvolutionForwardAlgorithm(handle, x.desc, filter, conv, y.desc, requested, returned,
                        perf), "cudnnFindConvolutionForwardAlgorithm");
                algo = fastestSucceeded(perf, returned.getValue());
                LongByReference bytes = new LongByReference();
                check(api.cudnnGetConvolutionForwardWorkspaceSize(handle, x.desc, filter, conv, y.desc, algo, bytes),
                        "cudnnGetConvolutionForwardWorkspaceSize");
                workspaceBytes = bytes.getValue();
                workspace = workspaceBytes == 0 ? null : backend.allocate((int) Math.max(1, (workspaceBytes + 3) / 4));
                if (workspace != null) {
                    parts.add(workspace::close);
                }
            } catch (RuntimeException e) {
                close();
                throw e;
            }
        }

        private TensorDesc part(TensorDesc d) {
            parts.add(d);
            return d;
        }

        /** cuDNN's algorithm number (CUDNN_CONVOLUTION_FWD_ALGO_*). */
        public int algorithm() {
            return algo;
        }

        /** {@code out[B, D, H/p, W/p] = conv(images, weight[D, C, p, p]) + bias[D]}. */
        public void forward(Tensor images, Tensor weight, Tensor biasValues, Tensor out) {
            check(api.cudnnConvolutionForward(handle, one, x.desc, device(images), filter, device(weight), conv, algo,
                    workspace == null ? null : device(workspace), workspaceBytes, zero, y.desc, device(out)),
                    "cudnnConvolutionForward(algo " + algo + ")");
            check(api.cudnnAddTensor(handle, one, bias.desc, device(biasValues), one, y.desc, device(out)),
                    "cudnnAddTensor");
        }

        @Override
        public void close() {
            for (int i = parts.size() - 1; i >= 0; i--) {
                try {
                    parts.get(i).close();
                } catch (Exception ignored) {
                    // releasing the rest matters more
                }
            }
            parts.clear();
        }
    }

    /** The first (fastest: cuDNN sorts by time) result whose status is success. */
    static int fastestSucceeded(Pointer perf, int count) {
        for (int i = 0; i < count; i++) {
            long base = (long) i * PERF_BYTES;
            if (perf.getInt(base + PERF_STATUS) == 0) {
                return perf.getInt(base + PERF_ALGO);
            }
        }
        throw new CudaException("cudnnFindConvolutionForwardAlgorithm: none of " + count
                + " algorithms can run this convolution", 9);
    }

    public PatchConvolution patchConvolution(int batch, int channels, int imageSize, int patch, int dim, boolean tf32) {
        backend.device().makeCurrent();
        return new PatchConvolution(batch, channels, imageSize, patch, dim, tf32);
    }

    @Override
    public void close() {
        backend.device().makeCurrent();
        api.cudnnDestroy(handle);
    }
}
