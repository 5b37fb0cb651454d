import Foundation
import Testing
import TestSupport
import TensorCore
@testable import Layers

/// The show-tell GRU twin of ../shared/reference/torch_twin.py, assembled from the layers here,
/// taken through one whole training step and compared with PyTorch: the loss, every parameter's
/// gradient, the gradient norm, and every parameter after clipping and one Adam step.
@Suite struct ShowTellStepTests {
    final class ShowTellGRU: Module {
        let embed: Embedding, initH: Linear, rnn: GRU, out: Linear
        init(vocabulary: Int, features: Int, embedding: Int, hidden: Int, source: ParameterSource) throws {
            embed = try Embedding(vocabulary, embedding, source: source.child("embed"))
            initH = try Linear(features, hidden, source: source.child("init_h"))
            rnn = try GRU(inputSize: embedding, hiddenSize: hidden, source: source.child("rnn"))
            out = try Linear(hidden, vocabulary, source: source.child("out"))
        }
        var namedParameters: [(name: String, tensor: Tensor)] {
            prefixed("embed", embed) + prefixed("init_h", initH) + prefixed("rnn", rnn) + prefixed("out", out)
        }
        /// pooled [B, C], tokens [B, T] → loss over targets tokens[:, 1:] (padding 0 ignored)
        func loss(pooled: Tensor, tokens: IntTensor) -> (loss: Tensor, logits: Tensor) {
            let (b, t) = (tokens.shape[0], tokens.shape[1])
            var inputs = [Int32](), targets = [Int32]()
            for r in 0..<b {
                let row = Array(tokens[r])
                inputs += row.dropLast()
                targets += row.dropFirst()
            }
            let x = embed(IntTensor(shape: [b, t - 1], values: inputs))          // [B, T-1, E]
            let h0 = initH(pooled).tanh()                                          // [B, H]
            let y = rnn(x, h0)                                                     // [B, T-1, H]
            let logits = out(y)                                                    // [B, T-1, V]
            let flat = logits.reshaped([b * (t - 1), -1])
            return (crossEntropy(flat, targets: IntTensor(targets), ignoreIndex: 0), logits)
        }
    }

    @Test func oneTrainingStepMatchesPyTorch() throws {
        let f = try fixtures.safetensors("layers.safetensors")
        let source = ParameterSource.load(entries(f, "showtell/param."), origin: "show-tell fixture")
        let model = try ShowTellGRU(vocabulary: 23, features: 12, embedding: 8, hidden: 16, source: source)
        try source.finish()
        let tokens = try #require(f.integers["showtell/tokens"])
        let optimizer = Adam(model.namedParameters, learningRate: 1e-2)

        let tape = Tape()
        let (loss, logits) = tape.record { model.loss(pooled: f["showtell/pooled"]!, tokens: tokens) }
        expectClose(logits, f["showtell/logits"], tolerance: 1e-5, "logits")
        #expect(abs(loss.item - f["showtell/loss"]!.item) <= 1e-5 * abs(loss.item), "loss \(loss.item)")
        tape.backward(from: loss)
        for (name, p) in model.namedParameters {
            expectClose(p.grad, f["showtell/grad.\(name)"], tolerance: 1e-4, "gradient of \(name)")
        }
        let norm = clipGradientNorm(model.parameters, maxNorm: 0.5)
        #expect(abs(norm - f["showtell/grad_norm"]!.item) <= 1e-4 * norm)
        let before = model.namedParameters.map { $0.tensor.copy() }
        optimizer.step()
        for ((name, p), old) in zip(model.namedParameters, before) {
            let expected = f["showtell/after.\(name)"]!
            expectClose(p, expected, tolerance: 1e-5, "\(name) after the Adam step")
            // The update itself (θ' − θ, about lr in size) to 1e-4, so the check is not hidden by θ's magnitude.
            let expectedDelta = Tensor(shape: p.shape, values: zip(expected.scalars, old.scalars).map { $0 - $1 })
            let delta = Tensor(shape: p.shape, values: zip(p.scalars, old.scalars).map { $0 - $1 })
            expectClose(delta, expectedDelta, tolerance: 1e-4, "\(name) Adam update")
        }
    }
}
