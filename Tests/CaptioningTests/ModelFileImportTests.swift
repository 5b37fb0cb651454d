import Foundation
import Testing
import TestSupport
import TensorCore
import Vision
@testable import Captioning

/// A decoder trained in PyTorch with the twin loads through the .pth reader and computes what
/// PyTorch computed.
@Suite struct TwinImportTests {
    func tensors(_ name: String) throws -> [String: Tensor] {
        try CheckpointReader.read(fixtures.url(name)).mapValues { Tensor(shape: $0.shape, values: try $0.floats()) }
    }

    @Test(arguments: [("twin_soft_attention.pth", Architecture.softAttentionGRU), ("twin_show_tell_lstm_legacy.pth", .showTellLSTM)])
    func importedTwinMatchesPyTorch(_ file: String, _ arch: Architecture) throws {
        let vocabulary = ["<pad>", "<start>", "<end>", "<unk>"] + (4..<19).map { "w\($0)" }
        let model = try CaptionModel.fromTwin(arch, stateDict: try tensors(file), origin: file, vocabulary: vocabulary,
                                              encoder: EncoderInfo(), dropout: 0)
        #expect(model.metadata.decoder.hiddenSize == 12 && model.metadata.decoder.featureSize == 10)
        let f = DecoderParityTests.f
        let grid = f["grid"]!
        let features = ImageFeatures(pooled: Tape.withoutRecording { grid.mean(axis: 1) }, grid: grid)
        let (logits, _) = Tape.withoutRecording { model.decoder.forward(features, tokens: f.integers["tokens"]!) }
        expectClose(logits, f["\(arch.rawValue)/logits"], tolerance: 1e-5, "\(arch) logits after import")
        // Export writes the same state dict back.
        for (name, t) in model.decoder.namedParameters { #expect(t.scalars == f["\(arch.rawValue)/param.\(name)"]!.scalars) }
    }

    @Test func importRejectsTheWrongArchitectureAndVocabulary() throws {
        let weights = try tensors("twin_soft_attention.pth")
        let vocabulary = ["<pad>", "<start>", "<end>", "<unk>"] + (4..<19).map { "w\($0)" }
        #expect(throws: (any Error).self) {
            _ = try CaptionModel.fromTwin(.adaptiveAttentionGRU, stateDict: weights, origin: "x.pth", vocabulary: vocabulary, encoder: EncoderInfo())
        }
        #expect(throws: ModelFileError.self) {
            _ = try CaptionModel.fromTwin(.softAttentionGRU, stateDict: weights, origin: "x.pth", vocabulary: Array(vocabulary.prefix(10)), encoder: EncoderInfo())
        }
    }
}
