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

/// Open-addressing hash map from packed (prefix id, word id) keys to dense ids. Swift's Dictionary
/// hashes with SipHash and is generic; this is the one serial hot loop, so it gets a plain table.
struct PackedKeyTable {
    private static let empty = UInt64.max  // never a real key: both halves are non-negative Int32
    private var keys: [UInt64]
    private var values: [Int32]
    private var shift: UInt64
    private(set) var count = 0

    init(capacity: Int = 1 << 12) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        keys = [UInt64](repeating: Self.empty, count: size)
        values = [Int32](repeating: 0, count: size)
        shift = UInt64(64 - size.trailingZeroBitCount)
    }

    /// The id of `key`, assigning the next dense id if it is new.
    mutating func id(for key: UInt64) -> Int32 {
        if (count + 1) * 2 > keys.count { grow() }
        let mask = keys.count - 1
        var slot = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
        while true {
            let existing = keys[slot]
            if existing == key { return values[slot] }
            if existing == Self.empty {
                keys[slot] = key
                values[slot] = Int32(count)
                count += 1
                return values[slot]
            }
            slot = (slot + 1) & mask
        }
    }

    private mutating func grow() {
        var bigger = PackedKeyTable(capacity: keys.count)
        for (slot, key) in keys.enumerated() where key != Self.empty {
            bigger.insert(key, values[slot])
        }
        bigger.count = count
        self = bigger
    }

    private mutating func insert(_ key: UInt64, _ value: Int32) {
        let mask = keys.count - 1
        var slot = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
        while keys[slot] != Self.empty { slot = (slot + 1) & mask }
        keys[slot] = key
        values[slot] = value
    }
}

/// Gives every n-gram of orders 2...4 a dense id: the order-(k+1) n-gram at position i is the pair
/// (id of the order-k n-gram at i, word id at i+k). Word ids must already be dense (see WordInterning).
final class NGramInterner {
    static let maxOrder = 4
    private var tables = (0..<(NGramInterner.maxOrder - 1)).map { _ in PackedKeyTable() }
    /// Distinct ids per order (index 0: words).
    private(set) var idCounts = [Int](repeating: 0, count: NGramInterner.maxOrder)

    init(wordCount: Int) { idCounts[0] = wordCount }

    /// Ids of the n-grams of each order starting at each position (`result[0]` is `words`).
    func ngramIds(_ words: [Int32]) -> [[Int32]] {
        var result = [words]
        result.reserveCapacity(Self.maxOrder)
        for k in 1..<Self.maxOrder {
            let previous = result[k - 1]
            let count = max(0, words.count - k)
            var current = [Int32](repeating: 0, count: count)
            for i in 0..<count {
                let key = (UInt64(UInt32(bitPattern: previous[i])) << 32) | UInt64(UInt32(bitPattern: words[i + k]))
                current[i] = tables[k - 1].id(for: key)
            }
            idCounts[k] = tables[k - 1].count
            result.append(current)
        }
        return result
    }
}

extension EncodedSentence {
    /// Counts the n-grams of each order into sorted (id, count) pairs; `scratch` is reused between calls.
    init(ngramIds: [[Int32]], scratch: inout [Int32]) {
        words = ngramIds[0]
        ngrams = ngramIds.map { Self.countSorted(&scratch, $0) }
    }

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

/// Words to dense ids, built in parallel: each chunk of sentences interns into its own vocabulary,
/// the (small) vocabularies are merged serially, and local ids are remapped to global ones.
enum WordInterning {
    struct Chunk {
        var vocabulary: [String] = []
        var lookup: [String: Int32] = [:]
        /// Sentences as local word ids.
        var sentences: [[Int32]] = []

        mutating func add(_ tokens: [String]) {
            var ids: [Int32] = []
            ids.reserveCapacity(tokens.count)
            for token in tokens {
                if let id = lookup[token] {
                    ids.append(id)
                } else {
                    let id = Int32(vocabulary.count)
                    lookup[token] = id
                    vocabulary.append(token)
                    ids.append(id)
                }
            }
            sentences.append(ids)
        }
    }

    /// Global ids for each chunk's local ids, and the global vocabulary size.
    static func merge(_ chunks: [Chunk]) -> (remaps: [[Int32]], wordCount: Int) {
        var global: [String: Int32] = [:]
        var remaps: [[Int32]] = []
        for chunk in chunks {
            remaps.append(chunk.vocabulary.map { word in
                if let id = global[word] { return id }
                let id = Int32(global.count)
                global[word] = id
                return id
            })
        }
        return (remaps, global.count)
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
