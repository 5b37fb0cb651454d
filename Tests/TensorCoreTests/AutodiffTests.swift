import Foundation
import Testing
@testable import TensorCore

@Suite struct AutodiffTests {
    @Test func inferenceRecordsNothing() {
        let w = Tensor(shape: [2, 2], values: [1, 2, 3, 4], requiresGrad: true)
        let x = Tensor(shape: [1, 2], values: [1, 1])
        let y = matmul(x, w).tanh().sum()
        #expect(!Tape.isRecording)
        #expect(!y.requiresGrad)
        let tape = Tape()
        _ = tape.record { Tape.withoutRecording { matmul(x, w).sum() } }
        #expect(tape.count == 0)
    }

    @Test func gradientsAccumulateAcrossBackwardPasses() {
        let w = Tensor(shape: [3], values: [1, 2, 3], requiresGrad: true)
        for _ in 0..<2 {
            let tape = Tape()
            let loss = tape.record { (w * w).sum() }     // d/dw = 2w
            tape.backward(from: loss)
            #expect(tape.count == 0, "the tape is emptied by backward")
        }
        #expect(w.grad?.scalars == [4, 8, 12])
    }

    @Test func reusedTensorGetsTheSumOfItsGradients() {
        let x = Tensor(shape: [2], values: [0.5, -1], requiresGrad: true)
        let tape = Tape()
        let loss = tape.record { (x + x + x * 2).sum() }   // d/dx = 4
        tape.backward(from: loss)
        #expect(x.grad?.scalars == [4, 4])
    }

    /// Leading-rows views (as the packed decoders take of their state each step) share their whole
    /// tensor's gradient buffer: every view's contribution lands once, none is lost or doubled.
    @Test func leadingRowViewsAddIntoTheWholeGradient() {
        let w = Tensor(shape: [4, 2], values: [1, 2, 3, 4, 5, 6, 7, 8], requiresGrad: true)
        let tape = Tape()
        let loss = tape.record { () -> Tensor in
            let x = w * 1                                      // an intermediate, as a projected grid is
            let three = x.prefixRows(3), two = three.prefixRows(2), one = x.prefixRows(1)
            let c3 = Tensor(shape: [3, 2], values: [1, 1, 1, 1, 1, 1])
            let c2 = Tensor(shape: [2, 2], values: [10, 10, 10, 10])
            return (three * c3).sum() + (two * c2).sum() + (one * 100).sum() + x.sum() + (two * 1000).sum()
        }
        tape.backward(from: loss)
        // Row 0 is in every view; row 1 in three and both uses of two; row 2 in three; row 3 only in x.
        #expect(w.grad?.scalars == [1112, 1112, 1012, 1012, 2, 2, 1, 1])
    }

    @Test func inputsWithoutGradientsAreLeftAlone() {
        let w = Tensor(shape: [2, 2], values: [1, 0, 0, 1], requiresGrad: true)
        let x = Tensor(shape: [2, 2], values: [1, 2, 3, 4])
        let tape = Tape()
        let loss = tape.record { matmul(x, w).sum() }
        tape.backward(from: loss)
        #expect(x.grad == nil)
        #expect(w.grad != nil)
    }

    @Test func matmulPrimitivesAreCreatedOncePerShape() {
        let a = Tensor(shape: [17, 13], repeating: 1), b = Tensor(shape: [13, 11], repeating: 1)
        let key = matmulKey(m: 17, n: 11, k: 13, transposeB: false, bias: false, weight: false)   // as gemm makes it
        _ = matmul(a, b)
        let first = MatmulCache.cached(key)
        #expect(first != nil)
        for _ in 0..<5 { _ = matmul(a, b) }
        #expect(MatmulCache.cached(key) == first)
        #expect(matmul(a, b).scalars.allSatisfy { $0 == 13 })
    }

    /// Shapes beyond the cache's capacity evict the least recently used primitives, not the ones in
    /// use, and every product stays right.
    @Test func matmulCacheStaysWithinItsCapacity() {
        let b = Tensor(shape: [7, 5], repeating: 1)
        let kept = matmulKey(m: 1, n: 5, k: 7, transposeB: false, bias: false, weight: false)
        for rows in 1...(MatmulCache.capacity + 40) {
            let product = matmul(Tensor(shape: [rows, 7], repeating: 1), b)
            #expect(product.scalars.allSatisfy { $0 == 7 }, "\(rows) rows")
            _ = matmul(Tensor(shape: [1, 7], repeating: 1), b)   // the kept shape, used every time
            #expect(MatmulCache.size <= MatmulCache.capacity)
        }
        #expect(MatmulCache.cached(kept) != nil)
    }

    @Test func crossEntropyOfOnlyIgnoredTargetsIsNaNAsInPyTorch() {
        let logits = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        #expect(crossEntropy(logits, targets: IntTensor([0, 0]), ignoreIndex: 0).item.isNaN)
    }

    /// Mask draw i is SplitMix64's output for counter s + (i + 1)·γ, s one draw of the generator, which
    /// advances by that one draw: a formula of i, so the cores' split cannot change the mask.
    @Test func dropoutMaskIsACounterStreamOfOneDraw() {
        var a = RandomGenerator(seed: 42), b = RandomGenerator(seed: 42)
        let count = 100_003                   // several parallel chunks
        var mask = [Float](repeating: -1, count: count)
        mask.withUnsafeMutableBufferPointer { a.fillMask($0.baseAddress!, count: count, dropBelow: 0.3, keep: 2) }
        let start = b.next()
        let expected = (0..<count).map { i in
            RandomGenerator.unit(bits: RandomGenerator.mix(start &+ UInt64(i + 1) &* 0x9E37_79B9_7F4A_7C15)) < 0.3 ? Float(0) : 2
        }
        #expect(mask == expected)
        #expect(a == b)
        // SplitMix64's published first output for seed 1234567 (the counter after one γ step).
        #expect(RandomGenerator.mix(1_234_567 &+ 0x9E37_79B9_7F4A_7C15) == 6_457_827_717_110_365_317)
    }

    @Test func dropoutKeepsExpectationAndIsIdentityInEvaluation() {
        var rng = RandomGenerator(seed: 3)
        let x = Tensor(shape: [10_000], repeating: 1)
        let y = dropout(x, p: 0.5, training: true, rng: &rng)
        let zeros = y.scalars.filter { $0 == 0 }.count
        #expect(abs(zeros - 5000) < 200)
        #expect(y.scalars.allSatisfy { $0 == 0 || $0 == 2 })
        #expect(dropout(x, p: 0.5, training: false, rng: &rng) === x)
    }

    @Test func seededGeneratorRepeats() {
        var a = RandomGenerator(seed: 42), b = RandomGenerator(seed: 42), c = RandomGenerator(seed: 43)
        let sa = (0..<5).map { _ in a.next() }
        #expect(sa == (0..<5).map { _ in b.next() })
        #expect(sa != (0..<5).map { _ in c.next() })
        var n = RandomGenerator(seed: 1)
        let samples = (0..<20_000).map { _ in n.normal() }
        let mean = samples.reduce(0, +) / Float(samples.count)
        let variance = samples.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(samples.count)
        #expect(abs(mean) < 0.03 && abs(variance - 1) < 0.05)
    }

    @Test func threadCountCanBeChosen() {
        let before = Threads.count
        Threads.set(1)
        #expect(Threads.count == 1)
        let a = Tensor(shape: [64, 64], repeating: 0.5)
        #expect(matmul(a, a).scalars.allSatisfy { $0 == 16 })
        Threads.set(before)
    }
}
