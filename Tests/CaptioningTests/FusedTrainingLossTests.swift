import Foundation
import Testing
import TestSupport
import Layers
import TensorCore
@testable import Captioning

/// `trainingLoss` (output layer fused into the cross-entropy) against the twin's fixtures and
/// against the unfused `captionLoss(forward(…))`, with dropout active.
@Suite struct FusedTrainingLossTests {
    @Test(arguments: Architecture.allCases)
    func matchesTheTwin(_ arch: Architecture) throws {
        let parity = DecoderParityTests()
        let decoder = try parity.build(arch)
        let f = DecoderParityTests.f
        let tokens = try #require(f.integers["tokens"])
        let tape = Tape()
        let loss = tape.record { decoder.trainingLoss(parity.imageFeatures, tokens: tokens, attentionPenalty: arch.defaultAttentionPenalty) }
        let expectedLoss = f["\(arch.rawValue)/loss"]!.item
        #expect(abs(loss.item - expectedLoss) <= 1e-5 * abs(expectedLoss), "\(arch) loss \(loss.item) vs \(expectedLoss)")
        tape.backward(from: loss)
        for (name, p) in decoder.namedParameters where name != "att_w.bias" {
            expectClose(p.grad, f["\(arch.rawValue)/grad.\(name)"]!, tolerance: 1e-4, "\(arch) gradient of \(name)")
        }
    }

    @Test(arguments: Architecture.allCases)
    func matchesTheUnfusedLossWithDropout(_ arch: Architecture) throws {
        let config = DecoderConfig(architecture: arch, vocabularySize: 40, featureSize: 16, embeddingSize: 8, hiddenSize: 12,
                                   attentionSize: 6, dropout: 0.5)
        let decoder = try makeDecoder(config, source: .initialise(seed: 3))
        decoder.setTraining(true)
        var rng = RandomGenerator(seed: 9)
        let (b, l, t) = (5, 4, 7)
        let grid = Tensor.randn([b, l, 16], rng: &rng)
        let features = ImageFeatures(pooled: Tape.withoutRecording { grid.mean(axis: 1) }, grid: grid)
        var ids = [Int32](repeating: 0, count: b * t)
        for r in 0..<b {
            let n = 1 + r % (t - 2)
            ids[r * t] = 1
            for j in 1...n { ids[r * t + j] = Int32(4 + rng.int(below: 36)) }
            ids[r * t + n + 1] = 2
        }
        let tokens = IntTensor(shape: [b, t], values: ids)
        func run(fused: Bool) -> (Float, [Tensor]) {
            for p in decoder.parameters { p.grad = nil }
            decoder.dropoutGenerator = RandomGenerator(seed: 77)
            let tape = Tape()
            let loss = tape.record { () -> Tensor in
                if fused { return decoder.trainingLoss(features, tokens: tokens, attentionPenalty: 0.7) }
                let (logits, attention) = decoder.forward(features, tokens: tokens)
                return captionLoss(logits: logits, attention: attention, tokens: tokens, attentionPenalty: 0.7)
            }
            tape.backward(from: loss)
            return (loss.item, decoder.parameters.map { $0.grad!.copy() })
        }
        let (fusedLoss, fusedGrads) = run(fused: true)
        let (plainLoss, plainGrads) = run(fused: false)
        #expect(abs(fusedLoss - plainLoss) <= 1e-5 * abs(plainLoss), "\(arch) loss \(fusedLoss) vs \(plainLoss)")
        for (name, (a, e)) in zip(decoder.namedParameters.map(\.name), zip(fusedGrads, plainGrads)) where name != "att_w.bias" {
            expectClose(a, e, tolerance: 1e-5, "\(arch) gradient of \(name)")
        }
    }
}
