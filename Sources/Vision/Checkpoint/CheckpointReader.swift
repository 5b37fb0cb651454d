import Foundation
import TensorCore

/// Reads the tensors of a PyTorch `.pth`/`.pt` (zip or legacy layout) or a safetensors file,
/// recognised by their first bytes. No pickled code is ever run.
public enum CheckpointReader {
    public static func read(_ url: URL) throws -> [String: RawTensor] {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw CheckpointError("\(url.path) could not be read: \(AtomicFileError.reason(error))")
        }
        return try read(data: data, name: url.path)
    }

    /// - Parameter name: how error messages refer to the checkpoint (usually its path).
    public static func read(data: Data, name: String) throws -> [String: RawTensor] {
        if data.isEmpty { throw CheckpointError("\(name) is empty (0 bytes), not a checkpoint.") }
        if ZipArchive.hasSignature(data) {
            return try TorchZipCheckpoint.read(data, name: name).tensors(fileName: name)
        }
        if LegacyTorchCheckpoint.hasSignature(data) {
            return try LegacyTorchCheckpoint.read(data, name: name).tensors(fileName: name)
        }
        if SafetensorsReader.hasSignature(data) {
            return try SafetensorsReader.read(data, name: name)
        }
        throw CheckpointError("\(name) is not a PyTorch checkpoint or a safetensors file (its first bytes match none of them).")
    }
}
