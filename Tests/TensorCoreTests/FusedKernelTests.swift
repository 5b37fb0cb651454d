import Testing
import TestSupport
@testable import TensorCore

/// Fused kernels against the unfused ops they replace: same value, same gradients.
@Suite struct FusedKernelTests {
    /// loss and d(loss)/d(inputs) of `f` on fresh copies of `inputs`.
    func lossAndGradients(_ inputs: [Tensor], _ f: ([Tensor]) -> Tensor) -> (Float, [Tensor]) {
        let leaves = inputs.map { t -> Tensor in let c = t.copy(); c.requiresGrad = true; return c }
        let tape = Tape()
        let loss = tape.record { f(leaves) }
        tape.backward(from: loss)
        return (loss.item, leaves.map { $0.grad ?? Tensor(zeros: $0.shape) })
    }

    @Test(arguments: [false, true])
    func linearCrossEntropyMatchesLinearThenCrossEntropy(withPadding: Bool) {
        var rng = RandomGenerator(seed: 5)
        let (rows, inF, classes) = (37, 24, 300)
        let x = Tensor.randn([rows, inF], rng: &rng), w = Tensor.randn([classes, inF], rng: &rng, std: 0.3)
        let b = Tensor.randn([classes], rng: &rng)
        let targets = IntTensor((0..<rows).map { r in withPadding && r % 3 == 0 ? 0 : Int32(1 + rng.int(below: classes - 1)) })
        let (fusedLoss, fused) = lossAndGradients([x, w, b]) {
            linearCrossEntropy($0[0], weight: $0[1], bias: $0[2], targets: targets, ignoreIndex: 0)
        }
        let (plainLoss, plain) = lossAndGradients([x, w, b]) {
            crossEntropy(linear($0[0], weight: $0[1], bias: $0[2]), targets: targets, ignoreIndex: 0)
        }
        #expect(abs(fusedLoss - plainLoss) <= 1e-5 * abs(plainLoss), "loss \(fusedLoss) vs \(plainLoss)")
        for (name, (a, e)) in zip(["x", "weight", "bias"], zip(fused, plain)) {
            expectClose(a, e, tolerance: 1e-5, "gradient of \(name)")
        }
        if withPadding {
            for r in stride(from: 0, to: rows, by: 3) { #expect((0..<inF).allSatisfy { fused[0].data[r * inF + $0] == 0 }) }
        }
    }

    @Test func linearCrossEntropyWithoutBiasAndWithThreeDimensionalInput() {
        var rng = RandomGenerator(seed: 6)
        let x = Tensor.randn([3, 4, 8], rng: &rng), w = Tensor.randn([11, 8], rng: &rng)
        let targets = IntTensor([1, 2, 0, 0, 5, 6, 7, 0, 10, 0, 3, 4])
        let (fusedLoss, fused) = lossAndGradients([x, w]) { linearCrossEntropy($0[0], weight: $0[1], bias: nil, targets: targets, ignoreIndex: 0) }
        let (plainLoss, plain) = lossAndGradients([x, w]) {
            crossEntropy(linear($0[0], weight: $0[1], bias: nil).reshaped([-1, 11]), targets: targets, ignoreIndex: 0)
        }
        #expect(abs(fusedLoss - plainLoss) <= 1e-5 * abs(plainLoss))
        expectClose(fused[0], plain[0], tolerance: 1e-5, "gradient of x")
        expectClose(fused[1], plain[1], tolerance: 1e-5, "gradient of weight")
    }

    @Test func linearCrossEntropyOfOnlyIgnoredTargetsIsNaN() {
        let x = Tensor(shape: [2, 2], values: [1, 2, 3, 4]), w = Tensor(shape: [3, 2], values: [1, 0, 0, 1, 1, 1])
        #expect(linearCrossEntropy(x, weight: w, bias: nil, targets: IntTensor([0, 0]), ignoreIndex: 0).item.isNaN)
    }

    /// The GRU pointwise loop (sixteen lanes in C with AVX-512, else eight in Swift) gives exactly the
    /// scalar formula's values (and saved tensors), masked tails included.
    @Test(arguments: [13, 16, 37])
    func vectorisedGRUPointwiseEqualsScalar(hidden: Int) {
        var rng = RandomGenerator(seed: 8)
        let batch = 3, h = hidden
        let gi = Tensor.randn([batch, 3 * h], rng: &rng, std: 3), gh = Tensor.randn([batch, 3 * h], rng: &rng, std: 3)
        let prev = Tensor.randn([batch, h], rng: &rng)
        gi.data[0] = 1e-5; gi.data[1] = -20; gh.data[2 * h] = 0; gi.data[2 * h] = 2e-4   // tiny and clamped arguments
        let out = Tensor(zeros: [batch, h]), saved = Tensor(zeros: [batch, 4 * h])
        Recurrent.gruForward(batch: batch, hidden: h, gi: gi.data, giStride: 3 * h, gh: gh.data, h: prev.data, hStride: h,
                             out: out.data, outStride: h, saved: saved.data)
        let unsaved = Tensor(zeros: [batch, h])
        Recurrent.gruForward(batch: batch, hidden: h, gi: gi.data, giStride: 3 * h, gh: gh.data, h: prev.data, hStride: h,
                             out: unsaved.data, outStride: h, saved: nil)
        for b in 0..<batch {
            for j in 0..<h {
                let x = gi.data + b * 3 * h, y = gh.data + b * 3 * h
                let r = fastSigmoid(x[j] + y[j]), z = fastSigmoid(x[h + j] + y[h + j])
                let n = fastTanh(x[2 * h + j] + r * y[2 * h + j])
                let expected = (1 - z) * n + z * prev.data[b * h + j]
                #expect(out.data[b * h + j] == expected && unsaved.data[b * h + j] == expected, "row \(b) unit \(j)")
                let s = saved.data + b * 4 * h
                #expect(s[j] == r && s[h + j] == z && s[2 * h + j] == n && s[3 * h + j] == y[2 * h + j])
            }
        }
    }

    /// The LSTM pointwise loop (sixteen lanes in C with AVX-512, else eight in Swift) gives exactly
    /// the scalar formula's values (and saved tensors), masked tails included.
    @Test(arguments: [13, 16, 37])
    func vectorisedLSTMPointwiseEqualsScalar(hidden: Int) {
        var rng = RandomGenerator(seed: 9)
        let batch = 3, h = hidden
        let gi = Tensor.randn([batch, 4 * h], rng: &rng, std: 3), gh = Tensor.randn([batch, 4 * h], rng: &rng, std: 3)
        let c = Tensor.randn([batch, h], rng: &rng, std: 2)
        gi.data[0] = 1e-5; gi.data[h] = -20; gi.data[2 * h + 1] = 2e-4; gh.data[3 * h] = 30   // tiny and clamped arguments
        let hOut = Tensor(zeros: [batch, h]), cOut = Tensor(zeros: [batch, h]), saved = Tensor(zeros: [batch, 5 * h])
        Recurrent.lstmForward(batch: batch, hidden: h, gi: gi.data, giStride: 4 * h, gh: gh.data, c: c.data, cStride: h,
                              hOut: hOut.data, hOutStride: h, cOut: cOut.data, cOutStride: h, saved: saved.data)
        let hUnsaved = Tensor(zeros: [batch, h]), cUnsaved = Tensor(zeros: [batch, h])
        Recurrent.lstmForward(batch: batch, hidden: h, gi: gi.data, giStride: 4 * h, gh: gh.data, c: c.data, cStride: h,
                              hOut: hUnsaved.data, hOutStride: h, cOut: cUnsaved.data, cOutStride: h, saved: nil)
        for b in 0..<batch {
            for j in 0..<h {
                let x = gi.data + b * 4 * h, y = gh.data + b * 4 * h
                let i = fastSigmoid(x[j] + y[j]), f = fastSigmoid(x[h + j] + y[h + j])
                let g = fastTanh(x[2 * h + j] + y[2 * h + j]), o = fastSigmoid(x[3 * h + j] + y[3 * h + j])
                let cell = f * c.data[b * h + j] + i * g
                let tc = fastTanh(cell)
                let (at, expected) = (b * h + j, o * tc)
                #expect(cOut.data[at] == cell && cUnsaved.data[at] == cell, "row \(b) unit \(j): c'")
                #expect(hOut.data[at] == expected && hUnsaved.data[at] == expected, "row \(b) unit \(j): h'")
                let s = saved.data + b * 5 * h
                #expect(s[j] == i && s[h + j] == f && s[2 * h + j] == g && s[3 * h + j] == o && s[4 * h + j] == tc)
            }
        }
    }

    /// Tensor.tanh() and sigmoid() (four lanes) equal the scalar functions on every element.
    @Test func vectorisedTanhAndSigmoidEqualScalar() {
        var rng = RandomGenerator(seed: 12)
        let x = Tensor.randn([1001], rng: &rng, std: 4)
        x.data[0] = 3e-4; x.data[1] = -1e-6; x.data[2] = 30; x.data[3] = -30; x.data[4] = 0
        let t = x.tanh(), s = x.sigmoid()
        for i in 0..<x.count {
            #expect(t.data[i] == fastTanh(x.data[i]) && s.data[i] == fastSigmoid(x.data[i]), "element \(i)")
        }
    }
}
