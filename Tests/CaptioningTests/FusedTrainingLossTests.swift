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
        let (decoder, features, tokens) = try Self.smallBatch(arch)
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

    /// Mixed precision (`--precision bf16`): the same loss and gradient directions as float32 on
    /// decoder sizes large enough for every product to run in bfloat16. For the soft-attention GRU,
    /// embedding + features = 3 × hidden, as in the default sizes (256 + 1280 = 3 × 512): its W_ih is
    /// square, so its two bfloat16 copies, W and Wᵀ, have equal blocked layouts and must still be
    /// kept apart. (The adaptive GRU at those sizes is further off, in proj_g only, from ReLU masks
    /// that the bfloat16 forward flips: float32 forward with bfloat16 backward stays within 0.9995.)
    @Test(.enabled(if: Precision.supportsBFloat16), arguments: Architecture.allCases)
    func bfloat16StaysCloseToFloat32(_ arch: Architecture) throws {
        let (embedding, hidden) = arch == .softAttentionGRU ? (96, 64) : (64, 128)
        let config = DecoderConfig(architecture: arch, vocabularySize: 300, featureSize: 96, embeddingSize: embedding, hiddenSize: hidden,
                                   attentionSize: 64, dropout: 0)
        let decoder = try makeDecoder(config, source: .initialise(seed: 4))
        var rng = RandomGenerator(seed: 12)
        let (b, l, t) = (16, 9, 12)
        let grid = Tensor.randn([b, l, 96], rng: &rng)
        let features = ImageFeatures(pooled: Tape.withoutRecording { grid.mean(axis: 1) }, grid: grid)
        let tokens = Self.captions(batch: b, width: t, vocabulary: 300, length: { 3 + $0 % (t - 4) }, rng: &rng)
        func run(_ precision: MatmulPrecision) -> (Float, [Tensor]) {
            for p in decoder.parameters { p.grad = nil }
            return Precision.$matmul.withValue(precision) {
                let tape = Tape()
                let loss = tape.record { decoder.trainingLoss(features, tokens: tokens, attentionPenalty: 0.7) }
                tape.backward(from: loss)
                return (loss.item, decoder.parameters.map { $0.grad!.copy() })
            }
        }
        let (exactLoss, exactGrads) = run(.float32)
        let (mixedLoss, mixedGrads) = run(.bfloat16)
        #expect(abs(mixedLoss - exactLoss) <= 5e-3 * abs(exactLoss), "\(arch) loss \(mixedLoss) vs \(exactLoss)")
        for (name, (p, q)) in zip(decoder.namedParameters.map(\.name), zip(exactGrads, mixedGrads)) where name != "att_w.bias" {
            let bothZero = p.scalars.allSatisfy { $0 == 0 } && q.scalars.allSatisfy { $0 == 0 }
            let similarity = bothZero ? 1 : cosine(p.scalars, q.scalars)
            #expect(similarity > 0.999, "\(arch) gradient of \(name): cosine \(similarity) with float32")
        }
    }

    /// <start> w… <end> <pad>… rows, row r holding length(r) random words.
    /// A small `arch` decoder in training mode (dropout 0.5), and a batch of 5 random images and
    /// captions of 8 tokens whose longest fills 7 (the last column is padding only).
    static func smallBatch(_ arch: Architecture) throws -> (decoder: CaptionDecoder, features: ImageFeatures, tokens: IntTensor) {
        let config = DecoderConfig(architecture: arch, vocabularySize: 40, featureSize: 16, embeddingSize: 8, hiddenSize: 12,
                                   attentionSize: 6, dropout: 0.5)
        let decoder = try makeDecoder(config, source: .initialise(seed: 3))
        decoder.setTraining(true)
        var rng = RandomGenerator(seed: 9)
        let (b, l, t) = (5, 4, 8)
        let grid = Tensor.randn([b, l, 16], rng: &rng)
        let features = ImageFeatures(pooled: Tape.withoutRecording { grid.mean(axis: 1) }, grid: grid)
        let tokens = captions(batch: b, width: t, vocabulary: 40, length: { 1 + $0 % (t - 2) }, rng: &rng)
        return (decoder, features, tokens)
    }

    static func captions(batch b: Int, width t: Int, vocabulary: Int, length: (Int) -> Int, rng: inout RandomGenerator) -> IntTensor {
        var ids = [Int32](repeating: 0, count: b * t)
        for r in 0..<b {
            let n = length(r)
            ids[r * t] = 1
            for j in 1...n { ids[r * t + j] = Int32(4 + rng.int(below: vocabulary - 4)) }
            ids[r * t + n + 1] = 2
        }
        return IntTensor(shape: [b, t], values: ids)
    }
}
