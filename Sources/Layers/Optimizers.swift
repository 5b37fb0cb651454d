import Foundation
import TensorCore

/// Updates parameters from their gradients. State (moments, step counts) can be saved into a
/// safetensors file and restored, so a resumed run continues exactly.
public protocol Optimizer: AnyObject {
    var learningRate: Float { get set }
    /// The parameters, under their state-dict names.
    var parameters: [(name: String, tensor: Tensor)] { get }
    /// One update from the gradients, each read as `gradientScale`·g: the same values as scaling
    /// the gradients in place first (`clipGradientNorm`), without that pass over them.
    func step(gradientScale: Float)
    func stateDict() -> SafeTensors
    func loadState(_ state: SafeTensors) throws
}

extension Optimizer {
    public func step() { step(gradientScale: 1) }
    public func zeroGrad() { for (_, p) in parameters { p.grad = nil } }
}

public struct OptimizerStateError: Error, CustomStringConvertible {
    public let description: String
}

/// Adam and AdamW with PyTorch's semantics (`torch.optim.Adam` / `AdamW`, amsgrad off):
///   g ← g + λθ                      (Adam's L2 weight decay)     θ ← θ(1 − ηλ)   (AdamW, decoupled)
///   m ← lerp(m, g, 1 − β₁)          v ← β₂v + (1 − β₂)g²
///   θ ← θ − η/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
public final class Adam: Optimizer {
    public var learningRate: Float
    public let beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float
    public let decoupledWeightDecay: Bool
    public let parameters: [(name: String, tensor: Tensor)]
    public private(set) var stepCount = 0
    private var firstMoments: [Tensor], secondMoments: [Tensor]

    public init(_ parameters: [(name: String, tensor: Tensor)], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-8, weightDecay: Float = 0, decoupledWeightDecay: Bool = false) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decoupledWeightDecay = decoupledWeightDecay
        firstMoments = parameters.map { Tensor(zeros: $0.tensor.shape) }
        secondMoments = parameters.map { Tensor(zeros: $0.tensor.shape) }
    }

    /// AdamW: Adam with decoupled weight decay (PyTorch's default λ = 0.01).
    public static func adamW(_ parameters: [(name: String, tensor: Tensor)], learningRate: Float = 1e-3, beta1: Float = 0.9,
                             beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0.01) -> Adam {
        Adam(parameters, learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon,
             weightDecay: weightDecay, decoupledWeightDecay: true)
    }

    public func step(gradientScale scale: Float) {
        stepCount += 1
        let t = Double(stepCount)
        let stepSize = Float(Double(learningRate) / (1 - pow(Double(beta1), t)))
        let correction2 = Float((1 - pow(Double(beta2), t)).squareRoot())
        let (b1, b2, eps, lr, wd) = (beta1, beta2, epsilon, learningRate, weightDecay)
        let lerpWeight = 1 - b1
        for (i, (_, p)) in parameters.enumerated() {
            guard let grad = p.grad else { continue }
            let theta = p.data, g = grad.data, m = firstMoments[i].data, v = secondMoments[i].data
            let decay = decoupledWeightDecay ? 1 - lr * wd : 1
            var start = 0
            if wd == 0 && lerpWeight < 0.5 {
                // The common case on four SSE lanes: the scalar loop's operations in its order, so
                // the same values; the scalar loop below finishes the tail.
                start = p.count & ~3
                // Both cores: each chunk is a whole number of lanes.
                Threads.parallelRanges(start / 4, minimumPerThread: 1 << 14) { lanes in
                var j = lanes.lowerBound * 4
                while j < lanes.upperBound * 4 {
                    let gj = UnsafeRawPointer(g + j).loadUnaligned(as: SIMD4<Float>.self) * scale
                    var mj = UnsafeRawPointer(m + j).loadUnaligned(as: SIMD4<Float>.self)
                    var vj = UnsafeRawPointer(v + j).loadUnaligned(as: SIMD4<Float>.self)
                    let tj = UnsafeRawPointer(theta + j).loadUnaligned(as: SIMD4<Float>.self)
                    mj = mj + lerpWeight * (gj - mj)
                    vj = vj * b2 + (1 - b2) * gj * gj
                    let denominator = vj.squareRoot() / correction2 + eps
                    UnsafeMutableRawPointer(m + j).storeBytes(of: mj, as: SIMD4<Float>.self)
                    UnsafeMutableRawPointer(v + j).storeBytes(of: vj, as: SIMD4<Float>.self)
                    UnsafeMutableRawPointer(theta + j).storeBytes(of: tj - stepSize * (mj / denominator), as: SIMD4<Float>.self)
                    j += 4
                }
                }
            }
            for j in start..<p.count {
                var gj = g[j] * scale
                if wd != 0 {
                    if decoupledWeightDecay { theta[j] *= decay } else { gj += wd * theta[j] }
                }
                // torch.lerp(m, g, w) = m + w(g − m) for w < 0.5, else g − (g − m)(1 − w)
                m[j] = lerpWeight < 0.5 ? m[j] + lerpWeight * (gj - m[j]) : gj - (gj - m[j]) * (1 - lerpWeight)
                v[j] = v[j] * b2 + (1 - b2) * gj * gj
                let denominator = v[j].squareRoot() / correction2 + eps
                theta[j] -= stepSize * (m[j] / denominator)
            }
            p.storage.markModified()
        }
    }

    public func stateDict() -> SafeTensors {
        var s = SafeTensors(metadata: ["optimizer": decoupledWeightDecay ? "AdamW" : "Adam", "step": String(stepCount),
                                       "lr": String(learningRate)])
        for (i, (name, _)) in parameters.enumerated() {
            s.tensors["exp_avg.\(name)"] = firstMoments[i]
            s.tensors["exp_avg_sq.\(name)"] = secondMoments[i]
        }
        return s
    }

    public func loadState(_ state: SafeTensors) throws {
        guard let step = state.metadata["step"].flatMap(Int.init) else {
            throw OptimizerStateError(description: "optimizer state has no step count: the checkpoint is incomplete; start a new run.")
        }
        for (i, (name, p)) in parameters.enumerated() {
            for (key, target) in [("exp_avg.\(name)", firstMoments[i]), ("exp_avg_sq.\(name)", secondMoments[i])] {
                guard let value = state.tensors[key], value.shape == p.shape else {
                    throw OptimizerStateError(description: "optimizer state lacks \(key) of shape \(p.shape): the checkpoint belongs to another model.")
                }
                target.assign(value)
            }
        }
        stepCount = step
        if let lr = state.metadata["lr"].flatMap(Float.init) { learningRate = lr }
    }
}

/// `torch.optim.SGD`: d = g + λθ; with momentum μ: b ← g on the first step, else μb + (1 − dampening)d;
/// d ← d + μb (Nesterov) or b; θ ← θ − ηd.
public final class SGD: Optimizer {
    public var learningRate: Float
    public let momentum: Float, dampening: Float, weightDecay: Float, nesterov: Bool
    public let parameters: [(name: String, tensor: Tensor)]
    private var buffers: [Tensor?]

    public init(_ parameters: [(name: String, tensor: Tensor)], learningRate: Float, momentum: Float = 0, dampening: Float = 0,
                weightDecay: Float = 0, nesterov: Bool = false) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.dampening = dampening
        self.weightDecay = weightDecay
        self.nesterov = nesterov
        buffers = Array(repeating: nil, count: parameters.count)
    }

    public func step(gradientScale scale: Float) {
        for (i, (_, p)) in parameters.enumerated() {
            guard let grad = p.grad else { continue }
            let theta = p.data, g = grad.data
            var direction = [Float](repeating: 0, count: p.count)
            for j in 0..<p.count { direction[j] = g[j] * scale + weightDecay * theta[j] }
            if momentum != 0 {
                if let buffer = buffers[i] {
                    let b = buffer.data
                    for j in 0..<p.count { b[j] = momentum * b[j] + (1 - dampening) * direction[j] }
                } else {
                    buffers[i] = Tensor(shape: p.shape, values: direction)
                }
                let b = buffers[i]!.data
                for j in 0..<p.count { direction[j] = nesterov ? direction[j] + momentum * b[j] : b[j] }
            }
            for j in 0..<p.count { theta[j] -= learningRate * direction[j] }
            p.storage.markModified()
        }
    }

    public func stateDict() -> SafeTensors {
        var s = SafeTensors(metadata: ["optimizer": "SGD", "lr": String(learningRate)])
        for (i, (name, _)) in parameters.enumerated() {
            if let b = buffers[i] { s.tensors["momentum_buffer.\(name)"] = b }
        }
        return s
    }

    public func loadState(_ state: SafeTensors) throws {
        for (i, (name, p)) in parameters.enumerated() {
            if let b = state.tensors["momentum_buffer.\(name)"] {
                guard b.shape == p.shape else {
                    throw OptimizerStateError(description: "optimizer state has momentum_buffer.\(name) of shape \(b.shape), not \(p.shape): the checkpoint belongs to another model.")
                }
                buffers[i] = b.copy()
            } else {
                buffers[i] = nil
            }
        }
        if let lr = state.metadata["lr"].flatMap(Float.init) { learningRate = lr }
    }
}

/// `torch.nn.utils.clip_grad_norm_`: scales every gradient by min(1, maxNorm / (‖g‖₂ + 1e-6)),
/// the norm taken over all gradients together. Returns the norm before clipping.
@discardableResult
public func clipGradientNorm(_ parameters: [Tensor], maxNorm: Float) -> Float {
    let (norm, coefficient) = gradientClipping(parameters, maxNorm: maxNorm)
    if coefficient < 1 {
        for p in parameters {
            guard let g = p.grad else { continue }
            let values = g.data
            Threads.parallelRanges(g.count, minimumPerThread: 1 << 17) { range in
                for j in range { values[j] *= coefficient }
            }
        }
    }
    return norm
}

/// `clipGradientNorm`'s norm and coefficient min(1, maxNorm / (‖g‖₂ + 1e-6)), the gradients left
/// as they are: an optimizer applies the coefficient as it reads them (`step(gradientScale:)`).
public func gradientClipping(_ parameters: [Tensor], maxNorm: Float) -> (norm: Float, coefficient: Float) {
    var sumSquares: Double = 0
    for p in parameters {
        guard let g = p.grad else { continue }
        let values = g.data
        sumSquares += Threads.parallelSum(g.count, piece: 1 << 17) { range in
            // Eight running sums, so the loop vectorises.
            var lanes = SIMD8<Float>(), j = range.lowerBound
            while j + 8 <= range.upperBound {
                let x = UnsafeRawPointer(values + j).loadUnaligned(as: SIMD8<Float>.self)
                lanes += x * x
                j += 8
            }
            var s = lanes.sum()
            while j < range.upperBound { s += values[j] * values[j]; j += 1 }
            return Double(s)
        }
    }
    let norm = Float(sumSquares.squareRoot())
    return (norm, min(1, maxNorm / (norm + 1e-6)))
}
