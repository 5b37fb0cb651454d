/// Reads Flickr30k's Kaggle `results.csv`: header `image_name| comment_number| comment`, fields
/// separated by `|` with padding spaces, and no quoting (captions may contain bare quotes).
enum PipeCaptionReader {
    static func isHeader(_ line: String) -> Bool {
        let names = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmed.lowercased() }
        return names.first == "image_name" && names.contains("comment")
    }

    static func read(_ file: TextFile) throws -> ParsedCaptions {
        var parsed = ParsedCaptions()
        var sawHeader = false
        let bytes = file.bytes
        for (number, range) in file.lineRanges() {
            if bytes[range].allSatisfy(FlickrTokenReader.isASCIIWhitespace) { continue }
            if !sawHeader {
                guard isHeader(try file.text(bytes: range, line: number)) else {
                    throw file.error(line: number, "expected the header image_name| comment_number| comment",
                                     fix: "make the first line image_name| comment_number| comment")
                }
                sawHeader = true
                continue
            }
            // Split on bytes ('|' is ASCII): Flickr30k has 158,915 rows.
            var fields: [String] = []
            var fieldStart = range.lowerBound
            for index in range where bytes[index] == UInt8(ascii: "|") {
                fields.append(try file.text(bytes: FlickrTokenReader.trimmedRange(fieldStart..<index, in: bytes), line: number))
                fieldStart = index + 1
            }
            fields.append(try file.text(bytes: FlickrTokenReader.trimmedRange(fieldStart..<range.upperBound, in: bytes), line: number))
            guard fields.count == 3 else {
                throw file.error(line: number,
                                 "expected 3 '|'-separated fields (image_name, comment_number, comment) but found \(fields.count)",
                                 fix: "put a '|' between the image name, the comment number and the comment")
            }
            guard !fields[0].isEmpty else {
                throw file.error(line: number, "the image name is empty", fix: "fill in the image file name or delete the line")
            }
            guard !fields[1].isEmpty, fields[1].allSatisfy(\.isASCIIDigit) else {
                throw file.error(line: number, "the comment number \"\(fields[1])\" is not a whole number",
                                 fix: "write the comment number (0-4) between the first two '|'")
            }
            guard !fields[2].isEmpty else {
                throw file.error(line: number, "the comment for \"\(fields[0])\" is empty",
                                 fix: "write the caption after the last '|' or delete the line")
            }
            parsed.rows.append(CaptionRow(image: fields[0], caption: fields[2], split: nil, line: number))
        }
        return parsed
    }
}
