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

/// Abbreviations whose final period CoreNLP 3.4.1 keeps in every context (probed against the jar).
private let abbreviationsKeepingPeriod: Set<String> = [
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    "mon", "tue", "tues", "wed", "thu", "thurs", "fri",
    "ala", "ariz", "az", "ark", "calif", "colo", "conn", "ct", "dak", "del", "fla", "ga", "ill", "ind",
    "kan", "kans", "ky", "la", "mass", "md", "mich", "minn", "miss", "mo", "mont", "neb", "nev", "okla",
    "ore", "pa", "penn", "tenn", "tex", "va", "vt", "wash", "wis", "wisc", "wyo",
    "inc", "co", "cos", "corp", "pty", "ltd", "plc", "rt", "bancorp", "bhd", "assn", "univ", "intl", "sys",
    "tel", "est", "ext", "sq", "jr", "sr", "bros", "esq", "etc", "al", "seq", "bldg",
    "mr", "mrs", "ms", "dr", "drs", "prof", "profs", "sen", "sens", "rep", "reps", "atty", "attys", "lt",
    "col", "gen", "messrs", "gov", "govs", "adm", "rev", "maj", "sgt", "cpl", "pvt", "capt", "st", "ste",
    "ave", "pres", "lieut", "hon", "brig", "cmdr", "comdr", "pfc", "spc", "supt", "supts", "det", "mt",
    "ft", "adj", "adv", "asst", "assoc", "ens", "insp", "mlle", "mme", "msgr", "sfc", "invt", "elec",
    "natl", "mfg", "mtg", "dept", "blvd", "rd", "wm", "jos", "cie", "cf", "treas", "ph", "vs",
    "ph.d", "ed.d",
]

/// Abbreviations that keep their period only when a number follows ("No. 5", "fig. 3").
private let abbreviationsBeforeNumbers: Set<String> = [
    "ca", "fig", "figs", "prop", "no", "nos", "art", "pp", "op",
]

/// Capitalised words after which CoreNLP reads a single-letter abbreviation as the end of a sentence.
private let sentenceStartWords: Set<String> = [
    "A", "About", "According", "Additionally", "After", "All", "Also", "Although", "An", "Another", "As", "At",
    "Before", "Both", "But", "By", "Did", "During", "Each", "Earlier", "Following", "For", "From", "He", "Her",
    "Here", "His", "How", "However", "If", "In", "It", "Its", "Last", "Later", "Many", "More", "Most", "Now",
    "On", "Once", "One", "Other", "Our", "She", "Since", "So", "Some", "Such", "That", "The", "Their", "Then",
    "There", "These", "They", "This", "Two", "Under", "Upon", "We", "When", "While", "What", "Who", "Why",
    "Yet", "You",
]

/// Words CoreNLP splits in two although they contain no apostrophe.
private let assimilations: [String: (String, String)] = [
    "cannot": ("can", "not"), "gonna": ("gon", "na"), "gotta": ("got", "ta"),
    "wanna": ("wan", "na"), "lemme": ("lem", "me"), "gimme": ("gim", "me"),
]

/// Clitics split off the end of a word ("dog's" → "dog 's", "he'd've" → "he 'd 've").
private let cliticSuffixes = ["'s", "'m", "'d", "'re", "'ve", "'ll"]

/// Apostrophe-initial words kept whole ("'em", "'cause").
private let apostropheWords: Set<String> = ["'em", "'cause", "'n'", "'til", "'till", "'twixt"]

private struct PTBLexer {
    let text: [Unicode.Scalar]
    /// The next caption in pycocoevalcap's file (after a "\n"), for the rules that look past the line.
    let following: String?
    var position = 0
    var output: [String] = []

    init(_ text: [Unicode.Scalar], following: String?) {
        self.text = text
        self.following = following
    }

    func scalar(at index: Int) -> Unicode.Scalar? { index < text.count ? text[index] : nil }

    /// Like `scalar(at:)`, but continuing into the following line.
    func lookahead(at index: Int) -> Unicode.Scalar? {
        if index < text.count { return text[index] }
        guard let following else { return nil }
        let offset = index - text.count
        if offset == 0 { return "\n" }
        let scalars = following.unicodeScalars  // rare: only at the very end of a caption
        guard let at = scalars.index(scalars.startIndex, offsetBy: offset - 1, limitedBy: scalars.endIndex),
              at < scalars.endIndex else { return nil }
        return scalars[at]
    }

    mutating func run() -> [String] {
        while position < text.count {
            let c = text[position]
            if isSpace(c) { position += 1; continue }
            if c.value > 0xFFFF { position += 1; continue }  // Java sees surrogates: "untokenizable", deleted
            if isWordCharacter(c) { lexWord(); continue }
            lexSymbol(c)
        }
        return output
    }

    // MARK: symbols and punctuation

    mutating func lexSymbol(_ c: Unicode.Scalar) {
        switch c {
        case "\"", "\u{201C}", "\u{201D}", "\u{201E}", "\u{201F}", "\u{AB}", "\u{BB}":
            position += 1  // double quotes become `` or '', both removed
        case "'", "\u{2019}", "\u{2018}", "`", "\u{B4}", "\u{201B}":
            lexApostrophe()
        case "(": emit("-lrb-")
        case ")": emit("-rrb-")
        case "[": emit("-lsb-")
        case "]": emit("-rsb-")
        case "{": emit("-lcb-")
        case "}": emit("-rcb-")
        case ".":
            position += 1
            while scalar(at: position) == "." { position += 1 }  // "." / "..": periods; "...+": ellipsis
        case "\u{2026}", "\u{85}":
            position += 1
        case "-", "\u{2010}", "\u{2011}", "\u{2012}", "\u{2013}", "\u{2014}", "\u{2015}":
            position += 1
            while let next = scalar(at: position), isDash(next) { position += 1 }  // "-", "--": removed
        case ",", ";", ":":
            position += 1
        case "!", "?":
            let start = position
            while let next = scalar(at: position), next == "!" || next == "?" { position += 1 }
            if position - start > 1 { output.append(makeString(lowercasedScalars(text[start..<position]))) }
        case "$", "\u{20AC}": emit("$")  // PTB3 escaping writes the euro as "$"
        case "\u{A3}": emit("#")  // and the pound sign as "#"
        case "\u{A2}": emit("cents")
        case "\u{BC}": emit("1/4")  // CoreNLP normalises the common vulgar fractions
        case "\u{BD}": emit("1/2")
        case "\u{BE}": emit("3/4")
        case "\u{2153}": emit("1/3")
        case "\u{2154}": emit("2/3")
        case "#":
            if let next = scalar(at: position + 1), isLetter(next) {
                let start = position
                position += 1
                while let n = scalar(at: position), isLetter(n) || isDigit(n) || n == "_" { position += 1 }
                output.append(makeString(lowercasedScalars(text[start..<position])))
            } else {
                lexRun(of: "#")
            }
        case "@":
            if let next = scalar(at: position + 1), isASCIILetter(next) || next == "_" {
                let start = position
                position += 1
                while let n = scalar(at: position), isASCIILetter(n) || isDigit(n) || n == "_" { position += 1 }
                output.append(makeString(lowercasedScalars(text[start..<position])))
            } else {
                lexRun(of: "@")
            }
        case "*": lexRun(of: "*")
        case "<":
            if let close = sgmlTagEnd() {
                output.append(makeString(lowercasedScalars(text[position...close])))
                position = close + 1
            } else {
                emit("<")
            }
        default:
            emit(String(c))
        }
    }

    mutating func emit(_ token: String) {
        output.append(token)
        position += 1
    }

    mutating func lexRun(of symbol: Unicode.Scalar) {
        let start = position
        while scalar(at: position) == symbol { position += 1 }
        output.append(makeString(lowercasedScalars(text[start..<position])))
    }

    /// `<tag>` made only of letters, digits and "/" is kept as one SGML token, as CoreNLP does.
    func sgmlTagEnd() -> Int? {
        var index = position + 1
        guard let first = scalar(at: index), isLetter(first) || first == "/" else { return nil }
        while let c = scalar(at: index), c != ">" {
            guard isLetter(c) || isDigit(c) || c == "/" else { return nil }
            index += 1
        }
        return index < text.count ? index : nil
    }

    /// A token starting with an apostrophe or backquote: a clitic, a kept word, or a quote.
    mutating func lexApostrophe() {
        var end = position + 1
        while let c = scalar(at: end), isLetter(c) || isDigit(c) { end += 1 }
        let body = makeString(lowercasedScalars(text[(position + 1)..<end]))
        let boundary = scalar(at: end).map { !isLetter($0) } ?? true
        if boundary && !body.isEmpty {
            if body == "tis" || body == "twas" {  // 'tis → 't is
                output.append("'t")
                output.append(body == "tis" ? "is" : "was")
                position = end
                return
            }
            if cliticSuffixes.contains("'" + body) || body == "em" {
                output.append("'" + body)
                position = end
                return
            }
            if apostropheWords.contains("'" + body) {
                output.append("'" + body)
                position = end
                return
            }
            if body == "n", isApostrophe(scalar(at: end)) {  // 'n'
                output.append("'n'")
                position = end + 1
                return
            }
            if body.count == 3, body.hasSuffix("s"),
               body.unicodeScalars.prefix(2).allSatisfy(isDigit) {  // '90s keeps its own apostrophe
                output.append(makeString(lowercasedScalars(text[position..<end])))
                position = end
                return
            }
        }
        // A quote mark (one or two characters): removed by pycocoevalcap whatever its direction.
        position += 1
        if let next = scalar(at: position), isApostrophe(next) || next == "`" { position += 1 }
    }

    // MARK: words

    mutating func lexWord() {
        let start = position
        var numericWithSeparator = isDigit(text[position])
        var sawSeparator = false
        position += 1
        while position < text.count {
            let c = text[position]
            if isWordCharacter(c) {
                if numericWithSeparator && sawSeparator && isLetter(c) { break }  // "3.5kg" → "3.5 kg"
                if !isDigit(c) { numericWithSeparator = false }
                position += 1
                continue
            }
            guard let next = scalar(at: position + 1), isWordCharacter(next) else { break }
            let previous = text[position - 1]
            var joins = false
            switch c {
            case "-", "\u{2010}", "\u{2011}", "\u{2012}", ".", "/", "_":
                joins = true
            case ",", ":":
                joins = isDigit(previous) && isDigit(next)
            case "'", "\u{2019}":
                joins = apostropheJoins(wordStart: start, at: position)
            case "&":  // CoreNLP's THINGA is case-sensitive: "AT&T" stays whole, "At&T" splits
                joins = isASCIIUppercase(previous) && isASCIIUppercase(next)
            case "@":
                joins = true
            default:
                joins = false
            }
            // "no.3", "fig.2": an abbreviation used before numbers keeps the period, the number splits off.
            if c == ".", isDigit(next), position - start <= 5,
               abbreviationsBeforeNumbers.contains(makeString(lowercasedScalars(text[start..<position]))) {
                joins = false
            }
            guard joins else { break }
            if c == "-" || c == "/" || c == "'" || c == "\u{2019}" || c == "&" || c == "@" {
                numericWithSeparator = false
            } else if c == "." || c == "," || c == ":" {
                sawSeparator = true
            }
            position += 2
        }
        let length = position - start
        if scalar(at: position) != ".", length != 5, length != 6,
           !text[start..<position].contains(where: { $0 == "'" || $0 == "\u{2019}" }) {
            // Common case: no clitic, no assimilation, no period to decide; lowercase straight into a String.
            output.append(makeLowercasedString(text[start..<position]))
            return
        }
        var word = lowercasedScalars(text[start..<position])
        if scalar(at: position) == ".", keepsPeriod(word) {
            word.append(".")
            position += 1
        }
        appendWordTokens(word[...])
    }

    /// Whether the apostrophe at `index`, inside a word that began at `wordStart`, stays in the word.
    /// CoreNLP 3.4.1 keeps it for clitics at the word's end ("dog's", "don't", "we'd've"), after a single
    /// letter ("o'clock", "d'arc", "c'mon"), between vowels in an all-letter word ("hawai'i", "ma'am"),
    /// and in "'n'"; anywhere else the apostrophe is a quote and ends the word ("cat'sman" → cat sman).
    func apostropheJoins(wordStart: Int, at index: Int) -> Bool {
        guard let next = scalar(at: index + 1), isLetter(next) else { return false }
        // Clitic running to the end of the word: 's 'm 'd 're 've 'll, or the t of n't.
        var end = index + 1
        while let c = scalar(at: end), isLetter(c) { end += 1 }
        let boundary = scalar(at: end).map { !isWordCharacter($0) } ?? true
        let clitic = lowercasedScalars(text[(index + 1)..<end])
        if boundary || isApostrophe(scalar(at: end)) {
            switch String(String.UnicodeScalarView(clitic)) {
            case "s", "m", "d", "re", "ve", "ll": return true
            case "t": if index > wordStart, lowercasedScalars(text[(index - 1)...(index - 1)]) == ["n"] { return true }
            default: break
            }
        }
        if index - wordStart == 1 && isLetter(text[wordStart]) { return true }
        if clitic.first == "n" && isApostrophe(scalar(at: index + 2)) { return true }  // first quote of 'n'
        if index >= 2 && (text[index - 1] == "n" || text[index - 1] == "N") && isApostrophe(text[index - 2]) {
            return true  // second quote of 'n'
        }
        if index > wordStart && text[wordStart..<index].allSatisfy(isLetter) {
            let before = lowercasedScalars(text[(index - 1)...(index - 1)]).first!
            let vowelBefore = "aeiouy".unicodeScalars.contains(before)
            let after = text[index + 1]
            let vowelAfter = "aeiou".unicodeScalars.contains(after) || isASCIIUppercase(after)
            if vowelBefore && vowelAfter { return true }
        }
        return false
    }

    /// Whether the period after `word` (lowercased) belongs to it (abbreviation or acronym) rather than
    /// ending the sentence.
    func keepsPeriod(_ word: [Unicode.Scalar]) -> Bool {
        if word.count == 1 && isASCIILetter(word[0]) { return !sentenceStartFollows(position + 1) }
        if isAcronym(word) { return true }
        guard word.count <= 8 else { return false }  // longest listed abbreviation is "bancorp"
        let key = makeString(word[...])
        if abbreviationsKeepingPeriod.contains(key) { return true }
        if abbreviationsBeforeNumbers.contains(key) {  // CoreNLP: {ABBREV3}/{SPACENL}?{DIGIT}
            var index = position + 1
            if let c = lookahead(at: index), isSpace(c) { index += 1 }
            if let c = lookahead(at: index) { return isDigit(c) }
        }
        return false
    }

    /// CoreNLP treats "b." as the letter b plus a sentence-final period when spaces (or line ends) and
    /// then one of these capitalised words, or an SGML tag, follow.
    func sentenceStartFollows(_ start: Int) -> Bool {
        var index = start
        guard let first = lookahead(at: index), isSpace(first) else { return false }
        while let c = lookahead(at: index), isSpace(c) { index += 1 }
        if lookahead(at: index) == "<" { return true }
        var word: [Unicode.Scalar] = []
        while let c = lookahead(at: index), isLetter(c), word.count < 16 { word.append(c); index += 1 }
        if lookahead(at: index) == ".", let last = word.last, last == "r" || last == "s",
           ["Mr", "Mrs", "Ms"].contains(makeString(word)) {
            index += 1
        } else if !sentenceStartWords.contains(makeString(word)) {
            return false
        }
        guard let after = lookahead(at: index) else { return false }
        return isSpace(after) || after == "?" || after == "!"
    }

    /// Single letters joined by periods: "a", "u.s", "e.g", "a.m".
    func isAcronym(_ word: [Unicode.Scalar]) -> Bool {
        guard word.count % 2 == 1 else { return false }
        for (index, c) in word.enumerated() {
            if index % 2 == 0 { guard isASCIILetter(c) else { return false } } else { guard c == "." else { return false } }
        }
        return true
    }

    /// Splits clitics and assimilations off a lexed, lowercased word and appends the pieces.
    mutating func appendWordTokens(_ word: ArraySlice<Unicode.Scalar>) {
        if word.isEmpty { return }
        if word.count == 5 || word.count == 6, let pair = assimilations[makeString(word)] {
            output.append(pair.0)
            output.append(pair.1)
            return
        }
        // Clitic detection sees curly apostrophes as straight ones; other words keep them ("o’clock").
        let hasApostrophe = word.contains { $0 == "'" || $0 == "\u{2019}" }
        guard hasApostrophe else {
            output.append(makeString(word))
            return
        }
        var normalized = Array(word)
        for i in normalized.indices where normalized[i] == "\u{2019}" { normalized[i] = "'" }
        if hasApostrophe {
            // "rock'n'roll" → rock 'n' roll
            if normalized.count > 4 {
                for i in 1..<(normalized.count - 3) where normalized[i] == "'" && normalized[i + 1] == "n" && normalized[i + 2] == "'" {
                    appendWordTokens(normalized[..<i])
                    output.append("'n'")
                    appendWordTokens(normalized[(i + 3)...])
                    return
                }
            }
            // y'all, y'know, j'adore → y' all, j' adore
            if normalized.count > 2 && (normalized[0] == "y" || normalized[0] == "j") && normalized[1] == "'" {
                output.append(normalized[0] == "y" ? "y'" : "j'")
                appendWordTokens(normalized[2...])
                return
            }
        }
        var end = normalized.count
        var suffixes: [String] = []
        var peeled = hasApostrophe  // every clitic, n't included, has an apostrophe
        while peeled {
            peeled = false
            for suffix in cliticSuffixScalars where end > suffix.count && normalized[(end - suffix.count)..<end].elementsEqual(suffix) {
                suffixes.append(makeString(suffix[...]))
                end -= suffix.count
                peeled = true
                break
            }
            if !peeled, end > 3, normalized[(end - 3)..<end].elementsEqual(notSuffix) {
                suffixes.append("n't")
                end -= 3
                peeled = true
            }
        }
        if suffixes.isEmpty {
            output.append(makeString(word))
        } else {
            output.append(makeString(normalized[..<end]))
            output.append(contentsOf: suffixes.reversed())
        }
    }
}

private let cliticSuffixScalars: [[Unicode.Scalar]] = cliticSuffixes.map { Array($0.unicodeScalars) }
private let notSuffix: [Unicode.Scalar] = Array("n't".unicodeScalars)

/// Lowercases like Java's String.toLowerCase (ASCII fast path; other scalars through Swift's Unicode
/// lowercase mapping, which may expand one scalar into several, as Java does).
private func lowercasedScalars(_ scalars: ArraySlice<Unicode.Scalar>) -> [Unicode.Scalar] {
    var result: [Unicode.Scalar] = []
    result.reserveCapacity(scalars.count)
    for c in scalars {
        if c.value < 0x80 {
            result.append(c.value >= 0x41 && c.value <= 0x5A ? Unicode.Scalar(c.value + 32)! : c)
        } else if c.properties.changesWhenLowercased {
            result.append(contentsOf: c.properties.lowercaseMapping.unicodeScalars)
        } else {
            result.append(c)
        }
    }
    return result
}

/// `makeString(lowercasedScalars(scalars))` without the intermediate array when the text is ASCII.
private func makeLowercasedString(_ scalars: ArraySlice<Unicode.Scalar>) -> String {
    guard scalars.allSatisfy({ $0.value < 0x80 }) else { return makeString(lowercasedScalars(scalars)) }
    return String(unsafeUninitializedCapacity: scalars.count) { buffer in
        var index = 0
        for c in scalars {
            let v = UInt8(c.value)
            buffer[index] = v >= 0x41 && v <= 0x5A ? v + 32 : v
            index += 1
        }
        return index
    }
}

/// A String from scalars, through UTF-8 (much cheaper than appending to a UnicodeScalarView).
private func makeString<C: Collection>(_ scalars: C) -> String where C.Element == Unicode.Scalar {
    var length = 0
    for c in scalars { length += UTF8.width(c) }
    return String(unsafeUninitializedCapacity: length) { buffer in
        var index = 0
        for c in scalars { UTF8.encode(c) { buffer[index] = $0; index += 1 } }
        return index
    }
}

// MARK: character classes

@inline(__always) private func isSpace(_ c: Unicode.Scalar) -> Bool {
    switch c.value {
    case 0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0xA0: return true
    case 0..<0x80: return false
    default: return c.properties.isWhitespace
    }
}

@inline(__always) private func isASCIILetter(_ c: Unicode.Scalar) -> Bool {
    (c.value >= 0x41 && c.value <= 0x5A) || (c.value >= 0x61 && c.value <= 0x7A)
}

@inline(__always) private func isASCIIUppercase(_ c: Unicode.Scalar) -> Bool {
    c.value >= 0x41 && c.value <= 0x5A
}

@inline(__always) private func isDigit(_ c: Unicode.Scalar) -> Bool {
    if c.value < 0x80 { return c.value >= 0x30 && c.value <= 0x39 }
    return c.properties.generalCategory == .decimalNumber
}

@inline(__always) private func isLetter(_ c: Unicode.Scalar) -> Bool {
    if c.value < 0x80 { return isASCIILetter(c) }
    switch c.properties.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
         .nonspacingMark, .spacingMark, .enclosingMark:
        return true
    default:
        return false
    }
}

@inline(__always) private func isWordCharacter(_ c: Unicode.Scalar) -> Bool {
    isLetter(c) || isDigit(c)
}

@inline(__always) private func isDash(_ c: Unicode.Scalar) -> Bool {
    switch c { case "-", "\u{2010}", "\u{2011}", "\u{2012}", "\u{2013}", "\u{2014}", "\u{2015}": return true
    default: return false }
}

@inline(__always) private func isApostrophe(_ c: Unicode.Scalar?) -> Bool {
    guard let c else { return false }
    return c == "'" || c == "\u{2019}" || c == "\u{2018}"
}
