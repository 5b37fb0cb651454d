import CaptionData
import Foundation

/// A caption or prediction file that cannot be read; the message names the file and, where there is
/// one, the line, in one plain sentence.
struct InputFileError: Error, CustomStringConvertible, LocalizedError {
    let description: String
    var errorDescription: String? { description }

    init(_ path: String, line: Int? = nil, _ problem: String) {
        if let line {
            description = "\(path) line \(line): \(problem)."
        } else {
            description = "\(path): \(problem)."
        }
    }
}

/// The one entry point for reference captions, keyed by image. Every dataset layout goes through here.
///
/// Supported today: JSON lines `{"image": "...", "captions": ["...", ...]}` (optionally with a
/// `"split": "..."` field, which `split` filters on). Blank lines are skipped; an image listed twice has
/// its captions merged.
func loadReferences(path: String, split: String?) throws -> [String: [String]] {
    if !isJSONLines(path) { return try loadDatasetReferences(path: path, split: split) }
    var references: [String: [String]] = [:]
    var sawSplitField = false
    try forEachJSONLine(path) { object, line in
        guard let image = object["image"] as? String, !image.isEmpty else {
            throw InputFileError(path, line: line, "expected a non-empty string field \"image\"")
        }
        guard let captions = object["captions"] as? [Any] else {
            throw InputFileError(path, line: line, "expected a field \"captions\" holding a list of strings")
        }
        var strings: [String] = []
        for caption in captions {
            guard let text = caption as? String else {
                throw InputFileError(path, line: line, "every entry of \"captions\" must be a string")
            }
            strings.append(text)
        }
        if let lineSplit = object["split"] {
            guard let lineSplit = lineSplit as? String else {
                throw InputFileError(path, line: line, "\"split\" must be a string")
            }
            sawSplitField = true
            if let split, lineSplit != split { return }
        }
        references[image, default: []].append(contentsOf: strings)
    }
    if let split, !sawSplitField {
        throw InputFileError(path, "has no \"split\" fields, so --split \(split) cannot select anything; drop --split")
    }
    if references.isEmpty {
        throw InputFileError(path, split.map { "has no reference captions for split \($0)" } ?? "has no reference captions")
    }
    return references
}

/// Predictions from JSON lines `{"image": "...", "caption": "..."}`; an image may appear only once.
func loadPredictions(path: String) throws -> [String: String] {
    var predictions: [String: String] = [:]
    var firstLine: [String: Int] = [:]
    try forEachJSONLine(path) { object, line in
        guard let image = object["image"] as? String, !image.isEmpty else {
            throw InputFileError(path, line: line, "expected a non-empty string field \"image\"")
        }
        guard let caption = object["caption"] as? String else {
            throw InputFileError(path, line: line, "expected a string field \"caption\"")
        }
        if let previous = firstLine[image] {
            throw InputFileError(path, line: line, "image \(image) already has a prediction on line \(previous)")
        }
        firstLine[image] = line
        predictions[image] = caption
    }
    if predictions.isEmpty { throw InputFileError(path, "has no predictions") }
    return predictions
}

/// Calls `body` with each non-blank line parsed as a JSON object and its 1-based line number.
private func forEachJSONLine(_ path: String, _ body: ([String: Any], Int) throws -> Void) throws {
    let data: Data
    do {
        data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
        throw InputFileError(path, FileManager.default.fileExists(atPath: path) ? "cannot be read" : "does not exist")
    }
    do {
        try JSONLines.forEachObject(in: data, body)
    } catch let error as JSONLinesError {
        switch error {
        case .notUTF8: throw InputFileError(path, "is not UTF-8 text")
        case .invalidJSON(let line): throw InputFileError(path, line: line, "is not valid JSON")
        case .notAnObject(let line): throw InputFileError(path, line: line, "is not a JSON object")
        }
    }
}

/// A file of JSON lines (as opposed to a dataset file or folder the dataset loaders read).
func isJSONLines(_ path: String) -> Bool {
    if path.hasSuffix(".jsonl") { return true }
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
          let handle = FileHandle(forReadingAtPath: path) else { return false }
    defer { try? handle.close() }
    let head = String(decoding: handle.readData(ofLength: 4096), as: UTF8.self)
    // Karpathy's split JSON is one object holding "images"; JSON lines have an object per line.
    guard let first = head.split(separator: "\n").first?.trimmingCharacters(in: .whitespaces), first.hasPrefix("{") else { return false }
    return !first.contains("\"images\"") && first.hasSuffix("}")
}

/// References from any dataset layout the loaders read (Flickr8k/30k, Karpathy JSON, CSV).
func loadDatasetReferences(path: String, split: String?) throws -> [String: [String]] {
    let dataset = try CaptionDataset.load(path, checkImages: false)
    var items = dataset.items
    if let split {
        guard let wanted = Split(rawValue: split == "dev" ? "val" : split) else {
            throw InputFileError(path, "has no split \"\(split)\"; use train, val or test")
        }
        items = dataset.split(wanted)
        if items.isEmpty { throw InputFileError(path, "has no images in split \(split)") }
    }
    var references: [String: [String]] = [:]
    for item in items { references[item.image, default: []].append(contentsOf: item.captions) }
    return references
}
