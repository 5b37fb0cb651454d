/// pycocoevalcap's `Rouge`: ROUGE-L F-measure with beta = 1.2, where precision and recall are each the
/// best over the references (not the F of the best reference), then averaged over images.
enum RougeL {
    static let beta = 1.2
    /// pycocoevalcap splits on " ", so an empty sentence is one empty token; it matches only itself.
    static let emptyToken: Int32 = -1

    static func score(_ item: EncodedItem, scratch: inout [Int32]) -> Double {
        let candidate = item.candidate.words.isEmpty ? [emptyToken] : item.candidate.words
        var bestPrecision = 0.0, bestRecall = 0.0
        for reference in item.references {
            let words = reference.words.isEmpty ? [emptyToken] : reference.words
            let lcs = Double(longestCommonSubsequence(words, candidate, row: &scratch))
            bestPrecision = max(bestPrecision, lcs / Double(candidate.count))
            bestRecall = max(bestRecall, lcs / Double(words.count))
        }
        guard bestPrecision != 0 && bestRecall != 0 else { return 0 }
        return ((1 + beta * beta) * bestPrecision * bestRecall) / (bestRecall + beta * beta * bestPrecision)
    }

    /// Length of the longest common subsequence, with one reusable DP row.
    static func longestCommonSubsequence(_ a: [Int32], _ b: [Int32], row: inout [Int32]) -> Int {
        let (long, short) = a.count >= b.count ? (a, b) : (b, a)
        row.removeAll(keepingCapacity: true)
        row.append(contentsOf: repeatElement(0, count: short.count + 1))
        for x in long {
            var diagonal: Int32 = 0  // row[j-1] of the previous line
            for j in 1..<(short.count + 1) {  // short is never empty: empty sentences are [emptyToken]
                let above = row[j]
                if x == short[j - 1] {
                    row[j] = diagonal + 1
                } else if row[j - 1] > above {
                    row[j] = row[j - 1]
                }
                diagonal = above
            }
        }
        return Int(row[short.count])
    }
}
