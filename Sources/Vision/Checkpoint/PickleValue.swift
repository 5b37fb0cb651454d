/// The values a checkpoint pickle can build. Lists and dicts are classes because pickles fill them
/// in after memoizing them (EMPTY_DICT, BINPUT, ..., SETITEMS).
enum PickleValue {
    case pythonNone
    case bool(Bool)
    case int(Int)
    /// A LONG too wide for Int: its little-endian two's-complement bytes.
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list(PickleList)
    case dict(PickleDict)
    /// One of the allow-listed globals; nothing else can be named.
    case global(AllowedGlobal)
    case storage(StorageReference)
    case tensor(TensorReference)

    var asInt: Int? {
        if case .int(let value) = self { return value }
        return nil
    }

    var asString: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    var asTuple: [PickleValue]? {
        switch self {
        case .tuple(let items): return items
        case .list(let list): return list.items
        default: return nil
        }
    }
}

final class PickleList {
    var items: [PickleValue]
    /// Nesting depth bookkeeping of the pickle machine (see `PickleStack.maxDepth`).
    var depth = 1
    var nested = false
    init(_ items: [PickleValue] = []) { self.items = items }
}

/// Insertion-ordered, like Python's dict; only string and integer keys are indexable.
final class PickleDict {
    private(set) var entries: [(key: PickleValue, value: PickleValue)] = []
    private var stringIndex: [String: Int] = [:]
    /// Nesting depth bookkeeping of the pickle machine (see `PickleStack.maxDepth`).
    var depth = 1
    var nested = false

    func set(_ key: PickleValue, _ value: PickleValue) {
        if let name = key.asString {
            if let at = stringIndex[name] {
                entries[at].value = value
                return
            }
            stringIndex[name] = entries.count
        }
        entries.append((key, value))
    }

    subscript(name: String) -> PickleValue? {
        stringIndex[name].map { entries[$0].value }
    }
}

/// A storage named by a persistent id; its bytes live outside the pickle.
struct StorageReference {
    var key: String
    var dtype: DType
    /// Elements to skip at the start of the stored storage (legacy views of a larger storage).
    var elementOffset: Int
}

/// What `_rebuild_tensor_v2` was asked to build: a strided view into a storage.
struct TensorReference {
    var storage: StorageReference
    var storageOffset: Int
    var shape: [Int]
    var strides: [Int]
}
