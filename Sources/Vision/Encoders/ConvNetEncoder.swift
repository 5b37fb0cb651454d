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
/// primitives are built once per input shape and kept (the two most recent shapes), with their
/// activation buffers, so repeated calls allocate nothing.
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

    /// Batches smaller than this run on one thread. A single image's layers are so small that a
    /// barrier per layer costs more than the second core saves, and on a shared machine each barrier
    /// can wait a whole scheduler time slice for the other thread (measured: 11 ms on one thread
    /// against 25–400 ms on two, on the loaded 2-core box).
    public var singleThreadBelowBatch = 4

    /// pixels: [B, 3, H, W] normalised, row-major.
    public func encode(_ pixels: [Float], batch: Int, height: Int, width: Int) throws -> EncodedImages {
        let channels = network.inputChannels
        precondition(pixels.count == batch * channels * height * width, "pixels do not fit [\(batch), \(channels), \(height), \(width)]")
        lock.lock(); defer { lock.unlock() }
        Threads.followLoad()
        // oneDNN fixes its work split when a primitive is created, so plan and runs use the same count.
        let threads = batch < singleThreadBelowBatch ? 1 : Threads.count
        omp_set_num_threads(Int32(threads))
        defer { omp_set_num_threads(Int32(Threads.count)) }
        let key = [batch, height, width, threads]
        let plan: ConvNetPlan
        if let cached = plans[key] {
            plan = cached
        } else {
            if planOrder.count >= 2 { plans.removeValue(forKey: planOrder.removeFirst()) }  // bounds the memory kept
            let builder = ConvNetPlanBuilder(batch: batch)
            let x = try builder.input(channels: channels, height: height, width: width)
            plan = try builder.finish(output: try network.build(builder, x))
            plans[key] = plan
            planOrder.append(key)
        }
        let (cells, outputChannels) = (plan.outputShape[1], plan.outputShape[2])
        var grid = [Float](repeating: 0, count: batch * cells * outputChannels)  // [B, L, C]
        try pixels.withUnsafeBufferPointer { input in
            try grid.withUnsafeMutableBufferPointer { output in try plan.run(input: input.baseAddress!, output: output.baseAddress!) }
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
