import CDNNL
/// C (+)= op(A)·op(B) (+ bias) on raw row-major buffers through the cached oneDNN primitive, in
/// the task's `MatmulPrecision`. `weight` names B's storage when B is a weight (B = its start): in
/// bfloat16 its converted copy is then kept until an optimizer changes it, not made on every call.
/// `convertedA`: A already rounded to bfloat16, for a product that `gemmRoundsToBFloat16` (see
/// `MatmulCache.multiply`).
@inline(__always)
func gemm(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
          m: Int, n: Int, k: Int, batch: Int = 1, transposeA: Bool = false, transposeB: Bool = false,
          bias: UnsafePointer<Float>? = nil, accumulate: Bool = false, weight: TensorStorage? = nil,
          convertedA: UnsafePointer<UInt16>? = nil) {
    let key = matmulKey(m: m, n: n, k: k, batch: batch, transposeA: transposeA, transposeB: transposeB,
                        bias: bias != nil, accumulate: accumulate, weight: weight != nil)
    if let weight { precondition(UnsafePointer(weight.pointer) == b, "gemm: weight storage is not B") }
    MatmulCache.multiply(key, a: a, b: b, bias: bias, c: c, weight: weight, convertedA: convertedA)
}

/// Whether `gemm` rounds the operands of an m×k·k×n product to bfloat16.
func gemmRoundsToBFloat16(m: Int, n: Int, k: Int) -> Bool {
    matmulKey(m: m, n: n, k: k, transposeB: false, bias: false, weight: false).bfloat16
}

/// The product `gemm` runs, in the task's precision.
func matmulKey(m: Int, n: Int, k: Int, batch: Int = 1, transposeA: Bool = false, transposeB: Bool,
                       bias: Bool, accumulate: Bool = false, weight: Bool) -> MatmulKey {
    var key = MatmulKey(batch: batch, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB,
                        bias: bias, accumulate: accumulate)
    // Products too small to gain from AMX stay float32, so tiny shapes pay no conversion.
    key.bfloat16 = batch == 1 && m * n * k >= minimumBFloat16Work && Precision.current == .bfloat16
    key.blockedB = key.bfloat16 && weight   // converted and re-blocked once per weight version, in the cache
    key.threads = Int(omp_get_max_threads())
    return key
}

/// m·n·k below which a product stays float32 in bfloat16 mode.
let minimumBFloat16Work = 1 << 15

/// colSums[j] += Σ_r x[r, j]: the bias gradient of a GEMM.
/// The columns split across the cores; each column still adds its rows in order, so the sums do
/// not depend on the thread count.
func addColumnSums(_ x: UnsafePointer<Float>, rows: Int, cols: Int, rowStride: Int? = nil, into sums: UnsafeMutablePointer<Float>) {
    let stride = rowStride ?? cols
    // Chunks of whole cache lines of columns, enough rows·columns per thread to pay the hand-off.
    let lines = (cols + 15) / 16
    Threads.parallelRanges(lines, minimumPerThread: max(1, 65_536 / max(rows * 16, 1))) { chunk in
        let (start, end) = (chunk.lowerBound * 16, min(cols, chunk.upperBound * 16))
        for r in 0..<rows {
            let row = x + r * stride
            for j in start..<end { sums[j] += row[j] }
        }
    }
}
