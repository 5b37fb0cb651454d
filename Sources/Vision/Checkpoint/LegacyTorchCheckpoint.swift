import Foundation

/// PyTorch < 1.6 checkpoints (and `_use_new_zipfile_serialization=False`): five pickles in a row —
/// magic number, protocol version, system info, the object, the sorted storage keys — then each
/// storage as an 8-byte little-endian element count followed by its raw bytes.
enum LegacyTorchCheckpoint {
    /// The first pickle: protocol 2, LONG1 of 10 bytes, 0x1950a86a20f9469cfc6c little-endian, STOP.
    static let magicPickle: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E]

    static func hasSignature(_ data: Data) -> Bool {
        data.prefix(magicPickle.count).elementsEqual(magicPickle)
    }

    static func read(_ data: Data, name: String) throws -> UnpickledCheckpoint {
        var storageTypes: [String: DType] = [:]
        let machine = PickleMachine(name: name) { id in
            // ('storage', storage_type, root_key, location, numel, view_metadata)
            guard let fields = id.asTuple, fields.count >= 5, fields[0].asString == "storage",
                  case .global(.storageType(let dtype)) = fields[1], let key = fields[2].asString
            else { throw CheckpointError.malformed(name, "a storage reference is malformed (or it pickles a whole module)") }
            storageTypes[key] = dtype
            var offset = 0
            if fields.count >= 6, let view = fields[5].asTuple {  // (view_key, offset, view_size)
                guard view.count == 3, let viewOffset = view[1].asInt else {
                    throw CheckpointError.malformed(name, "a storage view is malformed")
                }
                offset = viewOffset
            }
            return .storage(StorageReference(key: key, dtype: dtype, elementOffset: offset))
        }
        let plain = PickleMachine(name: name)

        let (root, keys, dataStart): (PickleValue, [PickleValue], Int) = try data.withUnsafeBytes { bytes in
            var (_, position) = try plain.load(bytes)                   // magic number (checked by the caller)
            let (version, afterVersion) = try plain.load(bytes, from: position)
            guard version.asInt == 1001 else {
                throw CheckpointError.malformed(name, "its legacy protocol version is not 1001")
            }
            let (systemInfo, afterInfo) = try plain.load(bytes, from: afterVersion)
            if case .dict(let info) = systemInfo, case .bool(false)? = info["little_endian"] {
                throw CheckpointError.malformed(name, "it was saved on a big-endian machine")
            }
            let (object, afterObject) = try machine.load(bytes, from: afterInfo)
            let (keyList, afterKeys) = try plain.load(bytes, from: afterObject)
            position = afterKeys
            guard let keys = keyList.asTuple else { throw CheckpointError.malformed(name, "its storage key list is missing") }
            return (object, keys, position)
        }

        // Storages follow in the order of the key list, each prefixed by its element count.
        var storages: [String: Data] = [:]
        var position = dataStart
        for keyValue in keys {
            guard let key = keyValue.asString else { throw CheckpointError.malformed(name, "a storage key is not a string") }
            guard let dtype = storageTypes[key] else {
                throw CheckpointError.malformed(name, "storage \(key) is listed but never described")
            }
            guard position + 8 <= data.count else {
                throw CheckpointError.truncated(name, "storage \(key) is missing")
            }
            let base = data.startIndex + position
            let count = data[base..<base + 8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let byteCount = Int(clamping: count).multipliedReportingOverflow(by: dtype.byteSize)
            guard !byteCount.overflow, byteCount.partialValue <= data.count - position - 8 else {
                throw CheckpointError.truncated(name, "storage \(key) ends early")
            }
            storages[key] = data[(base + 8)..<(base + 8 + byteCount.partialValue)]
            position += 8 + byteCount.partialValue
        }
        return UnpickledCheckpoint(root: root) { storage in
            guard let bytes = storages[storage.key] else {
                throw CheckpointError.truncated(name, "storage \(storage.key) is missing")
            }
            return bytes
        }
    }
}
