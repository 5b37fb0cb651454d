import Foundation

/// A fresh, empty directory under the system's temporary folder, removed with everything in it
/// when the value goes away (at the end of the test that holds it):
///
///     let dir = try TemporaryDirectory()
///     try dir.write("image,caption\n", to: "captions.txt")
///     … dir.url("model.safetensors") …
///
/// Keep using `dir` itself rather than copying out `dir.url` and dropping it: the directory lives as
/// long as the value does (hold it in a test's stored property, or `withExtendedLifetime`, when only
/// derived paths are used later).
public final class TemporaryDirectory: Sendable {
    public let url: URL

    /// `label` starts the directory's name, to tell whose leftovers are whose after a crash.
    public init(_ label: String = "captioner-tests") throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    public var path: String { url.path }

    /// A path inside the directory (nothing is created).
    public func url(_ relativePath: String) -> URL { url.appendingPathComponent(relativePath) }
    public func path(_ relativePath: String) -> String { url(relativePath).path }

    /// Writes `text` to a path inside the directory, creating folders as needed.
    @discardableResult
    public func write(_ text: String, to relativePath: String) throws -> URL {
        try write(Data(text.utf8), to: relativePath)
    }

    /// Writes `data` to a path inside the directory, creating folders as needed.
    @discardableResult
    public func write(_ data: Data, to relativePath: String) throws -> URL {
        let file = url(relativePath)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: file)
        return file
    }
}
