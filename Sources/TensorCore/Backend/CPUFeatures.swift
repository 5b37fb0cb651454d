import CDNNL
import CKernels

/// What this CPU can do, as the kernels that depend on it ask: oneDNN's view of the instruction
/// set for the products, and CKernels' own check for the AVX-512 loops.
///
/// One switch caps both: `ONEDNN_MAX_CPU_ISA=AVX2` (oneDNN's own variable) makes an AVX-512 machine
/// run the AVX2 paths throughout — oneDNN's AVX2 kernels, CKernels' AVX-512 loops left out, float32
/// for `--precision auto` — so either kind of CPU can test both.
public enum CPUFeatures {
    /// oneDNN's view of the CPU.
    static var oneDNNISA: dnnl_cpu_isa_t { dnnl_get_effective_cpu_isa() }

    private static func oneDNNHas(_ isa: dnnl_cpu_isa_t) -> Bool { oneDNNISA.rawValue & isa.rawValue == isa.rawValue }

    /// AVX-512F with the registers CKernels' sixteen-lane loops use (few-row products, recurrent
    /// cells), and oneDNN not capped below AVX-512.
    static let hasAVX512 = captioner_few_rows_available() != 0 && oneDNNHas(dnnl_cpu_isa_avx512_core)

    /// AVX2 and FMA with the OS's YMM state, for CKernels' eight-lane loops (the float32 few-row
    /// products), and oneDNN not capped below AVX2.
    static let hasAVX2FMA = captioner_few_rows_avx2_available() != 0 && oneDNNHas(dnnl_cpu_isa_avx2)

    /// The instruction set the kernels use, as oneDNN names it after any cap: "avx2",
    /// "avx512_core_bf16", "avx512_core_amx", ….
    public static var instructionSet: String {
        switch oneDNNISA {
        case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx"
        case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16"
        case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni"
        case dnnl_cpu_isa_avx512_core: return "avx512_core"
        case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni"
        case dnnl_cpu_isa_avx2: return "avx2"
        case dnnl_cpu_isa_avx: return "avx"
        case dnnl_cpu_isa_sse41: return "sse41"
        default: return "isa \(oneDNNISA.rawValue)"
        }
    }

    /// AVX-512 as oneDNN counts it (avx512_core), the least it runs bfloat16 products on.
    static var hasAVX512Core: Bool { oneDNNHas(dnnl_cpu_isa_avx512_core) }

    /// bfloat16 pairs multiplied in hardware: AVX512_BF16's VDPBF16PS (Intel Cooper Lake, AMD Zen 4
    /// and later) or AMX (Intel Sapphire Rapids and later, which has both).
    static var hasNativeBFloat16: Bool { oneDNNHas(dnnl_cpu_isa_avx512_core_bf16) }

    /// AMX tiles (Sapphire Rapids and later).
    static var hasAMX: Bool { oneDNNHas(dnnl_cpu_isa_avx512_core_amx) }
}
