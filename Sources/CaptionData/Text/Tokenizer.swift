/// Splits a caption into lowercase words: runs of letters and digits (any script). An apostrophe
/// between two word characters stays inside the word ("don't", "dog's"); apostrophes at a word's
/// edge and all other punctuation are dropped, so "black-and-white" gives black, and, white.
///
/// Works on Unicode scalars with an ASCII fast path (tokenising is on the hot path of building a
/// vocabulary over hundreds of thousands of captions); combining marks stay with the letter they
/// follow, so decomposed "é" is not a word break.
public func tokenize(_ caption: String) -> [String] {
    var tokens: [String] = []
    var current = String.UnicodeScalarView()
    var pendingApostrophe = false

    func finishWord() {
        if !current.isEmpty { tokens.append(String(current)) }
        current = String.UnicodeScalarView()
        pendingApostrophe = false
    }
    func startOrContinueWord() {
        if pendingApostrophe { current.append("'") }
        pendingApostrophe = false
    }

    for scalar in caption.unicodeScalars {
        let value = scalar.value
        if value < 0x80 {
            switch value {
            case 0x41...0x5A:  // A–Z
                startOrContinueWord()
                current.append(Unicode.Scalar(UInt8(value + 0x20)))
            case 0x61...0x7A, 0x30...0x39:  // a–z, 0–9
                startOrContinueWord()
                current.append(scalar)
            case 0x27:  // '
                apostrophe()
            default:
                finishWord()
            }
            continue
        }
        let properties = scalar.properties
        if properties.isAlphabetic || properties.numericType != nil {
            startOrContinueWord()
            current.append(contentsOf: properties.lowercaseMapping.unicodeScalars)
        } else if isCombiningMark(properties.generalCategory) && !current.isEmpty && !pendingApostrophe {
            current.append(scalar)
        } else if value == 0x2019 {
            // The typographic apostrophe becomes "'" so "dog’s" and "dog's" are the same word.
            apostrophe()
        } else {
            finishWord()
        }
    }
    finishWord()
    return tokens

    /// Kept only if another word character follows; a second one in a row ends the word.
    func apostrophe() {
        if current.isEmpty || pendingApostrophe {
            finishWord()
        } else {
            pendingApostrophe = true
        }
    }
}

private func isCombiningMark(_ category: Unicode.GeneralCategory) -> Bool {
    category == .nonspacingMark || category == .spacingMark || category == .enclosingMark
}
