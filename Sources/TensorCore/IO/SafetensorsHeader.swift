import Foundation

/// The one reader of the safetensors layout: an 8-byte little-endian header length, a JSON header
/// `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {key: string}}`, then the
/// tensors' bytes. Every number in it comes from the file, so every one is checked — lengths,
/// offsets inside the body, a byte count that fits its shape without wrapping around — before any
/// reader (`SafeTensors`, the feature store, Vision's checkpoints) touches the data.
public struct SafetensorsHeader {
    public struct Entry: Equatable, Sendable {
        /// As the file spells it: "F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL", ….
        public let dtype: String
        public let shape: [Int]
        /// The tensor's bytes, as offsets into the whole file.
        public let bytes: Range<Int>
        public var elementCount: Int { shape.reduce(1, *) }
    }

    public let entries: [String: Entry]
    public let metadata: [String: String]

    /// Bytes per element of every dtype safetensors defines.
    public static let elementSizes: [String: Int] = [
        "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
        "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1,
    ]

    /// Whether `data` starts like a safetensors file: a plausible header length, then '{'.
    public static func hasSignature(_ data: Data) -> Bool {
        guard data.count >= 10 else { return false }
        let length = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self)) }
        return length >= 2 && length <= UInt64(data.count - 8) && data[data.startIndex + 8] == UInt8(ascii: "{")
    }

    /// Parses and checks the header of the file `data` holds; `file` names it in errors.
    public init(_ data: Data, file: String) throws(SafeTensorsError) {
        func fail(_ problem: String, _ fix: String = "re-create the file; it is not a complete safetensors file") -> SafeTensorsError {
            SafeTensorsError(file: file, problem: problem, fix: fix)
        }
        guard data.count >= 8 else { throw fail("is too short to hold a safetensors header" + (data.isEmpty ? " (it is empty)" : "")) }
        let headerLength = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self)) }
        guard headerLength <= UInt64(data.count - 8), headerLength < 100_000_000 else {
            throw fail("declares a \(headerLength)-byte header but holds \(data.count) bytes", "it is truncated or not a safetensors file")
        }
        let headerStart = data.startIndex + 8
        guard let header = try? JSONSerialization.jsonObject(with: data[headerStart..<(headerStart + Int(headerLength))]) as? [String: Any] else {
            throw fail("has a header that is not a JSON object", "it is not a safetensors file")
        }
        let bodyStart = 8 + Int(headerLength), body = data.count - bodyStart
        var entries: [String: Entry] = [:], metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                guard let meta = value as? [String: Any] else { throw fail("has a __metadata__ entry that is not an object") }
                for (k, v) in meta {
                    guard let s = v as? String else { throw fail("has metadata \"\(k)\" that is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard let fields = value as? [String: Any], let dtype = fields["dtype"] as? String,
                  let shape = (fields["shape"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                  let offsets = (fields["data_offsets"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }), offsets.count == 2
            else { throw fail("has a malformed entry for tensor \"\(name)\"") }
            guard let elementSize = Self.elementSizes[dtype] else {
                throw fail("stores tensor \"\(name)\" as \(dtype), which is not a safetensors dtype", "it is not a safetensors file")
            }
            guard shape.allSatisfy({ $0 >= 0 }) else { throw fail("has tensor \"\(name)\" of shape \(shape), with a negative dimension") }
            var byteCount: Int? = elementSize
            for dimension in shape {
                guard let size = byteCount else { break }
                let (product, overflow) = size.multipliedReportingOverflow(by: dimension)
                byteCount = overflow ? nil : product
            }
            guard let byteCount else { throw fail("has tensor \"\(name)\" of shape \(shape), whose size does not fit in 64 bits") }
            guard offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= body else {
                throw fail("is truncated (tensor \"\(name)\" does not fit in the file)", "re-create it")
            }
            guard offsets[1] - offsets[0] == byteCount else {
                throw fail("has tensor \"\(name)\" of shape \(shape) with \(offsets[1] - offsets[0]) bytes instead of \(byteCount)")
            }
            entries[name] = Entry(dtype: dtype, shape: shape, bytes: (bodyStart + offsets[0])..<(bodyStart + offsets[1]))
        }
        self.entries = entries
        self.metadata = metadata
    }
}
