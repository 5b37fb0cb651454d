import CaptionData
import TensorCore

/// Greedy decoding of a batch: the most probable word at every step (never <unk> unless
/// `allowUnknown`), until <end> or `maxWords`. Through `decodeCaptions` with `SearchOptions.greedy`.
func greedySearch(_ decoder: CaptionDecoder, _ features: ImageFeatures, maxWords: Int, allowUnknown: Bool) -> [DecodedCaption] {
    let unknown = allowUnknown ? -1 : Int(SpecialToken.unknown)
    let firstEmittable = Int(SpecialToken.firstEmittable)
    return Tape.withoutRecording {
        let batch = features.batch
        var state = decoder.initialState(features)
        var hypotheses = [Hypothesis](repeating: Hypothesis(), count: batch)
        var done = [Bool](repeating: false, count: batch)
        var words = IntTensor([Int32](repeating: SpecialToken.start, count: batch))
        var results = [DecodedCaption?](repeating: nil, count: batch)
        for step in 0...maxWords {
            let out = decoder.step(state, words: words)
            state = out.state
            let v = out.logits.shape[1]
            let normalisers = out.logitStatistics?.normalisers ?? logSumExpRows(out.logits.data, rows: batch, width: v)
            for b in 0..<batch where !done[b] {
                let p = out.logits.data + b * v
                var best = firstEmittable
                for j in (firstEmittable + 1)..<v where p[j] > p[best] && j != unknown { best = j }
                let bestValue = p[best] - normalisers[b]
                let word = Int32(best)
                words.values[b] = word
                if word == SpecialToken.end {
                    results[b] = hypotheses[b].finish(hypotheses[b].logProbability + bestValue, finished: true, penalty: 0)
                    done[b] = true
                } else if step == maxWords {
                    results[b] = hypotheses[b].finish(hypotheses[b].logProbability, finished: false, penalty: 0)
                    done[b] = true
                } else {
                    hypotheses[b].tokens.append(word)
                    hypotheses[b].logProbability += bestValue
                    if out.attention != nil { hypotheses[b].attention.append(row(out.attention, b)) }
                    if let s = out.sentinel { hypotheses[b].sentinel.append(s.data[b]) }
                }
            }
            if done.allSatisfy({ $0 }) { break }
        }
        return results.map { $0! }
    }
}
