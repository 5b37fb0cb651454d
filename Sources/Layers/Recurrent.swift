import TensorCore

/// PyTorch initialises every recurrent weight and bias U(−1/√H, 1/√H).
private func recurrentBound(_ hidden: Int) -> Initialiser { .uniform(bound: 1 / Float(hidden).squareRoot()) }

/// `nn.GRUCell`: gates r, z, n; weight_ih [3H, I], weight_hh [3H, H], bias_ih, bias_hh [3H].
public final class GRUCell: Module {
    public let weightIH: Tensor, weightHH: Tensor, biasIH: Tensor, biasHH: Tensor

    public init(inputSize: Int, hiddenSize: Int, source: ParameterSource) throws {
        let initialiser = recurrentBound(hiddenSize)
        weightIH = try source.parameter("weight_ih", [3 * hiddenSize, inputSize], initialiser)
        weightHH = try source.parameter("weight_hh", [3 * hiddenSize, hiddenSize], initialiser)
        biasIH = try source.parameter("bias_ih", [3 * hiddenSize], initialiser)
        biasHH = try source.parameter("bias_hh", [3 * hiddenSize], initialiser)
    }

    public var hiddenSize: Int { weightHH.shape[1] }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        [("weight_ih", weightIH), ("weight_hh", weightHH), ("bias_ih", biasIH), ("bias_hh", biasHH)]
    }

    /// x [B, I], h [B, H] → h' [B, H]
    public func callAsFunction(_ x: Tensor, _ h: Tensor) -> Tensor {
        gruCell(x, h, weightIH: weightIH, weightHH: weightHH, biasIH: biasIH, biasHH: biasHH)
    }
}

/// `nn.LSTMCell`: gates i, f, g, o; weight_ih [4H, I], weight_hh [4H, H], bias_ih, bias_hh [4H].
public final class LSTMCell: Module {
    public let weightIH: Tensor, weightHH: Tensor, biasIH: Tensor, biasHH: Tensor

    public init(inputSize: Int, hiddenSize: Int, source: ParameterSource) throws {
        let initialiser = recurrentBound(hiddenSize)
        weightIH = try source.parameter("weight_ih", [4 * hiddenSize, inputSize], initialiser)
        weightHH = try source.parameter("weight_hh", [4 * hiddenSize, hiddenSize], initialiser)
        biasIH = try source.parameter("bias_ih", [4 * hiddenSize], initialiser)
        biasHH = try source.parameter("bias_hh", [4 * hiddenSize], initialiser)
    }

    public var hiddenSize: Int { weightHH.shape[1] }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        [("weight_ih", weightIH), ("weight_hh", weightHH), ("bias_ih", biasIH), ("bias_hh", biasHH)]
    }

    /// x [B, I], (h, c) [B, H] → (h', c')
    public func callAsFunction(_ x: Tensor, _ state: (h: Tensor, c: Tensor)) -> (h: Tensor, c: Tensor) {
        lstmCell(x, state.h, state.c, weightIH: weightIH, weightHH: weightHH, biasIH: biasIH, biasHH: biasHH)
    }
}

/// One-layer, batch-first `nn.GRU`: weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0.
public final class GRU: Module {
    public let weightIH: Tensor, weightHH: Tensor, biasIH: Tensor, biasHH: Tensor

    public init(inputSize: Int, hiddenSize: Int, source: ParameterSource) throws {
        let initialiser = recurrentBound(hiddenSize)
        weightIH = try source.parameter("weight_ih_l0", [3 * hiddenSize, inputSize], initialiser)
        weightHH = try source.parameter("weight_hh_l0", [3 * hiddenSize, hiddenSize], initialiser)
        biasIH = try source.parameter("bias_ih_l0", [3 * hiddenSize], initialiser)
        biasHH = try source.parameter("bias_hh_l0", [3 * hiddenSize], initialiser)
    }

    public var hiddenSize: Int { weightHH.shape[1] }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        [("weight_ih_l0", weightIH), ("weight_hh_l0", weightHH), ("bias_ih_l0", biasIH), ("bias_hh_l0", biasHH)]
    }

    /// x [B, T, I], h0 [B, H] → outputs [B, T, H] (the last step is h_T).
    public func callAsFunction(_ x: Tensor, _ h0: Tensor) -> Tensor {
        gruSequence(x, h0, weightIH: weightIH, weightHH: weightHH, biasIH: biasIH, biasHH: biasHH)
    }

    /// One step, for decoding: x [B, I], h [B, H] → h' [B, H]; the same equations as the sequence.
    public func step(_ x: Tensor, _ h: Tensor) -> Tensor {
        gruCell(x, h, weightIH: weightIH, weightHH: weightHH, biasIH: biasIH, biasHH: biasHH)
    }
}

/// One-layer, batch-first `nn.LSTM`.
public final class LSTM: Module {
    public let weightIH: Tensor, weightHH: Tensor, biasIH: Tensor, biasHH: Tensor

    public init(inputSize: Int, hiddenSize: Int, source: ParameterSource) throws {
        let initialiser = recurrentBound(hiddenSize)
        weightIH = try source.parameter("weight_ih_l0", [4 * hiddenSize, inputSize], initialiser)
        weightHH = try source.parameter("weight_hh_l0", [4 * hiddenSize, hiddenSize], initialiser)
        biasIH = try source.parameter("bias_ih_l0", [4 * hiddenSize], initialiser)
        biasHH = try source.parameter("bias_hh_l0", [4 * hiddenSize], initialiser)
    }

    public var hiddenSize: Int { weightHH.shape[1] }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        [("weight_ih_l0", weightIH), ("weight_hh_l0", weightHH), ("bias_ih_l0", biasIH), ("bias_hh_l0", biasHH)]
    }

    /// x [B, T, I], (h0, c0) [B, H] → (outputs [B, T, H], c_T [B, H]).
    public func callAsFunction(_ x: Tensor, _ state: (h: Tensor, c: Tensor)) -> (y: Tensor, c: Tensor) {
        lstmSequence(x, state.h, state.c, weightIH: weightIH, weightHH: weightHH, biasIH: biasIH, biasHH: biasHH)
    }

    public func step(_ x: Tensor, _ state: (h: Tensor, c: Tensor)) -> (h: Tensor, c: Tensor) {
        lstmCell(x, state.h, state.c, weightIH: weightIH, weightHH: weightHH, biasIH: biasIH, biasHH: biasHH)
    }
}
