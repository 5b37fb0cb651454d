import Foundation

/// A checkpoint's object tree with tensors still as references, plus where their storages' bytes are.
struct UnpickledCheckpoint {
    var root: PickleValue
    var storageBytes: (StorageReference) throws -> Data

    /// Keys under which training scripts commonly nest the weights.
    static let wrapperKeys = ["state_dict", "model_state_dict", "model"]

    /// The named tensors: wrappers unwrapped, nested dicts flattened with dots, other values ignored.
    func tensors(fileName: String) throws -> [String: RawTensor] {
        guard case .dict(var dict) = root else {
            throw CheckpointError.malformed(fileName, "it holds a single object, not a dictionary of tensors")
        }
        var seen: Set<ObjectIdentifier> = [ObjectIdentifier(dict)]
        while let inner = Self.wrapperKeys.lazy.compactMap({ key -> PickleDict? in
            if case .dict(let nested) = dict[key] { return nested }
            return nil
        }).first, seen.insert(ObjectIdentifier(inner)).inserted {
            dict = inner
        }
        var result: [String: RawTensor] = [:]
        var visited: Set<ObjectIdentifier> = []
        try collect(dict, prefix: "", into: &result, visited: &visited, fileName: fileName)
        guard !result.isEmpty else {
            throw CheckpointError.malformed(fileName, "it contains no tensors")
        }
        return result
    }

    private func collect(_ dict: PickleDict, prefix: String, into result: inout [String: RawTensor],
                         visited: inout Set<ObjectIdentifier>, fileName: String) throws {
        // A pickle can make a dict contain itself through the memo; walk each dict once.
        guard visited.insert(ObjectIdentifier(dict)).inserted else { return }
        for (key, value) in dict.entries {
            guard let name = key.asString ?? key.asInt.map(String.init) else { continue }
            switch value {
            case .tensor(let reference):
                let bytes = try storageBytes(reference.storage)
                result[prefix + name] = try reference.materialize(storageBytes: bytes, fileName: fileName,
                                                                  tensorName: prefix + name)
            case .dict(let nested):
                try collect(nested, prefix: prefix + name + ".", into: &result, visited: &visited, fileName: fileName)
            default:
                continue  // epoch numbers, metrics, optimizer hyper-parameters...
            }
        }
    }
}
