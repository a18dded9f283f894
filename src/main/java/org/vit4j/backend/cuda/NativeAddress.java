package org.vit4j.backend.cuda;

import jcuda.NativePointerObject;
import jcuda.Pointer;

/**
 * The raw address behind a JCuda pointer or handle, for libraries JCuda does not bind (cuDNN
 * through JNA in {@link Cudnn}). JCuda keeps the address in a private field behind the protected
 * {@code getNativePointer()}; a subclass may read it from its own instances only, so the value
 * is copied into one through the protected copy constructors ({@code Pointer(Pointer)} keeps
 * the byte offset of {@code withByteOffset} too). No reflection, no module opening.
 */
public final class NativeAddress {
    private NativeAddress() {
    }

    /**
     * The address {@code pointer} points at: a device pointer ({@code CUdeviceptr}, offsets
     * included) or a pointer to native host memory. A pointer to a Java array or buffer has no
     * stable native address and is rejected, as is a null pointer.
     */
    public static long of(Pointer pointer) {
        PointerView view = new PointerView(pointer);
        long address = view.address();
        if (view.base() == 0) {
            throw new IllegalArgumentException("pointer " + pointer
                    + " has no native address (null, or a Java array or buffer that JCuda pins per call)");
        }
        return address;
    }

    /** The native value of a handle ({@code CUstream}, {@code CUevent}, ...); 0 for a null handle. */
    public static long ofHandle(NativePointerObject handle) {
        return new HandleView(handle).address();
    }

    /** A JCuda pointer at a native address (host memory from another library, or device memory). */
    public static Pointer at(long address) {
        return new PointerView(address);
    }

    /** A Pointer sharing another's native pointer and byte offset. */
    private static final class PointerView extends Pointer {
        PointerView(Pointer other) {
            super(other);
        }

        PointerView(long address) {
            super(address);
        }

        long base() {
            return getNativePointer();
        }

        long address() {
            return getNativePointer() + getByteOffset();
        }
    }

    /** A handle sharing another's native value. */
    private static final class HandleView extends NativePointerObject {
        HandleView(NativePointerObject other) {
            super(other);
        }

        long address() {
            return getNativePointer();
        }
    }
}
