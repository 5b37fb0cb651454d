import AtomicFiles
import Foundation

/// Word ↔ id mapping. Ids 0–3 are the `SpecialToken`s `<pad>`, `<start>`, `<end>`, `<unk>`; then the
/// words of the training captions seen at least `minCount` times, most frequent first, ties alphabetical.
public struct Vocabulary: Sendable, Equatable {
    /// Token of each id, in id order.
    public let tokens: [String]
    private let idOfWord: [String: Int32]

    public var count: Int { tokens.count }

    /// Builds the vocabulary from training captions only (so validation words stay unknown).
    public init(trainingCaptions: [String], minCount: Int = 5) {
        var counts: [String: Int] = [:]
        for caption in trainingCaptions {
            for word in tokenize(caption) { counts[word, default: 0] += 1 }
        }
        let kept = counts.filter { $0.value >= max(minCount, 1) }
            .sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .map(\.key)
        self.init(validatedTokens: SpecialToken.names + kept)
    }

    /// Builds the vocabulary from the training split of a dataset.
    public init(trainingSplitOf dataset: CaptionDataset, minCount: Int = 5) throws {
        let training = dataset.split(.train)
        guard !training.isEmpty else {
            throw DatasetError(file: dataset.name, problem: "the dataset has no training images to build a vocabulary from",
                               fix: "add split lists (splits/train.txt, val.txt, test.txt) or a split column")
        }
        self.init(trainingCaptions: training.flatMap(\.captions), minCount: minCount)
    }

    /// Rebuilds a vocabulary from its tokens in id order (as stored in a model file or vocab.txt).
    public init(tokens: [String]) throws {
        if let problem = Self.problem(in: tokens) {
            throw DatasetError(file: nil, problem: "token \(problem.index) (\"\(problem.token)\") \(problem.what)", fix: problem.fix)
        }
        self.init(validatedTokens: tokens)
    }

    private init(validatedTokens tokens: [String]) {
        self.tokens = tokens
        var idOfWord: [String: Int32] = [:]
        for (id, token) in tokens.enumerated() { idOfWord[token] = Int32(id) }
        // A caption word spelled like a control token must not steer decoding: it is unknown.
        for special in SpecialToken.names.prefix(3) { idOfWord[special] = SpecialToken.unknown }
        self.idOfWord = idOfWord
    }

    private struct Problem {
        var index: Int
        var token: String
        var what: String
        var fix: String
    }

    /// The first thing wrong with a token list: specials first, then empty, blank-containing or repeated tokens.
    private static func problem(in tokens: [String]) -> Problem? {
        for (id, special) in SpecialToken.names.enumerated() {
            guard id < tokens.count else {
                return Problem(index: id, token: "", what: "is missing; the vocabulary must start with <pad>, <start>, <end>, <unk>",
                               fix: "put the four special tokens first, in that order")
            }
            if tokens[id] != special {
                return Problem(index: id, token: tokens[id], what: "should be \(special)",
                               fix: "put <pad>, <start>, <end>, <unk> first, in that order")
            }
        }
        var seen: Set<String> = []
        for (id, token) in tokens.enumerated() {
            if token.isEmpty {
                return Problem(index: id, token: token, what: "is empty", fix: "remove the empty token")
            }
            if token.contains(where: { $0.isWhitespace }) {
                return Problem(index: id, token: token, what: "contains white space", fix: "write one word per token")
            }
            if !seen.insert(token).inserted {
                return Problem(index: id, token: token, what: "appears twice", fix: "keep each token once")
            }
        }
        return nil
    }

    public func id(of word: String) -> Int32 {
        idOfWord[word] ?? SpecialToken.unknown
    }

    /// `<start> w₁ … wₙ <end>` with at most `maxWords` words; unknown words become `<unk>`.
    public func encode(_ words: [String], maxWords: Int = 30) -> [Int32] {
        var ids: [Int32] = [SpecialToken.start]
        ids.reserveCapacity(min(words.count, maxWords) + 2)
        for word in words.prefix(max(maxWords, 0)) { ids.append(id(of: word)) }
        ids.append(SpecialToken.end)
        return ids
    }

    /// Words up to the first `<end>`, skipping `<start>` and `<pad>`; ids out of range read as `<unk>`.
    public func decode(_ ids: [Int32]) -> [String] {
        var words: [String] = []
        for id in ids {
            if id == SpecialToken.end { break }
            if id == SpecialToken.start || id == SpecialToken.pad { continue }
            words.append(id >= 0 && Int(id) < tokens.count ? tokens[Int(id)] : SpecialToken.names[Int(SpecialToken.unknown)])
        }
        return words
    }

    // MARK: vocab.txt — one token per line, the line's position (from 0) is the id.

    public static func read(from url: URL) throws -> Vocabulary {
        let file = try TextFile(url: url)
        let tokens = try file.lines().map(\.text)
        if let problem = problem(in: tokens) {
            throw file.error(line: problem.index + 1, "token \"\(problem.token)\" (id \(problem.index)) \(problem.what)", fix: problem.fix)
        }
        return Vocabulary(validatedTokens: tokens)
    }

    public func write(to url: URL) throws {
        try AtomicFile.write(tokens.joined(separator: "\n") + "\n", to: url)
    }
}
