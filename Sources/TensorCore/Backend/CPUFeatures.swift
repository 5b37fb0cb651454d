import CDNNL
import CKernels

/// What this CPU can do, as the kernels that depend on it ask: oneDNN's view of the instruction
/// set for the products, and CKernels' own check for the AVX-512 loops.
enum CPUFeatures {
    /// oneDNN's view of the CPU.
    static var oneDNNISA: dnnl_cpu_isa_t { dnnl_get_effective_cpu_isa() }

    private static func oneDNNHas(_ isa: dnnl_cpu_isa_t) -> Bool { oneDNNISA.rawValue & isa.rawValue == isa.rawValue }

    /// AVX-512F with the registers CKernels' sixteen-lane loops use (few-row products, recurrent cells).
    static let hasAVX512 = captioner_few_rows_available() != 0

    /// AVX-512 as oneDNN counts it (avx512_core), the least it runs bfloat16 products on.
    static var hasAVX512Core: Bool { oneDNNHas(dnnl_cpu_isa_avx512_core) }

    /// bfloat16 pairs multiplied in hardware: AVX512_BF16's VDPBF16PS (Intel Cooper Lake, AMD Zen 4
    /// and later) or AMX (Intel Sapphire Rapids and later, which has both).
    static var hasNativeBFloat16: Bool { oneDNNHas(dnnl_cpu_isa_avx512_core_bf16) }

    /// AMX tiles (Sapphire Rapids and later).
    static var hasAMX: Bool { oneDNNHas(dnnl_cpu_isa_avx512_core_amx) }
}
