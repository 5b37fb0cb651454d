import Foundation

/// Element types a checkpoint can hold.
public enum DType: String, Sendable, Equatable, CaseIterable {
    case f32, f16, bf16, f64, i64, i32, i16, i8, u8, bool

    public var byteSize: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .i8, .u8, .bool: return 1
        }
    }
}

/// A tensor exactly as a checkpoint stores it: contiguous row-major little-endian bytes, not yet
/// converted to anything. `TensorCore` turns these into its own tensors.
public struct RawTensor: Sendable, Equatable {
    public var dtype: DType
    public var shape: [Int]
    public var data: Data

    public init(dtype: DType, shape: [Int], data: Data) {
        precondition(data.count == shape.reduce(1, *) * dtype.byteSize, "RawTensor data does not fit its shape")
        self.dtype = dtype
        self.shape = shape
        self.data = data
    }

    public var elementCount: Int { shape.reduce(1, *) }

    /// Every element converted to Float (integers and booleans by value; f64 rounded).
    public func floats() throws -> [Float] {
        let count = elementCount
        return data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> [Float] in
            func load<T>(_: T.Type, _ convert: (T) -> Float) -> [Float] {
                (0..<count).map { convert(raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)) }
            }
            switch dtype {
            case .f32: return load(UInt32.self) { Float(bitPattern: UInt32(littleEndian: $0)) }
            case .f64: return load(UInt64.self) { Float(Double(bitPattern: UInt64(littleEndian: $0))) }
            case .f16: return load(UInt16.self) { halfToFloat(UInt16(littleEndian: $0)) }
            case .bf16: return load(UInt16.self) { Float(bitPattern: UInt32(UInt16(littleEndian: $0)) << 16) }
            case .i64: return load(Int64.self) { Float(Int64(littleEndian: $0)) }
            case .i32: return load(Int32.self) { Float(Int32(littleEndian: $0)) }
            case .i16: return load(Int16.self) { Float(Int16(littleEndian: $0)) }
            case .i8: return load(Int8.self) { Float($0) }
            case .u8: return load(UInt8.self) { Float($0) }
            case .bool: return load(UInt8.self) { $0 != 0 ? 1 : 0 }
            }
        }
    }
}

/// The number of elements of `shape`, or nil when a dimension is negative or the product overflows
/// (a hostile file must not be able to wrap the arithmetic that bounds-checks its data).
func checkedElementCount(_ shape: [Int]) -> Int? {
    var count = 1
    for dimension in shape {
        guard dimension >= 0 else { return nil }
        let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
        if overflow { return nil }
        count = product
    }
    return count
}

/// IEEE half → single precision, by bits (Float16 is not available on every platform Swift targets).
func halfToFloat(_ half: UInt16) -> Float {
    let sign = UInt32(half & 0x8000) << 16
    let exponent = Int(half >> 10) & 0x1F
    let mantissa = UInt32(half & 0x03FF)
    switch exponent {
    case 0:  // zero or subnormal: mantissa * 2^-24
        let magnitude = Float(mantissa) * Float(bitPattern: 0x3380_0000)
        return sign != 0 ? -magnitude : magnitude
    case 31:  // infinity or NaN
        return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13)
    default:
        return Float(bitPattern: sign | UInt32(exponent + 112) << 23 | mantissa << 13)
    }
}
