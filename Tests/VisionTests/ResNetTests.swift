import Foundation
import TensorCore
import Testing
import TestSupport
@testable import Vision

@Suite struct ResNetTests {
    /// Narrow torchvision-layout ResNets with seeded random weights (tools/reference/make_encoder_fixtures.py).
    static let narrow: [(file: String, variant: ResNetVariant)] = [
        ("resnet18_narrow", ResNetVariant(name: "resnet18", block: .basic, layers: [2, 2, 2, 2], widths: [8, 16, 24, 32])),
        ("resnet50_narrow", ResNetVariant(name: "resnet50", block: .bottleneck, layers: [1, 2, 1, 1], widths: [8, 8, 16, 16])),
    ]

    @Test(arguments: [0, 1], EfficientNetTests.precisions)
    func narrowResNetMatchesPyTorchOnAPhotoCrop(_ which: Int, precision: MatmulPrecision) throws {
        let (file, variant) = Self.narrow[which]
        let encoder = try ConvNetEncoder.load(variant, weights: fixtures.url("encoders/\(file).pth"))
        let expected = try fixtures.safetensors("encoders/resnet_narrow.safetensors")
        let input = try #require(expected["input"])   // [1, 3, 96, 96]
        let result = try Precision.$matmul.withValue(precision) { try encoder.encode(input.scalars, batch: 1, height: 96, width: 96) }
        let grid = try #require(expected[file + ".grid"])
        #expect([result.batch, result.cells, result.channels] == grid.shape)
        let gridError = relativeError(result.grid, grid.scalars)
        let pooledError = relativeError(result.pooled, expected[file + ".pooled"]!.scalars)
        let logitsError = relativeError(try #require(encoder.classifier).logits(result.pooled, batch: 1), expected[file + ".logits"]!.scalars)
        print("\(file) \(precision.rawValue) vs PyTorch: relative error grid \(gridError), pooled \(pooledError), logits \(logitsError)")
        let tolerance: Float = precision == .float32 ? 1e-3 : 3e-2   // bfloat16 activations: 8-bit mantissas
        #expect(gridError < tolerance && pooledError < tolerance && logitsError < tolerance)
    }

    @Test func resNetWeightsOfTheWrongDepthAreRefused() throws {
        let deeper = ResNetVariant(name: "resnet34", block: .basic, layers: [3, 4, 6, 3], widths: [8, 16, 24, 32])
        #expect(performing: { try ConvNetEncoder.load(deeper, weights: fixtures.url("encoders/resnet18_narrow.pth")) },
                throws: { "\($0)".contains("has no tensor `layer1.2.conv1.weight`, which resnet34 needs") })
        #expect(performing: { try ConvNetEncoder.load(name: "resnet18", weights: fixtures.url("encoders/resnet18_narrow.pth")) },
                throws: { "\($0)".contains("holds `conv1.weight` with shape [8, 3, 7, 7] where resnet18 expects [64, 3, 7, 7]") })
        #expect(performing: { try ConvNetEncoder.load(name: "vgg16", weights: fixtures.url("encoders/resnet18_narrow.pth")) },
                throws: { "\($0)".contains("has no tensor `features.0.weight`, which vgg16 needs") })
    }
}

@Suite struct VGG16Tests {
    @Test(arguments: EfficientNetTests.precisions)
    func narrowVGG16MatchesPyTorchThroughBlock5Conv3(_ precision: MatmulPrecision) throws {
        // torchvision's features.0 … features.29 at 1/32 of the width, seeded random weights.
        let encoder = try ConvNetEncoder.loadVGG16(weights: fixtures.url("encoders/vgg16_narrow.pth"), widthDivisor: 32)
        let expected = try fixtures.safetensors("encoders/vgg16_narrow.safetensors")
        let input = try #require(expected["input"])   // [1, 3, 64, 64]
        let result = try Precision.$matmul.withValue(precision) { try encoder.encode(input.scalars, batch: 1, height: 64, width: 64) }
        let grid = try #require(expected["grid"])     // [1, 4 × 4, 16]
        #expect([result.batch, result.cells, result.channels] == grid.shape)
        let error = relativeError(result.grid, grid.scalars)
        print("narrow VGG16 \(precision.rawValue) vs PyTorch: grid relative error \(error)")
        #expect(error < (precision == .float32 ? 1e-3 : 3e-2))
        #expect(encoder.classifier == nil)
        #expect(throws: EncoderError.self) { try encoder.probabilities(pooled: result.pooled, batch: 1) }
    }
}

@Suite struct ArchitectureNamingTests {
    /// Every full-size architecture's state-dict keys and shapes, as PyTorch builds them
    /// (Fixtures/encoders/architecture_shapes.json; no weights).
    static let shapes: [String: [String: [Int]]] = try! fixtures.json(
        [String: [String: [Int]]].self, "encoders/architecture_shapes.json")

    /// A checkpoint with exactly PyTorch's keys and shapes, filled with small non-zero values
    /// (variances must stay positive for batch-norm folding). VGG16's 120-million-weight classifier,
    /// which the loader discards unread, is given one-element tensors to keep the test fast.
    static func checkpoint(_ name: String) -> [String: RawTensor] {
        var tensors: [String: RawTensor] = [:]
        for (key, fullShape) in shapes[name]! {
            let shape = name == "vgg16" && key.hasPrefix("classifier.") ? [1] : fullShape
            let count = shape.reduce(1, *)
            let values = [Float](repeating: 0.5, count: count)
            tensors[key] = RawTensor(dtype: .f32, shape: shape, data: values.withUnsafeBufferPointer { Data(buffer: $0) })
        }
        return tensors
    }

    @Test(arguments: ["efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"])
    func efficientNetLiteTakesExactlyThePackagesTensors(_ name: String) throws {
        let variant = try #require(EfficientNetLiteVariant.all.first { $0.name == name })
        // Loading checks every key and shape and fails on leftovers, so success means the same architecture.
        let encoder = try ConvNetEncoder.load(variant, tensors: Self.checkpoint(name), file: name + ".pth")
        #expect(encoder.featureChannels == 1280)
        #expect(encoder.preprocessing.crop == variant.resolution)
    }

    @Test(arguments: ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"])
    func resNetTakesExactlyTorchvisionsTensors(_ name: String) throws {
        let variant = try #require(ResNetVariant.all.first { $0.name == name })
        let encoder = try ConvNetEncoder.load(variant, tensors: Self.checkpoint(name), file: name + ".pth")
        #expect(encoder.featureChannels == (variant.block == .basic ? 512 : 2048))
    }

    @Test func vgg16TakesTorchvisionsFeatureTensorsAndIgnoresItsClassifier() throws {
        let encoder = try ConvNetEncoder.loadVGG16(tensors: Self.checkpoint("vgg16"), file: "vgg16.pth")
        #expect(encoder.featureChannels == 512)
        var extra = Self.checkpoint("vgg16")
        extra["fc.bias"] = RawTensor(dtype: .f32, shape: [1], data: Data(count: 4))
        #expect(performing: { try ConvNetEncoder.loadVGG16(tensors: extra, file: "mixed.pth") },
                throws: { "\($0)".contains("mixed.pth has") && "\($0)".contains("that vgg16 does not have") })
    }
}
