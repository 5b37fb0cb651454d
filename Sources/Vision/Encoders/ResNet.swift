import Foundation

/// torchvision's ResNet (v1.5: a bottleneck's stride sits on its 3×3 convolution), with its
/// state-dict names. The grid is layer4's output: 7×7 at 224 px, 512 (basic) or 2048 (bottleneck) channels.
public struct ResNetVariant: Sendable, Equatable {
    public enum Block: Sendable { case basic, bottleneck }
    public let name: String
    public let block: Block
    public let layers: [Int]
    /// Channels of the stem and of each stage's blocks (before a bottleneck's 4× expansion).
    public let widths: [Int]

    public init(name: String, block: Block, layers: [Int], widths: [Int] = [64, 128, 256, 512]) {
        precondition(layers.count == 4 && widths.count == 4, "a ResNet has four stages")
        self.name = name
        self.block = block
        self.layers = layers
        self.widths = widths
    }

    public static let resnet18 = ResNetVariant(name: "resnet18", block: .basic, layers: [2, 2, 2, 2])
    public static let resnet34 = ResNetVariant(name: "resnet34", block: .basic, layers: [3, 4, 6, 3])
    public static let resnet50 = ResNetVariant(name: "resnet50", block: .bottleneck, layers: [3, 4, 6, 3])
    public static let resnet101 = ResNetVariant(name: "resnet101", block: .bottleneck, layers: [3, 4, 23, 3])
    public static let resnet152 = ResNetVariant(name: "resnet152", block: .bottleneck, layers: [3, 8, 36, 3])
    public static let all = [resnet18, resnet34, resnet50, resnet101, resnet152]

    var expansion: Int { block == .basic ? 1 : 4 }
}

final class ResNet: ConvNetwork {
    struct Block {
        /// conv1…conv3 (basic blocks have two); the last one's ReLU runs after the shortcut is added.
        let convolutions: [Convolution]
        let downsample: Convolution?
    }
    let stem: Convolution
    let blocks: [Block]
    let outputChannels: Int
    static let batchNormEpsilon = 1e-5

    init(_ variant: ResNetVariant, weights: StateDict) throws {
        let eps = Self.batchNormEpsilon
        stem = try weights.convolution("conv1", batchNorm: "bn1", epsilon: eps, inChannels: 3, outChannels: variant.widths[0],
                                       kernel: 7, stride: 2, padding: .symmetric(3), activation: .relu)
        var inChannels = variant.widths[0]
        var blocks: [Block] = []
        for (stage, (count, width)) in zip(variant.layers, variant.widths).enumerated() {
            for j in 0..<count {
                let prefix = "layer\(stage + 1).\(j)."
                let stride = j == 0 && stage > 0 ? 2 : 1
                let out = width * variant.expansion
                var convolutions: [Convolution] = []
                switch variant.block {
                case .basic:
                    convolutions.append(try weights.convolution(prefix + "conv1", batchNorm: prefix + "bn1", epsilon: eps, inChannels: inChannels,
                                                                outChannels: width, kernel: 3, stride: stride, padding: .symmetric(1), activation: .relu))
                    convolutions.append(try weights.convolution(prefix + "conv2", batchNorm: prefix + "bn2", epsilon: eps, inChannels: width,
                                                                outChannels: width, kernel: 3, padding: .symmetric(1), activation: .relu))
                case .bottleneck:
                    convolutions.append(try weights.convolution(prefix + "conv1", batchNorm: prefix + "bn1", epsilon: eps, inChannels: inChannels,
                                                                outChannels: width, kernel: 1, padding: .symmetric(0), activation: .relu))
                    convolutions.append(try weights.convolution(prefix + "conv2", batchNorm: prefix + "bn2", epsilon: eps, inChannels: width,
                                                                outChannels: width, kernel: 3, stride: stride, padding: .symmetric(1), activation: .relu))
                    convolutions.append(try weights.convolution(prefix + "conv3", batchNorm: prefix + "bn3", epsilon: eps, inChannels: width,
                                                                outChannels: out, kernel: 1, padding: .symmetric(0), activation: .relu))
                }
                let downsample = stride != 1 || inChannels != out
                    ? try weights.convolution(prefix + "downsample.0", batchNorm: prefix + "downsample.1", epsilon: eps, inChannels: inChannels,
                                              outChannels: out, kernel: 1, stride: stride, padding: .symmetric(0), activation: .none)
                    : nil
                blocks.append(Block(convolutions: convolutions, downsample: downsample))
                inChannels = out
            }
        }
        self.blocks = blocks
        outputChannels = inChannels
    }

    func build(_ plan: ConvNetPlanBuilder, _ input: FeatureMap) throws -> FeatureMap {
        let stemOut = try plan.convolution(stem, input)
        var x = try plan.pooling(Pooling(.max, kernel: 3, stride: 2, padding: .symmetric(1)), stemOut)
        plan.release(stemOut)
        for block in blocks {
            // The shortcut is computed first so the last convolution can add into its buffer (sum
            // post-op) before the ReLU it carries; without a downsample, x itself is that buffer.
            let shortcut = try block.downsample.map { try plan.convolution($0, x) } ?? x
            var h = x
            for conv in block.convolutions.dropLast() {
                let next = try plan.convolution(conv, h)
                if h.place != x.place { plan.release(h) }
                h = next
            }
            let out = try plan.convolution(block.convolutions.last!, h, residual: shortcut)
            plan.release(h)
            if block.downsample != nil { plan.release(x) }
            x = out
        }
        return x
    }
}

/// torchvision's VGG16 `features` up to block5_conv3 and its ReLU (`features.0` … `features.29`):
/// a 14×14×512 grid at 224 px. Its classifier is not used (it needs 7×7 pooling and three layers).
final class VGG16Features: ConvNetwork {
    static let configuration: [Int?] = [64, 64, nil, 128, 128, nil, 256, 256, 256, nil, 512, 512, 512, nil, 512, 512, 512]
    /// Convolutions, with nil standing for a 2×2 max pooling.
    let layers: [Convolution?]
    let outputChannels: Int

    /// - Parameter widthDivisor: divides every layer's channels (1 for the real VGG16; tests use narrow copies).
    init(weights: StateDict, widthDivisor: Int = 1) throws {
        var layers: [Convolution?] = []
        var index = 0, inChannels = 3
        for entry in Self.configuration {
            guard let out = entry.map({ $0 / widthDivisor }) else { layers.append(nil); index += 1; continue }
            let key = "features.\(index)"
            layers.append(Convolution(inChannels: inChannels, outChannels: out, kernel: 3, padding: .symmetric(1), activation: .relu,
                                      weights: try weights.take(key + ".weight", [out, inChannels, 3, 3]),
                                      bias: try weights.take(key + ".bias", [out])))
            index += 2  // each convolution is followed by its ReLU module
            inChannels = out
        }
        self.layers = layers
        outputChannels = inChannels
    }

    func build(_ plan: ConvNetPlanBuilder, _ input: FeatureMap) throws -> FeatureMap {
        var x = input
        for layer in layers {
            let next = try layer.map { try plan.convolution($0, x) } ?? plan.pooling(Pooling(.max, kernel: 2, stride: 2), x)
            plan.release(x)
            x = next
        }
        return x
    }
}
