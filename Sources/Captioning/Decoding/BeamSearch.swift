import CaptionData
import TensorCore

/// Beam search over a batch of images, all images' beams decoded together as one batch of N·K
/// rows (image n's beams are rows n·K..<(n+1)·K). Finished hypotheses (those that emitted <end>)
/// are kept aside as they appear; an image stops once it has K of them. When no beam of an image
/// ever reaches <end>, its best unfinished hypotheses are returned instead. Through `decodeCaptions`.
///
/// Each step takes, per image, the best 2K extensions over its live beams (enough to refill K live
/// beams even if K of them end here), scanning each row of logits a block of words at a time so
/// that blocks which cannot hold a winner are skipped (`candidates(image:in:)`).
struct BeamSearch {
    private let decoder: CaptionDecoder
    private let options: SearchOptions
    private let images: Int, k: Int
    private let unknown: Int
    private var state: DecoderState
    private var beams: [Hypothesis]
    private var alive: [Bool]
    private var finished: [[DecodedCaption]]
    private var done: [Bool]
    private var words: IntTensor
    private var blockMaxima: [Float] = []              // [rows, blocks] of each step's logits

    /// One extension of a beam: its score, the row it extends and the word.
    private typealias Candidate = (score: Float, beam: Int, word: Int32)

    /// One step's logits with each row's normaliser and its largest logit per block of words.
    private struct ScannedLogits {
        let logits: UnsafeMutablePointer<Float>
        let vocabulary: Int
        let normalisers: [Float]
        let block: Int, blocks: Int
    }

    init(_ decoder: CaptionDecoder, _ features: ImageFeatures, options: SearchOptions) {
        self.decoder = decoder
        self.options = options
        (images, k) = (features.batch, options.beamSize)
        unknown = options.allowUnknown ? -1 : Int(SpecialToken.unknown)
        let expand = (0..<images).flatMap { n in [Int32](repeating: Int32(n), count: options.beamSize) }
        // Each image's state is made once and copied to its K rows: expanding the features first
        // would copy every image's grid K times (750 KB for one Lite0 image) and compute the same state K times.
        state = decoder.initialState(features).rows(expand)
        // Only the first beam of each image is live at the start; the others are copies of it.
        beams = [Hypothesis](repeating: Hypothesis(), count: images * k)
        alive = (0..<(images * k)).map { $0 % options.beamSize == 0 }
        finished = [[DecodedCaption]](repeating: [], count: images)
        done = [Bool](repeating: false, count: images)
        words = IntTensor([Int32](repeating: SpecialToken.start, count: images * k))
    }

    /// Runs the search to its end; per image, up to K hypotheses, best first.
    /// (A first search builds the decoder's lookup tables and weight layouts in its first step,
    /// on this core alone while the team holds the other: once per set of weights.)
    mutating func run() -> [[DecodedCaption]] {
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
    }

    /// One step of the search; false once it is over.
    private mutating func advance(_ step: Int) -> Bool {
        let out = decoder.step(state, words: words)
        let scanned = scan(out)
        var sources = [Int32](repeating: 0, count: images * k)
        var nextBeams = beams
        var nextAlive = [Bool](repeating: false, count: images * k)
        for n in 0..<images {
            if done[n] { for j in 0..<k { sources[n * k + j] = Int32(n * k + j) }; continue }
            var filled = 0
            for candidate in candidates(image: n, in: scanned) {
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

    /// The step's normalisers and block maxima: the step's own when its product made them, else
    /// one pass over the logits here (in blocks of `scanBlock` words).
    private mutating func scan(_ out: DecoderStep) -> ScannedLogits {
        let v = out.logits.shape[1]
        let block = out.logitStatistics == nil ? Self.scanBlock : LogitStatistics.block
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
        return ScannedLogits(logits: out.logits.data, vocabulary: v, normalisers: normalisers, block: block, blocks: blocks)
    }

    /// Rows of logits are scanned in blocks of this many words (see `logSumExpRows`) when the step
    /// did not bring its own statistics (`LogitStatistics`, 64-word blocks).
    private static let scanBlock = 256

    /// The best 2K extensions of image `n`'s live beams, best first. A block of words whose best
    /// score cannot beat the worst of the 2K held so far is skipped (the score is monotone in the logit).
    private func candidates(image n: Int, in scanned: ScannedLogits) -> [Candidate] {
        let (v, block, blocks) = (scanned.vocabulary, scanned.block, scanned.blocks)
        let firstEmittable = Int(SpecialToken.firstEmittable)
        let limit = 2 * k
        var top: [Candidate] = []
        // Every block's best word is a candidate, so the 2K-th best of those scores is a floor under
        // the final 2K-th: a block whose best scores below it holds none of the 2K and is skipped
        // from the start. (Not when trigram blocking may forbid a block's best word.)
        let floor = options.blockRepeatedTrigrams ? -Float.infinity : blockScoreFloor(image: n, in: scanned, count: limit)
        for j in 0..<k where alive[n * k + j] {
            let b = n * k + j
            let p = scanned.logits + b * v                       // [V] logits
            let base = beams[b].logProbability, normaliser = scanned.normalisers[b]
            for i in 0..<blocks {
                let (w, end) = (max(i * block, firstEmittable), min((i + 1) * block, v))
                let blockBest = base + (blockMaxima[b * blocks + i] - normaliser)
                if w >= end || blockBest < floor || top.count == limit && blockBest <= top[limit - 1].score { continue }
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
        return top
    }

    /// The `count`-th best score among the best words of image `n`'s live beams' blocks, counting
    /// only blocks whose every word may be emitted (so each best is a real candidate); −∞ when there
    /// are fewer such blocks. The score is computed as the search computes it, base + (logit − normaliser).
    private func blockScoreFloor(image n: Int, in scanned: ScannedLogits, count: Int) -> Float {
        let (block, blocks) = (scanned.block, scanned.blocks)
        let firstEmittable = Int(SpecialToken.firstEmittable)
        return withUnsafeTemporaryAllocation(of: Float.self, capacity: count) { best in
            var held = 0                                      // best[0..<held], descending
            for j in 0..<k where alive[n * k + j] {
                let b = n * k + j
                for i in 0..<blocks where i * block >= firstEmittable {
                    let s = beams[b].logProbability + (blockMaxima[b * blocks + i] - scanned.normalisers[b])
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
}
