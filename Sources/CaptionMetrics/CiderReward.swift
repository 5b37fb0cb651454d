import Foundation

/// CIDEr-D of token-id captions against a fixed corpus, for self-critical training: the document
/// frequencies and the references' TF-IDF vectors are computed once (from the training references,
/// as self-critical.pytorch does), then each sampled caption is scored against its image's
/// references. The formula is `CiderD.score`'s (pycocoevalcap's, clipping and σ = 6 included), with
/// idf = log(images) − log(max(1, df)) over this corpus; given the same sentences as words both give the
/// same score. (Training references are the vocabulary's ids, cut at --max-words, rare words as <unk>,
/// so their document frequencies differ a little from pycocoevalcap's over the raw captions.)
///
/// Captions are word ids (any dense ids below 65,535); an n-gram of up to four ids packs into one
/// UInt64, so vectors are small dictionaries keyed by integers.
public struct CiderDReward: Sendable {
    static let orders = 4

    /// Per order, the n-grams' TF-IDF weights, the vector's norm, and the bigram count used as length.
    struct Vector: Sendable {
        var weights: [[UInt64: Double]]
        var norms: [Double]
        var length: Int
    }

    private let logImageCount: Double
    private let idf: [[UInt64: Double]]
    private let references: [[Vector]]

    /// `references[i]` are image i's reference captions as word ids (no <start>/<end>).
    public init(references: [[[Int32]]]) {
        precondition(!references.isEmpty, "CiderDReward needs at least one image")
        logImageCount = log(Double(references.count))
        var df = [[UInt64: Int]](repeating: [:], count: Self.orders)
        for image in references {
            var seen = [Set<UInt64>](repeating: [], count: Self.orders)
            for caption in image { for (k, counts) in Self.counts(caption).enumerated() { seen[k].formUnion(counts.keys) } }
            for k in 0..<Self.orders { for gram in seen[k] { df[k][gram, default: 0] += 1 } }
        }
        let logCount = logImageCount
        let idf = df.map { $0.mapValues { logCount - log(max(1.0, Double($0))) } }
        self.idf = idf
        self.references = references.map { image in image.map { Self.vector(Self.counts($0), idf: idf, logImageCount: logCount) } }
    }

    public var imageCount: Int { references.count }

    /// CIDEr-D of `caption` against the references of image `image`.
    public func score(_ caption: [Int32], image: Int) -> Double {
        let candidate = Self.vector(Self.counts(caption), idf: idf, logImageCount: logImageCount)
        let refs = references[image]
        guard !refs.isEmpty else { return 0 }
        var sums = [Double](repeating: 0, count: Self.orders)
        for ref in refs {
            let delta = Double(candidate.length - ref.length)
            let penalty = pow(CiderD.e, -(delta * delta) / (2 * CiderD.sigma * CiderD.sigma))
            for k in 0..<Self.orders {
                var value = 0.0
                for (gram, weight) in candidate.weights[k] {
                    if let vr = ref.weights[k][gram] { value += min(weight, vr) * vr }
                }
                if candidate.norms[k] != 0 && ref.norms[k] != 0 { value /= candidate.norms[k] * ref.norms[k] }
                sums[k] += value * penalty
            }
        }
        return sums.reduce(0, +) / Double(Self.orders) / Double(refs.count) * 10
    }

    /// Counts of the caption's 1…4-grams, each packed as 16 bits per word (id + 1, so no gram is 0).
    static func counts(_ caption: [Int32]) -> [[UInt64: Int]] {
        var result = [[UInt64: Int]](repeating: [:], count: orders)
        for start in caption.indices {
            var key: UInt64 = 0
            for k in 0..<min(orders, caption.count - start) {
                let id = caption[start + k]
                precondition(id >= 0 && id < 65_535, "CiderDReward: word id \(id) is out of range")
                key = key << 16 | UInt64(id + 1)
                result[k][key, default: 0] += 1
            }
        }
        return result
    }

    static func vector(_ counts: [[UInt64: Int]], idf: [[UInt64: Double]], logImageCount: Double) -> Vector {
        var weights = [[UInt64: Double]](repeating: [:], count: orders)
        var norms = [Double](repeating: 0, count: orders)
        var length = 0
        for k in 0..<orders {
            var squares = 0.0
            for (gram, count) in counts[k] {
                // An n-gram no reference of the corpus has: df 0, so idf = log(images) − log(1).
                let value = Double(count) * (idf[k][gram] ?? logImageCount)
                weights[k][gram] = value
                squares += value * value
                if k == 1 { length += count }
            }
            norms[k] = squares.squareRoot()
        }
        return Vector(weights: weights, norms: norms, length: length)
    }
}
