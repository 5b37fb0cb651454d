import Foundation

/// CIDEr-D exactly as pycocoevalcap's `Cider` class computes it (the wheel names it "CIDEr", but with
/// clipping of candidate weights by reference weights, the Gaussian length penalty sigma = 6 and the
/// ×10 factor it is the CIDEr-D variant of Vedantam et al.). Details kept from the wheel:
/// - document frequencies come from the references of the evaluated set itself, and the "reference
///   length" term is log(number of images);
/// - the length used by the penalty is the number of *bigrams* (pycocoevalcap counts `n == 1`, i.e.
///   2-grams, as the length), so a one-word and an empty caption both have length 0;
/// - n-gram orders are averaged, then divided by the number of references, then multiplied by 10.
enum CiderD {
    static let sigma = 6.0
    static let e = 2.718281828459045  // np.e; the penalty is np.e ** x, i.e. C pow, not exp

    /// Per-order document frequencies over the references of all images, then log'd into idf weights.
    struct Weights {
        /// idf[k][id] = log(number of images) - log(max(1, df))
        var idf: [[Double]]
        var logImageCount: Double

        init(items: [EncodedItem], idCounts: [Int]) {
            logImageCount = log(Double(items.count))
            var df = idCounts.map { [Int32](repeating: 0, count: $0) }
            var seen = idCounts.map { [Int32](repeating: -1, count: $0) }  // last image that counted the id
            for (index, item) in items.enumerated() {
                let marker = Int32(index)
                for reference in item.references {
                    for k in 0..<NGramInterner.maxOrder {
                        for gram in reference.ngrams[k] where seen[k][Int(gram.id)] != marker {
                            seen[k][Int(gram.id)] = marker
                            df[k][Int(gram.id)] += 1
                        }
                    }
                }
            }
            let logCount = logImageCount
            idf = df.map { counts in counts.map { logCount - log(max(1.0, Double($0))) } }
        }
    }

    /// TF-IDF vector of one sentence: per order, a weight aligned with `sentence.ngrams[k]`, its norm,
    /// and the bigram count pycocoevalcap uses as length.
    struct Vector {
        var weights: [[Double]]
        var norms: [Double]
        var length: Int

        init(_ sentence: EncodedSentence, _ w: Weights) {
            weights = []
            norms = []
            length = 0
            for k in 0..<NGramInterner.maxOrder {
                var values: [Double] = []
                values.reserveCapacity(sentence.ngrams[k].count)
                var squares = 0.0
                for gram in sentence.ngrams[k] {
                    let value = Double(gram.count) * w.idf[k][Int(gram.id)]
                    values.append(value)
                    squares += value * value
                    if k == 1 { length += Int(gram.count) }
                }
                weights.append(values)
                norms.append(squares.squareRoot())
            }
        }
    }

    static func score(_ item: EncodedItem, _ w: Weights) -> Double {
        let candidate = Vector(item.candidate, w)
        var sums = [Double](repeating: 0, count: NGramInterner.maxOrder)
        for reference in item.references {
            let ref = Vector(reference, w)
            let delta = Double(candidate.length - ref.length)
            let penalty = pow(e, -(delta * delta) / (2 * sigma * sigma))
            for k in 0..<NGramInterner.maxOrder {
                let c = item.candidate.ngrams[k], r = reference.ngrams[k]
                var value = 0.0
                var j = 0
                for i in 0..<c.count {
                    while j < r.count && r[j].id < c[i].id { j += 1 }
                    if j < r.count && r[j].id == c[i].id {
                        let vr = ref.weights[k][j]
                        value += min(candidate.weights[k][i], vr) * vr  // clipped ("vrama91: added clipping")
                    }
                }
                if candidate.norms[k] != 0 && ref.norms[k] != 0 {
                    value /= candidate.norms[k] * ref.norms[k]
                }
                sums[k] += value * penalty
            }
        }
        var mean = 0.0
        for value in sums { mean += value }
        mean /= Double(NGramInterner.maxOrder)
        return mean / Double(item.references.count) * 10
    }
}
