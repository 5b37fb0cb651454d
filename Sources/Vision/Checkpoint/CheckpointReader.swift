import AtomicFiles
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
        if SafetensorsHeader.hasSignature(data) {
            return try safetensors(data, name: name)
        }
        throw CheckpointError("\(name) is not a PyTorch checkpoint or a safetensors file (its first bytes match none of them).")
    }

    /// A safetensors file's tensors as they are stored (`SafetensorsHeader` checks every entry).
    static func safetensors(_ data: Data, name: String) throws -> [String: RawTensor] {
        let header: SafetensorsHeader
        do { header = try SafetensorsHeader(data, file: name) } catch { throw CheckpointError(error.description) }
        var tensors: [String: RawTensor] = [:]
        for (tensorName, entry) in header.entries {
            guard let dtype = DType(rawValue: entry.dtype.lowercased()) else {
                throw CheckpointError("\(name) stores tensor \(tensorName) as \(entry.dtype), which a checkpoint reader does not take: convert it to F32, F16 or BF16.")
            }
            let bytes = (data.startIndex + entry.bytes.lowerBound)..<(data.startIndex + entry.bytes.upperBound)
            tensors[tensorName] = RawTensor(dtype: dtype, shape: entry.shape, data: Data(data[bytes]))
        }
        return tensors
    }
}
