import CaptionData
import Foundation
import TensorCore

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

extension DecodedCaption {
    /// Each word id as a word of `vocabulary`; "<unk>" for an id outside it (only a foreign file holds one).
    public func words(in vocabulary: [String]) -> [String] {
        tokens.map { Int($0) < vocabulary.count ? vocabulary[Int($0)] : "<unk>" }
    }
}

extension CaptionModel {
    /// The words of a decoded caption in this model's vocabulary, joined by spaces.
    public func sentence(_ caption: DecodedCaption) -> String {
        caption.words(in: metadata.vocabulary).joined(separator: " ")
    }
}

public struct SearchOptions: Sendable, Hashable {
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

    /// The most probable word at every step, as the twin's greedy decoding (no trigram blocking).
    public static func greedy(maxWords: Int = 30, allowUnknown: Bool = false) -> SearchOptions {
        SearchOptions(beamSize: 1, maxWords: maxWords, blockRepeatedTrigrams: false, allowUnknown: allowUnknown)
    }

    /// Greedy decoding gives the same captions as a beam of one, faster; trigram blocking is the
    /// beam search's.
    var isGreedy: Bool { beamSize == 1 && !blockRepeatedTrigrams }
}

/// Captions for a batch as `options` ask — the one way every command, the server, training's
/// validation and self-critical training decode. Per image, up to `beamSize` captions, best first.
/// Switches the decoder to evaluation mode (no dropout).
public func decodeCaptions(_ decoder: CaptionDecoder, _ features: ImageFeatures, options: SearchOptions) -> [[DecodedCaption]] {
    precondition(options.beamSize >= 1, "the beam size must be at least 1")
    decoder.setTraining(false)
    Threads.followLoad()
    if options.isGreedy {
        return greedySearch(decoder, features, maxWords: options.maxWords, allowUnknown: options.allowUnknown).map { [$0] }
    }
    // The second core stays with the search from its start to its end, as the helper of every
    // few-row product: a beam's steps are such products separated by serial work (see Threads).
    return Threads.withProductHelper(rows: features.batch * options.beamSize) {
        Tape.withoutRecording {
            var search = BeamSearch(decoder, features, options: options)
            return search.run()
        }
    }
}

/// A partial hypothesis while searching.
struct Hypothesis {
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

/// Log-probabilities are read straight off the logits: log p(w) = logit(w) − logSumExp(row), over
/// the whole vocabulary as the model was trained. The searches subtract the normaliser from the few
/// logits they keep instead of writing out a [rows, V] log-softmax every step.

/// Row `r` of a [rows, …] tensor, flattened (a step's attention weights for one hypothesis).
func row(_ t: Tensor?, _ r: Int) -> [Float] {
    guard let t else { return [] }
    let width = t.count / t.shape[0]
    return Array(UnsafeBufferPointer(start: t.data + r * width, count: width))
}
