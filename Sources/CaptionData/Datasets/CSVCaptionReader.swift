/// Reads comma-separated caption files: Flickr8k's Kaggle `captions.txt` (header `image,caption`)
/// and any folder + CSV whose header names an image column, a caption column and optionally a split.
enum CSVCaptionReader {
    static let imageColumnNames = ["image", "file", "filename", "file_name", "image_name", "image_file"]
    static let captionColumnNames = ["caption", "text", "comment", "sentence"]

    struct Columns {
        var image: Int
        var caption: Int
        var split: Int?
    }

    /// Finds the columns in a header row, or nil when it is not a caption header.
    static func columns(inHeader fields: [String]) -> Columns? {
        let names = fields.map { $0.trimmed.lowercased() }
        guard let image = names.firstIndex(where: imageColumnNames.contains),
              let caption = names.firstIndex(where: captionColumnNames.contains) else { return nil }
        return Columns(image: image, caption: caption, split: names.firstIndex(of: "split"))
    }

    /// The delimiter a header line uses: comma unless the line only has tabs or semicolons.
    static func delimiter(ofHeader line: String) -> UInt8 {
        if line.contains(",") { return UInt8(ascii: ",") }
        if line.contains("\t") { return UInt8(ascii: "\t") }
        if line.contains(";") { return UInt8(ascii: ";") }
        return UInt8(ascii: ",")
    }

    static func read(_ file: TextFile, requireKaggleHeader: Bool) throws -> ParsedCaptions {
        let delimiter = requireKaggleHeader ? UInt8(ascii: ",") : delimiter(ofHeader: file.firstLine())
        let records = try CSVParser.records(of: file, delimiter: delimiter)
        guard let header = records.first else {
            throw file.error(line: nil, "the file has no header and no captions",
                             fix: "start the file with a header such as image,caption")
        }
        let headerNames = header.fields.map { $0.trimmed.lowercased() }
        if requireKaggleHeader && headerNames != ["image", "caption"] {
            throw file.error(line: header.line, "expected the header image,caption but found \(header.fields.joined(separator: ","))",
                             fix: "make the first line exactly image,caption")
        }
        guard let columns = columns(inHeader: header.fields) else {
            throw file.error(line: header.line,
                             "the header has no image column (\(imageColumnNames.joined(separator: "/"))) and caption column (\(captionColumnNames.joined(separator: "/")))",
                             fix: "add a header line such as image,caption")
        }
        var parsed = ParsedCaptions()
        let expectedFields = header.fields.count
        for record in records.dropFirst() {
            // A line of nothing but spaces is as blank as an empty one.
            if record.fields.count == 1 && record.fields[0].trimmed.isEmpty { continue }
            guard record.fields.count == expectedFields else {
                if record.endLine > record.line {
                    // The record ran over line breaks inside quotes: most likely a quote opened on its
                    // first line was never closed there.
                    throw file.error(line: record.line,
                                     "expected \(expectedFields) fields as in the header but found \(record.fields.count), in a record whose quoted field opens here and only closes on line \(record.endLine)",
                                     fix: "close the quote on this line, and write any quote inside a caption as two quotes (\"\")")
                }
                throw file.error(line: record.line,
                                 "expected \(expectedFields) fields as in the header but found \(record.fields.count)",
                                 fix: "wrap a caption that contains the delimiter in double quotes")
            }
            let image = record.fields[columns.image].trimmed
            guard !image.isEmpty else {
                throw file.error(line: record.line, "the image name is empty", fix: "fill in the image file name or delete the line")
            }
            let caption = record.fields[columns.caption].trimmed
            guard !caption.isEmpty else {
                throw file.error(line: record.line, "the caption for \"\(image)\" is empty",
                                 fix: "write the caption or delete the line")
            }
            var split: Split?
            if let splitColumn = columns.split {
                let value = record.fields[splitColumn].trimmed
                if !value.isEmpty {
                    guard let known = Split(lenient: value) else {
                        throw file.error(line: record.line, "unknown split \"\(value)\"",
                                         fix: "use train, val, test (or restval), or leave the split empty")
                    }
                    split = known
                }
            }
            parsed.rows.append(CaptionRow(image: image, caption: caption, split: split, line: record.line))
        }
        return parsed
    }
}
