import Foundation
import TensorCore

/// The committed fixtures of one test target: its `Fixtures/` folder, which the target copies into
/// its resource bundle (`resources: [.copy("Fixtures")]` in Package.swift). A resource belongs to the
/// target that declares it, so each test target makes its own, once:
///
///     let fixtures = Fixtures(bundle: .module)
///
/// and reads `fixtures.data("images/chelsea.png")`, `fixtures.safetensors("ops.safetensors")`, ….
/// Paths are relative to that `Fixtures/` folder.
public struct Fixtures: Sendable {
    /// The `Fixtures/` folder inside the bundle.
    public let root: URL

    public init(bundle: Bundle) {
        root = bundle.url(forResource: "Fixtures", withExtension: nil)
            ?? bundle.bundleURL.appendingPathComponent("Fixtures")   // missing: each read then names the file
    }

    /// Where a fixture is (whether or not it exists: tests of missing files need such URLs too).
    public func url(_ path: String) -> URL { root.appendingPathComponent(path) }

    /// A fixture's bytes.
    public func data(_ path: String) throws -> Data {
        try Data(contentsOf: existing(path))
    }

    /// A safetensors fixture (tensors and metadata).
    public func safetensors(_ path: String) throws -> SafeTensors {
        try SafeTensors.read(existing(path))
    }

    /// A JSON fixture decoded as `type`.
    public func json<T: Decodable>(_ type: T.Type, _ path: String) throws -> T {
        try JSONDecoder().decode(type, from: data(path))
    }

    private func existing(_ path: String) throws -> URL {
        let url = url(path)
        guard FileManager.default.fileExists(atPath: url.path) else { throw MissingFixture(path: path, root: root) }
        return url
    }

    /// The package's root folder (from this file's path), for files outside the test bundles such as
    /// the weights the bootstrap downloads into `.cache/` or the shipped model.
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

/// A fixture that is not among a test target's resources.
public struct MissingFixture: Error, CustomStringConvertible {
    public let path: String
    public let root: URL
    public var description: String {
        "fixture \(path) is not in \(root.path); run the script in tools/reference that writes it"
    }
}
