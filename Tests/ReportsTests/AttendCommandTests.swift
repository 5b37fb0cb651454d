import CaptionData
import Captioning
import Foundation
import TensorCore
import Testing

/// `caption attend` end to end, through the built executable (it sits beside the test bundle).
@Suite struct AttendCommandTests {
    static var executable: URL {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for folder in [beside, beside.deletingLastPathComponent()] {
            let candidate = folder.appendingPathComponent("caption")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/release/caption")
    }

    static func run(_ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let output = Pipe(), error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let out = output.fileHandleForReading.readDataToEndOfFile(), err = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }

    static func saveModel(_ architecture: Architecture, vocabulary: [String], to url: URL) throws {
        let config = DecoderConfig(architecture: architecture, vocabularySize: vocabulary.count, featureSize: 6,
                                   embeddingSize: 8, hiddenSize: 16, attentionSize: 8, dropout: 0)
        try CaptionModel(decoder: try makeDecoder(config, source: .initialise(seed: 2)),
                         metadata: ModelMetadata(decoder: config, vocabulary: vocabulary, encoder: EncoderInfo(), provenance: Provenance()))
            .save(to: url)
    }

    @Test func refusesShowTellModelsInOneSentence() throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.executable.path), "build caption first (swift build --build-tests)")
        let tiny = try TinyShapes()
        defer { tiny.remove() }
        let model = tiny.directory.appendingPathComponent("show-tell.safetensors")
        try Self.saveModel(.showTellLSTM, vocabulary: ["<pad>", "<start>", "<end>", "<unk>", "a"], to: model)
        let out = tiny.directory.appendingPathComponent("attention.png")
        let image = tiny.data.appendingPathComponent("Images/" + ShapesDataset.fileName(index: 0, total: 20)).path
        let result = try Self.run(["attend", "--model", model.path, image, "-o", out.path])
        #expect(result.status != 0)
        #expect(result.error.contains("is a show-tell-lstm model, which has no attention to draw"))
        #expect(result.error.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }

    @Test func drawsFromFeaturesWithThePictureFromTheDataset() throws {
        let tiny = try TinyShapes()
        defer { tiny.remove() }
        let dataset = try tiny.dataset()
        let vocabulary = try Vocabulary(trainingSplitOf: dataset, minCount: 1).tokens
        let model = tiny.directory.appendingPathComponent("adaptive.safetensors")
        try Self.saveModel(.adaptiveAttentionGRU, vocabulary: vocabulary, to: model)
        let out = tiny.directory.appendingPathComponent("attention.png")
        let result = try Self.run(["attend", "--model", model.path, "--features", tiny.features.path, "--image", ShapesDataset.fileName(index: 19, total: 20),
                                   "--data", tiny.data.path, "--max-words", "4", "--panel-size", "64", "-o", out.path])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("word panels"))
        let png = try Data(contentsOf: out)
        #expect(Array(png.prefix(4)) == [0x89, 0x50, 0x4E, 0x47])
    }
}
