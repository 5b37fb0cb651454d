import CaptionData
import Captioning
import Foundation
import TensorCore
import Testing
import TestSupport

/// `caption attend` end to end, through the built executable (it sits beside the test bundle).
@Suite struct AttendCommandTests {
    static func saveModel(_ architecture: Architecture, vocabulary: [String], to url: URL) throws {
        let config = DecoderConfig(architecture: architecture, vocabularySize: vocabulary.count, featureSize: 6,
                                   embeddingSize: 8, hiddenSize: 16, attentionSize: 8, dropout: 0)
        try CaptionModel(decoder: try makeDecoder(config, source: .initialise(seed: 2)),
                         metadata: ModelMetadata(decoder: config, vocabulary: vocabulary, encoder: EncoderInfo(), provenance: Provenance()))
            .save(to: url)
    }

    @Test func refusesShowTellModelsInOneSentence() throws {
        #expect(throws: Never.self, "build caption first (swift build --build-tests)") { try captionExecutable() }
        let tiny = try TinyShapes()
        let model = tiny.directory.appendingPathComponent("show-tell.safetensors")
        try Self.saveModel(.showTellLSTM, vocabulary: ["<pad>", "<start>", "<end>", "<unk>", "a"], to: model)
        let out = tiny.directory.appendingPathComponent("attention.png")
        let image = tiny.data.appendingPathComponent("Images/" + ShapesDataset.fileName(index: 0, total: 20)).path
        let result = try runCaption(["attend", "--model", model.path, image, "-o", out.path])
        #expect(result.status != 0)
        #expect(result.stderr.contains("is a show-tell-lstm model, which has no attention to draw"))
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }

    @Test func drawsFromFeaturesWithThePictureFromTheDataset() throws {
        let tiny = try TinyShapes()
        let dataset = try tiny.dataset()
        let vocabulary = try Vocabulary(trainingSplitOf: dataset, minCount: 1).tokens
        let model = tiny.directory.appendingPathComponent("adaptive.safetensors")
        try Self.saveModel(.adaptiveAttentionGRU, vocabulary: vocabulary, to: model)
        let out = tiny.directory.appendingPathComponent("attention.png")
        let result = try runCaption(["attend", "--model", model.path, "--features", tiny.features.path, "--image", ShapesDataset.fileName(index: 19, total: 20),
                                   "--data", tiny.data.path, "--max-words", "4", "--panel-size", "64", "-o", out.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("word panels"))
        let png = try Data(contentsOf: out)
        #expect(Array(png.prefix(4)) == [0x89, 0x50, 0x4E, 0x47])
    }
}
