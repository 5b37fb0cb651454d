import Foundation
import TensorCore

/// `nn.Linear`: y = x·Wᵀ + b. Initialised as PyTorch does (Kaiming-uniform with a = √5, which is
/// U(−1/√in, 1/√in) for the weight, and the same bound for the bias).
public final class Linear: Module {
    public let weight: Tensor   // [out, in]
    public let bias: Tensor?    // [out]

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, source: ParameterSource) throws {
        let bound = 1 / Float(inFeatures).squareRoot()
        weight = try source.parameter("weight", [outFeatures, inFeatures], .uniform(bound: bound))
        self.bias = bias ? try source.parameter("bias", [outFeatures], .uniform(bound: bound)) : nil
    }

    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    /// x [.., in] → [.., out]
    public func callAsFunction(_ x: Tensor) -> Tensor { linear(x, weight: weight, bias: bias) }
}

/// `nn.Embedding`: rows of a [vocabulary, dimension] table, initialised N(0, 1).
public final class Embedding: Module {
    public let weight: Tensor

    public init(_ count: Int, _ dimension: Int, source: ParameterSource) throws {
        weight = try source.parameter("weight", [count, dimension], .normal(std: 1))
    }

    public var namedParameters: [(name: String, tensor: Tensor)] { [("weight", weight)] }

    /// ids [..] → [.., dimension]
    public func callAsFunction(_ ids: IntTensor) -> Tensor { gatherRows(weight, ids) }
}

/// `nn.Dropout` with its own seeded generator, whose state checkpoints carry so a resumed run draws
/// the same masks.
public final class Dropout: Module {
    public let probability: Float
    public var training = true
    public var generator: RandomGenerator
    /// The row of the whole batch this call's first row is, for a process training on rows
    /// firstRow… of it (`ProcessGroup`): it draws the masks a single process would for those rows.
    public var firstRow = 0

    public init(_ probability: Float, generator: RandomGenerator) {
        self.probability = probability
        self.generator = generator
    }

    public var namedParameters: [(name: String, tensor: Tensor)] { [] }
    public func setTraining(_ training: Bool) { self.training = training }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        dropout(x, p: probability, training: training, rng: &generator, firstRow: firstRow)
    }
}
