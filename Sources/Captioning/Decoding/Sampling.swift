import CaptionData
import Foundation
import TensorCore

/// One caption drawn from the model's distribution.
public struct SampledCaption: Equatable, Sendable {
    /// Word ids, without <start> and <end>.
    public var tokens: [Int32]
    /// False when it ran out of length before drawing <end>.
    public var finished: Bool
}

/// Draws `count` captions per image from the decoder's own distribution, word by word:
/// w_t ~ softmax(logits_t / temperature) over the words that may be emitted (never <pad> or <start>,
/// and never <unk> unless `allowUnknown`), until <end> or `maxWords`. All images' samples run as one
/// batch of B·count rows, image b's samples being rows b·count..<(b+1)·count. Image b's draws come from
/// `generators[b]`, so seeds give the same captions, and an image's captions do not depend on the
/// other images of the batch (a process sampling its share of a batch draws what a single process
/// would for those images). Switches the decoder to evaluation mode (no dropout).
/// As in `BeamSearch`, each image's state is made once and copied to its rows.
public func sampleCaptions(_ decoder: CaptionDecoder, _ features: ImageFeatures, count: Int, maxWords: Int = 30,
                           temperature: Float = 1, allowUnknown: Bool = false, generators: [RandomGenerator]) -> [SampledCaption] {
    precondition(count >= 1 && temperature > 0, "sampleCaptions: count \(count), temperature \(temperature)")
    precondition(generators.count == features.batch, "sampleCaptions: one generator per image")
    var generators = generators
    decoder.setTraining(false)
    let rows = features.batch * count
    let firstEmittable = Int(SpecialToken.firstEmittable)
    let unknown = allowUnknown ? -1 : Int(SpecialToken.unknown)
    return Tape.withoutRecording {
        var state = count == 1 ? decoder.initialState(features) : decoder.initialState(features).rows((0..<rows).map { Int32($0 / count) })
        var results = [SampledCaption](repeating: SampledCaption(tokens: [], finished: false), count: rows)
        var done = [Bool](repeating: false, count: rows)
        var words = IntTensor([Int32](repeating: SpecialToken.start, count: rows))
        var weights = [Float](repeating: 0, count: decoder.config.vocabularySize)
        for step in 0...maxWords {
            let out = decoder.step(state, words: words)
            state = out.state
            let v = out.logits.shape[1]
            for r in 0..<rows where !done[r] {
                let p = out.logits.data + r * v
                var m = -Float.infinity
                for j in firstEmittable..<v where j != unknown { m = max(m, p[j]) }
                var total: Float = 0
                for j in firstEmittable..<v where j != unknown {
                    let e = expf((p[j] - m) / temperature)
                    weights[j] = e
                    total += e
                }
                // Inverse-CDF draw; the last emittable word takes any rounding remainder.
                let u = generators[r / count].unit() * total
                var word = v - 1 == unknown ? v - 2 : v - 1
                var cumulative: Float = 0
                for j in firstEmittable..<v where j != unknown {
                    cumulative += weights[j]
                    if u < cumulative { word = j; break }
                }
                if word == Int(SpecialToken.end) {
                    results[r].finished = true
                    done[r] = true
                } else if step == maxWords {
                    done[r] = true
                } else {
                    results[r].tokens.append(Int32(word))
                }
                words.values[r] = Int32(word)
            }
            if done.allSatisfy({ $0 }) { break }
        }
        return results
    }
}
