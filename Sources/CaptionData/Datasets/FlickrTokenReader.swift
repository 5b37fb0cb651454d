/// Reads the Flickr token format shared by `Flickr8k.token.txt` and Flickr30k's
/// `results_20130124.token`: one caption per line, `<image>#<n>\t<caption>`.
enum FlickrTokenReader {
    static func read(_ file: TextFile) throws -> ParsedCaptions {
        var parsed = ParsedCaptions()
        var skippedQuirkKeys = 0
        for (number, text) in try file.lines() {
            if text.trimmed.isEmpty { continue }
            let fields = text.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count == 2 else {
                throw file.error(line: number,
                                 "expected 2 tab-separated fields (<image>#<n> and the caption) but found \(fields.count)",
                                 fix: "separate the key and the caption with exactly one tab")
            }
            let key = fields[0].trimmingCharacters(in: .whitespaces)
            guard let hash = key.lastIndex(of: "#") else {
                throw file.error(line: number, "the key \"\(key)\" has no #<n> caption number",
                                 fix: "write the key as <image>#<n>, for example 1000268201_693b08cb0e.jpg#0")
            }
            let image = String(key[..<hash])
            let captionNumber = key[key.index(after: hash)...]
            guard !image.isEmpty, !captionNumber.isEmpty, captionNumber.allSatisfy(\.isASCIIDigit) else {
                throw file.error(line: number, "the key \"\(key)\" is not of the form <image>#<n>",
                                 fix: "write the key as <image>#<n> with a whole number n, for example 1000268201_693b08cb0e.jpg#0")
            }
            let caption = String(fields[1]).trimmed
            guard !caption.isEmpty else {
                throw file.error(line: number, "the caption for \"\(key)\" is empty",
                                 fix: "write the caption after the tab or delete the line")
            }
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
        let imageExtensions: Set<String> = ["jpg", "jpeg", "png"]
        return imageExtensions.contains(parts[parts.count - 2].lowercased())
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
