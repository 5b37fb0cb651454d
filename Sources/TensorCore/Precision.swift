import CDNNL
import Foundation

/// The arithmetic of matrix products. `float32` is exact float32 throughout (the PyTorch parity
/// mode). `bfloat16` is mixed precision as `torch.autocast(dtype=torch.bfloat16)` does it on a CPU:
/// the two GEMM operands are rounded to bfloat16 (8-bit mantissa) and multiplied by the CPU's
/// bfloat16 instructions (AMX tiles or AVX512_BF16), products are summed in float32, and everything
/// else (activations, softmax, gradients, parameters, optimizer state) stays float32.
public enum MatmulPrecision: String, CaseIterable, Sendable {
    case float32 = "fp32"
    case bfloat16 = "bf16"
}

public enum Precision {
    /// The precision a process uses unless a task overrides it with `$matmul.withValue`.
    nonisolated(unsafe) public static var defaultMatmul: MatmulPrecision = .float32

    /// A task's own choice (tests, a server's worker); nil means `defaultMatmul`.
    @TaskLocal public static var matmul: MatmulPrecision?

    static var effectiveMatmul: MatmulPrecision { matmul ?? defaultMatmul }

    /// oneDNN's view of the CPU.
    public static var cpuISA: dnnl_cpu_isa_t { dnnl_get_effective_cpu_isa() }

    /// The CPU multiplies bfloat16 in hardware with AMX tiles (Sapphire Rapids and later): the case
    /// where `bfloat16` is several times faster than `float32`.
    public static var hasAMX: Bool { cpuISA.rawValue & dnnl_cpu_isa_avx512_core_amx.rawValue == dnnl_cpu_isa_avx512_core_amx.rawValue }

    /// oneDNN runs bfloat16 products with AVX-512 at least (natively from avx512_core_bf16 on);
    /// below that it would fall back to its reference loops.
    public static var supportsBFloat16: Bool {
        cpuISA.rawValue & dnnl_cpu_isa_avx512_core.rawValue == dnnl_cpu_isa_avx512_core.rawValue
    }

    /// The CPU multiplies bfloat16 pairs in hardware: AVX512_BF16's VDPBF16PS (Intel Cooper Lake,
    /// AMD Zen 4 and later) or AMX (Intel Sapphire Rapids and later, which has both).
    public static var hasNativeBFloat16: Bool {
        cpuISA.rawValue & dnnl_cpu_isa_avx512_core_bf16.rawValue == dnnl_cpu_isa_avx512_core_bf16.rawValue
    }

    /// What `auto` means on this machine: bfloat16 where the CPU multiplies it natively, float32
    /// elsewhere. On AMD Zen 5 (AVX512_BF16, 2 threads) bf16 trains 1.5–1.6× and decodes greedily
    /// 2.1× faster than float32, and trains to the same test BLEU-4 and CIDEr-D on Shapes (README,
    /// "Precision").
    public static var automatic: MatmulPrecision { hasNativeBFloat16 ? .bfloat16 : .float32 }
}

/// 64-byte aligned bfloat16 memory.
final class BFloat16Buffer {
    private(set) var pointer: UnsafeMutablePointer<UInt16>
    private(set) var capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 1)
        pointer = BFloat16Buffer.allocate(self.capacity)
    }

    private static func allocate(_ count: Int) -> UnsafeMutablePointer<UInt16> {
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, count * 2) == 0, let raw else {
            fatalError("Captioner: out of memory allocating \(count * 2) bytes")
        }
        return raw.bindMemory(to: UInt16.self, capacity: count)
    }

    /// Grows (never shrinks) to hold `count` values; the contents are not kept.
    func reserve(_ count: Int) {
        guard count > capacity else { return }
        free(pointer)
        capacity = count
        pointer = BFloat16Buffer.allocate(count)
    }

    deinit { free(pointer) }
}

/// A gradient rounded to bfloat16 once, in the pass that forms it, for the several products that
/// read it as their A operand (each would otherwise round its own copy, `MatmulCache.multiply`):
/// [rows, width], then zero rows up to a multiple of 64 for the products that read it K-major
/// (transposeA, padded by `MatmulCache.paddedInnerDimension`). nil in float32 mode.
final class RoundedGradient {
    let width: Int
    private let buffer: BFloat16Buffer

    init?(rows: Int, width: Int) {
        guard Precision.effectiveMatmul == .bfloat16 else { return nil }
        self.width = width
        let paddedRows = (rows + 63) / 64 * 64
        buffer = BFloat16Buffer(capacity: paddedRows * width)
        (buffer.pointer + rows * width).initialize(repeating: 0, count: (paddedRows - rows) * width)
    }

    /// Where row `row` is written.
    func row(_ row: Int) -> UnsafeMutablePointer<UInt16> { buffer.pointer + row * width }

    /// The operand from row `row` on, for an m×k·k×n product that reads it, or nil when that product
    /// stays float32 (and rounds nothing).
    func operand(from row: Int = 0, m: Int, n: Int, k: Int) -> UnsafePointer<UInt16>? {
        gemmRoundsToBFloat16(m: m, n: n, k: k) ? UnsafePointer(buffer.pointer + row * width) : nil
    }
}

/// The bfloat16 copies of weights (and the float32 few-row loop's packed copies), re-blocked into a
/// product's layout (`BlockedWeights`, `PackedForFewRows`), made on
/// first use and kept while the weight lives and is unchanged: a weight's storage `version` moves
/// whenever an optimizer writes it, which makes its copy stale. Entries hold their storage weakly,
/// so a freed model's copies go with it.
final class BFloat16WeightCache: @unchecked Sendable {
    static let shared = BFloat16WeightCache()

    private var insertionsSinceSweep = 0
    private let lock = NSLock()

    private struct Entry {
        weak var storage: TensorStorage?
        var version: UInt64
        let values: UnsafeMutableRawPointer
    }
    private struct Key: Hashable {
        let storage: ObjectIdentifier
        let layout: Int
    }
    private var entries: [Key: Entry] = [:]

    /// `storage`'s values as bfloat16 in a primitive's blocked layout, made again when stale.
    func blocked(_ storage: TensorStorage, layout: WeightLayout) -> UnsafeRawPointer {
        lock.lock()
        defer { lock.unlock() }
        let key = Key(storage: ObjectIdentifier(storage), layout: layout.identity)
        if let entry = entries[key], entry.storage === storage {
            if entry.version != storage.version {
                layout.write(storage.pointer, into: entry.values)
                entries[key]!.version = storage.version
            }
            return UnsafeRawPointer(entry.values)
        }
        // A freed storage's address reused: drop its copy (removed, so the sweep cannot free it again).
        if let stale = entries.removeValue(forKey: key) { free(stale.values) }
        insertionsSinceSweep += 1
        if insertionsSinceSweep >= 64 {
            for (k, e) in entries where e.storage == nil { free(e.values); entries[k] = nil }
            insertionsSinceSweep = 0
        }
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, max(layout.bytes, 64)) == 0, let raw else {
            fatalError("Captioner: out of memory allocating \(layout.bytes) bytes")
        }
        layout.write(storage.pointer, into: raw)
        entries[key] = Entry(storage: storage, version: storage.version, values: raw)
        return UnsafeRawPointer(raw)
    }
}

enum BFloat16 {
    /// float32 → bfloat16 with round-to-nearest-even (NaN stays NaN), as PyTorch and oneDNN round.
    static func convert(_ source: UnsafePointer<Float>, count: Int, into destination: UnsafeMutablePointer<UInt16>) {
        Threads.parallelRanges(count, minimumPerThread: 1 << 17) { range in
            let bits = UnsafeRawPointer(source).assumingMemoryBound(to: UInt32.self)
            // A plain loop of `round`: LLVM turns it into AVX-512 compares, adds and blends.
            for i in range { destination[i] = round(bits[i]) }
        }
    }

    @inline(__always) static func round(_ bits: UInt32) -> UInt16 {
        let rounded = (bits &+ 0x7FFF &+ ((bits &>> 16) & 1)) &>> 16
        let quietNaN = (bits &>> 16) | 0x40
        return UInt16(truncatingIfNeeded: bits & 0x7FFF_FFFF > 0x7F80_0000 ? quietNaN : rounded)
    }

    /// bfloat16 → float32 (exact).
    static func float(_ value: UInt16) -> Float { Float(bitPattern: UInt32(value) << 16) }
}
