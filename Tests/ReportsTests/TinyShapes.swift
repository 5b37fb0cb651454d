import CaptionData
import Captioning
import Foundation
import TestSupport
import TensorCore

/// A 20-image Shapes set (16 train, 2 val, 2 test) with real PNG pictures, and a small feature file
/// (2×2 grid, 6 channels) in place of CNN features, so reports and comparisons run in a second.
/// Everything is in a `TemporaryDirectory`, removed when the value goes away.
struct TinyShapes {
    let temporary: TemporaryDirectory
    let directory: URL
    let data: URL
    let features: URL

    init() throws {
        temporary = try TemporaryDirectory("reports-tests")
        directory = temporary.url
        data = directory.appendingPathComponent("shapes")
        try writeShapesDataset(to: data, images: 20, seed: 3, relations: true, progress: nil)
        features = directory.appendingPathComponent("features.safetensors")
        let names = (0..<20).map { ShapesDataset.fileName(index: $0, total: 20) }
        var rng = RandomGenerator(seed: 11)
        let grid = Tensor.randn([names.count, 4, 6], rng: &rng)
        let pooled = Tape.withoutRecording { grid.mean(axis: 1) }
        try SafeTensors(tensors: ["grid": grid, "pooled": pooled],
                        metadata: ["images": String(decoding: try JSONEncoder().encode(names), as: UTF8.self),
                                   "encoder": "efficientnet-lite0", "image_size": "224"]).write(to: features)
    }

    func dataset() throws -> CaptionDataset { try CaptionDataset.load(data.path, checkImages: false) }
    func store() throws -> FeatureStore { try FeatureStore(features) }

    /// Settings small enough for one quick epoch.
    static var settings: TrainingSettings {
        var settings = TrainingSettings()
        settings.epochs = 1
        settings.batchSize = 16
        settings.minCount = 1
        settings.embeddingSize = 8
        settings.hiddenSize = 16
        settings.attentionSize = 8
        settings.seed = 7
        return settings
    }
}
