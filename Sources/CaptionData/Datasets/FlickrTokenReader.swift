/// Reads the Flickr token format shared by `Flickr8k.token.txt` and Flickr30k's
/// `results_20130124.token`: one caption per line, `<image>#<n>\t<caption>`.
/// Lines are split on bytes (tab and `#` are ASCII) because Flickr30k has 158,915 of them.
enum FlickrTokenReader {
    static let tab = UInt8(ascii: "\t"), hash = UInt8(ascii: "#")

    static func read(_ file: TextFile) throws -> ParsedCaptions {
        var parsed = ParsedCaptions()
        var skippedQuirkKeys = 0
        let bytes = file.bytes
        for (number, range) in file.lineRanges() {
            if bytes[range].allSatisfy(isASCIIWhitespace) { continue }
            let tabs = bytes[range].indices.filter { bytes[$0] == tab }
            guard tabs.count == 1, let tabIndex = tabs.first else {
                throw file.error(line: number,
                                 "expected 2 tab-separated fields (<image>#<n> and the caption) but found \(tabs.count + 1)",
                                 fix: "separate the key and the caption with exactly one tab")
            }
            let keyRange = trimmedRange(range.lowerBound..<tabIndex, in: bytes)
            let key = try file.text(bytes: keyRange, line: number)
            guard let hashIndex = bytes[keyRange].lastIndex(of: hash) else {
                throw file.error(line: number, "the key \"\(key)\" has no #<n> caption number",
                                 fix: "write the key as <image>#<n>, for example 1000268201_693b08cb0e.jpg#0")
            }
            let numberBytes = bytes[(hashIndex + 1)..<keyRange.upperBound]
            guard hashIndex > keyRange.lowerBound, !numberBytes.isEmpty, numberBytes.allSatisfy(isASCIIDigit) else {
                throw file.error(line: number, "the key \"\(key)\" is not of the form <image>#<n>",
                                 fix: "write the key as <image>#<n> with a whole number n, for example 1000268201_693b08cb0e.jpg#0")
            }
            let caption = try file.text(bytes: trimmedRange((tabIndex + 1)..<range.upperBound, in: bytes), line: number)
            guard !caption.isEmpty else {
                throw file.error(line: number, "the caption for \"\(key)\" is empty",
                                 fix: "write the caption after the tab or delete the line")
            }
            let image = try file.text(bytes: keyRange.lowerBound..<hashIndex, line: number)
            if isNumberedCopyKey(image) {
                // Flickr8k ships `2258277193_586949ec62.jpg.1`, whose image does not exist; skipping
                // such keys loses nothing and keeps the official file loadable.
                skippedQuirkKeys += 1
                parsed.warnings.append("\(file.displayPath):\(number): skipped caption for \"\(image)\" (a .jpg.N key with no image file)")
                continue
            }
            parsed.rows.append(CaptionRow(image: image, caption: caption, split: nil, line: number))
        }
        if skippedQuirkKeys > 0 {
            parsed.warnings.append("\(file.displayPath): skipped \(skippedQuirkKeys) caption(s) whose keys end in .jpg.N")
        }
        return parsed
    }

    /// `name.jpg.1`, `name.png.2`: an image extension followed by a numeric suffix.
    static func isNumberedCopyKey(_ image: String) -> Bool {
        let parts = image.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 3, let last = parts.last, !last.isEmpty, last.allSatisfy(\.isASCIIDigit) else { return false }
        return ["jpg", "jpeg", "png"].contains(parts[parts.count - 2].lowercased())
    }

    static func isASCIIDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    static func isASCIIWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || (byte >= 0x09 && byte <= 0x0D) }

    /// The range without leading and trailing ASCII spaces and tabs.
    static func trimmedRange(_ range: Range<Int>, in bytes: [UInt8]) -> Range<Int> {
        var lower = range.lowerBound, upper = range.upperBound
        while lower < upper && isASCIIWhitespace(bytes[lower]) { lower += 1 }
        while upper > lower && isASCIIWhitespace(bytes[upper - 1]) { upper -= 1 }
        return lower..<upper
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
