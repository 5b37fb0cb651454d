import CMalloc

/// Process-wide allocator settings for the kernels' working memory.
public enum Memory {
    /// Keeps freed tensor buffers in the heap for reuse instead of returning them to the kernel.
    ///
    /// A training step frees and re-allocates the same few hundred buffers (activations, gradients,
    /// logits: up to 17 MB each) every step. glibc serves blocks above its mmap threshold with fresh
    /// `mmap` calls and trims the heap top eagerly, so each step faulted its whole working set in
    /// again: 250,000 page faults in 3 s of LSTM training, 8–15% of the time. With the threshold at
    /// its 32 MiB maximum and trimming only above 1 GiB of free heap, the same run takes 50,000
    /// (the first touches). Peak memory is unchanged: memory is reused, not added. A process
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
