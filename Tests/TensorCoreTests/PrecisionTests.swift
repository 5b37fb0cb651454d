import Foundation
import Testing
import TestSupport
@testable import TensorCore

/// `MatmulPrecision.bfloat16`: rounding, products against a float64 reference on the rounded
/// operands, the weight cache, and that float32 stays exact.
@Suite struct PrecisionTests {
    @Test func roundsToNearestEven() {
        func bits(_ x: Float) -> UInt32 { x.bitPattern }
        #expect(BFloat16.round(bits(1)) == 0x3F80)
        #expect(BFloat16.round(bits(-2)) == 0xC000)
        // 1 + 2⁻⁸ lies halfway between 1 and 1 + 2⁻⁷: ties go to the even mantissa (1).
        #expect(BFloat16.round(bits(1 + 0x1p-8)) == 0x3F80)
        // 1 + 3·2⁻⁸ lies halfway between 1 + 2⁻⁷ (odd) and 1 + 2·2⁻⁷ (even).
        #expect(BFloat16.round(bits(1 + 3 * 0x1p-8)) == 0x3F82)
        #expect(BFloat16.round(bits(1 + 0x1p-8 + 0x1p-20)) == 0x3F81)
        #expect(BFloat16.round(bits(.infinity)) == 0x7F80)
        #expect(BFloat16.round(bits(.greatestFiniteMagnitude)) == 0x7F80)     // overflows to infinity, as in PyTorch
        #expect(BFloat16.float(BFloat16.round(bits(.nan))).isNaN)
        #expect(BFloat16.float(BFloat16.round(0x7F80_0001)).isNaN)            // a NaN with a low payload stays NaN
        #expect(BFloat16.float(BFloat16.round(bits(0.1))) == 0.10009765625)

        // The vector conversion equals the scalar rounding, tail included.
        var rng = RandomGenerator(seed: 4)
        let x = Tensor.randn([1037], rng: &rng)
        x.data[5] = .nan
        x.data[6] = -.infinity
        let out = BFloat16Buffer(capacity: x.count)
        BFloat16.convert(x.data, count: x.count, into: out.pointer)
        var mismatches = 0
        for i in 0..<x.count where out.pointer[i] != BFloat16.round(x.data[i].bitPattern) { mismatches += 1 }
        #expect(mismatches == 0)
    }

    /// Every shape a decoder uses: plain, transposed A (weight gradients), transposed B (forward),
    /// with bias, and accumulating. Unless A is transposed, the 70 rows run in several calls.
    @Test(.enabled(if: Precision.supportsBFloat16), arguments: [false, true], [false, true])
    func productsSumRoundedOperandsInFloat32(transposeA: Bool, transposeB: Bool) {
        // N 50: a multiple of 16 rows then the rest; N 80: 16-row blocks (`MatmulCache.rowsPerCall`).
        for n in [50, 80] {
            let (m, k) = (70, 96)
            var rng = RandomGenerator(seed: 11)
            let a = Tensor.randn(transposeA ? [k, m] : [m, k], rng: &rng)
            let b = Tensor.randn(transposeB ? [n, k] : [k, n], rng: &rng)
            let bias = Tensor.randn([n], rng: &rng)
            let start = Tensor.randn([m, n], rng: &rng)
            func rounded(_ t: Tensor, _ i: Int) -> Double { Double(BFloat16.float(BFloat16.round(t.data[i].bitPattern))) }
            // asWeight: B goes through the weight cache, re-blocked for the AMX tiles.
            for (accumulate, asWeight) in [(false, false), (true, false), (false, true), (true, true)] {
                let c = start.copy()
                Precision.$matmul.withValue(.bfloat16) {
                    gemm(a.data, b.data, c.data, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB,
                         bias: bias.data, accumulate: accumulate, weight: asWeight ? b.storage : nil)
                }
                let exact = start.copy()
                Precision.$matmul.withValue(.float32) {
                    gemm(a.data, b.data, exact.data, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB,
                         bias: bias.data, accumulate: accumulate)
                }
                var worst = 0.0, worstFromFloat32 = 0.0
                for i in 0..<m {
                    for j in 0..<n {
                        var sum = Double(bias.data[j]) + (accumulate ? Double(start.data[i * n + j]) : 0)
                        for p in 0..<k {
                            let av = rounded(a, transposeA ? p * m + i : i * k + p)
                            let bv = rounded(b, transposeB ? j * k + p : p * n + j)
                            sum += av * bv
                        }
                        worst = max(worst, abs(Double(c.data[i * n + j]) - sum))
                        worstFromFloat32 = max(worstFromFloat32, abs(Double(c.data[i * n + j] - exact.data[i * n + j])))
                    }
                }
                // Float32 sums of ~100 products of size ~1: errors of a few 1e-6.
                #expect(worst < 1e-4, "bfloat16 product vs float64 on rounded operands: \(worst)")
                // bfloat16 operands move a product of 96 N(0,1) pairs by ~√96 · 2⁻⁸ ≈ 0.04 at most.
                #expect(worstFromFloat32 > 0 && worstFromFloat32 < 0.2, "bfloat16 vs float32: \(worstFromFloat32)")
            }
        }
    }

    /// Which row splits the bfloat16 products get (`MatmulCache.rowsPerCall`), on two threads.
    @Test func rowSplitsFollowTheShapes() {
        func rows(_ m: Int, _ k: Int, _ n: Int, transposeA: Bool = false, threads: Int = 2) -> Int {
            let key = MatmulKey(batch: 1, m: m, n: n, k: k, transposeA: transposeA, transposeB: true, bias: false,
                                accumulate: false, bfloat16: true, blockedB: true)
            return MatmulCache.rowsPerCall(key, threads: threads)
        }
        #expect(rows(903, 512, 3000) == 16)                      // the output layer over a batch's tokens
        #expect(rows(61, 512, 2048) == 16)                       // a packed LSTM step (61 rows whole: 2.7 ms)
        #expect(rows(64, 512, 3000) == 64)                       // greedy decoding's batch runs well whole
        #expect(rows(3, 512, 3000) == 3)                         // a beam
        #expect(rows(61, 1536, 1536) == 48)                      // B beyond L2: 48 rows, then 13
        #expect(rows(903, 512, 3000, threads: 1) == 896)         // one thread's L2 cannot hold B
        #expect(rows(3136, 256, 1) == 3136)                      // a thin N runs whole
        #expect(rows(3000, 903, 512, transposeA: true) == 3000)  // a weight gradient runs whole
    }

    /// A weight gradient's ragged inner dimension (the batch's tokens) is padded with zeros to a
    /// multiple of 64 (`MatmulCache.paddedInnerDimension`); the sums are unchanged.
    @Test(.enabled(if: Precision.supportsBFloat16))
    func paddedInnerDimensionAddsNothing() {
        let (m, n, k) = (256, 300, 301)
        let key = MatmulKey(batch: 1, m: m, n: n, k: k, transposeA: true, transposeB: false, bias: false,
                            accumulate: true, bfloat16: true)
        #expect(MatmulCache.paddedInnerDimension(key) == 320)
        var rng = RandomGenerator(seed: 3)
        let a = Tensor.randn([k, m], rng: &rng), b = Tensor.randn([k, n], rng: &rng)
        let c = Tensor.randn([m, n], rng: &rng), start = c.copy()
        Precision.$matmul.withValue(.bfloat16) {
            gemm(a.data, b.data, c.data, m: m, n: n, k: k, transposeA: true, transposeB: false, accumulate: true)
        }
        func rounded(_ t: Tensor, _ i: Int) -> Double { Double(BFloat16.float(BFloat16.round(t.data[i].bitPattern))) }
        var worst = 0.0
        for i in stride(from: 0, to: m, by: 7) {
            for j in stride(from: 0, to: n, by: 5) {
                var sum = Double(start.data[i * n + j])
                for p in 0..<k { sum += rounded(a, p * m + i) * rounded(b, p * n + j) }
                worst = max(worst, abs(Double(c.data[i * n + j]) - sum))
            }
        }
        #expect(worst < 1e-3, "padded bfloat16 Aᵀ·B vs float64 on rounded operands: \(worst)")
    }

    @Test func smallProductsAndFloat32StayExact() {
        var rng = RandomGenerator(seed: 2)
        let x = Tensor.randn([4, 8], rng: &rng), w = Tensor.randn([3, 8], rng: &rng)
        // 4·8·3 multiply-adds are below the bfloat16 threshold: identical in both modes.
        let exact = linear(x, weight: w, bias: nil)
        let mixed = Precision.$matmul.withValue(.bfloat16) { linear(x, weight: w, bias: nil) }
        #expect(exact.scalars == mixed.scalars)
    }

    /// A weight is converted once and its copy reused until its storage is marked modified (as the
    /// optimizers do after every step: OptimizerTests checks that).
    @Test(.enabled(if: Precision.supportsBFloat16))
    func weightCopiesFollowTheirStorage() {
        var rng = RandomGenerator(seed: 5)
        let x = Tensor.randn([64, 128], rng: &rng), w = Tensor.randn([96, 128], rng: &rng, requiresGrad: true)
        Precision.$matmul.withValue(.bfloat16) {
            let first = linear(x, weight: w, bias: nil)
            let again = linear(x, weight: w, bias: nil)
            #expect(again.scalars == first.scalars)
            w.data[0] += 1000              // written without markModified: the copy is (knowingly) stale
            #expect(linear(x, weight: w, bias: nil).scalars == first.scalars)
            w.storage.markModified()
            let fresh = linear(x, weight: w, bias: nil)
            #expect(abs(fresh.data[0] - first.data[0]) > 100, "a modified weight is converted again")
        }
    }

    /// Forward and backward through a tape in bfloat16 stay close to float32: the loss, the weight's
    /// gradient and the input's. The square weight is read in two layouts, Wᵀ by the forward
    /// product (y = x·Wᵀ) and W by the input gradient (dx = dy·W), whose blocked descriptors are
    /// equal byte for byte: each still needs its own bfloat16 copy. (They once shared one, so dx was
    /// dy·Wᵀ: the soft-attention GRU's 1536×1536 W_ih trained visibly worse in bf16.)
    @Test(.enabled(if: Precision.supportsBFloat16), arguments: [192, 256])
    func gradientsStayCloseToFloat32(outFeatures: Int) {
        var rng = RandomGenerator(seed: 8)
        let x = Tensor.randn([64, 256], rng: &rng, requiresGrad: true)
        let w = Tensor.uniform([outFeatures, 256], low: -0.06, high: 0.06, rng: &rng, requiresGrad: true)
        let b = Tensor.uniform([outFeatures], low: -0.06, high: 0.06, rng: &rng, requiresGrad: true)
        func run(_ precision: MatmulPrecision) -> (loss: Float, weightGradient: [Float], inputGradient: [Float]) {
            for t in [x, w, b] { t.grad = nil }
            return Precision.$matmul.withValue(precision) {
                let tape = Tape()
                let loss = tape.record { linear(x, weight: w, bias: b).tanh().sum() }
                tape.backward(from: loss)
                return (loss.item, w.grad!.scalars, x.grad!.scalars)
            }
        }
        let exact = run(.float32), mixed = run(.bfloat16)
        #expect(abs(mixed.loss - exact.loss) <= 1e-2 * max(1, abs(exact.loss)))
        #expect(cosine(exact.weightGradient, mixed.weightGradient) > 0.9999)
        #expect(cosine(exact.inputGradient, mixed.inputGradient) > 0.9999)
    }

    /// A gradient rounded once where it is formed (`RoundedGradient`) gives each product exactly
    /// what the product would have rounded itself: plain A in row blocks (with a weight B), a row
    /// offset into it, and Aᵀ with its inner dimension padded to a multiple of 64.
    @Test(.enabled(if: Precision.supportsBFloat16))
    func roundedGradientsFeedProductsTheirOwnRounding() {
        var rng = RandomGenerator(seed: 21)
        #expect(Precision.$matmul.withValue(.float32) { RoundedGradient(rows: 4, width: 4) } == nil)
        Precision.$matmul.withValue(.bfloat16) {
            // A [70, 96] · Wᵀ, W [80, 96]: 16-row blocks; then rows 16..<40 alone.
            let (m, k, n) = (70, 96, 80)
            let a = Tensor.randn([m, k], rng: &rng), w = Tensor.randn([n, k], rng: &rng)
            let rounded = RoundedGradient(rows: m, width: k)!
            BFloat16.convert(a.data, count: m * k, into: rounded.row(0))
            #expect(rounded.operand(m: 1, n: 1, k: 1) == nil, "a product below the bfloat16 threshold rounds nothing")
            for (first, rows) in [(0, m), (16, 24)] {
                let plain = Tensor(zeros: [rows, n]), given = Tensor(zeros: [rows, n])
                gemm(a.data + first * k, w.data, plain.data, m: rows, n: n, k: k, transposeB: true, weight: w.storage)
                gemm(a.data + first * k, w.data, given.data, m: rows, n: n, k: k, transposeB: true, weight: w.storage,
                     convertedA: rounded.operand(from: first, m: rows, n: n, k: k))
                #expect(given.scalars == plain.scalars)
            }
            // Aᵀ·B with A stored K-major [301, 256]: the product pads K to 320 with zero rows.
            let (tm, tn, tk) = (256, 300, 301)
            let at = Tensor.randn([tk, tm], rng: &rng), b = Tensor.randn([tk, tn], rng: &rng), start = Tensor.randn([tm, tn], rng: &rng)
            let roundedT = RoundedGradient(rows: tk, width: tm)!
            BFloat16.convert(at.data, count: tk * tm, into: roundedT.row(0))
            let plain = start.copy(), given = start.copy()
            gemm(at.data, b.data, plain.data, m: tm, n: tn, k: tk, transposeA: true, accumulate: true)
            gemm(at.data, b.data, given.data, m: tm, n: tn, k: tk, transposeA: true, accumulate: true,
                 convertedA: roundedT.operand(m: tm, n: tn, k: tk))
            #expect(given.scalars == plain.scalars)
            withExtendedLifetime((rounded, roundedT)) {}
        }
    }

    /// Our BA16a64b2a writer (PairBlocks.c) writes the bytes oneDNN's reorder writes, padding
    /// included, for weights stored either way.
    @Test(.enabled(if: Precision.supportsBFloat16), arguments: [(512, 3000), (3000, 512), (37, 70), (33, 65), (64, 128)])
    func pairBlocksWriteWhatTheReorderWrites(k: Int, n: Int) {
        var rng = RandomGenerator(seed: 24)
        let weight = Tensor.randn([k * n], rng: &rng)
        for transposed in [false, true] {
            let ours = BlockedWeights.pairBlocked(k: k, n: n, transposed: transposed)
            let reference = BlockedWeights.pairBlocked(k: k, n: n, transposed: transposed, ownWriter: false)
            #expect(ours.pairs != nil && reference.pairs == nil && ours.bytes == reference.bytes)
            let (a, b) = (BFloat16Buffer(capacity: ours.bytes / 2), BFloat16Buffer(capacity: ours.bytes / 2))
            a.pointer.initialize(repeating: 0xFFFF, count: ours.bytes / 2)      // padding must be written, not left
            ours.write(weight.data, into: a.pointer)
            reference.write(weight.data, into: b.pointer)
            #expect(memcmp(a.pointer, b.pointer, ours.bytes) == 0, "K \(k), N \(n), transposed \(transposed)")
        }
    }

    /// The output layer's forward (x·Wᵀ) and backward (dz·W) products choose that layout, so our
    /// writer makes their weights' copies.
    @Test(.enabled(if: Precision.hasAMX))
    func outputLayerProductsTakeThePairLayout() {
        for (transposeB, kk, nn) in [(true, 512, 3000), (false, 3000, 512)] {
            var key = MatmulKey(batch: 1, m: 64, n: nn, k: kk, transposeA: false, transposeB: transposeB, bias: false,
                                accumulate: false, bfloat16: true)
            key.blockedB = true
            #expect(MatmulPrimitive(key).blockedWeights?.pairs != nil, "\(kk)×\(nn)")
        }
    }

    /// The cross-entropy gradient's one pass equals scaling p in place, converting it and summing
    /// its columns, bit for bit.
    @Test func crossEntropyGradientIsTheThreePassesInOne() {
        var rng = RandomGenerator(seed: 22)
        let (n, v) = (37, 3001)
        let p = Tensor.randn([n, v], rng: &rng).softmax(axis: 1)
        let targets = (0..<n).map { Int32(($0 * 977) % v) }
        let scale: Float = 0.7 / Float(n)
        let fused = BFloat16Buffer(capacity: n * v)
        var fusedSums = [Float](repeating: 0.25, count: v), plainSums = fusedSums
        targets.withUnsafeBufferPointer { t in
            Kernels.crossEntropyGradient(probabilities: p.data, rows: n, classes: v, targets: t.baseAddress!, scale: scale,
                                         into: fused.pointer, columnSums: &fusedSums)
        }
        let dz = p.copy()
        for r in 0..<n {
            for j in 0..<v { dz.data[r * v + j] *= scale }
            dz.data[r * v + Int(targets[r])] -= scale
        }
        let plain = BFloat16Buffer(capacity: n * v)
        BFloat16.convert(dz.data, count: n * v, into: plain.pointer)
        addColumnSums(dz.data, rows: n, cols: v, into: &plainSums)
        var mismatches = 0
        for i in 0..<(n * v) where fused.pointer[i] != plain.pointer[i] { mismatches += 1 }
        #expect(mismatches == 0)
        #expect(fusedSums == plainSums)
    }

    /// The recurrent backward kernels' bfloat16 rows are their float32 rows rounded.
    @Test func recurrentBackwardRoundsTheRowsItWrites() {
        var rng = RandomGenerator(seed: 23)
        let (batch, hidden) = (5, 20)          // 20: a scalar tail after the eight-lane loop
        func bitsEqualRounded(_ values: Tensor, _ rounded: BFloat16Buffer) -> Bool {
            (0..<values.count).allSatisfy { rounded.pointer[$0] == BFloat16.round(values.data[$0].bitPattern) }
        }
        let dhNext = Tensor.randn([batch, hidden], rng: &rng), dcNext = Tensor.randn([batch, hidden], rng: &rng)
        let lstmSaved = Tensor.uniform([batch, 5 * hidden], low: -0.9, high: 0.9, rng: &rng), c = Tensor.randn([batch, hidden], rng: &rng)
        let dgates = Tensor(zeros: [batch, 4 * hidden]), dc = Tensor(zeros: [batch, hidden])
        let dgatesRounded = BFloat16Buffer(capacity: batch * 4 * hidden)
        Recurrent.lstmBackward(batch: batch, hidden: hidden, dhNext: dhNext.data, dhNextStride: hidden, dcNext: dcNext.data,
                               dcNextStride: hidden, saved: lstmSaved.data, c: c.data, cStride: hidden, dgates: dgates.data,
                               dgatesStride: 4 * hidden, dc: dc.data, dcStride: hidden, dgatesRounded: dgatesRounded.pointer)
        #expect(bitsEqualRounded(dgates, dgatesRounded))
        let gruSaved = Tensor.uniform([batch, 4 * hidden], low: -0.9, high: 0.9, rng: &rng), h = Tensor.randn([batch, hidden], rng: &rng)
        let dgi = Tensor(zeros: [batch, 3 * hidden]), dgh = Tensor(zeros: [batch, 3 * hidden]), dh = Tensor(zeros: [batch, hidden])
        let dgiRounded = BFloat16Buffer(capacity: batch * 3 * hidden), dghRounded = BFloat16Buffer(capacity: batch * 3 * hidden)
        Recurrent.gruBackward(batch: batch, hidden: hidden, dhNext: dhNext.data, dhNextStride: hidden, saved: gruSaved.data,
                              h: h.data, hStride: hidden, dgi: dgi.data, dgiStride: 3 * hidden, dgh: dgh.data, dh: dh.data,
                              dhStride: hidden, dgiRounded: dgiRounded.pointer, dghRounded: dghRounded.pointer)
        #expect(bitsEqualRounded(dgi, dgiRounded) && bitsEqualRounded(dgh, dghRounded))
        #expect(dgi.scalars.contains { $0 != 0 } && dgates.scalars.contains { $0 != 0 })
    }
}

/// The vector exp behind the softmaxes, against libm.
@Suite struct FastExpTests {
    @Test func matchesExpfWithinTwoUlp() {
        var worst: Float = 0
        var x: Float = -87.3
        while x < 88.3 {
            var lanes = SIMD16<Float>()
            for i in 0..<16 { lanes[i] = x + Float(i) * 0.000_37 }
            let e = fastExp(lanes)
            for i in 0..<16 {
                let exact = expf(lanes[i])
                worst = max(worst, abs(e[i] - exact) / exact.ulp)
            }
            x += 0.0061
        }
        #expect(worst <= 2, "worst error \(worst) ulp")
        let edges = fastExp(SIMD16<Float>(-.infinity, -1000, -88, 0, 1, -0.0, 100, .infinity, 0, 0, 0, 0, 0, 0, 0, 0))
        #expect(edges[0] == 0 && edges[1] == 0 && edges[2] == 0)
        #expect(edges[3] == 1 && edges[5] == 1 && abs(edges[4] - expf(1)) <= expf(1).ulp)
        #expect(edges[6].isFinite && edges[7].isFinite)
    }

    @Test func softmaxRowsSumToOne() {
        var rng = RandomGenerator(seed: 3)
        let x = Tensor.randn([5, 3001], rng: &rng, std: 4)
        let p = x.softmax(axis: 1)
        for r in 0..<5 {
            var s: Double = 0
            for j in 0..<3001 { s += Double(p.data[r * 3001 + j]) }
            #expect(abs(s - 1) < 1e-5)
        }
    }
}
