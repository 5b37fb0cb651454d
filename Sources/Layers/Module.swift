import TensorCore

/// A network part that owns parameters. Parameters are listed under their PyTorch state-dict keys
/// (`weight`, `rnn.weight_ih_l0`, `cell.bias_hh`, …) so weights move between the twins unchanged.
public protocol Module: AnyObject {
    /// Every parameter under its state-dict key, in a fixed order.
    var namedParameters: [(name: String, tensor: Tensor)] { get }
    /// Switches dropout and the like between training and evaluation behaviour.
    func setTraining(_ training: Bool)
}

extension Module {
    public func setTraining(_ training: Bool) {}

    public var parameters: [Tensor] { namedParameters.map(\.tensor) }
    public var parameterCount: Int { namedParameters.reduce(0) { $0 + $1.tensor.count } }

    public func stateDict() -> [String: Tensor] {
        Dictionary(uniqueKeysWithValues: namedParameters.map { ($0.name, $0.tensor) })
    }

    /// Copies `state` into the parameters. Every key must be present with the right shape and no
    /// key may be left over: a mismatch is an error naming the key, never a silent partial load.
    public func loadStateDict(_ state: [String: Tensor], origin: String = "the state dict") throws {
        var unused = Set(state.keys)
        for (name, tensor) in namedParameters {
            guard let value = state[name] else { throw WeightError.missing(key: name, origin: origin) }
            guard value.shape == tensor.shape else {
                throw WeightError.shape(key: name, expected: tensor.shape, found: value.shape, origin: origin)
            }
            tensor.assign(value)
            unused.remove(name)
        }
        if let extra = unused.sorted().first { throw WeightError.unexpected(key: extra, count: unused.count, origin: origin) }
    }

    public func zeroGrad() { for p in parameters { p.grad = nil } }
}

/// The parameters of `module` with `prefix.` in front of their names.
public func prefixed(_ prefix: String, _ module: Module) -> [(name: String, tensor: Tensor)] {
    module.namedParameters.map { ("\(prefix).\($0.name)", $0.tensor) }
}

public enum WeightError: Error, CustomStringConvertible, Equatable {
    case missing(key: String, origin: String)
    case shape(key: String, expected: [Int], found: [Int], origin: String)
    case unexpected(key: String, count: Int, origin: String)

    public var description: String {
        switch self {
        case let .missing(key, origin):
            return "\(origin) has no tensor \"\(key)\": it was saved from a different architecture; choose the matching --arch."
        case let .shape(key, expected, found, origin):
            return "\(origin) has \"\(key)\" of shape \(found) where this model needs \(expected): its sizes (vocabulary, feature, hidden) differ; use the options it was trained with."
        case let .unexpected(key, count, origin):
            return "\(origin) has \(count) tensor(s) this model does not use, such as \"\(key)\": it was saved from a different architecture; choose the matching --arch."
        }
    }
}

/// How a parameter starts when it is not loaded.
public enum Initialiser {
    case uniform(bound: Float)
    case normal(std: Float)
    case zeros
    case constant(Float)
}

/// Where a model's parameters come from, as candle's VarBuilder: the same constructor either
/// initialises fresh tensors (seeded) or takes them from a state dict, checking each shape; `finish()`
/// then rejects keys nobody asked for.
public final class ParameterSource {
    private final class Store {
        var rng: RandomGenerator
        var loaded: [String: Tensor]?
        var used = Set<String>()
        let origin: String
        init(rng: RandomGenerator, loaded: [String: Tensor]?, origin: String) {
            self.rng = rng
            self.loaded = loaded
            self.origin = origin
        }
    }

    private let store: Store
    public let prefix: String

    private init(store: Store, prefix: String) {
        self.store = store
        self.prefix = prefix
    }

    /// Fresh parameters from a seeded generator, with PyTorch's default initialisers.
    public static func initialise(seed: UInt64) -> ParameterSource {
        ParameterSource(store: Store(rng: RandomGenerator(seed: seed), loaded: nil, origin: "initialisation"), prefix: "")
    }

    /// Parameters taken from `tensors`; `origin` names the file in error messages.
    public static func load(_ tensors: [String: Tensor], origin: String, seed: UInt64 = 0) -> ParameterSource {
        ParameterSource(store: Store(rng: RandomGenerator(seed: seed), loaded: tensors, origin: origin), prefix: "")
    }

    public var isLoading: Bool { store.loaded != nil }

    public func child(_ name: String) -> ParameterSource {
        ParameterSource(store: store, prefix: prefix.isEmpty ? name : "\(prefix).\(name)")
    }

    /// A generator for non-parameter randomness (dropout masks), drawn from the source's seed.
    public func makeGenerator() -> RandomGenerator {
        RandomGenerator(seed: store.rng.next())
    }

    /// The parameter `name` under this source's prefix: loaded (shape checked) or initialised.
    public func parameter(_ name: String, _ shape: [Int], _ initialiser: Initialiser) throws -> Tensor {
        let key = prefix.isEmpty ? name : "\(prefix).\(name)"
        let tensor: Tensor
        if let loaded = store.loaded {
            guard let value = loaded[key] else { throw WeightError.missing(key: key, origin: store.origin) }
            guard value.shape == shape else { throw WeightError.shape(key: key, expected: shape, found: value.shape, origin: store.origin) }
            tensor = value.copy()
        } else {
            switch initialiser {
            case let .uniform(bound): tensor = Tensor.uniform(shape, low: -bound, high: bound, rng: &store.rng)
            case let .normal(std): tensor = Tensor.randn(shape, rng: &store.rng, std: std)
            case .zeros: tensor = Tensor(zeros: shape)
            case let .constant(v): tensor = Tensor(shape: shape, repeating: v)
            }
        }
        store.used.insert(key)
        tensor.requiresGrad = true
        return tensor
    }

    /// After building a model from a state dict: every key in it must have been used.
    public func finish() throws {
        guard let loaded = store.loaded else { return }
        let unused = Set(loaded.keys).subtracting(store.used)
        if let extra = unused.sorted().first { throw WeightError.unexpected(key: extra, count: unused.count, origin: store.origin) }
    }
}
