#if canImport(Glibc)
import Glibc
#endif

/// tanh and the logistic sigmoid as branch-free rational approximations (Eigen's
/// `generic_fast_tanh_float`: a 13/6 minimax rational function on [−7.99, 7.99], within a few ulp of
/// tanh). Unlike libm's `tanhf`, loops over these vectorise, which matters: attention evaluates tanh
/// on B·L·A values at every step.
@inline(__always)
public func fastTanh(_ value: Float) -> Float {
    let x = min(max(value, -7.998_811_7), 7.998_811_7)
    let x2 = x * x
    var p: Float = -2.760_768_5e-16
    p = p * x2 + 2.000_187_9e-13
    p = p * x2 - 8.604_671_5e-11
    p = p * x2 + 5.122_297_1e-08
    p = p * x2 + 1.485_722_4e-05
    p = p * x2 + 6.372_619_3e-04
    p = p * x2 + 4.893_524_6e-03
    p *= x
    var q: Float = 1.198_258_4e-06
    q = q * x2 + 1.185_347_1e-04
    q = q * x2 + 2.268_434_6e-03
    q = q * x2 + 4.893_525_2e-03
    // Eigen returns x itself below |x| < 4e-4, where p/q is within 1 ulp of it anyway (below
    // 1e-38 it flushes toward 0). That select would cost the vector forms a per-lane loop: Swift
    // lowers a SIMD compare to vector code only where LLVM sees a min or max.
    return p / q
}

/// σ(x) = ½ + ½·tanh(x/2).
@inline(__always)
public func fastSigmoid(_ x: Float) -> Float {
    0.5 + 0.5 * fastTanh(0.5 * x)
}

/// Eight floats at p (any alignment), and back: the loads and stores of the eight-lane loops.
@inline(__always) func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}
@inline(__always) func load8(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> { load8(UnsafePointer(p)) }
@inline(__always) func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// `fastTanh` on eight lanes (one AVX register): the same operations in the same order, so each
/// lane equals the scalar function bit for bit; the recurrent cells', attention's and the
/// activations' loops run on it. The clamps compile to vmaxps/vminps; any other mask would not.
@inline(__always)
func fastTanh(_ value: SIMD8<Float>) -> SIMD8<Float> {
    let lo = SIMD8<Float>(repeating: -7.998_811_7), hi = SIMD8<Float>(repeating: 7.998_811_7)
    var x = value.replacing(with: lo, where: value .< lo)
    x = x.replacing(with: hi, where: x .> hi)
    let x2 = x * x
    var p = SIMD8<Float>(repeating: -2.760_768_5e-16)
    p = p * x2 + SIMD8(repeating: 2.000_187_9e-13)
    p = p * x2 - SIMD8(repeating: 8.604_671_5e-11)
    p = p * x2 + SIMD8(repeating: 5.122_297_1e-08)
    p = p * x2 + SIMD8(repeating: 1.485_722_4e-05)
    p = p * x2 + SIMD8(repeating: 6.372_619_3e-04)
    p = p * x2 + SIMD8(repeating: 4.893_524_6e-03)
    p *= x
    var q = SIMD8<Float>(repeating: 1.198_258_4e-06)
    q = q * x2 + SIMD8(repeating: 1.185_347_1e-04)
    q = q * x2 + SIMD8(repeating: 2.268_434_6e-03)
    q = q * x2 + SIMD8(repeating: 4.893_525_2e-03)
    return p / q
}

@inline(__always)
func fastSigmoid(_ x: SIMD8<Float>) -> SIMD8<Float> {
    SIMD8(repeating: 0.5) + SIMD8(repeating: 0.5) * fastTanh(SIMD8(repeating: 0.5) * x)
}

/// eˣ on 16 lanes: Cephes' expf (range reduction by n·ln 2 in two parts, a degree-6 polynomial on
/// [−½ln 2, ½ln 2], then 2ⁿ through the exponent bits), within 2 ulp of libm's expf. Below −87.3
/// (where expf is subnormal or 0) it returns 0; above 88.37 it saturates at e^88.37.
@inline(__always)
func fastExp(_ x: SIMD16<Float>) -> SIMD16<Float> {
    let low = SIMD16<Float>(repeating: -87.336_544), high = SIMD16<Float>(repeating: 88.376_26)
    var c = x.replacing(with: low, where: x .< low)
    c = c.replacing(with: high, where: c .> high)
    let n = (c * 1.442_695_04).rounded(.toNearestOrEven)
    var r = c - n * 0.693_359_375
    r = r - n * -2.121_944_4e-4
    var p = SIMD16<Float>(repeating: 1.987_569_1e-4)
    p = p * r + 1.398_199_9e-3
    p = p * r + 8.333_452e-3
    p = p * r + 4.166_579_6e-2
    p = p * r + 1.666_666_5e-1
    p = p * r + 5e-1
    p = p * (r * r) + r + 1
    // 2ⁿ from n's bits: adding 1.5·2²³ puts the integer n in the low mantissa bits (n is whole and
    // small), which integer lanes then move into the exponent field. Avoids a float → int conversion,
    // which Swift's generic SIMD does lane by lane.
    let magic = SIMD16<Float>(repeating: 12_582_912)
    let nBits = unsafeBitCast(n + magic, to: SIMD16<Int32>.self) &- unsafeBitCast(magic, to: SIMD16<Int32>.self)
    let scaled = p * unsafeBitCast((nBits &+ 127) &<< 23, to: SIMD16<Float>.self)
    return scaled.replacing(with: 0, where: x .< low)
}

/// p[j] = e^(p[j] − shift) for j < count, in place; returns Σ p[j]. The softmax inner loop.
@inline(__always)
func exponentiateShifted(_ p: UnsafeMutablePointer<Float>, count: Int, shift: Float) -> Float {
    var sums = SIMD16<Float>(), j = 0
    let s = SIMD16<Float>(repeating: shift)
    while j + 16 <= count {
        let e = fastExp(UnsafeRawPointer(p + j).loadUnaligned(as: SIMD16<Float>.self) - s)
        UnsafeMutableRawPointer(p + j).storeBytes(of: e, as: SIMD16<Float>.self)
        sums += e
        j += 16
    }
    var total = sums.sum()
    while j < count { let e = expf(p[j] - shift); p[j] = e; total += e; j += 1 }
    return total
}

/// Σ e^(p[j] − shift) for j < count, without writing: the same sum, in the same order, as
/// `exponentiateShifted`.
@inline(__always)
func sumOfShiftedExponentials(_ p: UnsafePointer<Float>, count: Int, shift: Float) -> Float {
    var sums = SIMD16<Float>(), j = 0
    let s = SIMD16<Float>(repeating: shift)
    while j + 16 <= count {
        sums += fastExp(UnsafeRawPointer(p + j).loadUnaligned(as: SIMD16<Float>.self) - s)
        j += 16
    }
    var total = sums.sum()
    while j < count { total += expf(p[j] - shift); j += 1 }
    return total
}

/// log Σ e^(p[j]) over a row of logits: the log-softmax's normaliser, max + log Σ e^(p − max),
/// equal to the one the softmax kernel subtracts. Decoders subtract it from the few logits they
/// keep rather than writing a whole row of log-probabilities.
public func logSumExp(_ p: UnsafePointer<Float>, count: Int) -> Float {
    let m = maximum(p, count: count)
    return m + logf(sumOfShiftedExponentials(p, count: count, shift: m))
}

/// `logSumExp` of each of `rows` consecutive rows of `width` logits, the rows split across the
/// cores (a beam's few rows of a vocabulary's logits are worth splitting). With
/// `blockMaxima` ([rows, ⌈width / block⌉]), also each row's largest logit in every block of `block`
/// (the row's maximum is taken from those), which lets a search skip blocks that cannot matter.
public func logSumExpRows(_ p: UnsafePointer<Float>, rows: Int, width: Int, block: Int = 256,
                          blockMaxima: UnsafeMutablePointer<Float>? = nil) -> [Float] {
    var normalisers = [Float](repeating: 0, count: rows)
    let blocks = (width + block - 1) / block
    normalisers.withUnsafeMutableBufferPointer { out in
        Threads.parallelRanges(rows, minimumPerThread: max(1, 2048 / max(width, 1))) { range in
            for r in range {
                let row = p + r * width
                guard let blockMaxima else { out[r] = logSumExp(row, count: width); continue }
                var m = -Float.infinity
                for i in 0..<blocks {
                    let largest = maximum(row + i * block, count: min(block, width - i * block))
                    blockMaxima[r * blocks + i] = largest
                    m = max(m, largest)
                }
                out[r] = m + logf(sumOfShiftedExponentials(row, count: width, shift: m))
            }
        }
    }
    return normalisers
}

/// Each row's log-softmax normaliser log Σ e^(logit) and its largest logit in every block of
/// `block` columns ([rows, ⌈width / block⌉]): what a search needs to rank words and to skip the
/// blocks that cannot matter. Made by `linearLogits` from its product's per-tile pieces.
public struct LogitStatistics {
    /// The few-row loop's tile width: one block per tile of the product that made them.
    public static let block = FewRows.tileColumns
    public let normalisers: [Float]
    public let blockMaxima: [Float]

    /// From a product's per-tile pieces [rows, tiles, 2] (a tile's largest value m and Σ e^(x − m)):
    /// log Σ e^x = M + log Σ_t s_t·e^(m_t − M), M the row's largest.
    init(tilePieces pieces: [Float], rows: Int, tiles: Int) {
        var normalisers = [Float](repeating: 0, count: rows), maxima = [Float](repeating: 0, count: rows * tiles)
        for r in 0..<rows {
            var top = -Float.infinity
            for t in 0..<tiles {
                maxima[r * tiles + t] = pieces[(r * tiles + t) * 2]
                top = max(top, maxima[r * tiles + t])
            }
            var sum: Float = 0
            for t in 0..<tiles { sum += pieces[(r * tiles + t) * 2 + 1] * expf(maxima[r * tiles + t] - top) }
            normalisers[r] = top + logf(sum)
        }
        self.normalisers = normalisers
        blockMaxima = maxima
    }
}

/// The largest of p[0..<count] (−∞ when empty).
@inline(__always)
func maximum(_ p: UnsafePointer<Float>, count: Int) -> Float {
    var lanes = SIMD16<Float>(repeating: -.infinity), j = 0
    while j + 16 <= count {
        // A compare and blend (Swift's generic pointwiseMax goes lane by lane).
        let x = UnsafeRawPointer(p + j).loadUnaligned(as: SIMD16<Float>.self)
        lanes = lanes.replacing(with: x, where: x .> lanes)
        j += 16
    }
    var m = lanes.max()
    while j < count { m = max(m, p[j]); j += 1 }
    return m
}
