import AtomicFiles
import Foundation

/// A caption file read into memory, with the checks every reader needs first
/// (exists, not a directory, not empty) and helpers to walk it line by line.
struct TextFile {
    let url: URL
    /// The path as the user will recognise it in error messages.
    let displayPath: String
    /// File contents without a leading UTF-8 byte-order mark.
    let bytes: [UInt8]

    /// `allowEmpty` is for list files, where an empty list is meaningful (a split with no images).
    init(url: URL, allowEmpty: Bool = false) throws {
        self.url = url
        self.displayPath = url.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw DatasetError(file: url.path, problem: "file not found",
                               fix: "check the path, or pass the dataset directory instead")
        }
        guard !isDirectory.boolValue else {
            throw DatasetError(file: url.path, problem: "expected a file but found a directory",
                               fix: "pass the caption file itself, or load the directory as a dataset")
        }
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw DatasetError(file: url.path, problem: "cannot be read (\(AtomicFileError.reason(error)))",
                               fix: "check the file's permissions")
        }
        guard !data.isEmpty || allowEmpty else {
            throw DatasetError(file: url.path, problem: "the file is empty (0 bytes)",
                               fix: "re-download or regenerate the caption file")
        }
        var bytes = [UInt8](data)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        self.bytes = bytes
    }

    func error(line: Int?, _ problem: String, fix: String) -> DatasetError {
        DatasetError(file: displayPath, line: line, problem: problem, fix: fix)
    }

    /// Every line with its 1-based number, `\r\n` and `\n` endings removed; a final
    /// newline does not make an extra empty line. Invalid UTF-8 is an error naming the line.
    func lines() throws -> [(number: Int, text: String)] {
        try lineRanges().map { line in (line.number, try text(bytes: line.range, line: line.number)) }
    }

    /// Byte ranges of the lines (without their line endings), for readers that scan bytes.
    func lineRanges() -> [(number: Int, range: Range<Int>)] {
        var result: [(number: Int, range: Range<Int>)] = []
        var start = 0
        var number = 1
        let count = bytes.count
        while start < count {
            var end = start
            while end < count && bytes[end] != 0x0A { end += 1 }
            var contentEnd = end
            if contentEnd > start && bytes[contentEnd - 1] == 0x0D { contentEnd -= 1 }
            result.append((number, start..<contentEnd))
            start = end + 1
            number += 1
        }
        return result
    }

    /// The bytes as text; invalid UTF-8 is an error naming the line.
    func text(bytes range: Range<Int>, line: Int) throws -> String {
        guard let text = String(validating: bytes[range], as: UTF8.self) else {
            throw error(line: line, "the line is not valid UTF-8 text", fix: "re-save the file as UTF-8")
        }
        return text
    }

    /// The first line only (for detecting a layout from a header).
    func firstLine() -> String {
        let end = bytes.firstIndex(of: 0x0A) ?? bytes.count
        var contentEnd = end
        if contentEnd > 0 && bytes[contentEnd - 1] == 0x0D { contentEnd -= 1 }
        return String(decoding: bytes[0..<contentEnd], as: UTF8.self)
    }
}

extension String {
    /// Leading and trailing white space removed.
    var trimmed: String { self[...].trimmed }
}

extension Substring {
    /// Leading and trailing white space removed. Written on Unicode scalars because Foundation's
    /// `trimmingCharacters(in:)` is slow on Linux and this runs once per field of 100k-line files.
    var trimmed: String {
        let scalars = unicodeScalars
        var start = scalars.startIndex, end = scalars.endIndex
        while start < end && isWhitespace(scalars[start]) { start = scalars.index(after: start) }
        while start < end {
            let before = scalars.index(before: end)
            guard isWhitespace(scalars[before]) else { break }
            end = before
        }
        return String(self[start..<end])
    }
}

private func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 0x20, 0x09...0x0D: return true
    case 0..<0x80: return false
    default: return scalar.properties.isWhitespace
    }
}
