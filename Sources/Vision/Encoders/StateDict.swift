import Foundation
import TensorCore

/// A checkpoint's tensors, checked off by `WeightChecklist` against what an architecture expects,
/// with the errors an encoder's user needs (which encoder, and to pick the one the weights fit).
final class StateDict {
    let file: String
    let architecture: String
    private var checklist: WeightChecklist<RawTensor>

    init(_ tensors: [String: RawTensor], file: String, architecture: String) {
        checklist = WeightChecklist(tensors, origin: file, shape: \.shape)
        self.file = file
        self.architecture = architecture
    }

    convenience init(contentsOf url: URL, architecture: String) throws {
        self.init(try CheckpointReader.read(url), file: url.path, architecture: architecture)
    }

    func take(_ key: String, _ shape: [Int]) throws -> [Float] {
        let tensor: RawTensor
        do throws(WeightError) { tensor = try checklist.take(key, shape: shape) } catch { throw encoderError(error) }
        guard [.f32, .f16, .bf16, .f64].contains(tensor.dtype) else {
            throw EncoderError("\(file) holds `\(key)` as \(tensor.dtype.rawValue), not floating point: pass the float weights of \(architecture).")
        }
        return try tensor.floats()
    }

    /// A batch-norm's (γ, β, running mean, running variance); its step counter is accepted and ignored.
    func batchNorm(_ prefix: String, channels: Int) throws -> (gamma: [Float], beta: [Float], mean: [Float], variance: [Float]) {
        let result = (try take(prefix + ".weight", [channels]), try take(prefix + ".bias", [channels]),
                      try take(prefix + ".running_mean", [channels]), try take(prefix + ".running_var", [channels]))
        checklist.discard { $0 == prefix + ".num_batches_tracked" }
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
    func discard(prefix: String) { checklist.discard { $0.hasPrefix(prefix) } }

    /// Fails when tensors remain: the file was saved from a different architecture.
    func finish() throws {
        do throws(WeightError) { try checklist.finish() } catch { throw encoderError(error) }
    }

    private func encoderError(_ error: WeightError) -> EncoderError {
        switch error {
        case let .missing(key, _):
            return EncoderError("\(file) has no tensor `\(key)`, which \(architecture) needs: pass weights saved from \(architecture), or choose the encoder these weights belong to.")
        case let .shape(key, expected, found, _):
            return EncoderError("\(file) holds `\(key)` with shape \(found) where \(architecture) expects \(expected): pass weights saved from \(architecture), or choose the encoder these weights belong to.")
        case let .unexpected(key, count, _):
            return EncoderError("\(file) has \(count) tensor(s) that \(architecture) does not have (first: `\(key)`): the weights belong to another architecture; choose the matching encoder.")
        }
    }
}
