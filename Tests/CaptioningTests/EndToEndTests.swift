import CaptionData
import Foundation
import Testing
import TestSupport
import TensorCore
@testable import Captioning

/// A small dataset in each supported layout goes through the loaders, trains for a few steps,
/// is interrupted and resumed, and captions its test images from a feature file.
@Suite struct EndToEndTests {
    static let images = (0..<12).map { String(format: "img%02d.jpg", $0) }
    static func captions(_ i: Int) -> [String] {
        let colour = ["red", "blue", "green"][i % 3], shape = ["circle", "square"][i % 2]
        return ["A \(colour) \(shape).", "the \(colour) \(shape)", "a \(shape) that is \(colour)"]
    }
    static func split(_ i: Int) -> String { i < 8 ? "train" : (i < 10 ? "val" : "test") }

    /// Writes the dataset in `layout` under `dir`; returns the path to load.
    static func write(_ layout: String, in dir: URL) throws -> String {
        func put(_ text: String, _ name: String) throws { try text.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        switch layout {
        case "kaggle":
            var csv = "image,caption\n"
            for (i, image) in images.enumerated() { for c in captions(i) { csv += "\(image),\"\(c)\"\n" } }
            try put(csv, "captions.txt")
            try writeSplitLists(in: dir)
            return dir.path
        case "flickr8k":
            var tokens = ""
            for (i, image) in images.enumerated() { for (n, c) in captions(i).enumerated() { tokens += "\(image)#\(n)\t\(c)\n" } }
            try put(tokens, "Flickr8k.token.txt")
            for (s, name) in [("train", "trainImages"), ("val", "devImages"), ("test", "testImages")] {
                try put(images.enumerated().filter { split($0.offset) == s }.map(\.element).joined(separator: "\n") + "\n", "Flickr_8k.\(name).txt")
            }
            return dir.path
        case "flickr30k":
            var tokens = ""
            for (i, image) in images.enumerated() { for (n, c) in captions(i).enumerated() { tokens += "\(image)#\(n)\t\(c)\n" } }
            try put(tokens, "results_20130124.token")
            try writeSplitLists(in: dir)
            return dir.path
        case "flickr30k-kaggle":
            var rows = "image_name| comment_number| comment\n"
            for (i, image) in images.enumerated() { for (n, c) in captions(i).enumerated() { rows += "\(image)| \(n)| \(c)\n" } }
            try put(rows, "results.csv")
            try writeSplitLists(in: dir)
            return dir.path
        case "folder-csv":   // a plain folder of images plus a CSV whose split column assigns every image
            var csv = "file,split,text\n"
            for (i, image) in images.enumerated() { for c in captions(i) { csv += "\(image),\(split(i)),\"\(c)\"\n" } }
            try put(csv, "labels.csv")
            return dir.path
        default:   // Karpathy split JSON
            let entries = images.enumerated().map { i, image -> [String: Any] in
                ["filename": image, "split": split(i) == "train" && i % 2 == 1 ? "restval" : split(i),
                 "sentences": captions(i).map { ["raw": $0, "tokens": tokenize($0)] }]
            }
            let url = dir.appendingPathComponent("dataset_flickr8k.json")
            try JSONSerialization.data(withJSONObject: ["images": entries, "dataset": "flickr8k"]).write(to: url)
            return url.path
        }
    }

    /// `splits/{train,val,test}.txt`, the split lists of layouts whose caption file has no split.
    static func writeSplitLists(in dir: URL) throws {
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("splits"), withIntermediateDirectories: true)
        for s in ["train", "val", "test"] {
            let names = images.enumerated().filter { split($0.offset) == s }.map(\.element).joined(separator: "\n") + "\n"
            try names.write(to: dir.appendingPathComponent("splits/\(s).txt"), atomically: true, encoding: .utf8)
        }
    }

    static func writeFeatures(to url: URL) throws {
        var rng = RandomGenerator(seed: 5)
        let grid = Tensor.randn([images.count, 4, 6], rng: &rng)
        // Make the features carry the caption's content, so training has something to learn.
        for i in 0..<images.count { grid.data[i * 24 + i % 3] += 3; grid.data[i * 24 + 3 + i % 2] += 3 }
        let pooled = Tape.withoutRecording { grid.mean(axis: 1) }
        let images = String(decoding: try JSONEncoder().encode(Self.images), as: UTF8.self)
        try SafeTensors(tensors: ["grid": grid, "pooled": pooled],
                        metadata: ["images": images, "encoder": "test", "image_size": "224"]).write(to: url)
    }

    @Test(arguments: ["kaggle", "flickr8k", "flickr30k", "flickr30k-kaggle", "folder-csv", "karpathy"])
    func trainResumePredict(_ layout: String) throws {
        let temporary = try TemporaryDirectory(), dir = temporary.url
        let dataset = try CaptionDataset.load(try Self.write(layout, in: dir), checkImages: false)
        let expectedLayout: [String: DatasetLayout] = [
            "kaggle": .flickr8kKaggle, "flickr8k": .flickr8kOriginal, "flickr30k": .flickr30kToken,
            "flickr30k-kaggle": .flickr30kKaggle, "folder-csv": .folderCSV, "karpathy": .karpathyJSON]
        #expect(dataset.layout == expectedLayout[layout])
        #expect(dataset.split(.train).count == 8 && dataset.split(.val).count == 2 && dataset.split(.test).count == 2)
        let featureURL = dir.appendingPathComponent("features.safetensors")
        try Self.writeFeatures(to: featureURL)
        let store = try FeatureStore(featureURL)
        let data = try TrainingData(dataset: dataset, features: store, minCount: 1)
        #expect(data.samples.count == 24 && data.validation.count == 2 && data.imagesWithoutFeatures.isEmpty)
        #expect(data.vocabulary.tokens.prefix(4) == ["<pad>", "<start>", "<end>", "<unk>"])

        let config = DecoderConfig(architecture: .softAttentionGRU, vocabularySize: data.vocabulary.count, featureSize: 6,
                                   embeddingSize: 8, hiddenSize: 16, attentionSize: 8, dropout: 0.2)
        func newModel() throws -> CaptionModel {
            CaptionModel(decoder: try makeDecoder(config, source: .initialise(seed: 4)),
                         metadata: ModelMetadata(decoder: config, vocabulary: data.vocabulary.tokens, encoder: EncoderInfo(name: "test"),
                                                 provenance: Provenance(dataset: dataset.name)))
        }
        var options = TrainingSettings()
        options.epochs = 4
        options.batchSize = 5
        options.learningRate = 1e-2
        let checkpoint = dir.appendingPathComponent("run.checkpoint"), best = dir.appendingPathComponent("model.safetensors")
        var steps = 0
        let first = try Trainer(model: try newModel(), samples: data.samples, features: store, settings: options,
                                validate: { data.validate($0, features: store) })
        let stopped = try first.run(checkpoint: checkpoint, bestModel: best, log: nil, shouldStop: { steps += 1; return steps == 6 })
        #expect(stopped.stopReason == .interrupted)
        let resumed = try Trainer(model: try newModel(), samples: data.samples, features: store, settings: options,
                                  validate: { data.validate($0, features: store) })
        try resumed.resume(from: checkpoint)
        let summary = try resumed.run(checkpoint: checkpoint, bestModel: best, log: dir.appendingPathComponent("log.jsonl"))
        #expect(summary.history.count == 4)
        #expect(summary.history.allSatisfy { $0.validation["BLEU-4"] != nil && $0.validation["CIDEr-D"] != nil })
        #expect(summary.history.last!.trainLoss < summary.history.first!.trainLoss)

        let model = try CaptionModel.load(best)
        let testRows = dataset.split(.test).map { store.row(of: $0.image)! }
        let captions = decodeCaptions(model.decoder, store.features(rows: testRows), options: SearchOptions(beamSize: 3, maxWords: 6, blockRepeatedTrigrams: false))
        #expect(captions.count == 2 && captions.allSatisfy { !$0.isEmpty && $0[0].attention.count == $0[0].tokens.count })
        #expect(captions.allSatisfy { $0[0].tokens.allSatisfy { Int($0) < data.vocabulary.count } })
    }

    @Test func imagesWithoutFeaturesAreCountedAndEmptySplitsRejected() throws {
        let temporary = try TemporaryDirectory(), dir = temporary.url
        let dataset = try CaptionDataset.load(try Self.write("kaggle", in: dir), checkImages: false)
        let url = dir.appendingPathComponent("few.safetensors")
        let names = String(decoding: try JSONEncoder().encode(Array(Self.images.prefix(5))), as: UTF8.self)
        try SafeTensors(tensors: ["pooled": Tensor(zeros: [5, 6])], metadata: ["images": names]).write(to: url)
        let data = try TrainingData(dataset: dataset, features: try FeatureStore(url), minCount: 1)
        #expect(data.imagesWithoutFeatures.count == 5)     // train 5…7 and val 8, 9; test images are not needed here
        let none = dir.appendingPathComponent("none.safetensors")
        try SafeTensors(tensors: ["pooled": Tensor(zeros: [1, 6])], metadata: ["images": "[\"other.jpg\"]"]).write(to: none)
        #expect(throws: TrainingError.self) { _ = try TrainingData(dataset: dataset, features: try FeatureStore(none), minCount: 1) }
        let broken = dir.appendingPathComponent("broken.safetensors")
        try SafeTensors(tensors: ["pooled": Tensor(zeros: [2, 6])], metadata: ["images": "[\"a.jpg\"]"]).write(to: broken)
        #expect(throws: FeatureStoreError.self) { _ = try FeatureStore(broken) }
    }
}

@Suite struct FeatureStoreFitTests {
    @Test func attentionModelsNeedGridFeaturesOfTheRightSize() throws {
        let temporary = try TemporaryDirectory(), dir = temporary.url
        let model = try ToyTask().model(.softAttentionGRU)          // 8 feature channels
        let pooledOnly = dir.appendingPathComponent("pooled.safetensors")
        try SafeTensors(tensors: ["pooled": Tensor(zeros: [1, 8])], metadata: ["images": "[\"a.png\"]"]).write(to: pooledOnly)
        #expect(throws: FeatureStoreError.self) { try FeatureStore(pooledOnly).checkFits(model, modelPath: "m") }
        let wrongSize = dir.appendingPathComponent("wrong.safetensors")
        try SafeTensors(tensors: ["pooled": Tensor(zeros: [1, 6]), "grid": Tensor(zeros: [1, 4, 6])],
                        metadata: ["images": "[\"a.png\"]"]).write(to: wrongSize)
        #expect(throws: FeatureStoreError.self) { try FeatureStore(wrongSize).checkFits(model, modelPath: "m") }
        let good = dir.appendingPathComponent("good.safetensors")
        try SafeTensors(tensors: ["pooled": Tensor(zeros: [1, 8]), "grid": Tensor(zeros: [1, 4, 8])],
                        metadata: ["images": "[\"a.png\"]"]).write(to: good)
        try FeatureStore(good).checkFits(model, modelPath: "m")
    }
}
