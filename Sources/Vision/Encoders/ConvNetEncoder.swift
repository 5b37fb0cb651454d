import CDNNL
import Foundation
import TensorCore

/// A convolutional network expressed as oneDNN steps for a plan builder.
protocol ConvNetwork: AnyObject {
    /// Channels of the input image (3 for RGB).
    var inputChannels: Int { get }
    /// Channels of the final feature map.
    var outputChannels: Int { get }
    /// Appends the network's layers for input `x` and returns the final feature map.
    func build(_ plan: ConvNetPlanBuilder, _ x: FeatureMap) throws -> FeatureMap
}

extension ConvNetwork {
    var inputChannels: Int { 3 }
}

/// The ImageNet classifier on top of the pooled features: logits = W · pooled + b.
public struct LinearClassifier: Sendable {
    /// [classes, C]
    public let weights: [Float]
    /// [classes]
    public let bias: [Float]
    public var classes: Int { bias.count }

    /// pooled [B, C] → logits [B, classes].
    public func logits(_ pooled: [Float], batch: Int) -> [Float] {
        let channels = weights.count / classes
        precondition(pooled.count == batch * channels, "pooled features do not fit [\(batch), \(channels)]")
        var out = [Float](repeating: 0, count: batch * classes)
        for b in 0..<batch {
            for k in 0..<classes {
                var sum: Float = 0
                for c in 0..<channels { sum += weights[k * channels + c] * pooled[b * channels + c] }
                out[b * classes + k] = sum + bias[k]
            }
        }
        return out
    }
}

/// What an encoder makes of a batch of images.
public struct EncodedImages: Sendable {
    public let batch: Int, cells: Int, channels: Int
    /// [B, L, C], cells row-major over (h, w).
    public var grid: [Float]
    /// [B, C]: the mean of the grid over its L cells.
    public var pooled: [Float]
}

/// A pretrained CNN that turns preprocessed images into a feature grid and its mean. oneDNN
/// primitives are built once per input shape, team size and precision and kept (the four most
/// recent), with their activation buffers, so repeated calls allocate nothing. Under `--precision
/// bf16` the convolutions multiply bfloat16 and keep activations in bfloat16 between layers.
public final class ConvNetEncoder: @unchecked Sendable {
    public let name: String
    public let preprocessing: Preprocessing
    public let classifier: LinearClassifier?
    let network: ConvNetwork
    public var featureChannels: Int { network.outputChannels }
    private var plans: [[Int]: ConvNetPlan] = [:]
    private var planOrder: [[Int]] = []
    private let lock = NSLock()

    init(name: String, preprocessing: Preprocessing, network: ConvNetwork, classifier: LinearClassifier?) {
        self.name = name
        self.preprocessing = preprocessing
        self.network = network
        self.classifier = classifier
    }

    /// Images that go through the network together. A few images' activations stay in the caches
    /// from one layer to the next, where a whole batch's are written out to memory and read back
    /// (`docs/performance.md`, "The encoder").
    public let imagesPerRun = 4

    /// pixels: [B, 3, H, W] normalised, row-major.
    public func encode(_ pixels: [Float], batch: Int, height: Int, width: Int) throws -> EncodedImages {
        let channels = network.inputChannels
        precondition(pixels.count == batch * channels * height * width, "pixels do not fit [\(batch), \(channels), \(height), \(width)]")
        lock.lock(); defer { lock.unlock() }
        Threads.followLoad()
        // oneDNN fixes its work split when a primitive is created, so each team size has its own plan.
        // The calling thread (a server's worker, say) may not have the team size set yet.
        let threads = Threads.count
        if omp_get_max_threads() != Int32(threads) { omp_set_num_threads(Int32(threads)) }
        let precision = Precision.current
        let chunk = min(batch, imagesPerRun)
        var grid: [Float] = []
        var cells = 0, outputChannels = 0
        for first in stride(from: 0, to: batch, by: chunk) {
            let n = min(chunk, batch - first)
            let plan = try self.plan(batch: n, height: height, width: width, threads: threads, precision: precision)
            (cells, outputChannels) = (plan.outputShape[1], plan.outputShape[2])
            if grid.isEmpty { grid = [Float](repeating: 0, count: batch * cells * outputChannels) }  // [B, L, C]
            try pixels.withUnsafeBufferPointer { input in
                try grid.withUnsafeMutableBufferPointer { output in
                    try plan.run(input: input.baseAddress! + first * channels * height * width,
                                 output: output.baseAddress! + first * cells * outputChannels)
                }
            }
        }
        var pooled = [Float](repeating: 0, count: batch * outputChannels)  // [B, C]
        grid.withUnsafeBufferPointer { g in
            pooled.withUnsafeMutableBufferPointer { p in
                for b in 0..<batch {
                    for l in 0..<cells {
                        let row = (b * cells + l) * outputChannels
                        for c in 0..<outputChannels { p[b * outputChannels + c] += g[row + c] }
                    }
                    for c in 0..<outputChannels { p[b * outputChannels + c] /= Float(cells) }
                }
            }
        }
        return EncodedImages(batch: batch, cells: cells, channels: outputChannels, grid: grid, pooled: pooled)
    }

    /// The plan for one input shape on one team in one precision, built on first use.
    private func plan(batch: Int, height: Int, width: Int, threads: Int, precision: MatmulPrecision) throws -> ConvNetPlan {
        let key = [batch, height, width, threads, precision == .bfloat16 ? 1 : 0]
        if let cached = plans[key] { return cached }
        if planOrder.count >= 4 { plans.removeValue(forKey: planOrder.removeFirst()) }  // bounds the memory kept
        OneDNN.shared.creationLock.lock(); defer { OneDNN.shared.creationLock.unlock() }
        let builder = ConvNetPlanBuilder(batch: batch, precision: precision)
        let x = try builder.input(channels: network.inputChannels, height: height, width: width)
        let plan = try builder.finish(output: try network.build(builder, x))
        plans[key] = plan
        planOrder.append(key)
        return plan
    }

    /// Decodes, resizes, crops and normalises each image file: [B, 3, crop, crop].
    public func pixels(of images: [RGBImage]) -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(images.count * 3 * preprocessing.crop * preprocessing.crop)
        for image in images { out.append(contentsOf: preprocessing.tensor(for: image)) }
        return out
    }

    /// Softmax probabilities over the classifier's classes for pooled [B, C].
    public func probabilities(pooled: [Float], batch: Int) throws -> [[Float]] {
        guard let classifier else {
            throw EncoderError("\(name) has no classification layer here (only its convolutional features are used): classify with efficientnet-lite0 or a resnet.")
        }
        let logits = classifier.logits(pooled, batch: batch)
        return (0..<batch).map { b in
            let row = logits[(b * classifier.classes)..<((b + 1) * classifier.classes)]
            let top = row.max() ?? 0
            let exps = row.map { Foundation.exp($0 - top) }
            let total = exps.reduce(0, +)
            return exps.map { $0 / total }
        }
    }
}
