import CMalloc
import Foundation

/// Process-wide allocator settings for the kernels' working memory.
public enum Memory {
    /// Keeps freed tensor buffers in the heap for reuse instead of returning them to the kernel.
    ///
    /// A training step frees and re-allocates the same few hundred buffers (activations, gradients,
    /// logits) every step. glibc serves blocks above its mmap threshold with fresh `mmap` calls and
    /// trims the heap top eagerly, so each step would fault its whole working set in again. With the
    /// threshold at its 32 MiB maximum and trimming only above 1 GiB of free heap, only the first
    /// touches fault. Peak memory is unchanged: memory is reused, not added. A process
    /// setting (it touches glibc's global state), so executables call it once at start; a library
    /// never does on its own.
    public static func keepFreedBuffers() {
        #if os(Linux)
        _ = mallopt(M_MMAP_THRESHOLD, 32 << 20)
        _ = mallopt(M_TRIM_THRESHOLD, 1 << 30)
        _ = mallopt(M_TOP_PAD, 16 << 20)
        #endif
    }
}

/// The one way the kernels' buffers are allocated: 64-byte aligned, as AVX-512 loads and oneDNN
/// prefer, and at least one cache line. Freed with `free`.
package enum AlignedMemory {
    package static func allocate(bytes: Int) -> UnsafeMutableRawPointer {
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, max(bytes, 64)) == 0, let raw else {
            fatalError("Captioner: out of memory allocating \(bytes) bytes")
        }
        return raw
    }
}
