/// Splits a caption into lowercase words: runs of letters and digits (any script). An apostrophe
/// between two word characters stays inside the word ("don't", "dog's"); apostrophes at a word's
/// edge and all other punctuation are dropped, so "black-and-white" gives black, and, white.
public func tokenize(_ caption: String) -> [String] {
    var tokens: [String] = []
    var current = ""
    var pendingApostrophe = false
    for character in caption.lowercased() {
        if character.isLetter || character.isNumber {
            if pendingApostrophe { current.append("'") }
            pendingApostrophe = false
            current.append(character)
        } else if isApostrophe(character) && !current.isEmpty && !pendingApostrophe {
            // Kept only if another word character follows.
            pendingApostrophe = true
        } else {
            if !current.isEmpty { tokens.append(current) }
            current = ""
            pendingApostrophe = false
        }
    }
    if !current.isEmpty { tokens.append(current) }
    return tokens
}

/// ASCII apostrophe and the typographic right single quote, which captions use interchangeably;
/// both become "'" so "dog’s" and "dog's" are the same word.
private func isApostrophe(_ character: Character) -> Bool {
    character == "'" || character == "\u{2019}"
}
