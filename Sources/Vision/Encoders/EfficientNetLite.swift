import Foundation

/// EfficientNet-Lite (ReLU6, no squeeze-excitation, stem and head not scaled) exactly as the PyPI
/// package `efficientnet-lite-pytorch` 0.1.0 builds it, with its lukemelas-style state-dict names.
public struct EfficientNetLiteVariant: Sendable, Equatable {
    public let name: String
    public let widthCoefficient: Double
    public let depthCoefficient: Double
    public let resolution: Int

    public static let lite0 = EfficientNetLiteVariant(name: "efficientnet-lite0", widthCoefficient: 1.0, depthCoefficient: 1.0, resolution: 224)
    public static let lite1 = EfficientNetLiteVariant(name: "efficientnet-lite1", widthCoefficient: 1.0, depthCoefficient: 1.1, resolution: 240)
    public static let lite2 = EfficientNetLiteVariant(name: "efficientnet-lite2", widthCoefficient: 1.1, depthCoefficient: 1.2, resolution: 260)
    public static let all = [lite0, lite1, lite2]

    public init(name: String, widthCoefficient: Double, depthCoefficient: Double, resolution: Int) {
        self.name = name
        self.widthCoefficient = widthCoefficient
        self.depthCoefficient = depthCoefficient
        self.resolution = resolution
    }

    /// torchvision-style evaluation recipe at this variant's resolution (shorter side scaled by 256/224).
    public var preprocessing: Preprocessing {
        Preprocessing(resizeShorter: Int((Double(resolution) * 256 / 224).rounded()), crop: resolution)
    }

    /// The package's `round_filters`: scale by the width, round to a multiple of 8, never drop > 10%.
    func roundFilters(_ filters: Int) -> Int {
        let scaled = Double(filters) * widthCoefficient
        var rounded = max(8, Int(scaled + 4) / 8 * 8)
        if Double(rounded) < 0.9 * scaled { rounded += 8 }
        return rounded
    }

    /// (repeats, kernel, stride, expand ratio, input filters, output filters) of the seven stages.
    static let stages: [(repeats: Int, kernel: Int, stride: Int, expand: Int, input: Int, output: Int)] = [
        (1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
        (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320),
    ]

    struct BlockShape {
        let input: Int, output: Int, expand: Int, kernel: Int, stride: Int
        /// The package compares a stage's first stride (a list, e.g. `[1]`) with the integer 1, which
        /// is never equal, so only the repeated blocks of a stage add their input back.
        let residual: Bool
    }

    /// Every MBConv block in order; the first and last stages keep their depth ("fix_head_stem").
    var blocks: [BlockShape] {
        var out: [BlockShape] = []
        for (i, stage) in Self.stages.enumerated() {
            let fixed = i == 0 || i == Self.stages.count - 1
            let repeats = fixed ? stage.repeats : Int((depthCoefficient * Double(stage.repeats)).rounded(.up))
            let input = i == 0 ? 32 : roundFilters(stage.input)
            let output = roundFilters(stage.output)
            out.append(BlockShape(input: input, output: output, expand: stage.expand, kernel: stage.kernel, stride: stage.stride, residual: false))
            for _ in 1..<max(repeats, 1) {
                out.append(BlockShape(input: output, output: output, expand: stage.expand, kernel: stage.kernel, stride: 1, residual: true))
            }
        }
        return out
    }
}

final class EfficientNetLite: ConvNetwork {
    struct Block {
        let expand: Convolution?
        let depthwise: Convolution
        let project: Convolution
        let residual: Bool
    }
    let stem: Convolution
    let blocks: [Block]
    let head: Convolution
    var outputChannels: Int { head.outChannels }

    static let batchNormEpsilon = 1e-3
    static let headChannels = 1280

    init(_ variant: EfficientNetLiteVariant, weights: StateDict) throws {
        let eps = Self.batchNormEpsilon
        stem = try weights.convolution("_conv_stem", batchNorm: "_bn0", epsilon: eps, inChannels: 3, outChannels: 32,
                                       kernel: 3, stride: 2, padding: .same, activation: .relu6)
        var blocks: [Block] = []
        for (j, shape) in variant.blocks.enumerated() {
            let prefix = "_blocks.\(j)."
            let hidden = shape.input * shape.expand
            let expand = shape.expand == 1 ? nil : try weights.convolution(
                prefix + "_expand_conv", batchNorm: prefix + "_bn0", epsilon: eps, inChannels: shape.input, outChannels: hidden,
                kernel: 1, padding: .same, activation: .relu6)
            let depthwise = try weights.convolution(
                prefix + "_depthwise_conv", batchNorm: prefix + "_bn1", epsilon: eps, inChannels: hidden, outChannels: hidden,
                kernel: shape.kernel, stride: shape.stride, groups: hidden, padding: .same, activation: .relu6)
            let project = try weights.convolution(
                prefix + "_project_conv", batchNorm: prefix + "_bn2", epsilon: eps, inChannels: hidden, outChannels: shape.output,
                kernel: 1, padding: .same, activation: .none)
            blocks.append(Block(expand: expand, depthwise: depthwise, project: project,
                                residual: shape.residual))
        }
        self.blocks = blocks
        head = try weights.convolution("_conv_head", batchNorm: "_bn1", epsilon: eps, inChannels: variant.blocks.last!.output,
                                       outChannels: Self.headChannels, kernel: 1, padding: .same, activation: .relu6)
    }

    func build(_ plan: ConvNetPlanBuilder, _ input: FeatureMap) throws -> FeatureMap {
        var x = try plan.convolution(stem, input)
        for block in blocks {
            let expanded = try block.expand.map { try plan.convolution($0, x) } ?? x
            let spatial = try plan.convolution(block.depthwise, expanded)
            if block.expand != nil { plan.release(expanded) }
            let out: FeatureMap
            if block.residual {
                out = try plan.convolution(block.project, spatial, residual: x)  // adds into x's buffer
            } else {
                out = try plan.convolution(block.project, spatial)
                plan.release(x)
            }
            plan.release(spatial)
            x = out
        }
        let features = try plan.convolution(head, x)
        plan.release(x)
        return features
    }
}

