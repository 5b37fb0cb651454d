import Foundation

/// A checkpoint's tensors, checked off one by one against what an architecture expects: a missing
/// key, a wrong shape or a leftover tensor is an error that names the key.
final class StateDict {
    let file: String
    let architecture: String
    private var tensors: [String: RawTensor]

    init(_ tensors: [String: RawTensor], file: String, architecture: String) {
        self.tensors = tensors
        self.file = file
        self.architecture = architecture
    }

    convenience init(contentsOf url: URL, architecture: String) throws {
        self.init(try CheckpointReader.read(url), file: url.path, architecture: architecture)
    }

    func take(_ key: String, _ shape: [Int]) throws -> [Float] {
        guard let tensor = tensors.removeValue(forKey: key) else {
            throw EncoderError("\(file) has no tensor `\(key)`, which \(architecture) needs: pass weights saved from \(architecture), or choose the encoder these weights belong to.")
        }
        guard tensor.shape == shape else {
            throw EncoderError("\(file) holds `\(key)` with shape \(tensor.shape) where \(architecture) expects \(shape): pass weights saved from \(architecture), or choose the encoder these weights belong to.")
        }
        guard [.f32, .f16, .bf16, .f64].contains(tensor.dtype) else {
            throw EncoderError("\(file) holds `\(key)` as \(tensor.dtype.rawValue), not floating point: pass the float weights of \(architecture).")
        }
        return try tensor.floats()
    }

    /// A batch-norm's (γ, β, running mean, running variance); its step counter is accepted and ignored.
    func batchNorm(_ prefix: String, channels: Int) throws -> (gamma: [Float], beta: [Float], mean: [Float], variance: [Float]) {
        let result = (try take(prefix + ".weight", [channels]), try take(prefix + ".bias", [channels]),
                      try take(prefix + ".running_mean", [channels]), try take(prefix + ".running_var", [channels]))
        tensors.removeValue(forKey: prefix + ".num_batches_tracked")
        return result
    }

    /// A convolution followed by a batch-norm, folded into one convolution.
    func convolution(_ key: String, batchNorm: String, epsilon: Double, inChannels: Int, outChannels: Int, kernel: Int,
                     stride: Int = 1, groups: Int = 1, padding: Padding, activation: Activation) throws -> Convolution {
        let weights = try take(key + ".weight", [outChannels, inChannels / groups, kernel, kernel])
        let conv = Convolution(inChannels: inChannels, outChannels: outChannels, kernel: kernel, stride: stride, groups: groups,
                               padding: padding, activation: activation, weights: weights)
        let bn = try self.batchNorm(batchNorm, channels: outChannels)
        conv.foldBatchNorm(gamma: bn.gamma, beta: bn.beta, mean: bn.mean, variance: bn.variance, epsilon: epsilon)
        return conv
    }

    /// Drops tensors the encoder knowingly does not use (e.g. a classifier it has no use for).
    func discard(prefix: String) {
        for key in tensors.keys where key.hasPrefix(prefix) { tensors.removeValue(forKey: key) }
    }

    /// Fails when tensors remain: the file was saved from a different architecture.
    func finish() throws {
        guard let first = tensors.keys.sorted().first else { return }
        throw EncoderError("\(file) has \(tensors.count) tensor(s) that \(architecture) does not have (first: `\(first)`): the weights belong to another architecture; choose the matching encoder.")
    }
}
