import TensorCore

/// Token ids every vocabulary starts with (SPEC row 2).
public enum SpecialToken {
    public static let pad: Int32 = 0, start: Int32 = 1, end: Int32 = 2, unknown: Int32 = 3
}

/// One generated caption with what produced it.
public struct DecodedCaption: Equatable, Sendable {
    /// Word ids, without <start> and <end>.
    public var tokens: [Int32]
    /// Σ log p of every emitted token, <end> included when it was emitted.
    public var logProbability: Float
    /// The ranking score: logProbability / (tokens + 1)^lengthPenalty.
    public var score: Float
    /// False when the search ran out of length before <end>.
    public var finished: Bool
    /// Attention weights over the grid cells for each word (attention models only).
    public var attention: [[Float]]
    /// The adaptive model's sentinel weight β for each word.
    public var sentinel: [Float]
}

public struct SearchOptions: Sendable {
    public var beamSize: Int = 3
    public var maxWords: Int = 30
    /// α in score = log p / (length)^α; 0 ranks by raw log-probability.
    public var lengthPenalty: Float = 0
    /// Forbid any word that would repeat a trigram already in the hypothesis. On by default, so a
    /// caption never says a phrase twice ("a red shirt and a red shirt"); the twin's search does not
    /// block, so the parity tests turn it off.
    public var blockRepeatedTrigrams = true
    /// Let <unk> be emitted. Off by default: a caption for a user never says "<unk>"; the parity
    /// tests turn it on to follow the twin's search, which does not forbid it.
    public var allowUnknown = false

    public init(beamSize: Int = 3, maxWords: Int = 30, lengthPenalty: Float = 0, blockRepeatedTrigrams: Bool = true,
                allowUnknown: Bool = false) {
        self.beamSize = beamSize
        self.maxWords = maxWords
        self.lengthPenalty = lengthPenalty
        self.blockRepeatedTrigrams = blockRepeatedTrigrams
        self.allowUnknown = allowUnknown
    }
}

/// A partial hypothesis while searching.
private struct Hypothesis {
    var tokens: [Int32] = []
    var logProbability: Float = 0
    var attention: [[Float]] = []
    var sentinel: [Float] = []

    func finish(_ logProbability: Float, finished: Bool, penalty: Float) -> DecodedCaption {
        let length = Float(tokens.count + (finished ? 1 : 0))
        let score = penalty == 0 ? logProbability : logProbability / Foundation.pow(max(length, 1), penalty)
        return DecodedCaption(tokens: tokens, logProbability: logProbability, score: score, finished: finished,
                              attention: attention, sentinel: sentinel)
    }

    func repeatsTrigram(with word: Int32) -> Bool {
        let n = tokens.count
        guard n >= 2 else { return false }
        let (a, b) = (tokens[n - 2], tokens[n - 1])
        for i in 0..<(n - 2) where tokens[i] == a && tokens[i + 1] == b && tokens[i + 2] == word { return true }
        return false
    }
}

/// Beam search scans each row of logits in blocks of this many words (see `logSumExpRows`) when
/// the step did not bring its own (`LogitStatistics`, 64-word blocks).
private let scanBlock = 256

/// The first word id a decoder may emit: <pad> (0) and <start> (1) are never targets, so the
/// searches scan logits from here on.
private let firstEmittable = Int(SpecialToken.start) + 1

/// Log-probabilities are read straight off the logits: log p(w) = logit(w) − logSumExp(row), over
/// the whole vocabulary as the model was trained. The searches subtract the normaliser from the few
/// logits they keep instead of writing out a [rows, V] log-softmax every step.

private func row(_ t: Tensor?, _ r: Int) -> [Float] {
    guard let t else { return [] }
    let width = t.count / t.shape[0]
    return Array(UnsafeBufferPointer(start: t.data + r * width, count: width))
}

/// Greedy decoding of a batch: the most probable word at every step (never <unk> unless
/// `allowUnknown`), until <end> or `maxWords`. Switches the decoder to evaluation mode.
public func greedyDecode(_ decoder: CaptionDecoder, _ features: ImageFeatures, maxWords: Int = 30, allowUnknown: Bool = false) -> [DecodedCaption] {
    let unknown = allowUnknown ? -1 : Int(SpecialToken.unknown)
    decoder.setTraining(false)
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

/// The `count`-th best score among the best words of image `image`'s live beams' blocks, counting
/// only blocks whose every word may be emitted (so each best is a real candidate); −∞ when there
/// are fewer such blocks. The score is computed as the search computes it, base + (logit − normaliser).
private func blockScoreFloor(image n: Int, beamSize k: Int, alive: [Bool], beams hypotheses: [Hypothesis], normalisers: [Float],
                             blockMaxima: [Float], blocks: Int, block: Int, count: Int) -> Float {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: count) { best in
        var held = 0                                      // best[0..<held], descending
        for j in 0..<k where alive[n * k + j] {
            let b = n * k + j
            for i in 0..<blocks where i * block >= firstEmittable {
                let s = hypotheses[b].logProbability + (blockMaxima[b * blocks + i] - normalisers[b])
                if held == count && !(s > best[count - 1]) { continue }
                var at = min(held, count - 1)
                while at > 0 && best[at - 1] < s { best[at] = best[at - 1]; at -= 1 }
                best[at] = s
                held = min(held + 1, count)
            }
        }
        return held == count ? best[count - 1] : -Float.infinity
    }
}

/// Captions for a batch as `options` ask: greedy decoding for a beam of 1 (unless trigrams are to be
/// blocked, which only the beam search does), else beam search. Per image, up to K captions, best first.
public func decodeCaptions(_ decoder: CaptionDecoder, _ features: ImageFeatures, options: SearchOptions) -> [[DecodedCaption]] {
    if options.beamSize == 1 && !options.blockRepeatedTrigrams {
        return greedyDecode(decoder, features, maxWords: options.maxWords, allowUnknown: options.allowUnknown).map { [$0] }
    }
    return beamSearch(decoder, features, options: options)
}

/// Beam search over a batch of images, all images' beams decoded together as one batch of N·K
/// rows. Returns, per image, up to K hypotheses, best first. Finished hypotheses (those that emitted
/// <end>) are kept aside as they appear; an image stops once it has K of them. When no beam of an
/// image ever reaches <end>, its best unfinished hypotheses are returned instead.
public func beamSearch(_ decoder: CaptionDecoder, _ features: ImageFeatures, options: SearchOptions = SearchOptions()) -> [[DecodedCaption]] {
    decoder.setTraining(false)
    precondition(options.beamSize >= 1, "the beam size must be at least 1")
    let unknown = options.allowUnknown ? -1 : Int(SpecialToken.unknown)
    // The second core stays with the search from its start to its end, as the helper of every
    // few-row product: a beam's steps are such products separated by serial work (see Threads).
    return Threads.withProductHelper(rows: features.batch * options.beamSize) { Tape.withoutRecording {
        let (images, k) = (features.batch, options.beamSize)
        let expand = (0..<images).flatMap { n in [Int32](repeating: Int32(n), count: k) }
        // Each image's state is made once and copied to its K rows: expanding the features first
        // would copy every image's grid K times (750 KB for one Lite0 image) and compute the same state K times.
        var state = decoder.initialState(features).rows(expand)
        // Only the first beam of each image is live at the start; the others are copies of it.
        var beams = [Hypothesis](repeating: Hypothesis(), count: images * k)
        var alive = (0..<(images * k)).map { $0 % k == 0 }
        var finished = [[DecodedCaption]](repeating: [], count: images)
        var done = [Bool](repeating: false, count: images)
        var words = IntTensor([Int32](repeating: SpecialToken.start, count: images * k))
        var blockMaxima: [Float] = []                   // [rows, blocks] of each step's logits

        /// One step of the search; false once it is over.
        func advance(_ step: Int) -> Bool {
            let out = decoder.step(state, words: words)
            let v = out.logits.shape[1]
            // Each row's normaliser and its largest logit per block of words: the step's own when its
            // product made them, else one pass over the logits here.
            let block = out.logitStatistics == nil ? scanBlock : LogitStatistics.block
            let blocks = (v + block - 1) / block
            let normalisers: [Float]
            if let statistics = out.logitStatistics {
                (normalisers, blockMaxima) = (statistics.normalisers, statistics.blockMaxima)
            } else {
                if blockMaxima.count < images * k * blocks { blockMaxima = [Float](repeating: 0, count: images * k * blocks) }
                normalisers = blockMaxima.withUnsafeMutableBufferPointer {
                    logSumExpRows(out.logits.data, rows: images * k, width: v, block: block, blockMaxima: $0.baseAddress)
                }
            }
            var sources = [Int32](repeating: 0, count: images * k)
            var nextBeams = beams
            var nextAlive = [Bool](repeating: false, count: images * k)
            for n in 0..<images {
                if done[n] { for j in 0..<k { sources[n * k + j] = Int32(n * k + j) }; continue }
                // The best 2K extensions over this image's live beams (enough to refill K live beams
                // even if K of them end here).
                var top: [(score: Float, beam: Int, word: Int32)] = []
                let limit = 2 * k
                // Every block's best word is a candidate, so the 2K-th best of those scores is a floor
                // under the final 2K-th: a block whose best scores below it holds none of the 2K and is
                // skipped from the start. (Not when trigram blocking may forbid a block's best word.)
                let floor = options.blockRepeatedTrigrams ? -Float.infinity
                    : blockScoreFloor(image: n, beamSize: k, alive: alive, beams: beams, normalisers: normalisers,
                                      blockMaxima: blockMaxima, blocks: blocks, block: block, count: limit)
                for j in 0..<k where alive[n * k + j] {
                    let b = n * k + j
                    let p = out.logits.data + b * v                       // [V] logits
                    let base = beams[b].logProbability, normaliser = normalisers[b]
                    for i in 0..<blocks {
                        // A block of words at a time: once 2K candidates are held, a block whose best
                        // score cannot beat the worst of them is skipped (the score is monotone in the logit).
                        let (w, end) = (max(i * block, firstEmittable), min((i + 1) * block, v))
                        let blockBest = base + (blockMaxima[b * blocks + i] - normaliser)
                        if w >= end || blockBest < floor || top.count == limit && blockBest <= top[limit - 1].score {
                            continue
                        }
                        for u in w..<end where u != unknown {
                            let s = base + (p[u] - normaliser)
                            if s == -.infinity { continue }
                            if top.count == limit && s <= top[limit - 1].score { continue }
                            if options.blockRepeatedTrigrams && beams[b].repeatsTrigram(with: Int32(u)) { continue }
                            var at = top.count
                            while at > 0 && top[at - 1].score < s { at -= 1 }
                            top.insert((s, b, Int32(u)), at: at)
                            if top.count > limit { top.removeLast() }
                        }
                    }
                }
                var filled = 0
                for candidate in top {
                    if filled == k { break }
                    if candidate.word == SpecialToken.end {
                        finished[n].append(beams[candidate.beam].finish(candidate.score, finished: true, penalty: options.lengthPenalty))
                        continue
                    }
                    if step == options.maxWords { continue }     // no room for another word, only for <end>
                    let slot = n * k + filled
                    var h = beams[candidate.beam]
                    h.tokens.append(candidate.word)
                    h.logProbability = candidate.score
                    if out.attention != nil { h.attention.append(row(out.attention, candidate.beam)) }
                    if let s = out.sentinel { h.sentinel.append(s.data[candidate.beam]) }
                    nextBeams[slot] = h
                    nextAlive[slot] = true
                    sources[slot] = Int32(candidate.beam)
                    words.values[slot] = candidate.word
                    filled += 1
                }
                for j in filled..<k { sources[n * k + j] = Int32(n * k); words.values[n * k + j] = SpecialToken.end }
                if finished[n].count >= k || filled == 0 || step == options.maxWords { done[n] = true }
            }
            if step == options.maxWords { return false }       // keep the last live beams as fallbacks
            beams = nextBeams
            alive = nextAlive
            if done.allSatisfy({ $0 }) { return false }
            state = out.state.rows(sources)
            return true
        }
        // (A first search builds the decoder's lookup tables and weight layouts in its first step,
        // on this core alone while the team holds the other: once per set of weights.)
        var step = 0
        while advance(step) { step += 1 }
        return (0..<images).map { n in
            var results = finished[n]
            if results.isEmpty {
                results = (0..<k).filter { alive[n * k + $0] }.map {
                    beams[n * k + $0].finish(beams[n * k + $0].logProbability, finished: false, penalty: options.lengthPenalty)
                }
            }
            return Array(results.sorted { $0.score > $1.score }.prefix(k))
        }
    } }
}

import Foundation
