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

    /// float32, and bfloat16 where the CPU multiplies it natively (what `--precision auto` picks there).
    static let precisions: [MatmulPrecision] = Precision.hasNativeBFloat16 ? [.float32, .bfloat16] : [.float32]

    @Test(.enabled(if: liteWeightsPresent, "needs .cache/weights/efficientnet_lite{0,1,2}.pth from scripts/bootstrap"),
          arguments: EfficientNetLiteVariant.all, precisions)
    func liteTopFiveAndPooledFeaturesMatchPyTorchOnRealPhotos(_ variant: EfficientNetLiteVariant, precision: MatmulPrecision) throws {
        let encoder = try ConvNetEncoder.load(name: variant.name, weights: liteWeightsURL(variant))
        let expectations = try LitePhotoExpectation.load(variant)
        let images = try expectations.map { try ImageDecoder.decode(contentsOf: $0.url) }
        let batch = images.count, size = variant.resolution
        #expect(expectations.allSatisfy { $0.size == size })
        let result = try Precision.$matmul.withValue(precision) {
            try encoder.encode(encoder.pixels(of: images), batch: batch, height: size, width: size)
        }
        #expect(result.cells == expectations[0].grid.reduce(1, *), "grid \(expectations[0].grid)")
        let probabilities = try encoder.probabilities(pooled: result.pooled, batch: batch)
        for (b, expectation) in expectations.enumerated() {
            let top5 = probabilities[b].indices.sorted { probabilities[b][$0] > probabilities[b][$1] }.prefix(5)
            let similarity = cosine(result.pooled[(b * 1280)..<((b + 1) * 1280)], expectation.pooled)
            print("\(variant.name) \(precision.rawValue) \(expectation.image): top-5 \(Array(top5)) (PyTorch \(expectation.top5)), pooled cosine \(similarity)")
            if precision == .float32 {
                #expect(Array(top5) == expectation.top5, "\(variant.name) \(expectation.image)")
            } else {
                // bfloat16 products may swap two near-tied classes, never the first.
                #expect(top5.first == expectation.top5.first && Set(top5).intersection(expectation.top5).count >= 4,
                        "\(variant.name) bf16 \(expectation.image)")
            }
            #expect(similarity >= (precision == .float32 ? 0.999 : 0.995), "\(variant.name) \(precision.rawValue) \(expectation.image): cosine \(similarity)")
        }
    }

    @Test(.enabled(if: liteWeightsPresent, "needs .cache/weights/efficientnet_lite0.pth from scripts/bootstrap"), arguments: precisions)
    func batchesRunInGroupsOfFourAsEachImageAlone(_ precision: MatmulPrecision) throws {
        let expectations = try LitePhotoExpectation.load(.lite0)
        let images = try expectations.map { try ImageDecoder.decode(contentsOf: $0.url) }
        let load = { try ConvNetEncoder.load(name: "efficientnet-lite0", weights: lite0WeightsURL) }
        let alone = try load()
        let single = try images.map { image in
            try Precision.$matmul.withValue(precision) { try alone.encode(alone.pixels(of: [image]), batch: 1, height: 224, width: 224).grid }
        }
        // Six images: one group of `imagesPerRun` (4) and one of 2, each image as it was alone.
        let six = Array((images + images).prefix(6))
        #expect(alone.imagesPerRun == 4)
        let together = try Precision.$matmul.withValue(precision) { try alone.encode(alone.pixels(of: six), batch: 6, height: 224, width: 224) }
        let perImage = together.cells * together.channels
        for b in 0..<6 {
            let error = relativeError(Array(together.grid[(b * perImage)..<((b + 1) * perImage)]), single[b % images.count])
            #expect(error < (precision == .float32 ? 1e-5 : 2e-2), "image \(b): relative error \(error)")
        }
    }

    @Test(.enabled(if: liteWeightsPresent, "needs .cache/weights/efficientnet_lite0.pth from scripts/bootstrap"))
    func encodersRunningAtOnceDoNotInterfere() async throws {
        // Separate encoders running at once, in both precisions (a test runner, a server beside a
        // feature run), each get the features they get alone.
        let expectations = try LitePhotoExpectation.load(.lite0)
        let images = try expectations.map { try ImageDecoder.decode(contentsOf: $0.url) }
        let encoders = try (0..<4).map { _ in try ConvNetEncoder.load(name: "efficientnet-lite0", weights: lite0WeightsURL) }
        let pixels = encoders[0].pixels(of: images)
        let cases = encoders.indices.map { (encoder: encoders[$0], precision: Self.precisions[$0 % Self.precisions.count]) }
        func run(_ encoder: ConvNetEncoder, _ precision: MatmulPrecision) throws -> [Float] {
            try Precision.$matmul.withValue(precision) { try encoder.encode(pixels, batch: images.count, height: 224, width: 224).grid }
        }
        let together = try await withThrowingTaskGroup(of: (Int, [[Float]]).self) { group in
            for (k, c) in cases.enumerated() {
                group.addTask { (k, try (0..<6).map { _ in try run(c.encoder, c.precision) }) }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        // Each precision once more, alone, on a fresh encoder (the ones above built their plans at once).
        let alone = try cases.map { try run(ConvNetEncoder.load(name: "efficientnet-lite0", weights: lite0WeightsURL), $0.precision) }
        for (k, c) in cases.enumerated() {
            for grid in together[k]! {
                #expect(relativeError(grid, alone[k]) < 1e-6, "encoder \(k) (\(c.precision.rawValue)) disagrees with itself alone")
            }
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
