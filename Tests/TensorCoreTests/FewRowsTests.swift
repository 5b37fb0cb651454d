import Foundation
import Testing
import TestSupport
@testable import TensorCore

/// The few-row products (`FewRows`, CKernels' FewRows.c): a beam's handful of rows times a weight,
/// in bfloat16 and float32, with their logit statistics and the helper thread that serves them.
@Suite struct FewRowsTests {
    /// Products of one to four rows with a weight (a beam's hypotheses) take the AVX-512 loop
    /// (`FewRows`): odd and even K, N with and without a partial 64-column tile, bias and
    /// accumulation, against float64 on the rounded operands; a modified weight is packed again.
    @Test(.enabled(if: FewRows.available))
    func fewRowProductsSumRoundedOperandsInFloat32() {
        func rounded(_ t: Tensor, _ i: Int) -> Double { Double(BFloat16.float(BFloat16.round(t.data[i].bitPattern))) }
        var rng = RandomGenerator(seed: 12)
        // Each big enough for bfloat16 even at one row (m·n·k ≥ minimumBFloat16Work).
        for (n, k) in [(400, 97), (3000, 512), (1030, 64)] {
            #expect(n * k >= minimumBFloat16Work)
            let w = Tensor.randn([n, k], rng: &rng), bias = Tensor.randn([n], rng: &rng)
            for m in 1...FewRows.maximumRows {
                let key = MatmulKey(batch: 1, m: m, n: n, k: k, transposeA: false, transposeB: true, bias: true,
                                    accumulate: false, bfloat16: true, blockedB: true)
                #expect(FewRows.takes(key))
                let a = Tensor.randn([m, k], rng: &rng), start = Tensor.randn([m, n], rng: &rng)
                for accumulate in [false, true] {
                    let c = start.copy()
                    Precision.$matmul.withValue(.bfloat16) {
                        gemm(a.data, w.data, c.data, m: m, n: n, k: k, transposeB: true, bias: bias.data,
                             accumulate: accumulate, weight: w.storage)
                    }
                    var worst = 0.0
                    for i in 0..<m {
                        for j in 0..<n {
                            var sum = Double(bias.data[j]) + (accumulate ? Double(start.data[i * n + j]) : 0)
                            for p in 0..<k { sum += rounded(a, i * k + p) * rounded(w, j * k + p) }
                            worst = max(worst, abs(Double(c.data[i * n + j]) - sum))
                        }
                    }
                    // Float32 sums of ≤ 512 products of N(0,1) values: errors of a few 1e-5.
                    #expect(worst < 2e-4, "\(m)×\(k)·\(k)×\(n) (accumulate: \(accumulate)) vs float64: \(worst)")
                }
            }
            // The packed copy follows the weight's version, as the blocked copies do.
            let x = Tensor.randn([3, k], rng: &rng)
            let before = Precision.$matmul.withValue(.bfloat16) { linear(x, weight: w, bias: nil) }
            w.assign(Tensor(shape: w.shape, values: w.scalars.map { -$0 }))
            let after = Precision.$matmul.withValue(.bfloat16) { linear(x, weight: w, bias: nil) }
            #expect(zip(before.scalars, after.scalars).allSatisfy { $0 == -$1 }, "a negated weight negates the product")
        }
        // More rows, a transposed A, or a plain (non-weight) B go to oneDNN.
        let wide = MatmulKey(batch: 1, m: 5, n: 3000, k: 512, transposeA: false, transposeB: true, bias: true,
                             accumulate: false, bfloat16: true, blockedB: true)
        #expect(!FewRows.takes(wide))
        var plain = wide
        plain.m = 3
        plain.blockedB = false
        #expect(!FewRows.takes(plain))
        // Training's few-row products (a packed batch's last steps) stay on oneDNN too.
        var decoding = plain
        decoding.blockedB = true
        #expect(FewRows.takes(decoding))
        Tape().record { #expect(!FewRows.takes(decoding)) }
    }

    /// The float32 few-row loop (`--precision fp32`, a beam's products): exact float32 products
    /// summed in float32, against a float64 reference, with bias and accumulation; the same values
    /// as oneDNN's to float32 rounding; the packed copy follows the weight's version; small, wide,
    /// transposed and training products stay on oneDNN. On AVX-512 this is the sixteen-lane loop; on
    /// AVX2 (or under `ONEDNN_MAX_CPU_ISA=AVX2`) the eight-lane one.
    @Test(.enabled(if: FewRows.availableFloat32))
    func fewRowProductsInFloat32() {
        var rng = RandomGenerator(seed: 13)
        for (n, k) in [(700, 97), (3000, 512), (1536, 512), (1030, 64)] {
            let w = Tensor.randn([n, k], rng: &rng), bias = Tensor.randn([n], rng: &rng)
            for m in 1...FewRows.maximumRows {
                let key = MatmulKey(batch: 1, m: m, n: n, k: k, transposeA: false, transposeB: true, bias: true, accumulate: false)
                #expect(FewRows.takes(key))
                let a = Tensor.randn([m, k], rng: &rng), start = Tensor.randn([m, n], rng: &rng)
                for accumulate in [false, true] {
                    let c = start.copy(), viaOneDNN = start.copy()
                    Precision.$matmul.withValue(.float32) {
                        gemm(a.data, w.data, c.data, m: m, n: n, k: k, transposeB: true, bias: bias.data,
                             accumulate: accumulate, weight: w.storage)
                        gemm(a.data, w.data, viaOneDNN.data, m: m, n: n, k: k, transposeB: true, bias: bias.data,
                             accumulate: accumulate)   // no weight: oneDNN's GEMM
                    }
                    var worst = 0.0, apart = 0.0
                    for i in 0..<m {
                        for j in 0..<n {
                            var sum = Double(bias.data[j]) + (accumulate ? Double(start.data[i * n + j]) : 0)
                            for p in 0..<k { sum += Double(a.data[i * k + p]) * Double(w.data[j * k + p]) }
                            worst = max(worst, abs(Double(c.data[i * n + j]) - sum))
                            apart = max(apart, abs(Double(c.data[i * n + j]) - Double(viaOneDNN.data[i * n + j])))
                        }
                    }
                    // Float32 sums of ≤ 512 products of N(0,1) values: errors of a few 1e-5.
                    #expect(worst < 2e-4, "\(m)×\(k)·\(k)×\(n) (accumulate: \(accumulate)) vs float64: \(worst)")
                    #expect(apart < 2e-4, "\(m)×\(k)·\(k)×\(n) (accumulate: \(accumulate)) vs oneDNN: \(apart)")
                }
            }
            let x = Tensor.randn([3, k], rng: &rng)
            let (logits, statistics) = Precision.$matmul.withValue(.float32) { linearLogits(x, weight: w, bias: bias) }
            #expect(statistics != nil, "float32 logits of 3 rows come with their statistics")
            #expect(logits.scalars == Precision.$matmul.withValue(.float32) { linear(x, weight: w, bias: bias) }.scalars)
            if let statistics { expectStatistics(statistics, of: logits, rows: 3, columns: n) }
            let before = Precision.$matmul.withValue(.float32) { linear(x, weight: w, bias: nil) }
            w.assign(Tensor(shape: w.shape, values: w.scalars.map { -$0 }))
            let after = Precision.$matmul.withValue(.float32) { linear(x, weight: w, bias: nil) }
            #expect(zip(before.scalars, after.scalars).allSatisfy { $0 == -$1 }, "a negated weight negates the product")
        }
        let small = MatmulKey(batch: 1, m: 3, n: 100, k: 64, transposeA: false, transposeB: true, bias: false, accumulate: false)
        #expect(!FewRows.takes(small))
        var wide = small
        (wide.m, wide.n, wide.k) = (5, 3000, 512)
        #expect(!FewRows.takes(wide))
        var decoding = wide
        decoding.m = 3
        #expect(FewRows.takes(decoding))
        decoding.transposeA = true
        #expect(!FewRows.takes(decoding))
        decoding.transposeA = false
        Tape().record { #expect(!FewRows.takes(decoding)) }
    }

    /// Each row's normaliser is log Σ e^logit to float32 rounding, and each 64-column block's maximum
    /// is the block's largest logit (a partial last block included).
    func expectStatistics(_ statistics: LogitStatistics, of logits: Tensor, rows: Int, columns: Int,
                          sourceLocation: SourceLocation = #_sourceLocation) {
        let blocks = (columns + LogitStatistics.block - 1) / LogitStatistics.block
        #expect(statistics.blockMaxima.count == rows * blocks, sourceLocation: sourceLocation)
        for r in 0..<rows {
            let row = Array(logits.scalars[(r * columns)..<((r + 1) * columns)])
            let top = Double(row.max()!)
            let exact = top + log(row.reduce(0.0) { $0 + exp(Double($1) - top) })
            #expect(abs(Double(statistics.normalisers[r]) - exact) < 1e-4 * max(1, abs(exact)),
                    "row \(r) of \(rows)×\(columns): \(statistics.normalisers[r]) vs \(exact)", sourceLocation: sourceLocation)
            for b in 0..<blocks {
                let block = row[(b * LogitStatistics.block)..<min(columns, (b + 1) * LogitStatistics.block)]
                #expect(statistics.blockMaxima[r * blocks + b] == block.max()!, sourceLocation: sourceLocation)
            }
        }
    }

    /// A beam's logits with their statistics from the product's pass (`linearLogits`): the logits
    /// are `linear`'s exactly, each row's normaliser is log Σ e^logit to float32 rounding, and the
    /// block maxima are the logits' own (a partial last block included).
    @Test(.enabled(if: FewRows.available))
    func logitStatisticsComeWithTheFewRowProduct() {
        var rng = RandomGenerator(seed: 13)
        for (v, k) in [(3000, 512), (400, 97), (64, 512)] {  // m·v·k ≥ minimumBFloat16Work from one row
            let w = Tensor.randn([v, k], rng: &rng) * 0.2, bias = Tensor.randn([v], rng: &rng)
            for m in 1...FewRows.maximumRows {
                let x = Tensor.randn([m, k], rng: &rng)
                let (logits, statistics) = Precision.$matmul.withValue(.bfloat16) { linearLogits(x, weight: w, bias: bias) }
                let plain = Precision.$matmul.withValue(.bfloat16) { linear(x, weight: w, bias: bias) }
                #expect(logits.scalars == plain.scalars, "\(m)×\(k)·\(k)×\(v): the same logits as linear")
                guard let statistics else { Issue.record("no statistics for \(m) rows"); continue }
                expectStatistics(statistics, of: logits, rows: m, columns: v)
            }
        }
        // Many rows (greedy's batch) leave the normalisers to the caller.
        let x = Tensor.randn([8, 64], rng: &rng), w = Tensor.randn([600, 64], rng: &rng)
        #expect(Precision.$matmul.withValue(.bfloat16) { linearLogits(x, weight: w, bias: nil) }.statistics == nil)
    }

    /// Few-row products made with the second core held as their helper (`Threads.withProductHelper`,
    /// a beam search's team) are the ordinary products bit for bit: logits and statistics, one to
    /// four rows, weights taken in turn as a beam step takes W_hh and W_out, so that from the third
    /// product on the helper has prefetched tiles reserved for it. A nested call, and products in a
    /// parallel loop's team of one inside the region, still compute everything.
    @Test(.enabled(if: FewRows.available))
    func productsWithAHelperAreTheOrdinaryProducts() {
        var rng = RandomGenerator(seed: 14)
        let weights = [(1536, 512), (3000, 512), (400, 97)].map { (n, k) in
            (w: Tensor.randn([n, k], rng: &rng) * 0.2, bias: Tensor.randn([n], rng: &rng))
        }
        let inputs = (1...FewRows.maximumRows).map { m in weights.map { Tensor.randn([m, $0.w.shape[1]], rng: &rng) } }
        func products() -> [[Float]] {
            Precision.$matmul.withValue(.bfloat16) {
                var out: [[Float]] = []
                for _ in 0..<3 {
                    for (m, row) in inputs.enumerated() {
                        for (x, weight) in zip(row, weights) {
                            let (logits, statistics) = linearLogits(x, weight: weight.w, bias: weight.bias)
                            #expect(statistics != nil, "\(m + 1) rows: statistics")
                            out.append(logits.scalars + (statistics?.normalisers ?? []) + (statistics?.blockMaxima ?? []))
                        }
                    }
                }
                return out
            }
        }
        let alone = products()
        // One team at a time in the process: while a test running beside this one holds it (a beam
        // search, for a few milliseconds), the call runs without a helper; try again until it has one.
        var led = false, attempts = 0
        repeat {
            let together = Precision.$matmul.withValue(.bfloat16) {
                Threads.withProductHelper(rows: FewRows.maximumRows) {
                    led = FewRows.Team.leading
                    return products()
                }
            }
            #expect(together == alone)
            attempts += 1
            if !led { usleep(5_000) }
        } while !led && Threads.count == 2 && attempts < 200
        if Threads.count == 2 { #expect(led, "two threads and AVX-512: the products had a helper") }
        #expect(!FewRows.Team.leading, "the team ends with the call")
        let nested = Precision.$matmul.withValue(.bfloat16) {
            Threads.withProductHelper(rows: 3) { Threads.withProductHelper(rows: 3) { products() } }
        }
        #expect(nested == alone)
        var inLoop: [[Float]] = []
        Precision.$matmul.withValue(.bfloat16) {
            Threads.withProductHelper(rows: 3) {
                Threads.parallelRanges(2, minimumPerThread: 1) { range in if range.contains(0) { inLoop = products() } }
            }
        }
        #expect(inLoop == alone)
        // float32 products all go to oneDNN, which then has both cores: no helper is held.
        #expect(!Precision.$matmul.withValue(.float32) { Threads.withProductHelper(rows: 3) { FewRows.Team.leading } })
    }
}
