/// CoreNLP 3.4.1's PTBTokenizer lexer for the rules a caption can hit (see PTBTokenizer).
struct PTBLexer {
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
        case "#": lexTag("#", first: isLetter, rest: { isLetter($0) || isDigit($0) || $0 == "_" })    // hashtags
        case "@": lexTag("@", first: { isASCIILetter($0) || $0 == "_" }, rest: { isASCIILetter($0) || isDigit($0) || $0 == "_" })
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

    /// `marker` then a name ("#tag", "@user") is one token when the name starts with a `first` scalar
    /// and goes on with `rest` ones; otherwise the marker is a run of symbols.
    mutating func lexTag(_ marker: Unicode.Scalar, first: (Unicode.Scalar) -> Bool, rest: (Unicode.Scalar) -> Bool) {
        guard let next = scalar(at: position + 1), first(next) else { return lexRun(of: marker) }
        let start = position
        position += 1
        while let n = scalar(at: position), rest(n) { position += 1 }
        output.append(makeString(lowercasedScalars(text[start..<position])))
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
