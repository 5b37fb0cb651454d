import Foundation

/// Reads Karpathy's split files (`dataset_flickr8k.json`, `dataset_flickr30k.json`, `dataset_coco.json`):
/// `{"images": [{"filename", "filepath"?, "split", "sentences": [{"raw", "tokens"}]}], "dataset": …}`.
enum KarpathyReader {
    struct Result {
        var parsed: ParsedCaptions
        var datasetName: String?
    }

    static func read(_ file: TextFile) throws -> Result {
        let root: Any
        do {
            root = try JSONSerialization.jsonObject(with: Data(file.bytes))
        } catch {
            throw file.error(line: lineOfJSONError(error, in: file.bytes), "the file is not valid JSON",
                             fix: "re-download the Karpathy split file; it may be truncated")
        }
        guard let object = root as? [String: Any], let images = object["images"] as? [Any] else {
            throw file.error(line: nil, "no top-level \"images\" list",
                             fix: "pass a Karpathy split file such as dataset_flickr8k.json")
        }
        var parsed = ParsedCaptions()
        for (position, entry) in images.enumerated() {
            let label = "image entry \(position + 1)"
            guard let image = entry as? [String: Any] else {
                throw file.error(line: nil, "\(label) is not a JSON object", fix: "re-download the Karpathy split file")
            }
            guard let filename = (image["filename"] as? String)?.trimmed, !filename.isEmpty else {
                throw file.error(line: nil, "\(label) has no \"filename\"", fix: "give every image a filename")
            }
            var path = filename
            if let filepath = (image["filepath"] as? String)?.trimmed, !filepath.isEmpty {
                path = filepath + "/" + filename
            }
            guard let splitText = image["split"] as? String else {
                throw file.error(line: nil, "\(label) (\"\(filename)\") has no \"split\"",
                                 fix: "set its split to train, val, test or restval")
            }
            guard let split = Split(lenient: splitText) else {
                throw file.error(line: nil, "\(label) (\"\(filename)\") has the unknown split \"\(splitText)\"",
                                 fix: "use train, val, test or restval")
            }
            guard let sentences = image["sentences"] as? [Any], !sentences.isEmpty else {
                throw file.error(line: nil, "\(label) (\"\(filename)\") has no \"sentences\"",
                                 fix: "give every image at least one sentence with a \"raw\" caption")
            }
            for (sentenceNumber, sentence) in sentences.enumerated() {
                let fields = sentence as? [String: Any] ?? [:]
                var caption = (fields["raw"] as? String)?.trimmed ?? ""
                if caption.isEmpty, let tokens = fields["tokens"] as? [String] {
                    caption = tokens.joined(separator: " ").trimmed
                }
                guard !caption.isEmpty else {
                    throw file.error(line: nil, "sentence \(sentenceNumber + 1) of \(label) (\"\(filename)\") is empty",
                                     fix: "give it a \"raw\" caption or remove it")
                }
                parsed.rows.append(CaptionRow(image: path, caption: caption, split: split, line: nil))
            }
        }
        return Result(parsed: parsed, datasetName: object["dataset"] as? String)
    }

    /// Foundation reports JSON errors as "… around character N." (a byte offset); turn it into a line.
    static func lineOfJSONError(_ error: Error, in bytes: [UInt8]) -> Int? {
        let userInfo = (error as NSError).userInfo
        let text = (userInfo[NSDebugDescriptionErrorKey] as? String) ?? "\(error)"
        var offset = (userInfo["NSJSONSerializationErrorIndex"] as? Int)
        if offset == nil, let range = text.range(of: "around character ") {
            offset = Int(text[range.upperBound...].prefix(while: \.isASCIIDigit))
        }
        guard let offset else { return nil }
        let end = min(max(offset, 0), bytes.count)
        return bytes[0..<end].reduce(1) { $1 == 0x0A ? $0 + 1 : $0 }
    }
}
