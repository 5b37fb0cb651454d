import CaptionData
import Foundation
import Testing
import Layers
import TensorCore
@testable import Captioning

/// Beam-search options on a decoder whose next word depends only on the previous one, so every
/// expected caption can be worked out by hand. The hand-worked cases count <unk> (id 3) as an
/// ordinary word (`allowUnknown`); `unknownIsNeverEmittedUnlessAllowed` checks the default.
@Suite struct SearchOptionTests {
    /// A show-tell GRU whose output layer ignores the hidden state: logits are the bias alone, plus a
    /// per-previous-word preference injected through the embedding → GRU → out path being zero.
    func bigramDecoder(preferences: [Float]) throws -> CaptionDecoder {
        let config = DecoderConfig(architecture: .showTellGRU, vocabularySize: preferences.count, featureSize: 2,
                                   embeddingSize: 2, hiddenSize: 2, dropout: 0)
        let decoder = try makeDecoder(config, source: .initialise(seed: 1))
        let params = Dictionary(uniqueKeysWithValues: decoder.namedParameters.map { ($0.name, $0.tensor) })
        params["out.weight"]!.fill(0)
        params["out.bias"]!.assign(Tensor(shape: [preferences.count], values: preferences))
        return decoder
    }

    var features: ImageFeatures { ImageFeatures(pooled: Tensor(zeros: [1, 2]), grid: nil) }

    @Test func lengthPenaltyFavoursLongerCaptions() throws {
        // Word 4 is likely, <end> a little less: raw log-probability prefers ending at once,
        // a length penalty of 1 (average log-probability per token) prefers going on.
        let decoder = try bigramDecoder(preferences: [0, 0, 2.0, 0, 2.2, 0])
        let raw = decodeCaptions(decoder, features, options: SearchOptions(beamSize: 2, maxWords: 4, lengthPenalty: 0, blockRepeatedTrigrams: false, allowUnknown: true))[0][0]
        let penalised = decodeCaptions(decoder, features, options: SearchOptions(beamSize: 2, maxWords: 4, lengthPenalty: 1, blockRepeatedTrigrams: false, allowUnknown: true))[0][0]
        #expect(raw.tokens.isEmpty && raw.finished)
        #expect(penalised.tokens.count > raw.tokens.count)
        #expect(abs(penalised.score - penalised.logProbability / Float(penalised.tokens.count + (penalised.finished ? 1 : 0))) < 1e-5)
    }

    @Test func repeatedTrigramsCanBeBlocked() throws {
        // Word 4 dominates and <end> is unlikely, so an unblocked search repeats "4 4 4 4 …".
        let decoder = try bigramDecoder(preferences: [0, 0, -3, 0, 3, 1])
        let free = decodeCaptions(decoder, features, options: SearchOptions(beamSize: 3, maxWords: 6, blockRepeatedTrigrams: false, allowUnknown: true))[0][0]
        #expect(free.tokens == [4, 4, 4, 4, 4, 4])
        let blocked = decodeCaptions(decoder, features, options: SearchOptions(beamSize: 3, maxWords: 6, blockRepeatedTrigrams: true, allowUnknown: true))[0]
        // The check below needs hypotheses long enough to repeat a trigram (4 words or more): without
        // one, it would pass having compared nothing.
        #expect(!blocked.isEmpty)
        #expect(blocked.contains { $0.tokens.count >= 4 }, "no blocked hypothesis could repeat a trigram: \(blocked.map(\.tokens))")
        var trigramPairsCompared = 0
        for h in blocked {
            var seen = Set<[Int32]>()
            for i in 0..<max(0, h.tokens.count - 2) {
                trigramPairsCompared += seen.count
                #expect(seen.insert(Array(h.tokens[i..<(i + 3)])).inserted, "trigram repeated in \(h.tokens)")
            }
        }
        #expect(trigramPairsCompared > 0)
    }

    @Test func aBeamThatNeverEndsStillReturnsItsBestHypothesis() throws {
        let decoder = try bigramDecoder(preferences: [0, 0, -50, 0, 3, 1])
        let results = decodeCaptions(decoder, features, options: SearchOptions(beamSize: 3, maxWords: 5, blockRepeatedTrigrams: false, allowUnknown: true))[0]
        #expect(!results.isEmpty)
        #expect(results.allSatisfy { !$0.finished && $0.tokens.count == 5 })
        let greedy = decodeCaptions(decoder, features, options: .greedy(maxWords: 5, allowUnknown: true)).map { $0[0] }[0]
        #expect(!greedy.finished && greedy.tokens == [4, 4, 4, 4, 4])
    }

    @Test func unknownIsNeverEmittedUnlessAllowed() throws {
        // <unk> is by far the likeliest word: allowed, it fills the caption; by default, never.
        let decoder = try bigramDecoder(preferences: [0, 0, -4, 6, 2, 1, 0, 0])
        let allowed = decodeCaptions(decoder, features, options: SearchOptions(beamSize: 3, maxWords: 4, blockRepeatedTrigrams: false, allowUnknown: true))[0][0]
        #expect(allowed.tokens == [3, 3, 3, 3])
        #expect(decodeCaptions(decoder, features, options: .greedy(maxWords: 4, allowUnknown: true)).map { $0[0] }[0].tokens == [3, 3, 3, 3])
        for h in decodeCaptions(decoder, features, options: SearchOptions(beamSize: 3, maxWords: 4, blockRepeatedTrigrams: false))[0] {
            #expect(!h.tokens.contains(SpecialToken.unknown) && !h.tokens.isEmpty, "\(h.tokens)")
        }
        #expect(decodeCaptions(decoder, features, options: .greedy(maxWords: 4)).map { $0[0] }[0].tokens == [4, 4, 4, 4])
    }
}
