import CaptionData
import CaptionMetrics
import Foundation
import TensorCore
import Testing
import TestSupport
@testable import Captioning

/// Self-critical training's parts: the loss and its gradients against PyTorch
/// (tools/reference/make_decoder_fixtures.py), sampling, and the CIDEr-D reward.
@Suite struct SelfCriticalTests {
    let parity = DecoderParityTests()

    @Test(arguments: Architecture.allCases)
    func lossAndGradientsMatchPyTorch(_ arch: Architecture) throws {
        let f = DecoderParityTests.f
        let decoder = try parity.build(arch)
        let tokens = try #require(f.integers["tokens"])
        // The fixture's captions, taken as samples: every one ends with <end>.
        let width = tokens.shape[1]
        let samples = (0..<tokens.shape[0]).map { r in
            let row = Array(tokens.values[(r * width + 1)..<((r + 1) * width)])
            return SampledCaption(tokens: Array(row.prefix { $0 != SpecialToken.end }), finished: true)
        }
        #expect(selfCriticalTokens(samples).values == tokens.values)
        let advantages = try #require(f["scst.advantages"]).scalars
        let tape = Tape()
        let loss = tape.record { selfCriticalLoss(decoder, parity.imageFeatures, samples: samples, advantages: advantages) }
        let expectedLoss = f["\(arch.rawValue)/scst.loss"]!.item
        #expect(abs(loss.item - expectedLoss) <= 1e-5 * abs(expectedLoss), "\(arch) self-critical loss \(loss.item) vs \(expectedLoss)")
        tape.backward(from: loss)
        for (name, p) in decoder.namedParameters {
            let expected = f["\(arch.rawValue)/scst.grad.\(name)"]!
            if name == "att_w.bias" {   // cancels in the softmax: both sides hold only rounding noise
                #expect(abs(p.grad!.item) < 1e-6 && abs(expected.item) < 1e-6)
                continue
            }
            expectClose(p.grad, expected, tolerance: 1e-4, "\(arch) self-critical gradient of \(name)")
        }
    }

    @Test func samplingWithASeedIsReproducibleAndNeverEmitsSpecialTokens() throws {
        let decoder = try parity.peaked(.softAttentionGRU)
        let images = parity.imageFeatures.batch
        func draw(_ seed: UInt64, temperature: Float = 1, images rows: [Int32]? = nil) -> [SampledCaption] {
            let rows = rows ?? (0..<Int32(images)).map { $0 }
            return sampleCaptions(decoder, parity.imageFeatures.rows(rows), count: 4, maxWords: 8, temperature: temperature,
                                  generators: rows.map { RandomGenerator(seed: seed &* 100 &+ UInt64($0)) })
        }
        let first = draw(3), again = draw(3), other = draw(4)
        #expect(first.count == 12)
        #expect(first == again)
        #expect(first != other)
        // An image's samples come from its own generator: the same without the other images (as a
        // process sampling its share of a batch draws them).
        #expect(draw(3, images: [Int32(images - 1)]) == Array(first.suffix(4)))
        for caption in first + other {
            #expect(caption.tokens.allSatisfy { $0 > SpecialToken.end && $0 != SpecialToken.unknown && $0 < 19 })
            #expect(caption.finished || caption.tokens.count == 8)
        }
        // A very low temperature samples the most probable word: the greedy caption (never <unk>).
        let greedy = decodeCaptions(decoder, parity.imageFeatures, options: .greedy(maxWords: 8)).map { $0[0] }
        let cold = draw(5, temperature: 1e-4)
        for (i, caption) in cold.enumerated() { #expect(caption.tokens == greedy[i / 4].tokens, "sample \(i)") }
    }

    @Test func samplesFollowTheModelsDistribution() throws {
        // One step of a peaked model: the frequency of each first word approaches its softmax probability.
        let decoder = try parity.peaked(.showTellGRU)
        let features = parity.imageFeatures.rows([0])
        let logits = Tape.withoutRecording { decoder.step(decoder.initialState(features), words: IntTensor([SpecialToken.start])).logits }
        var p = (0..<19).map { j in j > 2 && j != 3 ? exp(Double(logits.data[j])) : 0 }
        p[2] = exp(Double(logits.data[2]))
        let total = p.reduce(0, +)
        let draws = sampleCaptions(decoder, features, count: 4000, maxWords: 1, generators: [RandomGenerator(seed: 9)])
        var counts = [Double](repeating: 0, count: 19)
        for d in draws { counts[Int(d.tokens.first ?? SpecialToken.end)] += 1 }
        for j in 0..<19 where p[j] / total > 0.02 {
            let expected = p[j] / total, seen = counts[j] / 4000
            #expect(abs(seen - expected) < 4 * (expected * (1 - expected) / 4000).squareRoot() + 1e-3, "word \(j): \(seen) vs \(expected)")
        }
    }

    @Test func ciderRewardEqualsTheScorersCiderDOnTheSameCorpus() throws {
        let references = [
            ["a dog runs on the grass", "a brown dog is running", "the dog plays in a field"],
            ["two children play in the water", "kids splash in a pool", "two kids swim"],
            ["a man rides a bike on the road", "a cyclist on a street", "a man on a bicycle rides down the road"],
            ["a woman in a red dress", "a lady wears a red dress and smiles"],
        ]
        let candidates = ["a dog runs in the grass", "two kids play in a pool", "a man rides a bicycle", "a woman"]
        var ids: [String: Int32] = [:]
        func encode(_ s: String) -> [Int32] {
            s.split(separator: " ").map { w in
                if let id = ids[String(w)] { return id }
                let id = Int32(ids.count + 4)
                ids[String(w)] = id
                return id
            }
        }
        let reward = CiderDReward(references: references.map { $0.map(encode) })
        let report = try CaptionScorer(options: ScoringOptions(meteor: false)).evaluate(
            references: Dictionary(uniqueKeysWithValues: references.enumerated().map { ("\($0.offset)", $0.element) }),
            predictions: Dictionary(uniqueKeysWithValues: candidates.enumerated().map { ("\($0.offset)", $0.element) }))
        for score in report.perImage {
            let i = Int(score.image)!
            let ours = reward.score(encode(candidates[i]), image: i)
            #expect(abs(ours - score.ciderD) < 1e-9, "image \(i): reward \(ours), scorer \(score.ciderD)")
        }
        // A caption with no word of the corpus scores 0; the references themselves score well.
        #expect(reward.score(encode("zebra xylophone"), image: 0) == 0)
        #expect(reward.score(encode(references[1][0]), image: 1) > reward.score(encode(candidates[1]), image: 1))
    }

    /// The reward counts <end> as a word (as self-critical.pytorch does): a caption cut short loses the
    /// sentence-ending n-grams its references have.
    @Test func theRewardCountsTheEndOfTheSentence() {
        let (dog, runs, on, grass, a, the) = (Int32(4), Int32(5), Int32(6), Int32(7), Int32(8), Int32(9))
        let end = SpecialToken.end, start = SpecialToken.start
        let references: [Int: [[Int32]]] = [
            0: [[start, a, dog, runs, on, the, grass, end], [start, the, dog, runs, on, grass, end]],
            1: [[start, a, grass, end], [start, the, grass, end]],
        ]
        let corpus = SelfCriticalCorpus(options: SelfCriticalOptions(), references: references)
        let caption: [Int32] = [a, dog, runs, on, the, grass]
        #expect(corpus.score(caption, finished: true, row: 0) > corpus.score(caption, finished: false, row: 0))
        // Cut before its last word, the ended caption still misses "grass <end>".
        #expect(corpus.score(caption, finished: true, row: 0) > corpus.score(Array(caption.dropLast()), finished: true, row: 0))
    }
}
