// Integer n-grams: every word and every 2/3/4-gram of the evaluated set gets a dense Int32 id, so the
// metrics compare and count integers in sorted arrays instead of hashing tuples of strings.

/// One n-gram id and how often it occurs in a sentence.
struct NGramCount {
    var id: Int32
    var count: Int32
}

/// A tokenised sentence with its word ids and the sorted, counted n-grams of orders 1...4.
struct EncodedSentence {
    /// Word ids in order; empty for an empty sentence.
    var words: [Int32]
    /// `ngrams[k]` holds the (k+1)-grams, sorted by id, each with its count.
    var ngrams: [[NGramCount]]

    var length: Int { words.count }

    /// Number of (k+1)-grams the sentence contains, counted with repetition.
    func ngramTotal(order k: Int) -> Int { max(0, words.count - k) }
}

/// Interns words and n-grams of orders 2...4 to dense ids (order k+1 n-gram = (order-k id, word id)).
final class NGramInterner {
    static let maxOrder = 4
    private var wordIds: [String: Int32] = [:]
    private var higherOrderIds: [[UInt64: Int32]] = Array(repeating: [:], count: NGramInterner.maxOrder - 1)
    private(set) var idCounts = [Int](repeating: 0, count: NGramInterner.maxOrder)
    private var scratch: [Int32] = []

    func encode<S: Sequence>(_ tokens: S) -> EncodedSentence where S.Element: StringProtocol {
        var words: [Int32] = []
        for token in tokens {
            let key = String(token)
            if let id = wordIds[key] {
                words.append(id)
            } else {
                let id = Int32(wordIds.count)
                wordIds[key] = id
                words.append(id)
            }
        }
        idCounts[0] = wordIds.count
        var ngrams: [[NGramCount]] = []
        ngrams.reserveCapacity(Self.maxOrder)
        var previous = words  // ids of the order-k n-grams starting at each position
        ngrams.append(Self.countSorted(&scratch, previous))
        for k in 1..<Self.maxOrder {
            let count = max(0, words.count - k)
            var current = [Int32](repeating: 0, count: count)
            for i in 0..<count {
                let key = (UInt64(UInt32(bitPattern: previous[i])) << 32) | UInt64(UInt32(bitPattern: words[i + k]))
                if let id = higherOrderIds[k - 1][key] {
                    current[i] = id
                } else {
                    let id = Int32(higherOrderIds[k - 1].count)
                    higherOrderIds[k - 1][key] = id
                    current[i] = id
                }
            }
            idCounts[k] = higherOrderIds[k - 1].count
            ngrams.append(Self.countSorted(&scratch, current))
            previous = current
        }
        return EncodedSentence(words: words, ngrams: ngrams)
    }

    /// Sorted (id, count) pairs of `ids`.
    private static func countSorted(_ scratch: inout [Int32], _ ids: [Int32]) -> [NGramCount] {
        if ids.isEmpty { return [] }
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: ids)
        scratch.sort()
        var result: [NGramCount] = []
        result.reserveCapacity(ids.count)
        var current = scratch[0]
        var run: Int32 = 0
        for id in scratch {
            if id == current {
                run += 1
            } else {
                result.append(NGramCount(id: current, count: run))
                current = id
                run = 1
            }
        }
        result.append(NGramCount(id: current, count: run))
        return result
    }
}

/// For each n-gram of `candidate`, the largest count it has in any of `references` (aligned with
/// `candidate`), written into `maxima`. Both inputs are sorted by id, so this is a merge per reference.
@inline(__always)
func maxReferenceCounts(_ candidate: [NGramCount], _ references: [[NGramCount]], into maxima: inout [Int32]) {
    maxima.removeAll(keepingCapacity: true)
    maxima.append(contentsOf: repeatElement(0, count: candidate.count))
    for reference in references {
        var j = 0
        for i in 0..<candidate.count {
            let id = candidate[i].id
            while j < reference.count && reference[j].id < id { j += 1 }
            if j == reference.count { break }
            if reference[j].id == id, reference[j].count > maxima[i] { maxima[i] = reference[j].count }
        }
    }
}

/// One evaluated image after tokenisation and encoding.
struct EncodedItem {
    var candidate: EncodedSentence
    var references: [EncodedSentence]
}
