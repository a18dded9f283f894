package org.vit4j.backend.cuda;

import com.sun.jna.Memory;
import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUstream;
import org.junit.jupiter.api.Test;

import java.lang.reflect.Field;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Raw addresses out of JCuda objects, checked on the CPU with host memory from JNA: the address
 * read through the protected copy constructors equals the one JNA allocated, equals JCuda's
 * private field read by reflection, and JNA reads back through it what was written.
 */
class NativeAddressTest {

    private static long privateField(NativePointerObject p) throws ReflectiveOperationException {
        Field f = NativePointerObject.class.getDeclaredField("nativePointer");
        f.setAccessible(true);
        return f.getLong(p);
    }

    @Test
    void hostMemoryRoundTrip() throws Exception {
        try (Memory memory = new Memory(64)) {
            long address = com.sun.jna.Pointer.nativeValue(memory);
            memory.setFloat(8, 42.5f);
            Pointer p = NativeAddress.at(address);
            assertEquals(address, NativeAddress.of(p));
            assertEquals(address, privateField(p));
            // withByteOffset keeps the base and adds an offset: both are read
            Pointer shifted = p.withByteOffset(8);
            assertEquals(address + 8, NativeAddress.of(shifted));
            assertEquals(42.5f, new com.sun.jna.Pointer(NativeAddress.of(shifted)).getFloat(0));
            assertEquals(address, NativeAddress.ofHandle(p));
            assertTrue(p.toString().contains(Long.toHexString(address)), p.toString());
        }
    }

    @Test
    void javaArraysAndNullPointersHaveNoAddress() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> NativeAddress.of(Pointer.to(new float[4])));
        assertTrue(e.getMessage().contains("no native address"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> NativeAddress.of(new CUdeviceptr()));
        assertEquals(0, NativeAddress.ofHandle(new CUstream()));
    }
}
