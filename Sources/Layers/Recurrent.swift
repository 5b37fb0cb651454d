import TensorCore

/// The four tensors of a PyTorch recurrent layer, named `weight_ih`, `weight_hh`, `bias_ih`,
/// `bias_hh` plus a suffix (`_l0` for the sequence layers), all initialised U(−1/√H, 1/√H) as
/// PyTorch does. `gates` is 3 for a GRU (r, z, n), 4 for an LSTM (i, f, g, o).
public struct RecurrentParameters {
    public let weightIH: Tensor   // [gates·H, I]
    public let weightHH: Tensor   // [gates·H, H]
    public let biasIH: Tensor     // [gates·H]
    public let biasHH: Tensor     // [gates·H]
    let suffix: String

    init(gates: Int, inputSize: Int, hiddenSize: Int, suffix: String, source: ParameterSource) throws {
        let initialiser = Initialiser.uniform(bound: 1 / Float(hiddenSize).squareRoot())
        let rows = gates * hiddenSize
        weightIH = try source.parameter("weight_ih\(suffix)", [rows, inputSize], initialiser)
        weightHH = try source.parameter("weight_hh\(suffix)", [rows, hiddenSize], initialiser)
        biasIH = try source.parameter("bias_ih\(suffix)", [rows], initialiser)
        biasHH = try source.parameter("bias_hh\(suffix)", [rows], initialiser)
        self.suffix = suffix
    }

    public var hiddenSize: Int { weightHH.shape[1] }

    var named: [(name: String, tensor: Tensor)] {
        [("weight_ih\(suffix)", weightIH), ("weight_hh\(suffix)", weightHH), ("bias_ih\(suffix)", biasIH), ("bias_hh\(suffix)", biasHH)]
    }

    func gruStep(_ x: Tensor, _ h: Tensor) -> Tensor {
        gruCell(x, h, weightIH: weightIH, weightHH: weightHH, biasIH: biasIH, biasHH: biasHH)
    }

    func lstmStep(_ x: Tensor, _ state: (h: Tensor, c: Tensor)) -> (h: Tensor, c: Tensor) {
        lstmCell(x, state.h, state.c, weightIH: weightIH, weightHH: weightHH, biasIH: biasIH, biasHH: biasHH)
    }
}

/// `nn.GRUCell`: weight_ih [3H, I], weight_hh [3H, H], bias_ih, bias_hh [3H].
public final class GRUCell: Module {
    public let weights: RecurrentParameters

    public init(inputSize: Int, hiddenSize: Int, source: ParameterSource) throws {
        weights = try RecurrentParameters(gates: 3, inputSize: inputSize, hiddenSize: hiddenSize, suffix: "", source: source)
    }

    public var namedParameters: [(name: String, tensor: Tensor)] { weights.named }

    /// x [B, I], h [B, H] → h' [B, H]
    public func callAsFunction(_ x: Tensor, _ h: Tensor) -> Tensor { weights.gruStep(x, h) }
}

/// `nn.LSTMCell`: weight_ih [4H, I], weight_hh [4H, H], bias_ih, bias_hh [4H].
public final class LSTMCell: Module {
    public let weights: RecurrentParameters

    public init(inputSize: Int, hiddenSize: Int, source: ParameterSource) throws {
        weights = try RecurrentParameters(gates: 4, inputSize: inputSize, hiddenSize: hiddenSize, suffix: "", source: source)
    }

    public var namedParameters: [(name: String, tensor: Tensor)] { weights.named }

    /// x [B, I], (h, c) [B, H] → (h', c')
    public func callAsFunction(_ x: Tensor, _ state: (h: Tensor, c: Tensor)) -> (h: Tensor, c: Tensor) {
        weights.lstmStep(x, state)
    }
}

/// One-layer, batch-first `nn.GRU`: weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0.
public final class GRU: Module {
    public let weights: RecurrentParameters

    public init(inputSize: Int, hiddenSize: Int, source: ParameterSource) throws {
        weights = try RecurrentParameters(gates: 3, inputSize: inputSize, hiddenSize: hiddenSize, suffix: "_l0", source: source)
    }

    public var namedParameters: [(name: String, tensor: Tensor)] { weights.named }

    /// x [B, T, I], h0 [B, H] → outputs [B, T, H] (the last step is h_T). With `lengths`, row b
    /// runs lengths[b] steps and its outputs after them are zero (PyTorch's packed sequences).
    public func callAsFunction(_ x: Tensor, _ h0: Tensor, lengths: [Int]? = nil) -> Tensor {
        let p = weights
        return gruSequence(x, h0, weightIH: p.weightIH, weightHH: p.weightHH, biasIH: p.biasIH, biasHH: p.biasHH, lengths: lengths)
    }

    /// One step, for decoding: x [B, I], h [B, H] → h' [B, H]; the same equations as the sequence.
    public func step(_ x: Tensor, _ h: Tensor) -> Tensor { weights.gruStep(x, h) }

    /// One decoding step from looked-up input gates gi [B, 3H] (a `WordGateTable`'s rows); no gradient.
    public func step(inputGates gi: Tensor, _ h: Tensor) -> Tensor {
        gruCell(inputGates: gi, h, weightHH: weights.weightHH, biasHH: weights.biasHH)
    }
}

/// One-layer, batch-first `nn.LSTM`.
public final class LSTM: Module {
    public let weights: RecurrentParameters

    public init(inputSize: Int, hiddenSize: Int, source: ParameterSource) throws {
        weights = try RecurrentParameters(gates: 4, inputSize: inputSize, hiddenSize: hiddenSize, suffix: "_l0", source: source)
    }

    public var namedParameters: [(name: String, tensor: Tensor)] { weights.named }

    /// x [B, T, I], (h0, c0) [B, H] → (outputs [B, T, H], c_T [B, H]). With `lengths`, as `GRU`;
    /// c is then each row's cell after its own last step.
    public func callAsFunction(_ x: Tensor, _ state: (h: Tensor, c: Tensor), lengths: [Int]? = nil) -> (y: Tensor, c: Tensor) {
        let p = weights
        return lstmSequence(x, state.h, state.c, weightIH: p.weightIH, weightHH: p.weightHH, biasIH: p.biasIH, biasHH: p.biasHH,
                            lengths: lengths)
    }

    public func step(_ x: Tensor, _ state: (h: Tensor, c: Tensor)) -> (h: Tensor, c: Tensor) { weights.lstmStep(x, state) }

    /// One decoding step from looked-up input gates gi [B, 4H] (a `WordGateTable`'s rows); no gradient.
    public func step(inputGates gi: Tensor, _ state: (h: Tensor, c: Tensor)) -> (h: Tensor, c: Tensor) {
        lstmCell(inputGates: gi, state.h, state.c, weightHH: weights.weightHH, biasHH: weights.biasHH)
    }
}

/// Every word's input gates, E·W_ihᵀ + b_ih [V, gates·H], for decoders whose recurrent input is the
/// word embedding alone. Without it each decoding step multiplies a handful of rows by W_ih and so
/// streams all of W_ih (0.75 MB in bfloat16 for a 256-wide embedding into a 512-wide GRU) through
/// the cache for every word; a lookup reads only the rows it needs. The table is the step's own
/// product (same precision) over all V words, built on first use and again whenever the embedding,
/// W_ih or b_ih changes (their storage versions, which the optimizers bump). It holds V·gates·H
/// floats: 18 MB for V = 3000 and a 512-wide GRU. Decoding only: the lookup has no gradient.
public final class WordGateTable {
    private var table: Tensor?
    /// The versions of the embedding, W_ih and b_ih the table was built from.
    private var builtFrom: (UInt64, UInt64, UInt64)?

    public init() {}

    /// words [B] → gi [B, gates·H]
    public func inputGates(_ words: IntTensor, embedding: Tensor, weights: RecurrentParameters) -> Tensor {
        let versions = (embedding.storage.version, weights.weightIH.storage.version, weights.biasIH.storage.version)
        if table == nil || builtFrom.map({ $0 != versions }) ?? true {
            table = nil                                         // free the old table before building
            table = Tape.withoutRecording { linear(embedding, weight: weights.weightIH, bias: weights.biasIH) }   // [V, gates·H]
            builtFrom = versions
        }
        return Tape.withoutRecording { gatherRows(table!, words) }                                             // [B, gates·H]
    }
}
