import Foundation

/// safetensors: an 8-byte little-endian header length, a JSON header
/// `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`, then the data.
enum SafetensorsReader {
    static let dtypes: [String: DType] = [
        "F32": .f32, "F16": .f16, "BF16": .bf16, "F64": .f64, "I64": .i64, "I32": .i32, "I16": .i16,
        "I8": .i8, "U8": .u8, "BOOL": .bool,
    ]

    /// A plausible header length followed by '{'.
    static func hasSignature(_ data: Data) -> Bool {
        guard data.count >= 10 else { return false }
        let length = headerLength(data)
        return length >= 2 && length <= UInt64(data.count - 8) && data[data.startIndex + 8] == UInt8(ascii: "{")
    }

    static func read(_ data: Data, name: String) throws -> [String: RawTensor] {
        let length = Int(headerLength(data))
        let base = data.startIndex
        guard let header = try? JSONSerialization.jsonObject(with: data[(base + 8)..<(base + 8 + length)]) as? [String: Any]
        else { throw CheckpointError.malformed(name, "its safetensors header is not a JSON object") }
        let dataStart = 8 + length
        var tensors: [String: RawTensor] = [:]
        for (tensorName, value) in header where tensorName != "__metadata__" {
            guard let info = value as? [String: Any], let dtypeName = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2
            else { throw CheckpointError.malformed(name, "the safetensors entry \(tensorName) is malformed") }
            guard let dtype = dtypes[dtypeName] else {
                throw CheckpointError.malformed(name, "tensor \(tensorName) has unsupported dtype \(dtypeName)")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard let count = checkedElementCount(shape), begin >= 0, end >= begin,
                  count.multipliedReportingOverflow(by: dtype.byteSize) == (end - begin, false) else {
                throw CheckpointError.malformed(name, "tensor \(tensorName)'s size does not match its shape")
            }
            guard end <= data.count - dataStart else {
                throw CheckpointError.truncated(name, "tensor \(tensorName) runs past the end of the file")
            }
            tensors[tensorName] = RawTensor(dtype: dtype, shape: shape,
                                            data: Data(data[(base + dataStart + begin)..<(base + dataStart + end)]))
        }
        return tensors
    }

    private static func headerLength(_ data: Data) -> UInt64 {
        data.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }
}
