import CDNNL
import Synchronization

/// The arithmetic of matrix products. `float32` is exact float32 throughout (the PyTorch parity
/// mode). `bfloat16` is mixed precision as `torch.autocast(dtype=torch.bfloat16)` does it on a CPU:
/// the two GEMM operands are rounded to bfloat16 (8-bit mantissa) and multiplied by the CPU's
/// bfloat16 instructions (AMX tiles or AVX512_BF16), products are summed in float32, and everything
/// else (activations, softmax, gradients, parameters, optimizer state) stays float32.
public enum MatmulPrecision: String, CaseIterable, Sendable {
    case float32 = "fp32"
    case bfloat16 = "bf16"

    /// A user's choice (`--precision auto|fp32|bf16`) resolved on this CPU: `auto` is bfloat16 where the
    /// CPU multiplies it natively, float32 elsewhere.
    public init(choice: String) throws(PrecisionError) {
        switch choice {
        case "auto": self = Precision.automatic
        case "fp32": self = .float32
        case "bf16":
            guard Precision.supportsBFloat16 else {
                throw PrecisionError(description: "--precision bf16 needs a CPU with AVX-512, which this one lacks; use --precision fp32.")
            }
            self = .bfloat16
        default: throw PrecisionError(description: "--precision must be auto, fp32 or bf16, not '\(choice)'.")
        }
    }
}

public struct PrecisionError: Error, CustomStringConvertible {
    public let description: String
}

/// Which `MatmulPrecision` the products run in: the process's choice, resolved once at start, which a
/// task (a test, a server's worker) may override for everything it calls with `$matmul.withValue`.
/// Only `current` reads the two; `gemm` resolves it once per product into the product's key, and the
/// kernels are handed that.
public enum Precision {
    private static let processChoice = Atomic<Bool>(false)   // true: bfloat16

    /// The precision a process uses unless a task overrides it. Set once at start (`caption
    /// --precision`), before any product runs.
    public static var defaultMatmul: MatmulPrecision {
        get { processChoice.load(ordering: .relaxed) ? .bfloat16 : .float32 }
        set { processChoice.store(newValue == .bfloat16, ordering: .relaxed) }
    }

    /// A task's own choice; nil means `defaultMatmul`.
    @TaskLocal public static var matmul: MatmulPrecision?

    /// The precision in force for the calling task.
    package static var current: MatmulPrecision { matmul ?? defaultMatmul }

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
