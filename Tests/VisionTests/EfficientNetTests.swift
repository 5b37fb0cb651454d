import Foundation
import TensorCore
import Testing
import TestSupport
@testable import Vision

/// The real EfficientNet-Lite weights, present after `scripts/bootstrap`.
func liteWeightsURL(_ variant: EfficientNetLiteVariant) -> URL {
    Fixtures.packageRoot.appendingPathComponent(".cache/weights/\(variant.name.replacingOccurrences(of: "-", with: "_")).pth")
}
let lite0WeightsURL = liteWeightsURL(.lite0)
let liteWeightsPresent = EfficientNetLiteVariant.all.allSatisfy { FileManager.default.fileExists(atPath: liteWeightsURL($0).path) }

/// Fixtures/encoders/lite{0,1,2}_photos.json (tools/reference/make_lite_photo_fixtures.py): PyTorch's
/// top-5 classes and pooled features of three real photos at the variant's input size.
struct LitePhotoExpectation: Decodable {
    let image: String
    let size: Int
    let grid: [Int]
    let top5: [Int]
    let probs: [Float]
    let pooled: [Float]

    var url: URL {
        image == "chelsea_full.png" ? fixtures.url("images/chelsea_full.png") : fixtures.url("encoders/" + image)
    }

    static func load(_ variant: EfficientNetLiteVariant) throws -> [LitePhotoExpectation] {
        let file = "encoders/" + variant.name.replacingOccurrences(of: "efficientnet-", with: "") + "_photos.json"
        return try fixtures.json([Self].self, file)
    }
}

func cosine(_ a: ArraySlice<Float>, _ b: [Float]) -> Double {
    var dot = 0.0, na = 0.0, nb = 0.0
    for (x, y) in zip(a, b) { dot += Double(x) * Double(y); na += Double(x) * Double(x); nb += Double(y) * Double(y) }
    return dot / (na.squareRoot() * nb.squareRoot())
}

@Suite struct EfficientNetTests {
    static let tinyVariant = EfficientNetLiteVariant(name: "efficientnet-lite-tiny", widthCoefficient: 0.125, depthCoefficient: 0.5, resolution: 64)

    @Test func liteArchitectureMatchesThePackage() {
        // Block counts and widths the package builds (round_filters/round_repeats with fixed stem and head).
        #expect(EfficientNetLiteVariant.lite0.blocks.count == 16)
        #expect(EfficientNetLiteVariant.lite1.blocks.count == 21)
        #expect(EfficientNetLiteVariant.lite2.blocks.count == 21)
        #expect(EfficientNetLiteVariant.lite2.blocks.last?.output == 352)
        #expect(Self.tinyVariant.blocks.count == 10)
        // At width 0.125 stage 5 starts 16 → 16 with stride 1, yet the package adds no skip there.
        #expect(Self.tinyVariant.blocks.map(\.residual) == [false, false, false, false, true, false, true, false, true, false])
    }

    @Test func seededTinyLiteMatchesPyTorchOnAPhotoCrop() throws {
        let encoder = try ConvNetEncoder.load(Self.tinyVariant, weights: fixtures.url("encoders/lite_tiny.pth"))
        let expected = try fixtures.safetensors("encoders/lite_tiny.safetensors")
        let input = try #require(expected["input"])   // [1, 3, 64, 64]
        let result = try encoder.encode(input.scalars, batch: 1, height: 64, width: 64)
        #expect(result.cells == 4 && result.channels == 1280)
        let gridError = relativeError(result.grid, expected["grid"]!.scalars)
        let pooledError = relativeError(result.pooled, expected["pooled"]!.scalars)
        let logits = try #require(encoder.classifier).logits(result.pooled, batch: 1)
        let logitsError = relativeError(logits, expected["logits"]!.scalars)
        #expect(gridError < 1e-3, "grid relative error \(gridError)")
        #expect(pooledError < 1e-3, "pooled relative error \(pooledError)")
        #expect(logitsError < 1e-3, "logits relative error \(logitsError)")
        print("tiny EfficientNet-Lite vs PyTorch: relative error grid \(gridError), pooled \(pooledError), logits \(logitsError)")
    }

    @Test(.enabled(if: liteWeightsPresent, "needs .cache/weights/efficientnet_lite{0,1,2}.pth from scripts/bootstrap"),
          arguments: EfficientNetLiteVariant.all)
    func liteTopFiveAndPooledFeaturesMatchPyTorchOnRealPhotos(_ variant: EfficientNetLiteVariant) throws {
        let encoder = try ConvNetEncoder.load(name: variant.name, weights: liteWeightsURL(variant))
        let expectations = try LitePhotoExpectation.load(variant)
        let images = try expectations.map { try ImageDecoder.decode(contentsOf: $0.url) }
        let batch = images.count, size = variant.resolution
        #expect(expectations.allSatisfy { $0.size == size })
        let result = try encoder.encode(encoder.pixels(of: images), batch: batch, height: size, width: size)
        #expect(result.cells == expectations[0].grid.reduce(1, *), "grid \(expectations[0].grid)")
        let probabilities = try encoder.probabilities(pooled: result.pooled, batch: batch)
        for (b, expectation) in expectations.enumerated() {
            let top5 = probabilities[b].indices.sorted { probabilities[b][$0] > probabilities[b][$1] }.prefix(5)
            let similarity = cosine(result.pooled[(b * 1280)..<((b + 1) * 1280)], expectation.pooled)
            print("\(variant.name) \(expectation.image): top-5 \(Array(top5)) (PyTorch \(expectation.top5)), pooled cosine \(similarity)")
            #expect(Array(top5) == expectation.top5, "\(variant.name) \(expectation.image)")
            #expect(similarity >= 0.999, "\(variant.name) \(expectation.image): cosine \(similarity)")
        }
    }

    @Test func checkpointOfAnotherShapeIsRejectedNamingTheKey() throws {
        // The tiny checkpoint is not Lite0: the first mismatch is named.
        #expect { try ConvNetEncoder.load(name: "efficientnet-lite0", weights: fixtures.url("encoders/lite_tiny.pth")) } throws: { error in
            let text = String(describing: error)
            return text.contains("lite_tiny.pth") && text.contains("`_conv_head.weight`") == false && text.contains("expects")
        }
    }

    @Test func badCheckpointsGiveOneSentence() throws {
        let cases = ["checkpoints/empty.pth": "empty", "checkpoints/truncated_zip.pth": "truncated",
                     "checkpoints/foreign.pth": "not", "checkpoints/malicious_zip.pth": "refusing",
                     "checkpoints/state_dict_zip.pth": "has no tensor `_conv_stem.weight`"]
        for (file, phrase) in cases {
            #expect(performing: { try ConvNetEncoder.load(name: "efficientnet-lite0", weights: fixtures.url(file)) }, throws: { error in
                let text = String(describing: error)
                return text.contains(file.split(separator: "/").last!) && text.contains(phrase) && !text.contains("\n")
            })
        }
        #expect(throws: EncoderError.self) { try ConvNetEncoder.load(name: "resnet-9000", weights: lite0WeightsURL) }
    }
}

@Suite struct EncoderBadInputTests {
    @Test func badImagesInABatchAreReportedAndTheRestEncoded() throws {
        let manifest = try ImageManifest.load()
        let bad = manifest.errors.map { fixtures.url("images/" + $0.file) }
        let good = fixtures.url("encoders/coffee.jpg")
        let urls = [good] + bad + [good]
        let preprocessing = EfficientNetTests.tinyVariant.preprocessing
        let batch = ImageBatch.load(urls, preprocessing: preprocessing)
        #expect(batch.decoded == [0, urls.count - 1])
        #expect(batch.pixels.count == 2 * 3 * 64 * 64)
        #expect(batch.failures.map(\.index) == Array(1...bad.count))
        for (failure, expectation) in zip(batch.failures, manifest.errors) {
            // One sentence that names the file and says what is wrong with it.
            #expect(failure.reason.contains(expectation.file), "\(failure.reason)")
            #expect(failure.reason.contains(expectation.contains), "\(failure.reason)")
            #expect(!failure.reason.contains("\n"))
        }
        // The decoded images still encode.
        let encoder = try ConvNetEncoder.load(EfficientNetTests.tinyVariant, weights: fixtures.url("encoders/lite_tiny.pth"))
        let features = try encoder.encode(batch.pixels, batch: 2, height: 64, width: 64)
        #expect(features.pooled[0..<1280] == features.pooled[1280..<2560])
    }

    @Test func missingImageFileIsOneSentence() {
        let batch = ImageBatch.load([URL(fileURLWithPath: "/nonexistent/cat.jpg")], preprocessing: .imageNet)
        #expect(batch.decoded.isEmpty)
        #expect(batch.failures.first?.reason.hasPrefix("/nonexistent/cat.jpg could not be read") == true)
    }
}
