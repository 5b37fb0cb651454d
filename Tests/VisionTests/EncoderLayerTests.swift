import Foundation
import TensorCore
import Testing
import TestSupport
@testable import Vision

/// One convolution or pooling layer as a whole network, so it runs through the same plan machinery.
final class SingleLayerNetwork: ConvNetwork {
    let inputChannels: Int
    let outputChannels: Int
    let layer: (ConvNetPlanBuilder, FeatureMap) throws -> FeatureMap

    init(inputChannels: Int, outputChannels: Int, layer: @escaping (ConvNetPlanBuilder, FeatureMap) throws -> FeatureMap) {
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.layer = layer
    }

    func build(_ plan: ConvNetPlanBuilder, _ x: FeatureMap) throws -> FeatureMap { try layer(plan, x) }
}

/// The cases of Fixtures/encoders/layers.safetensors (tools/reference/make_encoder_fixtures.py).
struct LayerCase: Decodable, CustomTestStringConvertible {
    let name: String
    let kind: String
    let kernel: Int
    let stride: Int
    let dilation: Int?
    let groups: Int?
    let padding: PaddingSpec
    let activation: String?
    let batch_norm: Bool?
    let residual: Bool?
    let in_channels: Int
    let out_channels: Int?

    enum PaddingSpec: Decodable {
        case symmetric(Int), same
        init(from decoder: Decoder) throws {
            let value = try decoder.singleValueContainer()
            if let n = try? value.decode(Int.self) { self = .symmetric(n) } else { self = .same }
        }
    }

    var testDescription: String { name }

    static let file: SafeTensors = try! fixtures.safetensors("encoders/layers.safetensors")
    static var all: [LayerCase] {
        try! JSONDecoder().decode([LayerCase].self, from: Data(file.metadata["cases"]!.utf8))
    }
}

/// NCHW → NHWC, the layout plans return ([B, L, C]).
func channelsLast(_ t: Tensor) -> [Float] {
    let (n, c, h, w) = (t.shape[0], t.shape[1], t.shape[2], t.shape[3])
    var out = [Float](repeating: 0, count: t.count)
    for b in 0..<n { for y in 0..<h { for x in 0..<w { for k in 0..<c {
        out[((b * h + y) * w + x) * c + k] = t.data[((b * c + k) * h + y) * w + x]
    } } } }
    return out
}

/// max |a − b| / max |b|: error relative to the reference's scale.
func relativeError(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "\(a.count) values against \(b.count)")
    var worst: Float = 0, scale: Float = 0
    for i in a.indices {
        worst = max(worst, abs(a[i] - b[i]))
        scale = max(scale, abs(b[i]))
    }
    return worst / max(scale, .leastNormalMagnitude)
}

@Suite struct EncoderLayerTests {
    @Test(arguments: LayerCase.all)
    func layerMatchesPyTorch(_ spec: LayerCase) throws {
        let file = LayerCase.file
        let input = try #require(file[spec.name + ".input"])
        let expected = try #require(file[spec.name + ".output"])
        let padding: Padding = { if case .symmetric(let p) = spec.padding { return .symmetric(p) } else { return .same } }()
        let network: SingleLayerNetwork
        if spec.kind == "conv" {
            let activation: Vision.Activation = ["relu": .relu, "relu6": .relu6][spec.activation ?? ""] ?? .none
            let conv = Convolution(inChannels: spec.in_channels, outChannels: spec.out_channels!, kernel: spec.kernel,
                                   stride: spec.stride, dilation: spec.dilation ?? 1, groups: spec.groups ?? 1, padding: padding,
                                   activation: activation, weights: file[spec.name + ".weight"]!.scalars,
                                   bias: file[spec.name + ".bias"]!.scalars)
            if spec.batch_norm == true {
                conv.foldBatchNorm(gamma: file[spec.name + ".bn_weight"]!.scalars, beta: file[spec.name + ".bn_bias"]!.scalars,
                                   mean: file[spec.name + ".bn_mean"]!.scalars, variance: file[spec.name + ".bn_var"]!.scalars,
                                   epsilon: 1e-3)
            }
            let residual = spec.residual == true
            network = SingleLayerNetwork(inputChannels: spec.in_channels, outputChannels: conv.outChannels) { plan, x in
                try plan.convolution(conv, x, residual: residual ? x : nil)
            }
        } else {
            let pool = Pooling(spec.kind == "max_pool" ? .max : .average, kernel: spec.kernel, stride: spec.stride, padding: padding)
            network = SingleLayerNetwork(inputChannels: spec.in_channels, outputChannels: spec.in_channels) { plan, x in
                try plan.pooling(pool, x)
            }
        }
        let encoder = ConvNetEncoder(name: spec.name, preprocessing: .imageNet, network: network, classifier: nil)
        let (n, height, width) = (input.shape[0], input.shape[2], input.shape[3])
        let result = try encoder.encode(input.scalars, batch: n, height: height, width: width)
        #expect(result.cells == expected.shape[2] * expected.shape[3])
        #expect(result.channels == expected.shape[1])
        let error = relativeError(result.grid, channelsLast(expected))
        #expect(error < 1e-5, "\(spec.name): relative error \(error)")
        // A second run reuses the cached plan and its buffers and must give the same numbers.
        let again = try encoder.encode(input.scalars, batch: n, height: height, width: width)
        #expect(again.grid == result.grid)
    }

    @Test func sameThenSymmetricPaddingAmounts() {
        // TensorFlow "SAME": 224 → 112 with stride 2 and a 3×3 kernel pads 0 before and 1 after.
        #expect(Padding.same.amounts(input: 224, kernel: 3, stride: 2, dilation: 1) == (0, 1))
        #expect(Padding.same.amounts(input: 13, kernel: 5, stride: 2, dilation: 1) == (2, 2))
        #expect(Padding.same.amounts(input: 10, kernel: 3, stride: 1, dilation: 2) == (2, 2))
        #expect(Padding.symmetric(3).amounts(input: 20, kernel: 7, stride: 2, dilation: 1) == (3, 3))
    }
}
