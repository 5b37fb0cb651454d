import Foundation
import Testing
import TestSupport
import CaptionData
import Layers
import TensorCore
@testable import Captioning

/// What lets the ranks of an MPI job share a batch (`ProcessGroup`): the parts' losses, weighted by
/// `BatchShare`, with each part's dropout drawn for its rows of the batch (`Dropout.firstRow`), sum
/// to the whole batch's loss, and so do their gradients.
@Suite struct BatchShareTests {
    @Test(arguments: Architecture.allCases)
    func partsOfABatchSumToTheWholeBatch(_ arch: Architecture) throws {
        let (decoder, features, tokens) = try FusedTrainingLossTests.smallBatch(arch)
        let (b, t) = (tokens.shape[0], tokens.shape[1])
        let targets = (0..<b).map { r in (1..<t).filter { tokens.values[r * t + $0] != SpecialToken.pad }.count }
        func run(_ rows: Range<Int>) -> (Float, [Tensor]) {
            for p in decoder.parameters { p.grad = nil }
            decoder.dropoutGenerator = RandomGenerator(seed: 77)
            decoder.dropout.firstRow = rows.lowerBound
            let (mine, all): (Int, Int) = (targets[rows].reduce(0, +), targets.reduce(0, +))
            let share = BatchShare(targets: Float(mine) / Float(all), captions: Float(rows.count) / Float(b))
            let part = IntTensor(shape: [rows.count, t], values: Array(tokens.values[(rows.lowerBound * t)..<(rows.upperBound * t)]))
            let tape = Tape()
            let loss = tape.record {
                decoder.trainingLoss(features.rows(rows.map(Int32.init)), tokens: part, attentionPenalty: 0.7, share: share)
            }
            tape.backward(from: loss)
            return (loss.item, decoder.parameters.map { $0.grad?.copy() ?? Tensor(zeros: $0.shape) })
        }
        let (wholeLoss, wholeGrads) = run(0..<b)
        let (first, second) = (run(0..<2), run(2..<b))
        #expect(abs(first.0 + second.0 - wholeLoss) <= 1e-5 * abs(wholeLoss), "\(arch): \(first.0) + \(second.0) vs \(wholeLoss)")
        for (name, (whole, (a, c))) in zip(decoder.namedParameters.map(\.name), zip(wholeGrads, zip(first.1, second.1))) where name != "att_w.bias" {
            expectClose(Tape.withoutRecording { a + c }, whole, tolerance: 1e-5, "\(arch) gradient of \(name)")
        }
    }

    @Test func dropoutOfRowsFromARowOnIsThatPartOfTheWholeMask() {
        let x = Tensor(shape: [6, 5, 3], repeating: 1)
        var whole = RandomGenerator(seed: 4), part = RandomGenerator(seed: 4)
        let all = dropout(x, p: 0.4, training: true, rng: &whole).scalars
        let rows = dropout(Tensor(shape: [2, 5, 3], repeating: 1), p: 0.4, training: true, rng: &part, firstRow: 3).scalars
        #expect(rows == Array(all[(3 * 15)..<(5 * 15)]))
        #expect(whole == part, "both generators advanced by one draw")
    }

    @Test func sharesCoverEveryItemOnceInRankOrder() {
        final class Rank: ProcessGroup {
            let rank: Int, size: Int
            init(_ rank: Int, of size: Int) { (self.rank, self.size) = (rank, size) }
            func sum(_ values: UnsafeMutableBufferPointer<Float>) {}
            func gather(_ values: [Int32]) -> [[Int32]] { [values] }
            func barrier() {}
        }
        for size in 1...5 {
            for count in [0, 1, 4, 7, 64] {
                let parts = (0..<size).map { Rank($0, of: size).share(of: count) }
                #expect(parts.flatMap { Array($0) } == Array(0..<count), "\(count) items over \(size)")
                #expect(parts.map(\.count).max()! - parts.map(\.count).min()! <= 1)
            }
        }
    }
}
