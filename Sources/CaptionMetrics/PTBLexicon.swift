// The word lists and character classes of the PTB lexer (PTBLexer.swift), as CoreNLP 3.4.1 has them.

/// Abbreviations whose final period CoreNLP 3.4.1 keeps in every context (probed against the jar).
let abbreviationsKeepingPeriod: Set<String> = [
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
let abbreviationsBeforeNumbers: Set<String> = [
    "ca", "fig", "figs", "prop", "no", "nos", "art", "pp", "op",
]

/// Capitalised words after which CoreNLP reads a single-letter abbreviation as the end of a sentence.
let sentenceStartWords: Set<String> = [
    "A", "About", "According", "Additionally", "After", "All", "Also", "Although", "An", "Another", "As", "At",
    "Before", "Both", "But", "By", "Did", "During", "Each", "Earlier", "Following", "For", "From", "He", "Her",
    "Here", "His", "How", "However", "If", "In", "It", "Its", "Last", "Later", "Many", "More", "Most", "Now",
    "On", "Once", "One", "Other", "Our", "She", "Since", "So", "Some", "Such", "That", "The", "Their", "Then",
    "There", "These", "They", "This", "Two", "Under", "Upon", "We", "When", "While", "What", "Who", "Why",
    "Yet", "You",
]

/// Words CoreNLP splits in two although they contain no apostrophe.
let assimilations: [String: (String, String)] = [
    "cannot": ("can", "not"), "gonna": ("gon", "na"), "gotta": ("got", "ta"),
    "wanna": ("wan", "na"), "lemme": ("lem", "me"), "gimme": ("gim", "me"),
]

/// Clitics split off the end of a word ("dog's" → "dog 's", "he'd've" → "he 'd 've").
let cliticSuffixes = ["'s", "'m", "'d", "'re", "'ve", "'ll"]

/// Apostrophe-initial words kept whole ("'em", "'cause").
let apostropheWords: Set<String> = ["'em", "'cause", "'n'", "'til", "'till", "'twixt"]

let cliticSuffixScalars: [[Unicode.Scalar]] = cliticSuffixes.map { Array($0.unicodeScalars) }
let notSuffix: [Unicode.Scalar] = Array("n't".unicodeScalars)

/// Lowercases like Java's String.toLowerCase (ASCII fast path; other scalars through Swift's Unicode
/// lowercase mapping, which may expand one scalar into several, as Java does).
func lowercasedScalars(_ scalars: ArraySlice<Unicode.Scalar>) -> [Unicode.Scalar] {
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
func makeLowercasedString(_ scalars: ArraySlice<Unicode.Scalar>) -> String {
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
func makeString<C: Collection>(_ scalars: C) -> String where C.Element == Unicode.Scalar {
    var length = 0
    for c in scalars { length += UTF8.width(c) }
    return String(unsafeUninitializedCapacity: length) { buffer in
        var index = 0
        for c in scalars { UTF8.encode(c) { buffer[index] = $0; index += 1 } }
        return index
    }
}

// MARK: character classes

@inline(__always) func isSpace(_ c: Unicode.Scalar) -> Bool {
    switch c.value {
    case 0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0xA0: return true
    case 0..<0x80: return false
    default: return c.properties.isWhitespace
    }
}

@inline(__always) func isASCIILetter(_ c: Unicode.Scalar) -> Bool {
    (c.value >= 0x41 && c.value <= 0x5A) || (c.value >= 0x61 && c.value <= 0x7A)
}

@inline(__always) func isASCIIUppercase(_ c: Unicode.Scalar) -> Bool {
    c.value >= 0x41 && c.value <= 0x5A
}

@inline(__always) func isDigit(_ c: Unicode.Scalar) -> Bool {
    if c.value < 0x80 { return c.value >= 0x30 && c.value <= 0x39 }
    return c.properties.generalCategory == .decimalNumber
}

@inline(__always) func isLetter(_ c: Unicode.Scalar) -> Bool {
    if c.value < 0x80 { return isASCIILetter(c) }
    switch c.properties.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
         .nonspacingMark, .spacingMark, .enclosingMark:
        return true
    default:
        return false
    }
}

@inline(__always) func isWordCharacter(_ c: Unicode.Scalar) -> Bool {
    isLetter(c) || isDigit(c)
}

@inline(__always) func isDash(_ c: Unicode.Scalar) -> Bool {
    switch c { case "-", "\u{2010}", "\u{2011}", "\u{2012}", "\u{2013}", "\u{2014}", "\u{2015}": return true
    default: return false }
}

@inline(__always) func isApostrophe(_ c: Unicode.Scalar?) -> Bool {
    guard let c else { return false }
    return c == "'" || c == "\u{2019}" || c == "\u{2018}"
}
