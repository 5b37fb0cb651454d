import Foundation
import Testing
import TestSupport
import Layers
import TensorCore
@testable import Captioning

/// The committed fixtures of this test target.
let fixtures = Fixtures(bundle: .module)

/// The four decoders against the PyTorch twin (tools/reference/make_decoder_fixtures.py): loss and
/// every parameter's gradient for one teacher-forced batch, and greedy and beam-3 captions of a
/// peaked model.
@Suite struct DecoderParityTests {
    static let f = try! fixtures.safetensors("decoders.safetensors")
    static let (vocabulary, features, embedding, hidden, attention) = (19, 10, 8, 12, 7)

    func build(_ arch: Architecture) throws -> CaptionDecoder {
        let prefix = "\(arch.rawValue)/param."
        let state = Dictionary(uniqueKeysWithValues: Self.f.tensors.filter { $0.key.hasPrefix(prefix) }
            .map { (String($0.key.dropFirst(prefix.count)), $0.value) })
        let config = DecoderConfig(architecture: arch, vocabularySize: Self.vocabulary, featureSize: Self.features,
                                   embeddingSize: Self.embedding, hiddenSize: Self.hidden, attentionSize: Self.attention, dropout: 0)
        let source = ParameterSource.load(state, origin: "\(arch.rawValue) fixture")
        let decoder = try makeDecoder(config, source: source)
        try source.finish()
        #expect(Set(decoder.namedParameters.map(\.name)) == Set(state.keys))
        return decoder
    }

    var imageFeatures: ImageFeatures {
        let grid = Self.f["grid"]!
        return ImageFeatures(pooled: Tape.withoutRecording { grid.mean(axis: 1) }, grid: grid)
    }

    @Test(arguments: Architecture.allCases)
    func lossAndGradients(_ arch: Architecture) throws {
        let decoder = try build(arch)
        let tokens = try #require(Self.f.integers["tokens"])
        let tape = Tape()
        let loss = tape.record { () -> Tensor in
            let (logits, attention) = decoder.forward(imageFeatures, tokens: tokens)
            expectClose(logits, Self.f["\(arch.rawValue)/logits"], tolerance: 1e-5, "\(arch) logits")
            if let expected = Self.f["\(arch.rawValue)/alphas"] { expectClose(attention, expected, tolerance: 1e-5, "\(arch) attention") }
            return captionLoss(logits: logits, attention: attention, tokens: tokens, attentionPenalty: arch.defaultAttentionPenalty)
        }
        let expectedLoss = Self.f["\(arch.rawValue)/loss"]!.item
        #expect(abs(loss.item - expectedLoss) <= 1e-5 * abs(expectedLoss), "\(arch) loss \(loss.item) vs \(expectedLoss)")
        tape.backward(from: loss)
        for (name, p) in decoder.namedParameters {
            let expected = Self.f["\(arch.rawValue)/grad.\(name)"]!
            if name == "att_w.bias" {
                // att_w's bias is added to every score and cancels in the softmax: its true gradient
                // is 0, and both sides hold only rounding noise.
                #expect(abs(p.grad!.item) < 1e-6 && abs(expected.item) < 1e-6, "\(arch) att_w.bias gradient \(p.grad!.item)")
                continue
            }
            expectClose(p.grad, expected, tolerance: 1e-4, "\(arch) gradient of \(name)")
        }
    }

    func peaked(_ arch: Architecture) throws -> CaptionDecoder {
        let decoder = try build(arch)
        let params = Dictionary(uniqueKeysWithValues: decoder.namedParameters.map { ($0.name, $0.tensor) })
        params["out.weight"]!.assign(Self.f["\(arch.rawValue)/peaked.out.weight"]!)
        params["out.bias"]!.assign(Self.f["\(arch.rawValue)/peaked.out.bias"]!)
        return decoder
    }

    func expected(_ key: String, row: Int) -> [Int32] {
        Array(Self.f.integers[key]![row]).filter { $0 >= 0 }
    }

    @Test(arguments: Architecture.allCases)
    func greedyCaptions(_ arch: Architecture) throws {
        let maxWords = Int(Self.f.metadata["max_words"]!)!
        let results = decodeCaptions(try peaked(arch), imageFeatures, options: .greedy(maxWords: maxWords, allowUnknown: true)).map { $0[0] }
        let logp = Self.f["\(arch.rawValue)/greedy.logp"]!
        for (n, r) in results.enumerated() {
            #expect(r.tokens == expected("\(arch.rawValue)/greedy.tokens", row: n), "\(arch) greedy image \(n)")
            #expect(abs(r.logProbability - logp.data[n]) <= 1e-4 * max(1, abs(logp.data[n])), "\(arch) greedy log p image \(n)")
            #expect(r.finished == (r.tokens.count < maxWords || r.logProbability != results[n].logProbability))
            if arch.usesGrid { #expect(r.attention.count == r.tokens.count && r.attention.allSatisfy { $0.count == 6 }) }
            if arch == .adaptiveAttentionGRU { #expect(r.sentinel.count == r.tokens.count) }
        }
    }

    @Test(arguments: Architecture.allCases)
    func beamSearchCaptions(_ arch: Architecture) throws {
        let maxWords = Int(Self.f.metadata["max_words"]!)!
        let results = decodeCaptions(try peaked(arch), imageFeatures, options: SearchOptions(beamSize: 3, maxWords: maxWords, blockRepeatedTrigrams: false, allowUnknown: true))
        let counts = Self.f.integers["\(arch.rawValue)/beam.count"]!.values
        let logp = Self.f["\(arch.rawValue)/beam.logp"]!
        var row = 0
        for (n, hypotheses) in results.enumerated() {
            #expect(hypotheses.count == Int(counts[n]), "\(arch) image \(n) hypotheses")
            for h in hypotheses {
                #expect(h.tokens == expected("\(arch.rawValue)/beam.tokens", row: row), "\(arch) image \(n) beam \(row)")
                #expect(abs(h.logProbability - logp.data[row]) <= 1e-4 * max(1, abs(logp.data[row])), "\(arch) beam log p")
                row += 1
            }
            #expect(zip(hypotheses, hypotheses.dropFirst()).allSatisfy { $0.score >= $1.score })
        }
    }
}
