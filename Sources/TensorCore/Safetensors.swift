import Foundation

/// The safetensors file format: an 8-byte little-endian header length, a JSON header naming each
/// tensor's dtype, shape and byte range, then the raw little-endian data. Floating tensors are read
/// into float32 `Tensor`s whatever their stored dtype (F32, F16, BF16); integer ones (I64, I32) into
/// `IntTensor`s. Writing goes to a temporary file that is renamed into place.
public struct SafeTensors {
    public enum FloatFormat: String, Sendable { case f32 = "F32", f16 = "F16", bf16 = "BF16" }
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
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw SafeTensorsError(file: url.path, problem: "cannot be read (\(AtomicFileError.reason(error)))", fix: "check the path and its permissions")
        }
        return try parse(data, file: url.path)
    }

    public static func parse(_ data: Data, file: String = "<memory>") throws -> SafeTensors {
        func fail(_ problem: String, _ fix: String = "re-create the file; it is not a complete safetensors file") -> SafeTensorsError {
            SafeTensorsError(file: file, problem: problem, fix: fix)
        }
        guard data.count >= 8 else { throw fail(data.isEmpty ? "is empty" : "is too short to hold a safetensors header") }
        let headerLength = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self)) }
        guard headerLength <= UInt64(data.count - 8), headerLength < 100_000_000 else {
            throw fail("declares a \(headerLength)-byte header but holds \(data.count) bytes", "it is truncated or not a safetensors file")
        }
        let headerStart = data.startIndex + 8
        let headerData = data[headerStart..<(headerStart + Int(headerLength))]
        guard let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw fail("has a header that is not a JSON object", "it is not a safetensors file")
        }
        let dataStart = 8 + Int(headerLength)
        let body = data.count - dataStart
        var result = SafeTensors()
        for (name, value) in header {
            if name == "__metadata__" {
                guard let meta = value as? [String: Any] else { throw fail("has a __metadata__ entry that is not an object") }
                for (k, v) in meta {
                    guard let s = v as? String else { throw fail("has metadata \"\(k)\" that is not a string") }
                    result.metadata[k] = s
                }
                continue
            }
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                  let shape = (entry["shape"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                  let offsets = (entry["data_offsets"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }), offsets.count == 2
            else { throw fail("has a malformed entry for tensor \"\(name)\"") }
            guard shape.allSatisfy({ $0 >= 0 }), offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= body else {
                throw fail("has tensor \"\(name)\" with data \(offsets) outside the \(body)-byte body", "the file is truncated; re-create it")
            }
            let bytes = offsets[1] - offsets[0]
            let start = data.startIndex + dataStart + offsets[0]
            let elementSize: Int
            switch dtype {
            case "F32", "I32": elementSize = 4
            case "F16", "BF16": elementSize = 2
            case "I64", "F64": elementSize = 8
            default: throw fail("stores tensor \"\(name)\" as \(dtype), which Captioner does not read", "convert it to F32, F16, BF16, I64 or I32")
            }
            // The shape comes from the file: its product (and the byte size) must not wrap around.
            guard let count = checkedProduct(shape), let expected = checkedProduct([count, elementSize]) else {
                throw fail("has tensor \"\(name)\" of shape \(shape), whose size does not fit in 64 bits")
            }
            guard bytes == expected else {
                throw fail("has tensor \"\(name)\" of shape \(shape) with \(bytes) bytes instead of \(expected)")
            }
            try data[start..<(start + bytes)].withUnsafeBytes { raw in
                switch dtype {
                case "F32", "F16", "BF16", "F64":
                    let t = Tensor(uninitialized: shape)
                    for i in 0..<count {
                        switch dtype {
                        case "F32": t.data[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                        case "F16": t.data[i] = Float(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))))
                        case "BF16": t.data[i] = Float(bitPattern: UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16)
                        default: t.data[i] = Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
                        }
                    }
                    result.tensors[name] = t
                default:
                    var values = [Int32](repeating: 0, count: count)
                    for i in 0..<count {
                        if dtype == "I32" {
                            values[i] = Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))
                        } else {
                            let v = Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))
                            guard let narrow = Int32(exactly: v) else {
                                throw fail("has integer tensor \"\(name)\" with value \(v) beyond 32 bits", "store ids that fit in 32 bits")
                            }
                            values[i] = narrow
                        }
                    }
                    result.integers[name] = IntTensor(shape: shape, values: values)
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
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var body = Data()
        func writeFloats() {
            for name in tensors.keys.sorted() {
                let t = tensors[name]!
                let start = body.count
                switch floatFormat {
                case .f32:
                    body.append(UnsafeBufferPointer(start: t.data, count: t.count))   // x86-64 and arm64 are little-endian
                case .f16:
                    for i in 0..<t.count { withUnsafeBytes(of: Float16(t.data[i]).bitPattern.littleEndian) { body.append(contentsOf: $0) } }
                case .bf16:
                    for i in 0..<t.count { withUnsafeBytes(of: bfloat16Bits(t.data[i]).littleEndian) { body.append(contentsOf: $0) } }
                }
                header[name] = ["dtype": floatFormat.rawValue, "shape": t.shape, "data_offsets": [start, body.count]] as [String: Any]
            }
        }
        func writeIntegers() {
            for name in integers.keys.sorted() {
                precondition(tensors[name] == nil, "tensor name \"\(name)\" is used twice")
                let t = integers[name]!
                let start = body.count
                for v in t.values {
                    switch intFormat {
                    case .i64: withUnsafeBytes(of: Int64(v).littleEndian) { body.append(contentsOf: $0) }
                    case .i32: withUnsafeBytes(of: v.littleEndian) { body.append(contentsOf: $0) }
                    }
                }
                header[name] = ["dtype": intFormat.rawValue, "shape": t.shape, "data_offsets": [start, body.count]] as [String: Any]
            }
        }
        let floatWidth = floatFormat == .f32 ? 4 : 2, intWidth = intFormat == .i64 ? 8 : 4
        if intWidth > floatWidth {
            writeIntegers()
            writeFloats()
        } else {
            writeFloats()
            writeIntegers()
        }
        var json = try! JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var out = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        out.append(body)
        return out
    }

    /// Writes atomically: a temporary file beside `url`, then a rename, so an existing file is
    /// never left half-written.
    public func write(to url: URL, floatFormat: FloatFormat = .f32, intFormat: IntFormat = .i64) throws {
        try AtomicFile.write(serialized(floatFormat: floatFormat, intFormat: intFormat), to: url)
    }
}

/// The product of non-negative sizes read from a file, or nil when it overflows `Int`.
func checkedProduct(_ factors: [Int]) -> Int? {
    var product = 1
    for factor in factors {
        let (next, overflow) = product.multipliedReportingOverflow(by: factor)
        if overflow { return nil }
        product = next
    }
    return product
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

/// Writes a file through a temporary sibling and a rename, so readers see the old file or the new
/// one, never a torn one; a failure (disk full, no permission) leaves the old file intact.
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        let dir = url.deletingLastPathComponent()
        let temp = dir.appendingPathComponent(".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).tmp")
        do {
            try data.write(to: temp)
        } catch {
            try? FileManager.default.removeItem(at: temp)
            throw AtomicFileError(path: url.path, reason: AtomicFileError.reason(error))
        }
        if rename(temp.path, url.path) != 0 {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temp)
            throw AtomicFileError(path: url.path, reason: reason)
        }
    }
}

public struct AtomicFileError: Error, CustomStringConvertible {
    public let path: String, reason: String
    public var description: String { "cannot write \(path) (\(reason)): choose a writable location with free space." }

    /// The plain reason inside a Foundation error ("No space left on device"), not its
    /// "NSCocoaErrorDomain error 512" wrapper.
    public static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError { return reason(underlying) }
        if ns.domain == NSPOSIXErrorDomain, let code = Int32(exactly: ns.code) { return String(cString: strerror(code)) }
        if let posix = error as? POSIXError { return String(cString: strerror(posix.code.rawValue)) }
        if let cocoa = error as? CocoaError {
            switch cocoa.code {
            case .fileNoSuchFile, .fileReadNoSuchFile: return "No such file or directory"
            case .fileWriteOutOfSpace: return "No space left on device"
            case .fileWriteNoPermission, .fileReadNoPermission: return "Permission denied"
            case .fileWriteFileExists: return "File exists"
            default: break
            }
        }
        return ns.localizedDescription
    }
}
