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
        var checklist = WeightChecklist(state, origin: origin, shape: \.shape)
        for (name, tensor) in namedParameters { tensor.assign(try checklist.take(name, shape: tensor.shape)) }
        try checklist.finish()
    }

    public func zeroGrad() { for p in parameters { p.grad = nil } }
}

/// The parameters of `module` with `prefix.` in front of their names.
public func prefixed(_ prefix: String, _ module: Module) -> [(name: String, tensor: Tensor)] {
    module.namedParameters.map { ("\(prefix).\($0.name)", $0.tensor) }
}

/// The parameters a model took from its `ParameterSource` (see `registering(into:)`), under their
/// state-dict keys, in the order it took them: a parameter cannot be made and then left out of the
/// state dict or the optimizer, and no model lists its parameters by hand.
public final class ParameterRegistry {
    public private(set) var named: [(name: String, tensor: Tensor)] = []

    public init() {}

    fileprivate func record(_ name: String, _ tensor: Tensor) {
        precondition(!named.contains { $0.name == name }, "the parameter \(name) is registered twice")
        named.append((name, tensor))
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
        var loaded: WeightChecklist<Tensor>?
        init(rng: RandomGenerator, loaded: [String: Tensor]?, origin: String) {
            self.rng = rng
            self.loaded = loaded.map { WeightChecklist($0, origin: origin, shape: \.shape) }
        }
        /// The loaded tensor `key` (checked off), or nil when parameters are initialised.
        func take(_ key: String, shape: [Int]) throws -> Tensor? { try loaded?.take(key, shape: shape) }
    }

    private let store: Store
    public let prefix: String
    /// The registries this source and its children record into, each with the prefix it is rooted at.
    private let registries: [(registry: ParameterRegistry, root: String)]

    private init(store: Store, prefix: String, registries: [(registry: ParameterRegistry, root: String)] = []) {
        self.store = store
        self.prefix = prefix
        self.registries = registries
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
        ParameterSource(store: store, prefix: prefix.isEmpty ? name : "\(prefix).\(name)", registries: registries)
    }

    /// This source, also recording every parameter taken through it or its children into
    /// `registry`, keyed relative to this source's prefix. A model built from the returned source
    /// lists `registry.named` as its parameters, so each is registered once, where it is made.
    public func registering(into registry: ParameterRegistry) -> ParameterSource {
        ParameterSource(store: store, prefix: prefix, registries: registries + [(registry, prefix)])
    }

    /// A generator for non-parameter randomness (dropout masks), drawn from the source's seed.
    public func makeGenerator() -> RandomGenerator {
        RandomGenerator(seed: store.rng.next())
    }

    /// The parameter `name` under this source's prefix: loaded (shape checked) or initialised.
    public func parameter(_ name: String, _ shape: [Int], _ initialiser: Initialiser) throws -> Tensor {
        let key = prefix.isEmpty ? name : "\(prefix).\(name)"
        let tensor: Tensor
        if let loaded = try store.take(key, shape: shape) {
            tensor = loaded.copy()
        } else {
            switch initialiser {
            case let .uniform(bound): tensor = Tensor.uniform(shape, low: -bound, high: bound, rng: &store.rng)
            case let .normal(std): tensor = Tensor.randn(shape, rng: &store.rng, std: std)
            case .zeros: tensor = Tensor(zeros: shape)
            case let .constant(v): tensor = Tensor(shape: shape, repeating: v)
            }
        }
        tensor.requiresGrad = true
        for (registry, root) in registries { registry.record(root.isEmpty ? key : String(key.dropFirst(root.count + 1)), tensor) }
        return tensor
    }

    /// After building a model from a state dict: every key in it must have been used.
    public func finish() throws { try store.loaded?.finish() }
}
