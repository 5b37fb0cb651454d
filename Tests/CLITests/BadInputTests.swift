import Captioning
import Foundation
import TensorCore
import Testing
import TestSupport

/// SPEC §6 through the real executable: each bad input gets one sentence naming the file (and line),
/// a non-zero exit, and existing outputs stay as they were.
@Suite struct BadInputTests {
    let fixture: CaptionFixture
    static let images = (0..<6).map { "img\($0).png" }

    init() throws {
        fixture = try CaptionFixture("cli-bad", images: Self.images, captions: { i in
            ["a red circle", "the \(i % 2 == 0 ? "red" : "blue") circle", "one circle"]
        }, split: (4, 1), featureSize: 8, seed: 3)
    }

    var dir: URL { fixture.dir }
    func write(_ name: String, _ text: String) throws { try fixture.write(name, text) }
    func path(_ name: String) -> String { fixture.path(name) }

    func train(data: String? = nil, features: String? = nil, out: String, extra: [String] = []) throws -> CaptionRun {
        try runCaption(["train", "--data", data ?? dir.path, "--features", features ?? path("features.safetensors"),
                        "--arch", "show-tell-gru", "--out", out, "--epochs", "1", "--batch-size", "4", "--min-count", "1",
                        "--embed", "8", "--hidden", "8"] + extra)
    }

    @Test func malformedCaptionLineNamesFileAndLine() throws {
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("broken"), withIntermediateDirectories: true)
        try write("broken/captions.txt", "image,caption\nimg0.png,a red circle\nimg1.png,\"an unterminated quote\n")
        let run = try train(data: path("broken"), out: path("model.safetensors"))
        #expect(run.status != 0)
        #expect(run.stderr.contains("broken/captions.txt:3:") && run.stderr.contains("unterminated"), "\(run.stderr)")
    }

    @Test func trainingWritesAModelAndFailuresLeaveItIntact() throws {
        let model = path("model.safetensors")
        let first = try train(out: model)
        #expect(first.status == 0, "\(first.stderr)")
        let saved = try Data(contentsOf: URL(fileURLWithPath: model))
        #expect(try CaptionModel.load(URL(fileURLWithPath: model)).metadata.decoder.architecture == .showTellGRU)

        // A truncated feature file: refused by name, the model from the first run untouched.
        let features = try Data(contentsOf: dir.appendingPathComponent("features.safetensors"))
        try features.prefix(features.count / 2).write(to: dir.appendingPathComponent("cut.safetensors"))
        let cut = try train(features: path("cut.safetensors"), out: model)
        #expect(cut.status != 0 && cut.stderr.contains("cut.safetensors"), "\(cut.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: model)) == saved)

        // A model file in a folder that does not exist: one sentence, no crash.
        let nowhere = try train(out: path("no/such/folder/model.safetensors"))
        #expect(nowhere.status != 0 && nowhere.stderr.contains("no/such/folder"), "\(nowhere.stderr)")
    }

    @Test func strictRefusesCaptionsWithoutFeatures() throws {
        // Training image img3.png has no features (the test image img5.png is not needed for training).
        let present = Self.images.filter { $0 != "img3.png" }
        let names = String(decoding: try JSONEncoder().encode(present), as: UTF8.self)
        try SafeTensors(tensors: ["pooled": Tensor(zeros: [present.count, 8])], metadata: ["images": names, "encoder": "test"])
            .write(to: dir.appendingPathComponent("few.safetensors"))
        let lenient = try train(features: path("few.safetensors"), out: path("lenient.safetensors"))
        #expect(lenient.status == 0, "\(lenient.stderr)")
        #expect(lenient.stderr.contains("1 images") && lenient.stderr.contains("img3.png"), "\(lenient.stderr)")
        let strict = try train(features: path("few.safetensors"), out: path("strict.safetensors"), extra: ["--strict"])
        #expect(strict.status != 0 && strict.stderr.contains("--strict"), "\(strict.stderr)")
        #expect(!FileManager.default.fileExists(atPath: path("strict.safetensors")))
    }

    @Test func foreignOrCorruptModelFilesAreRefused() throws {
        try write("garbage.safetensors", "this is not a model")
        let garbage = try runCaption(["predict", "--model", path("garbage.safetensors"), "--features", path("features.safetensors")])
        #expect(garbage.status != 0 && garbage.stderr.contains("garbage.safetensors"), "\(garbage.stderr)")
        // A safetensors file without Captioner's metadata (e.g. the feature file itself).
        let foreign = try runCaption(["predict", "--model", path("features.safetensors"), "--features", path("features.safetensors")])
        #expect(foreign.status != 0 && foreign.stderr.contains("features.safetensors"), "\(foreign.stderr)")
    }

    /// With the real encoder (after scripts/bootstrap): every unreadable image gets its own line and a
    /// non-zero exit, while the good image in the same call is still captioned.
    @Test func unreadableImagesAreReportedOneLineEach() throws {
        let model = path("model.safetensors")
        let config = DecoderConfig(architecture: .showTellGRU, vocabularySize: 6, featureSize: 1280, embeddingSize: 8, hiddenSize: 8)
        try CaptionModel(decoder: try makeDecoder(config, source: .initialise(seed: 1)),
                         metadata: ModelMetadata(decoder: config, vocabulary: ["<pad>", "<start>", "<end>", "<unk>", "red", "circle"],
                                                 encoder: EncoderInfo(), provenance: Provenance()))
            .save(to: URL(fileURLWithPath: model))
        let good = dir.appendingPathComponent("good.png")
        try writeTinyPNG(to: good)
        let png = try Data(contentsOf: good)
        try Data().write(to: dir.appendingPathComponent("empty.jpg"))
        try png.prefix(png.count / 2).write(to: dir.appendingPathComponent("truncated.png"))
        try Data("GIF89a not really".utf8).write(to: dir.appendingPathComponent("notimage.png"))
        let run = try runCaption(["predict", "--model", model, "--beam", "1", good.path, path("empty.jpg"),
                                  path("truncated.png"), path("notimage.png")])
        if run.stderr.contains("weights") && run.stderr.contains("bootstrap") {
            // No encoder weights on this machine: that refusal must itself be one clear sentence.
            #expect(run.status != 0)
            return
        }
        #expect(run.status == 1, "\(run.stderr)")
        #expect(run.stdout.hasPrefix("good.png\t"), "\(run.stdout)")
        for name in ["empty.jpg", "truncated.png", "notimage.png"] {
            #expect(run.stderr.split(separator: "\n").contains { $0.contains(name) }, "\(name): \(run.stderr)")
        }
        #expect(run.stderr.contains("3 of 4 images could not be captioned"), "\(run.stderr)")
    }
}

/// A real 224×224 PNG: one Shapes scene from `caption synth`.
private func writeTinyPNG(to url: URL) throws {
    let run = try runCaption(["synth", "--out", url.deletingLastPathComponent().appendingPathComponent("synth").path,
                              "--images", "10", "--seed", "2"])
    guard run.status == 0 else { throw CocoaError(.fileWriteUnknown) }
    let images = url.deletingLastPathComponent().appendingPathComponent("synth/Images")
    let first = try #require(try FileManager.default.contentsOfDirectory(atPath: images.path).sorted().first)
    try FileManager.default.copyItem(at: images.appendingPathComponent(first), to: url)
}
