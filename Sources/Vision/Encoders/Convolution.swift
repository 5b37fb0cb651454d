import CDNNL
import Foundation
import TensorCore

/// How a convolution or pooling window is padded.
public enum Padding: Sendable, Equatable {
    /// The same number of zeros on every side (PyTorch's `padding=p`).
    case symmetric(Int)
    /// TensorFlow's "SAME": output = ceil(input / stride), the odd zero goes bottom/right.
    case same

    /// (before, after) zeros along one axis of length `input`.
    func amounts(input: Int, kernel: Int, stride: Int, dilation: Int) -> (before: Int, after: Int) {
        switch self {
        case .symmetric(let p):
            return (p, p)
        case .same:
            let output = (input + stride - 1) / stride
            let total = max((output - 1) * stride + (kernel - 1) * dilation + 1 - input, 0)
            return (total / 2, total - total / 2)
        }
    }
}

/// The activation fused into a convolution as a oneDNN post-op.
public enum Activation: Sendable, Equatable {
    case none, relu, relu6
}

/// A 2-D convolution for inference: weights [O, I/groups, KH, KW] with any batch-norm already folded
/// in, a bias [O], and a fused activation. Weights are reordered into whatever blocked layout the
/// chosen oneDNN kernel wants the first time that layout is asked for, then kept.
public final class Convolution {
    public let inChannels: Int, outChannels: Int
    public let kernel: Int, stride: Int, dilation: Int, groups: Int
    public let padding: Padding
    public let activation: Activation
    /// [O, I/groups, KH, KW], row-major (PyTorch's layout).
    public private(set) var weights: [Float]
    /// [O]
    public private(set) var bias: [Float]
    private var reorderedWeights: [(layout: dnnl_memory_desc_t, buffer: AlignedBuffer)] = []
    private var biasBuffer: AlignedBuffer?
    private let lock = NSLock()

    public init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, dilation: Int = 1, groups: Int = 1,
                padding: Padding = .symmetric(0), activation: Activation = .none, weights: [Float], bias: [Float]? = nil) {
        precondition(inChannels % groups == 0 && outChannels % groups == 0, "channels must divide into groups")
        precondition(weights.count == outChannels * (inChannels / groups) * kernel * kernel, "convolution weights do not fit their shape")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.dilation = dilation
        self.groups = groups
        self.padding = padding
        self.activation = activation
        self.weights = weights
        self.bias = bias ?? [Float](repeating: 0, count: outChannels)
    }

    public var weightShape: [Int] { [outChannels, inChannels / groups, kernel, kernel] }

    /// Folds an inference batch-norm that follows this convolution into its weights and bias:
    /// y = γ (conv(x) + b − μ) / √(σ² + ε) + β. Computed in Double so folding adds no visible error.
    public func foldBatchNorm(gamma: [Float], beta: [Float], mean: [Float], variance: [Float], epsilon: Double) {
        precondition(gamma.count == outChannels && beta.count == outChannels && mean.count == outChannels && variance.count == outChannels)
        let perOutput = weights.count / outChannels
        for o in 0..<outChannels {
            let scale = Double(gamma[o]) / (Double(variance[o]) + epsilon).squareRoot()
            for i in 0..<perOutput { weights[o * perOutput + i] = Float(Double(weights[o * perOutput + i]) * scale) }
            bias[o] = Float((Double(bias[o]) - Double(mean[o])) * scale + Double(beta[o]))
        }
        lock.lock(); reorderedWeights.removeAll(); biasBuffer = nil; lock.unlock()
    }

    /// The bias where oneDNN can read it for the life of this layer.
    func biasPointer() -> UnsafeMutableRawPointer {
        lock.lock(); defer { lock.unlock() }
        if let biasBuffer { return biasBuffer.pointer }
        let buffer = AlignedBuffer(bytes: outChannels * MemoryLayout<Float>.stride)
        bias.withUnsafeBytes { buffer.pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        biasBuffer = buffer
        return buffer.pointer
    }

    /// oneDNN's logical weights dims: grouped convolutions carry a leading group axis.
    var weightDims: [Int] {
        groups == 1 ? weightShape : [groups, outChannels / groups, inChannels / groups, kernel, kernel]
    }

    /// The weights in `layout`, reordered from PyTorch's layout on first use.
    func weights(in layout: dnnl_memory_desc_t) throws -> UnsafeMutableRawPointer {
        lock.lock(); defer { lock.unlock() }
        if let hit = reorderedWeights.first(where: { sameLayout($0.layout, layout) }) { return hit.buffer.pointer }
        let plain = try memoryDescriptor(weightDims, groups == 1 ? dnnl_oihw : dnnl_goihw)
        let buffer = AlignedBuffer(bytes: byteSize(layout))
        try weights.withUnsafeBytes { try reorderNow(from: plain, $0.baseAddress!, to: layout, buffer.pointer) }
        reorderedWeights.append((layout, buffer))
        return buffer.pointer
    }

    /// Output height/width for an input of `height`×`width`.
    func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        let span = (kernel - 1) * dilation + 1
        let ph = padding.amounts(input: height, kernel: kernel, stride: stride, dilation: dilation)
        let pw = padding.amounts(input: width, kernel: kernel, stride: stride, dilation: dilation)
        return ((height + ph.before + ph.after - span) / stride + 1, (width + pw.before + pw.after - span) / stride + 1)
    }
}

/// Max or average pooling (average counts padded zeros, as PyTorch's default `count_include_pad=True`).
public struct Pooling: Sendable, Equatable {
    public enum Kind: Sendable { case max, average }
    public var kind: Kind
    public var kernel: Int, stride: Int
    public var padding: Padding

    public init(_ kind: Kind, kernel: Int, stride: Int, padding: Padding = .symmetric(0)) {
        self.kind = kind
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
    }

    func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        let ph = padding.amounts(input: height, kernel: kernel, stride: stride, dilation: 1)
        let pw = padding.amounts(input: width, kernel: kernel, stride: stride, dilation: 1)
        return ((height + ph.before + ph.after - kernel) / stride + 1, (width + pw.before + pw.after - kernel) / stride + 1)
    }
}
