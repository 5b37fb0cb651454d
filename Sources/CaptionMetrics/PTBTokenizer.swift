import Foundation

// Native re-implementation of the tokenisation pycocoevalcap applies before scoring:
// Stanford CoreNLP 3.4.1 `edu.stanford.nlp.process.PTBTokenizer -preserveLines -lowerCase`, then
// removal of pycocoevalcap's fixed punctuation list. Only the rules a caption can plausibly hit are
// implemented; the cases known to differ from the Java tokenizer are listed in docs/metrics.md.

/// Tokenises captions exactly like pycocoevalcap's `PTBTokenizer` (for the cases in docs/metrics.md).
public enum PTBTokenizer {
    /// pycocoevalcap's `PUNCTUATIONS`, after lowercasing. `-LRB-` and friends are in its list in upper
    /// case, but the Java tokenizer has already lowercased them, so brackets survive as `-lrb-` etc.
    static let removedPunctuation: Set<String> = [
        "''", "'", "``", "`", ".", "?", "!", ",", ":", "-", "--", "...", ";",
    ]

    /// The caption as pycocoevalcap scores it: lowercased tokens joined by single spaces.
    public static func tokenize(_ caption: String) -> String {
        tokens(caption).joined(separator: " ")
    }

    /// The caption's tokens after punctuation removal (empty for an all-punctuation caption).
    ///
    /// pycocoevalcap tokenises all captions in one file, one per line, and two CoreNLP rules look past
    /// the end of a line: a single-letter abbreviation ("b.") loses its period when the next line starts
    /// with a word such as "A" or "The", and "no."/"fig." keep theirs when it starts with a digit. Pass
    /// the caption that follows in that file as `followedBy` (nil at the end of the file) to reproduce this.
    public static func tokens(_ caption: String, followedBy next: String? = nil) -> [String] {
        if let simple = plainASCIITokens(caption) { return simple }
        var lexer = PTBLexer(Array(caption.unicodeScalars), following: next)
        return lexer.run().filter { token in
            // Only tokens starting with ASCII punctuation can be on the removal list.
            guard let first = token.utf8.first, first < 0x80, !isASCIIAlphanumeric(first) else { return true }
            return !removedPunctuation.contains(token)
        }
    }

    /// Tokenises captions as pycocoevalcap does when they are written to one file in this order.
    public static func tokens(ofCaptionsInFileOrder captions: [String]) -> [[String]] {
        captions.indices.map { tokens(captions[$0], followedBy: $0 + 1 < captions.count ? captions[$0 + 1] : nil) }
    }

    /// Fast path for the common caption made only of ASCII letters, digits and blanks, optionally ending
    /// in one sentence period: no PTB rule applies except lowercasing (assimilations like "gonna" and a
    /// final period after an abbreviation or single letter go to the full lexer). nil: use the lexer.
    static func plainASCIITokens(_ caption: String) -> [String]? {
        var caption = caption
        return caption.withUTF8 { bytes -> [String]? in
            var end = bytes.count
            while end > 0 && (bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09) { end -= 1 }
            var periodAfterLastWord = false
            if end > 0 && bytes[end - 1] == 0x2E {
                end -= 1
                periodAfterLastWord = end > 0 && bytes[end - 1] != 0x20 && bytes[end - 1] != 0x09
                if end > 0 && !isASCIIAlphanumeric(bytes[end - 1]) && bytes[end - 1] != 0x20 && bytes[end - 1] != 0x09 {
                    return nil  // "hi!." and friends: leave punctuation clusters to the lexer
                }
            }
            var tokens: [String] = []
            var i = 0
            while i < end {
                let b = bytes[i]
                if b == 0x20 || b == 0x09 { i += 1; continue }
                if isDroppedSeparator(bytes, i, end) { i += 1; continue }
                let start = i
                while i < end, isASCIIAlphanumeric(bytes[i]) { i += 1 }
                if i == start { return nil }
                if i < end && bytes[i] != 0x20 && bytes[i] != 0x09 && !isDroppedSeparator(bytes, i, end) { return nil }
                let word = String(unsafeUninitializedCapacity: i - start) { buffer in
                    for j in start..<i {
                        let c = bytes[j]
                        buffer[j - start] = c >= 0x41 && c <= 0x5A ? c + 32 : c
                    }
                    return i - start
                }
                if (i - start == 5 || i - start == 6) && assimilations[word] != nil { return nil }
                tokens.append(word)
            }
            if periodAfterLastWord, let last = tokens.last,
               last.utf8.count == 1 || abbreviationsKeepingPeriod.contains(last) || abbreviationsBeforeNumbers.contains(last) {
                return nil
            }
            return tokens
        }
    }
}

/// A lone "," ";" ":" "!" or "?" that CoreNLP makes its own token and pycocoevalcap then drops: not
/// between digits ("1,000", "3:30"), not in a run ("?!" is kept as a token), not glued to a following word.
@inline(__always) private func isDroppedSeparator(_ bytes: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int) -> Bool {
    let b = bytes[i]
    guard b == 0x2C || b == 0x3B || b == 0x3A || b == 0x21 || b == 0x3F else { return false }
    let next: UInt8 = i + 1 < end ? bytes[i + 1] : 0x20
    guard next == 0x20 || next == 0x09 else { return false }
    if i > 0 && (bytes[i - 1] == 0x21 || bytes[i - 1] == 0x3F) { return false }
    return true
}

@inline(__always) private func isASCIIAlphanumeric(_ b: UInt8) -> Bool {
    (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
}
