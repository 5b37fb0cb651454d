import CKernels
import Foundation

/// bfloat16 products of at most four rows with a weight: a beam's hypotheses, one image's pooled
/// features. Such a product reads all of W for a handful of rows, so it runs at about the speed W
/// streams in; oneDNN's AMX kernels stream it at about 26 GB/s here, the AVX-512 FMA loop in
/// CKernels' FewRows.c at 30–40 with both cores. The sums are the same kind as oneDNN's — bfloat16
/// operands, exact products, float32 accumulation — in another order. Used only on CPUs with
/// AVX-512; elsewhere oneDNN takes these products too.
enum FewRows {
    static let available = captioner_few_rows_available() != 0
    static let maximumRows = CAPTIONER_FEW_ROWS_MAX
    static let tileColumns = CAPTIONER_FEW_ROWS_TILE

    /// A weight's product this path takes: few rows times a cached weight W [n, k] as a Linear holds
    /// it, while decoding. Training (a recording tape) changes W every step, and the last steps of a
    /// packed batch also have few rows: those stay on oneDNN, whose copy of W is re-blocked anyway,
    /// rather than packing W a second time per step.
    static func takes(_ key: MatmulKey) -> Bool {
        available && key.blockedB && key.batch == 1 && key.m <= maximumRows && !key.transposeA && key.transposeB
            && !Tape.isRecording
    }

    /// Layouts per weight shape, and the scratch for A rounded to bfloat16; used under `MatmulCache`'s lock.
    private struct Shape: Hashable { let n: Int, k: Int }
    private static var layouts: [Shape: PackedForFewRows] = [:]
    private static var rounded: [Float] = []

    /// C (+)= A·Wᵀ (+ bias), the 64-column tiles of C shared out among the cores as they come free.
    /// With `statistics` ([m, ⌈n/64⌉, 2]), also each row's maximum and Σ e^(C − maximum) over
    /// every 64-column tile (see FewRows.c).
    static func multiply(_ key: MatmulKey, a: UnsafePointer<Float>, weight: TensorStorage,
                         bias: UnsafePointer<Float>?, c: UnsafeMutablePointer<Float>, statistics: UnsafeMutablePointer<Float>? = nil) {
        let (m, n, k) = (key.m, key.n, key.k)
        let layout = layouts[Shape(n: n, k: k)] ?? {
            let made = PackedForFewRows(n: n, k: k)
            layouts[Shape(n: n, k: k)] = made
            return made
        }()
        let packed = BFloat16WeightCache.shared.blocked(weight, layout: layout).assumingMemoryBound(to: UInt16.self)
        // A's rows rounded to bfloat16 (kept as floats, which FewRows.c broadcasts), each padded to whole pairs.
        let paddedK = (k + 1) / 2 * 2
        if rounded.count < m * paddedK { rounded = [Float](repeating: 0, count: m * paddedK) }
        rounded.withUnsafeMutableBufferPointer { rows in
            for r in 0..<m {
                let (source, target) = (UnsafeRawPointer(a + r * k).assumingMemoryBound(to: UInt32.self), rows.baseAddress! + r * paddedK)
                for i in 0..<k { target[i] = BFloat16.float(BFloat16.round(source[i])) }
                if paddedK > k { target[k] = 0 }
            }
        }
        // The cores claim about 128 KB of W at a time from one counter; a thread pays for its
        // hand-off from about 256 KB of W on.
        let tilesPerClaim = max(1, 65_536 / max(tileColumns * k, 1))
        let workers = min(Threads.count, max(1, n * k / 131_072))
        var nextTile: Int32 = 0
        withUnsafeMutablePointer(to: &nextTile) { counter in
            rounded.withUnsafeBufferPointer { rows in
                Threads.parallelRanges(workers, minimumPerThread: 1) { _ in
                    captioner_few_rows_multiply(rows.baseAddress, Int32(m), Int32(k), packed, Int32(n), bias, c,
                                                key.accumulate ? 1 : 0, statistics, Int32(tilesPerClaim), counter)
                }
            }
        }
    }
}

/// W [n, k] in FewRows.c's packing: 64-column tiles, each one sequential stream of bfloat16 pairs.
final class PackedForFewRows: WeightLayout {
    let identity: Int
    let bytes: Int
    private let n: Int, k: Int

    init(n: Int, k: Int) {
        self.n = n
        self.k = k
        identity = LayoutNumbers.shared.number(for: Array("few-rows \(n)×\(k)".utf8))
        bytes = captioner_few_rows_packed_count(Int32(n), Int32(k)) * 2
    }

    func write(_ weight: UnsafePointer<Float>, into target: UnsafeMutableRawPointer) {
        captioner_few_rows_pack(weight, Int32(n), Int32(k), target.assumingMemoryBound(to: UInt16.self))
    }
}
