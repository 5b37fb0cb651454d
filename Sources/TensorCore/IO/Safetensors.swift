import AtomicFiles
import Foundation

/// The safetensors file format: an 8-byte little-endian header length, a JSON header naming each
/// tensor's dtype, shape and byte range, then the raw little-endian data. Floating tensors are read
/// into float32 `Tensor`s whatever their stored dtype (F32, F16, BF16); integer ones (I64, I32) into
/// `IntTensor`s. Writing goes to a temporary file that is renamed into place.
public struct SafeTensors {
    public enum FloatFormat: String, Sendable {
        case f32 = "F32", f16 = "F16", bf16 = "BF16"

        /// Appends `values` to `data` as little-endian elements of this format, in one pass.
        public func append(_ values: UnsafeBufferPointer<Float>, to data: inout Data) {
            switch self {
            case .f32:
                data.append(values)   // x86-64 and arm64 are little-endian
            case .f16:
                values.map { Float16($0).bitPattern.littleEndian }.withUnsafeBufferPointer { data.append($0) }
            case .bf16:
                values.map { bfloat16Bits($0).littleEndian }.withUnsafeBufferPointer { data.append($0) }
            }
        }
    }
    public enum IntFormat: String, Sendable { case i64 = "I64", i32 = "I32" }

    public var tensors: [String: Tensor]
    public var integers: [String: IntTensor]
    public var metadata: [String: String]

    public init(tensors: [String: Tensor] = [:], integers: [String: IntTensor] = [:], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.integers = integers
        self.metadata = metadata
    }

    public subscript(name: String) -> Tensor? { tensors[name] }

    // MARK: Reading

    public static func read(_ url: URL) throws -> SafeTensors {
        try parse(mapped(url), file: url.path)
    }

    /// The file's bytes, memory-mapped (for `SafetensorsHeader` and byte-range copies).
    public static func mapped(_ url: URL) throws -> Data {
        do {
            return try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw SafeTensorsError(file: url.path, problem: "cannot be read (\(AtomicFileError.reason(error)))", fix: "check the path and its permissions")
        }
    }

    public static func parse(_ data: Data, file: String = "<memory>") throws -> SafeTensors {
        let header = try SafetensorsHeader(data, file: file)
        var result = SafeTensors(metadata: header.metadata)
        for (name, entry) in header.entries {
            let count = entry.elementCount
            try data[(data.startIndex + entry.bytes.lowerBound)..<(data.startIndex + entry.bytes.upperBound)].withUnsafeBytes { raw in
                switch entry.dtype {
                case "F32", "F16", "BF16", "F64":
                    let t = Tensor(uninitialized: entry.shape)
                    switch entry.dtype {   // one dtype test per tensor, not per element
                    case "F32":
                        for i in 0..<count { t.data[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
                    case "F16":
                        for i in 0..<count { t.data[i] = Float(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))) }
                    case "BF16":
                        for i in 0..<count { t.data[i] = Float(bitPattern: UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16) }
                    default:
                        for i in 0..<count { t.data[i] = Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))) }
                    }
                    result.tensors[name] = t
                case "I32", "I64":
                    var values = [Int32](repeating: 0, count: count)
                    for i in 0..<count {
                        if entry.dtype == "I32" {
                            values[i] = Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))
                        } else {
                            let v = Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))
                            guard let narrow = Int32(exactly: v) else {
                                throw SafeTensorsError(file: file, problem: "has integer tensor \"\(name)\" with value \(v) beyond 32 bits",
                                                       fix: "store ids that fit in 32 bits")
                            }
                            values[i] = narrow
                        }
                    }
                    result.integers[name] = IntTensor(shape: entry.shape, values: values)
                default:
                    throw SafeTensorsError(file: file, problem: "stores tensor \"\(name)\" as \(entry.dtype), which Captioner does not read",
                                           fix: "convert it to F32, F16, BF16, I64 or I32")
                }
            }
        }
        return result
    }

    // MARK: Writing

    /// Serialises every tensor back to back, as the reference `safetensors` library requires (its
    /// reader rejects gaps between tensors): the wider element type first, then by name, so every
    /// tensor still starts at a multiple of its element size (the header is padded to 8 bytes).
    public func serialized(floatFormat: FloatFormat = .f32, intFormat: IntFormat = .i64) -> Data {
        for name in integers.keys { precondition(tensors[name] == nil, "tensor name \"\(name)\" is used twice") }
        let floats = tensors.keys.sorted().map { SafetensorsWriter.Planned(name: $0, dtype: floatFormat.rawValue, shape: tensors[$0]!.shape) }
        let ints = integers.keys.sorted().map { SafetensorsWriter.Planned(name: $0, dtype: intFormat.rawValue, shape: integers[$0]!.shape) }
        let floatWidth = floatFormat == .f32 ? 4 : 2, intWidth = intFormat == .i64 ? 8 : 4
        let order = intWidth > floatWidth ? ints + floats : floats + ints
        var out = SafetensorsWriter.header(for: order, metadata: metadata)
        for planned in order {
            if let t = tensors[planned.name], planned.dtype == floatFormat.rawValue {
                floatFormat.append(UnsafeBufferPointer(start: t.data, count: t.count), to: &out)
            } else if let t = integers[planned.name] {
                for v in t.values {
                    switch intFormat {
                    case .i64: withUnsafeBytes(of: Int64(v).littleEndian) { out.append(contentsOf: $0) }
                    case .i32: withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
                    }
                }
            }
        }
        return out
    }

    /// Writes atomically: a temporary file beside `url`, then a rename, so an existing file is
    /// never left half-written.
    public func write(to url: URL, floatFormat: FloatFormat = .f32, intFormat: IntFormat = .i64) throws {
        try AtomicFile.write(serialized(floatFormat: floatFormat, intFormat: intFormat), to: url)
    }
}

/// Round-to-nearest-even float32 → bfloat16.
func bfloat16Bits(_ x: Float) -> UInt16 {
    let bits = x.bitPattern
    if x.isNaN { return UInt16(bits >> 16) | 0x40 }
    let rounding = 0x7FFF + ((bits >> 16) & 1)
    return UInt16((bits &+ rounding) >> 16)
}

public struct SafeTensorsError: Error, CustomStringConvertible {
    public let file: String, problem: String, fix: String
    public init(file: String, problem: String, fix: String) {
        self.file = file
        self.problem = problem
        self.fix = fix
    }
    public var description: String { "\(file) \(problem): \(fix)." }
}

