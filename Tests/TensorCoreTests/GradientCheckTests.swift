import Testing
import TestSupport
@testable import TensorCore

/// Finite-difference checks of every differentiable op, independent of PyTorch.
@Suite struct GradientCheckTests {
    var rng = RandomGenerator(seed: 7)

    mutating func randn(_ shape: [Int], positive: Bool = false) -> Tensor {
        let t = Tensor.randn(shape, rng: &rng)
        if positive { for i in 0..<t.count { t.data[i] = abs(t.data[i]) + 0.5 } }
        return t
    }

    /// A fixed random weighting makes every output element matter to the scalar being checked.
    mutating func check(_ inputs: [Tensor], _ what: String, tolerance: Float = 2e-2, _ f: @escaping ([Tensor]) -> [Tensor]) {
        let probe = Tape.withoutRecording { f(inputs) }
        let weights = probe.map { randn($0.shape) }
        finiteDifferenceCheck(inputs, tolerance: tolerance, what) { weightedSum(f(inputs), weights) }
    }

    @Test mutating func products() {
        check([randn([3, 4]), randn([4, 2])], "matmul") { [matmul($0[0], $0[1])] }
        check([randn([4, 3]), randn([2, 4])], "matmul transposed") { [matmul($0[0], $0[1], transposeA: true, transposeB: true)] }
        check([randn([2, 3, 4]), randn([2, 4, 2])], "batched matmul") { [matmul($0[0], $0[1])] }
        check([randn([2, 3, 4]), randn([5, 4]), randn([5])], "linear") { [linear($0[0], weight: $0[1], bias: $0[2])] }
        // Weight gradients are deferred to the end of the pass: a computed weight used by several
        // products must still get them all before its own backward rule passes them on.
        check([randn([3, 4]), randn([2, 4]), randn([5, 4])], "linear with a computed, shared weight") { i in
            let w = (i[2] * 2).tanh()
            let y = linear(i[0], weight: w, bias: nil).sum() + linear(i[1], weight: w, bias: nil).sum()
            return [y, linear(i[0], weight: w * w, bias: nil)]
        }
    }

    @Test mutating func elementwise() {
        check([randn([2, 3, 4]), randn([3, 1])], "add") { [$0[0] + $0[1]] }
        check([randn([2, 3, 4]), randn([4])], "subtract") { [$0[0] - $0[1]] }
        check([randn([2, 3, 4]), randn([2, 1, 4])], "multiply") { [$0[0] * $0[1]] }
        check([randn([2, 3]), randn([2, 3], positive: true)], "divide") { [$0[0] / $0[1]] }
        check([randn([2, 3])], "scale and shift") { [($0[0] * 3) + 2] }
        check([randn([2, 5])], "tanh") { [$0[0].tanh()] }
        check([randn([2, 5])], "sigmoid") { [$0[0].sigmoid()] }
        check([randn([2, 5])], "exp") { [$0[0].exp()] }
        check([randn([2, 5], positive: true)], "log") { [$0[0].log()] }
        // Keep relu's inputs away from the kink, where finite differences are meaningless.
        let x = randn([2, 5])
        for i in 0..<x.count where abs(x.data[i]) < 0.05 { x.data[i] = 0.3 }
        check([x], "relu") { [$0[0].relu()] }
    }

    @Test mutating func reductionsAndSoftmax() {
        check([randn([2, 3, 4])], "sum over axis") { [$0[0].sum(axis: 1)] }
        check([randn([2, 3, 4])], "mean over axis, kept") { [$0[0].mean(axis: 2, keepDims: true)] }
        check([randn([3, 4])], "sum and mean of all") { [$0[0].sum(), $0[0].mean()] }
        check([randn([2, 3, 4])], "softmax") { [$0[0].softmax(axis: 1)] }
        check([randn([2, 3, 4])], "log-softmax") { [$0[0].logSoftmax(axis: -1)] }
    }

    @Test mutating func shapesAndIndexing() {
        check([randn([2, 3]), randn([2, 2])], "concat") { [concat([$0[0], $0[1]], axis: 1)] }
        check([randn([3, 4])], "slice and split") { $0[0].split(axis: 1, sizes: [1, 3]) }
        check([randn([2, 3, 4])], "permute") { [$0[0].permuted([1, 2, 0])] }
        check([randn([2, 3, 4])], "reshape, unsqueeze, squeeze") { [$0[0].reshaped([6, 4]).unsqueezed(axis: 0).squeezed(axis: 0)] }
        let ids = IntTensor(shape: [2, 2], values: [1, 3, 3, 0])
        check([randn([4, 3])], "embedding gather") { [gatherRows($0[0], ids)] }
    }

    @Test mutating func additiveAttentionScores() {
        // 2 rows, 3 cells, width 19: eight-lane blocks and a scalar tail.
        check([randn([2, 3, 19]), randn([2, 19]), randn([1, 19]), randn([1])], "additive scores") {
            [additiveScores($0[0], $0[1], weight: $0[2], bias: $0[3])]
        }
        // The fused op equals its composition: broadcast add, tanh, a width-1 linear layer.
        let (p, q, w, b) = (randn([3, 5, 37]), randn([3, 37]), randn([1, 37]), randn([1]))
        let fused = Tape.withoutRecording { additiveScores(p, q, weight: w, bias: b) }
        let composed = Tape.withoutRecording { linear((p + q.unsqueezed(axis: 1)).tanh(), weight: w, bias: b).squeezed(axis: 2) }
        #expect(fused.shape == composed.shape)
        for i in 0..<fused.count { #expect(abs(fused.data[i] - composed.data[i]) < 1e-5) }
    }

    @Test mutating func attentionContext() {
        // Width 13: eight-lane dot products and a scalar tail.
        check([randn([2, 3]), randn([2, 3, 13])], "weighted sum") { [weightedSum($0[0], $0[1])] }
        let (alpha, values) = (randn([3, 4]), randn([3, 4, 21]))
        let fused = Tape.withoutRecording { weightedSum(alpha, values) }
        let product = Tape.withoutRecording { matmul(alpha.unsqueezed(axis: 1), values).squeezed(axis: 1) }
        #expect(fused.shape == product.shape)
        for i in 0..<fused.count { #expect(abs(fused.data[i] - product.data[i]) < 1e-5) }
    }

    @Test mutating func dropoutWithFixedMask() {
        // The same seed gives the same mask on every evaluation, so the function is differentiable.
        check([randn([3, 4])], "dropout") { inputs in
            var local = RandomGenerator(seed: 99)
            return [dropout(inputs[0], p: 0.3, training: true, rng: &local)]
        }
    }

    @Test mutating func crossEntropyLoss() {
        let targets = IntTensor([3, 0, 1, 4])
        check([randn([4, 5])], "cross-entropy with ignored index") { [crossEntropy($0[0], targets: targets, ignoreIndex: 0)] }
        check([randn([4, 3]), randn([5, 3]), randn([5])], "fused linear cross-entropy with ignored index") {
            [linearCrossEntropy($0[0], weight: $0[1], bias: $0[2], targets: targets, ignoreIndex: 0)]
        }
    }

    @Test mutating func recurrentCellsAndSequences() {
        let (b, i, h, t) = (2, 3, 4, 3)
        var local = RandomGenerator(seed: 11)
        func small(_ dims: Int...) -> Tensor { Tensor.randn(dims, rng: &local, std: 0.5) }
        check([small(b, i), small(b, h), small(3 * h, i), small(3 * h, h), small(3 * h), small(3 * h)], "GRU cell") {
            [gruCell($0[0], $0[1], weightIH: $0[2], weightHH: $0[3], biasIH: $0[4], biasHH: $0[5])]
        }
        check([small(b, i), small(b, h), small(b, h), small(4 * h, i), small(4 * h, h), small(4 * h), small(4 * h)], "LSTM cell") {
            let (hn, cn) = lstmCell($0[0], $0[1], $0[2], weightIH: $0[3], weightHH: $0[4], biasIH: $0[5], biasHH: $0[6])
            return [hn, cn]
        }
        check([small(b, t, i), small(b, h), small(3 * h, i), small(3 * h, h), small(3 * h), small(3 * h)], "GRU sequence") {
            [gruSequence($0[0], $0[1], weightIH: $0[2], weightHH: $0[3], biasIH: $0[4], biasHH: $0[5])]
        }
        check([small(b, t, i), small(b, h), small(b, h), small(4 * h, i), small(4 * h, h), small(4 * h), small(4 * h)], "LSTM sequence") {
            let (y, c) = lstmSequence($0[0], $0[1], $0[2], weightIH: $0[3], weightHH: $0[4], biasIH: $0[5], biasHH: $0[6])
            return [y, c]
        }
    }

    /// Packed sequences (rows stopping early, one never starting): finite differences, and each row
    /// equal to the same row run alone for its own length.
    @Test mutating func packedSequences() {
        let (i, h, t) = (3, 4, 4)
        let lengths = [2, 4, 0, 3]
        let b = lengths.count
        var local = RandomGenerator(seed: 12)
        func small(_ dims: Int...) -> Tensor { Tensor.randn(dims, rng: &local, std: 0.5) }
        let gruInputs = [small(b, t, i), small(b, h), small(3 * h, i), small(3 * h, h), small(3 * h), small(3 * h)]
        check(gruInputs, "packed GRU sequence") {
            [gruSequence($0[0], $0[1], weightIH: $0[2], weightHH: $0[3], biasIH: $0[4], biasHH: $0[5], lengths: lengths)]
        }
        let lstmInputs = [small(b, t, i), small(b, h), small(b, h), small(4 * h, i), small(4 * h, h), small(4 * h), small(4 * h)]
        check(lstmInputs, "packed LSTM sequence") {
            let (y, c) = lstmSequence($0[0], $0[1], $0[2], weightIH: $0[3], weightHH: $0[4], biasIH: $0[5], biasHH: $0[6], lengths: lengths)
            return [y, c]
        }
        Tape.withoutRecording {
            let g = gruInputs, l = lstmInputs
            let packedGRU = gruSequence(g[0], g[1], weightIH: g[2], weightHH: g[3], biasIH: g[4], biasHH: g[5], lengths: lengths)
            let packedLSTM = lstmSequence(l[0], l[1], l[2], weightIH: l[3], weightHH: l[4], biasIH: l[5], biasHH: l[6], lengths: lengths)
            for (row, n) in lengths.enumerated() {
                let gruRow = packedGRU.scalars[(row * t * h)..<((row + 1) * t * h)]
                let lstmRow = packedLSTM.y.scalars[(row * t * h)..<((row + 1) * t * h)]
                #expect(gruRow.dropFirst(n * h).allSatisfy { $0 == 0 } && lstmRow.dropFirst(n * h).allSatisfy { $0 == 0 },
                        "row \(row): outputs after its length are zero")
                let lstmCell = Array(packedLSTM.c.scalars[(row * h)..<((row + 1) * h)])
                if n == 0 {
                    #expect(lstmCell == Array(l[2].scalars[(row * h)..<((row + 1) * h)]), "a row that never runs keeps c0")
                    continue
                }
                let xRow = Tensor(shape: [1, n, i], values: Array(g[0].scalars[(row * t * i)..<(row * t * i + n * i)]))
                let hRow = Tensor(shape: [1, h], values: Array(g[1].scalars[(row * h)..<((row + 1) * h)]))
                let alone = gruSequence(xRow, hRow, weightIH: g[2], weightHH: g[3], biasIH: g[4], biasHH: g[5])
                expectClose(Tensor(shape: [n * h], values: Array(gruRow.prefix(n * h))), alone.reshaped([n * h]), tolerance: 1e-6,
                            "GRU row \(row) packed vs alone")
                let xl = Tensor(shape: [1, n, i], values: Array(l[0].scalars[(row * t * i)..<(row * t * i + n * i)]))
                let hl = Tensor(shape: [1, h], values: Array(l[1].scalars[(row * h)..<((row + 1) * h)]))
                let cl = Tensor(shape: [1, h], values: Array(l[2].scalars[(row * h)..<((row + 1) * h)]))
                let lstmAlone = lstmSequence(xl, hl, cl, weightIH: l[3], weightHH: l[4], biasIH: l[5], biasHH: l[6])
                expectClose(Tensor(shape: [n * h], values: Array(lstmRow.prefix(n * h))), lstmAlone.y.reshaped([n * h]), tolerance: 1e-6,
                            "LSTM row \(row) packed vs alone")
                expectClose(Tensor(shape: [h], values: lstmCell), lstmAlone.c.reshaped([h]), tolerance: 1e-6, "LSTM row \(row) last cell")
            }
        }
    }
}
