import AtomicFiles
import Foundation

/// The one writer of the safetensors layout (`SafetensorsHeader` reads it): the header for tensors
/// laid out back to back in the order given, then their bytes, streamed through `AtomicFile.Writer`
/// so a file of gigabytes never has to be in memory and a failed write leaves any old file intact.
public final class SafetensorsWriter {
    /// A tensor to come: its name, dtype as safetensors spells it, and shape.
    public struct Planned: Sendable {
        public let name: String, dtype: String, shape: [Int]
        public init(name: String, dtype: String, shape: [Int]) {
            precondition(SafetensorsHeader.elementSizes[dtype] != nil, "unknown safetensors dtype \(dtype)")
            self.name = name
            self.dtype = dtype
            self.shape = shape
        }
        var byteCount: Int { shape.reduce(SafetensorsHeader.elementSizes[dtype]!, *) }
    }

    private let file: AtomicFile.Writer
    private let expected: Int
    private var written = 0

    /// Starts `url` with the header of `tensors`; their bytes follow through `append`, in that order.
    public init(_ url: URL, tensors: [Planned], metadata: [String: String] = [:]) throws {
        file = try AtomicFile.Writer(url)
        expected = tensors.reduce(0) { $0 + $1.byteCount }
        try file.append(Self.header(for: tensors, metadata: metadata))
    }

    /// The next bytes of the tensors, in the order they were planned (little-endian).
    public func append(_ bytes: Data) throws {
        written += bytes.count
        precondition(written <= expected, "SafetensorsWriter: more bytes than the planned tensors hold")
        try file.append(bytes)
    }

    /// Checks that every planned byte came, then flushes the file and puts it in place.
    public func finish() throws {
        precondition(written == expected, "SafetensorsWriter: \(written) of the planned \(expected) bytes were written")
        try file.commit()
    }

    /// The 8-byte length and the JSON header (padded with spaces to a multiple of 8, so tensors stay
    /// aligned) for `tensors` back to back in that order.
    public static func header(for tensors: [Planned], metadata: [String: String]) -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for t in tensors {
            precondition(header[t.name] == nil && t.name != "__metadata__", "tensor name \"\(t.name)\" is used twice")
            header[t.name] = ["dtype": t.dtype, "shape": t.shape, "data_offsets": [offset, offset + t.byteCount]] as [String: Any]
            offset += t.byteCount
        }
        var json = try! JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var out = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        return out + json
    }
}
