/// The tensors of a weights file, checked off one by one against what a model asks for: a missing
/// key, a wrong shape, or a tensor nobody asked for is an error naming the key and the file, never
/// a silent partial load. The one weight checker: decoders (`ParameterSource`,
/// `Module.loadStateDict`) and encoders (Vision's `StateDict`) all take their weights through it.
public struct WeightChecklist<Value> {
    /// The file (or "the state dict") that errors name.
    public let origin: String
    private var remaining: [String: Value]
    private let shapeOf: (Value) -> [Int]

    public init(_ tensors: [String: Value], origin: String, shape: @escaping (Value) -> [Int]) {
        remaining = tensors
        self.origin = origin
        shapeOf = shape
    }

    /// The tensor `key`, which must have `shape`; it is checked off.
    public mutating func take(_ key: String, shape: [Int]) throws(WeightError) -> Value {
        guard let value = remaining[key] else { throw .missing(key: key, origin: origin) }
        guard shapeOf(value) == shape else { throw .shape(key: key, expected: shape, found: shapeOf(value), origin: origin) }
        remaining.removeValue(forKey: key)
        return value
    }

    /// Checks off, unread, the tensors a model knowingly does not use (a classifier, a step counter).
    public mutating func discard(where unused: (String) -> Bool) {
        for key in remaining.keys where unused(key) { remaining.removeValue(forKey: key) }
    }

    /// After the model has taken its tensors: none may be left.
    public func finish() throws(WeightError) {
        guard let first = remaining.keys.sorted().first else { return }
        throw .unexpected(key: first, count: remaining.count, origin: origin)
    }
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
