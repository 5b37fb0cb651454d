import Foundation

/// PyTorch ≥ 1.6 checkpoints: a ZIP holding `<archive>/data.pkl` and one `<archive>/data/<key>`
/// entry per storage.
enum TorchZipCheckpoint {
    static func read(_ data: Data, name: String) throws -> UnpickledCheckpoint {
        let archive = try ZipArchive(data: data, name: name)
        guard let pickleEntry = archive.entryNames.first(where: { $0 == "data.pkl" || $0.hasSuffix("/data.pkl") }) else {
            throw CheckpointError.malformed(name, "the ZIP archive has no data.pkl, so it is not a PyTorch checkpoint")
        }
        let prefix = String(pickleEntry.dropLast("data.pkl".count))
        let pickle = try archive.contents(of: pickleEntry)
        let machine = PickleMachine(name: name) { id in
            // ('storage', storage_type, key, location, numel)
            guard let fields = id.asTuple, fields.count >= 5, fields[0].asString == "storage",
                  case .global(.storageType(let dtype)) = fields[1], let key = fields[2].asString
            else { throw CheckpointError.malformed(name, "a storage reference in data.pkl is malformed") }
            return .storage(StorageReference(key: key, dtype: dtype, elementOffset: 0))
        }
        let (root, _) = try pickle.withUnsafeBytes { try machine.load($0) }
        return UnpickledCheckpoint(root: root) { storage in
            try archive.contents(of: prefix + "data/" + storage.key)
        }
    }
}
