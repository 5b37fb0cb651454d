import Foundation

/// A fresh directory per test, removed when the value goes away, with helpers to lay out datasets.
final class TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("CaptionDataTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    var path: String { url.path }

    /// Writes text to a path relative to the directory, creating folders as needed.
    @discardableResult
    func write(_ text: String, to relativePath: String) throws -> URL {
        let file = url.appendingPathComponent(relativePath)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: file)
        return file
    }

    /// Creates tiny stand-in image files (a few bytes; the loader only checks they exist).
    func touchImages(_ names: [String], in folder: String) throws {
        for name in names { try write("not really a jpeg", to: folder + "/" + name) }
    }

    func path(_ relativePath: String) -> String { url.appendingPathComponent(relativePath).path }
}
