import Foundation
import TensorCore

/// A feature file written by `caption features`: safetensors with `grid` f32 [N, L, C],
/// `pooled` f32 [N, C] and metadata `images` (JSON list of file names in row order), `encoder`
/// and `image_size`.
public final class FeatureStore: FeatureSource {
    public let url: URL
    public let images: [String]
    public let encoder: String
    public let imageSize: Int
    let store: InMemoryFeatures
    let rowOfImage: [String: Int]

    public init(_ url: URL) throws {
        let file = try SafeTensors.read(url)
        func fail(_ what: String) -> FeatureStoreError {
            FeatureStoreError(description: "\(url.path) \(what): re-create it with `caption features`.")
        }
        guard let pooled = file["pooled"], pooled.rank == 2 else { throw fail("has no pooled [N, C] tensor") }
        let grid = file["grid"]
        if let grid, grid.rank != 3 || grid.shape[0] != pooled.shape[0] || grid.shape[2] != pooled.shape[1] {
            throw fail("has a grid of shape \(grid.shape) that does not fit pooled \(pooled.shape)")
        }
        guard let json = file.metadata["images"], let names = try? JSONDecoder().decode([String].self, from: Data(json.utf8)) else {
            throw fail("has no \"images\" metadata listing its rows")
        }
        guard names.count == pooled.shape[0] else { throw fail("lists \(names.count) images for \(pooled.shape[0]) feature rows") }
        self.url = url
        images = names
        encoder = file.metadata["encoder"] ?? "unknown"
        imageSize = Int(file.metadata["image_size"] ?? "") ?? 0
        store = InMemoryFeatures(pooled: pooled, grid: grid)
        rowOfImage = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public var count: Int { store.count }
    public var featureSize: Int { store.featureSize }
    public var hasGrid: Bool { store.hasGrid }
    public func features(rows: [Int]) -> ImageFeatures { store.features(rows: rows) }

    /// The row of an image, by its file name (or its last path component).
    public func row(of image: String) -> Int? {
        rowOfImage[image] ?? rowOfImage[(image as NSString).lastPathComponent]
    }
}

public struct FeatureStoreError: Error, CustomStringConvertible {
    public let description: String
}
