import CDNNL

/// The arithmetic of matrix products. `float32` is exact float32 throughout (the PyTorch parity
/// mode). `bfloat16` is mixed precision as `torch.autocast(dtype=torch.bfloat16)` does it on a CPU:
/// the two GEMM operands are rounded to bfloat16 (8-bit mantissa) and multiplied by the CPU's
/// bfloat16 instructions (AMX tiles or AVX512_BF16), products are summed in float32, and everything
/// else (activations, softmax, gradients, parameters, optimizer state) stays float32.
public enum MatmulPrecision: String, CaseIterable, Sendable {
    case float32 = "fp32"
    case bfloat16 = "bf16"
}

/// Which `MatmulPrecision` the products run in: the process's choice, which a task may override.
/// Kernels never read these settings themselves; they are handed `effectiveMatmul`.
public enum Precision {
    /// The precision a process uses unless a task overrides it with `$matmul.withValue`. Set once at
    /// start (`caption --precision`), before any product runs.
    nonisolated(unsafe) public static var defaultMatmul: MatmulPrecision = .float32

    /// A task's own choice (tests, a server's worker); nil means `defaultMatmul`.
    @TaskLocal public static var matmul: MatmulPrecision?

    /// The precision in force for the calling task: the one place the two settings are read.
    static var effectiveMatmul: MatmulPrecision { matmul ?? defaultMatmul }

    /// oneDNN's view of the CPU.
    public static var cpuISA: dnnl_cpu_isa_t { CPUFeatures.oneDNNISA }

    /// The CPU multiplies bfloat16 in hardware with AMX tiles: the case where `bfloat16` is several
    /// times faster than `float32`.
    public static var hasAMX: Bool { CPUFeatures.hasAMX }

    /// oneDNN runs bfloat16 products with AVX-512 at least; below that it would fall back to its
    /// reference loops.
    public static var supportsBFloat16: Bool { CPUFeatures.hasAVX512Core }

    /// The CPU multiplies bfloat16 pairs in hardware (AVX512_BF16 or AMX).
    public static var hasNativeBFloat16: Bool { CPUFeatures.hasNativeBFloat16 }

    /// What `auto` means on this machine: bfloat16 where the CPU multiplies it natively (it trains to
    /// the same scores as float32 and runs faster; README, "Precision"), float32 elsewhere.
    public static var automatic: MatmulPrecision { hasNativeBFloat16 ? .bfloat16 : .float32 }
}
